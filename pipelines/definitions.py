"""graphsync's Dagster code location: only assembly here; each Graph area lives in pipelines/defs/."""

import dagster as dg

from pipelines.defs.calendar.assets import events, events_have_unique_keys
from pipelines.defs.directory.assets import users, users_have_unique_ids
from pipelines.defs.files.assets import drive_items, drive_items_have_unique_keys
from pipelines.defs.mail.assets import live_messages_have_live_folders, mail, messages_have_unique_keys
from pipelines.defs.mail.automation import (
    directory_hourly,
    mailbox_partitions,
    mailboxes_hourly,
    sync_directory,
    sync_mailboxes,
    sync_teams,
    teams_hourly,
)
from pipelines.defs.teams.assets import channel_messages_have_unique_keys, chat_messages_have_unique_keys, chats, teams
from pipelines.resources import GraphResource, WarehouseResource

defs = dg.Definitions(
    assets=[users, mail, events, drive_items, chats, teams],
    asset_checks=[users_have_unique_ids, messages_have_unique_keys, live_messages_have_live_folders,
                  events_have_unique_keys, drive_items_have_unique_keys, chat_messages_have_unique_keys,
                  channel_messages_have_unique_keys],
    jobs=[sync_directory, sync_mailboxes, sync_teams],
    schedules=[directory_hourly, mailboxes_hourly, teams_hourly],
    sensors=[mailbox_partitions],
    resources={"graph": GraphResource(), "warehouse": WarehouseResource()},
    # Each run is one process that paces its own Graph calls; Graph, not CPU, is the bottleneck.
    executor=dg.in_process_executor,
)
