"""One batched run of a mailbox family: sync its partitions' mailboxes at once, then report each one.

Dagster (1.13) has no way for a multi-partition run's outputs to leave some partitions out: a
`MaterializeResult` counts for every partition of the run. So when every partition's tables were
read, the results are yielded with each partition's own metadata (`add_asset_metadata(...,
partition_key=...)`); when some were not, each table that was read is reported per partition with
an `AssetMaterialization(partition=...)` event, and the run then fails naming the mailboxes that
failed. Dagster marks a partition whose run failed without materializing it as failed, so those,
and only those, show as failed and are retried by the next run or a backfill of failed partitions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import dagster as dg

from connectors.graph import GraphError
from connectors.graph.delegated import signed_in
from connectors.settings import GraphSettings
from pipelines.defs.metadata import partition_metadata, run_log_progress
from pipelines.defs.partition_outcome import PartitionOutcome, outcome
from pipelines.resources import GraphResource, WarehouseResource
from pipelines.sync.tenant import SyncOptions, SyncReport, TenantSync
from warehouse import Warehouse


def _known(settings: GraphSettings, warehouse: Warehouse, partitions: list[str]) -> dict[str, str]:
    """Partitions the sync could not even start on -> why. Passed to the sync, one such id would stop
    the whole batch; an id the sync finds nothing for is caught afterwards (see partition_outcome)."""
    if settings.auth == "delegated":
        accounts = {str(a.get("local_account_id")) for a in signed_in(settings.token_cache)}
        return {p: "not signed in: run `graphsync login --user UPN` for this account"
                for p in partitions if p not in accounts}
    try:
        rows = warehouse.query_rows(f"SELECT id FROM users WHERE id IN ({', '.join('?' for _ in partitions)})",
                                    partitions)
    except Exception:  # noqa: BLE001 - no users table yet: the sync says so, in one line
        return {}
    known = {row[0] for row in rows}
    return {p: "not in the warehouse's users table: materialize `users` first"
            for p in partitions if p not in known}


def materialize_mailboxes(context: dg.AssetExecutionContext, graph: GraphResource, warehouse: WarehouseResource,
                          tables: tuple[str, ...]) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    """Sync `tables` for the run's mailbox partitions; each partition materializes with its own
    counts, or fails on its own."""
    settings, wh = graph.settings(), warehouse.warehouse()
    partitions = list(context.partition_keys)
    unknown = _known(settings, wh, partitions)
    to_sync = [p for p in partitions if p not in unknown]
    if not to_sync:
        raise dg.Failure(f"none of the {len(partitions)} mailbox(es) can be synced",
                         metadata={p: dg.MetadataValue.text(why) for p, why in unknown.items()})
    context.log.info(f"syncing {', '.join(tables)} of {len(to_sync)} mailbox(es)")
    try:
        report = asyncio.run(TenantSync(settings, wh, SyncOptions(tables=tables, users=tuple(to_sync)),
                                         **run_log_progress(context)).run())
    except GraphError as exc:
        # Authentication, connectivity, 5xx, throttling beyond the retries: the sync stopped, and what it
        # had not committed yet is read again next time, so no partition of the batch is known complete.
        raise dg.Failure(f"the sync of this batch stopped, so none of its {len(partitions)} mailbox(es) "
                         f"is known complete: {exc}") from exc
    result = outcome(report, wh, tables, partitions)
    for partition, why in unknown.items():
        for table in tables:
            result.failures[(table, partition)] = why
    _log_batch(context, report, tables)
    if not result.failures:
        for table in tables:
            for partition in partitions:
                context.add_asset_metadata(_metadata(result, table, partition), asset_key=table,
                                           partition_key=partition)
            yield dg.MaterializeResult(asset_key=table)
        return
    for table in tables:
        for partition in partitions:
            if (table, partition) not in result.failures:
                yield dg.AssetMaterialization(asset_key=table, partition=partition,
                                              metadata=_metadata(result, table, partition))
    failed = result.failed_partitions()
    for partition, why in failed.items():
        context.log.warning(f"mailbox {partition} failed: {why}")
    raise dg.Failure(
        f"{len(failed)} of {len(partitions)} mailbox(es) failed: {', '.join(sorted(failed))}; the others "
        "are materialized",
        metadata={partition: dg.MetadataValue.text(why) for partition, why in sorted(failed.items())})


def _metadata(result: PartitionOutcome, table: str, partition: str) -> dict[str, Any]:
    return partition_metadata(result.stats.get((table, partition)), result.rows.get((table, partition), 0))


def _log_batch(context: dg.AssetExecutionContext, report: SyncReport, tables: tuple[str, ...]) -> None:
    """The batch's totals, which belong to no single partition."""
    by_table = report.writer.counts.by_table if report.writer else {}
    rows = ", ".join(f"{t} {c.upserted:,} upserted / {c.tombstoned:,} tombstoned"
                     for t in tables if (c := by_table.get(t)) is not None)
    context.log.info(f"batch of {len(context.partition_keys)} mailbox(es) in {report.seconds:.1f} s: "
                     f"{report.requests:,} HTTP requests, {report.retries:,} retries, "
                     f"{report.seconds_throttled:.1f} s throttled; warehouse: {rows or 'no rows written'}")
