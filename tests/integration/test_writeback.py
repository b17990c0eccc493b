"""Write-back against the simulator: `graphsync writeback enqueue / run / status` with real HTTPS,
real MSAL token calls, a real DuckDB warehouse and the SQLite queue beside it."""

from __future__ import annotations

import json
from pathlib import Path

from connectors.simulator.server import Simulator
from tests.integration.helpers import run_sync
from tests.integration.test_cli import _assert_one_line_error, _env, _run
from warehouse import Warehouse
from warehouse.queue import ActionQueue, queue_path


def _write(path: Path, actions: list[dict]) -> Path:
    path.write_text("".join(json.dumps(a) + "\n" for a in actions))
    return path


def _first_user(sim: Simulator) -> tuple[str, str]:
    users = sim.control("users_state")
    user_id = sorted(users)[0]
    return user_id, users[user_id]["userPrincipalName"]


def _graph_calls(sim: Simulator, since: int, method: str, fragment: str) -> list[dict]:
    return [c for c in sim.control("journal", since=since) if c["method"] == method and fragment in c["path"]]


def test_queued_actions_are_applied_once_and_show_in_the_warehouse_at_once(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    user_id, upn = _first_user(sim)
    unread = list(sim.control("mailbox_state", user=user_id)["messages"].values())[:5]
    for m in unread:
        sim.control("update_message", user=user_id, message_id=m["id"], fields={"isRead": False})
    run_sync(sim, db, tables=("users", "mail_folders", "messages"))
    actions = [{"op": "PATCH /me/messages/{message-id}", "user": upn, "key": f"read-{i}",
                "params": {"message-id": m["id"]}, "body": {"isRead": True}} for i, m in enumerate(unread)]
    actions += [
        {"op": "POST /me/messages", "user": upn, "key": "draft-1",
         "body": {"subject": "Quarterly numbers", "toRecipients": [{"emailAddress": {"address": upn}}]}},
        {"op": "POST /me/messages/{message-id}/send", "user": upn, "key": "send-1",
         "params": {"message-id": "@draft-1.id"}},
    ]
    env = _env(sim, db)
    queued = _run(["writeback", "enqueue", "--file", str(_write(tmp_path / "a.jsonl", actions))], env, tmp_path)
    assert queued.returncode == 0, queued.stderr
    assert len(queued.stdout.splitlines()) == 7
    again = _run(["writeback", "enqueue", "--file", str(tmp_path / "a.jsonl")], env, tmp_path)
    assert again.returncode == 0 and again.stdout.count("(already queued)") == 7, "the same keys queue once"

    mark = sim.control("journal_mark")
    run = _run(["writeback", "run"], env, tmp_path)
    assert run.returncode == 0, run.stderr + run.stdout
    status = _run(["writeback", "status"], env, tmp_path)
    assert status.stdout.startswith("pending 0  running 0  succeeded 7"), status.stdout

    box = sim.control("mailbox_state", user=user_id)["messages"]
    assert all(box[m["id"]]["isRead"] for m in unread)
    for m in unread:
        assert len(_graph_calls(sim, mark, "PATCH", m["id"])) == 1, "each PATCH sent once"
    sent = [m for m in box.values() if m["subject"] == "Quarterly numbers" and not m.get("isDraft")]
    assert sent, "the draft was created, then sent with the id from its own result"
    read_now = Warehouse(db).query_rows(
        f"SELECT count(*) FROM messages WHERE is_read AND id IN ({', '.join(repr(m['id']) for m in unread)})")
    assert read_now == [(5,)], "the warehouse shows is_read at once, before the next sync"

    # A second run has nothing to do and sends nothing.
    mark = sim.control("journal_mark")
    assert _run(["writeback", "run"], env, tmp_path).returncode == 0
    assert sim.control("journal", since=mark) == []


def test_a_file_with_bad_lines_queues_nothing_and_names_each(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    _, upn = _first_user(sim)
    lines = [
        {"op": "PATCH /me/messages/{message-id}", "user": upn, "params": {"message-id": "x"}, "body": {"isRead": True}},
        {"op": "PATCH /me/nothing", "user": upn},
        {"op": "PATCH /me/messages/{message-id}", "user": upn, "body": {"isRead": True}},
        {"op": "POST /me/messages", "user": upn, "body": "not an object"},
        {"op": "POST /me/messages/{message-id}/send", "user": upn, "params": {"message-id": "@nobody.id"}},
        {"op": "PUT /drives/{drive-id}/items/{item-id}/content", "params": {"drive-id": "d", "item-id": "i"},
         "content_file": "missing.bin"},
        {"op": "POST /chats", "user": upn, "body": {"chatType": "oneOnOne"}},
    ]
    path = _write(tmp_path / "bad.jsonl", lines)
    path.write_text(path.read_text() + "{not json\n")
    run = _run(["writeback", "enqueue", "--file", str(path)], _env(sim, db), tmp_path)
    _assert_one_line_error(run, "7 bad line(s), nothing queued", "line 2: unknown op", "line 3:", "message-id")
    problems = ActionQueue(queue_path(db))
    assert problems.counts()["pending"] == 0


def test_a_stale_etag_ends_as_conflict_and_changes_nothing(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    run_sync(sim, db, tables=("users", "mail_folders", "messages"))
    user_id, upn = _first_user(sim)
    message = next(iter(sim.control("mailbox_state", user=user_id)["messages"].values()))
    sim.control("update_message", user=user_id, message_id=message["id"], fields={"subject": "changed meanwhile"})
    actions = [{"op": "PATCH /me/messages/{message-id}", "user": upn, "key": "stale",
                "params": {"message-id": message["id"]}, "body": {"subject": "mine"}, "if_match": "@synced"}]
    env = _env(sim, db)
    assert _run(["writeback", "enqueue", "--file", str(_write(tmp_path / "a.jsonl", actions))], env,
                tmp_path).returncode == 0
    run = _run(["writeback", "run"], env, tmp_path)
    assert run.returncode == 1 and "conflict" in run.stdout, run.stdout + run.stderr
    assert sim.control("mailbox_state", user=user_id)["messages"][message["id"]]["subject"] == "changed meanwhile"
    status = _run(["writeback", "status"], env, tmp_path)
    assert "conflict 1" in status.stdout and "stale" in status.stdout
