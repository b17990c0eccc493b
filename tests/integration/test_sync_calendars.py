"""calendars: each mailbox's calendars as a snapshot, exact after creates and deletes."""

from __future__ import annotations

from pathlib import Path

from connectors.simulator.server import Simulator
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
