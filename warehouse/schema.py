"""DDL generated from the model registry, plus additive migrations.

Graph tables are created from their :class:`TableSpec` (DuckDB types, keys and per-column
compression); the two bookkeeping tables are written out below (:mod:`models.orm` mirrors them for
ORM readers, and a test keeps the two equal). Tables that already exist get any column the model
gained since (``ALTER TABLE ADD COLUMN``), and new Graph columns are back-filled from ``_raw``, so
adding a column to a model is the whole migration. Existing columns keep the compression they were
created with.
"""

from __future__ import annotations

import duckdb

from models import TABLES
from models.registry import GRAPH, ColumnSpec, TableSpec
from warehouse.sql import flattening_select, ident

SYNC_RUN_ID_SEQUENCE = "_sync_runs_id_seq"
# Numbers every apply (commit) of the warehouse; rows carry the number of the commit that wrote them.
COMMIT_SEQUENCE = "_gs_commit_seq"

# Where each (stream, scope) stands; written in the same transaction as that stream's rows.
# Times are naive UTC; round_started_at is when the current full enumeration began (NULL between
# rounds), link the URL to call next: a nextLink mid-round ("next") or the deltaLink ("delta"), or
# for a watermark stream the watermark itself ("watermark"). round_seq is the first commit number of
# the current full round: rows its sweep keeps are those written by that commit or later.
SYNC_STATE_DDL = """CREATE TABLE IF NOT EXISTS _sync_state (
    stream VARCHAR NOT NULL, scope VARCHAR NOT NULL, link VARCHAR, link_kind VARCHAR NOT NULL,
    round_started_at TIMESTAMP, updated_at TIMESTAMP NOT NULL, round_seq BIGINT, PRIMARY KEY (stream, scope))"""

# One row per sync run, for summaries and troubleshooting; status is running | succeeded | failed.
SYNC_RUNS_DDL = f"""CREATE TABLE IF NOT EXISTS _sync_runs (
    id BIGINT DEFAULT nextval('{SYNC_RUN_ID_SEQUENCE}') NOT NULL, kind VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, status VARCHAR NOT NULL, streams VARCHAR,
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
            # Warehouses made before round_seq existed.
            "ALTER TABLE _sync_state ADD COLUMN IF NOT EXISTS round_seq BIGINT"]


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
        _backfill_from_raw(connection, spec, backfill)


def _backfill_from_raw(connection: duckdb.DuckDBPyConnection, spec: TableSpec, names: list[str]) -> None:
    expressions, from_clause = flattening_select(spec, ident(spec.name))
    graph_names = [name for name in spec.graph_columns if name != "id"]
    selected = ", ".join(f"{expressions[graph_names.index(name)]} AS {ident(name)}" for name in names)
    key_match = " AND ".join(f"t.{ident(k)} = f.{ident(k)}" for k in spec.key_columns)
    assignments = ", ".join(f"{ident(name)} = f.{ident(name)}" for name in names)
    keys = ", ".join(ident(k) for k in spec.key_columns)
    connection.execute(
        f"UPDATE {ident(spec.name)} AS t SET {assignments} "
        f"FROM (SELECT {keys}, {selected} FROM {from_clause}) AS f WHERE {key_match}"
    )


_CREATE_STATEMENTS = create_statements()


def ensure_schema(connection: duckdb.DuckDBPyConnection) -> None:
    """Create every table, sequence and bookkeeping table; add columns models gained. Idempotent."""
    connection.execute("BEGIN TRANSACTION")
    try:
        existing = _existing_columns(connection)
        for statement in _CREATE_STATEMENTS:
            connection.execute(statement)
        for spec in TABLES.values():
            if spec.name in existing:  # just created tables are complete
                _add_missing_columns(connection, spec, existing[spec.name])
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
