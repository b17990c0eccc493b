"""What the sync engine hands the warehouse: a stream's state, a batch of changes, and the counts.

Timestamps: every instant is stored as a UTC ``TIMESTAMPTZ``; aware datetimes keep their instant and
naive ones are taken as UTC (see :func:`to_utc`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from models import TABLES
from warehouse.errors import WarehouseError

LINK_KINDS = ("next", "delta", "watermark")


@dataclass(frozen=True)
class StreamState:
    """One row of ``_sync_state``, key (stream, scope)."""

    stream: str  # e.g. "messages"
    scope: str  # e.g. "<user-id>/<folder-id>"; "" for tenant-wide streams
    link: str | None  # the URL to call next: a nextLink mid-round, or the deltaLink between rounds
    link_kind: str  # "next" | "delta"
    round_started_at: datetime | None  # when the current full enumeration began; None when incremental
    updated_at: datetime
    # The first commit number of the current full round (Warehouse.next_seq when it began): its sweep
    # keeps rows written from that commit on. None in states stored before commits were numbered;
    # their sweep falls back to comparing _synced_at with round_started_at.
    round_seq: int | None = None
    # A windowed feed (calendarView delta): the date window its links were opened with. Graph's
    # tokens keep the window they began with; the sync compares it with the window a run wants.
    window_start: datetime | None = None
    window_end: datetime | None = None


@dataclass
class PageBatch:
    """Everything one page (or a few pages) of one stream produced, for :meth:`Warehouse.apply`."""

    table: str  # a key of models.TABLES
    scope_values: dict[str, str]  # value of every scope column of the table, added to each row
    upserts: list[dict[str, Any]]  # Graph objects, collapsed by id (last wins); each may be partial
    partial_ids: set[str]  # ids in upserts that are partial: merged into the stored row
    removals: list[str]  # ids Graph reported removed (@removed, or a driveItem `deleted` facet)
    # Tombstone only rows whose column still equals this value: a message moved to another
    # folder and then reported removed by its old folder's delta must stay live.
    removal_guard: dict[str, str] | None
    # Stored in the same transaction. None: the rows come from outside a stream (a write-back's local
    # effect), which must not move any stream's delta link.
    state: StreamState | None
    # Set on the LAST page of a FULL enumeration: tombstone live rows matching these column values
    # that the round did not write (_synced_seq < state.round_seq): items gone while no token was held.
    sweep_unseen: dict[str, str] | None = None
    # The scope's parent is gone (a deleted user, folder, channel): tombstone every live row matching
    # these column values.
    retire: dict[str, str] | None = None
    # The table is a tree by this column (a drive item's parent_id): a removed row also tombstones the
    # live rows below it, however deep, so a deleted folder takes its contents along even where the
    # feed names only the folder.
    cascade: str | None = None
    # The upserts are whole objects read again whether or not they changed (a snapshot's list): a row
    # whose stored _raw is the same keeps it and only has its sync marks moved (counted `unchanged`).
    compare: bool = False


@dataclass
class ApplyCounts:
    """Row counts of one apply; ``by_table`` holds the same counts per table."""

    upserted: int = 0  # inserted + updated
    inserted: int = 0
    updated: int = 0  # includes revived
    tombstoned: int = 0  # by removals and by sweeps
    revived: int = 0  # updated rows that had _deleted_at set
    unchanged: int = 0  # upserts equal to the stored row (PageBatch.compare): not rewritten, not counted above
    seq: int = 0  # the commit's number (see Warehouse.read_seq); 0 when not from one commit
    by_table: dict[str, ApplyCounts] = field(default_factory=dict)

    def add(self, table: str, other: ApplyCounts) -> None:
        for target in (self, self.by_table.setdefault(table, ApplyCounts())):
            target.upserted += other.upserted
            target.inserted += other.inserted
            target.updated += other.updated
            target.tombstoned += other.tombstoned
            target.revived += other.revived
            target.unchanged += other.unchanged


def to_utc(moment: datetime) -> datetime:
    """The same instant as an aware UTC datetime (a naive one is taken as UTC), so DuckDB binds it as a
    TIMESTAMPTZ whatever the session's time zone."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def validate(batch: PageBatch) -> None:
    spec = TABLES.get(batch.table)
    if spec is None:
        raise WarehouseError(f"unknown table {batch.table!r}")
    if set(batch.scope_values) != set(spec.scope_columns):
        raise WarehouseError(
            f"{batch.table}: scope_values must give exactly {list(spec.scope_columns)}, "
            f"got {sorted(batch.scope_values)}"
        )
    if batch.cascade is not None and batch.cascade not in spec.columns:
        raise WarehouseError(f"{batch.table}: unknown cascade column {batch.cascade!r}")
    for filters in (batch.removal_guard, batch.sweep_unseen, batch.retire):
        unknown = set(filters or {}) - set(spec.columns)
        if unknown:
            raise WarehouseError(f"{batch.table}: unknown column(s) {sorted(unknown)}")
    if any(not isinstance(item.get("id"), str) for item in batch.upserts):
        raise WarehouseError(f"{batch.table}: every upserted object needs a string id")
    state = batch.state
    if state is None:
        if batch.sweep_unseen is not None:
            raise WarehouseError(f"{batch.table}: a sweep needs the state of its round")
        return
    if batch.sweep_unseen is not None and state.round_started_at is None and state.round_seq is None:
        raise WarehouseError(f"{batch.table}: sweep_unseen needs state.round_started_at")
    if state.link_kind not in LINK_KINDS:
        raise WarehouseError(f"link_kind must be one of {LINK_KINDS}, got {state.link_kind!r}")
