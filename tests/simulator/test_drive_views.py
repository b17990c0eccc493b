"""Drive views: delta through an item (the msgraph-sdk path), search(q=) over a drive, a folder and
what is shared, item permissions as owner and as a colleague, and the deprecated recent / sharedWithMe
(driveitem-delta.md, driveitem-search.md, driveitem-list-permissions.md, drive-recent.md,
drive-sharedwithme.md)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient, start_simulator

BEFORE_DEPRECATION = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def _delegated(sim: Simulator, http: httpx.Client, user: str) -> str:
    ep = sim.endpoints
    flow = http.post(f"{ep.authority}/oauth2/v2.0/devicecode",
                     data={"client_id": ep.client_id, "scope": f"{ep.origin}/.default"}).json()
    assert sim.control("approve_device_code", user_code=flow["user_code"], user=user)
    return http.post(ep.token_url, data={"client_id": ep.client_id, "device_code": flow["device_code"],
                                         "grant_type": "urn:ietf:params:oauth:grant-type:device_code"}
                     ).json()["access_token"]


def _as(graph: GraphTestClient, token: str, path: str, **headers: str) -> httpx.Response:
    return graph.http.get(graph.api + path, headers={"Authorization": f"Bearer {token}", **headers})


def _items(sim: Simulator, user: str) -> dict[str, dict]:
    return sim.control("drive_state", user=user)["items"]


@pytest.fixture
def early(tmp_path: Path) -> Iterator[Simulator]:
    """A tenant whose clock reads before recent / sharedWithMe stopped returning data."""
    simulator = start_simulator(tmp_path / "early", now=BEFORE_DEPRECATION)
    yield simulator
    simulator.stop()


# -- delta through an item ---------------------------------------------------------------------------
def test_item_delta_of_the_root_is_the_drive_delta(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    drive = graph.get(f"/users/{user}/drive").json()["id"]
    root = graph.get(f"/drives/{drive}/root").json()["id"]
    expected = set(_items(sim, user))
    for path in (f"/drives/{drive}/items/{root}/delta()", f"/drives/{drive}/items/root/delta",
                 f"/users/{user}/drive/items/{root}/delta?$top=3"):
        items, link, _ = graph.follow(path)
        assert {i["id"] for i in items} == expected, path
        assert "/items/" in link and "token=" in link
    _, link, _ = graph.follow(f"/drives/{drive}/items/{root}/delta()")
    created = sim.control("create_file", user=user, name="after-delta.txt", size=10)
    changed, _, _ = graph.follow(link)
    assert created["id"] in {i["id"] for i in changed}
    latest = graph.get(f"/drives/{drive}/items/{root}/delta(token='latest')").json()
    assert latest["value"] == [] and "@odata.deltaLink" in latest


def test_item_delta_of_another_folder_is_refused(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    folder = next(i for i in _items(sim, user).values() if i["name"] == "Documents")
    r = graph.get(f"/users/{user}/drive/items/{folder['id']}/delta")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalidRequest"
    assert "root" in r.json()["error"]["message"]


# -- search ------------------------------------------------------------------------------------------
def test_search_a_drive_a_folder_and_what_is_shared(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    drive = graph.get(f"/users/{user}/drive").json()["id"]
    state = _items(sim, user)
    budgets = {i["id"] for i in state.values() if "budget" in i["name"].lower()}
    hits = graph.get(f"/drives/{drive}/root/search(q='budget')").json()["value"]
    assert budgets and {h["id"] for h in hits} == budgets
    assert graph.get(f"/users/{user}/drive/root/search(q='no-such-name')").json()["value"] == []
    photos = next(i for i in state.values() if i["name"] == "Photos")
    in_photos = graph.get(f"/drives/{drive}/items/{photos['id']}/search(q='IMG')").json()["value"]
    assert in_photos and all(h["parentReference"]["id"] == photos["id"] for h in in_photos)
    assert graph.get(f"/drives/{drive}/items/{photos['id']}/search(q='budget')").json()["value"] == []
    shared = graph.get(f"/drives/{drive}/search(q='recording')").json()["value"]
    assert shared and any("remoteItem" in h for h in shared), "drive search includes items shared with the user"
    assert graph.get(f"/drives/{drive}/root/search").status_code == 400


# -- permissions -------------------------------------------------------------------------------------
def test_permissions_for_the_owner_and_for_a_colleague(sim: Simulator, graph: GraphTestClient) -> None:
    users = [u["id"] for u in graph.get("/users").json()["value"]]
    owner, colleague = users[0], users[1]
    drive = graph.get(f"/users/{owner}/drive").json()["id"]
    state = _items(sim, owner)
    shared = next(i for i in state.values() if i["name"] == "Shared")
    item = next(i for i in state.values() if i["parentReference"].get("id") == shared["id"])
    url = f"/drives/{drive}/items/{item['id']}"
    assert graph.post(f"{url}/createLink", json={"type": "view", "scope": "organization"}).status_code == 201

    everything = graph.get(f"{url}/permissions").json()["value"]
    assert {"owner"} in [set(p["roles"]) for p in everything]
    assert any("link" in p and p["link"].get("webUrl") for p in everything)
    assert any(p.get("inheritedFrom", {}).get("id") == shared["id"] for p in everything)
    own = _as(graph, _delegated(sim, graph.http, owner), f"{url}/permissions").json()["value"]
    assert [p["id"] for p in own] == [p["id"] for p in everything]

    theirs = _as(graph, _delegated(sim, graph.http, colleague), f"{url}/permissions").json()["value"]
    assert [p["grantedToV2"]["user"]["id"] for p in theirs] == [colleague]
    assert all("shareId" not in p for p in theirs)

    etag = graph.get(url).json()["eTag"]
    assert graph.get(f"{url}/permissions", headers={"If-None-Match": etag}).status_code == 304
    assert graph.get(f"{url}/permissions", headers={"If-None-Match": '"stale"'}).status_code == 200


# -- recent and sharedWithMe (deprecated) -----------------------------------------------------------
def test_recent_and_shared_with_me_are_not_for_app_only_callers(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    for view in ("recent", "sharedWithMe"):
        r = graph.get(f"/users/{user}/drive/{view}")
        assert r.status_code == 200 and r.json()["value"] == [], view


def test_recent_and_shared_with_me_delegated_before_the_cutoff(early: Simulator) -> None:
    graph = GraphTestClient(early)
    try:
        user = graph.first_user()
        token = _delegated(early, graph.http, user)
        recent = _as(graph, token, "/me/drive/recent").json()["value"]
        stamps = [r["lastModifiedDateTime"] for r in recent]
        assert recent and stamps == sorted(stamps, reverse=True)
        shared = _as(graph, token, "/me/drive/sharedWithMe").json()["value"]
        own_drive = graph.get(f"/users/{user}/drive").json()["id"]
        assert shared and all("remoteItem" in s for s in shared)
        remote = shared[0]["remoteItem"]
        assert remote["parentReference"]["driveId"] != own_drive
        original = graph.get(f"/drives/{remote['parentReference']['driveId']}/items/{remote['id']}")
        assert original.status_code == 200 and original.json()["name"] == shared[0]["name"]
        assert graph.get(f"/users/{user}/drive/recent").json()["value"] == [], "app-only: nothing, even now"
    finally:
        graph.http.close()


def test_recent_and_shared_with_me_return_nothing_after_november_2026(tmp_path: Path) -> None:
    late = start_simulator(tmp_path / "late", now=datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    graph = GraphTestClient(late)
    try:
        token = _delegated(late, graph.http, graph.first_user())
        for view in ("recent", "sharedWithMe"):
            r = _as(graph, token, f"/me/drive/{view}")
            assert r.status_code == 200 and r.json()["value"] == [], view
    finally:
        graph.http.close()
        late.stop()
