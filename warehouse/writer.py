"""The warehouse API the sync engine calls: delta state, batched set-based apply, short reads.

Every public method opens the DuckDB file only for its own duration, under the file lock of
:mod:`warehouse.locking`, so other processes (the Dagster UI, a second sync) get their turn. The
one exception is :meth:`Warehouse.hold_open`: a burst of back-to-back commits keeps one connection,
and its holder releases it after a few seconds.

Timestamps: ``_synced_at``, ``_deleted_at`` and the ``_sync_state``/``_sync_runs`` times are
naive UTC ``TIMESTAMP`` values. Aware datetimes passed in are converted to UTC; naive ones are
taken as UTC. Datetimes handed back are aware (UTC).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import pyarrow as pa

from models import TABLES
from models.registry import TableSpec
from warehouse import arrow
from warehouse.errors import WarehouseError
from warehouse.locking import open_locked
from warehouse.schema import COMMIT_SEQUENCE, ensure_schema
from warehouse.sql import flattening_select, ident

if TYPE_CHECKING:  # pandas costs a second of start-up; only readers that want frames load it
    import pandas as pd

LINK_KINDS = ("next", "delta", "watermark")

# Names of the relations registered/created per batch inside the apply transaction.
_STAGE = "_gs_stage"
_KEYS = "_gs_keys"
_MERGED = "_gs_merged"
UPSERT_SLICE = 2_000
# graphsync checkpoints itself (DuckDB's own threshold is only a backstop, see warehouse.locking):
# after a commit once the write-ahead log passes CHECKPOINT_LOG_BYTES, and when a sync releases the
# file (see Warehouse.release). Each checkpoint runs under a memory cap: uncapped, folding a 24 MB
# log into the file took 400 MB more memory (the peak of a whole sync); capped at 128 MB it takes
# 80 MB and 15% longer (measured on 100k simulated messages).
CHECKPOINT_LOG_BYTES = 32 * 1024 * 1024
CHECKPOINT_MEMORY = "128MB"
_REMOVED = "_gs_removed"
_SWEEPS = "_gs_sweeps"
_STATES = "_gs_states"


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
    state: StreamState  # stored in the same transaction
    # Set on the LAST page of a FULL enumeration: tombstone live rows matching these column values
    # that the round did not write (_synced_seq < state.round_seq): items gone while no token was held.
    sweep_unseen: dict[str, str] | None = None
    # The scope's parent is gone (a deleted user, folder, channel): tombstone every live row matching
    # these column values.
    retire: dict[str, str] | None = None
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


def to_utc_naive(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _as_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


class Warehouse:
    """The DuckDB warehouse file, opened only for the duration of each call.

    ``lock_timeout_s`` bounds how long a call waits for another process (graphsync's file lock,
    or DuckDB's own lock held by some other program) before raising :class:`WarehouseLocked`.
    """

    def __init__(self, path: str | Path, lock_timeout_s: float = 60.0) -> None:
        self.path = Path(path).expanduser().absolute()
        self.lock_timeout_s = lock_timeout_s
        self._schema_ready = False
        # A connection kept open across calls (see hold_open); the lock serialises its users, since a
        # DuckDB connection may move between threads but must not be used by two at once.
        self._held: ExitStack | None = None
        self._held_connection: duckdb.DuckDBPyConnection | None = None
        self._held_lock = threading.RLock()

    # -- connections -------------------------------------------------------------------------

    def _write(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        if self._held_connection is not None:
            return self._using_held()
        return open_locked(self.path, write=True, timeout_s=self.lock_timeout_s)

    def _read(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        if self._held_connection is not None:
            return self._using_held()
        return open_locked(self.path, write=False, timeout_s=self.lock_timeout_s)

    @contextmanager
    def _using_held(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._held_lock:
            if self._held_connection is None:  # released by another thread meanwhile: open afresh
                with open_locked(self.path, write=True, timeout_s=self.lock_timeout_s) as connection:
                    yield connection
            else:
                yield self._held_connection

    @property
    def is_held_open(self) -> bool:
        return self._held_connection is not None

    def hold_open(self) -> None:
        """Keep one locked write connection for the following calls, until :meth:`release`.

        Opening the file costs 0.1-0.3 s (DuckDB replays the write-ahead log left since the last
        checkpoint), which dominated a sync that committed every few seconds. Other processes wait
        while the file is held, so holders release it after a burst of work (see BatchWriter).
        """
        with self._held_lock:
            if self._held is not None:
                return
            stack = ExitStack()
            self._held_connection = stack.enter_context(
                open_locked(self.path, write=True, timeout_s=self.lock_timeout_s))
            self._held = stack

    def release(self, checkpoint: bool = False) -> None:
        """Close the connection kept by :meth:`hold_open` (a no-op when none is held).

        ``checkpoint`` asks to fold the write-ahead log into the file first, as a sync does when it
        ends, so that later opens (the next sync, each reader, read-only ones too) start clean and
        the next sync's own checkpoint only folds its own changes. The log's size says little about
        the work: DuckDB writes large inserts straight into the file and logs only where they went,
        so the 1 MB log a full sync of 100k messages may leave still takes 0.35 s to fold, while
        what an incremental sync leaves takes 0.03-0.05 s.
        """
        with self._held_lock:
            connection = self._held_connection
            stack, self._held, self._held_connection = self._held, None, None
            if stack is None:
                return
            with stack:
                if checkpoint and connection is not None and self._log_bytes() > 0:
                    _checkpoint(connection)

    def _log_bytes(self) -> int:
        try:
            return self.path.with_name(self.path.name + ".wal").stat().st_size
        except FileNotFoundError:
            return 0

    def _ensure_schema_once(self, connection: duckdb.DuckDBPyConnection) -> None:
        # Each writer call makes sure the tables exist, but only once per Warehouse object.
        if not self._schema_ready:
            ensure_schema(connection)
            self._schema_ready = True

    # -- schema and state ----------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create all tables, ``_sync_state`` and ``_sync_runs`` if missing; add new model columns."""
        with self._write() as connection:
            ensure_schema(connection)
        self._schema_ready = True

    def read_seq(self) -> int:
        """The number of the latest commit, 0 in a new warehouse. Commits are numbered in order and
        every row carries the number of the one that last wrote it (``_synced_seq``)."""
        with self._write() as connection:
            self._ensure_schema_once(connection)
            row = connection.execute("SELECT last_value FROM duckdb_sequences() WHERE sequence_name = ? "
                                     "AND database_name = current_database()", [COMMIT_SEQUENCE]).fetchall()
        return int(row[0][0] or 0) if row else 0

    def load_state(self, stream: str, scope: str) -> StreamState | None:
        """The stored state of one (stream, scope), or None if it has never been synced."""
        found = self._select_states("WHERE stream = ? AND scope = ?", [stream, scope])
        return found[0] if found else None

    def load_states(self, stream: str) -> dict[str, StreamState]:
        """All stored states of a stream, keyed by scope."""
        return {state.scope: state for state in self._select_states("WHERE stream = ?", [stream])}

    def load_all_states(self) -> dict[str, dict[str, StreamState]]:
        """Every stored state: stream -> scope -> state."""
        out: dict[str, dict[str, StreamState]] = {}
        for state in self._select_states("", []):
            out.setdefault(state.stream, {})[state.scope] = state
        return out

    def _select_states(self, where: str, params: list[str]) -> list[StreamState]:
        with self._write() as connection:
            self._ensure_schema_once(connection)
            rows = connection.execute(
                "SELECT stream, scope, link, link_kind, round_started_at, updated_at, round_seq "
                f"FROM _sync_state {where} ORDER BY scope",
                params,
            ).fetchall()
        return [StreamState(row[0], row[1], row[2], row[3], _as_utc(row[4]), _as_utc(row[5]), row[6])  # type: ignore[arg-type]
                for row in rows]

    def drop_states(self, streams: list[str] | None = None, scopes: list[str] | None = None) -> None:
        """Forget delta state (all streams, or the named ones; of every scope, or of the named ones and
        the scopes below them, ``a`` covering ``a/b``), so the next sync enumerates them fully."""
        with self._write() as connection:
            self._ensure_schema_once(connection)
            where, params = [], []
            if streams is not None:
                where.append("list_contains(?, stream)")
                params.append(streams)
            if scopes is not None:
                where.append("(list_contains(?, scope) OR len(list_filter(?, s -> starts_with(scope, s || '/'))) > 0)")
                params += [scopes, scopes]
            connection.execute(f"DELETE FROM _sync_state {'WHERE ' + ' AND '.join(where) if where else ''}", params)

    # -- run log -------------------------------------------------------------------------------

    def start_run(self, kind: str, streams: Sequence[str], now: datetime) -> int:
        """Log the start of a sync run in ``_sync_runs``; returns its id for :meth:`finish_run`."""
        with self._write() as connection:
            self._ensure_schema_once(connection)
            row = connection.execute(
                "INSERT INTO _sync_runs (kind, started_at, status, streams, upserted, tombstoned) "
                "VALUES (?, ?, 'running', ?, 0, 0) RETURNING id",
                [kind, to_utc_naive(now), ",".join(streams)],
            ).fetchone()
        assert row is not None
        return int(row[0])

    def finish_run(
        self, run_id: int, status: str, now: datetime, counts: ApplyCounts | None = None, error: str | None = None
    ) -> None:
        """Record a run's outcome ("succeeded" or "failed") and its total counts."""
        counts = counts or ApplyCounts()
        with self._write() as connection:
            self._ensure_schema_once(connection)
            connection.execute(
                "UPDATE _sync_runs SET finished_at = ?, status = ?, upserted = ?, tombstoned = ?, error = ? "
                "WHERE id = ?",
                [to_utc_naive(now), status, counts.upserted, counts.tombstoned, error, run_id],
            )

    # -- reads ---------------------------------------------------------------------------------

    def query_rows(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one read query under a shared lock, read-only; the rows as tuples."""
        with self._read() as connection:
            return connection.execute(sql, params).fetchall()

    def query_df(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run one read query under a shared lock, read-only, and return the result as a DataFrame."""
        with self._read() as connection:
            return connection.execute(sql, params).df()

    # -- writes --------------------------------------------------------------------------------

    def apply(self, batches: list[PageBatch], now: datetime) -> ApplyCounts:
        """Apply all batches, in order, and store their states, in ONE transaction.

        Per batch: upserts (partial ones merged into the stored ``_raw``), then removals (honouring
        ``removal_guard``), then the sweep (``sweep_unseen``). Rows are never deleted: removals
        set ``_deleted_at = now``; an upsert sets ``_synced_at = now`` and clears ``_deleted_at``.
        If anything fails, nothing of the call is stored (rows nor states).
        """
        for batch in batches:
            _validate(batch)
        moment = to_utc_naive(now)
        counts = ApplyCounts()
        with self._write() as connection:
            self._ensure_schema_once(connection)
            connection.execute("BEGIN TRANSACTION")
            try:
                seq = int(connection.execute(f"SELECT nextval('{COMMIT_SEQUENCE}')").fetchall()[0][0])
                upserts, removals = _plan(batches)
                for table, rows in upserts.items():
                    # In slices: DuckDB's working memory for the JSON flattening grows with the rows per
                    # statement, and a sync's peak memory must not grow with the tenant.
                    for start in range(0, len(rows), UPSERT_SLICE):
                        counts.add(table, _upsert(connection, TABLES[table], rows[start : start + UPSERT_SLICE],
                                                  moment, seq))
                for (table, guard_columns), removed in _group_removals(batches, removals).items():
                    counts.add(table, ApplyCounts(
                        tombstoned=_tombstone_removed(connection, TABLES[table], guard_columns, removed, moment)))
                for (table, columns), sweeps in _group_sweeps(batches).items():
                    counts.add(table, ApplyCounts(tombstoned=_sweep_unseen(connection, TABLES[table], columns, sweeps,
                                                                            moment)))
                _store_states(connection, [batch.state for batch in batches])
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            counts.seq = seq
            if self._log_bytes() >= CHECKPOINT_LOG_BYTES:
                _checkpoint(connection)
        return counts


def _checkpoint(connection: duckdb.DuckDBPyConnection) -> None:
    """Fold the write-ahead log into the file under CHECKPOINT_MEMORY; uncapped if that is too little."""
    connection.execute(f"SET memory_limit = '{CHECKPOINT_MEMORY}'")
    try:
        connection.execute("CHECKPOINT")
    except duckdb.OutOfMemoryException:
        connection.execute("RESET memory_limit")
        connection.execute("CHECKPOINT")
    finally:
        connection.execute("RESET memory_limit")


# -- validation ---------------------------------------------------------------------------------


def _validate(batch: PageBatch) -> None:
    spec = TABLES.get(batch.table)
    if spec is None:
        raise WarehouseError(f"unknown table {batch.table!r}")
    if set(batch.scope_values) != set(spec.scope_columns):
        raise WarehouseError(
            f"{batch.table}: scope_values must give exactly {list(spec.scope_columns)}, "
            f"got {sorted(batch.scope_values)}"
        )
    for filters in (batch.removal_guard, batch.sweep_unseen, batch.retire):
        unknown = set(filters or {}) - set(spec.columns)
        if unknown:
            raise WarehouseError(f"{batch.table}: unknown column(s) {sorted(unknown)}")
    if batch.sweep_unseen is not None and batch.state.round_started_at is None and batch.state.round_seq is None:
        raise WarehouseError(f"{batch.table}: sweep_unseen needs state.round_started_at")
    if batch.state.link_kind not in LINK_KINDS:
        raise WarehouseError(f"link_kind must be one of {LINK_KINDS}, got {batch.state.link_kind!r}")
    if any(not isinstance(item.get("id"), str) for item in batch.upserts):
        raise WarehouseError(f"{batch.table}: every upserted object needs a string id")


# -- planning: many batches, few statements ---------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    scope_values: dict[str, str]
    item: dict[str, Any]
    partial: bool
    compare: bool = False


def _plan(batches: list[PageBatch]) -> tuple[dict[str, list[_Row]], list[list[str]]]:
    """All upserts per table (in arrival order, later wins), and each batch's removals still due.

    A sync hands over hundreds of small batches (one per mail folder) per call; running a staging
    round per batch costs tens of milliseconds each, so upserts are merged into one set per table.
    Within one stream (stream, scope) the last operation on an id wins, as the feed ordered them: a
    restore after a removal drops the removal, a removal after an upsert drops the upsert.
    Across streams, upserts run before removals; that is safe because a table fed by several
    streams (messages, one per folder) guards its removals (see PageBatch.removal_guard): a removal
    reported by a message's old folder never tombstones the row its new folder just wrote.
    """
    last_op: dict[tuple[str, str, str], tuple[int, _Row | None]] = {}  # (stream, scope, id) -> (batch, row)
    for index, batch in enumerate(batches):
        stream = (batch.state.stream, batch.state.scope)
        for item in batch.upserts:
            key = (*stream, item["id"])
            previous = last_op.pop(key, None)
            row = _Row(batch.scope_values, item, item["id"] in batch.partial_ids, batch.compare)
            if previous is not None and previous[1] is not None:
                earlier = previous[1]  # the same stream wrote this id twice in one call: merge in order
                row = _Row(row.scope_values, {**earlier.item, **item}, earlier.partial and row.partial, row.compare)
            last_op[key] = (index, row)
        for item_id in batch.removals:
            last_op.pop((*stream, item_id), None)
            last_op[(*stream, item_id)] = (index, None)
    upserts: dict[str, list[_Row]] = {}
    removals: list[list[str]] = [[] for _ in batches]
    for (_stream, _scope, item_id), (index, row) in last_op.items():
        if row is None:
            removals[index].append(item_id)
        else:
            upserts.setdefault(batches[index].table, []).append(row)
    return upserts, removals


def _group_removals(batches: list[PageBatch], removals: list[list[str]]
                    ) -> dict[tuple[str, tuple[str, ...]], list[tuple[str, ...]]]:
    """Removal rows per (table, guard columns): scope values, id, then the guard values."""
    groups: dict[tuple[str, tuple[str, ...]], list[tuple[str, ...]]] = {}
    for batch, removed in zip(batches, removals, strict=True):
        if not removed:
            continue
        guard = batch.removal_guard or {}
        scope = tuple(batch.scope_values[c] for c in TABLES[batch.table].scope_columns)
        rows = groups.setdefault((batch.table, tuple(guard)), [])
        rows.extend((*scope, item_id, *guard.values()) for item_id in removed)
    return groups


_Bound = tuple[int | None, datetime | None]  # keep rows from this commit on, or (older states) this time on


def _group_sweeps(batches: list[PageBatch]) -> dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]]:
    """Sweep rows per (table, matched columns): the column values, then what the sweep keeps (the
    round's first commit number and its start; both None for a retirement: nothing is kept)."""
    latest: dict[tuple[str, tuple[str, ...]], dict[tuple[str, ...], _Bound]] = {}
    for batch in batches:
        for matched, retiring in ((batch.sweep_unseen, False), (batch.retire, True)):
            if matched is None:
                continue
            bound = (None, None) if retiring else _round_bound(batch.state)
            bounds = latest.setdefault((batch.table, tuple(matched)), {})
            # Two full rounds of one scope in one apply: the later round's view is the one that stands.
            bounds[tuple(matched.values())] = bound
    return {group: [(*values, *bound) for values, bound in bounds.items()] for group, bounds in latest.items()}


