"""Teams against the real simulator: channel message delta, chat message filter/orderby rules,
getAllMessages (app-only only), team creation (202 + Location) and every route's status code."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient


def _dedupe(items: list[dict]) -> dict[str, dict]:
    """Apply a delta feed as a correct client must: the last occurrence of an id wins."""
    out: dict[str, dict] = {}
    for item in items:
        out[item["id"]] = {**out.get(item["id"], {}), **item}
    return out


def _first_channel(sim: Simulator) -> tuple[str, str, dict]:
    teams = sim.control("teams_state")
    team_id = sorted(teams)[0]
    channels = teams[team_id]["channels"]
    general = next(cid for cid, c in channels.items() if c["channel"]["displayName"] == "General")
    return team_id, general, channels[general]


def _chain_modified(post: dict) -> str:
    """When a post's reply chain last changed: the post or any of its replies."""
    return max([post["lastModifiedDateTime"], *(r["lastModifiedDateTime"] for r in post.get("replies") or [])])


def _delta_url(team: str, channel: str) -> str:
    return f"/teams/{team}/channels/{channel}/messages/delta"


def _delegated_token(sim: Simulator, graph: GraphTestClient, user: str) -> str:
    """A device-code token for `user`, approved through the control surface."""
    ep = sim.endpoints
    flow = graph.http.post(ep.token_url.replace("/token", "/devicecode"),
                           data={"client_id": ep.client_id, "scope": "Chat.Read offline_access"}).json()
    assert sim.control("approve_device_code", user_code=flow["user_code"], user=user)
    r = graph.http.post(ep.token_url, data={"client_id": ep.client_id, "device_code": flow["device_code"],
                                            "grant_type": "urn:ietf:params:oauth:grant-type:device_code"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def _as(graph: GraphTestClient, token: str, method: str, path: str, **kwargs: object):
    return graph.http.request(method, graph.api + path, headers={"Authorization": f"Bearer {token}"},
                              **kwargs)  # type: ignore[arg-type]


# -- channel message delta ---------------------------------------------------------------------------
def test_channel_delta_full_then_incremental_create_edit_delete(sim: Simulator, graph: GraphTestClient) -> None:
    team, channel, seeded = _first_channel(sim)
    items, delta_link, pages = graph.follow(_delta_url(team, channel) + "?$top=2")
    assert set(_dedupe(items)) == set(seeded["messages"])
    assert pages >= len(seeded["messages"]) // 2
    assert all(m["replyToId"] is None for m in items), "delta returns top-level posts only"
    assert "replies" not in items[0], "replies come only with $expand=replies"
    assert "$deltatoken=" in delta_link

    old = sorted(seeded["messages"])
    created = sim.control("post_channel_message", team=team, channel=channel, text="brand new post")
    sim.control("edit_channel_message", team=team, channel=channel, message=old[0], text="edited text")
    sim.control("delete_channel_message", team=team, channel=channel, message=old[1])

    changes, next_link, _ = graph.follow(delta_link)
    changed = _dedupe(changes)
    assert set(changed) == {created["id"], old[0], old[1]}
    assert "brand new post" in changed[created["id"]]["body"]["content"]
    assert "edited text" in changed[old[0]]["body"]["content"]
    assert changed[old[0]]["lastEditedDateTime"] is not None
    assert changed[old[0]]["etag"] != seeded["messages"][old[0]]["etag"]
    # Deletion is a soft delete: the post comes back with deletedDateTime set, never as @removed.
    assert changed[old[1]]["deletedDateTime"] is not None and changed[old[1]]["body"]["content"] == ""
    assert "@removed" not in changed[old[1]]
    assert graph.follow(next_link)[0] == []


def test_channel_delta_top_above_50_and_unsupported_filter_are_400(sim: Simulator, graph: GraphTestClient) -> None:
    team, channel, _ = _first_channel(sim)
    assert graph.get(_delta_url(team, channel) + "?$top=50").status_code == 200
    r = graph.get(_delta_url(team, channel) + "?$top=51")
    assert r.status_code == 400 and "50" in r.json()["error"]["message"]
    assert graph.get(_delta_url(team, channel) + "?$filter=lastModifiedDateTime lt 2026-01-01T00:00:00Z"
                     ).status_code == 400
    assert graph.get(_delta_url(team, channel) + "?$expand=hostedContents").status_code == 400


def test_channel_delta_filter_and_expand_replies_are_kept_in_the_token(sim: Simulator, graph: GraphTestClient) -> None:
    team, channel, seeded = _first_channel(sim)
    # The filter keeps reply chains changed after the date: a post's seeded replies count too.
    posts = sorted(seeded["messages"].values(), key=_chain_modified)
    cutoff = _chain_modified(posts[-3])
    url = _delta_url(team, channel) + f"?$top=1&$filter=lastModifiedDateTime gt {cutoff}&$expand=replies"
    items, link, _ = graph.follow(url)
    assert set(_dedupe(items)) == {posts[-2]["id"], posts[-1]["id"]}
    assert all("replies" in m for m in items), "$expand on the first call applies to every page"

    reply = sim.control("post_channel_reply", team=team, channel=channel, message=posts[0]["id"], text="late reply")
    changes = _dedupe(graph.follow(link)[0])
    assert set(changes) == {posts[0]["id"]}, "a new reply reports its reply chain again"
    assert reply["id"] in {r["id"] for r in changes[posts[0]["id"]]["replies"]}
    assert reply["replyToId"] == posts[0]["id"]


def test_evicted_channel_delta_token_is_410(sim: Simulator, graph: GraphTestClient) -> None:
    team, channel, _ = _first_channel(sim)
    _, link, _ = graph.follow(_delta_url(team, channel))
    assert sim.control("evict_delta", prefix=f"chatMessages/{channel}") >= 1
    r = graph.get(link)
    assert r.status_code == 410 and r.json()["error"]["code"] == "SyncStateNotFound"


# -- chat messages: $orderby / $filter ---------------------------------------------------------------
def _a_chat(sim: Simulator, user: str) -> tuple[str, dict]:
    chats = sim.control("chats_state", user=user)
    chat_id = sorted(chats)[0]
    return chat_id, chats[chat_id]


def test_chat_messages_filter_is_ignored_unless_orderby_names_the_same_property(
        sim: Simulator, graph: GraphTestClient) -> None:
    chat, state = _a_chat(sim, graph.first_user())
    newest_first = sorted(state["messages"].values(), key=lambda m: m["lastModifiedDateTime"], reverse=True)
    cutoff = newest_first[2]["lastModifiedDateTime"]
    base = f"/chats/{quote(chat)}/messages"
    flt = f"$filter=lastModifiedDateTime gt {cutoff}"

    ids = [m["id"] for m in graph.get(base).json()["value"]]
    assert ids == [m["id"] for m in newest_first], "default order is lastModifiedDateTime desc"
    ignored = graph.get(f"{base}?{flt}").json()["value"]
    assert len(ignored) == len(newest_first), "without $orderby the filter is ignored"
    mismatched = graph.get(f"{base}?{flt}&$orderby=createdDateTime desc").json()["value"]
    assert len(mismatched) == len(newest_first), "$orderby on another property: filter ignored"
    applied = graph.get(f"{base}?{flt}&$orderby=lastModifiedDateTime desc").json()["value"]
    assert [m["id"] for m in applied] == [m["id"] for m in newest_first[:2]]

    created_cut = newest_first[1]["createdDateTime"]
    older = graph.get(f"{base}?$filter=createdDateTime lt {created_cut}&$orderby=createdDateTime desc").json()
    assert [m["id"] for m in older["value"]] == [m["id"] for m in newest_first[2:]]


@pytest.mark.parametrize("query", ["$orderby=lastModifiedDateTime asc", "$orderby=lastModifiedDateTime",
                                   "$orderby=id desc", "$top=51",
                                   "$orderby=createdDateTime desc&$filter=createdDateTime gt 2026-01-01T00:00:00Z"])
def test_chat_messages_rejects_unsupported_options(sim: Simulator, graph: GraphTestClient, query: str) -> None:
    chat, _ = _a_chat(sim, graph.first_user())
    r = graph.get(f"/chats/{quote(chat)}/messages?{query}")
    assert r.status_code == 400, r.text


def test_an_edit_moves_a_chat_message_to_the_front(sim: Simulator, graph: GraphTestClient) -> None:
    chat, state = _a_chat(sim, graph.first_user())
    oldest = min(state["messages"].values(), key=lambda m: m["createdDateTime"])
    sim.control("edit_chat_message", chat=chat, message=oldest["id"], text="fixed a typo")
    first = graph.get(f"/chats/{quote(chat)}/messages?$top=1").json()
    assert first["value"][0]["id"] == oldest["id"] and "@odata.nextLink" in first
    by_created = graph.get(f"/chats/{quote(chat)}/messages?$top=1&$orderby=createdDateTime desc").json()
    assert by_created["value"][0]["id"] != oldest["id"]


# -- getAllMessages and /chats: app-only versus delegated --------------------------------------------
def test_get_all_messages_is_app_only_and_pages_with_skiptoken(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    expected = {mid for chat in sim.control("chats_state", user=user).values() for mid in chat["messages"]}
    items, _, pages = graph.follow(f"/users/{user}/chats/getAllMessages?$top=2")
    assert {m["id"] for m in items} == expected and pages == -(-len(expected) // 2)
    first = graph.get(f"/users/{user}/chats/getAllMessages?$top=2").json()
    assert "$skiptoken=" in first["@odata.nextLink"]

    stamps = sorted(m["lastModifiedDateTime"] for m in items)
    window = f"lastModifiedDateTime gt {stamps[0]} and lastModifiedDateTime lt {stamps[-1]}"
    inside, _, _ = graph.follow(f"/users/{user}/chats/getAllMessages?$filter={window}")
    assert len(inside) == len(items) - 2
    assert graph.get(f"/users/{user}/chats/getAllMessages?$filter=createdDateTime gt {stamps[0]}").status_code == 400

    token = _delegated_token(sim, graph, user)
    for path in ("/me/chats/getAllMessages", f"/users/{user}/chats/getAllMessages"):
        r = _as(graph, token, "GET", path)
        assert r.status_code == 412, r.text
        assert r.json()["error"]["code"] == "PreconditionFailed" and "delegated" in r.json()["error"]["message"]


def test_list_chats_needs_a_user_context_but_users_chats_does_not(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    r = graph.get("/chats")
    assert r.status_code == 412 and "application-only" in r.json()["error"]["message"]
    expected = set(sim.control("chats_state", user=user))
    assert {c["id"] for c in graph.get(f"/users/{user}/chats").json()["value"]} == expected
    mine = _as(graph, _delegated_token(sim, graph, user), "GET", "/chats?$expand=members")
    assert mine.status_code == 200
    assert {c["id"] for c in mine.json()["value"]} == expected
    assert all(any(m["userId"] == user for m in c["members"]) for c in mine.json()["value"])
    groups = graph.get(f"/users/{user}/chats?$filter=chatType eq 'group'").json()["value"]
    assert groups and all(c["chatType"] == "group" for c in groups)
    assert graph.get(f"/users/{user}/chats?$top=51").status_code == 400


# -- teams -----------------------------------------------------------------------------------------
def test_create_team_is_202_with_operation_location(graph: GraphTestClient) -> None:
    owner = graph.first_user()
    body = {"displayName": "Replay Team", "description": "made by a test",
            "members": [{"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": ["owner"],
                         "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{owner}')"}]}
    r = graph.post("/teams", json=body)
    assert r.status_code == 202 and r.content == b""
    m = re.fullmatch(r"/teams\('([0-9a-f-]{36})'\)/operations\('([0-9a-f-]{36})'\)", r.headers["location"])
    assert m is not None, r.headers["location"]
    team_id, op_id = m.groups()
    assert r.headers["content-location"] == f"/teams('{team_id}')"
    assert graph.get(f"/teams/{team_id}").status_code == 404, "the team exists once its operation succeeds"
    polls = [graph.get(f"/teams/{team_id}/operations/{op_id}").json()["status"] for _ in range(4)]
    assert polls == ["notStarted", "inProgress", "succeeded", "succeeded"]
    team = graph.get(f"/teams/{team_id}").json()
    assert team["displayName"] == "Replay Team" and team["isArchived"] is False
    channels = graph.get(f"/teams/{team_id}/channels").json()["value"]
    assert [c["displayName"] for c in channels] == ["General"]
    assert team_id in {t["id"] for t in graph.get(f"/users/{owner}/joinedTeams").json()["value"]}
    assert graph.post("/teams", json={"displayName": "No owner"}).status_code == 400


def test_every_route_answers_with_graphs_status(sim: Simulator, graph: GraphTestClient) -> None:
    users = [u["id"] for u in graph.get("/users").json()["value"]]
    team, channel, seeded = _first_channel(sim)
    post = sorted(seeded["messages"])[0]
    chat, chat_state = next((k, v) for k, v in sim.control("chats_state", user=users[0]).items()
                            if v["chat"]["chatType"] == "group")
    chat_msg = sorted(chat_state["messages"])[0]
    bind = [{"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": [],
             "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{u}')"} for u in users]
    text = {"body": {"contentType": "html", "content": "<p>hello</p>"}}
    violation = {"policyViolation": {"dlpAction": "BlockAccess", "verdictDetails": "AllowOverrideWithoutJustification",
                                     "policyTip": {"generalText": "Blocked by the administrator."}}}
    t, c, ch = f"/teams/{team}", f"/teams/{team}/channels/{quote(channel)}", f"/chats/{quote(chat)}"
    steps: list[tuple[str, str, dict | None, int]] = [
        ("GET", "/teams", None, 200),
        ("GET", f"/users/{users[0]}/joinedTeams", None, 200),
        ("GET", t, None, 200),
        ("PATCH", t, {"description": "patched"}, 204),
        ("PATCH", t, {"nope": 1}, 400),
        ("POST", f"{t}/archive", None, 202),
        ("POST", f"{t}/unarchive", None, 202),
        ("GET", f"{t}/members", None, 200),
        ("POST", f"{t}/members", bind[-1], 201),
        ("POST", f"{t}/members/add", {"values": bind}, 200),
        ("POST", f"{t}/members/add", {"values": [*bind, {"user@odata.bind": "users('missing')"}]}, 207),
        ("GET", f"{t}/channels", None, 200),
        ("GET", f"{t}/allChannels", None, 200),
        ("GET", f"{t}/allChannels/{quote(channel)}", None, 200),
        ("POST", f"{t}/channels", {"displayName": "Extra", "membershipType": "private"}, 201),
        ("POST", f"{t}/channels", {"displayName": "Extra"}, 400),
        ("GET", c, None, 200),
        ("PATCH", c, {"description": "the general channel"}, 204),
        ("PATCH", c, {"displayName": "Renamed"}, 400),
        ("DELETE", c, None, 400),
        ("GET", f"{c}/members", None, 200),
        ("POST", f"{c}/members", bind[0], 400),
        ("GET", f"{c}/messages", None, 200),
        ("GET", f"{c}/messages?$top=51", None, 400),
        ("POST", f"{c}/messages", text, 201),
        ("POST", f"{c}/messages", {"body": {"content": ""}}, 400),
        ("GET", f"{c}/messages/{post}", None, 200),
        ("GET", f"{c}/messages/999", None, 404),
        ("PATCH", f"{c}/messages/{post}", text, 412),  # app-only: policyViolation only (chatmessage-update.md)
        ("PATCH", f"{c}/messages/{post}", violation, 200),
        ("GET", f"{c}/messages/{post}/replies", None, 200),
        ("DELETE", f"{c}/messages/{post}", None, 404),  # no DELETE in v1.0: softDelete (chatmessage-softdelete.md)
        ("POST", f"{c}/messages/{post}/softDelete", None, 412),  # delegated only
        ("GET", f"{c}/messages/delta", None, 200),
        ("GET", f"{t}/channels/19:nope@thread.tacv2", None, 404),
        ("POST", "/chats", {"chatType": "group", "topic": "new", "members": bind}, 201),
        ("POST", "/chats", {"chatType": "oneOnOne", "members": bind}, 400),
        ("GET", f"/users/{users[0]}/chats?$expand=members", None, 200),
        ("GET", ch, None, 200),
        ("PATCH", ch, {"topic": "renamed"}, 200),
        ("GET", f"{ch}/members", None, 200),
        ("POST", f"{ch}/members", bind[-1], 201),
        ("POST", f"{ch}/members/add", {"values": bind}, 200),
        ("GET", f"{ch}/messages", None, 200),
        ("POST", f"{ch}/messages", text, 201),
        ("GET", f"{ch}/messages/{chat_msg}", None, 200),
        ("PATCH", f"{ch}/messages/{chat_msg}", text, 412),
        ("PATCH", f"{ch}/messages/{chat_msg}", violation, 200),
        ("DELETE", f"{ch}/messages/{chat_msg}", None, 404),
        ("GET", "/chats/getAllMessages", None, 501),  # undocumented for GET (chats-getallmessages.md)
        ("GET", f"/users/{users[0]}/chats/getAllMessages", None, 200),
    ]
    for method, path, body, status in steps:
        r = graph.request(method, path, json=body) if body is not None else graph.request(method, path)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"

    member = next(m for m in graph.get(f"{ch}/members").json()["value"] if m["userId"] == users[-1])
    mp = f"{ch}/members/{quote(member['id'])}"
    assert graph.get(mp).status_code == 200
    patched = graph.patch(mp, json={"roles": ["owner"]})
    assert patched.status_code == 200 and patched.json()["roles"] == ["owner"]
    assert graph.delete(mp).status_code == 204
    assert graph.get(mp).status_code == 404
    flagged = graph.get(f"{c}/messages/{post}").json()
    assert flagged["deletedDateTime"] is None and flagged["policyViolation"]["dlpAction"] == "BlockAccess"
    assert graph.get(t).json()["description"] == "patched"

    extra = next(x for x in graph.get(f"{t}/channels").json()["value"] if x["displayName"] == "Extra")
    assert graph.delete(f"{t}/channels/{quote(extra['id'])}").status_code == 204
    assert graph.delete(ch).status_code == 204
    assert graph.get(ch).status_code == 404
    assert graph.delete(t).status_code == 204
    assert graph.get(t).status_code == 404
