"""Delta queries as Graph documents them (concepts/delta-query-overview.md).

A round starts with a plain `GET .../delta` (a full enumeration) or a deltaLink (the changes since
it was issued) and goes on through nextLinks until a page carries a deltaLink. Tokens are opaque to
clients; here they are base64 of a small JSON state:

- `c`/`g`: the sync-state chain and its generation. Each page served is a new generation and only
  the last few generations of a chain stay valid, like Exchange's size-bounded sync-state cache;
  an evicted generation answers 410 SyncStateNotFound.
- `p`: the phase, "full" (enumerating everything live) or "inc" (the collapsed changes between
  sequence numbers `a` and `b`) or "delta" (a deltaLink: changes after `b`).
- `i`/`n`: cursor and page number within the phase; `o`: options fixed at the round's start.

Realism knobs (all deterministic): the same item repeated on a later page, empty pages that still
carry a nextLink, partial objects for updated items, @removed in the initial round.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from connectors.simulator.http import ApiError, Request, Response, bad_request, json_response
from connectors.simulator.store import Collapsed, Collection, Item, collapse
from connectors.simulator.views import outlook_limits, page_size

if TYPE_CHECKING:
    from connectors.simulator.tenant import Tenant


def encode_token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    try:
        return orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise bad_request("The delta token is malformed.", "BadRequest") from None


@dataclass
class DeltaKnobs:
    keep_generations: int = 3  # how many generations of one sync state stay valid
    max_chains: int = 200_000  # sync states kept in total before the oldest is evicted
    duplicate_every: int = 3  # every Nth page also repeats the previous page's last item (0 = off)
    empty_page_every: int = 7  # every Nth page is empty but still has a nextLink (0 = off)
    removed_in_initial: bool = True  # an initial round also reports recent removals


@dataclass
class Chain:
    collection: str
    highest: int = 0
    evicted: bool = False


@dataclass
class ChainRegistry:
    knobs: DeltaKnobs
    chains: OrderedDict[int, Chain] = field(default_factory=OrderedDict)
    next_id: int = 1

    def start(self, collection: str) -> int:
        cid = self.next_id
        self.next_id += 1
        self.chains[cid] = Chain(collection)
        while len(self.chains) > self.knobs.max_chains:
            self.chains.popitem(last=False)
        return cid

    def check(self, cid: int, gen: int) -> Chain | None:
        """The chain when generation `gen` is still valid, else None (evicted)."""
        chain = self.chains.get(cid)
        if chain is None or chain.evicted or chain.highest - gen >= self.knobs.keep_generations:
            return None
        self.chains.move_to_end(cid)
        return chain

    def issue(self, cid: int) -> int:
        chain = self.chains[cid]
        chain.highest += 1
        return chain.highest

    def evict(self, collection_prefix: str = "") -> int:
        """Forget every sync state of matching collections (tests use this to force a 410)."""
        count = 0
        for chain in self.chains.values():
            if chain.collection.startswith(collection_prefix) and not chain.evicted:
                chain.evicted = True
                count += 1
        return count


@dataclass
class DeltaSource:
    """One delta-capable collection as a given endpoint exposes it."""

    collection: Collection
    path: str  # the delta endpoint path, links are built from it
    render_full: Callable[[str, Item], dict | None]  # None: the item is outside this view (e.g. window)
    render_removed: Callable[[Collapsed], dict | list[dict]]  # a list: one removal hides several objects
    render_partial: Callable[[str, Item, frozenset[str]], dict] | None = None  # None: always full
    default_page: int = 10
    max_page: int = 1000
    token_style: str = "outlook"  # "outlook": $skiptoken/$deltatoken; "drive": token=
    expired: Callable[[Request, str], ApiError] | None = None
    options: dict[str, Any] = field(default_factory=dict)  # fixed at the round's start (window, filters)
    expand: Callable[[str, Item], list[dict]] | None = None  # one stored item -> several (occurrences)
    reports: Callable[[Collapsed], bool] | None = None  # which changes an incremental round reports (None: all)


def serve(req: Request, src: DeltaSource, registry: ChainRegistry, knobs: DeltaKnobs,
          token: str | None, page_size: int | None) -> Response:
    """One page of a delta round."""
    coll = src.collection
    if token is None or token == "latest":
        cid = registry.start(coll.name)
        now = coll.clock.value
        if token == "latest":  # "sync from now": no items, only a deltaLink
            return _page(req, src, registry, cid, [], {"p": "delta", "b": now, "o": src.options})
        state = {"p": "full", "i": 0, "n": 0, "b": now, "o": src.options, "s": page_size}
        return _serve_state(req, src, registry, knobs, cid, state, page_size)

    state = decode_token(token)
    cid, gen = state.get("c"), state.get("g")
    if not isinstance(cid, int) or not isinstance(gen, int):
        raise bad_request("The delta token is malformed.")
    if registry.check(cid, gen) is None:
        raise src.expired(req, token) if src.expired else ApiError(410, "SyncStateNotFound", "Sync state lost")
    src.options = state.get("o") or {}
    if state["p"] == "delta":  # a deltaLink: begin an incremental round up to now
        state = {"p": "inc", "i": 0, "n": 0, "a": state["b"], "b": coll.clock.value, "o": src.options,
                 "s": page_size or state.get("s")}
    return _serve_state(req, src, registry, knobs, cid, state, page_size or state.get("s"))


def _serve_state(req: Request, src: DeltaSource, registry: ChainRegistry, knobs: DeltaKnobs, cid: int,
                 state: dict[str, Any], page_size: int | None) -> Response:
    size = max(1, min(page_size or src.default_page, src.max_page))
    page_no = state["n"] + 1
    if knobs.empty_page_every and page_no % knobs.empty_page_every == 0:
        return _page(req, src, registry, cid, [], {**state, "n": page_no})  # empty, same cursor
    if state["p"] == "full" and state["o"].get("changeType") in ("updated", "deleted"):
        values, next_i, done = [], 0, True  # nothing has been updated or deleted "since the beginning"
    elif state["p"] == "full":
        values, next_i, done = _full_page(src, state["i"], size, knobs, page_no)
        if done and knobs.removed_in_initial:
            for removal in _recent_removals(src.collection, state["b"]):
                values.extend(_removed(src, removal))
    else:
        values, next_i, done = _inc_page(src, state, size, knobs, page_no)
    if done:
        return _page(req, src, registry, cid, values, {"p": "delta", "b": state["b"], "o": state["o"],
                                                        "s": state.get("s")})
    return _page(req, src, registry, cid, values, {**state, "i": next_i, "n": page_no})


# changeType=created|updated|deleted (message and event delta): which collapsed states to report.
_CHANGE_TYPES = {"created": {"full"}, "updated": {"partial"}, "deleted": {"removed"}}


def _full_page(src: DeltaSource, start: int, size: int, knobs: DeltaKnobs,
               page_no: int) -> tuple[list[dict], int, bool]:
    coll = src.collection
    values: list[dict] = []
    if knobs.duplicate_every and page_no % knobs.duplicate_every == 0 and start > 0:
        previous = coll.slot(start - 1)
        if previous is not None:
            values.extend(_render_full(src, *previous))
    items, next_i = coll.scan(start, size)
    for key, item in items:
        values.extend(_render_full(src, key, item))
    return values, next_i, next_i >= coll.slot_count


def _inc_page(src: DeltaSource, state: dict[str, Any], size: int, knobs: DeltaKnobs,
              page_no: int) -> tuple[list[dict], int, bool]:
    changes = collapse(src.collection.changes_between(state["a"], state["b"]))
    wanted = _CHANGE_TYPES.get(state["o"].get("changeType", ""))
    if wanted:
        changes = [c for c in changes if c.state in wanted]
    if src.reports is not None:
        changes = [c for c in changes if src.reports(c)]
    start = state["i"]
    chosen = changes[start : start + size]
    if knobs.duplicate_every and page_no % knobs.duplicate_every == 0 and start > 0:
        chosen = [changes[start - 1], *chosen]
    values: list[dict] = []
    for change in chosen:
        values.extend(_render_change(src, change))
    next_i = start + size
    return values, next_i, next_i >= len(changes)


def _render_full(src: DeltaSource, key: str, item: Item) -> list[dict]:
    if src.expand is not None:
        return src.expand(key, item)
    rendered = src.render_full(key, item)
    return [] if rendered is None else [rendered]


def _render_change(src: DeltaSource, change: Collapsed) -> list[dict]:
    if change.state == "removed":
        return _removed(src, change)
    item = src.collection.overlay.get(change.key)
    if item is None:  # changed, then removed after this round's snapshot: report the removal
        return _removed(src, change)
    if change.state == "partial" and src.render_partial is not None and src.expand is None:
        return [src.render_partial(change.key, item, change.fields)]
    rendered = _render_full(src, change.key, item)
    if not rendered and src.options.get("window"):
        # Changed so that it left the window: Graph reports such events as removed.
        return _removed(src, change)
    return rendered


def _removed(src: DeltaSource, change: Collapsed) -> list[dict]:
    rendered = src.render_removed(change)
    return rendered if isinstance(rendered, list) else [rendered]


def _recent_removals(coll: Collection, upto: int, limit: int = 25) -> list[Collapsed]:
    """Removals Graph may still report in an initial round (items gone shortly before it)."""
    recent = collapse(coll.changes_between(max(0, upto - 500), upto))
    return [c for c in recent if c.state == "removed" and coll.overlay.get(c.key) is None][-limit:]


def _page(req: Request, src: DeltaSource, registry: ChainRegistry, cid: int, values: list[dict],
          state: dict[str, Any]) -> Response:
    gen = registry.issue(cid)
    token = encode_token({**state, "c": cid, "g": gen})
    final = state["p"] == "delta"
    if src.token_style == "drive":
        link = req.link(src.path, token=token)
    else:
        link = req.link(src.path, **{"$deltatoken" if final else "$skiptoken": token})
    body = {"@odata.context": f"{req.base_url}/$metadata#Collection", "value": values,
            "@odata.deltaLink" if final else "@odata.nextLink": link}
    return json_response(body)


def sync_state_not_found(req: Request, token: str) -> ApiError:
    # The real body seen for an evicted Outlook sync state (microsoft-graph-docs #2350): no Location.
    return ApiError(410, "SyncStateNotFound",
                    "The sync state generation is not found; generation=1;[highest=4][4][3][2].")


def serve_page(req: Request, tenant: Tenant, src: DeltaSource) -> Response:
    """A delta page for a request: its token, its page size ($top or Prefer: odata.maxpagesize)."""
    token = req.query.get("$deltatoken") or req.query.get("$skiptoken")
    size = page_size(req, outlook_limits(src.default_page, src.max_page)) if (
        "$top" in req.query or "odata.maxpagesize" in req.prefer) else None
    response = serve(req, src, tenant.chains, tenant.config.knobs, token, size)
    if size is not None and "odata.maxpagesize" in req.prefer:
        response.headers["preference-applied"] = f"odata.maxpagesize={size}"
    return response
