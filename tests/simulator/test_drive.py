"""OneDrive area of the simulator against the real HTTPS server: drive delta (paging, token=latest,
deleted facet, ancestors, 410 + Location), content download/upload, If-Match, folders and sharing
links. Search, item delta, permissions, recent and sharedWithMe are in test_drive_views.py."""

from __future__ import annotations

from pathlib import Path

from connectors.simulator.drive import quick_xor_hash
from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient, start_simulator


def _dedupe(items: list[dict]) -> dict[str, dict]:
    """Apply a drive delta feed as a client must: the last occurrence of an id wins."""
    return {item["id"]: item for item in items}


def _state(sim: Simulator, user: str) -> dict[str, dict]:
    return sim.control("drive_state", user=user)["items"]


def _by_name(sim: Simulator, user: str, name: str) -> dict:
    return next(i for i in _state(sim, user).values() if i["name"] == name)


def ancestors(state: dict[str, dict], item_id: str) -> set[str]:
    out: set[str] = set()
    parent = state[item_id]["parentReference"].get("id")
    while parent is not None:
        out.add(parent)
        parent = state[parent]["parentReference"].get("id")
    return out


def _delta_link(graph: GraphTestClient, user: str) -> str:
    _, link, _ = graph.follow(f"/users/{user}/drive/root/delta")
    return link


