"""Assets synced per mailbox partition from one delta stream each (events, drive items).

One factory, so every such asset runs, reports and fails the same way."""

import asyncio

import dagster as dg

from models import TABLES
from pipelines.defs.metadata import table_metadata
from pipelines.partitions import mailboxes
from pipelines.resources import GraphResource, WarehouseResource
from pipelines.sync.tenant import SyncOptions, TenantSync


def per_mailbox_asset(table: str, group: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(name=table, group_name=group, kinds={"duckdb", "msgraph"}, deps=["users"], partitions_def=mailboxes,
              backfill_policy=dg.BackfillPolicy.single_run(), pool="msgraph", description=description)
    def _asset(context: dg.AssetExecutionContext, graph: GraphResource,
               warehouse: WarehouseResource) -> dg.MaterializeResult:
        wh = warehouse.warehouse()
        options = SyncOptions(tables=(table,), users=tuple(context.partition_keys))
        report = asyncio.run(TenantSync(graph.settings(), wh, options).run())
        if report.failed:
            raise dg.Failure(f"{len(report.failed)} mailbox(es) failed",
                             metadata={user: dg.MetadataValue.text(err) for user, err in report.failed.items()})
        return dg.MaterializeResult(metadata=table_metadata(report, table, wh))

    return _asset


def unique_keys_check(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=table, name=f"{table}_have_unique_keys", description=f"{table} keys are unique.")
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        keys = ", ".join(TABLES[table].key_columns)
        dupes = warehouse.warehouse().query_df(f"SELECT {keys} FROM {table} GROUP BY ALL HAVING count(*) > 1")
        return dg.AssetCheckResult(passed=dupes.empty, metadata={"duplicates": len(dupes)})

    return _check
