"""Access tokens for Graph: a small provider protocol and an MSAL client-credentials provider.

MSAL is synchronous and, left alone, talks HTTP through `requests` — whose `verify=` is
overridden by the REQUESTS_CA_BUNDLE variable set globally on some machines. We therefore hand
MSAL an explicit `http_client` (an adapter over `httpx.Client`) whose trust is exactly
GRAPH_CA_BUNDLE or the system store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import httpx
import msal

from connectors.graph.errors import AuthError, GraphUnreachable, one_line
from connectors.graph.tls import is_certificate_failure, ssl_context
from connectors.settings import GraphSettings

# MSAL treats a token with under 5 minutes left as expired and fetches a new one; our own
# shortcut cache (which avoids a thread hop per request) uses the same margin.
_RENEW_MARGIN_S = 300.0
_DEFAULT_AUTH_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@runtime_checkable
class TokenProvider(Protocol):
    """Anything that can hand out a bearer token for Graph.

    Implementations: `ClientCredentialsProvider` (app-only) and `DelegatedProvider`
    (connectors/graph/delegated.py: a signed-in account, renewed with its refresh token).
    """

    async def token(self) -> str:
        """A currently valid access token (fetched or renewed as needed)."""
        ...

    def invalidate(self, rejected: str | None = None) -> None:
        """Forget the cached token so the next `token()` fetches a new one.

        `rejected` is the token the API refused; if the provider already moved on to a newer
        token, the call is a no-op (many in-flight requests may report the same old token).
        """
        ...


class MsalHttpAdapter:
    """The minimal `http_client` MSAL expects (get/post/close), backed by `httpx.Client`.

    httpx.Response already offers `status_code`, `text`, `headers` and `raise_for_status()`.
    No retries here: MSAL's own throttling cache decides about repeated token requests.
    """

    def __init__(
        self,
        *,
        ca_bundle: str | None = None,
        timeout: httpx.Timeout = _DEFAULT_AUTH_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            verify=ssl_context(ca_bundle), timeout=timeout, transport=transport, follow_redirects=False
        )

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        return self._client.get(url, params=params, headers=headers, **_timeout_kwarg(kwargs))

    def post(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        # MSAL sends a dict (form-encode it) or, in some flows, a pre-encoded string.
        body: dict[str, Any] = {"content": data} if isinstance(data, str | bytes) else {"data": data}
        return self._client.post(url, params=params, headers=headers, **body, **_timeout_kwarg(kwargs))

    def close(self) -> None:
        self._client.close()


def _timeout_kwarg(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    # MSAL may pass requests-style extras; only a timeout has an httpx equivalent.
    return {"timeout": kwargs["timeout"]} if kwargs.get("timeout") is not None else {}


class CachingProvider:
    """A token shared by all concurrent requests, renewed before it expires; subclasses fetch it.

    `token()` hands out the cached token without a thread hop; one fetch at a time runs in a worker
    thread (MSAL is synchronous). `invalidate()` after a 401 makes the next fetch bypass MSAL's own
    cache (`force_refresh`), since Graph may reject a token MSAL still holds as valid (revoked).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cached: tuple[str, float] | None = None  # (token, renew-at on our clock)
        self._force_refresh = False
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    async def token(self) -> str:
        cached = self._cached_token()
        if cached is not None:
            return cached
        async with self._loop_lock():
            # Another task may have fetched a token while we waited for the lock.
            cached = self._cached_token()
            if cached is not None:
                return cached
            force, self._force_refresh = self._force_refresh, False
            access_token, expires_in = await asyncio.to_thread(self._acquire_blocking, force)
            self._cached = (access_token, self._clock() + _local_ttl(expires_in))
            return access_token

    def invalidate(self, rejected: str | None = None) -> None:
        if rejected is not None and self._cached is not None and self._cached[0] != rejected:
            return  # a newer token is already in use
        self._cached = None
        self._force_refresh = True

    def _acquire_blocking(self, force_refresh: bool) -> tuple[str, float]:
        """(access token, seconds it lives), fetched by MSAL; `force_refresh` skips MSAL's cache."""
        raise NotImplementedError

    def _cached_token(self) -> str | None:
        if self._cached is not None and self._clock() < self._cached[1]:
            return self._cached[0]
        return None

    def _loop_lock(self) -> asyncio.Lock:
        # An asyncio.Lock belongs to one event loop; callers such as Dagster ops may run
        # several asyncio.run() calls with the same provider.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock


