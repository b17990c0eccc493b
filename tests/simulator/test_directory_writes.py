"""Create user validates as the directory does (user-post-users.md; Entra's password and username
policies, concept-sspr-policy.md), and every error's innerError echoes the client-request-id
(concepts/errors.md)."""

from __future__ import annotations

import pytest

from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient

# user-post-users.md, example 1, as published: the UPN is on the tenant's initial onmicrosoft.com domain.
ADELE = {"accountEnabled": True, "displayName": "Adele Vance", "mailNickname": "AdeleV",
         "userPrincipalName": "AdeleV@contoso.onmicrosoft.com",
         "passwordProfile": {"forceChangePasswordNextSignIn": True, "password": "xWwvJ]6NMw+bWH-d"}}


def test_the_documented_example_creates_a_user(graph: GraphTestClient) -> None:
    r = graph.post("/users", json=ADELE)
    assert r.status_code == 201, r.text
    assert r.json()["userPrincipalName"] == "AdeleV@contoso.onmicrosoft.com" and "passwordProfile" not in r.json()
    other = {**ADELE, "userPrincipalName": "AdeleW@contoso.com", "mailNickname": "AdeleW",
             "passwordPolicies": "DisablePasswordExpiration", "employeeType": "Contractor"}
    created = graph.post("/users", json=other)
    assert created.status_code == 201, "any other writable property may be sent"
    assert created.json()["passwordPolicies"] == "DisablePasswordExpiration"
    duplicate = graph.post("/users", json=ADELE)
    assert duplicate.status_code == 400
    assert duplicate.json()["error"]["details"] == [{"code": "ObjectConflict", "target": "userPrincipalName"}]


def test_verified_domains_are_the_organizations(graph: GraphTestClient) -> None:
    org = graph.get("/organization").json()["value"][0]
    names = {d["name"] for d in org["verifiedDomains"]}
    assert names == {"contoso.com", "contoso.onmicrosoft.com"}
    assert [d["name"] for d in org["verifiedDomains"] if d["isInitial"]] == ["contoso.onmicrosoft.com"]
    assert graph.get(f"/organization/{org['id']}").json()["id"] == org["id"]


@pytest.mark.parametrize("missing", ["accountEnabled", "displayName", "mailNickname", "passwordProfile",
                                     "userPrincipalName"])
def test_each_required_property_is_required(graph: GraphTestClient, missing: str) -> None:
    r = graph.post("/users", json={k: v for k, v in ADELE.items() if k != missing})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "Request_BadRequest" and missing in error["message"]
    assert error["details"][0]["target"] == missing


@pytest.mark.parametrize(("upn", "message"), [
    ("b@notmytenant.example", "The domain portion of the userPrincipalName property is invalid"),
    ("someone@fabrikam.com", "You must use one of the verified domain names in your organization"),
    ("no-at-sign.contoso.com", "Property userPrincipalName is invalid"),
    ("dotted.@contoso.com", "Property userPrincipalName is invalid"),
    ("spa ce@contoso.com", "Property userPrincipalName is invalid"),
    ("accént@contoso.com", "Property userPrincipalName is invalid"),
    ("x" * 65 + "@contoso.com", "Property userPrincipalName is invalid"),
])
def test_the_upn_must_be_on_a_verified_domain_and_well_formed(graph: GraphTestClient, upn: str,
                                                              message: str) -> None:
    r = graph.post("/users", json={**ADELE, "userPrincipalName": upn})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "Request_BadRequest" and message in error["message"]
    assert error["details"] == [{"code": "InvalidValue", "target": "userPrincipalName"}]


@pytest.mark.parametrize("password", ["x", "Ab1!xyz", "alllowercaseonly", "lowerandupper", "lower123only",
                                      "ÜnicodeÄ1aa", "A" * 200 + "a1" + "b" * 60])
def test_weak_passwords_are_refused(graph: GraphTestClient, password: str) -> None:
    r = graph.post("/users", json={**ADELE, "passwordProfile": {"password": password}})
    assert r.status_code == 400, password
    assert r.json()["error"]["message"] == ("The specified password does not comply with password complexity "
                                            "requirements. Please provide a different password.")


@pytest.mark.parametrize("password", ["lowerUPPER1", "lower123!!", "UPPER 123 !", "Aa1!Aa1!"])
def test_three_of_four_character_classes_make_a_strong_password(graph: GraphTestClient, password: str) -> None:
    assert graph.post("/users", json={**ADELE, "passwordProfile": {"password": password}}).status_code == 201


def test_disable_strong_password_lifts_complexity_and_patch_checks_new_passwords(graph: GraphTestClient) -> None:
    weak = {**ADELE, "passwordProfile": {"password": "simple"}, "passwordPolicies": "DisableStrongPassword"}
    created = graph.post("/users", json=weak)
    assert created.status_code == 201
    user = graph.post("/users", json={**ADELE, "userPrincipalName": "Strong@contoso.com", "mailNickname": "Strong"})
    url = f"/users/{user.json()['id']}"
    assert graph.patch(url, json={"passwordProfile": {"password": "weak"}}).status_code == 400
    assert graph.patch(url, json={"passwordProfile": {"password": "Better-Pass-42"}}).status_code == 204
    assert graph.patch(url, json={"userPrincipalName": "strong@elsewhere.org"}).status_code == 400
    assert graph.patch(f"/users/{created.json()['id']}", json={"passwordProfile": {"password": "weak"}}
                       ).status_code == 204, "the user's own passwordPolicies apply"


def test_mail_nickname_takes_no_reserved_characters(graph: GraphTestClient) -> None:
    r = graph.post("/users", json={**ADELE, "mailNickname": "naveen.mills,.jr."})  # microsoft-graph-docs#5777
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "Invalid value specified for property 'mailNickname' of resource 'User'."


# -- 7: innerError carries the client's client-request-id ---------------------------------------------------
def test_error_inner_error_echoes_the_client_request_id(sim: Simulator, graph: GraphTestClient) -> None:
    sent = "6f1e2d3c-0000-4000-8000-abcdefabcdef"
    r = graph.get("/users/nobody@contoso.com", headers={"client-request-id": sent})
    assert r.status_code == 404
    inner = r.json()["error"]["innerError"]
    assert inner["client-request-id"] == sent == r.headers["client-request-id"]
    assert inner["request-id"] == r.headers["request-id"] != sent
    assert inner["date"]

    bare = graph.get("/users/nobody@contoso.com")
    inner = bare.json()["error"]["innerError"]
    assert inner["client-request-id"] == inner["request-id"] == bare.headers["request-id"], "none sent: the request-id"

    denied = graph.get("/me", headers={"client-request-id": sent})  # an app-only /me: 400
    assert denied.status_code == 400 and denied.json()["error"]["innerError"]["client-request-id"] == sent
    batch = graph.post("/$batch", headers={"client-request-id": sent}, json={"requests": [
        {"id": "1", "method": "GET", "url": "/users/nobody@contoso.com"},
        {"id": "2", "method": "GET", "url": "/users/nobody@contoso.com", "headers": {"client-request-id": "mine"}}]})
    answers = {a["id"]: a for a in batch.json()["responses"]}
    assert answers["1"]["body"]["error"]["innerError"]["client-request-id"] == sent
    assert answers["2"]["body"]["error"]["innerError"]["client-request-id"] == "mine"
