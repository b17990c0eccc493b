"""Collections of Graph objects with a change log, the substrate of lists and delta queries.

A collection is a *base* of lazily generated items (slot i is produced by a pure function of i, so
a million-message folder costs no memory until it is touched) plus an *overlay* of items that were
created, changed, moved in or removed since. Every mutation appends to the collection's change log
with a tenant-wide sequence number; delta tokens are positions in that log.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

Item = dict  # a Graph object as JSON; keys starting with "_" are simulator-private

_GONE = None  # overlay marker: the item no longer lives in this collection


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    key: str
    kind: str  # "created" | "updated" | "removed"
    fields: frozenset[str] = frozenset()  # properties an update touched
    reason: str = "deleted"  # for removals: "deleted" (permanent) or "changed" (soft, restorable)
    public_id: str | None = None  # the id the client knew at removal time (REST ids change on move)


@dataclass
class Sequencer:
    """The tenant-wide clock that orders every change."""

    value: int = 0

    def next(self) -> int:
        self.value += 1
        return self.value


@dataclass
class Collection:
    name: str
    clock: Sequencer
    base_count: int = 0
    base_key: Callable[[int], str] | None = None
    base_item: Callable[[int], Item] | None = None
    overlay: dict[str, Item | None] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)  # keys not in the base, in arrival order
    added_keys: set[str] = field(default_factory=set)
    log: list[Change] = field(default_factory=list)
    _log_seqs: list[int] = field(default_factory=list)
    removed_base: int = 0  # base slots currently empty, to keep counts O(1)

    # -- reading ---------------------------------------------------------------------------------
    @property
    def slot_count(self) -> int:
        return self.base_count + len(self.added)

    def __len__(self) -> int:
        live_added = sum(1 for k in self.added if self.overlay.get(k) is not None)
        return self.base_count - self.removed_base + live_added

    def slot(self, i: int) -> tuple[str, Item] | None:
        """The live item in slot i, or None when the slot is empty."""
        if i < self.base_count:
            key = self.base_key(i)  # type: ignore[misc]
            if key in self.overlay:
                item = self.overlay[key]
                return None if item is None else (key, item)
            return key, self.base_item(i)  # type: ignore[misc]
        key = self.added[i - self.base_count]
        item = self.overlay.get(key)
        return None if item is None else (key, item)

    def scan(self, start: int, limit: int) -> tuple[list[tuple[str, Item]], int]:
        """Up to `limit` live items from slot `start` on, and the slot to continue from."""
        found: list[tuple[str, Item]] = []
        i = start
        end = self.slot_count
        while i < end and len(found) < limit:
            entry = self.slot(i)
            i += 1
            if entry is not None:
                found.append(entry)
        return found, i

    def items(self) -> Iterator[tuple[str, Item]]:
        for i in range(self.slot_count):
            entry = self.slot(i)
            if entry is not None:
                yield entry

    def get(self, key: str, base_index: int | None = None) -> Item | None:
        if key in self.overlay:
            return self.overlay[key]
        if base_index is not None and 0 <= base_index < self.base_count and self.base_item is not None:
            return self.base_item(base_index)
        return None

    def changes_between(self, after_seq: int, upto_seq: int) -> list[Change]:
        lo = bisect.bisect_right(self._log_seqs, after_seq)
        hi = bisect.bisect_right(self._log_seqs, upto_seq)
        return self.log[lo:hi]

    # -- writing ---------------------------------------------------------------------------------
    def _record(self, change: Change) -> None:
        self.log.append(change)
        self._log_seqs.append(change.seq)

    def put_new(self, key: str, item: Item) -> Change:
        """An item arrives (created, restored or moved in)."""
        if key in self.added_keys:
            pass
        elif key in self.overlay:  # a base item coming back to its own slot
            self.removed_base -= 1
        else:
            self.added.append(key)
            self.added_keys.add(key)
        self.overlay[key] = item
        change = Change(self.clock.next(), key, "created")
        self._record(change)
        return change

    def update(self, key: str, item: Item, fields: frozenset[str]) -> Change:
        self.overlay[key] = item
        change = Change(self.clock.next(), key, "updated", fields)
        self._record(change)
        return change

    def remove(self, key: str, reason: str = "deleted", public_id: str | None = None) -> Change:
        if key not in self.added_keys:
            self.removed_base += 1
        self.overlay[key] = _GONE
        change = Change(self.clock.next(), key, "removed", reason=reason, public_id=public_id)
        self._record(change)
        return change

@dataclass(frozen=True, slots=True)
class Collapsed:
    """What one item amounts to over a span of the change log, as a delta round reports it."""

    key: str
    last_seq: int
    state: str  # "full" | "partial" | "removed"
    fields: frozenset[str]
    reason: str
    public_id: str | None


def collapse(changes: list[Change]) -> list[Collapsed]:
    """Fold a span of changes per item; ordered by each item's last change."""
    by_key: dict[str, Collapsed] = {}
    for ch in changes:
        prev = by_key.pop(ch.key, None)
        if ch.kind == "removed":
            state, fields = "removed", frozenset()
        elif ch.kind == "created":
            state, fields = "full", frozenset()
        elif prev is None or prev.state == "partial":
            state, fields = "partial", ch.fields | (prev.fields if prev else frozenset())
        else:  # an update after a create (or restore) in the same span is still new to the client
            state, fields = "full", frozenset()
        by_key[ch.key] = Collapsed(ch.key, ch.seq, state, fields, ch.reason, ch.public_id)
    return list(by_key.values())
