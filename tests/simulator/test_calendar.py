"""The calendar area against a real simulator: calendarView delta rounds (full, incremental, window
exits, series), idempotent event creation, optimistic concurrency and every catalogue route."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.simulator import content
from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient, start_simulator

# The tenant's "now" is pinned here (TenantConfig.now), so the dates below and the seeded calendars line
# up whatever day the tests run.
EPOCH = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
START, END = EPOCH - timedelta(days=30), EPOCH + timedelta(days=30)
WINDOW = f"startDateTime={content.iso(START)}&endDateTime={content.iso(END)}"
PAGES_OF_TWO = {"Prefer": "odata.maxpagesize=2"}


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    """A tiny tenant seeded as of EPOCH."""
    simulator = start_simulator(tmp_path / "sim", now=EPOCH)
    assert simulator.app.tenant.epoch == EPOCH
    yield simulator
    simulator.stop()


def _at(days: float, hours: float = 1) -> dict:
    """start/end of a meeting `days` after EPOCH lasting `hours`."""
    start = EPOCH + timedelta(days=days)
    return {"start": {"dateTime": content.iso(start)[:-1], "timeZone": "UTC"},
            "end": {"dateTime": content.iso(start + timedelta(hours=hours))[:-1], "timeZone": "UTC"}}


def _round(graph: GraphTestClient, url: str) -> tuple[dict[str, dict], set[str], str, int]:
    """One delta round: (live items by id, removed ids, deltaLink, pages). Repeats collapse by id."""
    items, delta_link, pages = graph.follow(url, headers=PAGES_OF_TWO)
    live = {i["id"]: i for i in items if "@removed" not in i}
    removed = {i["id"] for i in items if "@removed" in i}
    assert all(i["@removed"] == {"reason": "deleted"} for i in items if "@removed" in i)
    assert delta_link, "a round ends with a deltaLink"
    return live, removed, delta_link, pages


def _view(graph: GraphTestClient, user: str, window: str = WINDOW) -> dict[str, dict]:
    items, _, _ = graph.follow(f"/users/{user}/calendarView?{window}")
    return {i["id"]: i for i in items}


def _create(sim: Simulator, user: str, subject: str, days: float, **fields: object) -> str:
    return sim.control("create_event", user=user, fields={"subject": subject, **_at(days), **fields})["id"]


def test_full_delta_round_equals_calendar_view_with_occurrences(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    live, removed, _, pages = _round(graph, f"/users/{user}/calendarView/delta?{WINDOW}")
    view = _view(graph, user)
    assert pages >= 3 and not removed
    assert set(live) == set(view)
    assert {live[i]["subject"] for i in live} == {view[i]["subject"] for i in view}
    occurrences = [o for o in view.values() if o["type"] == "occurrence"]
    assert len(occurrences) >= 4, "the seeded weekly series expand into the window"
    masters = {e["id"]: e for e in graph.get(f"/users/{user}/events?$top=100").json()["value"]}
    for occurrence in occurrences:
        master = masters[occurrence["seriesMasterId"]]
        assert master["type"] == "seriesMaster" and master["recurrence"]["pattern"]["type"] == "weekly"
        assert occurrence["recurrence"] is None and occurrence["subject"] == master["subject"]
        assert occurrence["start"]["dateTime"][11:19] == master["start"]["dateTime"][11:19]
    assert len({o["id"] for o in occurrences}) == len(occurrences)


def test_incremental_round_reports_exactly_the_changes(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    to_update, to_delete = _create(sim, user, "Update me", 2), _create(sim, user, "Delete me", 3)
    _, _, delta_link, _ = _round(graph, f"/users/{user}/calendarView/delta?{WINDOW}")
    created = _create(sim, user, "Brand new", 4)
    sim.control("update_event", user=user, event_id=to_update, fields={"subject": "Updated"})
    sim.control("delete_event", user=user, event_id=to_delete)

    live, removed, next_link, _ = _round(graph, delta_link)
    assert set(live) == {created, to_update} and removed == {to_delete}
    assert live[to_update]["subject"] == "Updated" and live[created]["subject"] == "Brand new"
    assert to_delete not in sim.control("calendar_state", user=user)

    live, removed, _, _ = _round(graph, next_link)
    assert not live and not removed, "nothing changed since the last round"


def test_event_moved_out_of_the_window_is_reported_removed(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    moving = _create(sim, user, "Moving away", 1)
    _, _, delta_link, _ = _round(graph, f"/users/{user}/calendarView/delta?{WINDOW}")
    sim.control("update_event", user=user, event_id=moving, fields=_at(200))
    live, removed, _, _ = _round(graph, delta_link)
    assert removed == {moving} and not live


def test_deleted_series_removes_its_occurrences(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    view, _, delta_link, _ = _round(graph, f"/users/{user}/calendarView/delta?{WINDOW}")
    master_id = next(o["seriesMasterId"] for o in view.values() if o["type"] == "occurrence")
    occurrence_ids = {i for i, o in view.items() if o.get("seriesMasterId") == master_id}
    assert graph.delete(f"/users/{user}/events/{master_id}").status_code == 204
    live, removed, _, _ = _round(graph, delta_link)
    assert not live and occurrence_ids | {master_id} == removed
    assert not occurrence_ids & set(_view(graph, user))


def test_occurrence_edit_becomes_exception_and_cancel_is_removed(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    view, _, delta_link, _ = _round(graph, f"/users/{user}/calendarView/delta?{WINDOW}")
    master_id = next(o["seriesMasterId"] for o in view.values() if o["type"] == "occurrence")
    first, second = sorted((o for o in view.values() if o.get("seriesMasterId") == master_id),
                           key=lambda o: o["start"]["dateTime"])[:2]
    r = graph.patch(f"/users/{user}/events/{first['id']}", json={"subject": "Moved to the big room"})
    assert r.status_code == 200 and r.json()["type"] == "exception" and r.json()["id"] == first["id"]
    assert graph.delete(f"/users/{user}/events/{second['id']}").status_code == 204
    assert graph.get(f"/users/{user}/events/{second['id']}").status_code == 404

    live, removed, _, _ = _round(graph, delta_link)
    assert second["id"] in removed and live[first["id"]]["subject"] == "Moved to the big room"
    instances = graph.get(f"/users/{user}/events/{master_id}/instances?{WINDOW}").json()["value"]
    by_id = {i["id"]: i for i in instances}
    assert by_id[first["id"]]["type"] == "exception" and second["id"] not in by_id
    assert set(by_id) == {i for i, o in _view(graph, user).items() if o.get("seriesMasterId") == master_id}


def test_evicted_sync_state_answers_410(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    _, _, delta_link, _ = _round(graph, f"/users/{user}/calendarView/delta?{WINDOW}")
    assert sim.control("evict_delta", prefix="events/") >= 1
    r = graph.get(delta_link)
    assert r.status_code == 410 and r.json()["error"]["code"] == "SyncStateNotFound"


@pytest.mark.parametrize("query, code", [
    ("", "ErrorInvalidParameter"),
    (f"startDateTime={content.iso(START)}", "ErrorInvalidParameter"),
    (f"{WINDOW}&$select=subject", "ErrorInvalidUrlQuery"),
    (f"{WINDOW}&$filter=subject eq 'x'", "ErrorInvalidUrlQuery"),
    (f"{WINDOW}&$orderby=start/dateTime", "ErrorInvalidUrlQuery"),
    (f"{WINDOW}&$top=5", "ErrorInvalidUrlQuery"),
])
def test_calendar_view_delta_rejects_bad_queries(graph: GraphTestClient, query: str, code: str) -> None:
    r = graph.get(f"/users/{graph.first_user()}/calendarView/delta?{query}")
    assert r.status_code == 400 and r.json()["error"]["code"] == code


def test_transaction_id_makes_create_idempotent(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    before = len(sim.control("calendar_state", user=user))
    body = {"subject": "Retried create", "transactionId": "tx-7f3a", **_at(5)}
    first = graph.post(f"/users/{user}/calendar/events", json=body)
    retry = graph.post(f"/users/{user}/events", json=body)
    assert first.status_code == retry.status_code == 201
    assert first.json()["id"] == retry.json()["id"] and first.json()["transactionId"] == "tx-7f3a"
    assert len(sim.control("calendar_state", user=user)) == before + 1
    other = graph.post(f"/users/{user}/calendar/events", json={**body, "transactionId": "tx-other"})
    assert other.json()["id"] != first.json()["id"]
    assert len(sim.control("calendar_state", user=user)) == before + 2


def test_stale_if_match_is_412(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    event = graph.get(f"/users/{user}/events/{_create(sim, user, 'Concurrency', 6)}").json()
    stale = event["@odata.etag"]
    r = graph.patch(f"/users/{user}/events/{event['id']}", json={"subject": "First writer"},
                    headers={"If-Match": stale})
    assert r.status_code == 200 and r.json()["changeKey"] != event["changeKey"]
    for method, extra in (("PATCH", {"json": {"subject": "Second writer"}}), ("DELETE", {})):
        r = graph.request(method, f"/users/{user}/events/{event['id']}", headers={"If-Match": stale}, **extra)
        assert r.status_code == 412 and r.json()["error"]["code"] == "ErrorIrresolvableConflict"
    assert graph.get(f"/users/{user}/events/{event['id']}").json()["subject"] == "First writer"


def test_get_schedule_and_find_meeting_times_see_busy_time(sim: Simulator, graph: GraphTestClient) -> None:
    users = graph.get("/users").json()["value"]
    organizer, attendee = users[0], users[1]
    day = EPOCH.replace(hour=0) + timedelta(days=45)  # beyond the seeded single meetings
    while day.weekday() >= 5:
        day += timedelta(days=1)
    busy_hour = day + timedelta(hours=10)
    sim.control("create_event", user=attendee["id"], fields={
        "subject": "Blocked", "showAs": "busy", **_at((busy_hour - EPOCH).total_seconds() / 86400, 2)})
    slot = {"start": {"dateTime": content.iso(day + timedelta(hours=8))[:-1], "timeZone": "UTC"},
            "end": {"dateTime": content.iso(day + timedelta(hours=17))[:-1], "timeZone": "UTC"}}
    r = graph.post(f"/users/{organizer['id']}/calendar/getSchedule", json={
        "schedules": [attendee["mail"], "nobody@example.org"], "startTime": slot["start"], "endTime": slot["end"],
        "availabilityViewInterval": 60})
    assert r.status_code == 200
    known, unknown = r.json()["value"]
    assert known["availabilityView"][2:4] == "22" and len(known["availabilityView"]) == 9
    assert any(i["subject"] == "Blocked" for i in known["scheduleItems"]) and known["workingHours"]["daysOfWeek"]
    assert "error" in unknown

    r = graph.post(f"/users/{organizer['id']}/findMeetingTimes", json={
        "attendees": [{"type": "required", "emailAddress": {"address": attendee["mail"]}}],
        "timeConstraint": {"activityDomain": "work", "timeSlots": [slot]}, "meetingDuration": "PT1H",
        "minimumAttendeePercentage": 100, "maxCandidates": 50})
    assert r.status_code == 200 and r.json()["emptySuggestionsReason"] == ""
    starts = {s["meetingTimeSlot"]["start"]["dateTime"][11:16] for s in r.json()["meetingTimeSuggestions"]}
    assert starts and not starts & {"09:30", "10:00", "10:30", "11:00", "11:30"}
    r = graph.post(f"/users/{organizer['id']}/findMeetingTimes", json={
        "attendees": [{"type": "required", "emailAddress": {"address": attendee["mail"]}}],
        "timeConstraint": {"timeSlots": [{  # every 2-hour start from 09:00 to 10:00 hits the 10-12 block
            "start": {"dateTime": content.iso(day + timedelta(hours=9))[:-1], "timeZone": "UTC"},
            "end": {"dateTime": content.iso(day + timedelta(hours=12))[:-1], "timeZone": "UTC"}}]},
        "meetingDuration": "PT2H", "minimumAttendeePercentage": 100})
    assert r.json()["meetingTimeSuggestions"] == [] and r.json()["emptySuggestionsReason"]


def test_every_catalogue_route_answers_with_graph_status(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    u = f"/users/{user}"
    event_id = _create(sim, user, "Route check", 7)
    master_id = next(e["id"] for e in graph.get(f"{u}/events").json()["value"] if e["type"] == "seriesMaster")
    calendar = graph.post(f"{u}/calendars", json={"name": "Route calendar"})
    assert calendar.status_code == 201
    cal = calendar.json()["id"]
    group = graph.post(f"{u}/calendarGroups", json={"name": "Route group"})
    assert group.status_code == 201
    grp = group.json()["id"]
    permissions = graph.get(f"{u}/calendar/calendarPermissions").json()["value"]
    delegate = next(p["id"] for p in permissions if p["isRemovable"])
    attachment = {"@odata.type": "#microsoft.graph.fileAttachment", "name": "notes.txt",
                  "contentBytes": base64.b64encode(b"meeting notes").decode()}
    routes: list[tuple[str, str, dict | None, int]] = [
        ("GET", f"{u}/calendar", None, 200),
        ("PATCH", f"{u}/calendar", {"color": "lightBlue"}, 200),
        ("GET", f"{u}/calendar/events", None, 200),
        ("POST", f"{u}/calendar/events", {"subject": "Via default calendar", **_at(8)}, 201),
        ("POST", f"{u}/calendar/events", {"subject": "No times"}, 400),
        ("GET", f"{u}/calendar/calendarPermissions", None, 200),
        ("POST", f"{u}/calendar/calendarPermissions",
         {"emailAddress": {"name": "Guest", "address": "guest@fabrikam.com"}, "role": "read"}, 200),
        ("GET", f"{u}/calendar/calendarPermissions/{delegate}", None, 200),
        ("PATCH", f"{u}/calendar/calendarPermissions/{delegate}", {"role": "write"}, 200),
        ("PATCH", f"{u}/calendar/calendarPermissions/{delegate}", {"role": "owner"}, 400),
        ("DELETE", f"{u}/calendar/calendarPermissions/{delegate}", None, 204),
        ("GET", f"{u}/calendar/calendarPermissions/{delegate}", None, 404),
        ("POST", f"{u}/calendar/getSchedule", {"schedules": [], "startTime": None}, 400),
        ("GET", f"{u}/calendars", None, 200),
        ("POST", f"{u}/calendars", {"name": "Route calendar"}, 409),
        ("GET", f"{u}/calendars/{cal}", None, 200),
        ("PATCH", f"{u}/calendars/{cal}", {"name": "Renamed calendar"}, 200),
        ("POST", f"{u}/calendars/{cal}/events", {"subject": "In the new calendar", **_at(9)}, 201),
        ("GET", f"{u}/calendars/{cal}/events", None, 200),
        ("GET", f"{u}/calendarGroups", None, 200),
        ("POST", f"{u}/calendarGroups/{grp}/calendars", {"name": "Grouped calendar"}, 201),
        ("GET", f"{u}/calendarGroups/{grp}/calendars", None, 200),
        ("GET", f"{u}/events", None, 200),
        ("GET", f"{u}/events/{event_id}", None, 200),
        ("PATCH", f"{u}/events/{event_id}", {"subject": "Route check, edited"}, 200),
        ("PATCH", f"{u}/events/{event_id}", {"notAProperty": 1}, 400),
        ("GET", f"{u}/events/{master_id}/instances?{WINDOW}", None, 200),
        ("GET", f"{u}/events/{master_id}/instances", None, 400),
        ("POST", f"{u}/events/{event_id}/attachments", attachment, 201),
        ("GET", f"{u}/events/{event_id}/attachments", None, 200),
        ("GET", f"{u}/calendarView?{WINDOW}", None, 200),
        ("GET", f"{u}/calendarView/delta?{WINDOW}", None, 200),
        ("POST", f"{u}/findMeetingTimes", {"meetingDuration": "PT30M"}, 200),
        ("DELETE", f"{u}/events/{event_id}", None, 204),
        ("GET", f"{u}/events/{event_id}", None, 404),
        ("GET", f"{u}/events/not-an-id", None, 400),
        ("DELETE", f"{u}/calendars/{cal}", None, 204),
        ("GET", f"{u}/calendars/{cal}", None, 404),
    ]
    failures = []
    for method, path, body, expected in routes:
        r = graph.request(method, path, json=body) if body is not None else graph.request(method, path)
        if r.status_code != expected:
            failures.append(f"{method} {path.removeprefix(u)} -> {r.status_code}, expected {expected}: {r.text[:200]}")
    assert not failures, "\n".join(failures)
    default_id = graph.get(f"{u}/calendar").json()["id"]
    assert graph.delete(f"{u}/calendars/{default_id}").status_code == 400, "the default calendar stays"
    attachments = graph.get(f"{u}/events/{master_id}/attachments")
    assert attachments.status_code == 200


def test_created_event_carries_graph_shape(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    body = {"subject": "Shape", "body": {"contentType": "html", "content": "<p>Hello <b>there</b></p>"},
            "start": {"dateTime": "2026-11-03T09:00:00", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2026-11-03T10:00:00", "timeZone": "Pacific Standard Time"},
            "attendees": [{"emailAddress": {"address": "guest@fabrikam.com", "name": "Guest"}}],
            "location": {"displayName": "Conf Room Adams"}, "isOnlineMeeting": True,
            "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"]},
                           "range": {"type": "numbered", "startDate": "2026-11-03", "numberOfOccurrences": 3}}}
    r = graph.post(f"/users/{user}/events", json=body)
    assert r.status_code == 201
    event = r.json()
    assert event["type"] == "seriesMaster" and event["originalStartTimeZone"] == "Pacific Standard Time"
    assert event["start"] == {"dateTime": "2026-11-03T17:00:00.0000000", "timeZone": "UTC"}
    assert event["bodyPreview"] == "Hello there" and event["locations"][0]["displayName"] == "Conf Room Adams"
    assert event["attendees"][0]["status"]["response"] == "none" and event["onlineMeeting"]["joinUrl"]
    assert event["@odata.etag"].startswith('W/"') and event["iCalUId"] and event["changeKey"]
    instances = graph.get(f"/users/{user}/events/{event['id']}/instances?{WINDOW}").json()["value"]
    assert [i["start"]["dateTime"][:10] for i in instances] == ["2026-11-03", "2026-11-10", "2026-11-17"]
    assert {i["seriesMasterId"] for i in instances} == {event["id"]}
