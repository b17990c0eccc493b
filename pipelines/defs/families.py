"""Dagster assets from the sync plan: one multi-asset per group and partitioning, one check per table.

A group's streams (streams.py: `group`) that are reached from mailboxes are one multi-asset
partitioned by `mailboxes`; its tenant-wide ones (teams and their channels) another, unpartitioned.
Each stream's `description` is its asset's text. Adding a stream to the plan adds its asset.
"""


import asyncio
from collections.abc import Iterator

import dagster as dg

from pipelines.defs.checks import unique_keys_check
from pipelines.defs.mailbox_assets import materialize_mailboxes
from pipelines.defs.metadata import run_log_progress, table_metadata
from pipelines.partitions import mailboxes
from pipelines.resources import GraphResource, WarehouseResource
from pipelines.sync.plan import Polling
from pipelines.sync.streams import PLAN
from pipelines.sync.tenant import SyncOptions, TenantSync

PARTITION_SOURCE = "users"  # its own asset (pipelines/defs/directory): the sensor makes partitions of its rows


def family_tables(group: str, partitioned: bool) -> tuple[str, ...]:
    # Opt-in tables are synced by name only (`graphsync sync --only`), so they have no asset.
    return tuple(dict.fromkeys(s.table for s in PLAN.streams.values() if s.group == group and not s.opt_in
                               and s.name != PARTITION_SOURCE and PLAN.partitioned(s) == partitioned))


def _specs(group: str, tables: tuple[str, ...]) -> list[dg.AssetSpec]:
    specs = []
    for table in tables:
        parent = PLAN[table].parent
        deps = [PLAN[parent.stream].table] if parent else []
        specs.append(dg.AssetSpec(table, group_name=group, kinds={"duckdb", "msgraph"}, deps=deps,
                                  description=PLAN[table].description))
    return specs


def mailbox_family(group: str, name: str) -> dg.AssetsDefinition:
    """The group's tables synced for a batch of mailbox partitions in one run (mailbox_assets.py)."""
    tables = family_tables(group, partitioned=True)

    @dg.multi_asset(name=name, specs=_specs(group, tables), partitions_def=mailboxes,
                    backfill_policy=dg.BackfillPolicy.single_run(), pool="msgraph", can_subset=False)
    def _family(context: dg.AssetExecutionContext, graph: GraphResource,
                warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
        """Syncs the mailboxes of the run's partitions at once; each partition materializes with its
        own counts, and a mailbox that could not be read fails only its own partitions."""
        yield from materialize_mailboxes(context, graph, warehouse, tables)

    return _family


def tenant_family(group: str, name: str) -> dg.AssetsDefinition:
    """The group's tenant-wide tables in one unpartitioned run. What could not be read (a team the app
    is not in) fails the run after the rest is materialized."""
    tables = family_tables(group, partitioned=False)

    @dg.multi_asset(name=name, specs=_specs(group, tables), pool="msgraph", can_subset=False)
    def _family(context: dg.AssetExecutionContext, graph: GraphResource,
                warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
        wh = warehouse.warehouse()
        sync = TenantSync(graph.settings(), wh, SyncOptions(tables=tables), **run_log_progress(context))
        report = asyncio.run(sync.run())
        for table in tables:
            yield dg.MaterializeResult(asset_key=table, metadata=table_metadata(report, table, wh))
        if report.failed:
            raise dg.Failure(f"{len(report.failed)} part(s) could not be read",
                             metadata={label: dg.MetadataValue.text(err) for label, err in report.failed.items()})

    return _family


def groups() -> list[tuple[str, bool]]:
    """(group, partitioned) of every family the plan has, in plan order. A family is one multi-asset,
    so its streams share one cadence."""
    found = {(s.group, PLAN.partitioned(s)): None for s in PLAN.streams.values() if s.name != PARTITION_SOURCE}
    for group, partitioned in found:
        if len({PLAN[t].polling for t in family_tables(group, partitioned)}) > 1:
            raise ValueError(f"sync plan: the {group} streams synced {'per mailbox' if partitioned else 'tenant-wide'} "
                             "must share one polling cadence")
    return list(found)


FAMILIES: dict[tuple[str, bool], dg.AssetsDefinition] = {
    (group, partitioned): (mailbox_family(group, f"{group}_mailboxes") if partitioned
                           else tenant_family(group, f"{group}_tenant"))
    for group, partitioned in groups()
}


def scheduled(partitioned: bool, polling: Polling) -> tuple[str, ...]:
    """The tables of the families a job of this partitioning and cadence runs."""
    return tuple(t for group, p in groups() if p == partitioned for t in family_tables(group, p)
                 if PLAN[t].polling is polling)


UNIQUE_KEY_CHECKS = {t: unique_keys_check(t) for group, partitioned in FAMILIES
                     for t in family_tables(group, partitioned)}
