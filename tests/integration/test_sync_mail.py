"""users, mail_folders and messages into DuckDB against the simulator: initial, incremental, moves, 410."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from connectors.simulator.server import Simulator
from pipelines.sync.plan import Kind
from pipelines.sync.streams import EVENTS, PLAN
from pipelines.sync.tenant import ALL_TABLES, TenantSync
from tests.integration.helpers import assert_exact, run_sync, warehouse_state
from warehouse import Warehouse


def test_initial_sync_is_exact(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    report = run_sync(sim, db, page_size=7)
    assert_exact(sim, db)
    assert report.stream("messages").pages > 10
    assert not report.failed


def test_incremental_sync_uses_only_delta_links(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    run_sync(sim, db, page_size=7)
    users = sim.control("user_ids")
    box = sim.control("mailbox_state", user=users[0])
    inbox = sim.control("folder_id", user=users[0], folder="inbox")
    in_inbox = sorted(mid for mid, m in box["messages"].items() if m["parentFolderId"] == inbox)
    sim.control("create_message", user=users[0], folder="inbox", fields={"subject": "fresh"})
    sim.control("update_message", user=users[0], message_id=in_inbox[0], fields={"isRead": False, "subject": "edited"})
    sim.control("delete_message", user=users[0], message_id=in_inbox[1])
    sim.control("delete_message", user=users[0], message_id=in_inbox[2], soft=True)
    sim.control("move_message", user=users[0], message_id=in_inbox[3], folder="archive")
    sim.control("create_folder", user=users[1], name="Invoices", parent="inbox")
    sim.control("update_user", user=users[2], fields={"jobTitle": "Auditor"})
    mark = sim.control("journal_mark")

    report = run_sync(sim, db, page_size=7)
    assert_exact(sim, db)
    # $batch envelopes are journalled too; the requests inside them are journalled one by one.
    calls = [c for c in sim.control("journal", since=mark) if c["path"] != "/$batch"]
    delta_calls = [c for c in calls if c["path"].endswith("/delta")]
    first_calls = [c for c in delta_calls if "token" not in c["query"]]
    # Only the new folder's stream starts from scratch; nothing else is listed again.
    assert len(first_calls) == 1 and "/mailFolders/" in first_calls[0]["path"], first_calls
    # Nothing is listed again: only delta calls, plus one GET of each user's drive object (its id and quota).
    # (Streams Graph gives no delta, such as chats and calendars, are snapshots or watermarks: their own tests.)
    delta_calls = [c for c in calls if not _no_delta_stream(c["path"])]
    assert all(c["path"].endswith(("/delta", "/drive")) for c in delta_calls), "no list calls in an incremental sync"
    assert report.stream("messages").upserts <= 4


def _no_delta_stream(path: str) -> bool:
    """Whether a path is read by a stream of a kind other than delta (or single: a drive's GET)."""
    for spec in PLAN.streams.values():
        if spec.kind in (Kind.SNAPSHOT, Kind.WATERMARK):
            for template in filter(None, (spec.path, spec.detail)):
                if re.fullmatch(re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)), path):
                    return True
    return False


