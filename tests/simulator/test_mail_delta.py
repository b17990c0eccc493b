"""Message and mail-folder delta as documented: paging, duplicates, empty pages, partial updates,
@removed with both reasons, moves between folders, immutable ids and 410 on evicted sync states."""

from __future__ import annotations

from datetime import timedelta

from connectors.simulator import content
from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient

IMMUTABLE = {"Prefer": 'IdType="ImmutableId", odata.maxpagesize=3'}
ONE_PER_PAGE = {"Prefer": 'IdType="ImmutableId", odata.maxpagesize=1'}


def _dedupe(items: list[dict]) -> dict[str, dict]:
    """Apply a delta feed the way a correct client must: last occurrence of an id wins."""
    out: dict[str, dict] = {}
    for item in items:
        out[item["id"]] = {**out.get(item["id"], {}), **item}
    return out


def _inbox_delta(graph: GraphTestClient, user: str) -> str:
    return f"/users/{user}/mailFolders/inbox/messages/delta"


def test_initial_round_pages_with_duplicates_and_empty_pages(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    items, delta_link, pages = graph.follow(_inbox_delta(graph, user), headers=IMMUTABLE)
    state = sim.control("mailbox_state", user=user)
    inbox = sim.control("folder_id", user=user, folder="inbox")
    expected = {mid for mid, m in state["messages"].items() if m["parentFolderId"] == inbox}
    assert set(_dedupe(items)) == expected
    assert len(items) > len(expected), "the same item must appear on more than one page"
    assert pages > len(expected) // 3, "pages are bounded by odata.maxpagesize=3"
    assert "$deltatoken=" in delta_link


def test_empty_page_still_has_next_link(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    url = _inbox_delta(graph, user)
    saw_empty_with_next = False
    while url:
        body = graph.get(url, headers=ONE_PER_PAGE).json()
        if not body["value"] and "@odata.nextLink" in body:
            saw_empty_with_next = True
        assert not ("@odata.nextLink" in body and "@odata.deltaLink" in body)
        url = body.get("@odata.nextLink")
    assert saw_empty_with_next


def test_incremental_round_reports_creates_partial_updates_removals_and_moves(
        sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    items, inbox_link, _ = graph.follow(_inbox_delta(graph, user), headers=IMMUTABLE)
    _, archive_link, _ = graph.follow(f"/users/{user}/mailFolders/archive/messages/delta", headers=IMMUTABLE)
    ids = sorted(_dedupe(items))
    created = sim.control("create_message", user=user, folder="inbox", fields={"subject": "new one"})
    sim.control("update_message", user=user, message_id=ids[0], fields={"isRead": False, "categories": ["Red"]})
    sim.control("delete_message", user=user, message_id=ids[1])
    sim.control("delete_message", user=user, message_id=ids[2], soft=True)
    sim.control("move_message", user=user, message_id=ids[3], folder="archive")

    changes = _dedupe(graph.follow(inbox_link, headers=IMMUTABLE)[0])
    assert set(changes) == {created["id"], ids[0], ids[1], ids[2], ids[3]}
    assert changes[created["id"]]["subject"] == "new one" and "body" in changes[created["id"]]
    partial = changes[ids[0]]
    assert partial["isRead"] is False and partial["categories"] == ["Red"]
    assert "subject" not in partial and "body" not in partial, "updates are partial objects"
    assert changes[ids[1]]["@removed"] == {"reason": "deleted"}
    assert changes[ids[2]]["@removed"] == {"reason": "changed"}
    assert "@removed" in changes[ids[3]], "a move reports removal in the source folder"

    archive_changes = _dedupe(graph.follow(archive_link, headers=IMMUTABLE)[0])
    assert set(archive_changes) == {ids[3]}
    assert archive_changes[ids[3]]["parentFolderId"] == sim.control("folder_id", user=user, folder="archive")
    assert "@removed" not in archive_changes[ids[3]]


def test_next_round_after_no_changes_is_empty(graph: GraphTestClient) -> None:
    user = graph.first_user()
    _, link, _ = graph.follow(_inbox_delta(graph, user), headers=IMMUTABLE)
    items, next_link, _ = graph.follow(link, headers=IMMUTABLE)
    assert items == [] and next_link


def test_without_immutable_ids_a_move_changes_the_id(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    rest = graph.get(f"/users/{user}/mailFolders/inbox/messages?$top=1").json()["value"][0]
    moved = graph.post(f"/users/{user}/messages/{rest['id']}/move", json={"destinationId": "archive"})
    assert moved.status_code == 201
    assert moved.json()["id"] != rest["id"]
    assert graph.get(f"/users/{user}/messages/{rest['id']}").status_code == 404
    assert graph.get(f"/users/{user}/messages/{moved.json()['id']}").status_code == 200

    immutable = graph.get(f"/users/{user}/mailFolders/inbox/messages?$top=1", headers=IMMUTABLE).json()["value"][0]
    again = graph.post(f"/users/{user}/messages/{immutable['id']}/move", json={"destinationId": "archive"},
                       headers=IMMUTABLE)
    assert again.status_code == 201 and again.json()["id"] == immutable["id"]


def test_evicted_sync_state_is_410_sync_state_not_found(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    _, link, _ = graph.follow(_inbox_delta(graph, user), headers=IMMUTABLE)
    sim.control("evict_delta", prefix=f"messages/{user}/")
    r = graph.get(link, headers=IMMUTABLE)
    assert r.status_code == 410
    assert r.json()["error"]["code"] == "SyncStateNotFound"
    assert "generation" in r.json()["error"]["message"]


def test_old_generations_expire_after_later_pages(graph: GraphTestClient) -> None:
    user = graph.first_user()
    first = graph.get(_inbox_delta(graph, user), headers=ONE_PER_PAGE).json()
    stale = first["@odata.nextLink"]
    url = stale
    for _ in range(4):  # walk four generations further
        url = graph.get(url, headers=ONE_PER_PAGE).json()["@odata.nextLink"]
    assert graph.get(stale, headers=ONE_PER_PAGE).status_code == 410


def test_mail_folders_delta_is_flattened_and_reports_removals(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    items, link, _ = graph.follow(f"/users/{user}/mailFolders/delta")
    names = {f["displayName"] for f in _dedupe(items).values()}
    assert {"Inbox", "Projects", "Alpha"} <= names, "nested folders come back in the flat list"
    created = sim.control("create_folder", user=user, name="Invoices", parent="inbox")
    sim.control("delete_folder", user=user, folder=created["id"])
    sim.control("rename_folder", user=user, folder="archive", name="Old stuff")
    changes = _dedupe(graph.follow(link)[0])
    assert changes[created["id"]]["@removed"] == {"reason": "deleted"}
    archive = sim.control("folder_id", user=user, folder="archive")
    assert changes[archive]["displayName"] == "Old stuff"


def test_delta_select_and_filter_are_kept_by_the_tokens(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    since = content.iso(sim.app.tenant.epoch - timedelta(days=1))  # the seeded mail lies just before the epoch
    url = _inbox_delta(graph, user) + f"?$select=subject,isRead&$filter=receivedDateTime ge {since}"
    items, link, _ = graph.follow(url, headers=IMMUTABLE)
    assert items and all(set(i) <= {"id", "subject", "isRead", "@odata.type", "@odata.etag"} for i in items)
    assert "$select" not in link
    created = sim.control("create_message", user=user, folder="inbox")
    changes = _dedupe(graph.follow(link, headers=IMMUTABLE)[0])
    assert set(changes[created["id"]]) <= {"id", "subject", "isRead", "@odata.type", "@odata.etag"}


def test_restored_message_reappears_as_created(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    items, link, _ = graph.follow(_inbox_delta(graph, user), headers=IMMUTABLE)
    victim = sorted(_dedupe(items))[0]
    sim.control("delete_message", user=user, message_id=victim, soft=True)
    _, link, _ = graph.follow(link, headers=IMMUTABLE)
    sim.control("restore_message", user=user, message_id=victim)
    changes = _dedupe(graph.follow(link, headers=IMMUTABLE)[0])
    assert "@removed" not in changes[victim] and "subject" in changes[victim]


def test_users_delta_reports_soft_and_hard_deletes(sim: Simulator, graph: GraphTestClient) -> None:
    items, link, _ = graph.follow("/users/delta?$select=displayName,jobTitle")
    ids = sorted(_dedupe(items))
    assert len(ids) == 3
    sim.control("delete_user", user=ids[0])
    sim.control("delete_user", user=ids[1], permanent=True)
    sim.control("update_user", user=ids[2], fields={"jobTitle": "Chief Tester"})
    minimal = graph.follow(link, headers={"Prefer": "return=minimal"})[0]
    changes = _dedupe(minimal)
    assert changes[ids[0]]["@removed"] == {"reason": "changed"}
    assert changes[ids[1]]["@removed"] == {"reason": "deleted"}
    assert changes[ids[2]] == {"id": ids[2], "jobTitle": "Chief Tester"}


def test_users_delta_token_loss_is_410_with_location(sim: Simulator, graph: GraphTestClient) -> None:
    _, link, _ = graph.follow("/users/delta")
    sim.control("evict_delta", prefix="users")
    r = graph.get(link)
    assert r.status_code == 410 and r.headers["location"].endswith("/users/delta")
