"""One writer for all streams of a sync: batches from many streams commit together.

Opening the DuckDB file, taking its lock and committing costs tens of milliseconds; a tenant has
hundreds of small streams (one per mail folder), so committing each on its own would dominate a
sync. The writer gathers batches and commits them in one transaction when enough items are waiting
or enough time has passed. Commits run in a worker thread while the streams go on fetching; a stream
only waits when too much is already waiting to be written (that bound keeps memory flat).
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

from warehouse import ApplyCounts, PageBatch, Warehouse


def _size(batch: PageBatch) -> int:
    return len(batch.upserts) + len(batch.removals) + 1


@dataclass
class BatchWriter:
    warehouse: Warehouse
    flush_items: int = 5_000  # commit once this many items wait
    flush_seconds: float = 2.0  # ... or once the oldest waiting batch is this old
    max_waiting_items: int = 10_000  # streams pause while this many wait (a commit is running)
    hold_seconds: float = 10.0  # longest a burst of commits keeps the file from other processes
    counts: ApplyCounts = field(default_factory=ApplyCounts)
    commits: int = 0
    seconds_writing: float = 0.0
    _pending: list[PageBatch] = field(default_factory=list)
    _pending_items: int = 0
    _oldest: float | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _committing: asyncio.Task[None] | None = None
    # After a failed commit nothing else may commit: a later batch's link would skip the lost rows.
    _failure: BaseException | None = None
    _held_since: float = 0.0

    async def submit(self, batch: PageBatch) -> None:
        # Backpressure before taking the batch: a stream waits here, holding only this batch, while
        # too much waits already, so the items held across all streams stay bounded.
        while self._pending_items >= self.max_waiting_items:
            await self.flush()  # wait for the running commit, then commit what waits
        self._raise_if_failed()
        self._pending.append(batch)
        self._pending_items += _size(batch)
        if self._oldest is None:
            self._oldest = time.monotonic()
        if self._due():
            self._start_commit()

    def _due(self) -> bool:
        if self._pending_items >= self.flush_items:
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
            self._pending_items, self._oldest = 0, None
            if not batches:
                return
            started = time.monotonic()
            try:
                counts = await asyncio.to_thread(self._apply, batches)
            except BaseException as exc:
                self._failure = exc
                raise
            self.seconds_writing += time.monotonic() - started
            self.commits += 1
            for table, table_counts in counts.by_table.items():
                self.counts.add(table, table_counts)

    def _apply(self, batches: list[PageBatch]) -> ApplyCounts:
        if not self.warehouse.is_held_open:
            self.warehouse.hold_open()
            self._held_since = time.monotonic()
        try:
            return self.warehouse.apply(batches, datetime.now(UTC))
        except BaseException:
            self.warehouse.release()
            raise
        finally:
            if time.monotonic() - self._held_since >= self.hold_seconds:
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

    async def close(self) -> None:
        """Commit what is left; a failed background commit surfaces here."""
        try:
            if self._committing is not None:
                await asyncio.gather(self._committing, return_exceptions=True)
            await self.flush()
        finally:
            await asyncio.to_thread(self.warehouse.release, self._failure is None)
