"""`Prefer: outlook.timezone` on event reads (user-list-events.md, event-get.md, event-list-instances.md,
user-list-calendarview.md, event-delta.md): start/end come back in the preferred zone, labelled with the
name the client sent, and `Preference-Applied` confirms it; without the header, or with a zone Graph
does not know, times stay in UTC."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connectors.simulator import content
from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient, start_simulator

EPOCH = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
START, END = EPOCH - timedelta(days=30), EPOCH + timedelta(days=30)
WINDOW = f"startDateTime={content.iso(START)}&endDateTime={content.iso(END)}"
PACIFIC = {"Prefer": 'outlook.timezone="Pacific Standard Time"'}


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    simulator = start_simulator(tmp_path / "sim", now=EPOCH)
    yield simulator
    simulator.stop()


def _instant(value: dict, zone: str) -> datetime:
    return datetime.fromisoformat(value["dateTime"]).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _same_events(utc: list[dict], local: list[dict], zone: str, label: str) -> None:
    assert [e["id"] for e in utc] == [e["id"] for e in local] and utc
    for plain, shifted in zip(utc, local, strict=True):
        for side in ("start", "end"):
            assert plain[side]["timeZone"] == "UTC" and shifted[side]["timeZone"] == label
            assert _instant(shifted[side], zone) == _instant(plain[side], "UTC")
            assert shifted[side]["dateTime"].endswith(".0000000")


def test_list_get_view_and_instances_in_the_preferred_zone(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    for path in (f"/users/{user}/events?$top=50", f"/users/{user}/calendar/events?$top=50",
                 f"/users/{user}/calendarView?{WINDOW}&$top=100", f"/users/{user}/calendar/calendarView?{WINDOW}"):
        plain = graph.get(path)
        local = graph.get(path, headers=PACIFIC)
        assert "preference-applied" not in plain.headers
        assert local.headers["preference-applied"] == 'outlook.timezone="Pacific Standard Time"', path
        _same_events(plain.json()["value"], local.json()["value"], "America/Los_Angeles", "Pacific Standard Time")
    event = graph.get(f"/users/{user}/events?$top=1").json()["value"][0]
    one = graph.get(f"/users/{user}/events/{event['id']}", headers={"Prefer": 'outlook.timezone="Europe/Berlin"'})
    assert one.headers["preference-applied"] == 'outlook.timezone="Europe/Berlin"'
    _same_events([event], [one.json()], "Europe/Berlin", "Europe/Berlin")
    assert one.json()["originalStartTimeZone"] == event["originalStartTimeZone"], "only start/end are rewritten"

    view = graph.get(f"/users/{user}/calendarView?{WINDOW}&$top=100").json()["value"]
    master = next(o["seriesMasterId"] for o in view if o["type"] == "occurrence")
    path = f"/users/{user}/events/{master}/instances?{WINDOW}"
    _same_events(graph.get(path).json()["value"], graph.get(path, headers=PACIFIC).json()["value"],
                 "America/Los_Angeles", "Pacific Standard Time")


def test_a_new_event_reads_back_at_its_wall_clock_time(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    created = graph.post(f"/users/{user}/events", json={
        "subject": "Tokyo sync", "start": {"dateTime": "2026-11-10T10:00:00", "timeZone": "Tokyo Standard Time"},
        "end": {"dateTime": "2026-11-10T11:00:00", "timeZone": "Tokyo Standard Time"}}).json()
    assert created["start"] == {"dateTime": "2026-11-10T01:00:00.0000000", "timeZone": "UTC"}
    back = graph.get(f"/users/{user}/events/{created['id']}",
                     headers={"Prefer": 'outlook.timezone="Tokyo Standard Time"'}).json()
    assert back["start"] == {"dateTime": "2026-11-10T10:00:00.0000000", "timeZone": "Tokyo Standard Time"}
    assert back["end"]["dateTime"] == "2026-11-10T11:00:00.0000000"


def test_delta_pages_honour_the_header_with_maxpagesize(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    headers = {"Prefer": 'odata.maxpagesize=3, outlook.timezone="India Standard Time"'}
    first = graph.get(f"/users/{user}/calendarView/delta?{WINDOW}", headers=headers)
    applied = first.headers["preference-applied"]
    assert "odata.maxpagesize=3" in applied and 'outlook.timezone="India Standard Time"' in applied
    timed = [e for e in first.json()["value"] if "start" in e]
    assert timed and all(e["start"]["timeZone"] == "India Standard Time" for e in timed)
    # The token does not carry the header: a page fetched without it is in UTC again (event-delta.md).
    second = graph.get(first.json()["@odata.nextLink"]).json()["value"]
    assert all(e["start"]["timeZone"] == "UTC" for e in second if "start" in e)


def test_window_bounds_without_offset_stay_utc_under_the_header(sim: Simulator, graph: GraphTestClient) -> None:
    """user-list-calendarview.md: startDateTime/endDateTime without an offset are UTC, Prefer or not."""
    user = graph.first_user()
    window = "startDateTime=2026-10-20T00:00:00&endDateTime=2026-10-27T00:00:00"
    plain = graph.get(f"/users/{user}/calendarView?{window}").json()["value"]
    local = graph.get(f"/users/{user}/calendarView?{window}", headers=PACIFIC).json()["value"]
    assert [e["id"] for e in plain] == [e["id"] for e in local]


def test_unknown_zone_is_ignored_and_no_header_means_utc(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    r = graph.get(f"/users/{user}/events?$top=5", headers={"Prefer": 'outlook.timezone="Mars/Olympus_Mons"'})
    assert r.status_code == 200 and "preference-applied" not in r.headers
    assert {e["start"]["timeZone"] for e in r.json()["value"]} == {"UTC"}


def test_get_schedule_items_in_the_preferred_zone(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.get("/users").json()["value"][0]
    body = {"schedules": [user["userPrincipalName"]],
            "startTime": {"dateTime": content.iso(EPOCH - timedelta(days=20))[:-1], "timeZone": "UTC"},
            "endTime": {"dateTime": content.iso(EPOCH + timedelta(days=20))[:-1], "timeZone": "UTC"}}
    plain = graph.post(f"/users/{user['id']}/calendar/getSchedule", json=body).json()["value"][0]["scheduleItems"]
    local = graph.post(f"/users/{user['id']}/calendar/getSchedule", json=body, headers=PACIFIC)
    assert local.headers["preference-applied"] == 'outlook.timezone="Pacific Standard Time"'
    items = local.json()["value"][0]["scheduleItems"]
    assert plain and len(items) == len(plain)
    for a, b in zip(plain, items, strict=True):
        assert _instant(b["start"], "America/Los_Angeles") == _instant(a["start"], "UTC")
