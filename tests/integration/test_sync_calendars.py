"""calendars: each mailbox's calendars as a snapshot, exact after creates and deletes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.simulator.server import Simulator
from pipelines.sync import plan
from tests.conftest import GraphTestClient
from tests.integration.helpers import run_sync
from warehouse import Warehouse


def _tenant_calendars(graph: GraphTestClient, users: list[str]) -> set[tuple[str, str]]:
    return {(user, item["id"]) for user in users for item in graph.follow(f"/users/{user}/calendars")[0]}


def _stored(db: Path) -> set[tuple[str, str]]:
    return set(Warehouse(db).query_rows("SELECT user_id, id FROM calendars WHERE _deleted_at IS NULL"))


def test_calendars_are_exact_after_creates_and_deletes(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    graph = GraphTestClient(sim)
    users = sim.control("user_ids")
    run_sync(sim, db, tables=("users", "calendars"))
    assert _stored(db) == _tenant_calendars(graph, users) and len(_stored(db)) >= len(users)
    created = graph.post(f"/users/{users[0]}/calendars", json={"name": "Project X"}).json()
    removable = next(cid for uid, cid in sorted(_stored(db)) if uid == users[1] and cid != created["id"]
                     and not graph.get(f"/users/{uid}/calendars/{cid}").json().get("isDefaultCalendar"))
    assert graph.delete(f"/users/{users[1]}/calendars/{removable}").status_code == 204
    run_sync(sim, db, tables=("calendars",))
    assert _stored(db) == _tenant_calendars(graph, users)
    name = Warehouse(db).query_rows("SELECT name FROM calendars WHERE id = ?", [created["id"]])
    assert name == [("Project X",)]


def _tenant(graph: GraphTestClient, users: list[str]) -> dict[str, set[tuple[str, ...]]]:
    """What Graph shows, read independently of the sync: groups, categories, calendar permissions."""
    calendars = {(u, c["id"]) for u in users for c in graph.follow(f"/users/{u}/calendars")[0]}
    return {
        "calendar_groups": {(u, g["id"], g["name"])
                            for u in users for g in graph.follow(f"/users/{u}/calendarGroups")[0]},
        "categories": {(u, c["id"], c["displayName"], c["color"])
                       for u in users for c in graph.follow(f"/users/{u}/outlook/masterCategories")[0]},
        "calendar_permissions": {(u, cal, p["id"], p["role"])
                                 for u, cal in calendars
                                 for p in graph.follow(f"/users/{u}/calendars/{cal}/calendarPermissions")[0]},
    }


def _warehouse(db: Path) -> dict[str, set[tuple[str, ...]]]:
    wh = Warehouse(db)
    live = "WHERE _deleted_at IS NULL"
    return {
        "calendar_groups": set(wh.query_rows(f"SELECT user_id, id, name FROM calendar_groups {live}")),
        "categories": set(wh.query_rows(f"SELECT user_id, id, display_name, color FROM categories {live}")),
        "calendar_permissions": set(wh.query_rows(
            f"SELECT user_id, calendar_id, id, role FROM calendar_permissions {live}")),
    }


def test_calendar_groups_categories_and_calendar_permissions_are_exact(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    graph = GraphTestClient(sim)
    users = sorted(sim.control("users_state"))
    tables = ("users", "calendars", "calendar_groups", "calendar_permissions", "categories")
    run_sync(sim, db, tables=tables)
    first = _warehouse(db)
    assert first == _tenant(graph, users)
    assert all(first.values()), {k: len(v) for k, v in first.items()}  # the seeded tenant has some of each

    other = sim.control("users_state")[users[-1]]["userPrincipalName"]
    assert graph.post(f"/users/{users[0]}/calendarGroups", json={"name": "Projects"}).status_code == 201
    assert graph.post(f"/users/{users[0]}/outlook/masterCategories",
                      json={"displayName": "Quarter close", "color": "preset9"}).status_code == 201
    shared = graph.post(f"/users/{users[0]}/calendar/calendarPermissions", json={
        "emailAddress": {"address": other, "name": "Colleague"}, "role": "read"})
    assert shared.status_code in (200, 201), shared.text
    gone = sorted(first["categories"])[0]
    assert graph.delete(f"/users/{gone[0]}/outlook/masterCategories/{gone[1]}").status_code == 204
    run_sync(sim, db, tables=tables[1:])
    second = _warehouse(db)
    assert second == _tenant(graph, users)
    assert ("Quarter close" in {c[2] for c in second["categories"]}) and gone not in second["categories"]
    (tombstoned,) = Warehouse(db).query_rows("SELECT count(*) FROM categories WHERE _deleted_at IS NOT NULL")[0]
    assert tombstoned == 1


def test_rooms_and_room_lists_come_from_places_and_stay_exact(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    graph = GraphTestClient(sim)
    run_sync(sim, db, tables=("rooms", "room_lists"))
    wh = Warehouse(db)

    def tenant(kind: str) -> set[tuple[str, str]]:
        return {(p["id"], p["emailAddress"]) for p in graph.follow(f"/places/microsoft.graph.{kind}")[0]}

    rooms = set(wh.query_rows("SELECT id, email_address FROM rooms WHERE _deleted_at IS NULL"))
    lists = set(wh.query_rows("SELECT id, email_address FROM room_lists WHERE _deleted_at IS NULL"))
    assert rooms == tenant("room") and lists == tenant("roomlist") and rooms and lists
    state = sim.control("places_state")
    by_email = {r["emailAddress"]: r for r in state["rooms"]}
    capacity = dict(wh.query_rows("SELECT email_address, capacity FROM rooms"))
    assert capacity == {email: room.get("capacity") for email, room in by_email.items()}


def test_event_attachments_metadata_for_events_that_have_them_exact_and_incremental(
        sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    graph = GraphTestClient(sim)
    tables = ("users", "events", "event_attachments")
    run_sync(sim, db, tables=tables)
    wh = Warehouse(db)
    with_files = wh.query_rows("SELECT user_id, id FROM events WHERE _deleted_at IS NULL AND has_attachments")

    def tenant() -> set[tuple[str, str, str, int]]:
        # A series' attachments are its occurrences' (each occurrence's rows hold them).
        rows = wh.query_rows("SELECT user_id, id FROM events WHERE _deleted_at IS NULL AND has_attachments "
                             "AND type <> 'seriesMaster'")
        return {(u, e, a["id"], a["size"]) for u, e in rows
                for a in graph.follow(f"/users/{u}/events/{e}/attachments?$select=id,size")[0]}

    def stored() -> set[tuple[str, str, str, int]]:
        return set(wh.query_rows(
            "SELECT user_id, event_id, id, size FROM event_attachments WHERE _deleted_at IS NULL"))

    assert with_files and stored() == tenant()
    large = sim.control("large_attachments")
    assert any(a["kind"] == "event" and a["size"] > 4_000_000 for a in large)
    assert max(size for *_, size in stored()) > 4_000_000, "the 4 MB file's metadata, not its bytes"
    (raw,) = wh.query_rows("SELECT max(length(_raw::VARCHAR)) FROM event_attachments")[0]
    assert raw < 10_000, "no content in the warehouse"

    user, event = wh.query_rows("SELECT user_id, id FROM events WHERE _deleted_at IS NULL AND has_attachments "
                                "AND type = 'singleInstance' ORDER BY id LIMIT 1")[0]
    added = graph.post(f"/users/{user}/events/{event}/attachments", json={
        "@odata.type": "#microsoft.graph.fileAttachment", "name": "agenda.txt", "contentBytes": "aGVsbG8="})
    assert added.status_code == 201, added.text
    mark = sim.control("journal_mark")
    run_sync(sim, db, tables=tables[1:])
    reads = [c for c in sim.control("journal", since=mark) if c["path"].endswith("/attachments")]
    assert len(reads) <= 2, "only the changed event's attachments are read again"
    assert stored() == tenant() and "agenda.txt" in {r[0] for r in wh.query_rows("SELECT name FROM event_attachments")}


def test_attachment_content_is_opt_in_and_lands_on_disk_exactly(sim: Simulator, tmp_path: Path) -> None:
    import hashlib

    from tests.integration.test_cli import _env, _run

    db, files = tmp_path / "wh.duckdb", tmp_path / "files"
    tables = "users,events,event_attachments"
    plain = _run(["sync", "--only", tables, "--quiet"], _env(sim, db), tmp_path)
    assert plain.returncode == 0 and not files.exists(), "no GRAPHSYNC_FILES_DIR: no content"
    small = _run(["sync", "--only", tables], _env(sim, db, GRAPHSYNC_FILES_DIR=str(files),
                                                   GRAPHSYNC_FILES_MAX_MB="1"), tmp_path)
    assert small.returncode == 0 and "over the size limit" in small.stdout, small.stderr
    large = [a for a in sim.control("large_attachments") if a["kind"] == "event"]
    from pipelines.sync.files import attachment_path

    wh = Warehouse(db)
    ids = {a: (u, e) for u, e, a in wh.query_rows("SELECT user_id, event_id, id FROM event_attachments")}
    for attachment in large:
        user, event = ids[attachment["attachmentId"]]
        assert not attachment_path(files, user, event, attachment["attachmentId"]).exists(), "over 1 MB: left out"
    run = _run(["sync", "--only", tables], _env(sim, db, GRAPHSYNC_FILES_DIR=str(files)), tmp_path)
    assert run.returncode == 0, run.stderr
    for attachment in large:
        user, event = ids[attachment["attachmentId"]]
        path = attachment_path(files, user, event, attachment["attachmentId"])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == attachment["sha256"], "the bytes, exactly"
    (raw,) = wh.query_rows("SELECT max(length(_raw::VARCHAR)) FROM event_attachments")[0]
    assert raw < 10_000, "the bytes are on disk, not in DuckDB"
    again = _run(["sync", "--only", tables], _env(sim, db, GRAPHSYNC_FILES_DIR=str(files)), tmp_path)
    assert "attachment files: 0 written" in again.stdout, "what is on disk is not fetched again"
    assert not list(files.rglob("*.partial"))


_IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}


def _slot(start: datetime, hours: float = 1) -> dict[str, dict[str, str]]:
    end = start + timedelta(hours=hours)
    return {"start": {"dateTime": f"{start:%Y-%m-%dT%H:%M:%S}", "timeZone": "UTC"},
            "end": {"dateTime": f"{end:%Y-%m-%dT%H:%M:%S}", "timeZone": "UTC"}}


def _event(graph: GraphTestClient, user: str, subject: str, start: datetime) -> str:
    answer = graph.post(f"/users/{user}/events", headers=_IMMUTABLE, json={"subject": subject, **_slot(start)})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_the_calendar_window_moves_with_the_day_and_only_deleted_events_are_tombstoned(
        sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The events window is a year either side of each run's day. An event that leaves it (moved out,
    or left behind as the days pass) stays live as last seen; one Graph deleted is tombstoned, whether
    its removal came through the delta feed or the new window's round no longer listed it."""
    db = tmp_path / "wh.duckdb"
    graph = GraphTestClient(sim)
    user = sim.control("user_ids")[0]
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(plan, "utc_now", lambda: today + timedelta(hours=12))
    behind = _event(graph, user, "Left behind", today - timedelta(days=365) + timedelta(hours=6))
    ahead = _event(graph, user, "Enters tomorrow", today + timedelta(days=365, hours=6))
    moved = _event(graph, user, "Moved far out", today + timedelta(days=30, hours=9))
    deleted_by_delta = _event(graph, user, "Cancelled", today + timedelta(days=3, hours=9))
    deleted_unseen = _event(graph, user, "Cancelled overnight", today + timedelta(days=4, hours=9))
    run_sync(sim, db, tables=("users", "events"))

    def live() -> dict[str, str]:  # the occurrences and single events (their series are rows too)
        return dict(Warehouse(db).query_rows("SELECT id, subject FROM events WHERE user_id = ? "
                                             "AND _deleted_at IS NULL AND type <> 'seriesMaster'", [user]))

    def view(day: datetime) -> set[str]:
        window = f"startDateTime={day - timedelta(days=365):%Y-%m-%dT%H:%M:%SZ}" \
                 f"&endDateTime={day + timedelta(days=365):%Y-%m-%dT%H:%M:%SZ}"
        return {item["id"] for item in graph.follow(f"/users/{user}/calendarView?{window}", headers=_IMMUTABLE)[0]}

    assert set(live()) == view(today) and behind in live() and ahead not in live()

    # The same day: one event moved out of the window, one deleted. Both come as removals in the feed.
    assert graph.patch(f"/users/{user}/events/{moved}", headers=_IMMUTABLE,
                       json=_slot(today + timedelta(days=400))).status_code == 200
    assert graph.delete(f"/users/{user}/events/{deleted_by_delta}").status_code == 204
    run_sync(sim, db, tables=("events",))
    assert moved in live() and deleted_by_delta not in live()
    assert set(live()) == view(today) | {moved}
    start = Warehouse(db).query_rows("SELECT start_date_time FROM events WHERE id = ?", [moved])[0][0]
    assert start == today + timedelta(days=400), "kept as it is now, not as it was in the window"

    # The next day: the window moves one day on. Deleted meanwhile: an event the new round won't list.
    assert graph.delete(f"/users/{user}/events/{deleted_unseen}").status_code == 204
    monkeypatch.setattr(plan, "utc_now", lambda: today + timedelta(days=1, hours=12))
    mark = sim.control("journal_mark")
    run_sync(sim, db, tables=("events",))
    calls = [c for c in sim.control("journal", since=mark) if c["path"] != "/$batch"]
    first = next(c for c in calls if c["path"].endswith("/calendarView/delta"))
    assert f"startDateTime={today - timedelta(days=364):%Y-%m-%d}" in first["query"], "a round over the new window"
    assert ahead in live() and behind in live(), "entered, and left behind but still there"
    assert deleted_unseen not in live()
    assert set(live()) == view(today + timedelta(days=1)) | {moved, behind}
    # Read by id: what the new round reported removed (a first round may report recent removals too)
    # and the stored event inside the new window it did not list; never what merely fell behind.
    series = {row[0] for row in Warehouse(db).query_rows("SELECT id FROM events WHERE type = 'seriesMaster'")}
    confirms = {c["path"].rsplit("/", 1)[1]: c["status"] for c in calls if "/events/" in c["path"]}
    confirms = {i: status for i, status in confirms.items() if i not in series}  # each series is read anew
    assert confirms[deleted_unseen] == 404 and behind not in confirms and ahead not in confirms
    assert set(confirms) <= {deleted_unseen, deleted_by_delta, moved}
    tombstoned = dict(Warehouse(db).query_rows(
        "SELECT id, subject FROM events WHERE user_id = ? AND _deleted_at IS NOT NULL", [user]))
    assert set(tombstoned) == {deleted_by_delta, deleted_unseen}


