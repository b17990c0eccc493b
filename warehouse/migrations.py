"""Migrations of a graphsync warehouse, run in order when a writer opens one at an older version.

The warehouse's schema version is in its marker (warehouse.ownership). Version 0 is a warehouse made
before the marker existed, adopted as it is; version N is what migration N leaves. Each migration
runs in a transaction of its own, which also records its version: one that fails, or a process killed
during one, leaves the warehouse at the version before, and the next writer runs it again.

Additive changes need no migration: a table or model column that is missing is added on every open
(warehouse.schema). A migration is for what changes what is stored: a column's type, a value's meaning.

Each migration is folded into the file (CHECKPOINT) as soon as it commits. DuckDB logs an ALTER as the
statement, not its result, and replays it at the next open: a cast would be replayed in the time zone
of whoever opens the file next, and `timezone('UTC', ...)`, which graphsync's own opens replay right,
fails to replay in a plain `duckdb.connect(path)` (DuckDB 1.5: "GetDefaultDatabase with no default
database set"), as the DuckDB CLI and ORM readers open it. Should a process die between the commit
and the checkpoint, graphsync's next sync folds the log when it ends (Warehouse.release).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from models import TABLES
from warehouse.errors import WarehouseError
from warehouse.ownership import record_version
from warehouse.sql import backfill_statement, ident

Migration = Callable[[duckdb.DuckDBPyConnection], None]

# The tables a migration may change: graphsync's own, never others a user keeps beside them.
BOOKKEEPING_TABLES = ("_sync_state", "_sync_runs")


def _graphsync_columns(connection: duckdb.DuckDBPyConnection, data_type: str) -> list[tuple[str, str]]:
    tables = [*TABLES, *BOOKKEEPING_TABLES]
    return [(row[0], row[1]) for row in connection.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND list_contains(?, table_name) AND data_type = ? ORDER BY ALL",
        [tables, data_type]).fetchall()]


def _instants_to_utc(connection: duckdb.DuckDBPyConnection) -> None:
    """1: every instant a UTC TIMESTAMPTZ. Version 0 stored ``_synced_at``, ``_deleted_at``, the
    ``_sync_state``/``_sync_runs`` times and events' start and end as naive TIMESTAMPs holding UTC
    (a session elsewhere read them hours off). Each such column is converted in place, its values
    read as UTC whatever the session's zone; then events' start and end are recomputed from ``_raw``
    in their own zone (Graph sends UTC unless asked otherwise, so this mostly confirms them)."""
    for table, column in _graphsync_columns(connection, "TIMESTAMP"):
        connection.execute(f"ALTER TABLE {ident(table)} ALTER COLUMN {ident(column)} SET DATA TYPE TIMESTAMPTZ "
                           f"USING timezone('UTC', {ident(column)})")
    stored = set(_graphsync_columns(connection, "TIMESTAMP WITH TIME ZONE"))
    for spec in TABLES.values():
        zoned = [name for name, column in spec.graph_columns.items()
                 if column.zone_path is not None and (spec.name, name) in stored]
        if zoned:
            connection.execute(backfill_statement(spec, zoned))


def _odata_types_from_raw(connection: duckdb.DuckDBPyConnection) -> None:
    """2: `odata_type` columns filled. Their Graph path, `@odata.type`, was read as two keys ("@odata"
    then "type"), so every row had NULL; the value is in each row's `_raw`."""
    stored = {table for table, _ in _graphsync_columns(connection, "VARCHAR")}
    for spec in TABLES.values():
        if "odata_type" in spec.graph_columns and spec.name in stored:
            connection.execute(backfill_statement(spec, ["odata_type"]))


# Version N is MIGRATIONS[N - 1]: (what it does, in a few words; the function).
MIGRATIONS: tuple[tuple[str, Migration], ...] = (
    ("every instant a UTC TIMESTAMPTZ", _instants_to_utc),
    ("odata_type columns filled from _raw", _odata_types_from_raw),
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(connection: duckdb.DuckDBPyConnection, path: Path, version: int) -> None:
    """Bring the open warehouse from ``version`` to SCHEMA_VERSION, one transaction per migration."""
    for target in range(version + 1, SCHEMA_VERSION + 1):
        title, step = MIGRATIONS[target - 1]
        try:
            connection.execute("BEGIN TRANSACTION")
            try:
                step(connection)
                record_version(connection, target)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        except duckdb.Error as error:
            raise WarehouseError(f"cannot migrate warehouse {path} to schema version {target} ({title}); "
                                 f"it stays at version {target - 1}: {_first_line(error)}") from None
        try:
            connection.execute("CHECKPOINT")  # see the module's docstring
        except duckdb.Error as error:
            raise WarehouseError(f"warehouse {path} was migrated to schema version {target} ({title}) but could "
                                 f"not be checkpointed: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
