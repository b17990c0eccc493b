"""Dagster metadata from a sync report: the same numbers for every asset."""

from __future__ import annotations

from typing import Any

import dagster as dg

from pipelines.sync.tenant import SyncReport
from warehouse import Warehouse


def table_metadata(report: SyncReport, table: str, warehouse: Warehouse) -> dict[str, Any]:
    stats = report.stream(table)
    counts = report.writer.counts.by_table.get(table) if report.writer else None
    live = int(warehouse.query_df(f"SELECT count(*) AS n FROM {table} WHERE _deleted_at IS NULL")["n"][0])
    return {
        "dagster/row_count": dg.MetadataValue.int(live),
        "rows_upserted": dg.MetadataValue.int(counts.upserted if counts else 0),
        "rows_tombstoned": dg.MetadataValue.int(counts.tombstoned if counts else 0),
        "items_received": dg.MetadataValue.int(stats.items),
        "pages": dg.MetadataValue.int(stats.pages),
        "delta_restarts": dg.MetadataValue.int(stats.restarts),
        "graph_requests": dg.MetadataValue.int(report.requests),
        "graph_retries": dg.MetadataValue.int(report.retries),
        "seconds_throttled": dg.MetadataValue.float(round(report.seconds_throttled, 3)),
        "seconds": dg.MetadataValue.float(round(report.seconds, 3)),
    }
