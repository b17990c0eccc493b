"""The stream runner: one round of one stream for one scope, whatever its kind, into the warehouse.

A round starts from the stored state (a deltaLink or watermark between rounds, or the nextLink a
crashed round stopped at) or from scratch, and follows nextLinks to the end. Items are collapsed per
id (last occurrence wins, partial updates merged) and handed to the BatchWriter together with the
state to resume from, so rows and state always commit in one transaction. The kinds differ only in
where a round starts, what ends it and what it stores (see `Kind`):

- DELTA: a round ends at a deltaLink, which the next round starts from. A lost sync state (410,
  syncStateNotFound, resyncRequired) restarts it from scratch; that full round sweeps what it did
  not see, which was deleted while the token was gone.
- SNAPSHOT: every round is a full round and sweeps what it did not see.
- WATERMARK: a round lists what changed after the last round's newest change (less an overlap);
  the new watermark is stored on its last page only, so a crashed round is simply repeated.
- SINGLE: one GET; the object is the scope's only row (none on 404).

A windowed feed (calendarView delta) starts a new round when the run's day moves its window, and
reads what it reports removed by id before believing it (window.py).

A full round's sweep keeps the rows written from the commit it began at (`BatchWriter.next_seq`), so
what it saw is decided by commit numbers, never by comparing clocks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from connectors.graph import GraphError, SyncStateLost
from pipelines.sync.fetch import PageFetcher, read_each
from pipelines.sync.plan import Kind, Removal, StreamSpec, Window
from pipelines.sync.window import unseen_in_window
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
    requests: int = 0  # GETs made (a page or an item read), each once even inside a $batch; retries not counted

    def add(self, other: StreamStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class PendingChanges:
    """One stream's changes since its last hand-off to the writer, collapsed by id."""

    upserts: dict[str, dict[str, Any]] = field(default_factory=dict)
    removals: set[str] = field(default_factory=set)
    # Reported removed by a windowed feed, not yet read by id (see StreamSpec.confirm).
    doubted: set[str] = field(default_factory=set)
    received: int = 0  # items received for these changes (duplicates included): what they hold

    def upsert(self, item: dict[str, Any]) -> None:
        item_id = item["id"]
        self.removals.discard(item_id)
        self.doubted.discard(item_id)
        previous = self.upserts.get(item_id)
        # Last occurrence wins per property; a partial update keeps what an earlier copy said.
        self.upserts[item_id] = {**previous, **item} if previous else item

    def remove(self, item_id: str) -> None:
        self.upserts.pop(item_id, None)
        self.doubted.discard(item_id)
        self.removals.add(item_id)

    def doubt(self, item_id: str) -> None:
        self.upserts.pop(item_id, None)
        self.removals.discard(item_id)
        self.doubted.add(item_id)

    def __len__(self) -> int:
        return len(self.upserts) + len(self.removals)


def is_removed(spec: StreamSpec, item: dict[str, Any]) -> bool:
    """`@removed` in any feed (a deleted channel's posts too), else the stream's own sign."""
    if "@removed" in item:
        return True
    if spec.removal is Removal.DELETED_FACET:
        return "deleted" in item
    return spec.removal is Removal.DELETED_DATE_TIME and bool(item.get("deletedDateTime"))


@dataclass(frozen=True)
class _Round:
    url: str
    full: bool  # a full enumeration: its last page sweeps what it did not see
    started_at: datetime | None  # full rounds: when it began, kept in mid-round states
    seq: int | None  # full rounds: the first commit number it may have written
    watermark: datetime | None = None  # WATERMARK rounds: the newest change the last round saw
    window: Window | None = None  # windowed feeds: the date window the round's links carry