# -- drives and items --------------------------------------------------------------------------------
def test_drive_endpoints_by_user_and_by_id(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    drive = graph.get(f"/users/{user}/drive").json()
    assert drive["driveType"] == "business" and drive["owner"]["user"]["id"] == user
    assert drive["quota"]["used"] == sum(i["size"] for i in _state(sim, user).values() if "file" in i)
    assert graph.get(f"/drives/{drive['id']}").json()["id"] == drive["id"]
    assert [d["id"] for d in graph.get(f"/users/{user}/drives").json()["value"]] == [drive["id"]]
    assert graph.get("/drives/not-a-drive").status_code == 404

    root = graph.get(f"/drives/{drive['id']}/root").json()
    assert "root" in root and root["folder"]["childCount"] == 4
    top = graph.get(f"/users/{user}/drive/root/children").json()["value"]
    assert {"Documents", "Photos", "Shared"} <= {c["name"] for c in top}
    documents = next(c for c in top if c["name"] == "Documents")
    assert documents["parentReference"]["path"] == "/drive/root:"
    nested = graph.get(f"/drives/{drive['id']}/items/{documents['id']}/children").json()["value"]
    reports = next(c for c in nested if c["name"] == "Reports")
    assert reports["parentReference"]["path"] == "/drive/root:/Documents"
    assert documents["size"] >= reports["size"] > 0, "folder size is the total below it"

    got = graph.get(f"/users/{user}/drive/items/{reports['id']}").json()
    assert got["id"] == reports["id"] and got["folder"]["childCount"] == len(
        graph.get(f"/users/{user}/drive/items/{reports['id']}/children").json()["value"])
    assert graph.get(f"/users/{user}/drive/items/01NOSUCHITEM").json()["error"]["code"] == "itemNotFound"


def test_children_page_with_skiptoken(graph: GraphTestClient) -> None:
    user = graph.first_user()
    items, _, pages = graph.follow(f"/users/{user}/drive/root/children?$top=1")
    assert pages == len(items) >= 4
    assert len({i["id"] for i in items}) == len(items)


def test_file_items_carry_the_documented_properties(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    files = [i for i in _state(sim, user).values() if "file" in i]
    sizes = sorted(f["size"] for f in files)
    assert sizes[0] < 100 and 20_000 < sizes[1] < 30_000 and sizes[-1] > 8_000_000, sizes
    item = graph.get(f"/users/{user}/drive/items/{files[0]['id']}").json()
    for prop in ("id", "name", "size", "eTag", "cTag", "createdDateTime", "lastModifiedDateTime", "createdBy",
                 "lastModifiedBy", "parentReference", "webUrl", "@microsoft.graph.downloadUrl"):
        assert prop in item, prop
    assert item["file"]["mimeType"] and item["file"]["hashes"]["quickXorHash"]
    assert set(item["parentReference"]) >= {"driveId", "driveType", "id", "path"}


# -- delta -------------------------------------------------------------------------------------------
def test_full_delta_over_pages_equals_the_tree(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    items, link, pages = graph.follow(f"/users/{user}/drive/root/delta?$top=3")
    live = {i["id"]: i for i in items if "deleted" not in i}
    state = _state(sim, user)
    assert set(_dedupe(list(live.values()))) == set(state)
    assert pages > len(state) // 3
    assert "/drive/root/delta?token=" in link
    for item in live.values():
        assert "path" not in item["parentReference"], "delta omits parentReference.path"
        assert item["name"] == state[item["id"]]["name"]


def test_delta_latest_function_form_select_and_maxpagesize(graph: GraphTestClient) -> None:
    user = graph.first_user()
    drive_id = graph.get(f"/users/{user}/drive").json()["id"]
    body = graph.get(f"/drives/{drive_id}/root/delta(token='latest')").json()
    assert body["value"] == [] and "?token=" in body["@odata.deltaLink"] and "@odata.nextLink" not in body

    first = graph.get(f"/drives/{drive_id}/root/delta?$select=id,name", headers={"Prefer": "odata.maxpagesize=2"})
    assert first.headers["preference-applied"] == "odata.maxpagesize=2"
    assert 0 < len(first.json()["value"]) <= 2
    items, _, _ = graph.follow(first.json()["@odata.nextLink"])
    assert all(set(i) <= {"id", "name"} for i in items + first.json()["value"]), "the token keeps $select"


def test_token_latest_then_only_new_changes(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    link = graph.get(f"/users/{user}/drive/root/delta?token=latest").json()["@odata.deltaLink"]
    created = sim.control("create_file", user=user, name="fresh.txt", size=42)
    changes = _dedupe(graph.follow(link)[0])
    root_id = _by_name(sim, user, "root")["id"]
    assert set(changes) == {created["id"], root_id}
    assert changes[created["id"]]["size"] == 42


def test_incremental_round_reports_changes_deleted_facet_andancestors(sim: Simulator,
                                                                      graph: GraphTestClient) -> None:
    user = graph.first_user()
    link = _delta_link(graph, user)
    before = _state(sim, user)
    reports, photos = _by_name(sim, user, "Reports"), _by_name(sim, user, "Photos")
    notes = next(i for i in before.values() if i["name"].startswith("notes-"))
    budget = next(i for i in before.values() if i["name"].startswith("Budget"))
    image = next(i for i in before.values() if i["name"].startswith("IMG_"))

    created = sim.control("create_file", user=user, name="new.docx", size=1234, parent=reports["id"])
    sim.control("update_item", user=user, item_id=image["id"], fields={"name": "renamed.jpg"})
    sim.control("delete_item", user=user, item_id=budget["id"])
    sim.control("move_item", user=user, item_id=notes["id"], parent_id=photos["id"])

    changes = _dedupe(graph.follow(link)[0])
    after = _state(sim, user)
    expected = {created["id"], image["id"], budget["id"], notes["id"]}
    expected |= ancestors(after, created["id"]) | ancestors(after, image["id"]) | ancestors(before, budget["id"])
    expected |= ancestors(before, notes["id"]) | ancestors(after, notes["id"])
    assert set(changes) == expected
    gone = changes[budget["id"]]
    assert gone["deleted"] == {"state": "deleted"} and "name" not in gone and "@removed" not in gone
    assert gone["parentReference"]["id"] == budget["parentReference"]["id"]
    assert changes[image["id"]]["name"] == "renamed.jpg"
    assert changes[notes["id"]]["parentReference"]["id"] == photos["id"]
    assert changes[created["id"]]["size"] == 1234 and "deleted" not in changes[created["id"]]
    assert changes[reports["id"]]["eTag"] != reports["eTag"], "ancestors come back with new tags"


def test_deleting_a_folder_reports_everything_below_it(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    link = _delta_link(graph, user)
    before = _state(sim, user)
    documents = _by_name(sim, user, "Documents")
    below = {k for k in before if documents["id"] in ancestors(before, k)}
    assert below
    assert graph.delete(f"/users/{user}/drive/items/{documents['id']}").status_code == 204
    changes = _dedupe(graph.follow(link)[0])
    deleted = {k for k, v in changes.items() if "deleted" in v}
    assert deleted == below | {documents["id"]}
    assert not (set(_state(sim, user)) & deleted)


def test_evicted_token_answers_410_with_location_that_restarts(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    link = _delta_link(graph, user)
    assert sim.control("evict_delta", prefix=f"drive/{user}") >= 1
    gone = graph.get(link)
    assert gone.status_code == 410
    error = gone.json()["error"]
    assert error["code"] == "resyncRequired" and error["innerError"]["code"] == "resyncChangesApplyDifferences"
    location = gone.headers["location"]
    assert "/drive/root/delta?token=" in location
    items, new_link, _ = graph.follow(location)
    assert set(_dedupe([i for i in items if "deleted" not in i])) == set(_state(sim, user))
    assert graph.get(new_link).status_code == 200


# -- content -------------------------------------------------------------------------------------------
def _download(graph: GraphTestClient, user: str, item_id: str) -> bytes:
    redirect = graph.get(f"/users/{user}/drive/items/{item_id}/content")
    assert redirect.status_code == 302, redirect.text
    data = graph.http.get(redirect.headers["location"])  # pre-authenticated: no bearer token
    assert data.status_code == 200
    return data.content


def test_download_redirects_and_bytes_are_deterministic(sim: Simulator, graph: GraphTestClient,
                                                        tmp_path: Path) -> None:
    user = graph.first_user()
    files = [i for i in _state(sim, user).values() if "file" in i]
    other = start_simulator(tmp_path / "twin")
    try:
        twin = GraphTestClient(other)
        for item in files:
            data = _download(graph, user, item["id"])
            assert len(data) == item["size"]
            assert quick_xor_hash(data) == item["file"]["hashes"]["quickXorHash"]
            assert data == _download(twin, user, item["id"]), "same seed, same bytes"
        twin.http.close()
    finally:
        other.stop()
    listed = graph.get(f"/users/{user}/drive/items/{files[0]['id']}").json()
    assert graph.http.get(listed["@microsoft.graph.downloadUrl"]).status_code == 200
    not_modified = graph.get(f"/users/{user}/drive/items/{files[0]['id']}/content",
                             headers={"If-None-Match": listed["cTag"]})
    assert not_modified.status_code == 304


def test_put_content_replaces_bytes_and_tags(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    link = _delta_link(graph, user)
    target = next(i for i in _state(sim, user).values() if "file" in i)
    payload = b"brand new content\n" * 100
    r = graph.put(f"/users/{user}/drive/items/{target['id']}/content", content=payload,
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200
    updated = r.json()
    assert updated["size"] == len(payload)
    assert updated["eTag"] != target["eTag"] and updated["cTag"] != target["cTag"]
    assert updated["file"]["hashes"]["quickXorHash"] == quick_xor_hash(payload)
    assert _download(graph, user, target["id"]) == payload
    assert _dedupe(graph.follow(link)[0])[target["id"]]["size"] == len(payload)


def test_upload_new_file_by_path(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    photos = _by_name(sim, user, "Photos")
    url = f"/users/{user}/drive/items/{photos['id']}:/upload.txt:/content"
    created = graph.put(url, content=b"v1")
    assert created.status_code == 201 and created.json()["parentReference"]["id"] == photos["id"]
    replaced = graph.put(url, content=b"version two")
    assert replaced.status_code == 200 and replaced.json()["id"] == created.json()["id"]
    at_root = graph.put(f"/users/{user}/drive/root:/top.txt:/content", content=b"x")
    assert at_root.status_code == 201 and _download(graph, user, at_root.json()["id"]) == b"x"


# -- writes --------------------------------------------------------------------------------------------
def test_if_match_guards_patch_and_delete(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    item = next(i for i in _state(sim, user).values() if "file" in i)
    url = f"/users/{user}/drive/items/{item['id']}"
    renamed = graph.patch(url, json={"name": "first.bin"}, headers={"If-Match": item["eTag"]})
    assert renamed.status_code == 200 and renamed.json()["name"] == "first.bin"
    stale = graph.patch(url, json={"name": "second.bin"}, headers={"If-Match": item["eTag"]})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "resourceModified"
    assert stale.json()["error"]["innerError"]["code"] == "entityTagDoesNotMatch"
    assert graph.delete(url, headers={"If-Match": item["eTag"]}).status_code == 412
    assert graph.delete(url, headers={"If-Match": renamed.json()["eTag"]}).status_code == 204
    assert graph.get(url).status_code == 404


def test_patch_moves_and_rejects_name_conflicts(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    drive_id = graph.get(f"/users/{user}/drive").json()["id"]
    photos, shared = _by_name(sim, user, "Photos"), _by_name(sim, user, "Shared")
    moved = graph.patch(f"/drives/{drive_id}/items/{photos['id']}",
                        json={"parentReference": {"id": shared["id"]}, "name": "Pictures"})
    assert moved.status_code == 200
    assert moved.json()["parentReference"]["path"] == "/drive/root:/Shared"
    children = graph.get(f"/drives/{drive_id}/items/{shared['id']}/children").json()["value"]
    assert "Pictures" in {c["name"] for c in children}
    clash = graph.patch(f"/drives/{drive_id}/items/{shared['id']}", json={"name": "Documents"})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "nameAlreadyExists"
    into_self = graph.patch(f"/drives/{drive_id}/items/{shared['id']}", json={"parentReference": {"id": photos["id"]}})
    assert into_self.status_code == 400


def test_create_folder_with_conflict_behaviors(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    drive_id = graph.get(f"/users/{user}/drive").json()["id"]
    url = f"/users/{user}/drive/root/children"
    first = graph.post(url, json={"name": "Projects", "folder": {}})
    assert first.status_code == 201 and first.json()["folder"]["childCount"] == 0
    conflict = graph.post(url, json={"name": "projects", "folder": {}})
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "nameAlreadyExists"
    renamed = graph.post(url, json={"name": "Projects", "folder": {}, "@microsoft.graph.conflictBehavior": "rename"})
    assert renamed.status_code == 201 and renamed.json()["name"] == "Projects 1"
    nested = graph.post(f"/drives/{drive_id}/items/{first.json()['id']}/children", json={"name": "Q1", "folder": {}})
    assert nested.status_code == 201
    replaced = graph.post(f"/drives/{drive_id}/root/children",
                          json={"name": "Projects", "folder": {}, "@microsoft.graph.conflictBehavior": "replace"})
    assert replaced.status_code == 201 and replaced.json()["id"] != first.json()["id"]
    state = _state(sim, user)
    assert first.json()["id"] not in state and nested.json()["id"] not in state
    assert graph.post(url, json={"name": "bad:name", "folder": {}}).status_code == 400


# -- sharing and views ---------------------------------------------------------------------------------
def test_create_link_and_permissions(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    item = next(i for i in _state(sim, user).values() if "file" in i)
    url = f"/users/{user}/drive/items/{item['id']}"
    view = graph.post(f"{url}/createLink", json={"type": "view", "scope": "anonymous"})
    assert view.status_code == 201
    assert view.json()["link"]["type"] == "view" and view.json()["roles"] == ["read"]
    again = graph.post(f"{url}/createLink", json={"type": "view", "scope": "anonymous"})
    assert again.status_code == 200 and again.json()["id"] == view.json()["id"]
    edit = graph.post(f"{url}/createLink", json={"type": "edit", "scope": "organization"})
    assert edit.status_code == 201 and edit.json()["roles"] == ["write"]
    assert graph.post(f"{url}/createLink", json={"type": "bogus"}).status_code == 400
    perms = graph.get(f"{url}/permissions").json()["value"]
    assert {view.json()["id"], edit.json()["id"]} <= {p["id"] for p in perms}
    assert any(p["roles"] == ["owner"] for p in perms)


def test_wrong_method_and_folder_download_are_rejected(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    folder = _by_name(sim, user, "Documents")
    assert graph.request("POST", f"/users/{user}/drive/items/{folder['id']}").status_code == 405
    assert graph.get(f"/users/{user}/drive/items/{folder['id']}/content").status_code == 400
    assert graph.delete(f"/users/{user}/drive/items/root").status_code == 403
