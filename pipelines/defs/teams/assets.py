"""Teams: chats (per mailbox partition) and teams with their channels (tenant-wide).

Chats are read per user (`/users/{id}/chats`: app-only cannot list `/chats`), so they follow the
mailbox partitions; each chat's members and messages are read once, whichever member listed it.
Teams are tenant-wide: one run reads every team, its members, its channels (standard, private and
shared), their members and their messages (channel message delta, replies as rows).
"""

import asyncio

import dagster as dg

from pipelines.defs.mailbox_assets import sync_partition_mailboxes, unique_keys_check
from pipelines.defs.metadata import table_metadata
from pipelines.partitions import mailboxes
from pipelines.resources import GraphResource, WarehouseResource
from pipelines.sync.streams import PLAN
from pipelines.sync.tenant import SyncOptions, TenantSync

CHAT_TABLES = PLAN.group("chats")
TEAM_TABLES = PLAN.group("teams")

_DESCRIPTIONS = {
    "chats": "Every chat of each user (one row per chat and member user; a chat the user left is tombstoned "
             "for that user).",
    "chat_members": "The members of every synced chat (a snapshot per chat each run).",
    "chat_messages": "Every message of every synced chat, read after a lastModifiedDateTime watermark; "
                     "soft-deleted messages are tombstoned.",
    "teams": "Every team of the tenant, each read whole (GET /teams/{id}).",
    "team_members": "The members of every team.",
    "channels": "Every channel of every team: standard, private and shared (allChannels).",
    "channel_members": "The members of every channel.",
    "channel_messages": "Channel posts and their replies (reply_to_id set) through channel message delta; "
                        "reply chains changed in the last eight months (Graph's delta window).",
}


def _spec(table: str) -> dg.AssetSpec:
    parent = PLAN[table].parent
    deps = [PLAN[parent.stream].table] if parent else []
    return dg.AssetSpec(table, group_name="teams", kinds={"duckdb", "msgraph"}, deps=deps,
                        description=_DESCRIPTIONS[table])


@dg.multi_asset(specs=[_spec(t) for t in CHAT_TABLES], partitions_def=mailboxes,
                backfill_policy=dg.BackfillPolicy.single_run(), pool="msgraph", can_subset=False)
def chats(context: dg.AssetExecutionContext, graph: GraphResource, warehouse: WarehouseResource):
    report, wh = sync_partition_mailboxes(context, graph, warehouse, CHAT_TABLES)
    for table in CHAT_TABLES:
        yield dg.MaterializeResult(asset_key=table, metadata=table_metadata(report, table, wh))


@dg.multi_asset(specs=[_spec(t) for t in TEAM_TABLES], pool="msgraph", can_subset=False)
def teams(context: dg.AssetExecutionContext, graph: GraphResource, warehouse: WarehouseResource):
    wh = warehouse.warehouse()
    report = asyncio.run(TenantSync(graph.settings(), wh, SyncOptions(tables=TEAM_TABLES)).run())
    if report.failed:
        context.log.warning("; ".join(f"{label}: {error}" for label, error in report.failed.items()))
    for table in TEAM_TABLES:
        yield dg.MaterializeResult(asset_key=table, metadata=table_metadata(report, table, wh))
    if report.failed:
        raise dg.Failure(f"{len(report.failed)} team(s) or table(s) could not be read",
                         metadata={label: dg.MetadataValue.text(err) for label, err in report.failed.items()})


chat_messages_have_unique_keys = unique_keys_check("chat_messages")
channel_messages_have_unique_keys = unique_keys_check("channel_messages")
