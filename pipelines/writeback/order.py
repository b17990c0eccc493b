"""In which order queued actions go: waves of what is ready, packed into `$batch` requests.

An action that refers to another's result (`@draft.id`) waits until that one has succeeded. Actions
on one item (the same user and params) go in the order they were queued: in a wave, the first still
to go on its item, and after it, as a chain in the same `$batch`, those that follow it, each
`dependsOn` the one before (json-batching.md: Graph runs them in order and answers 424 for those
after a failure). An action that does not finish in one request inside a batch (a draft then its
send, a file upload, a long-running team operation) ends its chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from models.writeback import CANCELLED, CONFLICT, FAILED, SUCCEEDED, Action
from pipelines.writeback.catalogue import CATALOGUE
from pipelines.writeback.op import Body, Retry

BATCH_LIMIT = 20  # requests per JSON $batch (json-batching.md)
T = TypeVar("T")


def next_wave(pending: Iterable[Action], done: dict[str, Action], tried: set[int]
              ) -> tuple[list[Action], list[tuple[Action, str]]]:
    """The pending actions that go now (in queue order), and those that can never go, with why.

    `done` holds the actions referred to, by key; `tried` the ids already sent in this run (a
    throttled one waits for the next run, and so does everything after it on its item).
    """
    ready: list[Action] = []
    broken: list[tuple[Action, str]] = []
    chains: dict[str, list[Action]] = {}  # per item, its actions in this wave; [] once one must wait
    for action in pending:
        item = target(action)
        chain = chains.get(item)
        deps = [done[k] for k in action.depends_on if k in done]
        failed = [d for d in deps if d.status in (FAILED, CONFLICT, CANCELLED)]
        resolved = len(deps) == len(action.depends_on) and all(d.status == SUCCEEDED for d in deps)
        if failed:
            broken.append((action, f"dependency {failed[0].key} ended {failed[0].status}"))
        elif action.id not in tried and resolved and (
                chain is None or (chain and len(chain) < BATCH_LIMIT and chains_on(chain[-1]) and chains_on(action))):
            ready.append(action)
            chains.setdefault(item, []).append(action)
            continue
        chains[item] = []  # it waits, and so does everything after it on this item
    return ready, broken


def packed(items: list[T], action_of: Callable[[T], Action]) -> list[list[T]]:
    """`$batch` groups of up to 20, each item's chain kept whole and in order."""
    chains: dict[str, list[T]] = {}
    for item in items:
        chains.setdefault(target(action_of(item)), []).append(item)
    groups: list[list[T]] = [[]]
    for chain in chains.values():
        if len(groups[-1]) + len(chain) > BATCH_LIMIT:
            groups.append([])
        groups[-1].extend(chain)
    return [g for g in groups if g]


def chains_on(action: Action) -> bool:
    """Whether an action finishes in one request inside a $batch, so the next on its item can follow it."""
    op = CATALOGUE[action.op]
    return not op.asynchronous and op.body is not Body.CONTENT and op.retry is not Retry.DRAFT


def target(action: Action) -> str:
    """What an action acts on, as far as the queue can tell before sending: its user and params."""
    return f"{(action.user or '').lower()} {sorted(action.params.items())}" if action.params else f"new {action.id}"
