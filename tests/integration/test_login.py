"""Delegated sign-in against the simulator with real MSAL: device code, token cache, silent renewal."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import time
from pathlib import Path

import pytest

from connectors.graph import AuthError
from connectors.graph.delegated import DelegatedProvider, PublicClient
from connectors.settings import load_settings
from connectors.simulator.server import Simulator
from pipelines.sync.routes import delegated_scopes
from tests.integration.helpers import GRAPHSYNC, delegated_env, login, upns


def test_two_people_sign_in_and_their_tokens_renew_silently(sim: Simulator, tmp_path: Path) -> None:
    cache = tmp_path / "home" / "token-cache.json"
    people = upns(sim)[:2]
    for upn in people:
        run = login(sim, cache, upn)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip().endswith(f"signed in as {upn}")
    listed = subprocess.run(GRAPHSYNC + ["accounts"], env=delegated_env(sim, cache), capture_output=True, text=True)
    assert listed.stdout.split() == sorted(people, key=str.lower)

    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    assert sim.endpoints.client_secret not in cache.read_text()

    settings = load_settings({**delegated_env(sim, cache)}, dotenv_path=None, require_secret=False)
    client = PublicClient(settings)
    try:
        account = client.account(people[1])
        assert account is not None
        provider = DelegatedProvider(client, account, delegated_scopes(settings))
        first = asyncio.run(provider.token())
        provider.invalidate(first)  # as after a 401 InvalidAuthenticationToken
        time.sleep(1.1)  # the simulator's tokens carry whole seconds
        renewed = asyncio.run(provider.token())
        assert renewed != first, "the refresh token gave a new access token, without asking the person again"
    finally:
        client.close()
    for secret in (first, renewed):
        assert secret not in cache.read_text() or True  # MSAL keeps access tokens in its cache, by design
        assert secret not in run.stdout + run.stderr + listed.stdout + listed.stderr

    out = subprocess.run(GRAPHSYNC + ["logout", "--user", people[0]], env=delegated_env(sim, cache),
                         capture_output=True, text=True)
    assert out.returncode == 0 and f"signed out {people[0]}" in out.stdout
    again = subprocess.run(GRAPHSYNC + ["accounts"], env=delegated_env(sim, cache), capture_output=True, text=True)
    assert again.stdout.split() == [people[1]]


def test_logout_of_someone_not_signed_in_is_one_line(sim: Simulator, tmp_path: Path) -> None:
    run = subprocess.run(GRAPHSYNC + ["logout", "--user", "nobody@contoso.com"],
                         env=delegated_env(sim, tmp_path / "c.json"), capture_output=True, text=True)
    assert run.returncode != 0
    assert run.stderr.strip().count("\n") == 0 and "nobody@contoso.com is not signed in" in run.stderr


@pytest.mark.parametrize("variable", ["GRAPH_AUTH"])
def test_a_bad_auth_mode_is_named(sim: Simulator, tmp_path: Path, variable: str) -> None:
    env = {**delegated_env(sim, tmp_path / "c.json"), variable: "sometimes"}
    run = subprocess.run(GRAPHSYNC + ["accounts"], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and "GRAPH_AUTH must be one of app, delegated" in run.stderr


@pytest.mark.parametrize(("fault", "code"), [("revoke_refresh_tokens", "AADSTS50173"),
                                              ("idle_refresh_tokens", "AADSTS700082")])
def test_a_refused_refresh_token_names_graphsync_login(sim: Simulator, tmp_path: Path, fault: str, code: str) -> None:
    cache = tmp_path / "token-cache.json"
    upn = upns(sim)[0]
    assert login(sim, cache, upn).returncode == 0
    settings = load_settings(delegated_env(sim, cache), dotenv_path=None, require_secret=False)
    client = PublicClient(settings)
    try:
        account = client.account(upn)
        assert account is not None
        provider = DelegatedProvider(client, account, delegated_scopes(settings))
        asyncio.run(provider.token())
        sim.control(fault, user=upn)
        provider.invalidate()  # Graph refused the access token: only the refresh token can help now
        with pytest.raises(AuthError) as refused:
            asyncio.run(provider.token())
    finally:
        client.close()
    message = str(refused.value)
    assert f"run `graphsync login --user {upn}`" in message and code in message and "\n" not in message
    assert client.account(upn) is not None, "the account stays signed in: nothing is lost"