def _round_bound(state: StreamState) -> _Bound:
    if state.round_seq is not None:
        return state.round_seq, None
    assert state.round_started_at is not None
    return None, to_utc_naive(state.round_started_at)


def _stage_upserts(spec: TableSpec, rows: list[_Row], raw: list[bytes]) -> pa.Table:
    """The rows as one Arrow table: scope columns, id, _raw (`raw`, their JSON text), _partial, _seq."""
    columns: dict[str, pa.Array] = {
        name: arrow.strings([row.scope_values[name] for row in rows]) for name in spec.scope_columns
    }
    columns["id"] = arrow.strings([row.item["id"] for row in rows])
    columns["_raw"] = arrow.encoded_strings(raw)
    columns["_partial"] = arrow.bools([row.partial for row in rows])
    columns["_compare"] = arrow.bools([row.compare for row in rows])
    # Later duplicates win, like Graph's own ordering within a delta round.
    columns["_seq"] = arrow.int64s(range(len(rows)))
    return arrow.table(columns)


def _upsert(connection: duckdb.DuckDBPyConnection, spec: TableSpec, rows: list[_Row], now: datetime,
            seq: int) -> ApplyCounts:
    """Stage the batch as Arrow, then: keys table, partial merges, counts, replace stored rows, insert new ones.

    The wide ``_raw`` text is never copied into an intermediate table: the keys table holds only
    keys and flags, and the rows are written straight from the Arrow stage through a view.
    """
    raw = [orjson.dumps(row.item) for row in rows]
    stage = _stage_upserts(spec, rows, raw)
    connection.register(_STAGE, stage)
    try:
        _create_keys_table(connection, spec)
        if any(row.compare for row in rows):
            _mark_unchanged(connection, spec, now, seq)
        inserted, updated, revived, unchanged = connection.execute(
            f"SELECT count(*) FILTER (NOT _existed), count(*) FILTER (_existed AND NOT _same), "
            f"count(*) FILTER (_was_deleted), count(*) FILTER (_same) FROM {_KEYS}"
        ).fetchall()[0]
        # Partial upserts merge into stored rows only; a full round's batches (most rows) have none,
        # and skipping the lookup that would find nothing saves a quarter of a full sync's writes.
        if updated > 0 and any(row.partial for row in rows):
            for seq, stored in _stored_raw_of_partials(connection, spec).items():
                raw[seq] = orjson.dumps({**stored, **rows[seq].item})  # see _stored_raw_of_partials
            connection.unregister(_STAGE)
            connection.register(_STAGE, stage.set_column(stage.schema.get_field_index("_raw"), "_raw",
                                                         arrow.encoded_strings(raw)))
        connection.execute(
            f"CREATE OR REPLACE TEMP VIEW {_MERGED} AS "
            f"SELECT {', '.join('k.' + ident(c) for c in spec.key_columns)}, k._existed, s._raw::JSON AS _raw "
            f"FROM {_STAGE} AS s JOIN {_KEYS} AS k ON k._seq = s._seq WHERE NOT k._same"
        )
        _replace_rows(connection, spec, now, seq, stored=updated > 0)
    finally:
        connection.execute(f"DROP VIEW IF EXISTS {_MERGED}")
        connection.execute(f"DROP TABLE IF EXISTS {_KEYS}")
        connection.unregister(_STAGE)
    return ApplyCounts(upserted=inserted + updated, inserted=inserted, updated=updated, revived=revived,
                       unchanged=unchanged)


