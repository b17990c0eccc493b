"""The batching writer: commits in the background, keeps order, and stops after a failed commit."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from pipelines.sync.engine import StreamRun as DeltaStream
from pipelines.sync.streams import MESSAGES
from pipelines.sync.writer import BatchWriter
from warehouse import ApplyCounts, PageBatch, StreamState


class FakeWarehouse:
    """Records commits, and each open/close of the file as "open"/"close" events."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.applied: list[list[str]] = []
        self.fail_on = fail_on
        self.is_held_open = False
        self.held_since: float | None = None
        self.events: list[str] = []
        self.checkpointed = False  # whether the last close folded the write-ahead log into the file

    def readers_waiting(self) -> bool:
        return False

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
        writer = BatchWriter(wh, flush_items=3)  # type: ignore[arg-type]
        for n in range(10):
            await writer.submit(batch(f"L{n}"))
        await writer.close()

    asyncio.run(run())
    assert [link for commit in wh.applied for link in commit] == [f"L{n}" for n in range(10)]


def test_nothing_commits_after_a_failed_commit() -> None:
    wh = FakeWarehouse(fail_on=0)

    async def run() -> None:
        writer = BatchWriter(wh, flush_items=2)  # type: ignore[arg-type]
        await writer.submit(batch("L0"))
        await writer.submit(batch("L1"))  # due: the commit of L0, L1 starts and fails
        await asyncio.sleep(0.05)
        with pytest.raises(OSError):
            await writer.submit(batch("L2"))
        with pytest.raises(OSError):
            await writer.close()

    asyncio.run(run())
    assert wh.applied == [[]], "after the failed commit no later link (L2) may be stored"


def test_a_stream_waits_for_room_and_a_commit_frees_it() -> None:
    wh = FakeWarehouse()

    async def run() -> BatchWriter:
        writer = BatchWriter(wh, flush_items=1000, held_limit=5)  # type: ignore[arg-type]
        for n in range(2):
            await writer.reserve(2)
            writer.settle(2, 2)  # the page came back full
            await writer.submit(batch(f"L{n}", items=2), received=2)
        assert not writer.has_room(2)
        # Waiting for room commits what waits at once (not after flush_seconds), which frees the room.
        await asyncio.wait_for(writer.reserve(2), timeout=1.0)
        return writer

    writer = asyncio.run(run())
    assert wh.applied == [["L0", "L1"]] and writer._held == 2


def test_pages_in_flight_that_come_back_empty_make_room_without_a_commit() -> None:
    wh = FakeWarehouse()

    async def run() -> None:
        writer = BatchWriter(wh, flush_items=1000, held_limit=4)  # type: ignore[arg-type]
        await writer.reserve(1)
        writer.settle(1, 1)
        await writer.submit(batch("L0"), received=1)
        await writer.reserve(3)  # a page in flight: the room is taken
        waiter = asyncio.create_task(writer.reserve(2))
        await asyncio.sleep(0.01)
        assert not waiter.done() and wh.applied == [], "with a page in flight a small commit would not help"
        writer.settle(3, 0)  # an incremental round's page: nothing changed
        await asyncio.wait_for(waiter, timeout=1.0)
        assert wh.applied == [], "the empty page made the room"

        writer.settle(2, 2)  # the waiter's page came back full
        await writer.submit(batch("L1", items=2), received=2)
        # Nothing in flight: only a commit makes room.
        await asyncio.wait_for(writer.reserve(2), timeout=1.0)
        assert wh.applied == [["L0", "L1"]]

    asyncio.run(run())


def test_a_failed_commit_wakes_the_streams_waiting_for_room() -> None:
    wh = FakeWarehouse(fail_on=0)

    async def run() -> None:
        writer = BatchWriter(wh, flush_items=1000, held_limit=2)  # type: ignore[arg-type]
        await writer.reserve(2)
        writer.settle(2, 2)
        await writer.submit(batch("L0", items=2), received=2)
        await asyncio.wait_for(writer.reserve(1), timeout=1.0)

    with pytest.raises(OSError):
        asyncio.run(run())


def test_engine_streams_share_a_small_room_without_deadlock() -> None:
    """Three streams, pages of 2, room for 3: each hands off before waiting, all items commit in order."""
    wh = FakeWarehouse()

    class Pages:
        def __init__(self) -> None:
            self.calls: list[str] = []

        async def get(self, url: str, headers: dict[str, str], small: bool = False) -> dict[str, Any]:
            self.calls.append(url)
            if "/mailFolders/" in url:  # the first call of a stream: .../mailFolders/{folder}/messages/delta
                stream, page = "s" + url.split("/mailFolders/")[1].split("/")[0], "0"
            else:
                stream, page = url.rsplit("/", 1)
            await asyncio.sleep(0)
            items = [{"id": f"{stream}-{page}-{i}"} for i in range(2)]
            if int(page) < 4:
                return {"value": items, "@odata.nextLink": f"{stream}/{int(page) + 1}"}
            return {"value": items, "@odata.deltaLink": f"{stream}/delta"}

    async def run() -> BatchWriter:
        writer = BatchWriter(wh, flush_items=1000, held_limit=3)  # type: ignore[arg-type]
        fetcher = Pages()
        streams = [DeltaStream(replace(MESSAGES, page_size=2), {"user_id": "u", "folder_id": f"f{n}"}, fetcher, writer,
                               flush_items=1000) for n in range(3)]
        await asyncio.wait_for(asyncio.gather(*(s.run(None) for s in streams)), timeout=5.0)
        await writer.close()
        return writer

    writer = asyncio.run(run())
    links = [link for commit in wh.applied for link in commit]
    for n in range(3):
        mine = [link for link in links if link.startswith(f"sf{n}/")]
        assert mine[-1] == f"sf{n}/delta" and mine == sorted(mine, key=lambda x: (x.endswith("delta"), x))
    assert writer._held == 0, "everything received was committed and released"


def test_back_to_back_commits_share_one_open_of_the_file_and_close_it_at_the_end() -> None:
    wh = FakeWarehouse()

    async def run() -> None:
        writer = BatchWriter(wh, flush_items=2, held_limit=4)  # type: ignore[arg-type]
        for n in range(8):
            await writer.reserve(1)  # waits for commits once 4 are held
            writer.settle(1, 1)
            await writer.submit(batch(f"L{n}"), received=1)
        await writer.close()

    asyncio.run(run())
    assert wh.events[0] == "open" and wh.events[-1] == "close"
    assert wh.events.count("commit") >= 2 and wh.events.count("open") == 1
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
