"""Delegated sign-in: each person signs in once with the device code flow; tokens renew silently.

One MSAL token cache per install (`GRAPHSYNC_TOKEN_CACHE`) holds any number of accounts. It is
encrypted at rest where the platform offers a keystore (msal-extensions: DPAPI on Windows, the
Keychain on macOS, libsecret on Linux desktops); elsewhere (servers, containers) it is a plain
file only its owner may read or write (mode 0600, in a 0700 folder). It never holds the client
secret: delegated sign-in is a public client.

An access token is renewed from the account's refresh token without asking again. When Entra
refuses the refresh token (idle for 90 days, revoked, password changed: `invalid_grant`), the error
is one line naming `graphsync login --user UPN`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import msal
from msal_extensions import FilePersistence, PersistedTokenCache, build_encrypted_persistence

from connectors.graph.auth import CachingProvider, MsalHttpAdapter
from connectors.graph.errors import AuthError, GraphUnreachable, one_line
from connectors.settings import GraphSettings

# OpenID scopes MSAL adds itself; a refresh token needs offline_access, which MSAL also adds.
_RESERVED = {"openid", "profile", "offline_access"}


class PrivateFilePersistence(FilePersistence):
    """The cache as a plain file readable and writable by its owner only (0600, folder 0700)."""

    is_encrypted = False

    def __init__(self, location: str) -> None:
        path = Path(location)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)
        super().__init__(location)

    def save(self, content: str) -> None:
        super().save(content)
        os.chmod(self.get_location(), 0o600)


def open_token_cache(location: str) -> tuple[PersistedTokenCache, bool]:
    """The install's token cache, and whether it is encrypted at rest."""
    path = str(Path(location).expanduser())
    Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        persistence = build_encrypted_persistence(path)
    except Exception:  # noqa: BLE001 - no keystore on this machine (e.g. libsecret without a desktop)
        persistence = PrivateFilePersistence(path)
    return PersistedTokenCache(persistence), bool(getattr(persistence, "is_encrypted", False))


def signed_in(location: str) -> list[dict[str, Any]]:
    """The accounts in a token cache, read from the file alone (no call to Entra): each has
    `username` and `local_account_id` (the user's id)."""
    if not Path(location).expanduser().exists():
        return []
    cache, _ = open_token_cache(location)
    return sorted(cache.find(msal.TokenCache.CredentialType.ACCOUNT), key=lambda a: a.get("username", "").lower())


def graph_scopes(settings: GraphSettings, permissions: Iterable[str]) -> list[str]:
    """Delegated permission names as scopes of the configured Graph host (`https://graph.microsoft.com/Mail.Read`)."""
    resource = settings.scope.removesuffix("/.default")
    return [f"{resource}/{name}" for name in sorted(set(permissions) - _RESERVED)]


class PublicClient:
    """The MSAL public client of one install: sign in, list and forget accounts, renew their tokens."""

    def __init__(self, settings: GraphSettings, http_client: MsalHttpAdapter | None = None) -> None:
        self.settings = settings
        self.cache, self.encrypted = open_token_cache(settings.token_cache)
        self._http = http_client or MsalHttpAdapter(ca_bundle=settings.ca_bundle)
        self._app: msal.PublicClientApplication | None = None

    @property
    def app(self) -> msal.PublicClientApplication:
        if self._app is None:
            try:
                self._app = msal.PublicClientApplication(
                    self.settings.client_id, authority=self.settings.authority, token_cache=self.cache,
                    # The configured token URL is trusted as given (see ClientCredentialsProvider).
                    instance_discovery=False, http_client=self._http)
            except httpx.TransportError as exc:
                raise _unreachable(self.settings, exc) from None
            except ValueError as exc:
                raise AuthError(f"cannot use authority {self.settings.authority} (check GRAPH_TENANT_ID and "
                                f"GRAPH_TOKEN_URL): {one_line(str(exc), 160)}") from None
        return self._app

    def accounts(self) -> list[dict[str, Any]]:
        return sorted(self.app.get_accounts(), key=lambda a: a.get("username", "").lower())

    def account(self, username: str) -> dict[str, Any] | None:
        return next((a for a in self.accounts() if a.get("username", "").lower() == username.lower()), None)

    def sign_in(self, scopes: list[str], tell: Callable[[str], None], login_hint: str | None = None,
                timeout_s: float = 900.0) -> dict[str, Any]:
        """Device code flow: `tell` gets Entra's one-line instruction; returns the signed-in account."""
        flow = self.app.initiate_device_flow(scopes=scopes)
        if "user_code" not in flow:
            raise AuthError(f"sign-in could not start: {_reason(flow)}")
        tell(flow["message"])
        flow["expires_at"] = min(float(flow.get("expires_at") or time.time() + timeout_s), time.time() + timeout_s)
        result = self.app.acquire_token_by_device_flow(flow)
        if "access_token" not in result:
            raise AuthError(f"sign-in failed: {_reason(result)}")
        claims = result.get("id_token_claims") or {}
        username = claims.get("preferred_username") or ""
        if login_hint and username and username.lower() != login_hint.lower():
            raise AuthError(f"signed in as {username}, not {login_hint}: run `graphsync login --user {login_hint}` "
                            f"again and sign in as {login_hint}")
        found = self.account(username) if username else None
        if found is None:
            raise AuthError("sign-in succeeded but Entra returned no account; check the app registration "
                            "(Allow public client flows) and try again")
        return found

    def sign_out(self, username: str | None = None) -> list[str]:
        """Forget one account (or all); the usernames removed."""
        removed = []
        for account in self.accounts():
            if username is None or account.get("username", "").lower() == username.lower():
                self.app.remove_account(account)
                removed.append(account.get("username", ""))
        return removed

    def close(self) -> None:
        self._http.close()


class DelegatedProvider(CachingProvider):
    """Tokens of one signed-in account, renewed silently with its refresh token."""

    def __init__(self, client: PublicClient, account: dict[str, Any], scopes: list[str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.client = client
        self.account = account
        self.scopes = scopes

    @property
    def username(self) -> str:
        return str(self.account.get("username", ""))

    def _acquire_blocking(self, force_refresh: bool) -> tuple[str, float]:
        try:
            result = self.client.app.acquire_token_silent_with_error(
                self.scopes, account=self.account, force_refresh=force_refresh)
        except httpx.TransportError as exc:
            raise _unreachable(self.client.settings, exc) from None
        if result and "access_token" in result:
            return result["access_token"], float(result.get("expires_in") or 0)
        why = f" ({_reason(result)})" if result else ""
        raise AuthError(f"the sign-in of {self.username} is no longer valid{why}: "
                        f"run `graphsync login --user {self.username}`")

    def close(self) -> None:
        """The public client is shared by every account's provider; its owner closes it."""


def _unreachable(settings: GraphSettings, exc: httpx.TransportError) -> GraphUnreachable:
    return GraphUnreachable(f"token endpoint {settings.token_url} is unreachable: {one_line(str(exc))}",
                            host=httpx.URL(settings.token_url).host)


def _reason(result: dict[str, Any]) -> str:
    """Entra's error and the first line of its description: the AADSTS code, never a token."""
    description = str(result.get("error_description") or "").split("\n")[0].split(" Trace ID")[0]
    return one_line(f"{result.get('error', 'error')}: {description}".strip(": "), 200)
