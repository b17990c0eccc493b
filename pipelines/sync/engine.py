"""The delta-stream engine: follow one Graph delta feed for one scope into the warehouse.

A round starts from the stored link (a deltaLink between rounds, or the nextLink a crashed round
stopped at) or from scratch, and follows nextLinks until a deltaLink. Items are collapsed per id
(last occurrence wins, partial updates merged) and handed to the BatchWriter together with the link
to resume from, so rows and link always commit in one transaction. A lost sync state (410,
syncStateNotFound, resyncRequired) restarts the stream from scratch; the full round then sweeps rows
it did not see, which were deleted while the token was gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.graph import SyncStateLost
from pipelines.sync.fetch import PageFetcher
from pipelines.sync.streams import Removal, StreamSpec
from pipelines.sync.writer import BatchWriter
from warehouse import PageBatch, StreamState

MAX_RESTARTS = 3  # a feed that keeps losing its state is a Graph-side fault worth surfacing


@dataclass
class StreamStats:
    pages: int = 0
    items: int = 0
    upserts: int = 0
    removals: int = 0
    restarts: int = 0
    seconds: float = 0.0

    def add(self, other: StreamStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class PendingChanges:
    """One stream's changes since its last hand-off to the writer, collapsed by id."""

    upserts: dict[str, dict[str, Any]] = field(default_factory=dict)
    removals: set[str] = field(default_factory=set)
    received: int = 0  # items received for these changes (duplicates included): what they hold

    def upsert(self, item: dict[str, Any]) -> None:
        item_id = item["id"]
        self.removals.discard(item_id)
        previous = self.upserts.get(item_id)
        # Last occurrence wins per property; a partial update keeps what an earlier copy said.
        self.upserts[item_id] = {**previous, **item} if previous else item

    def remove(self, item_id: str) -> None:
        self.upserts.pop(item_id, None)
        self.removals.add(item_id)

    def __len__(self) -> int:
        return len(self.upserts) + len(self.removals)


def is_removed(spec: StreamSpec, item: dict[str, Any]) -> bool:
    if spec.removal is Removal.ANNOTATION:
        return "@removed" in item
    if spec.removal is Removal.DELETED_FACET:
        return "deleted" in item
    return bool(item.get("deletedDateTime"))


