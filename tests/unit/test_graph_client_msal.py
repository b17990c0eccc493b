"""Real MSAL against a local HTTPS token endpoint (stdlib server, trustme CA), no internet.

REQUESTS_CA_BUNDLE stays set to the system store, which does not contain the test CA: these
tests only pass if MSAL's traffic goes through our httpx adapter that trusts GRAPH_CA_BUNDLE.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote_plus

import pytest
import trustme

from connectors.graph import AuthError, ClientCredentialsProvider, GraphClient, GraphUnreachable
from connectors.settings import GraphSettings, Secret

TENANT = "tenant1"
CLIENT_ID = "client-123"
GOOD_SECRET = "good-secret-value"
WRONG_SECRET = "wrong-secret-XYZ"


@dataclass
class TokenServer:
    port: int
    ca_path: Path
    token_requests: list[dict[str, str]] = field(default_factory=list)
    api_authorizations: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def settings(self, secret: str = GOOD_SECRET, ca_bundle: str | None = "default") -> GraphSettings:
        return GraphSettings(
            tenant_id=TENANT,
            client_id=CLIENT_ID,
            client_secret=Secret(secret),
            token_url=f"{self.base}/{TENANT}/oauth2/v2.0/token",
            api_url=f"{self.base}/v1.0",
            ca_bundle=str(self.ca_path) if ca_bundle == "default" else ca_bundle,
        )


def _client_secret(form: dict[str, str], authorization: str | None) -> str | None:
    if "client_secret" in form:
        return form["client_secret"]
    if authorization and authorization.startswith("Basic "):
        pair = base64.b64decode(authorization[6:]).decode()
        return unquote_plus(pair.split(":", 1)[1])
    return None


def _handler_for(server_state: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _send_json(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            base = server_state.base
            if self.path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
                self._send_json(
                    200,
                    {
                        "authorization_endpoint": f"{base}/{TENANT}/oauth2/v2.0/authorize",
                        "token_endpoint": f"{base}/{TENANT}/oauth2/v2.0/token",
                        "issuer": f"{base}/{TENANT}/v2.0",
                    },
                )
            elif self.path.startswith("/v1.0/"):
                server_state.api_authorizations.append(self.headers.get("Authorization", ""))
                self._send_json(200, {"value": [{"id": "u1"}]})
            else:
                self._send_json(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            if self.path != f"/{TENANT}/oauth2/v2.0/token":
                self._send_json(404, {"error": "not_found"})
                return
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            server_state.token_requests.append(form)
            if _client_secret(form, self.headers.get("Authorization")) != GOOD_SECRET:
                self._send_json(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the "
                        "secret being sent in the request is the client secret value.\r\n"
                        "Trace ID: 0000\r\nCorrelation ID: 1111\r\nTimestamp: 2025-01-01 00:00:00Z",
                        "error_codes": [7000215],
                    },
                )
                return
            count = len(server_state.token_requests)
            self._send_json(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": f"at-{count}"})

    return Handler


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    ca = trustme.CA()
    ca_path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(tls)

    state = TokenServer(port=0, ca_path=ca_path)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def requests_ca_bundle_points_elsewhere(monkeypatch: pytest.MonkeyPatch, token_server: TokenServer) -> None:
    # The trap being tested: a global bundle that does not contain our CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ssl.get_default_verify_paths().openssl_cafile)
    token_server.token_requests.clear()


def test_token_is_fetched_over_https_cached_and_refetched_after_invalidate(token_server):
    provider = ClientCredentialsProvider(token_server.settings())

    async def go() -> list[str]:
        first = await provider.token()
        second = await provider.token()
        provider.invalidate(first)
        third = await provider.token()
        provider.invalidate("an-older-token")  # stale report: must not force another fetch
        fourth = await provider.token()
        return [first, second, third, fourth]

    try:
        tokens = asyncio.run(go())
    finally:
        provider.close()
    assert tokens[0] == tokens[1] != tokens[2] == tokens[3]
    assert len(token_server.token_requests) == 2
    sent = token_server.token_requests[0]
    assert sent["grant_type"] == "client_credentials"
    assert sent["scope"] == f"https://127.0.0.1:{token_server.port}/.default"


def test_concurrent_callers_share_one_token_fetch(token_server):
    provider = ClientCredentialsProvider(token_server.settings())

    async def go() -> set[str]:
        return set(await asyncio.gather(*[provider.token() for _ in range(10)]))

    try:
        assert len(asyncio.run(go())) == 1
    finally:
        provider.close()
    assert len(token_server.token_requests) == 1


def test_wrong_secret_gives_one_line_auth_error_without_the_secret(token_server):
    provider = ClientCredentialsProvider(token_server.settings(secret=WRONG_SECRET))
    try:
        with pytest.raises(AuthError) as caught:
            asyncio.run(provider.token())
    finally:
        provider.close()
    text = str(caught.value)
    assert (
        text
        == "token endpoint rejected the client credentials (AADSTS7000215: Invalid client secret provided)"
    )
    assert WRONG_SECRET not in text and WRONG_SECRET not in repr(caught.value)


def test_graph_client_uses_msal_token_and_ca_bundle_end_to_end(token_server):
    async def go() -> dict:
        async with GraphClient(token_server.settings()) as graph:
            return await graph.get("/users")

    assert asyncio.run(go()) == {"value": [{"id": "u1"}]}
    assert token_server.api_authorizations[-1].startswith("Bearer at-")


def test_untrusted_certificate_is_reported_as_unreachable(token_server):
    provider = ClientCredentialsProvider(token_server.settings(ca_bundle=None))  # system store only
    try:
        with pytest.raises(GraphUnreachable, match="TLS certificate verification failed"):
            asyncio.run(provider.token())
    finally:
        provider.close()
    assert token_server.token_requests == []


def test_closed_port_is_reported_as_unreachable_token_endpoint(token_server):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings = GraphSettings(
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        client_secret=Secret(GOOD_SECRET),
        token_url=f"https://127.0.0.1:{closed_port}/{TENANT}/oauth2/v2.0/token",
        ca_bundle=str(token_server.ca_path),
    )
    provider = ClientCredentialsProvider(settings)
    try:
        with pytest.raises(GraphUnreachable) as caught:
            asyncio.run(provider.token())
    finally:
        provider.close()
    assert str(caught.value).startswith(f"cannot reach token endpoint https://127.0.0.1:{closed_port}/")
    assert GOOD_SECRET not in str(caught.value)
