"""The SQLModel classes mirror the warehouse DDL exactly and read a synced warehouse."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import duckdb_engine
from sqlalchemy.schema import CreateSequence, CreateTable
from sqlmodel import Session, create_engine, select

from models import TABLES
from models.orm import MODELS, SYNC_RUN_ID_SEQUENCE, SyncRun, SyncState
from warehouse import PageBatch, StreamState, Warehouse
from warehouse.schema import create_statements

COLUMNS = ("SELECT table_name, column_name, column_index, data_type, is_nullable, column_default "
           "FROM duckdb_columns() ORDER BY ALL")
PRIMARY_KEYS = ("SELECT table_name, constraint_column_names FROM duckdb_constraints() "
                "WHERE constraint_type = 'PRIMARY KEY' ORDER BY ALL")


def _catalogue(statements: list[str]) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    connection = duckdb.connect()
    for statement in statements:
        connection.execute(statement)
    return connection.execute(COLUMNS).fetchall(), connection.execute(PRIMARY_KEYS).fetchall()


def test_orm_classes_declare_the_same_tables_as_the_warehouse_ddl() -> None:
    dialect = duckdb_engine.Dialect()
    tables = [model.__table__ for model in (*MODELS.values(), SyncState, SyncRun)]  # type: ignore[attr-defined]
    orm = [str(CreateSequence(SYNC_RUN_ID_SEQUENCE).compile(dialect=dialect))]
    orm += [str(CreateTable(table).compile(dialect=dialect)) for table in tables]
    orm_columns, orm_keys = _catalogue(orm)
    ddl_columns, ddl_keys = _catalogue(create_statements())
    assert orm_columns == ddl_columns
    # The ORM maps Graph tables by their key; the warehouse enforces keys on bookkeeping tables only.
    graph_keys = [(name, list(TABLES[name].key_columns)) for name in MODELS]
    assert sorted(orm_keys) == sorted([*ddl_keys, *graph_keys])


def test_a_session_reads_synced_rows(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    now = datetime.now(UTC)
    Warehouse(db).apply([PageBatch(
        table="messages", scope_values={"user_id": "u1"},
        upserts=[{"id": "m1", "subject": "Hello", "isRead": False,
                  "toRecipients": [{"emailAddress": {"address": "a@b"}}]}],
        partial_ids=set(), removals=[], removal_guard=None,
        state=StreamState("messages", "u1/f", "https://next", "next", now, now))], now)
    message = MODELS["messages"]
    engine = create_engine(f"duckdb:///{db}", connect_args={"read_only": True})
    with Session(engine) as session:
        row = session.exec(select(message).where(message.subject == "Hello")).one()  # type: ignore[attr-defined]
        assert (row.user_id, row.id, row.is_read, row.to_recipients) == (  # type: ignore[attr-defined]
            "u1", "m1", False, [{"emailAddress": {"address": "a@b"}}])
        assert session.exec(select(SyncState)).one().link == "https://next"
    engine.dispose()


def test_the_sync_path_skips_heavy_imports_it_does_not_use() -> None:
    # ORM and pandas are for readers; click/rich come with httpx's CLI (see pipelines/__init__.py).
    script = ("import sys, pipelines.reporting, warehouse.schema; "
              "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'pandas', 'click', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
