"""Mail: each mailbox's folders and messages, through mailFolders delta and messages delta per folder.

One multi-asset because a mailbox's message streams are discovered from its folder stream. Runs cover
a batch of mailbox partitions at once (single-run backfills), so thousands of mailboxes do not mean
thousands of runs.
"""



import dagster as dg

from pipelines.defs.mailbox_assets import sync_partition_mailboxes, unique_keys_check
from pipelines.defs.metadata import table_metadata
from pipelines.partitions import mailboxes
from pipelines.resources import GraphResource, WarehouseResource


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
    report, wh = sync_partition_mailboxes(context, graph, warehouse, ("mail_folders", "messages"))
    for table in ("mail_folders", "messages"):
        yield dg.MaterializeResult(asset_key=table, metadata=table_metadata(report, table, wh))


messages_have_unique_keys = unique_keys_check("messages")


@dg.asset_check(asset="messages", description="Every live message's folder exists and is live.")
def live_messages_have_live_folders(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    orphans = warehouse.warehouse().query_df("""
        SELECT m.user_id, m.id, m.parent_folder_id FROM messages m
        LEFT JOIN mail_folders f ON f.user_id = m.user_id AND f.id = m.parent_folder_id AND f._deleted_at IS NULL
        WHERE m._deleted_at IS NULL AND f.id IS NULL""")
    return dg.AssetCheckResult(passed=orphans.empty, metadata={"orphaned_messages": len(orphans)})
