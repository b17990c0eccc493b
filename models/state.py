"""graphsync's own bookkeeping tables: delta state per stream, and a log of sync runs."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# duckdb_engine cannot emit SERIAL (not a DuckDB type): autoincrement needs an explicit sequence.
SYNC_RUN_ID_SEQUENCE = sa.Sequence("_sync_runs_id_seq")


class SyncState(SQLModel, table=True):
    """Where each (stream, scope) stands; written in the same transaction as that stream's rows."""

    __tablename__ = "_sync_state"

    stream: str = Field(primary_key=True)  # e.g. "messages"
    scope: str = Field(primary_key=True)  # e.g. "<user-id>/<folder-id>"; "" for tenant-wide streams
    link: str | None = Field(default=None)  # the URL to call next: a nextLink or the deltaLink
    link_kind: str = Field()  # "next" (mid-round) or "delta" (between rounds)
    # Naive UTC; when the current full enumeration began, NULL for incremental rounds.
    round_started_at: datetime | None = Field(default=None, sa_type=sa.DateTime())
    updated_at: datetime = Field(sa_type=sa.DateTime())  # naive UTC


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
    started_at: datetime = Field(sa_type=sa.DateTime())  # naive UTC
    finished_at: datetime | None = Field(default=None, sa_type=sa.DateTime())
    status: str = Field(default="running")  # running | succeeded | failed
    streams: str | None = Field(default=None)  # comma-separated stream names
    upserted: int = Field(default=0, sa_type=sa.BigInteger())
    tombstoned: int = Field(default=0, sa_type=sa.BigInteger())
    error: str | None = Field(default=None)
