"""The warehouse API the sync engine calls: delta state, batched set-based apply, short reads.

Every public method opens the DuckDB file only for its own duration, under the file lock of
:mod:`warehouse.locking`, so other processes (the Dagster UI, a second sync) get their turn. The
one exception is :meth:`Warehouse.hold_open`: a burst of back-to-back commits keeps one connection,
and its holder releases it after a few seconds. What one commit writes, and how, is in
:mod:`warehouse.apply`; the batches it takes are in :mod:`warehouse.batches`.

Timestamps: ``_synced_at``, ``_deleted_at`` and the ``_sync_state``/``_sync_runs`` times are UTC
``TIMESTAMPTZ`` values, like every instant. Aware datetimes passed in keep their instant; naive ones
are taken as UTC. Datetimes handed back are aware (UTC).

Ownership: the first write of a :class:`Warehouse` object examines the file and refuses one graphsync
did not make, before anything is written (:mod:`warehouse.ownership`); a warehouse made by an older
graphsync is migrated (:mod:`warehouse.migrations`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from warehouse import runs
from warehouse.apply import apply_batches
from warehouse.batches import ApplyCounts, PageBatch, StreamState, to_utc, validate
from warehouse.errors import WarehouseError
from warehouse.locking import open_locked, readers_waiting
from warehouse.ownership import KINDS, TENANT
from warehouse.schema import COMMIT_SEQUENCE, ensure_schema

if TYPE_CHECKING:  # pandas costs a second of start-up; only readers that want frames load it
    import pandas as pd

__all__ = ["ApplyCounts", "PageBatch", "StreamState", "Warehouse"]

# graphsync checkpoints itself (DuckDB's own threshold is only a backstop, see warehouse.locking):
# after a commit once the write-ahead log passes CHECKPOINT_LOG_BYTES, and when a sync releases the
# file (see Warehouse.release). Each checkpoint runs under a memory cap: uncapped, folding a 24 MB
# log into the file took 400 MB more memory (the peak of a whole sync); capped at 128 MB it takes
# 80 MB and 15% longer (measured on 100k simulated messages).
CHECKPOINT_LOG_BYTES = 32 * 1024 * 1024
CHECKPOINT_MEMORY = "128MB"


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Warehouse:
    """The DuckDB warehouse file, opened only for the duration of each call.

    ``lock_timeout_s`` bounds how long a call waits for another process (graphsync's file lock,
    or DuckDB's own lock held by some other program) before raising :class:`WarehouseLocked`.
    ``kind`` is recorded in the marker of a warehouse this object creates: ``"tenant"``, or
    ``"demo"`` for the one ``graphsync demo`` makes (and may delete and make again).
    """

    def __init__(self, path: str | Path, lock_timeout_s: float = 60.0, kind: str = TENANT) -> None:
        if kind not in KINDS:
            raise WarehouseError(f"unknown warehouse kind {kind!r}; one of {', '.join(KINDS)}")
        self.path = Path(path).expanduser().absolute()
        self.lock_timeout_s = lock_timeout_s
        self.kind = kind
        self._schema_ready = False  # examined (ours), migrated and complete, as far as this object knows
        self._run_locks: dict[int, int] = {}  # run id -> descriptor of its run lock (see warehouse.runs)
        # A connection kept open across calls (see hold_open); the lock serialises its users, since a
        # DuckDB connection may move between threads but must not be used by two at once.
        self._held: ExitStack | None = None
        self._held_connection: duckdb.DuckDBPyConnection | None = None
        self._held_lock = threading.RLock()
        self.held_since: float | None = None  # when the held connection was opened (monotonic)

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

    def readers_waiting(self) -> bool:
        """Some other process waits to read the file (see warehouse.locking)."""
        return readers_waiting(self.path)

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
            self.held_since = time.monotonic()

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
                # Only a file known to be ours is checkpointed: another program's log is not ours to fold.
                if checkpoint and self._schema_ready and connection is not None and self._log_bytes() > 0:
                    _checkpoint(connection)

    def _log_bytes(self) -> int:
        try:
            return self.path.with_name(self.path.name + ".wal").stat().st_size
        except FileNotFoundError:
            return 0

    def _ensure_schema_once(self, connection: duckdb.DuckDBPyConnection) -> None:
        # Each writer call makes sure the file is ours and the tables exist, but only once per Warehouse object.
        if not self._schema_ready:
            ensure_schema(connection, self.path, self.kind)
            self._schema_ready = True

    # -- schema and state ----------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Refuse a file graphsync did not make; migrate an older warehouse; create all tables,
        ``_sync_state`` and ``_sync_runs`` if missing; add new model columns."""
        with self._write() as connection:
            ensure_schema(connection, self.path, self.kind)
        self._schema_ready = True

    def read_seq(self) -> int:
        """A commit number at least that of the latest commit and below that of every later one.
        Commits are numbered in order and every row carries the number of the one that last wrote
        it (``_synced_seq``).

        The number is drawn from the commit sequence itself (and so never used by a commit):
        ``duckdb_sequences().last_value`` is one too high in DuckDB 1.5 once the file was
        checkpointed (it shows the next value), which made a full round's sweep tombstone the rows
        its own first commit wrote.
        """
        with self._write() as connection:
            self._ensure_schema_once(connection)
            return int(connection.execute(f"SELECT nextval('{COMMIT_SEQUENCE}')").fetchall()[0][0])

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
                "SELECT stream, scope, link, link_kind, round_started_at, updated_at, round_seq, window_start, "
                f"window_end FROM _sync_state {where} ORDER BY scope",
                params,
            ).fetchall()
        return [StreamState(row[0], row[1], row[2], row[3], _as_utc(row[4]), _as_utc(row[5]), row[6],  # type: ignore[arg-type]
                            _as_utc(row[7]), _as_utc(row[8])) for row in rows]

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
        """Log the start of a sync run in ``_sync_runs``; returns its id for :meth:`finish_run`.

        Runs left ``running`` by a process that died are marked ``abandoned`` first (when no other run
        is alive, see :mod:`warehouse.runs`); this run is known to be alive until :meth:`finish_run`.
        """
        with self._write() as connection:
            self._ensure_schema_once(connection)
            run_id, lock = runs.start(connection, self.path, kind, streams, to_utc(now))
        self._run_locks[run_id] = lock
        return run_id

    def finish_run(
        self, run_id: int, status: str, now: datetime, counts: ApplyCounts | None = None, error: str | None = None
    ) -> None:
        """Record a run's outcome ("succeeded" or "failed") and its total counts."""
        counts = counts or ApplyCounts()
        try:
            with self._write() as connection:
                self._ensure_schema_once(connection)
                runs.finish(connection, run_id, status, to_utc(now), counts.upserted, counts.tombstoned, error)
        finally:
            # Even when the outcome could not be written: the run is over, and the next one may mark it.
            lock = self._run_locks.pop(run_id, None)
            if lock is not None:
                os.close(lock)

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
            validate(batch)
        with self._write() as connection:
            self._ensure_schema_once(connection)
            connection.execute("BEGIN TRANSACTION")
            try:
                counts = apply_batches(connection, batches, now)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
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
