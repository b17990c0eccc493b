"""A drive folder deleted with its children: every descendant is tombstoned in drive_items (and its
permissions in drive_item_permissions) by the incremental sync that follows, nothing else is.

driveitem-delta.md: "Deleted items are returned with the `deleted` facet. Items with this property set
should be removed from your local state." and "you should only delete a folder locally if it is empty
after syncing all the changes." A single DELETE of the top folder (driveitem-delete.md) removes the whole
subtree, so after the next round no row below it may stay live.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient
from tests.integration.helpers import drive_permissions_in_tenant, drive_permissions_stored, duplicated_keys, run_sync
from warehouse import Warehouse

TABLES = ("users", "drive_items", "drive_item_permissions")  # users: a sync covers the users it knows
PAGE_SIZE = 2  # the tombstones of one delete span several delta pages


def _tenant_items(sim: Simulator) -> set[tuple[str, str, str, str | None, str, bool]]:
    """Every live driveItem of every drive, freshly listed from the simulator."""
    found = set()
    for user in sim.control("user_ids"):
        state = sim.control("drive_state", user=user)
        drive = state["drive"]["id"]
        for key, item in state["items"].items():
            found.add((drive, key, item["name"], item.get("parentReference", {}).get("id"), item["eTag"],
                       "folder" in item))
    return found


def _stored_items(db: Path) -> set[tuple[str, str, str, str | None, str, bool]]:
    rows = Warehouse(db).query_rows(
        "SELECT drive_id, id, name, parent_id, e_tag, coalesce(is_folder, false) FROM drive_items "
        "WHERE _deleted_at IS NULL")
    return {(d, i, n, p, e, bool(f)) for d, i, n, p, e, f in rows}




def _item_rows(db: Path, drive: str, ids: set[str]) -> dict[str, bool]:
    """id -> is the row live, for the given items of one drive (absent ids are left out)."""
    rows = Warehouse(db).query_rows(
        "SELECT id, _deleted_at IS NULL FROM drive_items WHERE drive_id = ? AND list_contains(?, id)",
        [drive, sorted(ids)])
    return {i: bool(live) for i, live in rows}


def _permission_rows(db: Path, drive: str, ids: set[str]) -> dict[tuple[str, str], bool]:
    rows = Warehouse(db).query_rows(
        "SELECT item_id, id, _deleted_at IS NULL FROM drive_item_permissions "
        "WHERE drive_id = ? AND list_contains(?, item_id)", [drive, sorted(ids)])
    return {(item, perm): bool(live) for item, perm, live in rows}


def _created(response: httpx.Response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


def test_deleting_a_folder_tombstones_every_descendant_and_nothing_else(sim: Simulator, graph: GraphTestClient,
                                                                        tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    user = graph.first_user()
    drive = graph.get(f"/users/{user}/drive").json()["id"]

    # Top/ (Sub/ (a.txt, b.csv), c.txt), and beside.txt next to Top, all through Graph.
    top = _created(graph.post(f"/drives/{drive}/root/children", json={"name": "Top", "folder": {}}))
    sub = _created(graph.post(f"/drives/{drive}/items/{top['id']}/children", json={"name": "Sub", "folder": {}}))
    a = _created(graph.put(f"/drives/{drive}/items/{sub['id']}:/a.txt:/content", content=b"alpha"))
    b = _created(graph.put(f"/drives/{drive}/items/{sub['id']}:/b.csv:/content", content=b"x,y\n1,2\n"))
    c = _created(graph.put(f"/drives/{drive}/items/{top['id']}:/c.txt:/content", content=b"gamma"))
    beside = _created(graph.put(f"/drives/{drive}/root:/beside.txt:/content", content=b"outside"))
    # A sharing link below the folder, so a deleted item carries more than its owner permission.
    link = graph.post(f"/drives/{drive}/items/{a['id']}/createLink", json={"type": "view", "scope": "organization"})
    assert link.status_code in (200, 201), link.text

    subtree = {top["id"], sub["id"], a["id"], b["id"], c["id"]}
    names = {top["id"]: "Top", sub["id"]: "Top/Sub", a["id"]: "Top/Sub/a.txt", b["id"]: "Top/Sub/b.csv",
             c["id"]: "Top/c.txt", beside["id"]: "beside.txt"}

    run_sync(sim, db, tables=TABLES, page_size=PAGE_SIZE)
    assert _item_rows(db, drive, subtree | {beside["id"]}) == dict.fromkeys(subtree | {beside["id"]}, True)
    assert _stored_items(db) == _tenant_items(sim)
    before_permissions = _permission_rows(db, drive, subtree | {beside["id"]})
    assert {item for item, _ in before_permissions} == subtree | {beside["id"]}, "every item has permissions"
    assert all(before_permissions.values())
    assert (a["id"], link.json()["id"]) in before_permissions
    assert drive_permissions_stored(db) == drive_permissions_in_tenant(graph, sim)

    # One DELETE of the top folder removes the whole subtree from the tenant.
    deleted = graph.delete(f"/drives/{drive}/items/{top['id']}")
    assert deleted.status_code == 204, deleted.text
    for key in subtree:
        assert graph.get(f"/drives/{drive}/items/{key}").status_code == 404, names[key]
    assert graph.get(f"/drives/{drive}/items/{beside['id']}").status_code == 200

    mark = sim.control("journal_mark")
    run_sync(sim, db, tables=TABLES, page_size=PAGE_SIZE)
    # The second round followed the stored deltaLink: the tombstones come from the `deleted` facet,
    # not from a full enumeration's sweep of what it did not see.
    # (A fresh enumeration starts with a bare `root/delta`; a lost token would answer 410.)
    delta_calls = [e for e in sim.control("journal", since=mark) if e["path"] == f"/drives/{drive}/root/delta"]
    assert delta_calls, "the incremental sync read the drive's delta feed"
    assert all(e["query"].startswith("token=") and e["status"] == 200 for e in delta_calls), delta_calls

    items_after = _item_rows(db, drive, subtree | {beside["id"]})
    still_live = sorted(names[k] for k in subtree if items_after.get(k) is not False)
    assert not still_live, f"rows below the deleted folder still live (or missing): {still_live}"
    assert items_after[beside["id"]] is True, "the file beside the deleted folder stays live"
    assert _stored_items(db) == _tenant_items(sim), "live drive_items match the tenant exactly"

    permissions_after = _permission_rows(db, drive, subtree | {beside["id"]})
    assert set(permissions_after) == set(before_permissions)
    live_below = sorted((names[i], p) for (i, p), live in permissions_after.items() if i in subtree and live)
    assert not live_below, f"permissions of deleted items still live: {live_below}"
    assert all(live for (i, _), live in permissions_after.items() if i == beside["id"])
    assert drive_permissions_stored(db) == drive_permissions_in_tenant(graph, sim), "live permissions match the tenant"
    assert duplicated_keys(db) == {}
