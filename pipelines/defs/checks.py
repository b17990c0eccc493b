"""Asset checks every synced table has."""

from __future__ import annotations

import dagster as dg

from models import TABLES
from pipelines.resources import WarehouseResource


def unique_keys_check(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=table, name=f"{table}_have_unique_keys", description=f"{table} keys are unique.")
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        keys = ", ".join(TABLES[table].key_columns)
        dupes = warehouse.warehouse().query_df(f'SELECT {keys} FROM "{table}" GROUP BY ALL HAVING count(*) > 1')
        return dg.AssetCheckResult(passed=dupes.empty, metadata={"duplicates": len(dupes)})

    return _check
