"""drive_item_permissions: opt-in, exact, read again only for changed items, gone with their item."""

from __future__ import annotations

from pathlib import Path

from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient
from tests.integration.helpers import drive_permissions_in_tenant, drive_permissions_stored, run_sync
from warehouse import Warehouse


def test_drive_item_permissions_are_opt_in_exact_and_read_again_only_for_changed_items(
        sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    graph = GraphTestClient(sim)
    run_sync(sim, db)  # every default table: permissions are opt-in
    assert not drive_permissions_stored(db)
    run_sync(sim, db, tables=("drive_items", "drive_item_permissions"))
    assert drive_permissions_stored(db) == drive_permissions_in_tenant(graph, sim) and drive_permissions_stored(db)

    user = sim.control("user_ids")[0]
    state = sim.control("drive_state", user=user)
    drive, items = state["drive"]["id"], state["items"]
    folder = next(k for k, v in items.items() if "folder" in v and "root" not in v
                  and any(c.get("parentReference", {}).get("id") == k for c in items.values()))
    below = {k for k, v in items.items() if v.get("parentReference", {}).get("id") == folder}
    shared = sorted(k for k, v in items.items() if "file" in v and k not in below)[0]
    link = graph.post(f"/drives/{drive}/items/{shared}/createLink", json={"type": "view", "scope": "organization"})
    assert link.status_code in (200, 201), link.text
    # Only shared: root delta reports it because the sync asks for sharing changes
    # (`Prefer: deltashowsharingchanges`); renamed: reported anyway. Both are read again.
    renamed = sorted(k for k, v in items.items() if "file" in v and k not in below and k != shared)[0]
    sim.control("update_item", user=user, item_id=renamed, fields={"name": "shared-plan.docx"})
    sim.control("delete_item", user=user, item_id=folder)
    mark = sim.control("journal_mark")
    run_sync(sim, db, tables=("drive_items", "drive_item_permissions"))
    journal = sim.control("journal", since=mark)
    reads = {c["path"] for c in journal if c["path"].endswith("/permissions")}
    assert {f"/drives/{drive}/items/{i}/permissions" for i in (shared, renamed)} <= reads
    # Only what delta reported changed: the two files and the folders above the changes.
    assert len(reads) <= 5 < len(items), reads
    assert all(c["status"] == 200 for c in journal if c["path"].endswith("/delta")), "the preferences Graph demands"
    assert (link.json()["id"],) in set(Warehouse(db).query_rows(
        "SELECT id FROM drive_item_permissions WHERE item_id = ? AND _deleted_at IS NULL", [shared]))
    assert drive_permissions_stored(db) == drive_permissions_in_tenant(graph, sim)
    gone = Warehouse(db).query_rows(
        "SELECT DISTINCT item_id FROM drive_item_permissions WHERE _deleted_at IS NOT NULL")
    assert {folder, *below} <= {row[0] for row in gone}, "a deleted folder and its items lose their permissions"
