"""One writer for all streams of a sync: batches from many streams commit together.

Opening the DuckDB file, taking its lock and committing costs tens of milliseconds; a tenant has
hundreds of small streams (one per mail folder), so committing each on its own would dominate a
sync. The writer gathers batches and commits them in one transaction when enough items are waiting
or enough time has passed. Commits run in a worker thread while the streams go on fetching; a stream
only waits when the items received and not yet committed, plus the room reserved for pages on their
way, reach `held_limit` (that bound, not the tenant's size, sets a sync's memory).
Order is kept, so a stream's later link never commits before its earlier rows.

Back-to-back commits share one open connection (each open of the file replays DuckDB's write-ahead
log, 0.1-0.3 s); the file is closed once nothing waits to be written, after at most `hold_seconds`
of holding it, and at the end, so other processes get their turn.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from warehouse import ApplyCounts, PageBatch, Warehouse


def _size(batch: PageBatch) -> int:
    return len(batch.upserts) + len(batch.removals) + 1


@dataclass
class BatchWriter:
    warehouse: Warehouse
    flush_items: int = 5_000  # commit once this many items wait
    flush_seconds: float = 2.0  # ... or once the oldest waiting batch is this old
    # Items received from Graph and not committed yet, across all streams (parsed, waiting, being
    # written): streams reserve room before each page, so memory does not grow with the tenant.
    held_limit: int = 10_000
    # Longest a burst of commits keeps the file from other processes: the bound on a reader's wait
    # during a sync (warehouse/locking.py lets a waiting reader in before the writer takes it again).
    # Each reopen replays DuckDB's log (0.1-0.3 s), so much shorter holds would slow a big sync.
    hold_seconds: float = 5.0
    min_hold_seconds: float = 0.5  # ... and once a reader waits, after the next commit past this
    counts: ApplyCounts = field(default_factory=ApplyCounts)
    commits: int = 0
    last_seq: int = 0  # the number of the latest commit (Warehouse.read_seq, then each apply's)
    _pending: list[PageBatch] = field(default_factory=list)
    _pending_items: int = 0
    _pending_received: int = 0  # items received from Graph for the pending batches
    _held: int = 0
    _in_flight: int = 0  # of _held: reserved for pages not received yet
    _waiting_for_room: int = 0
    _room_freed: asyncio.Event = field(default_factory=asyncio.Event)
    _oldest: float | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _committing: asyncio.Task[None] | None = None
    # After a failed commit nothing else may commit: a later batch's link would skip the lost rows.
    _failure: BaseException | None = None
    _held_since: float = 0.0

    # -- room: how many received items may be held ------------------------------------------------

    def has_room(self, items: int) -> bool:
        return self._held == 0 or self._held + items <= self.held_limit

    async def reserve(self, items: int) -> None:
        """Count `items` about to be received as held; first wait while the streams hold `held_limit`.

        A stream must hand off what it holds before waiting here (see DeltaStream), or the commit
        that frees room might never have anything to store.
        """
        self._waiting_for_room += 1
        try:
            while not self.has_room(items):
                self._raise_if_failed()
                if self._due():  # someone waits (see _due): commit now rather than on the timer
                    self._start_commit()
                self._room_freed.clear()
                await self._room_freed.wait()
        finally:
            self._waiting_for_room -= 1
        self._held += items
        self._in_flight += items

    def _commit_frees_room(self) -> bool:
        """Whether a waiter needs a commit, rather than the pages in flight, to make room.

        Pages of an incremental round come back nearly empty, so settling them frees most of the
        room they reserved; committing a few hundred items each time instead cost a scan of the
        stored rows per commit (measured: 3-4 commits instead of 1 per incremental sync of 100k
        messages). Full pages free nothing, so once half the room holds received items, or nothing is
        in flight, a commit it is.
        """
        return self._in_flight == 0 or self._held - self._in_flight >= self.held_limit // 2

    def settle(self, reserved: int, received: int) -> None:
        """A page `reserved` items were reserved for brought `received` (0 if it failed)."""
        self._in_flight = max(0, self._in_flight - reserved)
        self.adjust(received - reserved)
        self._room_freed.set()  # even a full page changes what the waiters may decide

    def adjust(self, items: int) -> None:
        """Correct the held count: received items were committed, or dropped without a commit (a
        lost sync state), or a page brought more or fewer than reserved (see settle)."""
        self._held = max(0, self._held + items)
        if items < 0:
            self._room_freed.set()

    def next_seq(self) -> int:
        """The lowest number the next commit can have: a full round starting now keeps, in its sweep,
        only rows written from that commit on (clocks may step back; commit numbers do not)."""
        return self.last_seq + 1

    # -- batches ----------------------------------------------------------------------------------

    async def submit(self, batch: PageBatch, received: int = 0) -> None:
        """Queue a batch for the next commit; `received`: the held items it accounts for, released
        once it is committed."""
        self._raise_if_failed()
        self._pending.append(batch)
        self._pending_items += _size(batch)
        self._pending_received += received
        if self._oldest is None:
            self._oldest = time.monotonic()
        if self._due():
            self._start_commit()

    def _due(self) -> bool:
        if self._pending_items >= self.flush_items or (
                self._waiting_for_room and self._pending and self._commit_frees_room()):
            return True
        return self._oldest is not None and time.monotonic() - self._oldest >= self.flush_seconds

    def _start_commit(self) -> None:
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self.flush())
            # Its failure is kept in _failure and raised to the next caller; mark it retrieved so
            # asyncio does not also print it as a traceback when the task is collected.
            self._committing.add_done_callback(lambda task: task.cancelled() or task.exception())

    async def flush(self) -> None:
        """Commit everything waiting (after any commit already running)."""
        async with self._lock:
            self._raise_if_failed()
            batches, self._pending = self._pending, []
            received, self._pending_received = self._pending_received, 0
            self._pending_items, self._oldest = 0, None
            if not batches:
                return
            try:
                counts = await asyncio.to_thread(self._apply, batches)
            except BaseException as exc:
                self._failure = exc
                self._room_freed.set()  # waiters wake up to the failure
                raise
            self.adjust(-received)
            self.commits += 1
            self.last_seq = max(self.last_seq, counts.seq)
            for table, table_counts in counts.by_table.items():
                self.counts.add(table, table_counts)

    async def read(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """A query of the warehouse as it stands once everything submitted so far is committed."""
        await self.flush()
        async with self._lock:
            self._raise_if_failed()
            return await asyncio.to_thread(self.warehouse.query_rows, sql, params)

    def _apply(self, batches: list[PageBatch]) -> ApplyCounts:
        if not self.warehouse.is_held_open:
            self.warehouse.hold_open()
            self._held_since = time.monotonic()
        elif not self._held_since:  # opened by the caller (a sync's start): count from its opening
            self._held_since = self.warehouse.held_since or time.monotonic()
        try:
            return self.warehouse.apply(batches, datetime.now(UTC))
        except BaseException:
            self.warehouse.release()
            raise
        finally:
            held = time.monotonic() - self._held_since
            if held >= self.hold_seconds or (held >= self.min_hold_seconds and self.warehouse.readers_waiting()):
                self.warehouse.release()

    async def _release_if_idle(self) -> None:
        async with self._lock:
            if self.warehouse.is_held_open and not self._pending:
                await asyncio.to_thread(self.warehouse.release)

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def flush_periodically(self) -> None:
        """Run alongside the streams so a quiet stream's last batch does not wait for the next one."""
        while True:
            await asyncio.sleep(self.flush_seconds / 2)
            if self._due():
                self._start_commit()
            elif not self._pending and not self._lock.locked():
                await self._release_if_idle()

    async def close(self, release: bool = True) -> None:
        """Commit what is left; a failed background commit surfaces here. `release=False` leaves the
        file open for the caller's last writes (the caller then releases it)."""
        try:
            if self._committing is not None:
                await asyncio.gather(self._committing, return_exceptions=True)
            await self.flush()
        finally:
            if release or self._failure is not None:
                await asyncio.to_thread(self.warehouse.release, self._failure is None)