def _create_keys_table(connection: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    """One row per distinct key (the last occurrence wins), with whether it is stored already.

    Deduplicated here even though the engine collapses pages by id: a stored row must not be
    written twice by one statement, and the flags must be taken before anything is written.
    Only keys and flags are copied; the wide ``_raw`` stays in the Arrow stage.
    """
    keys = [ident(k) for k in spec.key_columns]
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE {_KEYS} AS "
        f"SELECT {', '.join('s.' + k for k in keys)}, s._seq, s._partial, s._compare, "
        f"t.id IS NOT NULL AS _existed, t._deleted_at IS NOT NULL AS _was_deleted, false AS _same "
        f"FROM (SELECT {', '.join(keys)}, _seq, _partial, _compare FROM {_STAGE} "
        f"QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)} ORDER BY _seq DESC) = 1) AS s "
        f"LEFT JOIN {ident(spec.name)} AS t ON {_key_match(spec, 's')}"
    )


def _mark_unchanged(connection: duckdb.DuckDBPyConnection, spec: TableSpec, now: datetime, seq: int) -> None:
    """Live stored rows whose ``_raw`` equals the new object's text: flagged ``_same`` in the keys
    table (they are not rewritten) and given this commit's sync marks, which a sweep reads."""
    connection.execute(
        f"UPDATE {_KEYS} AS k SET _same = true FROM {_STAGE} AS s, {ident(spec.name)} AS t "
        f"WHERE s._seq = k._seq AND k._compare AND k._existed AND NOT k._was_deleted AND {_key_match(spec, 'k')} "
        "AND t._raw::VARCHAR = s._raw")
    connection.execute(
        f"UPDATE {ident(spec.name)} AS t SET _synced_seq = $seq, _synced_at = $now FROM {_KEYS} AS k "
        f"WHERE k._same AND {_key_match(spec, 'k')}", {"seq": seq, "now": now})


