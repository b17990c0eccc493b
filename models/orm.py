"""SQLModel classes for the warehouse tables, for code that wants typed ORM access.

The Graph tables' classes are derived from the declarations in :mod:`models` (one class per
table, named like its declaration: ``Message``, ``Event``...); the two bookkeeping tables are
declared here and mirror the DDL in :mod:`warehouse.schema` (a test keeps them equal). The sync
never imports this module: SQLAlchemy and SQLModel cost half a second of every process's start-up.

    from sqlmodel import Session, create_engine, select
    from models.orm import Message

    engine = create_engine("duckdb:///graphsync.duckdb", connect_args={"read_only": True})
    with Session(engine) as session:
        unread = session.exec(select(Message).where(Message.is_read == False)).all()  # noqa: E712
"""

from __future__ import annotations

import types
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models import TABLES
from models.base import BIGINT, BOOLEAN, DOUBLE, JSON, TIMESTAMPTZ, VARCHAR
from models.registry import ColumnSpec, TableSpec
from warehouse import schema

_SA_TYPES: dict[str, Any] = {
    VARCHAR: sa.String,
    BOOLEAN: sa.Boolean,
    BIGINT: sa.BigInteger,
    DOUBLE: sa.Double,
    TIMESTAMPTZ: lambda: sa.DateTime(timezone=True),
    JSON: sa.JSON,
}
_PYTHON_TYPES: dict[str, Any] = {
    VARCHAR: str, BOOLEAN: bool, BIGINT: int, DOUBLE: float, TIMESTAMPTZ: datetime, JSON: Any,
}


def _field(spec: TableSpec, column: ColumnSpec) -> Any:
    return Field(
        default=None,
        primary_key=column.name in spec.key_columns,
        nullable=column.nullable,
        sa_type=_SA_TYPES[column.sql_type](),
        sa_column_kwargs={"name": column.name},
    )


def _annotation(spec: TableSpec, column: ColumnSpec) -> Any:
    python_type = _PYTHON_TYPES[column.sql_type]
    if column.name in spec.key_columns or python_type is Any:
        return python_type
    return python_type | None


def _model(spec: TableSpec) -> type[SQLModel]:
    columns = spec.columns.values()
    namespace: dict[str, Any] = {
        "__tablename__": spec.name,
        "__module__": __name__,
        "__doc__": spec.model.__doc__,
        "__annotations__": {column.attribute: _annotation(spec, column) for column in columns},
        **{column.attribute: _field(spec, column) for column in columns},
    }
    return types.new_class(spec.model.__name__, (SQLModel,), {"table": True}, lambda ns: ns.update(namespace))


MODELS: dict[str, type[SQLModel]] = {name: _model(spec) for name, spec in TABLES.items()}
globals().update({model.__name__: model for model in MODELS.values()})

# duckdb_engine cannot emit SERIAL (not a DuckDB type): autoincrement needs an explicit sequence.
SYNC_RUN_ID_SEQUENCE = sa.Sequence(schema.SYNC_RUN_ID_SEQUENCE)


class SyncState(SQLModel, table=True):
    """Where each (stream, scope) stands; written in the same transaction as that stream's rows."""

    __tablename__ = "_sync_state"

    stream: str = Field(primary_key=True)  # e.g. "messages"
    scope: str = Field(primary_key=True)  # e.g. "<user-id>/<folder-id>"; "" for tenant-wide streams
    link: str | None = Field(default=None)  # the URL to call next: a nextLink or the deltaLink
    link_kind: str = Field()  # "next" (mid-round) or "delta" (between rounds)
    # When the current full enumeration began, NULL for incremental rounds.
    round_started_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    round_seq: int | None = Field(default=None, sa_type=sa.BigInteger())  # first commit of the current full round
    # A windowed feed's date window (calendarView delta), which its links keep.
    window_start: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    window_end: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class SyncRun(SQLModel, table=True):
    """One row per sync run, for `graphsync` summaries and troubleshooting."""

    __tablename__ = "_sync_runs"

    id: int | None = Field(
        default=None,
        sa_type=sa.BigInteger(),
        sa_column_args=[SYNC_RUN_ID_SEQUENCE],
        sa_column_kwargs={"server_default": SYNC_RUN_ID_SEQUENCE.next_value()},
        primary_key=True,
    )
    kind: str = Field()  # e.g. "sync", "sync --full", "demo"
    started_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # running | succeeded | failed | abandoned (its process ended without recording an outcome)
    status: str = Field(default="running")
    streams: str | None = Field(default=None)  # comma-separated stream names
    upserted: int = Field(default=0, sa_type=sa.BigInteger())
    tombstoned: int = Field(default=0, sa_type=sa.BigInteger())
    error: str | None = Field(default=None)