@dataclass
class DeltaStream:
    spec: StreamSpec
    scope: dict[str, str]
    fetcher: PageFetcher
    writer: BatchWriter
    flush_items: int = 5000
    stats: StreamStats = field(default_factory=StreamStats)
    # What this round saw, for callers that derive further work from a stream (folders -> messages).
    track_ids: bool = False
    on_page: Callable[[int], None] | None = None  # progress: called with each page's item count
    seen_ids: set[str] = field(default_factory=set)
    removed_ids: set[str] = field(default_factory=set)
    was_full_round: bool = False

    @property
    def scope_key(self) -> str:
        return self.spec.scope_key(self.scope)

    async def run(self, state: StreamState | None) -> StreamStats:
        """One round of this stream, resuming from `state` (None: from scratch)."""
        started = time.monotonic()
        link, round_started = self._resume_point(state)
        while True:
            try:
                await self._follow(link, round_started)
                break
            except SyncStateLost as lost:
                self.stats.restarts += 1
                if self.stats.restarts > MAX_RESTARTS:
                    raise
                # OneDrive's 410 names where to restart; elsewhere the first call starts over.
                link = lost.location or self.spec.first_url(self.scope)
                round_started = datetime.now(UTC)
        self.stats.seconds += time.monotonic() - started
        return self.stats

    def _track(self, item_id: str, removed: bool) -> None:
        (self.removed_ids if removed else self.seen_ids).add(item_id)
        (self.seen_ids if removed else self.removed_ids).discard(item_id)

    def _resume_point(self, state: StreamState | None) -> tuple[str, datetime | None]:
        if state is None or not state.link:
            return self.spec.first_url(self.scope), datetime.now(UTC)
        if state.link_kind == "delta":
            return state.link, None
        return state.link, state.round_started_at

    async def _follow(self, link: str, round_started: datetime | None) -> None:
        full_round = round_started is not None
        self.was_full_round = full_round
        self.seen_ids.clear()
        self.removed_ids.clear()
        pending = PendingChanges()
        url = link
        try:
            while True:
                pending = await self._make_room(pending, url, round_started, full_round)
                page = await self._fetch(url, full_round)
                items = page.get("value", [])
                pending.received += len(items)
                self.stats.pages += 1
                if self.on_page is not None:
                    self.on_page(len(items))
                for item in items:
                    self.stats.items += 1
                    removed = is_removed(self.spec, item)
                    if removed:
                        pending.remove(item["id"])
                    else:
                        pending.upsert(item)
                    if self.track_ids:
                        self._track(item["id"], removed)
                next_link = page.get("@odata.nextLink")
                delta_link = page.get("@odata.deltaLink")
                if next_link is None and delta_link is None:
                    raise ValueError(f"{self.spec.name} page for {self.scope_key} has neither nextLink nor deltaLink")
                if delta_link is not None:
                    await self._hand_off(pending, delta_link, "delta", round_started, full_round, final=True)
                    pending = PendingChanges()
                    return
                if len(pending) >= self.flush_items:
                    await self._hand_off(pending, next_link, "next", round_started, full_round, final=False)
                    pending = PendingChanges()
                url = next_link
        finally:
            # Received but never handed off (an error, a lost sync state): no longer held.
            self.writer.adjust(-pending.received)

    async def _make_room(self, pending: PendingChanges, url: str, round_started: datetime | None,
                         full_round: bool) -> PendingChanges:
        """Reserve room for the next page. When the streams hold too much, hand off what this one holds
        first (resuming at `url`): the commit that frees room must have something to store."""
        if pending and not self.writer.has_room(self.spec.page_size):
            await self._hand_off(pending, url, "next", round_started, full_round, final=False)
            pending = PendingChanges()
        await self.writer.reserve(self.spec.page_size)
        return pending

    async def _fetch(self, url: str, full_round: bool) -> dict[str, Any]:
        """One page; the room reserved for it is corrected to what it brought."""
        try:
            page = await self.fetcher.get(url, self._headers(), small=not full_round)
        except BaseException:
            self.writer.settle(self.spec.page_size, 0)
            raise
        self.writer.settle(self.spec.page_size, len(page.get("value", [])))
        return page

    async def _hand_off(self, pending: PendingChanges, link: str, kind: str, round_started: datetime | None,
                        full_round: bool, final: bool) -> None:
        # A full round keeps its start time in the state: mid-round it marks the resume as full, and
        # on the final page it is the cut-off of the sweep. A deltaLink always starts incremental.
        state = StreamState(
            stream=self.spec.name, scope=self.scope_key, link=link, link_kind=kind,
            round_started_at=round_started, updated_at=datetime.now(UTC),
        )
        guard = None
        if self.spec.removal_guard is not None:
            column, scope_field = self.spec.removal_guard
            guard = {column: self.scope[scope_field]}
        sweep = None
        if final and full_round and self.spec.sweep:
            sweep = {column: self.scope[field_name] for column, field_name in self.spec.sweep}
        batch = PageBatch(
            table=self.spec.table,
            scope_values=self.spec.row_values(self.scope),
            upserts=list(pending.upserts.values()),
            # In an incremental round Graph may send only the changed properties; merging a full
            # object is harmless, so every incremental upsert merges into the stored row.
            partial_ids=set() if full_round else set(pending.upserts),
            removals=sorted(pending.removals),
            removal_guard=guard,
            state=state,
            sweep_unseen=sweep,
        )
        self.stats.upserts += len(batch.upserts)
        self.stats.removals += len(batch.removals)
        await self.writer.submit(batch, received=pending.received)

    def _headers(self) -> dict[str, str]:
        return {"Prefer": f"odata.maxpagesize={self.spec.page_size}", **self.spec.headers}