def _stored_raw_of_partials(connection: duckdb.DuckDBPyConnection, spec: TableSpec) -> dict[int, dict[str, Any]]:
    """The stored ``_raw`` of every partial upsert of a stored row, by the row's ``_seq``.

    The caller merges the partial over it: a Graph partial replaces whole top-level properties and a
    null there means "now null", so the merge is a plain top-level dict update (not
    json_merge_patch, which merges nested objects key by key and drops null members). A partial for
    a row not stored yet is inserted as it is. Reading the stored ``_raw`` costs the same for 100
    rows as for all of them (each touched row group's compressed block is read whole): ~50 ms at
    100k messages.
    """
    rows = connection.execute(
        f"SELECT k._seq, t._raw FROM {_KEYS} AS k JOIN {ident(spec.name)} AS t ON {_key_match(spec, 'k')} "
        "WHERE k._partial AND k._existed"
    ).fetchall()
    return {seq: orjson.loads(stored) for seq, stored in rows}


def _replace_rows(connection: duckdb.DuckDBPyConnection, spec: TableSpec, now: datetime, seq: int,
                  stored: bool) -> None:
    """Write the merged rows, computing every flattened column from ``_raw`` in SQL.

    A changed row is deleted and inserted again rather than updated in place. Every column of it
    changes, and DuckDB updates wide rows slowly and folds them slower still: at 1,000 changed rows
    of a 100k-message table, UPDATE took 0.11 s plus 0.24 s of checkpoint (every compressed column
    of every touched row group is rewritten), DELETE + INSERT 0.04 s plus 0.03 s, and its log
    replays several times faster. (It was also 3-5x faster than ``INSERT ... ON CONFLICT DO UPDATE``.)
    Both happen in the apply's one transaction, so no reader ever sees the row missing. The keys
    table, built before anything is written, says which rows are stored.
    """
    expressions, from_clause = flattening_select(spec, _MERGED)
    graph_names = [name for name in spec.graph_columns if name != "id"]
    key_names = list(spec.key_columns)
    flattened = ", ".join(
        [*(ident(k) for k in key_names), *(f"{e} AS {ident(n)}" for e, n in zip(expressions, graph_names, strict=True))]
    )
    target_columns = ", ".join(ident(c) for c in [*key_names, *graph_names, "_raw", "_synced_at", "_deleted_at",
                                                  "_synced_seq"])
    if stored:
        connection.execute(
            f"DELETE FROM {ident(spec.name)} AS t USING {_KEYS} AS k "
            f"WHERE k._existed AND NOT k._same AND {_key_match(spec, 'k')}")
    connection.execute(
        f"INSERT INTO {ident(spec.name)} ({target_columns}) "
        f"SELECT {flattened}, _raw, $now, NULL, $seq FROM {from_clause}",
        {"now": now, "seq": seq},
    )