@dataclass
class StreamRun:
    spec: StreamSpec
    scope: dict[str, str]
    fetcher: PageFetcher
    writer: BatchWriter
    flush_items: int = 5000
    stats: StreamStats = field(default_factory=StreamStats)
    # What this round saw, for callers that derive further work from a stream (folders -> messages).
    track_ids: bool = False
    on_page: Callable[[int], None] | None = None  # progress: called with each page's item count
    others_marks: list[tuple[str, str]] = field(default_factory=list)  # Plan.others_marks: rows not this stream's
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> item, when track_ids
    removed_ids: set[str] = field(default_factory=set)
    was_full_round: bool = False

    @property
    def scope_key(self) -> str:
        return self.spec.scope_key(self.scope)

    @property
    def saw_whole_scope(self) -> bool:
        """Whether the round listed every item of the scope (a full round of a feed with no window):
        what it did not see is gone. A windowed round sees only its window."""
        return self.was_full_round and self.spec.window_days is None

    async def run(self, state: StreamState | None) -> StreamStats:
        """One round of this stream, resuming from `state` (None: from scratch)."""
        started = time.monotonic()
        if self.spec.kind is Kind.SINGLE:
            await self._single()
        else:
            await self._paged(self._resume_point(state))
        self.stats.seconds += time.monotonic() - started
        return self.stats

    # -- where a round starts ----------------------------------------------------------------------

    def _fresh_round(self) -> _Round:
        window = self.spec.window()
        return _Round(self.spec.first_url(self.scope, window=window), full=True, started_at=datetime.now(UTC),
                      seq=self.writer.next_seq(), window=window)

    def _resume_point(self, state: StreamState | None) -> _Round:
        kind = self.spec.kind
        window = (state.window_start, state.window_end) if state and state.window_start and state.window_end \
            else None
        if state is None or not state.link:
            if kind is Kind.WATERMARK:  # the first round lists everything, newest first
                return _Round(self.spec.first_url(self.scope), full=False, started_at=None, seq=None)
            return self._fresh_round()
        if state.link_kind == "watermark":
            since = datetime.fromisoformat(state.link)
            return _Round(self.spec.first_url(self.scope, since), full=False, started_at=None, seq=None,
                          watermark=since)
        if state.link_kind == "delta":
            if self.spec.window_days is not None and window != self.spec.window():
                return self._fresh_round()  # a new day: a round over the window that moved on with it
            return _Round(state.link, full=False, started_at=None, seq=None, window=window)
        # Mid-round: resume at the nextLink, as full as the round that stored it.
        full = state.round_started_at is not None or state.round_seq is not None
        return _Round(state.link, full=full, started_at=state.round_started_at, seq=state.round_seq, window=window)

    # -- the kinds ---------------------------------------------------------------------------------

    async def _paged(self, first: _Round) -> None:
        current = first
        while True:
            try:
                await self._follow(current)
                return
            except SyncStateLost as lost:
                self.stats.restarts += 1
                if self.stats.restarts > MAX_RESTARTS:
                    raise
                fresh = self._fresh_round()
                # OneDrive's 410 names where to restart; elsewhere the first call starts over.
                current = replace(fresh, url=lost.location or fresh.url)

    async def _single(self) -> None:
        """One object: it is the scope's only row. A 404 (no OneDrive provisioned) leaves none."""
        round_ = self._fresh_round()
        self.was_full_round = True
        pending = PendingChanges()
        await self.writer.reserve(1)
        self.stats.requests += 1
        try:
            item = await self.fetcher.get(round_.url, {}, small=True)
        except GraphError as exc:
            self.writer.settle(1, 0)
            if exc.status != 404:
                raise
        else:
            self.writer.settle(1, 1)
            self.stats.pages += 1
            pending.received = 1
            self._take(pending, [item])
        await self._hand_off(pending, round_, link=None, kind="delta", final=True)

    async def _follow(self, round_: _Round) -> None:
        self.was_full_round = round_.full
        self.seen.clear()
        self.removed_ids.clear()
        pending = PendingChanges()
        url = round_.url
        newest = round_.watermark
        try:
            while True:
                pending = await self._make_room(pending, url, round_)
                page = await self._fetch(url, round_.full)
                items = await self._whole_items(page.get("value", []))
                pending.received += len(items)
                self.stats.pages += 1
                if self.on_page is not None:
                    self.on_page(len(items))
                self._take(pending, items)
                next_link = page.get("@odata.nextLink")
                if next_link is None and round_.full and round_.window is not None:
                    await self._doubt_unseen(pending, round_)
                if pending.doubted:
                    await self._confirm(pending)
                if self.spec.kind is Kind.WATERMARK:
                    newest = max([newest, *_stamps(items, self.spec.watermark_field)], default=None, key=_key)
                delta_link = page.get("@odata.deltaLink")
                if next_link is None:
                    link, kind = self._end_state(delta_link, newest)
                    await self._hand_off(pending, round_, link, kind, final=True)
                    pending = PendingChanges()
                    return
                if len(pending) >= self.flush_items:
                    await self._hand_off(pending, round_, *self._mid_state(next_link, round_), final=False)
                    pending = PendingChanges()
                url = next_link
        finally:
            # Received but never handed off (an error, a lost sync state): no longer held.
            self.writer.adjust(-pending.received)

    def _end_state(self, delta_link: str | None, newest: datetime | None) -> tuple[str | None, str]:
        if self.spec.kind is Kind.DELTA:
            if delta_link is None:
                raise ValueError(f"{self.spec.name} page for {self.scope_key} has neither nextLink nor deltaLink")
            return delta_link, "delta"
        if self.spec.kind is Kind.WATERMARK:
            return (newest.isoformat() if newest else None), "watermark"
        return None, "delta"  # SNAPSHOT: the next round lists everything again

    def _mid_state(self, next_link: str, round_: _Round) -> tuple[str | None, str]:
        if self.spec.kind is Kind.WATERMARK:  # keep the old watermark: a crash repeats this round
            return (round_.watermark.isoformat() if round_.watermark else None), "watermark"
        return next_link, "next"

    def _take(self, pending: PendingChanges, items: list[dict[str, Any]]) -> None:
        for item in self._flattened(items):
            self.stats.items += 1
            removed = is_removed(self.spec, item)
            if removed and self.spec.confirm is not None:
                pending.doubt(item["id"])
            else:
                self._record(pending, item, removed)

    def _record(self, pending: PendingChanges, item: dict[str, Any], removed: bool) -> None:
        if removed:
            pending.remove(item["id"])
        else:
            pending.upsert(item)
        if self.track_ids:
            if removed:
                self.seen.pop(item["id"], None)
                self.removed_ids.add(item["id"])
            else:
                self.removed_ids.discard(item["id"])
                self.seen[item["id"]] = {**self.seen.get(item["id"], {}), **item}

    async def _confirm(self, pending: PendingChanges) -> None:
        """Read each doubted item by id: a 404 is a removal, an answer the item as it is now."""
        assert self.spec.confirm is not None
        doubted, pending.doubted = sorted(pending.doubted), set()
        self.stats.requests += len(doubted)
        found = await read_each(self.fetcher, [self.spec.confirm.format(**self.scope, id=i) for i in doubted])
        for item_id, item in zip(doubted, found, strict=True):
            self._record(pending, item or {"id": item_id}, removed=item is None)

    async def _doubt_unseen(self, pending: PendingChanges, round_: _Round) -> None:
        """A windowed full round's last page: the stored live rows inside its window that it did not
        see are doubted (deleted while no token was held, or moved out of the window unseen)."""
        assert round_.window is not None
        for item_id in await unseen_in_window(self.spec, self.scope, self.writer, round_.window,
                                              round_.seq, round_.started_at, self.others_marks):
            if item_id not in pending.upserts and item_id not in pending.removals:
                pending.doubt(item_id)

    def _flattened(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Items, each followed by its nested items (a post's replies), which become rows of their own."""
        nested = self.spec.nested
        if nested is None:
            return items
        out = []
        for item in items:
            children = item.get(nested) or []
            out.append({k: v for k, v in item.items() if k != nested and k != f"{nested}@odata.context"})
            out.extend(children)
        return out

    async def _whole_items(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """SNAPSHOT lists that hold only some properties: each item read whole (gone meanwhile: dropped)."""
        if self.spec.detail is None or not items:
            return items

        self.stats.requests += len(items)
        found = await read_each(self.fetcher, [self.spec.detail.format(id=item["id"]) for item in items])
        return [item for item in found if item is not None]

    # -- room and hand-off -------------------------------------------------------------------------

    async def _make_room(self, pending: PendingChanges, url: str, round_: _Round) -> PendingChanges:
        """Reserve room for the next page. When the streams hold too much, hand off what this one holds
        first (resuming at `url`): the commit that frees room must have something to store."""
        if pending and not self.writer.has_room(self.spec.page_size):
            await self._hand_off(pending, round_, *self._mid_state(url, round_), final=False)
            pending = PendingChanges()
        await self.writer.reserve(self.spec.page_size)
        return pending

    async def _fetch(self, url: str, full_round: bool) -> dict[str, Any]:
        """One page; the room reserved for it is corrected to what it brought."""
        self.stats.requests += 1
        try:
            page = await self.fetcher.get(url, self._headers(), small=not full_round)
        except BaseException:
            self.writer.settle(self.spec.page_size, 0)
            raise
        self.writer.settle(self.spec.page_size, len(page.get("value", [])))
        return page

    async def _hand_off(self, pending: PendingChanges, round_: _Round, link: str | None, kind: str,
                        final: bool) -> None:
        # A full round keeps its start in the state: mid-round it marks the resume as full, and on the
        # final page it bounds the sweep. A deltaLink or watermark always starts an incremental round.
        window = round_.window or (None, None)
        state = StreamState(
            stream=self.spec.name, scope=self.scope_key, link=link, link_kind=kind,
            round_started_at=round_.started_at, updated_at=datetime.now(UTC), round_seq=round_.seq,
            window_start=window[0], window_end=window[1],
        )
        guard = None
        if self.spec.removal_guard is not None:
            column, scope_field = self.spec.removal_guard
            guard = {column: self.scope[scope_field]}
        sweep = None
        if final and round_.full and round_.window is None:  # a windowed round doubts instead (_doubt_unseen)
            sweep = {column: self.scope[name] for column, name in self.spec.rows_of_scope()}
        batch = PageBatch(
            table=self.spec.table,
            scope_values=self.spec.row_values(self.scope),
            upserts=list(pending.upserts.values()),
            # In an incremental delta round Graph may send only the changed properties; merging a full
            # object is harmless, so every incremental upsert merges into the stored row.
            partial_ids=set(pending.upserts) if self.spec.kind is Kind.DELTA and not round_.full else set(),
            removals=sorted(pending.removals),
            removal_guard=guard,
            state=state,
            sweep_unseen=sweep,
            cascade=self.spec.removal_cascade,
            # Lists read whole each round mostly bring back what is stored: leave equal rows be.
            compare=self.spec.kind is not Kind.DELTA,
        )
        self.stats.upserts += len(batch.upserts)
        self.stats.removals += len(batch.removals)
        await self.writer.submit(batch, received=pending.received)

    def _headers(self) -> dict[str, str]:
        prefer = ", ".join([f"odata.maxpagesize={self.spec.page_size}", *self.spec.prefer])
        return {"Prefer": prefer, **self.spec.headers}


def _stamps(items: list[dict[str, Any]], name: str) -> list[datetime]:
    out = []
    for item in items:
        value = item.get(name)
        if isinstance(value, str):
            out.append(datetime.fromisoformat(value.replace("Z", "+00:00")))
    return out


def _key(moment: datetime | None) -> datetime:
    return moment if moment is not None else datetime.min.replace(tzinfo=UTC)
