"""The directory: every user of the tenant, through users delta."""


import asyncio

import dagster as dg

from pipelines.defs.metadata import run_log_progress, table_metadata
from pipelines.resources import GraphResource, WarehouseResource
from pipelines.sync.tenant import SyncOptions, TenantSync


@dg.asset(group_name="directory", kinds={"duckdb", "msgraph"}, pool="msgraph")
def users(context: dg.AssetExecutionContext, graph: GraphResource,
          warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Every user of the tenant (Graph `/users/delta`), upserted with tombstones for deleted users.

    Feeds the `mailboxes` partitions: the mailbox sensor adds one partition per live user."""
    wh = warehouse.warehouse()
    sync = TenantSync(graph.settings(), wh, SyncOptions(tables=("users",)), **run_log_progress(context))
    report = asyncio.run(sync.run())
    return dg.MaterializeResult(metadata=table_metadata(report, "users", wh))


@dg.asset_check(asset=users, blocking=True, description="User ids are unique.")
def users_have_unique_ids(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    dupes = warehouse.warehouse().query_df("SELECT id FROM users GROUP BY id HAVING count(*) > 1")
    return dg.AssetCheckResult(passed=dupes.empty, metadata={"duplicates": len(dupes)})