def _key_match(spec: TableSpec, other: str) -> str:
    """The condition matching a stored row `t` to the row aliased `other` on the table's key."""
    return " AND ".join(f"t.{ident(k)} = {other}.{ident(k)}" for k in spec.key_columns)


def _staged_match(columns: list[str], rows: list[tuple[Any, ...]]) -> tuple[pa.Table, str]:
    """Rows of string values as an Arrow table (columns c0, c1, ...), and the condition matching a
    target row `t` to a staged row `r` on those columns."""
    names = [f"c{i}" for i in range(len(columns))]
    staged = arrow.table({name: arrow.strings([row[i] for row in rows]) for i, name in enumerate(names)})
    condition = " AND ".join(f"t.{ident(col)} = r.{name}" for col, name in zip(columns, names, strict=True))
    return staged, condition


def _tombstone_removed(connection: duckdb.DuckDBPyConnection, spec: TableSpec, guard_columns: tuple[str, ...],
                       removed: list[tuple[str, ...]], now: datetime) -> int:
    """One UPDATE for all removals of a table: match the key, and the guard columns when given."""
    staged, condition = _staged_match([*spec.scope_columns, "id", *guard_columns], removed)
    return _update_from_staged(
        connection, _REMOVED, staged, now,
        f"UPDATE {ident(spec.name)} AS t SET _deleted_at = $now "
        f"FROM (SELECT DISTINCT * FROM {_REMOVED}) AS r WHERE {condition} AND t._deleted_at IS NULL")


