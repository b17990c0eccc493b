"""Dagster metadata from a sync report.

An unpartitioned asset (users, the tenant-wide teams tables) is one table of one run: its row counts
are the warehouse's own (`rows_upserted`, `rows_tombstoned`), and the run's totals are named `run_*`.
A mailbox partition is one mailbox of a batched run: it carries only numbers of its own (see
partition_outcome.py); the warehouse counts rows per commit, not per mailbox, so a partition gives
the items its streams handed to the warehouse instead, and the batch's totals go to the run log.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from pipelines.sync.engine import StreamStats
from pipelines.sync.tenant import SyncReport
from warehouse import Warehouse


def _stream_metadata(stats: StreamStats) -> dict[str, Any]:
    return {
        "items_received": dg.MetadataValue.int(stats.items),
        "pages": dg.MetadataValue.int(stats.pages),
        "delta_restarts": dg.MetadataValue.int(stats.restarts),
        # Each page or item read once, even when sent inside a $batch; retries are the run's.
        "graph_requests": dg.MetadataValue.int(stats.requests),
    }


def table_metadata(report: SyncReport, table: str, warehouse: Warehouse) -> dict[str, Any]:
    """One table synced whole by one run."""
    counts = report.writer.counts.by_table.get(table) if report.writer else None
    live = int(warehouse.query_df(f'SELECT count(*) AS n FROM "{table}" WHERE _deleted_at IS NULL')["n"][0])
    return {
        "dagster/row_count": dg.MetadataValue.int(live),
        "rows_upserted": dg.MetadataValue.int(counts.upserted if counts else 0),
        "rows_tombstoned": dg.MetadataValue.int(counts.tombstoned if counts else 0),
        **_stream_metadata(report.stream(table)),
        **run_metadata(report),
    }


def run_metadata(report: SyncReport) -> dict[str, Any]:
    """The whole run's Graph traffic: shared by every asset the run materialized."""
    return {
        "run_http_requests": dg.MetadataValue.int(report.requests),  # retries and $batch envelopes included
        "run_graph_retries": dg.MetadataValue.int(report.retries),
        "run_seconds_throttled": dg.MetadataValue.float(round(report.seconds_throttled, 3)),
        "run_seconds": dg.MetadataValue.float(round(report.seconds, 3)),
    }


def partition_metadata(stats: StreamStats | None, live: int) -> dict[str, Any]:
    """One table of one mailbox partition: its live rows and what its own streams did."""
    stats = stats or StreamStats()
    return {
        "dagster/row_count": dg.MetadataValue.int(live),
        # Objects handed to the warehouse as upserts (collapsed by id; a list read whole each round,
        # such as calendars, counts every item, though the warehouse leaves equal rows as they are)
        # and the items Graph reported removed.
        "items_upserted": dg.MetadataValue.int(stats.upserts),
        "items_removed": dg.MetadataValue.int(stats.removals),
        **_stream_metadata(stats),
    }


def run_log_progress(context: dg.AssetExecutionContext) -> dict[str, Any]:
    """TenantSync arguments that write its progress (what the CLI shows live) to the run log, every
    GRAPHSYNC_PROGRESS_SECONDS (30 by default)."""
    def log(lines: list[str]) -> None:
        context.log.info("progress: " + " | ".join(line.strip() for line in lines))

    return {"on_progress": log, "progress_every_s": float(os.environ.get("GRAPHSYNC_PROGRESS_SECONDS") or 30)}
