"""Entra endpoints with the real MSAL library over HTTPS, and bearer-token checks on the API."""

from __future__ import annotations

import msal
import pytest

from connectors.graph.auth import MsalHttpAdapter
from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient


def _confidential(sim: Simulator, secret: str | None = None) -> msal.ConfidentialClientApplication:
    ep = sim.endpoints
    return msal.ConfidentialClientApplication(
        ep.client_id, client_credential=secret or ep.client_secret, authority=ep.authority,
        instance_discovery=False, http_client=MsalHttpAdapter(ca_bundle=str(ep.ca_path)),
    )


def test_msal_client_credentials_over_https(sim: Simulator) -> None:
    app = _confidential(sim)
    scope = [f"{sim.endpoints.origin}/.default"]
    first = app.acquire_token_for_client(scopes=scope)
    assert first["token_type"] == "Bearer" and first["expires_in"] > 300
    second = app.acquire_token_for_client(scopes=scope)
    assert second["access_token"] == first["access_token"]
    assert second.get("token_source") == "cache"
    assert sim.control("tokens_issued") == 1


def test_wrong_secret_is_invalid_client_with_aadsts7000215(sim: Simulator) -> None:
    result = _confidential(sim, secret="not-the-secret").acquire_token_for_client(
        scopes=[f"{sim.endpoints.origin}/.default"])
    assert result["error"] == "invalid_client"
    assert "AADSTS7000215" in result["error_description"]
    assert 7000215 in result["error_codes"]


def test_unknown_tenant_and_client(sim: Simulator, graph: GraphTestClient) -> None:
    ep = sim.endpoints
    r = graph.http.get(f"{ep.origin}/nope.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    assert r.status_code == 400 and "AADSTS90002" in r.json()["error_description"]
    r = graph.http.post(ep.token_url, data={"client_id": "someone-else", "client_secret": "x",
                                            "grant_type": "client_credentials", "scope": "x/.default"})
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"


def test_device_code_flow_gives_a_delegated_token_for_me(sim: Simulator, graph: GraphTestClient) -> None:
    ep = sim.endpoints
    user = graph.first_user()
    app = msal.PublicClientApplication(ep.client_id, authority=ep.authority, instance_discovery=False,
                                       http_client=MsalHttpAdapter(ca_bundle=str(ep.ca_path)))
    flow = app.initiate_device_flow(scopes=[f"{ep.origin}/Mail.Read"])
    assert "user_code" in flow, flow
    assert sim.control("approve_device_code", user_code=flow["user_code"], user=user)
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    me = graph.http.get(f"{ep.api_url}/me", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == user
    other = graph.get("/users").json()["value"][1]["id"]
    denied = graph.http.get(f"{ep.api_url}/users/{other}/messages",
                            headers={"Authorization": f"Bearer {result['access_token']}"})
    assert denied.status_code == 403


def test_me_needs_a_delegated_token(graph: GraphTestClient) -> None:
    r = graph.get("/me")
    assert r.status_code == 400
    assert "delegated" in r.json()["error"]["message"]


@pytest.mark.parametrize("header", [None, "Bearer not-a-token"])
def test_missing_or_unknown_token_is_401(graph: GraphTestClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    r = graph.http.get(graph.api + "/users", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_expired_token_is_401_until_renewed(sim: Simulator, graph: GraphTestClient) -> None:
    assert graph.get("/users").status_code == 200
    sim.control("expire_tokens")
    r = graph.get("/users")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "expired" in r.json()["error"]["message"]
    assert "www-authenticate" in r.headers
    graph.token = graph._app_token()
    assert graph.get("/users").status_code == 200