def test_a_series_is_a_row_of_its_own_kept_current_and_gone_with_its_occurrences(
        sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    graph = GraphTestClient(sim)
    run_sync(sim, db, tables=("users", "events"))
    wh = Warehouse(db)
    user, master = wh.query_rows("SELECT user_id, id FROM events WHERE type = 'seriesMaster' ORDER BY id LIMIT 1")[0]

    def occurrences(live: bool) -> int:
        return wh.query_rows(f"SELECT count(*) FROM events WHERE series_master_id = ? AND _deleted_at IS "
                             f"{'' if live else 'NOT '}NULL", [master])[0][0]

    assert occurrences(live=True) > 1
    assert graph.patch(f"/users/{user}/events/{master}", headers=_IMMUTABLE,
                       json={"subject": "Weekly sync (renamed)"}).status_code == 200
    run_sync(sim, db, tables=("events",))
    assert wh.query_rows("SELECT subject FROM events WHERE id = ?", [master]) == [("Weekly sync (renamed)",)]

    count = occurrences(live=True)
    assert graph.delete(f"/users/{user}/events/{master}").status_code == 204
    run_sync(sim, db, tables=("events",))
    assert wh.query_rows("SELECT _deleted_at IS NOT NULL FROM events WHERE id = ?", [master]) == [(True,)]
    assert occurrences(live=True) == 0 and occurrences(live=False) == count
    others = wh.query_rows("SELECT count(*) FROM events WHERE type = 'seriesMaster' AND _deleted_at IS NULL")[0][0]
    assert others >= 1, "the other series stay"
