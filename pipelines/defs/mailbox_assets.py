"""Assets synced per mailbox partition (mail, events, drive items): one way to run, report and fail."""

import asyncio

import dagster as dg

from models import TABLES
from pipelines.resources import GraphResource, WarehouseResource
from pipelines.sync.tenant import SyncOptions, SyncReport, TenantSync
from warehouse import Warehouse


def sync_partition_mailboxes(context: dg.AssetExecutionContext, graph: GraphResource, warehouse: WarehouseResource,
                   tables: tuple[str, ...]) -> tuple[SyncReport, Warehouse]:
    """Sync `tables` for the run's mailbox partitions. Mailboxes that failed fail the run (the others'
    rows are committed), so the failures are visible and retryable."""
    wh = warehouse.warehouse()
    context.log.info(f"syncing {', '.join(tables)} of {len(context.partition_keys)} mailbox(es)")
    options = SyncOptions(tables=tables, users=tuple(context.partition_keys))
    report = asyncio.run(TenantSync(graph.settings(), wh, options).run())
    if report.failed:
        raise dg.Failure(f"{len(report.failed)} mailbox(es) failed",
                         metadata={user: dg.MetadataValue.text(err) for user, err in report.failed.items()})
    return report, wh


def unique_keys_check(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=table, name=f"{table}_have_unique_keys", description=f"{table} keys are unique.")
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        keys = ", ".join(TABLES[table].key_columns)
        dupes = warehouse.warehouse().query_df(f"SELECT {keys} FROM {table} GROUP BY ALL HAVING count(*) > 1")
        return dg.AssetCheckResult(passed=dupes.empty, metadata={"duplicates": len(dupes)})

    return _check
