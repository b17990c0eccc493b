"""Calendar: each mailbox's events through calendarView delta (occurrences of series expanded)."""

import asyncio

import dagster as dg

from pipelines.defs.metadata import table_metadata
from pipelines.partitions import mailboxes
from pipelines.resources import GraphResource, WarehouseResource
from pipelines.sync.tenant import SyncOptions, TenantSync


@dg.asset(group_name="calendar", kinds={"duckdb", "msgraph"}, deps=["users"], partitions_def=mailboxes,
          backfill_policy=dg.BackfillPolicy.single_run(), pool="msgraph")
def events(context: dg.AssetExecutionContext, graph: GraphResource,
           warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Events of each mailbox's default calendar within a year either side of the first sync (Graph v1.0 offers
    delta only for a calendar view); occurrences of recurring events are rows of their own."""
    wh = warehouse.warehouse()
    options = SyncOptions(tables=("events",), users=tuple(context.partition_keys))
    report = asyncio.run(TenantSync(graph.settings(), wh, options).run())
    if report.failed:
        raise dg.Failure(f"{len(report.failed)} mailbox(es) failed",
                         metadata={user: dg.MetadataValue.text(err) for user, err in report.failed.items()})
    return dg.MaterializeResult(metadata=table_metadata(report, "events", wh))


@dg.asset_check(asset=events, description="Event keys (user_id, id) are unique.")
def events_have_unique_keys(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    dupes = warehouse.warehouse().query_df("SELECT user_id, id FROM events GROUP BY ALL HAVING count(*) > 1")
    return dg.AssetCheckResult(passed=dupes.empty, metadata={"duplicates": len(dupes)})
