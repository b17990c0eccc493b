"""One writer for all streams of a sync: batches from many streams commit together.

Opening the DuckDB file, taking its lock and committing costs tens of milliseconds; a tenant has
hundreds of small streams (one per mail folder), so committing each on its own would dominate a
sync. The writer gathers batches and commits them in one transaction when enough items are waiting
or enough time has passed. Order is kept, so a stream's later link never commits before its earlier
rows. Between commits the file is closed and other processes may read it.
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
    flush_items: int = 20_000
    flush_seconds: float = 2.0
    counts: ApplyCounts = field(default_factory=ApplyCounts)
    commits: int = 0
    seconds_writing: float = 0.0
    _pending: list[PageBatch] = field(default_factory=list)
    _pending_items: int = 0
    _oldest: float | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def submit(self, batch: PageBatch) -> None:
        self._pending.append(batch)
        self._pending_items += _size(batch)
        if self._oldest is None:
            self._oldest = time.monotonic()
        if self._due():
            await self.flush()

    def _due(self) -> bool:
        if self._pending_items >= self.flush_items:
            return True
        return self._oldest is not None and time.monotonic() - self._oldest >= self.flush_seconds

    async def flush(self) -> None:
        async with self._lock:
            batches, self._pending = self._pending, []
            self._pending_items, self._oldest = 0, None
            if not batches:
                return
            started = time.monotonic()
            counts = await asyncio.to_thread(self.warehouse.apply, batches, datetime.now(UTC))
            self.seconds_writing += time.monotonic() - started
            self.commits += 1
            self._merge(counts)

    def _merge(self, counts: ApplyCounts) -> None:
        for table, table_counts in counts.by_table.items():
            self.counts.add(table, table_counts)

    async def flush_periodically(self) -> None:
        """Run alongside the streams so a quiet stream's last batch does not wait for the next one."""
        while True:
            await asyncio.sleep(self.flush_seconds / 2)
            if self._due():
                await self.flush()

    async def close(self) -> None:
        await self.flush()
