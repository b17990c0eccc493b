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


def _bulk_patches(sim: Simulator, db: Path, count: int) -> tuple[list[dict], str]:
    from connectors.settings import load_settings
    from pipelines.writeback.commands import enqueue_text

    user_id, upn = _first_user(sim)
    messages = sorted(sim.control("mailbox_state", user=user_id)["messages"])
    actions = [{"op": "PATCH /me/messages/{message-id}", "user": upn, "key": f"tag-{i}",
                "params": {"message-id": messages[i % len(messages)]}, "body": {"categories": [f"tag {i}"]}}
               for i in range(count)]
    settings = load_settings({**sim.endpoints.env(), "GRAPHSYNC_DB": str(db)}, dotenv_path=None)
    enqueue_text(settings, ActionQueue(queue_path(db)), "".join(json.dumps(a) + "\n" for a in actions), "bulk",
                 db.parent)
    return actions, user_id


def _replay(sim: Simulator, db: Path):  # type: ignore[no-untyped-def]
    import asyncio

    from connectors.settings import load_settings
    from pipelines.writeback.replay import Replay

    settings = load_settings({**sim.endpoints.env(), "GRAPHSYNC_DB": str(db)}, dotenv_path=None)
    return asyncio.run(Replay(settings, ActionQueue(queue_path(db)), Warehouse(db)).run())


