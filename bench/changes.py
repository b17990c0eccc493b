"""Change a fraction of a tenant's messages through the simulator's control surface.

The mix (creates, updates, deletes, moves) is spread round-robin over every mailbox and chosen by a
seeded generator, so every run changes the same messages.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from bench.sim import SimProcess

# Share of each kind of change; updates dominate real mailboxes (read flags, categories).
MIX = (("update", 0.4), ("create", 0.2), ("delete", 0.2), ("move", 0.2))


@dataclass
class Change:
    op: str
    user: str


def plan(users: list[str], total: int) -> list[Change]:
    """`total` changes of the MIX, dealt round-robin across mailboxes."""
    kinds = [kind for kind, share in MIX for _ in range(round(total * share))]
    return [Change(kind, users[i % len(users)]) for i, kind in enumerate(kinds)]


def apply(sim: SimProcess, total: int, seed: int = 7) -> Counter[str]:
    """Apply about `total` changes; returns how many of each kind were made."""
    rng = random.Random(seed)
    users = sorted(sim.control("user_ids"))
    changes = plan(users, total)
    pools = {user: _message_ids(sim, user, rng) for user in {c.user for c in changes}}
    done: Counter[str] = Counter()
    for change in changes:
        _apply_one(sim, change, pools[change.user], rng)
        done[change.op] += 1
    return done


def _message_ids(sim: SimProcess, user: str, rng: random.Random) -> list[tuple[str, str]]:
    """(message id, folder id) in random order; each change pops one, so none is touched twice."""
    messages = sim.control("mailbox_state", user=user)["messages"]
    pool = sorted((mid, m["parentFolderId"]) for mid, m in messages.items())
    rng.shuffle(pool)
    return pool


def _apply_one(sim: SimProcess, change: Change, pool: list[tuple[str, str]], rng: random.Random) -> None:
    if change.op == "create":
        sim.control("create_message", user=change.user, folder="inbox",
                    fields={"subject": f"bench change {rng.randrange(10**6)}"})
    elif change.op == "update":
        sim.control("update_message", user=change.user, message_id=pool.pop()[0],
                    fields={"isRead": True, "categories": ["Red category"]})
    elif change.op == "delete":
        sim.control("delete_message", user=change.user, message_id=pool.pop()[0])
    else:
        message_id, folder_id = pool.pop()
        # A move to the folder it is already in changes nothing; archive, or back to the inbox.
        archive = sim.control("folder_id", user=change.user, folder="archive")
        target = "inbox" if folder_id == archive else "archive"
        sim.control("move_message", user=change.user, message_id=message_id, folder=target)
