"""Teams behaviour as Graph documents it (issue 10): key-in-parentheses URLs, 501 for unmodelled
paths, user-scoped chats, the teams list and team-backed groups, chat list options, reply-chain
order, getAllMessages filters and system events, the channel delta window, and the control calls
that change membership and messages between syncs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient, start_simulator
from tests.simulator.test_teams import _as, _delegated_token, _first_channel


def _chats(sim: Simulator, user: str, kind: str | None = None) -> list[tuple[str, dict]]:
    return [(k, v) for k, v in sorted(sim.control("chats_state", user=user).items())
            if kind is None or v["chat"]["chatType"] == kind]


def _users(graph: GraphTestClient) -> list[str]:
    return [u["id"] for u in graph.get("/users").json()["value"]]


# -- 6: OData keys in parentheses --------------------------------------------------------------------
def test_location_and_content_location_urls_address_their_entities(sim: Simulator, graph: GraphTestClient) -> None:
    owner = graph.first_user()
    r = graph.post("/teams", json={"displayName": "Keyed", "members": [
        {"roles": ["owner"], "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{owner}')"}]})
    assert r.status_code == 202
    operation = graph.get(r.headers["location"])
    assert operation.status_code == 200 and operation.json()["operationType"] == "createTeam"
    assert sim.control("complete_team_operations") == 1
    team = graph.get(r.headers["content-location"]).json()
    assert team["displayName"] == "Keyed" and "value" not in team
    assert graph.get(operation.json()["targetResourceLocation"]).json()["id"] == team["id"]
    assert graph.get(f"/users('{owner}')").json()["id"] == owner
    assert graph.get(f"/users('{owner}')/messages?$top=1").json()["value"]


# -- 9: 501 for paths the simulator does not model -------------------------------------------------
def test_unmodelled_paths_answer_501_and_unknown_segments_400(sim: Simulator, graph: GraphTestClient) -> None:
    team, channel, seeded = _first_channel(sim)
    post = sorted(seeded["messages"])[0]
    for method, path in [("GET", f"/teams/{team}/schedule"),
                         ("POST", f"/teams/{team}/channels/{quote(channel)}/messages/{post}/setReaction"),
                         ("GET", f"/users/{graph.first_user()}/chats/{quote(channel)}/pinnedMessages"),
                         ("GET", "/chats/getAllMessages"), ("GET", "/places/microsoft.graph.workspace")]:
        r = graph.request(method, path)
        assert r.status_code == 501, f"{method} {path}: {r.status_code}"
        error = r.json()["error"]
        assert error["code"] == "NotImplementedInSimulator" and "does not model" in error["message"]
    r = graph.get("/nonsense/things")
    assert r.status_code == 400 and "Resource not found for the segment" in r.json()["error"]["message"]
    assert graph.request("PUT", f"/teams/{team}").status_code == 405, "a served path with another method"


# -- 7: chats under a user ---------------------------------------------------------------------------
def test_user_scoped_chat_routes_need_membership(sim: Simulator, graph: GraphTestClient) -> None:
    users = _users(graph)
    chat, state = _chats(sim, users[0], "group")[0]
    base = f"/users/{users[0]}/chats/{quote(chat)}"
    got = graph.get(base)
    assert got.status_code == 200 and got.json()["id"] == chat
    messages = graph.get(f"{base}/messages?$top=50").json()["value"]
    assert {m["id"] for m in messages} == set(state["messages"])
    assert graph.get(f"{base}/messages/{messages[0]['id']}").json()["id"] == messages[0]["id"]
    members = graph.get(f"{base}/members").json()["value"]
    assert {m["userId"] for m in members} == {m["userId"] for m in state["members"]}
    assert graph.get(f"{base}/members/{quote(members[0]['id'])}").status_code == 200
    outsider = sim.control("create_user", fields={"userPrincipalName": "outsider@contoso.com",
                                                  "displayName": "Out Sider"})["id"]
    assert graph.get(f"/users/{outsider}/chats/{quote(chat)}/messages").status_code == 404
    sim.control("leave_chat", chat=chat, user=users[0])
    assert graph.get(f"{base}/messages").status_code == 404, "a user who left no longer reads the chat"


# -- 1: the teams list --------------------------------------------------------------------------------
def test_teams_list_returns_only_id_name_description_and_honours_query_options(graph: GraphTestClient) -> None:
    listed = graph.get("/teams").json()["value"]
    assert listed and all(set(t) == {"id", "displayName", "description"} for t in listed)
    full = graph.get(f"/teams/{listed[0]['id']}").json()
    assert "memberSettings" in full and "webUrl" in full, "Get team still returns the whole team"
    falcon = graph.get("/teams?$filter=startswith(displayName,'P')").json()["value"]
    assert [t["displayName"] for t in falcon] == ["Project Falcon"]
    assert all(set(t) == {"id"} for t in graph.get("/teams?$select=id").json()["value"])
    first = graph.get("/teams?$top=1&$count=true").json()
    assert len(first["value"]) == 1 and first["@odata.count"] == len(listed)
    assert "$skiptoken=" in first["@odata.nextLink"]
    items, _, pages = graph.follow("/teams?$top=1")
    assert [t["id"] for t in items] == [t["id"] for t in listed] and pages == len(listed)


# -- 2: the groups behind teams -----------------------------------------------------------------------
def test_groups_filter_lists_team_backed_groups(graph: GraphTestClient) -> None:
    teams = {t["id"]: t for t in graph.get("/teams").json()["value"]}
    r = graph.get("/groups?$filter=resourceProvisioningOptions/Any(x:x eq 'Team')")
    assert r.status_code == 200
    groups = r.json()["value"]
    assert {g["id"] for g in groups} == set(teams)
    for group in groups:
        assert group["resourceProvisioningOptions"] == ["Team"] and group["groupTypes"] == ["Unified"]
        assert group["displayName"] == teams[group["id"]]["displayName"] and group["mailEnabled"] is True
    assert {g["id"] for g in graph.get("/groups").json()["value"]} == set(teams)
    selected = graph.get("/groups?$select=id,resourceProvisioningOptions").json()["value"]
    assert all(set(g) == {"id", "resourceProvisioningOptions"} for g in selected)
    one = graph.get(f"/groups/{groups[0]['id']}")
    assert one.status_code == 200 and one.json()["id"] == groups[0]["id"]
    assert graph.get("/groups/00000000-0000-0000-0000-000000000000").status_code == 404


# -- 5: chat list options, viewpoint, lastMessagePreview, meeting chats --------------------------------
def test_chat_list_expands_orders_and_carries_viewpoint(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    url = f"/users/{user}/chats"
    chats = graph.get(f"{url}?$expand=lastMessagePreview,members&$orderby=lastMessagePreview/createdDateTime desc"
                      ).json()["value"]
    meeting = [c for c in chats if c["chatType"] == "meeting"]
    assert meeting and meeting[0]["id"].startswith("19:meeting_") and meeting[0]["onlineMeetingInfo"]["joinWebUrl"]
    previews = [c["lastMessagePreview"] for c in chats]
    assert all(set(p) == {"id", "createdDateTime", "isDeleted", "messageType", "eventDetail", "body", "from"}
               for p in previews)
    stamps = [p["createdDateTime"] for p in previews]
    assert stamps == sorted(stamps, reverse=True)
    assert all(c["members"] for c in chats)
    assert all(c["viewpoint"] is None for c in chats), "viewpoint is populated only in a delegated context"
    state = dict(_chats(sim, user))
    for chat in chats:
        newest = max(state[chat["id"]]["messages"].values(), key=lambda m: int(m["id"]))
        assert chat["lastMessagePreview"]["id"] == newest["id"]
    assert "lastMessagePreview" not in graph.get(url).json()["value"][0]
    for bad in ("$orderby=lastMessagePreview/createdDateTime asc", "$orderby=topic", "$expand=messages"):
        assert graph.get(f"{url}?{bad}").status_code == 400, bad

    mine = _as(graph, _delegated_token(sim, graph, user), "GET", "/me/chats").json()["value"]
    assert all(set(c["viewpoint"]) == {"isHidden", "lastMessageReadDateTime"} for c in mine)
    assert {c["id"] for c in mine} == set(state)


# -- 3: channel messages in reply-chain order --------------------------------------------------------
def test_a_reply_moves_its_post_to_the_top_of_the_channel(sim: Simulator, graph: GraphTestClient) -> None:
    team, channel, seeded = _first_channel(sim)
    url = f"/teams/{team}/channels/{quote(channel)}/messages"
    before = [m["id"] for m in graph.get(url).json()["value"]]
    oldest = before[-1]
    sim.control("post_channel_reply", team=team, channel=channel, message=oldest, text="bumping this")
    after = [m["id"] for m in graph.get(url).json()["value"]]
    assert after[0] == oldest and after[1:] == before[:-1]
    replied = graph.get(f"{url}?$expand=replies&$top=1").json()["value"][0]
    assert any("bumping this" in r["body"]["content"] for r in replied["replies"])


# -- 4: getAllMessages filters and system event messages ----------------------------------------------
def test_get_all_messages_filters_and_system_events(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    url = f"/users/{user}/chats/getAllMessages"
    everything, _, _ = graph.follow(f"{url}?$top=50")
    events = [m for m in everything if m["messageType"] == "systemEventMessage"]
    assert events and all(m["from"] is None and m["eventDetail"]["@odata.type"].endswith("EventMessageDetail")
                          for m in events)
    plain, _, _ = graph.follow(f"{url}?$filter=messageType ne 'systemEventMessage'")
    assert len(plain) == len(everything) - len(events)
    own, _, _ = graph.follow(f"{url}?$filter=from/user/id eq '{user}'")
    assert own and all(m["from"]["user"]["id"] == user for m in own)
    either, _, _ = graph.follow(f"{url}?$filter=from/user/id eq '{user}' or messageType eq 'systemEventMessage'")
    assert len(either) == len(own) + len(events)
    aad, _, _ = graph.follow(f"{url}?$filter=from/user/userIdentityType eq 'aadUser'")
    assert len(aad) == len(plain)
    bots, _, _ = graph.follow(f"{url}?$filter=from/application/applicationIdentityType eq 'bot'")
    assert bots == []
    stamps = sorted(m["lastModifiedDateTime"] for m in everything)
    window = f"lastModifiedDateTime gt {stamps[0]} and lastModifiedDateTime lt {stamps[-1]}"
    combined, _, _ = graph.follow(f"{url}?$filter={window} and (messageType ne 'systemEventMessage' or "
                                  f"from/user/id eq '{user}')")
    assert {m["id"] for m in combined} == {m["id"] for m in plain if stamps[0] < m["lastModifiedDateTime"] < stamps[-1]}
    for bad in ("createdDateTime gt 2026-01-01T00:00:00Z", "subject eq 'x'", "messageType gt 'x'"):
        assert graph.get(f"{url}?$filter={bad}").status_code == 400, bad

    _, _, general = _first_channel(sim)
    channel_events = [m for m in general["messages"].values() if m["messageType"] == "systemEventMessage"]
    assert channel_events and channel_events[0]["eventDetail"]["members"]


# -- 8: channel message delta window and $top ---------------------------------------------------------
def test_channel_delta_keeps_the_eight_month_window(tmp_path: Path) -> None:
    sim = start_simulator(tmp_path / "sim", now=datetime(2026, 11, 1, 9, 30, tzinfo=UTC))
    graph = GraphTestClient(sim)
    try:
        _check_delta_window(sim, graph)
    finally:
        graph.http.close()
        sim.stop()


def _check_delta_window(sim: Simulator, graph: GraphTestClient) -> None:
    teams = sim.control("teams_state")
    team = sorted(teams)[0]
    channel = next(k for k, c in teams[team]["channels"].items() if c["channel"]["displayName"] == "Announcements")
    posts = teams[team]["channels"][channel]["messages"]
    window = sim.control("channel_delta_window")
    assert window == "2026-03-01T09:00:00.000Z", "eight months before the seeded tenant's now (floored to the hour)"
    old = {k for k, p in posts.items() if p["lastModifiedDateTime"] < window}
    assert old and len(old) < len(posts), "seeded posts on both sides of the window"
    listed = graph.get(f"/teams/{team}/channels/{quote(channel)}/messages").json()["value"]
    assert {m["id"] for m in listed} == set(posts), "the list has no window"
    url = f"/teams/{team}/channels/{quote(channel)}/messages/delta?$top=2"
    first = graph.get(url).json()
    assert len(first["value"]) <= 2 and "@odata.nextLink" in first
    items, delta_link, _ = graph.follow(url)
    assert {m["id"] for m in items} == set(posts) - old
    edited = sorted(old)[0]
    sim.control("edit_channel_message", team=team, channel=channel, message=edited, text="revived")
    assert {m["id"] for m in graph.follow(delta_link)[0]} == {edited}, "an edit brings a post back into the window"


# -- 10: control calls that change Teams between syncs ------------------------------------------------
def test_control_changes_membership_channels_and_messages(sim: Simulator, graph: GraphTestClient) -> None:
    users = _users(graph)
    chat, state = _chats(sim, users[0], "group")[0]
    outsider = sim.control("create_user", fields={"userPrincipalName": "newbie@contoso.com",
                                                  "displayName": "New Bie"})["id"]
    before = state["chat"]["lastUpdatedDateTime"]
    member = sim.control("add_chat_member", chat=chat, user=outsider, by=users[0])
    assert member["userId"] == outsider and chat in dict(_chats(sim, outsider))
    messages = graph.get(f"/chats/{quote(chat)}/messages?$top=1").json()["value"]
    assert messages[0]["eventDetail"]["@odata.type"] == "#microsoft.graph.membersAddedEventMessageDetail"
    assert graph.get(f"/chats/{quote(chat)}").json()["lastUpdatedDateTime"] > before

    sim.control("leave_chat", chat=chat, user=outsider)
    assert chat not in {c["id"] for c in graph.get(f"/users/{outsider}/chats").json()["value"]}
    left = graph.get(f"/chats/{quote(chat)}/messages?$top=1").json()["value"][0]
    assert left["eventDetail"]["@odata.type"] == "#microsoft.graph.membersLeftEventMessageDetail"
    assert left["eventDetail"]["initiator"]["user"]["id"] == outsider
    sim.control("add_chat_member", chat=chat, user=outsider)
    sim.control("remove_chat_member", chat=chat, user=outsider, by=users[0])
    removed = graph.get(f"/chats/{quote(chat)}/messages?$top=1").json()["value"][0]
    assert removed["eventDetail"]["@odata.type"] == "#microsoft.graph.membersDeletedEventMessageDetail"

    target = next(m for m in state["messages"].values() if m["messageType"] == "message")
    edited = sim.control("edit_chat_message", chat=chat, message=target["id"], text="fixed")
    assert edited["lastEditedDateTime"] and edited["lastModifiedDateTime"] > target["lastModifiedDateTime"]
    deleted = sim.control("delete_chat_message", chat=chat, message=target["id"])
    assert deleted["deletedDateTime"] == deleted["lastModifiedDateTime"]
    got = graph.get(f"/chats/{quote(chat)}/messages/{target['id']}").json()
    assert got["deletedDateTime"] and got["body"]["content"] == ""

    team, _, _ = _first_channel(sim)
    created = sim.control("create_channel", team=team, name="Launch room", description="for the launch")
    names = {c["displayName"] for c in graph.get(f"/teams/{team}/channels").json()["value"]}
    assert "Launch room" in names
    post = sim.control("post_channel_message", team=team, channel=created["id"], text="first!", user=users[1])
    reply = sim.control("post_channel_reply", team=team, channel=created["id"], message=post["id"], text="second")
    assert reply["replyToId"] == post["id"]
    sim.control("delete_channel", team=team, channel=created["id"])
    assert graph.get(f"/teams/{team}/channels/{quote(created['id'])}").status_code == 404