def _sweep_unseen(connection: duckdb.DuckDBPyConnection, spec: TableSpec, columns: tuple[str, ...],
                  sweeps: list[tuple[Any, ...]], now: datetime) -> int:
    """Tombstone live rows a full round did not see (written before the round's first commit), and
    every live row of a retired scope, for all the rounds that ended in this apply, in one UPDATE."""
    staged, condition = _staged_match(list(columns), [row[:-2] for row in sweeps])
    bounds = pa.table({"keep_seq": pa.array([row[-2] for row in sweeps], pa.int64()),
                       "keep_at": arrow.timestamps([row[-1] for row in sweeps])})
    for name in staged.column_names:  # a tenant-wide table's sweep matches no column
        bounds = bounds.append_column(name, staged.column(name))
    staged, condition = bounds, condition or "true"
    return _update_from_staged(
        connection, _SWEEPS, staged, now,
        f"UPDATE {ident(spec.name)} AS t SET _deleted_at = $now FROM {_SWEEPS} AS r "
        f"WHERE {condition} AND t._deleted_at IS NULL AND CASE "
        "WHEN r.keep_seq IS NOT NULL THEN coalesce(t._synced_seq, 0) < r.keep_seq "
        "WHEN r.keep_at IS NOT NULL THEN t._synced_at < r.keep_at ELSE true END")