def test_a_thousand_patches_take_about_fifty_requests(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    _bulk_patches(sim, db, 1000)
    mark = sim.control("journal_mark")
    report = _replay(sim, db)
    assert report.statuses == {"succeeded": 1000}
    outer = [c for c in sim.control("journal", since=mark, grants=True) if not c.get("in_batch")]
    assert len(outer) <= 55, len(outer)
    assert report.requests <= 55


def test_a_throttling_storm_is_obeyed_and_every_action_lands_once(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    actions, user_id = _bulk_patches(sim, db, 300)
    sim.control("set_faults", rules=[{"status": 429, "method": "PATCH", "path": "/messages/", "probability": 0.1,
                                      "retry_after": 0.2}])
    mark = sim.control("journal_mark")
    report = _replay(sim, db)
    assert report.statuses == {"succeeded": 300}, report.failed[:3]
    calls = [c for c in sim.control("journal", since=mark) if c["method"] == "PATCH"]
    throttled = [c for c in calls if c["status"] == 429]
    assert throttled, "the storm hit"
    applied = [c for c in calls if c["status"] == 200]
    assert len(applied) == 300, "each action applied exactly once"
    # Every throttled item was sent again only after its Retry-After.
    for hit in throttled:
        later = [c for c in calls if c["path"] == hit["path"] and c["seq"] > hit["seq"]]
        assert later and later[0]["at"] - hit["at"] >= 0.2 - 0.02
    last = {a["params"]["message-id"]: a["body"]["categories"] for a in actions}  # the last queued per message
    box = sim.control("mailbox_state", user=user_id)["messages"]
    assert {m: box[m]["categories"] for m in last} == last, "actions on one message land in the order queued"


def test_sigkill_at_random_points_never_applies_an_action_twice_or_loses_one(sim: Simulator, tmp_path: Path) -> None:
    from tests.integration.test_cli import _kill_at_random_points

    db = tmp_path / "wh.duckdb"
    users = sim.control("users_state")
    user_id, other_id = sorted(users)[:2]
    upn, other = users[user_id]["userPrincipalName"], users[other_id]["userPrincipalName"]
    messages = sorted(sim.control("mailbox_state", user=user_id)["messages"])[:30]
    # Six rounds of tags per message: actions on one message go one after another, so the replay
    # takes several waves and the kills land between and inside them.
    actions = [{"op": "PATCH /me/messages/{message-id}", "user": upn, "key": f"tag-{i}-{n}",
                "params": {"message-id": m}, "body": {"categories": [f"kill test {i} round {n}"]}}
               for n in range(6) for i, m in enumerate(messages)]
    actions += [{"op": "POST /me/mailFolders", "user": upn, "key": f"folder-{i}",
                 "body": {"displayName": f"Kill test folder {i}"}} for i in range(20)]
    actions += [{"op": "POST /me/calendar/events", "user": upn, "key": f"event-{i}",
                 "body": {"subject": f"Kill test meeting {i}",
                          "start": {"dateTime": "2026-12-10T10:00:00", "timeZone": "UTC"},
                          "end": {"dateTime": "2026-12-10T10:30:00", "timeZone": "UTC"}}} for i in range(20)]
    actions += [{"op": "POST /me/sendMail", "user": upn, "key": f"mail-{i}",
                 "body": {"message": {"subject": f"Kill test mail {i}",
                                      "toRecipients": [{"emailAddress": {"address": other}}]}}} for i in range(20)]
    env = _env(sim, db)
    assert _run(["writeback", "enqueue", "--file", str(_write(tmp_path / "a.jsonl", actions))], env,
                tmp_path).returncode == 0
    sim.control("set_throttle", latency_s=0.3)  # requests take long enough for kills to land mid-run
    interrupted = _kill_at_random_points(sim, env, tmp_path, [], 20261202, lambda attempt: None,
                                         command=("writeback", "run"))
    assert interrupted >= 3, "the kills must land while the replay is running"
    final = _run(["writeback", "run"], env, tmp_path)
    queue = ActionQueue(queue_path(db))
    assert queue.counts()["pending"] == queue.counts()["running"] == 0, final.stdout + final.stderr

    in_flight = [a for a in queue.actions() if any("settled" in (c.detail or "") for c in queue.history(a.id or 0))]
    assert in_flight, "some kills landed between sending an action and recording its answer"
    mine = sim.control("mailbox_state", user=user_id)
    folders = [f["displayName"] for f in mine["folders"].values()]
    meetings = [e["subject"] for e in sim.control("calendar_state", user=user_id).values()]
    sent = [m["subject"] for m in mine["messages"].values() if not m["isDraft"]]
    delivered = [m["subject"] for m in sim.control("mailbox_state", user=other_id)["messages"].values()]
    for action in queue.actions():
        assert action.status == "succeeded", (action.key, action.error)
        made = {"POST /me/mailFolders": lambda a: folders.count(a.body["displayName"]),
                "POST /me/calendar/events": lambda a: meetings.count(a.body["subject"]),
                "POST /me/sendMail": lambda a: sent.count(a.body["message"]["subject"]),
                }.get(action.op, lambda a: 1)(action)
        assert made == 1, f"{action.key} applied {made} times"
        if action.op == "POST /me/sendMail":
            assert delivered.count(action.body["message"]["subject"]) == 1, action.key  # type: ignore[index]
    box = mine["messages"]
    last = {a["params"]["message-id"]: a["body"]["categories"] for a in actions if a["op"].startswith("PATCH")}
    assert {m: box[m]["categories"] for m in last} == last


def test_cancel_a_pending_action_and_retry_the_failed_ones(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    user_id, upn = _first_user(sim)
    message = sorted(sim.control("mailbox_state", user=user_id)["messages"])[0]
    actions = [
        {"op": "PATCH /me/messages/{message-id}", "user": upn, "key": "keep", "params": {"message-id": message},
         "body": {"categories": ["kept"]}},
        {"op": "PATCH /me/messages/{message-id}", "user": upn, "key": "drop", "params": {"message-id": message},
         "body": {"categories": ["dropped"]}},
        {"op": "DELETE /me/messages/{message-id}", "user": upn, "key": "missing",
         "params": {"message-id": "AAMkNoSuchMessage"}},
    ]
    env = _env(sim, db)
    assert _run(["writeback", "enqueue", "--file", str(_write(tmp_path / "a.jsonl", actions))], env,
                tmp_path).returncode == 0
    cancelled = _run(["writeback", "cancel", "drop"], env, tmp_path)
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    refused = _run(["writeback", "cancel", "nothing-like-it"], env, tmp_path)
    _assert_one_line_error(refused, "no write-back action")
    run = _run(["writeback", "run"], env, tmp_path)
    assert run.returncode == 1 and "missing" in run.stdout
    assert sim.control("mailbox_state", user=user_id)["messages"][message]["categories"] == ["kept"]
    status = _run(["writeback", "status"], env, tmp_path).stdout
    assert "succeeded 1  failed 1  conflict 0  cancelled 1" in status and "ErrorInvalidIdMalformed" in status, status
    again = _run(["writeback", "retry", "--failed"], env, tmp_path)
    assert again.returncode == 0 and "1 failed action(s) pending again" in again.stdout
    assert ActionQueue(queue_path(db)).counts()["pending"] == 1
    assert _run(["writeback", "cancel", "keep"], env, tmp_path).returncode == 1, "only pending ones can be cancelled"


def test_a_lost_answer_is_settled_by_looking_in_graph_never_by_sending_blindly(sim: Simulator,
                                                                              tmp_path: Path) -> None:
    """Graph applies a whole $batch and its answer is lost, twice: the marked drafts, the folder and the
    draft are found again; mail is sent exactly once; a copy (nothing to find it by) is not repeated."""
    db = tmp_path / "wh.duckdb"
    users = sim.control("users_state")
    user_id, other_id = sorted(users)[:2]
    upn, other = users[user_id]["userPrincipalName"], users[other_id]["userPrincipalName"]
    original, another = sorted(sim.control("mailbox_state", user=user_id)["messages"])[:2]
    inbox = sim.control("folder_id", user=user_id, folder="inbox")
    actions = [
        {"op": "POST /me/sendMail", "user": upn, "key": "mail-1",
         "body": {"message": {"subject": "Lost answer mail", "toRecipients": [{"emailAddress": {"address": other}}]}}},
        {"op": "POST /me/messages/{message-id}/reply", "user": upn, "key": "reply-1",
         "params": {"message-id": original}, "body": {"comment": "Lost answer reply"}},
        {"op": "POST /me/mailFolders", "user": upn, "key": "folder-1", "body": {"displayName": "Lost answer folder"}},
        {"op": "POST /me/messages", "user": upn, "key": "draft-1", "body": {"subject": "Lost answer draft"}},
        {"op": "POST /me/messages/{message-id}/copy", "user": upn, "key": "copy-1",
         "params": {"message-id": another}, "body": {"destinationId": inbox}},
    ]
    env = _env(sim, db)
    assert _run(["writeback", "enqueue", "--file", str(_write(tmp_path / "a.jsonl", actions))], env,
                tmp_path).returncode == 0
    sim.control("set_faults", rules=[
        {"status": 0, "method": "POST", "path": "/mailFolders$", "applied": True, "times": 1},
        {"status": 0, "method": "POST", "path": "/send$", "applied": True, "times": 1}])
    mark = sim.control("journal_mark")
    report = _replay(sim, db)

    queue = ActionQueue(queue_path(db))
    status = {a.key: (a.status, a.error) for a in queue.actions()}
    assert {k: s for k, (s, _) in status.items()} == {"mail-1": "succeeded", "reply-1": "succeeded",
                                                     "folder-1": "succeeded", "draft-1": "succeeded",
                                                     "copy-1": "failed"}, status
    assert "outcome unknown" in (status["copy-1"][1] or ""), "a copy cannot be found again: it says so"
    settled = [a.key for a in queue.actions() if any("settled" in (c.detail or "") for c in queue.history(a.id or 0))]
    assert sorted(settled) == ["draft-1", "folder-1", "mail-1", "reply-1"], settled
    assert report.failed and report.pending == 0

    mine = sim.control("mailbox_state", user=user_id)
    subjects = [m["subject"] for m in mine["messages"].values()]
    sent_items = [m["subject"] for m in mine["messages"].values()
                  if m["parentFolderId"] == sim.control("folder_id", user=user_id, folder="sentitems")]
    assert sent_items.count("Lost answer mail") == 1 and sum(s.startswith("RE: ") for s in sent_items) >= 1
    assert subjects.count("Lost answer draft") == 1
    assert [f["displayName"] for f in mine["folders"].values()].count("Lost answer folder") == 1
    delivered = [m["subject"] for m in sim.control("mailbox_state", user=other_id)["messages"].values()]
    assert delivered.count("Lost answer mail") == 1, "the mail reached its recipient exactly once"
    sends = [c for c in sim.control("journal", since=mark) if c["path"].endswith("/send")]
    assert len(sends) == 2, "each draft sent once: the lost /send answers were settled in Sent Items"
    copies = [c for c in sim.control("journal", since=mark) if c["path"].endswith("/copy")]
    assert len(copies) == 1, "the copy was not repeated"


def test_actions_on_one_item_go_as_a_chain_in_one_batch(sim: Simulator, tmp_path: Path) -> None:
    from connectors.settings import load_settings
    from pipelines.writeback.commands import enqueue_text

    db = tmp_path / "wh.duckdb"
    user_id, upn = _first_user(sim)
    first, second = sorted(sim.control("mailbox_state", user=user_id)["messages"])[:2]
    actions = [{"op": "PATCH /me/messages/{message-id}", "user": upn, "key": f"tag-{i}",
                "params": {"message-id": (first, second)[i % 2]}, "body": {"categories": [f"round {i}"]}}
               for i in range(40)]
    settings = load_settings({**sim.endpoints.env(), "GRAPHSYNC_DB": str(db)}, dotenv_path=None)
    enqueue_text(settings, ActionQueue(queue_path(db)), "".join(json.dumps(a) + "\n" for a in actions), "chain",
                 tmp_path)
    mark = sim.control("journal_mark")
    report = _replay(sim, db)
    assert report.statuses == {"succeeded": 40}
    outer = [c for c in sim.control("journal", since=mark) if not c.get("in_batch")]
    assert [c["path"] for c in outer] == ["/$batch", "/$batch"], "two chains of 20, one wave"
    box = sim.control("mailbox_state", user=user_id)["messages"]
    assert box[first]["categories"] == ["round 38"] and box[second]["categories"] == ["round 39"]


def test_a_read_done_with_post_keeps_its_result_for_writeback_show(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    users = sim.control("users_state")
    upns = [users[u]["userPrincipalName"] for u in sorted(users)[:2]]
    actions = [{"op": "POST /me/calendar/getSchedule", "user": upns[0], "key": "free-busy",
                "body": {"schedules": upns, "availabilityViewInterval": 60,
                         "startTime": {"dateTime": "2026-12-10T09:00:00", "timeZone": "UTC"},
                         "endTime": {"dateTime": "2026-12-10T18:00:00", "timeZone": "UTC"}}}]
    env = _env(sim, db)
    assert _run(["writeback", "enqueue", "--file", str(_write(tmp_path / "a.jsonl", actions))], env,
                tmp_path).returncode == 0
    assert _run(["writeback", "run"], env, tmp_path).returncode == 0
    shown = _run(["writeback", "show", "free-busy"], env, tmp_path)
    assert shown.returncode == 0, shown.stderr
    action = json.loads(shown.stdout)
    assert action["status"] == "succeeded" and [s["scheduleId"] for s in action["result"]["value"]] == upns
    assert [h["status"] for h in action["history"]] == ["pending", "running", "succeeded"]
    assert action["attempts_made"][0]["http_status"] == 200 and action["attempts_made"][0]["request_id"]
    _assert_one_line_error(_run(["writeback", "show", "no-such"], env, tmp_path), "no write-back action")
