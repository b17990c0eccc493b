"""The batching writer: commits in the background, keeps order, and stops after a failed commit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from pipelines.sync.writer import BatchWriter
from warehouse import ApplyCounts, PageBatch, StreamState


class FakeWarehouse:
    """Records commits, and each open/close of the file as "open"/"close" events."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.applied: list[list[str]] = []
        self.fail_on = fail_on
        self.is_held_open = False
        self.events: list[str] = []
        self.checkpointed = False  # whether the last close folded the write-ahead log into the file

    def hold_open(self) -> None:
        assert not self.is_held_open
        self.is_held_open = True
        self.events.append("open")

    def release(self, checkpoint: bool = False) -> None:
        if self.is_held_open:
            self.is_held_open = False
            self.events.append("close")
            self.checkpointed = checkpoint

    def apply(self, batches: list[PageBatch], now: datetime) -> ApplyCounts:
        assert self.is_held_open, "the writer commits through a held connection"
        self.events.append("commit")
        if self.fail_on is not None and len(self.applied) == self.fail_on:
            self.applied.append([])
            raise OSError("disk full")
        self.applied.append([b.state.link or "" for b in batches])
        return ApplyCounts()


def batch(link: str, items: int = 1) -> PageBatch:
    now = datetime.now(UTC)
    return PageBatch(table="messages", scope_values={"user_id": "u"},
                     upserts=[{"id": f"{link}-{i}"} for i in range(items)], partial_ids=set(), removals=[],
                     removal_guard=None,
                     state=StreamState("messages", "u/f", link, "next", None, now))


def test_order_is_kept_across_commits() -> None:
    wh = FakeWarehouse()

    async def run() -> None:
        writer = BatchWriter(wh, flush_items=3, max_waiting_items=6)  # type: ignore[arg-type]
        for n in range(10):
            await writer.submit(batch(f"L{n}"))
        await writer.close()

    asyncio.run(run())
    assert [link for commit in wh.applied for link in commit] == [f"L{n}" for n in range(10)]


def test_nothing_commits_after_a_failed_commit() -> None:
    wh = FakeWarehouse(fail_on=0)

    async def run() -> None:
        writer = BatchWriter(wh, flush_items=2, max_waiting_items=100)  # type: ignore[arg-type]
        await writer.submit(batch("L0"))
        await writer.submit(batch("L1"))  # due: the commit of L0, L1 starts and fails
        await asyncio.sleep(0.05)
        with pytest.raises(OSError):
            await writer.submit(batch("L2"))
        with pytest.raises(OSError):
            await writer.close()

    asyncio.run(run())
    assert wh.applied == [[]], "after the failed commit no later link (L2) may be stored"


def test_streams_wait_when_too_much_waits() -> None:
    wh = FakeWarehouse()

    async def run() -> int:
        writer = BatchWriter(wh, flush_items=1000, max_waiting_items=5)  # type: ignore[arg-type]
        for n in range(4):
            await writer.submit(batch(f"L{n}", items=2))
        return len(wh.applied)

    assert asyncio.run(run()) >= 1, "the backpressure bound forced a commit before flush_items was reached"


def test_back_to_back_commits_share_one_open_of_the_file_and_close_it_at_the_end() -> None:
    wh = FakeWarehouse()

    async def run() -> None:
        writer = BatchWriter(wh, flush_items=2, max_waiting_items=4)  # type: ignore[arg-type]
        for n in range(8):
            await writer.submit(batch(f"L{n}"))
        await writer.close()

    asyncio.run(run())
    assert wh.events[0] == "open" and wh.events[-1] == "close"
    assert wh.events.count("commit") >= 4 and wh.events.count("open") == 1
    assert wh.checkpointed, "a writer that ends well leaves the file checkpointed for the next opener"


def test_the_file_is_closed_after_hold_seconds_and_after_a_failed_commit() -> None:
    held, failed = FakeWarehouse(), FakeWarehouse(fail_on=0)

    async def run(wh: FakeWarehouse, hold_seconds: float) -> None:
        writer = BatchWriter(wh, flush_items=1, hold_seconds=hold_seconds)  # type: ignore[arg-type]
        for n in range(3):
            await writer.submit(batch(f"L{n}"))
            await writer.flush()
        await writer.close()

    asyncio.run(run(held, hold_seconds=0.0))
    assert held.events == ["open", "commit", "close"] * 3
    with pytest.raises(OSError):
        asyncio.run(run(failed, hold_seconds=60.0))
    assert failed.events == ["open", "commit", "close"] and not failed.is_held_open
    assert not failed.checkpointed


def test_the_file_is_closed_once_nothing_waits() -> None:
    wh = FakeWarehouse()

    async def run() -> None:
        writer = BatchWriter(wh, flush_items=1, flush_seconds=0.05)  # type: ignore[arg-type]
        ticker = asyncio.create_task(writer.flush_periodically())
        await writer.submit(batch("L0"))
        await writer.flush()
        assert wh.is_held_open
        await asyncio.sleep(0.2)
        ticker.cancel()
        assert not wh.is_held_open, "an idle writer gives the file back to other processes"

    asyncio.run(run())