def _update_from_staged(connection: duckdb.DuckDBPyConnection, name: str, staged: pa.Table, now: datetime,
                        update: str) -> int:
    """Run an UPDATE that reads the staged rows under `name`; the number of rows it changed."""
    connection.register(name, staged)
    try:
        row = connection.execute(update, {"now": now}).fetchone()
    finally:
        connection.unregister(name)
    return int(row[0]) if row else 0


def _store_states(connection: duckdb.DuckDBPyConnection, states: list[StreamState]) -> None:
    # The last state given for a (stream, scope) is the one that stands.
    latest = {(state.stream, state.scope): state for state in states}
    if not latest:
        return
    rows = list(latest.values())
    staged = arrow.table(
        {
            "stream": arrow.strings([s.stream for s in rows]),
            "scope": arrow.strings([s.scope for s in rows]),
            "link": arrow.strings([s.link for s in rows]),
            "link_kind": arrow.strings([s.link_kind for s in rows]),
            "round_started_at": arrow.timestamps(
                [to_utc_naive(s.round_started_at) if s.round_started_at else None for s in rows]),
            "updated_at": arrow.timestamps([to_utc_naive(s.updated_at) for s in rows]),
            "round_seq": pa.array([s.round_seq for s in rows], pa.int64()),
        }
    )
    connection.register(_STATES, staged)
    try:
        connection.execute(
            "INSERT INTO _sync_state (stream, scope, link, link_kind, round_started_at, updated_at, round_seq) "
            f"SELECT stream, scope, link, link_kind, round_started_at, updated_at, round_seq "
            f"FROM {_STATES} ON CONFLICT (stream, scope) DO UPDATE SET link = excluded.link, "
            f"link_kind = excluded.link_kind, round_started_at = excluded.round_started_at, "
            f"updated_at = excluded.updated_at, round_seq = excluded.round_seq"
        )
    finally:
        connection.unregister(_STATES)
