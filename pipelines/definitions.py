"""graphsync's Dagster code location: only assembly here; each Graph area lives in pipelines/defs/."""

import dagster as dg

from pipelines.defs.directory.assets import users, users_have_unique_ids
from pipelines.defs.families import FAMILIES, UNIQUE_KEY_CHECKS
from pipelines.defs.mail.assets import live_messages_have_live_folders
from pipelines.defs.mail.automation import (
    chats_daily,
    directory_hourly,
    mailbox_partitions,
    mailboxes_hourly,
    sync_chats,
    sync_directory,
    sync_mailboxes,
    sync_teams,
    teams_daily,
)
from pipelines.defs.writeback.jobs import pending_actions, writeback, writeback_every_15_minutes
from pipelines.resources import graph_from_environment, warehouse_from_environment

defs = dg.Definitions(
    # Every table of the sync plan is an asset of its group's family (pipelines/defs/families.py).
    assets=[users, *FAMILIES.values()],
    asset_checks=[users_have_unique_ids, live_messages_have_live_folders, *UNIQUE_KEY_CHECKS.values()],
    jobs=[sync_directory, sync_mailboxes, sync_chats, sync_teams, writeback],
    schedules=[directory_hourly, mailboxes_hourly, chats_daily, teams_daily, writeback_every_15_minutes],
    sensors=[mailbox_partitions, pending_actions],
    # Settings are deployment settings, given as dg.EnvVar (the auth mode, GRAPH_AUTH, always: app-only,
    # or the accounts signed in with `graphsync login`).
    resources={"graph": graph_from_environment(), "warehouse": warehouse_from_environment()},
    # Each run is one process that paces its own Graph calls; Graph, not CPU, is the bottleneck.
    executor=dg.in_process_executor,
)