class ClientCredentialsProvider(CachingProvider):
    """App-only tokens via MSAL's client-credentials flow, shared by all concurrent requests."""

    def __init__(
        self,
        settings: GraphSettings,
        *,
        http_client: MsalHttpAdapter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if settings.client_secret is None:
            raise AuthError("GRAPH_CLIENT_SECRET is not set; app-only authentication needs a client secret")
        super().__init__(clock)
        self._settings = settings
        self._scopes = [settings.scope]
        self._http = http_client or MsalHttpAdapter(ca_bundle=settings.ca_bundle)
        self._owns_http = http_client is None
        # Built on first use: MSAL's constructor already performs OIDC discovery over the network.
        self._app: msal.ConfidentialClientApplication | None = None

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def _acquire_blocking(self, force_refresh: bool) -> tuple[str, float]:
        try:
            app = self._app or self._build_app()
            if force_refresh:
                _drop_access_tokens(app)
            result = app.acquire_token_for_client(scopes=self._scopes)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        except msal.exceptions.MsalServiceError as exc:
            # MSAL raises this for 5xx answers from the token endpoint or discovery.
            raise GraphUnreachable(
                f"token endpoint {self._settings.token_url} is unavailable ({self._scrub(str(exc))})",
                host=httpx.URL(self._settings.token_url).host,
            ) from None
        if "access_token" in result:
            return result["access_token"], float(result.get("expires_in") or 0)
        raise AuthError(self._describe_rejection(result))

    def _build_app(self) -> msal.ConfidentialClientApplication:
        settings = self._settings
        assert settings.client_secret is not None
        try:
            self._app = msal.ConfidentialClientApplication(
                settings.client_id,
                client_credential=settings.client_secret.reveal(),
                authority=settings.authority,
                # The configured token URL is trusted as given; instance discovery would ask
                # login.microsoftonline.com about hosts it cannot know (simulator, sovereign proxies).
                instance_discovery=False,
                http_client=self._http,
            )
        except ValueError as exc:
            raise AuthError(
                f"cannot use authority {settings.authority}: OpenID discovery at "
                f"{settings.authority}/v2.0/.well-known/openid-configuration failed "
                f"(check GRAPH_TENANT_ID and GRAPH_TOKEN_URL): {self._scrub(one_line(str(exc), 160))}"
            ) from None
        return self._app

    def _unreachable(self, exc: httpx.TransportError) -> GraphUnreachable:
        if is_certificate_failure(exc):
            reason = "TLS certificate verification failed (is GRAPH_CA_BUNDLE the right CA?)"
        else:
            reason = one_line(str(exc) or type(exc).__name__, 200)
        return GraphUnreachable(
            f"cannot reach token endpoint {self._settings.token_url}: {self._scrub(reason)}",
            host=httpx.URL(self._settings.token_url).host,
        )

    def _describe_rejection(self, result: Mapping[str, Any]) -> str:
        error = str(result.get("error") or "error")
        detail = _first_sentence(str(result.get("error_description") or ""))
        suffix = f" ({self._scrub(detail)})" if detail else f" ({error})"
        if error == "invalid_client":
            return "token endpoint rejected the client credentials" + suffix
        if error == "invalid_scope":
            return f"token endpoint rejected the scope {self._scopes[0]}" + suffix
        if error == "unauthorized_client":
            return "token endpoint says this app may not use the client-credentials flow" + suffix
        return f"token endpoint refused the token request: {error}" + (suffix if detail else "")

    def _scrub(self, text: str) -> str:
        # Belt and braces: no code path should echo the secret, but never let one slip through.
        secret = self._settings.client_secret
        return text.replace(secret.reveal(), "***") if secret and secret.reveal() else text


def _local_ttl(expires_in: float) -> float:
    """How long to reuse a token before asking MSAL again."""
    if expires_in > 2 * _RENEW_MARGIN_S:
        return expires_in - _RENEW_MARGIN_S
    # Short-lived tokens (test servers): MSAL would refetch on every call; renew halfway instead.
    return max(expires_in / 2, 0.0)


def _first_sentence(description: str) -> str:
    """`AADSTS7000215: Invalid client secret provided. Ensure ...\\r\\nTrace ID: ...` -> first sentence."""
    first_line = description.strip().splitlines()[0] if description.strip() else ""
    sentence = first_line.split(". ", 1)[0].rstrip(".")
    return one_line(sentence, 200)


def _access_tokens(app: msal.ConfidentialClientApplication) -> list[dict[str, Any]]:
    return list(app.token_cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN))


def _drop_access_tokens(app: msal.ConfidentialClientApplication) -> None:
    # acquire_token_for_client has no force_refresh; removing the cached access tokens is the
    # supported way to make MSAL go back to the token endpoint.
    for entry in _access_tokens(app):
        app.token_cache.remove_at(entry)
