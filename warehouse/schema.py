"""DDL generated from the model registry; what a writer does to a warehouse before it writes.

Graph tables are created from their :class:`TableSpec` (DuckDB types, keys and per-column
compression); the two bookkeeping tables are written out below (:mod:`models.orm` mirrors them for
ORM readers, and a test keeps the two equal). Tables that already exist get any column the model
gained since (``ALTER TABLE ADD COLUMN``), and new Graph columns are back-filled from ``_raw``, so
adding a column to a model is the whole migration. Existing columns keep the compression they were
created with. Changes to what is stored are migrations (warehouse.migrations), and nothing at all is
written into a file that is not graphsync's (warehouse.ownership).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from models import TABLES
from models.base import TIMESTAMPTZ
from models.registry import GRAPH, ColumnSpec, TableSpec
from warehouse import ownership
from warehouse.migrations import SCHEMA_VERSION, migrate
from warehouse.sql import backfill_statement, ident
from warehouse.views import create_views

SYNC_RUN_ID_SEQUENCE = "_sync_runs_id_seq"
# Numbers every apply (commit) of the warehouse; rows carry the number of the commit that wrote them.
COMMIT_SEQUENCE = "_gs_commit_seq"

# Where each (stream, scope) stands; written in the same transaction as that stream's rows.
# round_started_at is when the current full enumeration began (NULL between
# rounds), link the URL to call next: a nextLink mid-round ("next") or the deltaLink ("delta"), or
# for a watermark stream the watermark itself ("watermark"). round_seq is the first commit number of
# the current full round: rows its sweep keeps are those written by that commit or later.
# window_start/window_end: the date window a windowed feed's links were opened with (else NULL).
SYNC_STATE_DDL = f"""CREATE TABLE IF NOT EXISTS _sync_state (
    stream VARCHAR NOT NULL, scope VARCHAR NOT NULL, link VARCHAR, link_kind VARCHAR NOT NULL,
    round_started_at {TIMESTAMPTZ}, updated_at {TIMESTAMPTZ} NOT NULL, round_seq BIGINT,
    window_start {TIMESTAMPTZ}, window_end {TIMESTAMPTZ}, PRIMARY KEY (stream, scope))"""

# One row per sync run, for summaries and troubleshooting; status is running | succeeded | failed |
# abandoned (its process died without recording an outcome, see warehouse.runs).
SYNC_RUNS_DDL = f"""CREATE TABLE IF NOT EXISTS _sync_runs (
    id BIGINT DEFAULT nextval('{SYNC_RUN_ID_SEQUENCE}') NOT NULL, kind VARCHAR NOT NULL,
    started_at {TIMESTAMPTZ} NOT NULL, finished_at {TIMESTAMPTZ}, status VARCHAR NOT NULL, streams VARCHAR,
    upserted BIGINT NOT NULL, tombstoned BIGINT NOT NULL, error VARCHAR, PRIMARY KEY (id))"""


def _column_ddl(column: ColumnSpec) -> str:
    compression = f" USING COMPRESSION {column.compression}" if column.compression else ""
    return f"{ident(column.name)} {column.sql_type}{compression}{'' if column.nullable else ' NOT NULL'}"


def create_table_statement(spec: TableSpec) -> str:
    """The table's columns in registry order (key, Graph columns, meta).

    No PRIMARY KEY constraint, though every row is unique on ``spec.key_columns``: DuckDB backs such a
    constraint with an ART index that lives wholly in memory and grows with the table (8 MB at 100k
    messages, so about 1 GB at 10M), and checking it made a full sync 6% slower. Uniqueness is kept by
    the only writer instead (warehouse.writer: one row per key per statement, a stored row is deleted
    before its new version is inserted, in one transaction, under the file lock), and tested.
    Warehouses created before keep their constraint; both work the same.
    """
    columns = [_column_ddl(column) for column in spec.columns.values()]
    return f"CREATE TABLE IF NOT EXISTS {ident(spec.name)} ({', '.join(columns)})"


def create_statements() -> list[str]:
    return [f"CREATE SEQUENCE IF NOT EXISTS {SYNC_RUN_ID_SEQUENCE}", f"CREATE SEQUENCE IF NOT EXISTS {COMMIT_SEQUENCE}",
            *(create_table_statement(spec) for spec in TABLES.values()), SYNC_STATE_DDL, SYNC_RUNS_DDL,
            # Warehouses made before round_seq, then the window columns, existed.
            "ALTER TABLE _sync_state ADD COLUMN IF NOT EXISTS round_seq BIGINT",
            f"ALTER TABLE _sync_state ADD COLUMN IF NOT EXISTS window_start {TIMESTAMPTZ}",
            f"ALTER TABLE _sync_state ADD COLUMN IF NOT EXISTS window_end {TIMESTAMPTZ}"]


def _existing_columns(connection: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Column names per table of the main schema (one catalog query for all tables)."""
    rows = connection.execute(
        "SELECT table_name, column_name FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal"
    ).fetchall()
    existing: dict[str, set[str]] = {}
    for table, column in rows:
        existing.setdefault(table, set()).add(column)
    return existing


def _add_missing_columns(connection: duckdb.DuckDBPyConnection, spec: TableSpec, existing: set[str]) -> None:
    missing = [spec.columns[name] for name in spec.columns if name not in existing]
    for column in missing:
        connection.execute(f"ALTER TABLE {ident(spec.name)} ADD COLUMN {ident(column.name)} {column.sql_type}")
    backfill = [column.name for column in missing if column.role == GRAPH]
    if backfill:
        connection.execute(backfill_statement(spec, backfill))


_CREATE_STATEMENTS = create_statements()


def ensure_schema(connection: duckdb.DuckDBPyConnection, path: Path, kind: str = ownership.TENANT) -> None:
    """Make the open file a warehouse at this graphsync's schema version, or refuse it. Idempotent.

    First the file is examined, reading only: another program's database, or one a newer graphsync
    made, is refused before anything is written (warehouse.ownership). A new warehouse is created
    and marked (as ``kind``) in one transaction; one made before the marker is marked at version 0;
    an older one is migrated; then every table, sequence and column the models declare is added, and
    the analytics views (warehouse.views) are created or replaced.
    """
    examined = ownership.examine(connection, path, SCHEMA_VERSION)
    if examined.new:
        with _transaction(connection):
            for statement in _CREATE_STATEMENTS:
                connection.execute(statement)
            create_views(connection)
            ownership.write_marker(connection, SCHEMA_VERSION, kind, adopted=False)
        return
    if examined.adopt:
        with _transaction(connection):
            ownership.write_marker(connection, 0, ownership.TENANT, adopted=True)
    version = examined.marker.schema_version if examined.marker else 0
    if version < SCHEMA_VERSION:
        migrate(connection, path, version)
    with _transaction(connection):
        existing = _existing_columns(connection)
        for statement in _CREATE_STATEMENTS:
            connection.execute(statement)
        for spec in TABLES.values():
            if spec.name in existing:  # just created tables are complete
                _add_missing_columns(connection, spec, existing[spec.name])
        create_views(connection)  # after the columns they read; a newer graphsync's views replace older ones


@contextmanager
def _transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    connection.execute("BEGIN TRANSACTION")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
