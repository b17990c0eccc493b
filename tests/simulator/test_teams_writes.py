"""Teams writes as Graph v1.0 documents them: message PATCH by permission type (chatmessage-update.md),
softDelete/undoSoftDelete (chatmessage-softdelete.md, chatmessage-undosoftdelete.md), no DELETE of a
message, chat member Location (chat-post-members.md), and shared channels created through an operation
(channel-post.md)."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient
from tests.simulator.test_teams import _first_channel

VIOLATION = {"policyViolation": {  # chatmessage-update.md, example 1
    "policyTip": {"generalText": "This item has been blocked by the administrator.",
                  "complianceUrl": "https://contoso.com/dlp-policy-page",
                  "matchedConditionDescriptions": ["Credit Card Number"]},
    "verdictDetails": "AllowOverrideWithoutJustification,AllowFalsePositiveOverride", "dlpAction": "BlockAccess"}}
EDIT = {"body": {"contentType": "text", "content": "Edit text only"}}


def delegated_token(sim: Simulator, graph: GraphTestClient, user: str) -> str:
    """A device-code token for `user` with every delegated permission (`.default`)."""
    ep = sim.endpoints
    flow = graph.http.post(ep.token_url.replace("/token", "/devicecode"),
                           data={"client_id": ep.client_id, "scope": f"{ep.origin}/.default offline_access"}).json()
    assert sim.control("approve_device_code", user_code=flow["user_code"], user=user)
    r = graph.http.post(ep.token_url, data={"client_id": ep.client_id, "device_code": flow["device_code"],
                                            "grant_type": "urn:ietf:params:oauth:grant-type:device_code"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def as_user(graph: GraphTestClient, token: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    url = path if path.startswith("https://") else graph.api + path
    return graph.http.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs)  # type: ignore[arg-type]


def group_chat(sim: Simulator, user: str) -> tuple[str, dict]:
    return next((k, v) for k, v in sorted(sim.control("chats_state", user=user).items())
                if v["chat"]["chatType"] == "group")


def user_message(state: dict) -> dict:
    return next(m for _, m in sorted(state["messages"].items()) if m["messageType"] == "message")


# -- 1: PATCH of a message -------------------------------------------------------------------------------
def test_app_only_patch_changes_policy_violation_only_and_answers_200(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    chat, state = group_chat(sim, user)
    message = user_message(state)
    url = f"/chats/{quote(chat)}/messages/{message['id']}"
    for body in (EDIT, {**EDIT, **VIOLATION}, {"importance": "urgent"}):
        refused = graph.patch(url, json=body)
        assert refused.status_code == 412, refused.text
        assert refused.json()["error"]["code"] == "PreconditionFailed"
    assert graph.patch(url + "?model=B", json=VIOLATION).status_code == 400, "model only supports A"
    done = graph.patch(url, json=VIOLATION)
    assert done.status_code == 200 and done.content == b""
    after = graph.get(url).json()
    assert after["policyViolation"] == VIOLATION["policyViolation"]
    assert after["body"] == message["body"] and after["lastEditedDateTime"] is None, "only policyViolation changed"

    team, channel, seeded = _first_channel(sim)
    post = sorted(seeded["messages"])[-1]
    c = f"/teams/{team}/channels/{quote(channel)}/messages/{post}"
    assert graph.patch(c, json=EDIT).status_code == 412
    assert graph.patch(c, json=VIOLATION).status_code == 200
    assert graph.get(c).json()["policyViolation"]["dlpAction"] == "BlockAccess"


def test_delegated_patch_changes_any_property_but_policy_violation_with_204(sim: Simulator,
                                                                            graph: GraphTestClient) -> None:
    user = graph.first_user()
    token = delegated_token(sim, graph, user)
    chat, state = group_chat(sim, user)
    message = user_message(state)
    url = f"/chats/{quote(chat)}/messages/{message['id']}"
    assert as_user(graph, token, "PATCH", url, json=VIOLATION).status_code == 400
    # chatmessage-update.md, example 2: the whole message comes back, with the new text.
    whole = {"messageType": "message", "subject": None, "summary": None, "importance": "normal", "locale": "en-us",
             "from": message["from"], "attachments": [], "mentions": [], "reactions": [], **EDIT}
    r = as_user(graph, token, "PATCH", url, json=whole)
    assert r.status_code == 204 and r.content == b""
    after = graph.get(url).json()
    assert after["body"]["content"] == "Edit text only" and after["lastEditedDateTime"]
    assert after["from"] == message["from"] and after["createdDateTime"] == message["createdDateTime"]
    assert as_user(graph, token, "PATCH", url, json={"nonsense": 1}).status_code == 400

    team, channel, seeded = _first_channel(sim)
    post = sorted(seeded["messages"])[-1]
    base = f"/teams/{team}/channels/{quote(channel)}/messages/{post}"
    assert as_user(graph, token, "PATCH", base, json=EDIT).status_code == 204
    reply = sim.control("post_channel_reply", team=team, channel=channel, message=post, text="first reply")
    r = as_user(graph, token, "PATCH", f"{base}/replies/{reply['id']}", json=EDIT)
    assert r.status_code == 204
    got = graph.get(f"{base}/replies/{reply['id']}").json()
    assert got["body"]["content"] == "Edit text only" and got["replyToId"] == post
    assert graph.patch(f"{base}/replies/{reply['id']}", json=EDIT).status_code == 412, "app-only: 412 for a reply too"


# -- 2: softDelete / undoSoftDelete ------------------------------------------------------------------------
def test_soft_delete_and_undo_are_delegated_only_204(sim: Simulator, graph: GraphTestClient) -> None:
    users = [u["id"] for u in graph.get("/users").json()["value"]]
    user = users[0]
    token = delegated_token(sim, graph, user)
    chat, state = group_chat(sim, user)
    message = user_message(state)
    action = f"/users/{user}/chats/{quote(chat)}/messages/{message['id']}"
    refused = graph.post(f"{action}/softDelete")
    assert refused.status_code == 412, "Application: Not supported"
    assert refused.json()["error"]["code"] == "PreconditionFailed"
    done = as_user(graph, token, "POST", f"{action}/softDelete")
    assert done.status_code == 204 and done.content == b""
    gone = graph.get(f"/chats/{quote(chat)}/messages/{message['id']}").json()
    assert gone["deletedDateTime"] and gone["body"]["content"] == ""
    assert as_user(graph, token, "POST", f"/me/chats/{quote(chat)}/messages/{message['id']}/undoSoftDelete"
                   ).status_code == 204
    back = graph.get(f"/chats/{quote(chat)}/messages/{message['id']}").json()
    assert back["deletedDateTime"] is None and back["body"] == message["body"]
    other = f"/users/{users[1]}/chats/{quote(chat)}/messages/{message['id']}/softDelete"
    assert as_user(graph, token, "POST", other).status_code == 403, "only under the signed-in user"

    team, channel, seeded = _first_channel(sim)
    post = sorted(seeded["messages"])[-1]
    base = f"/teams/{team}/channels/{quote(channel)}/messages/{post}"
    reply = sim.control("post_channel_reply", team=team, channel=channel, message=post, text="to delete")
    assert graph.post(f"{base}/softDelete").status_code == 412
    assert graph.post(f"{base}/replies/{reply['id']}/undoSoftDelete").status_code == 412
    assert as_user(graph, token, "POST", f"{base}/replies/{reply['id']}/softDelete").status_code == 204
    assert graph.get(f"{base}/replies/{reply['id']}").json()["deletedDateTime"]
    assert as_user(graph, token, "POST", f"{base}/softDelete").status_code == 204
    assert as_user(graph, token, "POST", f"{base}/undoSoftDelete").status_code == 204
    assert graph.get(base).json()["deletedDateTime"] is None


# -- 8: no DELETE of a message ----------------------------------------------------------------------------
def test_delete_of_a_message_is_not_a_v1_operation(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    token = delegated_token(sim, graph, user)
    chat, state = group_chat(sim, user)
    message = user_message(state)
    team, channel, seeded = _first_channel(sim)
    post = sorted(seeded["messages"])[-1]
    reply = sim.control("post_channel_reply", team=team, channel=channel, message=post, text="stays")
    c = f"/teams/{team}/channels/{quote(channel)}/messages/{post}"
    for path in (f"/chats/{quote(chat)}/messages/{message['id']}", c, f"{c}/replies/{reply['id']}"):
        for r in (graph.delete(path), as_user(graph, token, "DELETE", path)):
            assert r.status_code == 404, f"{path}: {r.status_code}"
            assert r.json()["error"]["code"] == "NotFound" and "softDelete" in r.json()["error"]["message"]
        assert graph.get(path).json()["deletedDateTime"] is None, "nothing was deleted"


# -- 4: chat member Location -------------------------------------------------------------------------------
def test_adding_a_chat_member_answers_201_with_a_location(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    chat, _ = group_chat(sim, user)
    newcomer = sim.control("create_user", fields={"userPrincipalName": "newcomer@contoso.com",
                                                  "displayName": "New Comer"})["id"]
    # chat-post-members.md, example 1: the path form of user@odata.bind and a visible history start.
    r = graph.post(f"/chats/{quote(chat)}/members", json={
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "user@odata.bind": f"https://graph.microsoft.com/v1.0/users/{newcomer}",
        "visibleHistoryStartDateTime": "2019-04-18T23:51:43.255Z", "roles": ["owner"]})
    assert r.status_code == 201
    location = r.headers["location"]
    assert location.startswith(f"/chats/{chat}/members/"), location
    member = graph.get(quote(location, safe="/:@=")).json()
    assert member["userId"] == newcomer and member["roles"] == ["owner"]
    assert member["visibleHistoryStartDateTime"] == "2019-04-18T23:51:43.255Z"


# -- 5: shared channels ------------------------------------------------------------------------------------
def test_a_shared_channel_is_created_through_an_operation(sim: Simulator, graph: GraphTestClient) -> None:
    team, _, _ = _first_channel(sim)
    owner = next(m["userId"] for m in sim.control("teams_state")[team]["members"] if "owner" in m["roles"])
    member = {"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": ["owner"],
              "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{owner}')"}
    standard = graph.post(f"/teams/{team}/channels", json={"displayName": "Standard one", "membershipType": "standard"})
    private = graph.post(f"/teams/{team}/channels", json={"displayName": "Private one", "membershipType": "private",
                                                          "members": [member]})
    assert standard.status_code == private.status_code == 201
    assert private.json()["membershipType"] == "private" and private.json()["id"]
    assert graph.post(f"/teams/{team}/channels", json={"displayName": "x" * 51}).status_code == 400
    two_owners = graph.post(f"/teams/{team}/channels", json={"displayName": "Two owners", "membershipType": "shared",
                                                             "members": [member, {**member, "user@odata.bind":
                                                                                  "users('x')"}]})
    assert two_owners.status_code == 400, "shared channels start with one owner (channel-post.md)"

    r = graph.post(f"/teams/{team}/channels", json={"displayName": "Shared one", "membershipType": "shared",
                                                    "members": [member]})
    assert r.status_code == 202 and r.content == b""
    assert r.headers["location"].startswith(f"/teams('{team}')/operations('")
    assert r.headers["content-location"].startswith(f"/teams('{team}')/channels('19:")
    names = lambda: {c["displayName"] for c in graph.get(f"/teams/{team}/channels").json()["value"]}  # noqa: E731
    assert "Shared one" not in names(), "the channel exists once the operation succeeds"
    first = graph.get(r.headers["location"]).json()
    assert first["status"] == "notStarted" and first["operationType"] == "unknownFutureValue"
    evolvable = graph.get(r.headers["location"], headers={"Prefer": "include-unknown-enum-members"}).json()
    assert evolvable["operationType"] == "createChannel" and evolvable["status"] == "inProgress"
    assert graph.get(r.headers["location"]).json()["status"] == "succeeded"
    assert "Shared one" in names()
    channel = graph.get(r.headers["content-location"]).json()
    assert channel["membershipType"] == "shared" and channel["displayName"] == "Shared one"
    members = graph.get(r.headers["content-location"] + "/members").json()["value"]
    assert [m["userId"] for m in members] == [owner]
