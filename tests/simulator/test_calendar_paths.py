"""The same events through the default calendar, a named calendar and a calendar group
(event-list-instances.md, event-get.md, user-list-calendarview.md): instances of a series as
occurrences with their seriesMasterId, and 404 for an event the named calendar does not hold."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.simulator import content
from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient, start_simulator

EPOCH = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
START, END = EPOCH - timedelta(days=30), EPOCH + timedelta(days=30)
WINDOW = f"startDateTime={content.iso(START)}&endDateTime={content.iso(END)}"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    simulator = start_simulator(tmp_path / "sim", now=EPOCH)
    yield simulator
    simulator.stop()


def _master(graph: GraphTestClient, user: str) -> str:
    view = graph.get(f"/users/{user}/calendarView?{WINDOW}&$top=200").json()["value"]
    return next(o["seriesMasterId"] for o in view if o["type"] == "occurrence")


def test_instances_through_the_default_calendar(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    master = _master(graph, user)
    r = graph.get(f"/users/{user}/calendar/events/{master}/instances?{WINDOW}")
    assert r.status_code == 200
    instances = r.json()["value"]
    assert instances and {i["type"] for i in instances} <= {"occurrence", "exception"}
    assert {i["seriesMasterId"] for i in instances} == {master}
    assert all(i["recurrence"] is None for i in instances)
    starts = [i["start"]["dateTime"] for i in instances]
    assert starts == sorted(starts)
    assert instances == graph.get(f"/users/{user}/events/{master}/instances?{WINDOW}").json()["value"]
    view = graph.get(f"/users/{user}/calendarView?{WINDOW}&$top=200").json()["value"]
    assert {i["id"] for i in instances} == {o["id"] for o in view if o.get("seriesMasterId") == master}
    assert graph.get(f"/users/{user}/calendar/events/{master}/instances").status_code == 400, "window required"
    one = instances[0]
    got = graph.get(f"/users/{user}/calendar/events/{one['id']}").json()
    assert got["type"] == "occurrence" and got["seriesMasterId"] == master


def test_named_calendar_and_group_paths(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    u = f"/users/{user}"
    calendars = graph.get(f"{u}/calendars").json()["value"]
    default = next(c for c in calendars if c["isDefaultCalendar"])
    other = next(c for c in calendars if not c["isDefaultCalendar"])
    group = next(g for g in graph.get(f"{u}/calendarGroups").json()["value"] if g["name"] == "My Calendars")
    master = _master(graph, user)
    grouped = f"{u}/calendarGroups/{group['id']}/calendars/{default['id']}"
    for path in (f"{u}/calendars/{default['id']}/events/{master}", f"{grouped}/events/{master}"):
        assert graph.get(path).json()["id"] == master, path
        assert graph.get(f"{path}/instances?{WINDOW}").json()["value"], path
    assert graph.get(f"{u}/calendars/{other['id']}/events/{master}").status_code == 404
    assert graph.get(f"{u}/calendars/{other['id']}/events/{master}/instances?{WINDOW}").status_code == 404
    other_group = next(g for g in graph.get(f"{u}/calendarGroups").json()["value"] if g["id"] != group["id"])
    assert graph.get(f"{u}/calendarGroups/{other_group['id']}/calendars/{default['id']}/events/{master}"
                     ).status_code == 404
    deadline = graph.get(f"{u}/calendars/{other['id']}/events?$top=1").json()["value"][0]
    assert graph.get(f"{u}/calendar/events/{deadline['id']}").status_code == 404, "not in the default calendar"
    assert graph.get(f"{u}/calendars/{other['id']}/events/{deadline['id']}").json()["id"] == deadline["id"]
    listed = graph.get(f"{grouped}/events?$top=100").json()["value"]
    assert {e["id"] for e in listed} == {e["id"] for e in graph.get(f"{u}/calendar/events?$top=100").json()["value"]}


def test_calendar_view_through_the_default_calendar(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    plain = graph.get(f"/users/{user}/calendarView?{WINDOW}&$top=200").json()["value"]
    scoped = graph.get(f"/users/{user}/calendar/calendarView?{WINDOW}&$top=200")
    assert scoped.status_code == 200 and scoped.json()["value"] == plain
    assert graph.get(f"/users/{user}/calendar/calendarView").status_code == 400


def test_update_and_delete_through_the_default_calendar(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    created = sim.control("create_event", user=user, fields={"subject": "Path edit"})
    path = f"/users/{user}/calendar/events/{created['id']}"
    r = graph.patch(path, json={"subject": "Path edited"})
    assert r.status_code == 200 and r.json()["subject"] == "Path edited"
    assert graph.delete(path).status_code == 204
    assert graph.get(f"/users/{user}/events/{created['id']}").status_code == 404
