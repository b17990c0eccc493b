"""Team operations are asynchronous (resources/teamsasyncoperation.md, team-post.md, team-archive.md):
202 and a Location to poll, notStarted -> inProgress -> succeeded, the change only at success; an
archived team is read-only but for membership, until it is unarchived."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import quote

from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient, start_simulator
from tests.simulator.test_teams import _first_channel
from tests.simulator.test_teams_writes import as_user, delegated_token

LOCATION = re.compile(r"/teams\('([0-9a-f-]{36})'\)/operations\('([0-9a-f-]{36})'\)")


def _owner_body(user: str, name: str) -> dict:
    return {"template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')",
            "displayName": name, "members": [{"@odata.type": "#microsoft.graph.aadUserConversationMember",
                                              "roles": ["owner"],
                                              "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{user}')"}]}


def _poll(graph: GraphTestClient, location: str, times: int) -> list[str]:
    return [graph.get(location).json()["status"] for _ in range(times)]


def test_created_team_appears_when_its_operation_succeeds(sim: Simulator, graph: GraphTestClient) -> None:
    owner = graph.first_user()
    r = graph.post("/teams", json=_owner_body(owner, "Async Team"))
    assert r.status_code == 202 and r.content == b""
    m = LOCATION.fullmatch(r.headers["location"])
    assert m and r.headers["content-location"] == f"/teams('{m.group(1)}')"
    team_id = m.group(1)
    first = graph.get(r.headers["location"]).json()
    assert first["status"] == "notStarted" and first["operationType"] == "createTeam"
    assert first["targetResourceId"] == team_id and first["id"] == m.group(2)
    assert graph.get(f"/teams/{team_id}").status_code == 404
    assert team_id not in {t["id"] for t in graph.get("/teams").json()["value"]}
    assert graph.get(f"/users/{owner}/joinedTeams").json()["value"] == [
        t for t in graph.get(f"/users/{owner}/joinedTeams").json()["value"] if t["id"] != team_id]
    second = graph.get(r.headers["location"]).json()
    assert second["status"] == "inProgress" and graph.get(f"/teams/{team_id}").status_code == 404
    third = graph.get(r.headers["location"]).json()
    assert third["status"] == "succeeded" and third["lastActionDateTime"] >= third["createdDateTime"]
    assert graph.get(third["targetResourceLocation"]).json()["displayName"] == "Async Team"
    assert team_id in {t["id"] for t in graph.get(f"/users/{owner}/joinedTeams").json()["value"]}
    assert graph.get(f"/teams('{team_id}')/operations('00000000-0000-0000-0000-000000000000')").status_code == 404


def test_operations_complete_by_themselves_in_time(tmp_path: Path) -> None:
    sim = start_simulator(tmp_path / "sim", team_operation_s=0.3)
    graph = GraphTestClient(sim)
    try:
        owner = graph.first_user()
        r = graph.post("/teams", json=_owner_body(owner, "Unpolled Team"))
        team_id = LOCATION.fullmatch(r.headers["location"]).group(1)  # type: ignore[union-attr]
        assert graph.get(f"/teams/{team_id}").status_code == 404
        time.sleep(0.4)
        assert graph.get(f"/teams/{team_id}").status_code == 200, "nobody polled, the team was created anyway"
        assert graph.get(r.headers["location"]).json()["status"] == "succeeded"
    finally:
        graph.http.close()
        sim.stop()


def test_archived_team_is_read_only_but_for_membership(sim: Simulator, graph: GraphTestClient) -> None:
    team, channel, seeded = _first_channel(sim)
    t, c = f"/teams/{team}", f"/teams/{team}/channels/{quote(channel)}"
    post = sorted(seeded["messages"])[-1]
    text = {"body": {"content": "hello"}}
    r = graph.post(f"{t}/archive")
    assert r.status_code == 202 and LOCATION.fullmatch(r.headers["location"])
    assert graph.get(t).json()["isArchived"] is False, "archived once the operation succeeds (team-archive.md)"
    assert graph.patch(t, json={"description": "still writable"}).status_code == 204
    assert _poll(graph, r.headers["location"], 3) == ["notStarted", "inProgress", "succeeded"]
    assert graph.get(t).json()["isArchived"] is True
    assert all(ch["isArchived"] for ch in graph.get(f"{t}/channels").json()["value"]), "channels are archived too"

    user = graph.first_user()
    token = delegated_token(sim, graph, user)
    refused = [
        graph.patch(t, json={"description": "nope"}),
        graph.post(f"{t}/channels", json={"displayName": "New one"}),
        graph.patch(c, json={"description": "nope"}),
        graph.post(f"{c}/messages", json=text),
        graph.post(f"{c}/messages/{post}/replies", json=text),
        as_user(graph, token, "PATCH", f"{c}/messages/{post}", json={"body": {"content": "edited"}}),
        as_user(graph, token, "POST", f"{c}/messages/{post}/softDelete"),
    ]
    for response in refused:
        assert response.status_code == 403, response.request.url
        assert response.json()["error"]["code"] == "Forbidden" and "archived" in response.json()["error"]["message"]
    newcomer = sim.control("create_user", fields={"userPrincipalName": "late@contoso.com", "displayName": "Late"})
    member = {"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": [],
              "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{newcomer['id']}')"}
    assert graph.post(f"{t}/members", json=member).status_code == 201, "membership changes are still allowed"
    assert graph.get(f"{c}/messages").status_code == 200

    back = graph.post(f"{t}/unarchive")
    assert back.status_code == 202
    assert graph.post(f"{c}/messages", json=text).status_code == 403, "still archived until the operation succeeds"
    assert _poll(graph, back.headers["location"], 3)[-1] == "succeeded"
    assert graph.get(t).json()["isArchived"] is False
    assert as_user(graph, token, "POST", f"{c}/messages", json=text).status_code == 201
    assert graph.patch(t, json={"description": "writable again"}).status_code == 204


def test_operations_on_a_team_complete_in_order(sim: Simulator, graph: GraphTestClient) -> None:
    team, _, _ = _first_channel(sim)
    archive = graph.post(f"/teams/{team}/archive").headers["location"]
    unarchive = graph.post(f"/teams/{team}/unarchive").headers["location"]
    assert _poll(graph, unarchive, 3)[-1] == "succeeded"
    assert graph.get(archive).json()["status"] == "succeeded", "the earlier operation completed first"
    assert graph.get(f"/teams/{team}").json()["isArchived"] is False
    kinds = {op["operationType"]: op["status"] for op in sim.control("team_operations")}
    assert kinds == {"archiveTeam": "succeeded", "unarchiveTeam": "succeeded"}


def test_archive_options_follow_the_permission_type(sim: Simulator, graph: GraphTestClient) -> None:
    team, _, _ = _first_channel(sim)
    body = {"shouldSetSpoSiteReadOnlyForMembers": True}
    refused = graph.post(f"/teams/{team}/archive", json=body)
    assert refused.status_code == 400, "not supported in the application context (team-archive.md)"
    token = delegated_token(sim, graph, graph.first_user())
    assert as_user(graph, token, "POST", f"/teams/{team}/archive", json=body).status_code == 202