def test_move_leaves_one_live_row_whatever_the_folder_order(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    run_sync(sim, db)
    user = sim.control("user_ids")[0]
    box = sim.control("mailbox_state", user=user)
    for source, target in (("inbox", "archive"), ("archive", "inbox"), ("inbox", "alpha"), ("sentitems", "inbox")):
        folder = sim.control("folder_id", user=user, folder=source)
        victim = sorted(mid for mid, m in box["messages"].items() if m["parentFolderId"] == folder)[0]
        sim.control("move_message", user=user, message_id=victim, folder=target)
        box = sim.control("mailbox_state", user=user)
    run_sync(sim, db)
    assert_exact(sim, db)


def test_lost_sync_state_recovers_exactly(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    run_sync(sim, db)
    user = sim.control("user_ids")[0]
    box = sim.control("mailbox_state", user=user)
    inbox = sim.control("folder_id", user=user, folder="inbox")
    victims = sorted(mid for mid, m in box["messages"].items() if m["parentFolderId"] == inbox)[:2]
    sim.control("delete_message", user=user, message_id=victims[0])
    sim.control("update_message", user=user, message_id=victims[1], fields={"subject": "after the loss"})
    sim.control("evict_delta")  # every sync state is gone: each stream answers 410
    report = run_sync(sim, db)
    assert report.stream("messages").restarts > 0
    assert_exact(sim, db)


@pytest.mark.parametrize("batch_requests", [True, False], ids=["batched", "one-by-one"])
def test_throttling_storm_ends_exact(sim: Simulator, tmp_path: Path, batch_requests: bool) -> None:
    db = tmp_path / "wh.duckdb"
    sim.control("set_faults", rules=[
        # 20%: a request failing 9 times in a row (past the client's 8 retries) stays vanishingly unlikely.
        {"status": 429, "path": "/messages/delta", "probability": 0.2, "retry_after": 0.05},
        {"status": 503, "path": "/mailFolders/delta", "probability": 0.2, "retry_after": None},
        {"status": 504, "path": "^/users/delta", "times": 2, "retry_after": None},
        {"status": 0, "path": "/messages/delta", "every": 9},  # dropped connections
    ])
    sim.control("set_throttle", latency_s=0.01)
    report = run_sync(sim, db, page_size=5, batch_requests=batch_requests)
    fired = sum(rule["fired"] for rule in sim.control("faults"))
    assert fired > 20 and report.retries > 0
    assert report.seconds_throttled > 0
    assert_exact(sim, db)


def test_token_expiring_mid_run_is_renewed(sim: Simulator, tmp_path: Path) -> None:
    import threading
    import time

    db = tmp_path / "wh.duckdb"
    sim.control("set_throttle", latency_s=0.02)
    expired = threading.Event()

    def expire_after_some_requests() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if len(sim.control("journal")) >= 15:
                sim.control("expire_tokens")
                expired.set()
                return
            time.sleep(0.02)

    killer = threading.Thread(target=expire_after_some_requests)
    killer.start()
    run_sync(sim, db, page_size=3)
    killer.join()
    assert expired.is_set()
    assert sim.control("tokens_issued") == 2
    assert any(e["status"] == 401 for e in sim.control("journal"))
    assert_exact(sim, db)


def test_only_some_mailboxes_and_full_resync(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    run_sync(sim, db, tables=("users",))
    users = sim.control("users_state")
    first = sorted(users)[0]
    upn = users[first]["userPrincipalName"]
    report = run_sync(sim, db, tables=("mail_folders", "messages"), users=(upn.upper(),))
    assert report.mailboxes == [first]
    synced = {row[0] for row in warehouse_state(db)["messages"]}
    assert synced == {first}

    run_sync(sim, db)
    mark = sim.control("journal_mark")
    run_sync(sim, db, full=True)
    first_calls = [c for c in sim.control("journal", since=mark) if c["path"].endswith("/delta")
                   and "token" not in c["query"]]
    # users, 3 x mail folders, 3 x 10 message folders, 3 x events, 3 x drives and one per Teams channel:
    # every stream starts over
    channels = Warehouse(db).query_rows("SELECT count(*) FROM channels WHERE _deleted_at IS NULL")[0][0]
    assert len(first_calls) == 1 + 3 + 3 * 10 + 3 + 3 + channels
    assert_exact(sim, db)


def test_partial_update_keeps_the_other_columns(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    run_sync(sim, db)
    user = sim.control("user_ids")[0]
    inbox = sim.control("folder_id", user=user, folder="inbox")
    box = sim.control("mailbox_state", user=user)
    target = sorted(mid for mid, m in box["messages"].items() if m["parentFolderId"] == inbox)[0]
    sim.control("update_message", user=user, message_id=target,
                fields={"isRead": False, "flag": {"flagStatus": "flagged"}})
    run_sync(sim, db)
    row = Warehouse(db).query_df(
        "SELECT subject, body_content, from_address, is_read, _raw->>'$.flag.flagStatus' AS flag "
        "FROM messages WHERE id = ?", [target]).iloc[0]
    assert row["subject"] == box["messages"][target]["subject"]
    assert row["body_content"] and row["from_address"]
    assert not row["is_read"] and row["flag"] == "flagged"


def test_runs_are_logged_in_the_warehouse(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    run_sync(sim, db)
    sim.control("set_faults", rules=[{"status": 403, "path": "/mailFolders/delta", "times": 1}])
    report = run_sync(sim, db)
    assert len(report.failed) == 1
    runs = Warehouse(db).query_rows("SELECT status, upserted, error FROM _sync_runs ORDER BY id")
    assert [r[0] for r in runs] == ["succeeded", "failed"]
    stored = sum(Warehouse(db).query_rows(f"SELECT count(*) FROM {t}")[0][0]
                 for t in ALL_TABLES)
    assert runs[0][1] == stored and "403" in runs[1][2]


_IMMUTABLE_IDS = {"Prefer": 'IdType="ImmutableId"'}


def _calendar_view(sim: Simulator, user: str) -> set[str]:
    """Every event instance Graph shows in the stream's window, through the plain calendarView list."""
    from tests.conftest import GraphTestClient

    graph = GraphTestClient(sim)
    window = EVENTS.first_url({"user_id": user}).split("?", 1)[1]
    items, _, _ = graph.follow(f"/users/{user}/calendarView?{window}&$top=50", headers=_IMMUTABLE_IDS)
    return {i["id"] for i in items}


def test_events_sync_matches_the_calendar_view(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    run_sync(sim, db, tables=("users", "events"), page_size=4)
    users = sim.control("user_ids")

    def stored(user: str, series: bool = False) -> set[str]:
        return {r[0] for r in Warehouse(db).query_rows(
            "SELECT id FROM events WHERE user_id = ? AND _deleted_at IS NULL "
            f"AND coalesce(type, '') {'=' if series else '<>'} 'seriesMaster'", [user])}

    def series(user: str) -> set[str]:
        """The series the calendar view's occurrences belong to."""
        from tests.conftest import GraphTestClient

        window = EVENTS.first_url({"user_id": user}).split("?", 1)[1]
        return {i["seriesMasterId"] for i in GraphTestClient(sim).follow(
            f"/users/{user}/calendarView?{window}&$top=50", headers=_IMMUTABLE_IDS)[0] if i.get("seriesMasterId")}

    assert all(stored(u) == _calendar_view(sim, u) for u in users)
    assert sum(len(stored(u)) for u in users) > 3 * 6, "occurrences of recurring events are rows too"
    assert all(stored(u, series=True) == series(u) for u in users) and series(users[0]), \
        "each series an occurrence names is a row of its own"
    (pattern,) = Warehouse(db).query_rows("SELECT recurrence->>'$.pattern.type' FROM events "
                                          "WHERE type = 'seriesMaster' LIMIT 1")[0]
    assert pattern, "a series row carries its recurrence pattern"
    state = sim.control("calendar_state", user=users[0])
    singles = sorted(eid for eid, e in state.items() if e.get("type") == "singleInstance")
    sim.control("create_event", user=users[0], fields={"subject": "Board meeting"})
    edited = sim.control("update_event", user=users[0], event_id=singles[0], fields={"subject": "Moved agenda"})
    sim.control("delete_event", user=users[0], event_id=singles[1])
    mark = sim.control("journal_mark")
    run_sync(sim, db, tables=("events",))
    calls = [c for c in sim.control("journal", since=mark) if c["path"] != "/$batch"]
    deltas = [c for c in calls if "calendarView/delta" in c["path"]]
    assert deltas and all("token" in c["query"] for c in deltas)
    # The one removal is read by id (a calendar view also says "removed" of what only left the
    # window): Graph answers 404, so it is tombstoned.
    confirms = [c for c in calls if c not in deltas]
    assert [(c["method"], c["path"].rsplit("/", 1)[0], c["status"]) for c in confirms] == [
        ("GET", f"/users/{users[0]}/events", 404)]
    assert stored(users[0]) == _calendar_view(sim, users[0])
    assert stored(users[0], series=True) == series(users[0])
    subject = Warehouse(db).query_rows("SELECT subject FROM events WHERE id = ?", [edited["immutableId"]])
    assert subject == [("Moved agenda",)]


def test_drive_items_sync_is_exact_through_root_delta(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    run_sync(sim, db, tables=("users", "drive_items"), page_size=3)
    users = sim.control("user_ids")

    def expected(user: str) -> set[tuple[str, str]]:
        state = sim.control("drive_state", user=user)
        return {(state["drive"]["id"], item_id) for item_id in state["items"]}

    def stored() -> set[tuple[str, str]]:
        return set(Warehouse(db).query_rows("SELECT drive_id, id FROM drive_items WHERE _deleted_at IS NULL"))

    assert stored() == set().union(*(expected(u) for u in users))
    assert len(Warehouse(db).query_rows("SELECT id FROM drives")) == len(users)
    items = sim.control("drive_state", user=users[0])["items"]
    files = sorted(k for k, v in items.items() if "file" in v)
    folders = sorted(k for k, v in items.items() if "folder" in v and "root" not in v)
    created = sim.control("create_file", user=users[0], name="q4-plan.xlsx", size=2048)
    sim.control("delete_item", user=users[0], item_id=files[0])
    sim.control("move_item", user=users[0], item_id=files[1], parent_id=folders[0])
    sim.control("update_item", user=users[0], item_id=files[2], fields={"name": "renamed.pdf"})
    mark = sim.control("journal_mark")
    run_sync(sim, db, tables=("drive_items",))
    calls = [c for c in sim.control("journal", since=mark) if c["path"] != "/$batch"]
    assert all("token" in c["query"] for c in calls if c["path"].endswith("/delta"))
    assert stored() == set().union(*(expected(u) for u in users))
    assert (created["id"],) in {(i,) for _, i in stored()}
    renamed = Warehouse(db).query_rows("SELECT name FROM drive_items WHERE id = ?", [files[2]])
    assert renamed == [("renamed.pdf",)]
    sim.control("evict_delta", prefix="drive/")
    report = run_sync(sim, db, tables=("drive_items",))
    assert report.stream("drive_items").restarts == len(users), "410 + Location restarts each drive's round"
    assert stored() == set().union(*(expected(u) for u in users))


def test_a_sync_leaves_the_file_closed_and_its_log_folded(sim: Simulator, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "wh.duckdb"
    opens: list[bool] = []
    original = Warehouse.hold_open

    def counting_hold_open(self: Warehouse) -> None:
        opens.append(True)
        original(self)

    monkeypatch.setattr(Warehouse, "hold_open", counting_hold_open)
    run_sync(sim, db)
    wal = db.with_name(db.name + ".wal")
    assert not wal.exists() or wal.stat().st_size == 0
    # The start, the commits and the run log share opens: a small sync needs very few.
    assert 1 <= len(opens) <= 3, opens
    assert Warehouse(db, lock_timeout_s=0.5).query_rows("SELECT status FROM _sync_runs") == [("succeeded",)]


def test_first_syncs_are_held_to_their_own_limit_and_incremental_ones_are_not(
        sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "wh.duckdb"
    active: list[str] = []
    peaks: list[int] = []
    original = TenantSync._sync_instance

    async def counting(self: TenantSync, user_id: str, *args: object) -> None:
        active.append(user_id)
        peaks.append(len(active))
        try:
            await asyncio.sleep(0.05)  # long enough for every mailbox the gates let in to arrive
            await original(self, user_id, *args)  # type: ignore[arg-type]
        finally:
            active.remove(user_id)

    monkeypatch.setattr(TenantSync, "_sync_instance", counting)
    limits = {"first_syncs_at_once": 2, "mailboxes_at_once": 10}
    run_sync(sim, db, tables=("users", "mail_folders", "messages"), **limits)
    mailboxes = len(sim.control("user_ids"))
    assert mailboxes > 2 and max(peaks) == 2
    peaks.clear()
    run_sync(sim, db, tables=("users", "mail_folders", "messages"), **limits)
    assert max(peaks) == min(mailboxes, 10)
    assert_exact(sim, db)
