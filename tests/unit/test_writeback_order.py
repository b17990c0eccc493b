"""The order actions go in: waves, chains on one item, $batch packing."""

from __future__ import annotations

from datetime import UTC, datetime

from models.writeback import FAILED, SUCCEEDED, Action
from pipelines.writeback.order import BATCH_LIMIT, next_wave, packed

PATCH = "PATCH /me/messages/{message-id}"
SEND_MAIL = "POST /me/sendMail"


def _action(n: int, op: str = PATCH, message: str = "m1", depends_on: tuple[str, ...] = (),
            status: str = "pending") -> Action:
    now = datetime.now(UTC)
    params = {"message-id": message} if "{message-id}" in op else {}
    return Action(id=n, key=f"a{n}", op=op, user="u@x", params=params, body={}, depends_on=list(depends_on),
                  status=status, created_at=now, updated_at=now)


def test_actions_on_one_item_chain_in_one_wave_up_to_a_batch() -> None:
    actions = [_action(i) for i in range(1, BATCH_LIMIT + 3)] + [_action(99, message="m2")]
    ready, broken = next_wave(actions, {}, set())
    assert [a.id for a in ready] == [*range(1, BATCH_LIMIT + 1), 99] and not broken
    groups = packed(ready, lambda a: a)
    assert [len(g) for g in groups] == [BATCH_LIMIT, 1], "a chain is never split across batches"


def test_a_throttled_action_holds_back_everything_after_it_on_its_item() -> None:
    actions = [_action(1), _action(2), _action(3, message="m2")]
    ready, _ = next_wave(actions, {}, tried={1})
    assert [a.id for a in ready] == [3]


def test_a_draft_ends_its_chain_and_a_reference_waits_for_its_result() -> None:
    reply = "POST /me/messages/{message-id}/reply"
    actions = [_action(1, reply), _action(2), _action(3, SEND_MAIL), _action(4, depends_on=("a3",), message="m9")]
    ready, _ = next_wave(actions, {"a3": actions[2]}, set())
    assert [a.id for a in ready] == [1, 3], "a reply takes two requests: the PATCH after it waits"
    done = _action(3, SEND_MAIL, status=SUCCEEDED)
    ready, _ = next_wave([actions[3]], {"a3": done}, set())
    assert [a.id for a in ready] == [4]


def test_a_failed_dependency_fails_its_dependents() -> None:
    ready, broken = next_wave([_action(2, depends_on=("a1",))], {"a1": _action(1, status=FAILED)}, set())
    assert not ready and broken[0][1] == "dependency a1 ended failed"
