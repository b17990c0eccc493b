"""Mail: each mailbox's folders and messages, through mailFolders delta and messages delta per folder.

One multi-asset because a mailbox's message streams are discovered from its folder stream. Runs cover
a batch of mailbox partitions at once (single-run backfills), so thousands of mailboxes do not mean
thousands of runs.
"""


import asyncio

import dagster as dg

from pipelines.defs.metadata import table_metadata
from pipelines.partitions import mailboxes
from pipelines.resources import GraphResource, WarehouseResource
from pipelines.sync.tenant import SyncOptions, TenantSync


@dg.multi_asset(
    specs=[
        dg.AssetSpec("mail_folders", group_name="mail", kinds={"duckdb", "msgraph"}, deps=["users"],
                     description="Every mail folder of each mailbox, nested ones included (mailFolders delta)."),
        dg.AssetSpec("messages", group_name="mail", kinds={"duckdb", "msgraph"}, deps=["mail_folders"],
                     description="Every message of each mailbox (messages delta per folder, immutable ids). "
                                 "A moved message is one live row in its current folder."),
    ],
    partitions_def=mailboxes,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="msgraph",
    can_subset=False,
)
def mail(context: dg.AssetExecutionContext, graph: GraphResource, warehouse: WarehouseResource):
    wh = warehouse.warehouse()
    user_ids = tuple(context.partition_keys)
    context.log.info(f"syncing {len(user_ids)} mailbox(es)")
    report = asyncio.run(TenantSync(graph.settings(), wh, SyncOptions(tables=("mail_folders", "messages"),
                                                                      users=user_ids)).run())
    if report.failed:
        # The other mailboxes' rows are committed; failing the run makes the failures visible and retryable.
        raise dg.Failure(f"{len(report.failed)} mailbox(es) failed",
                         metadata={user: dg.MetadataValue.text(err) for user, err in report.failed.items()})
    for table in ("mail_folders", "messages"):
        yield dg.MaterializeResult(asset_key=table, metadata=table_metadata(report, table, wh))


@dg.asset_check(asset="messages", description="Message keys (user_id, id) are unique.")
def messages_have_unique_keys(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    dupes = warehouse.warehouse().query_df(
        "SELECT user_id, id FROM messages GROUP BY ALL HAVING count(*) > 1")
    return dg.AssetCheckResult(passed=dupes.empty, metadata={"duplicates": len(dupes)})


@dg.asset_check(asset="messages", description="Every live message's folder exists and is live.")
def live_messages_have_live_folders(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    orphans = warehouse.warehouse().query_df("""
        SELECT m.user_id, m.id, m.parent_folder_id FROM messages m
        LEFT JOIN mail_folders f ON f.user_id = m.user_id AND f.id = m.parent_folder_id AND f._deleted_at IS NULL
        WHERE m._deleted_at IS NULL AND f.id IS NULL""")
    return dg.AssetCheckResult(passed=orphans.empty, metadata={"orphaned_messages": len(orphans)})
