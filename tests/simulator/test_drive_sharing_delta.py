"""Sharing changes in drive delta, against the real HTTPS server (driveitem-delta.md and scan-guidance.md,
"Scanning permissions hierarchies"): a sharing-only change reaches a delta round only when the caller
prefers `deltashowsharingchanges` (with the two preferences it requires), and then carries
`@microsoft.graph.sharedChanged: "True"`; a content or metadata change is reported either way."""

from __future__ import annotations

from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient
from tests.simulator.test_drive import ancestors

SHOW_SHARING = {"Prefer": "deltashowremovedasdeleted, deltatraversepermissiongaps, deltashowsharingchanges"}
ANNOTATION = "@microsoft.graph.sharedChanged"


def _file_in_reports(sim: Simulator, user: str) -> tuple[dict, dict[str, dict]]:
    """A file two folders below the root (root/Documents/Reports), and the drive's items by id."""
    state = sim.control("drive_state", user=user)["items"]
    reports = next(i for i in state.values() if i["name"] == "Reports")
    file = next(i for i in state.values() if "file" in i and i["parentReference"]["id"] == reports["id"])
    return file, state



def _round(graph: GraphTestClient, link: str, headers: dict[str, str] | None = None) -> tuple[dict[str, dict], str]:
    """One delta round from a deltaLink: the items (last occurrence wins) and the next deltaLink."""
    items, next_link, _ = graph.follow(link, headers=headers)
    assert next_link
    return {i["id"]: i for i in items}, next_link


def _latest(graph: GraphTestClient, user: str, headers: dict[str, str] | None = None) -> str:
    r = graph.get(f"/users/{user}/drive/root/delta?token=latest", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["@odata.deltaLink"]


def _share(graph: GraphTestClient, user: str, item_id: str) -> None:
    r = graph.post(f"/users/{user}/drive/items/{item_id}/createLink", json={"type": "view", "scope": "organization"})
    assert r.status_code == 201, r.text


def test_a_sharing_change_is_invisible_without_the_header(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    file, _ = _file_in_reports(sim, user)
    link = _latest(graph, user)
    _share(graph, user, file["id"])
    changes, link = _round(graph, link)
    assert changes == {}
    assert _round(graph, link)[0] == {}, "nothing is left over for a later round either"


def test_a_sharing_change_is_annotated_with_the_header(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    file, state = _file_in_reports(sim, user)
    link = _latest(graph, user, SHOW_SHARING)
    _share(graph, user, file["id"])
    changes, _ = _round(graph, link, SHOW_SHARING)
    assert set(changes) == {file["id"]} | ancestors(state, file["id"]), "the item and its parent hierarchy"
    shared = changes[file["id"]]
    assert shared[ANNOTATION] == "True"
    assert shared["name"] == file["name"] and "deleted" not in shared
    assert shared["eTag"] == file["eTag"] and shared["cTag"] == file["cTag"], "content and metadata unchanged"
    assert all(ANNOTATION not in changes[a] for a in ancestors(state, file["id"])), "parents are not annotated"


def test_item_delta_path_and_select_keep_the_annotation(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    file, _ = _file_in_reports(sim, user)
    drive = graph.get(f"/users/{user}/drive").json()["id"]
    first = graph.get(f"/drives/{drive}/items/root/delta?$select=id,name&token=latest", headers=SHOW_SHARING)
    assert first.status_code == 200, first.text
    _share(graph, user, file["id"])
    changes, _ = _round(graph, first.json()["@odata.deltaLink"], SHOW_SHARING)
    assert set(changes[file["id"]]) == {"id", "name", ANNOTATION}


def test_a_rename_is_reported_with_and_without_the_header(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    file, _ = _file_in_reports(sim, user)
    plain, annotated = _latest(graph, user), _latest(graph, user, SHOW_SHARING)
    r = graph.patch(f"/users/{user}/drive/items/{file['id']}", json={"name": "renamed.pdf"})
    assert r.status_code == 200, r.text
    for link, headers in ((plain, None), (annotated, SHOW_SHARING)):
        changes, _ = _round(graph, link, headers)
        assert changes[file["id"]]["name"] == "renamed.pdf"
        assert ANNOTATION not in changes[file["id"]], "a rename is not a permission change"


def test_a_rename_and_a_sharing_change_in_one_round(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    file, _ = _file_in_reports(sim, user)
    plain, annotated = _latest(graph, user), _latest(graph, user, SHOW_SHARING)
    _share(graph, user, file["id"])
    assert graph.patch(f"/users/{user}/drive/items/{file['id']}", json={"name": "both.pdf"}).status_code == 200
    without = _round(graph, plain)[0][file["id"]]
    assert without["name"] == "both.pdf" and ANNOTATION not in without
    with_header = _round(graph, annotated, SHOW_SHARING)[0][file["id"]]
    assert with_header["name"] == "both.pdf" and with_header[ANNOTATION] == "True"


def test_an_existing_link_is_no_sharing_change(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    file, _ = _file_in_reports(sim, user)
    _share(graph, user, file["id"])
    link = _latest(graph, user, SHOW_SHARING)
    again = graph.post(f"/users/{user}/drive/items/{file['id']}/createLink",
                       json={"type": "view", "scope": "organization"})
    assert again.status_code == 200
    assert _round(graph, link, SHOW_SHARING)[0] == {}


def test_the_header_needs_the_two_preferences_graph_requires(graph: GraphTestClient) -> None:
    user = graph.first_user()
    for prefer in ("deltashowsharingchanges", "odata.maxpagesize=200, deltashowsharingchanges",
                   "deltashowremovedasdeleted, deltashowsharingchanges"):
        r = graph.get(f"/users/{user}/drive/root/delta?token=latest", headers={"Prefer": prefer})
        assert r.status_code == 400, prefer
        assert r.json()["error"]["code"] == "invalidRequest"
        assert "deltatraversepermissiongaps" in r.json()["error"]["message"]
    r = graph.get(f"/users/{user}/drive/root/delta?token=latest",
                  headers={"Prefer": "odata.maxpagesize=200, " + SHOW_SHARING["Prefer"]})
    assert r.status_code == 200, r.text
    assert r.headers["preference-applied"] == "odata.maxpagesize=200"
