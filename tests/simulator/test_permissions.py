"""Permissions: `roles`/`scp` claims, withheld permissions, Graph's 403 per workload, and the
device code / refresh token lifecycle (rotation, revocation, inactivity) as Entra answers it."""

from __future__ import annotations

from pathlib import Path

import httpx
import msal
import pytest

from connectors.graph.auth import MsalHttpAdapter
from connectors.simulator import content
from connectors.simulator.grants import read_claims
from connectors.simulator.permissions import RULES, application_permissions, need_of
from connectors.simulator.server import Simulator
from connectors.simulator.tenant import TenantConfig
from tests.conftest import GraphTestClient


def _app_token(sim: Simulator, http: httpx.Client) -> str:
    ep = sim.endpoints
    r = http.post(ep.token_url, data={"client_id": ep.client_id, "client_secret": ep.client_secret,
                                      "grant_type": "client_credentials", "scope": f"{ep.origin}/.default"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def _device_code(sim: Simulator, http: httpx.Client, user: str, scope: str) -> dict:
    """The device code flow over raw HTTP: ask for a code, approve it as `user`, redeem it."""
    ep = sim.endpoints
    flow = http.post(f"{ep.authority}/oauth2/v2.0/devicecode", data={"client_id": ep.client_id, "scope": scope})
    assert flow.status_code == 200, flow.text
    code = flow.json()
    assert sim.control("pending_device_codes") == [code["user_code"]]
    assert sim.control("approve_device_code", user_code=code["user_code"], user=user)
    r = http.post(ep.token_url, data={"client_id": ep.client_id, "device_code": code["device_code"],
                                      "grant_type": "urn:ietf:params:oauth:grant-type:device_code"})
    assert r.status_code == 200, r.text
    return r.json()


def _refresh(sim: Simulator, http: httpx.Client, refresh_token: str, scope: str = "") -> httpx.Response:
    ep = sim.endpoints
    data = {"client_id": ep.client_id, "grant_type": "refresh_token", "refresh_token": refresh_token}
    if scope:
        data["scope"] = scope
    return http.post(ep.token_url, data=data)


def _get(http: httpx.Client, sim: Simulator, path: str, token: str) -> httpx.Response:
    return http.get(sim.endpoints.api_url + path, headers={"Authorization": f"Bearer {token}"})


# -- claims ------------------------------------------------------------------------------------------
def test_app_token_carries_every_application_role_by_default(sim: Simulator, graph: GraphTestClient) -> None:
    claims = read_claims(graph.token)
    assert claims["idtyp"] == "app" and "scp" not in claims
    assert set(claims["roles"]) == application_permissions()
    assert {"Mail.Read", "Calendars.Read", "User.Read.All", "Files.Read.All", "Chat.Read.All",
            "ChannelMessage.Read.All", "Teamwork.Migrate.All"} <= set(claims["roles"])
    assert claims["tid"] == sim.endpoints.tenant_id and claims["appid"] == sim.endpoints.client_id


def test_delegated_token_carries_the_requested_scopes_as_scp(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    origin = sim.endpoints.origin
    body = _device_code(sim, graph.http, user, f"{origin}/Mail.Read {origin}/Calendars.Read offline_access openid")
    claims = read_claims(body["access_token"])
    assert claims["idtyp"] == "user" and claims["oid"] == user and "roles" not in claims
    # User.Read is every app registration's default permission; offline_access never shows in scp.
    assert sorted(claims["scp"].split()) == ["Calendars.Read", "Mail.Read", "User.Read", "openid"]
    assert body["refresh_token"] and f"{origin}/Mail.Read" in body["scope"].split()
    assert _get(graph.http, sim, "/me/messages", body["access_token"]).status_code == 200
    assert _get(graph.http, sim, "/me/events", body["access_token"]).status_code == 200
    files = _get(graph.http, sim, "/me/drive/root/children", body["access_token"])
    assert files.status_code == 403 and files.json()["error"]["code"] == "accessDenied"


# -- the table and Graph's 403 bodies ----------------------------------------------------------------
def test_every_route_has_a_permission_rule(sim: Simulator) -> None:
    missing = [f"{r.method} {'/'.join(r.pattern)}" for r in sim.app.router._routes
               if need_of(r.method, "/".join(r.pattern)) is None]
    assert not missing
    assert all(rule.need.doc.endswith(".md") for rule in RULES)
    assert sim.control("permission_table")[0]["doc"]


@pytest.mark.parametrize(("denied", "path", "status", "code", "message"), [
    (["Mail.ReadBasic.All", "Mail.Read", "Mail.ReadWrite"], "/users/{u}/messages", 403, "ErrorAccessDenied",
     "Access is denied. Check credentials and try again."),
    (["Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite"], "/users/{u}/events", 403,
     "ErrorAccessDenied", "Access is denied. Check credentials and try again."),
    (["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"], "/users", 403,
     "Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
    (["Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All"], "/users/{u}/drive", 403,
     "accessDenied", "The caller doesn't have permission to perform the action."),
    (["ChannelMessage.Read.All"], "/teams/{t}/channels/{c}/messages", 403, "Forbidden",
     "Missing role permissions on the request. API requires one of 'ChannelMessage.Read.All'."),
])
def test_missing_permission_is_answered_as_the_workload_answers(
        sim: Simulator, graph: GraphTestClient, denied: list[str], path: str, status: int, code: str,
        message: str) -> None:
    user = graph.first_user()
    team = graph.get("/teams").json()["value"][0]["id"]
    channel = graph.get(f"/teams/{team}/channels").json()["value"][0]["id"]
    url = path.format(u=user, t=team, c=channel)
    assert graph.get(url).status_code == 200
    assert sim.control("set_denied", permissions=denied) == sorted(denied)
    assert graph.get(url).status_code == 200, "tokens already issued keep their roles"
    token = _app_token(sim, graph.http)
    assert not set(denied) & set(read_claims(token)["roles"])
    r = _get(graph.http, sim, url, token)
    assert r.status_code == status
    error = r.json()["error"]
    assert error["code"] == code and error["message"].startswith(message)
    assert "request-id" in error["innerError"]
    sim.control("set_denied", permissions=[])
    assert _get(graph.http, sim, url, _app_token(sim, graph.http)).status_code == 200


def test_a_higher_privileged_permission_satisfies_a_lower_one(tmp_path: Path) -> None:
    """Mail.ReadWrite alone still reads mail; Teams refuses posting without Teamwork.Migrate.All."""
    mail = {"Mail.ReadBasic.All", "Mail.Read"}
    sim = Simulator(TenantConfig(scale=content.SCALES["tiny"]), state_dir=tmp_path, denied=mail).start()
    try:
        graph = GraphTestClient(sim)
        roles = set(read_claims(graph.token)["roles"])
        assert "Mail.ReadWrite" in roles and not mail & roles
        assert graph.get(f"/users/{graph.first_user()}/messages").status_code == 200
    finally:
        sim.stop()


def test_denied_scopes_are_withheld_from_delegated_tokens(sim: Simulator, graph: GraphTestClient) -> None:
    sim.control("set_denied", permissions=["Mail.Read"])
    origin = sim.endpoints.origin
    body = _device_code(sim, graph.http, graph.first_user(), f"{origin}/Mail.Read {origin}/Calendars.Read")
    assert "Mail.Read" not in read_claims(body["access_token"])["scp"].split()
    r = _get(graph.http, sim, "/me/messages", body["access_token"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "ErrorAccessDenied"
    chats = _get(graph.http, sim, "/me/chats", body["access_token"])
    assert chats.status_code == 403 and chats.json()["error"]["message"].startswith(
        "Missing scope permissions on the request. API requires one of 'Chat.ReadBasic, Chat.Read, Chat.ReadWrite'.")


# -- refresh tokens ----------------------------------------------------------------------------------
def test_refresh_tokens_rotate_and_the_old_one_stays_valid(sim: Simulator, graph: GraphTestClient) -> None:
    """Entra's refresh-tokens.md: a refresh token is replaced on every use; the old one is not revoked."""
    origin = sim.endpoints.origin
    first = _device_code(sim, graph.http, graph.first_user(), f"{origin}/Mail.Read offline_access")
    mark = sim.control("journal_mark")
    second = _refresh(sim, graph.http, first["refresh_token"], f"{origin}/Mail.Read offline_access")
    assert second.status_code == 200, second.text
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert "Mail.Read" in read_claims(second.json()["access_token"])["scp"].split()
    assert _refresh(sim, graph.http, first["refresh_token"]).status_code == 200
    grants = [e["grant_type"] for e in sim.control("token_grants", since=mark)]
    assert grants == ["refresh_token", "refresh_token"], "a refresh grant and no new device code"
    assert [e["grant_type"] for e in sim.control("journal", since=mark, grants=True)] == grants
    assert not sim.control("journal", since=mark), "the default journal holds Graph requests only"
    more = _refresh(sim, graph.http, second.json()["refresh_token"], f"{origin}/Files.Read")
    assert more.status_code == 400 and "AADSTS65001" in more.json()["error_description"]


def test_revoked_refresh_tokens_are_invalid_grant_aadsts50173(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    body = _device_code(sim, graph.http, user, f"{sim.endpoints.origin}/Mail.Read")
    assert sim.control("revoke_refresh_tokens", user=user) == 1
    r = _refresh(sim, graph.http, body["refresh_token"])
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant" and r.json()["error_codes"] == [50173]
    assert r.json()["error_description"].startswith("AADSTS50173: The provided grant has expired due to it being "
                                                    "revoked")
    entry = sim.control("token_grants")[-1]
    assert (entry["grant_type"], entry["status"], entry["user"]) == ("refresh_token", 400, user)
    assert _get(graph.http, sim, "/me", body["access_token"]).status_code == 200, "access tokens live on"


def test_idle_refresh_tokens_are_invalid_grant_aadsts700082(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    body = _device_code(sim, graph.http, user, f"{sim.endpoints.origin}/Mail.Read")
    sim.control("idle_refresh_tokens", user=user, days=30)
    assert _refresh(sim, graph.http, body["refresh_token"]).status_code == 200, "30 idle days are fine"
    sim.control("idle_refresh_tokens", user=user, days=91)
    r = _refresh(sim, graph.http, body["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert r.json()["error_description"].startswith("AADSTS700082: The refresh token has expired due to inactivity.")


def test_msal_refreshes_silently_with_a_refresh_grant(sim: Simulator, graph: GraphTestClient) -> None:
    """An expired access token: MSAL's acquire_token_silent redeems the refresh token, no device code."""
    ep = sim.endpoints
    app = msal.PublicClientApplication(ep.client_id, authority=ep.authority, instance_discovery=False,
                                       http_client=MsalHttpAdapter(ca_bundle=str(ep.ca_path)))
    scopes = [f"{ep.origin}/Mail.Read"]
    flow = app.initiate_device_flow(scopes=scopes)
    assert sim.control("approve_device_code", user_code=flow["user_code"], user=graph.first_user())
    assert "access_token" in app.acquire_token_by_device_flow(flow)
    mark = sim.control("journal_mark")
    sim.control("expire_tokens")
    account = app.get_accounts()[0]
    result = app.acquire_token_silent(scopes, account=account, force_refresh=True)
    assert result and "access_token" in result, result
    assert _get(graph.http, sim, "/me/messages", result["access_token"]).status_code == 200
    grants = [e["grant_type"] for e in sim.control("token_grants", since=mark)]
    assert grants == ["refresh_token"], "a refresh grant and no new device code"
