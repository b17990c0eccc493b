"""The write-back catalogue against the seed, and action-file validation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipelines.writeback.actions import Context, parse_lines
from pipelines.writeback.catalogue import CATALOGUE, OPS
from pipelines.writeback.errors import ActionFileError
from pipelines.writeback.op import Body, Effect

SEED = Path(__file__).resolve().parents[2].parent / "shared" / "seeds" / "tooljet-microsoft-graph-plugin.md"


@pytest.mark.skipif(not SEED.exists(), reason="the seed catalogue (../shared) is not beside this checkout")
def test_every_write_of_the_seed_is_an_op_and_nothing_else() -> None:
    rows = re.findall(r"^\|\s*(POST|PATCH|PUT|DELETE)\s*\|\s*`([^`]+)`", SEED.read_text(), re.M)
    assert [f"{method} {path}" for method, path in rows] == [op.name for op in OPS]
    assert len(OPS) == 69


def test_ops_are_consistent() -> None:
    for op in OPS:
        assert op.app_only or op.delegated, op.name
        assert op.success in (200, 201, 202, 204), op.name
        assert bool(op.app_permission) == op.app_only and bool(op.delegated_permission) == op.delegated, op.name
        if op.effect in (Effect.UPDATE, Effect.INSERT, Effect.DELETE):
            assert op.table, f"{op.name}: an effect names its table"
        if op.graph:
            assert op.graph.split(" ", 1)[0] in ("POST", "PATCH", "PUT", "DELETE"), op.name
    assert CATALOGUE["DELETE /teams/{team-id}"].sent_as == "DELETE /groups/{team-id}"
    assert "softDelete" in CATALOGUE["DELETE /chats/{chat-id}/messages/{chatMessage-id}"].sent_as
    assert not CATALOGUE["POST /chats/{chat-id}/messages"].app_only
    assert CATALOGUE["PUT /drives/{drive-id}/items/{item-id}/content"].body is Body.CONTENT


def _context(**kwargs: object) -> Context:
    return Context(auth="app", **kwargs)  # type: ignore[arg-type]


def test_a_chain_through_a_drafts_id_is_one_dependency() -> None:
    text = ('{"op": "POST /me/messages", "user": "u1", "key": "draft-1", "body": {"subject": "Hi"}}\n'
            '{"op": "POST /me/messages/{message-id}/send", "user": "u1", "params": {"message-id": "@draft-1.id"}}\n')
    first, second = parse_lines(text, "a.jsonl", _context())
    assert first.key == "draft-1" and second.depends_on == ["draft-1"] and second.key.startswith("auto-")


def test_references_to_the_queue_are_resolved_and_cycles_refused() -> None:
    queued = _context(queued=lambda keys: {"old"} & set(keys))
    (action,) = parse_lines('{"op": "POST /me/messages/{message-id}/send", "user": "u", '
                            '"params": {"message-id": "@old.id"}}', "a", queued)
    assert action.depends_on == ["old"]
    def send(key: str, waits_on: str) -> str:
        return json.dumps({"op": "POST /me/messages/{message-id}/send", "user": "u", "key": key,
                           "params": {"message-id": f"@{waits_on}.id"}})

    cycle = send("a", "b") + "\n" + send("b", "a")
    with pytest.raises(ActionFileError, match="waits on itself"):
        parse_lines(cycle, "c", _context())


def test_an_op_graph_allows_only_delegated_needs_the_user_signed_in() -> None:
    line = '{"op": "POST /chats/{chat-id}/messages", "user": "Adele@contoso.com", "params": {"chat-id": "c"}, ' \
           '"body": {"body": {"content": "hi"}}}'
    with pytest.raises(ActionFileError, match="needs Adele@contoso.com signed in .*graphsync login --user"):
        parse_lines(line, "a", _context())
    (action,) = parse_lines(line, "a", _context(signed_in={"adele@contoso.com"}))
    assert action.op == "POST /chats/{chat-id}/messages"


def test_every_bad_line_is_named_with_its_number() -> None:
    text = '{"op": "POST /me/messages", "user": "u"}\n\n[1]\n{"op": "GET /me"}\n'
    with pytest.raises(ActionFileError) as rejected:
        parse_lines(text, "bad.jsonl", _context())
    assert [n for n, _ in rejected.value.problems] == [1, 3, 4]
    assert "needs a body" in str(rejected.value) and "unknown op" in str(rejected.value)
