"""The Entra ID (v2.0) endpoints MSAL needs: discovery, token (client credentials, device code,
refresh token) and device authorization, plus bearer-token checks for the Graph surface.

Tokens carry `roles` (app-only) or `scp` (delegated) as grants.py builds them; permissions in
`denied` are withheld from every token issued afterwards. Every token request is reported to
`on_grant` (the app journals it with its grant_type).

Error bodies follow the documented token error shape: error, error_description (with an AADSTS
code), error_codes, timestamp, trace_id, correlation_id.
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import orjson

from connectors.simulator.grants import (
    DEFAULT_CONSENT,
    REFRESH_MAX_INACTIVE_S,
    RefreshGrant,
    RequestedScopes,
    access_claims,
    app_roles,
    b64,
    delegated_scopes,
    stamp,
    unsigned_jwt,
)
from connectors.simulator.http import ApiError, Principal, Response


@dataclass
class AppRegistration:
    tenant_id: str
    tenant_domain: str
    client_id: str
    client_secret: str
    token_lifetime_s: int = 3599  # MSAL treats tokens with < 5 min left as expired; keep this > 300


@dataclass
class DeviceFlow:
    user_code: str
    expires_at: float
    scopes: RequestedScopes
    approved_user: str | None = None


@dataclass
class TokenService:
    app: AppRegistration
    tokens: dict[str, Principal] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshGrant] = field(default_factory=dict)  # refresh token -> grant
    device_flows: dict[str, DeviceFlow] = field(default_factory=dict)  # device code -> flow
    denied: frozenset[str] = frozenset()  # permissions withheld from tokens issued from now on
    issued: int = 0
    upn_of: Callable[[str], str | None] = lambda _user: None
    on_grant: Callable[[str, int, str | None], None] = lambda _grant, _status, _user: None

    # -- Graph side ------------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise _invalid_token("Access token is empty.")
        principal = self.tokens.get(authorization[7:].strip())
        if principal is None:
            raise _invalid_token("IDX14100: JWT is not well formed, there are no dots (.).")
        if principal.expires_at <= time.time():
            raise _invalid_token("Access token has expired or is not yet valid.")
        return principal

    def expire_all(self) -> int:
        """Make every issued token expire now (a token expiring mid-run)."""
        for principal in self.tokens.values():
            principal.expires_at = 0
        return len(self.tokens)

    def revoke_refresh_tokens(self, user_id: str) -> int:
        """What revokeSignInSessions or a password reset does: the user's refresh tokens stop working
        (AADSTS50173). Access tokens already issued stay valid until they expire, as in Entra."""
        now, count = time.time(), 0
        for grant in self.refresh_tokens.values():
            if grant.user_id == user_id and grant.revoked_at is None:
                grant.revoked_at, count = now, count + 1
        return count

    def idle_refresh_tokens(self, user_id: str, days: float) -> int:
        """Pretend the user's refresh tokens were last used `days` ago (over 90: AADSTS700082)."""
        grants = [g for g in self.refresh_tokens.values() if g.user_id == user_id]
        for grant in grants:
            grant.last_used -= days * 86400
            grant.issued_at = min(grant.issued_at, grant.last_used)
        return len(grants)

    # -- Entra side ------------------------------------------------------------------------------
    def openid_configuration(self, base: str, tenant: str) -> Response:
        self._check_tenant(tenant)
        root = f"{base}/{tenant}"
        body = {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "issuer": f"{base}/{self.app.tenant_id}/v2.0",
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "WW",
        }
        return Response(200, body, {"content-type": "application/json"})

    def token(self, tenant: str, body: bytes, authorization: str | None) -> Response:
        self._check_tenant(tenant)
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        grant = form.get("grant_type", "")
        response, user = self._token(form, authorization)
        self.on_grant(grant, response.status, user)
        return response

    def _token(self, form: dict[str, str], authorization: str | None) -> tuple[Response, str | None]:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):  # client_secret_basic
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        grant = form.get("grant_type", "")
        asked = RequestedScopes.parse(form.get("scope", ""))
        if client_id != self.app.client_id:
            return _token_error(400, "unauthorized_client", 700016,
                                f"Application with identifier '{client_id}' was not found in the directory "
                                f"'{self.app.tenant_domain}'."), None
        if grant == "client_credentials":
            if secret != self.app.client_secret:
                return _token_error(401, "invalid_client", 7000215,
                                    "Invalid client secret provided. Ensure the secret being sent in the "
                                    f"request is the client secret value, not the client secret ID, for a "
                                    f"secret added to app '{client_id}'."), None
            if not asked.default or len(asked.raw) != 1:
                return _token_error(400, "invalid_scope", 1002012,
                                    "The provided value for scope is not valid. Client credential flows must "
                                    "have a scope value with /.default suffixed to the resource identifier."), None
            return self._issue(None, app_roles(self.denied), asked), None
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            return self._redeem_device_code(form.get("device_code", ""))
        if grant == "refresh_token":
            return self._redeem_refresh_token(form.get("refresh_token", ""), asked)
        return _token_error(400, "unsupported_grant_type", 70003,
                            f"The app requested an unsupported grant type '{grant}'."), None

    def device_authorization(self, base: str, tenant: str, body: bytes) -> Response:
        self._check_tenant(tenant)
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        code = secrets.token_urlsafe(24)
        user_code = secrets.token_hex(4).upper()
        self.device_flows[code] = DeviceFlow(user_code, time.time() + 900, RequestedScopes.parse(form.get("scope", "")))
        body_out = {
            "device_code": code, "user_code": user_code,
            "verification_uri": f"{base}/devicelogin", "expires_in": 900, "interval": 1,
            "message": f"To sign in, use a web browser to open {base}/devicelogin and enter the code "
                       f"{user_code} to authenticate.",
        }
        self.on_grant("device_authorization", 200, None)
        return Response(200, body_out, {"content-type": "application/json"})

    def approve_device_code(self, user_code: str, user_id: str) -> bool:
        """What a person does in the browser: sign in as `user_id`, consent, approve `user_code`."""
        for flow in self.device_flows.values():
            if flow.user_code == user_code:
                flow.approved_user = user_id
                return True
        return False

    def pending_device_codes(self) -> list[str]:
        """The user codes still waiting for a sign-in (what a test approves)."""
        now = time.time()
        return [f.user_code for f in self.device_flows.values() if f.approved_user is None and f.expires_at > now]

    def _redeem_device_code(self, device_code: str) -> tuple[Response, str | None]:
        flow = self.device_flows.get(device_code)
        if flow is None or flow.expires_at < time.time():
            return _token_error(400, "expired_token", 70020, "The provided authorization code or "
                                                             "device code has expired."), None
        if flow.approved_user is None:
            return _token_error(400, "authorization_pending", 70016,
                                "OAuth 2.0 device flow error. Authorization is pending. Continue polling."), None
        del self.device_flows[device_code]
        user = flow.approved_user
        grant = RefreshGrant(user, flow.scopes.delegated() | DEFAULT_CONSENT, flow.scopes.oidc)
        return self._issue(user, delegated_scopes(grant.scopes, self.denied), flow.scopes, grant), user

    def _redeem_refresh_token(self, token: str, asked: RequestedScopes) -> tuple[Response, str | None]:
        grant = self.refresh_tokens.get(token)
        if grant is None:
            return _token_error(400, "invalid_grant", 70000, "The provided refresh token is invalid."), None
        now = time.time()
        if grant.revoked_at is not None:
            return _token_error(400, "invalid_grant", 50173,
                                "The provided grant has expired due to it being revoked, a fresh auth token is "
                                "needed. The user might have changed or reset their password. The grant was "
                                f"issued on '{stamp(grant.issued_at)}' and the TokensValidFrom date (before which "
                                f"tokens are not valid) for this user is '{stamp(grant.revoked_at)}'."), grant.user_id
        idle = now - grant.last_used
        if idle > REFRESH_MAX_INACTIVE_S:
            return _token_error(400, "invalid_grant", 700082,
                                "The refresh token has expired due to inactivity. The token was issued on "
                                f"'{stamp(grant.issued_at)}' and was inactive for '{timedelta(seconds=int(idle))}'."
                                ), grant.user_id
        wanted = asked.delegated() if asked.raw else grant.scopes
        missing = sorted(wanted - grant.scopes)
        if missing:
            return _token_error(400, "invalid_grant", 65001,
                                f"The user or administrator has not consented to use the application with ID "
                                f"'{self.app.client_id}'. Send an interactive authorization request for this "
                                f"user and resource. Missing: {' '.join(missing)}."), grant.user_id
        grant.last_used = now
        fresh = RefreshGrant(grant.user_id, grant.scopes, grant.oidc | asked.oidc, grant.issued_at)
        scopes = delegated_scopes(wanted | DEFAULT_CONSENT, self.denied)
        return self._issue(grant.user_id, scopes, asked, fresh), grant.user_id

    def _issue(self, user_id: str | None, permissions: frozenset[str], asked: RequestedScopes,
               grant: RefreshGrant | None = None) -> Response:
        self.issued += 1
        lifetime = self.app.token_lifetime_s
        upn = self.upn_of(user_id) if user_id else None
        oidc = asked.oidc | (grant.oidc if grant else frozenset())
        access = unsigned_jwt(access_claims(self.app.tenant_id, self.app.client_id, asked.resource, user_id, upn,
                                            permissions, oidc, lifetime))
        self.tokens[access] = Principal(self.app.client_id, user_id, time.time() + lifetime, permissions)
        body: dict = {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                      "access_token": access}
        if user_id is not None and grant is not None:
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = grant
            prefix = f"{asked.resource}/" if asked.resource else ""
            named = sorted(f"{prefix}{p}" for p in permissions) + sorted(oidc)
            body.update(
                scope=" ".join(named),
                refresh_token=refresh,
                id_token=unsigned_jwt({"aud": self.app.client_id, "iss": self.app.tenant_id,
                                       "oid": user_id, "tid": self.app.tenant_id, "sub": user_id,
                                       "preferred_username": upn or user_id, "iat": int(time.time()),
                                       "exp": int(time.time()) + lifetime}),
                client_info=b64(orjson.dumps({"uid": user_id, "utid": self.app.tenant_id})),
            )
        return Response(200, body, {"content-type": "application/json"})

    def _check_tenant(self, tenant: str) -> None:
        if tenant.lower() not in (self.app.tenant_id.lower(), self.app.tenant_domain.lower(), "organizations"):
            raise TenantNotFound(tenant)


class TenantNotFound(Exception):
    def __init__(self, tenant: str) -> None:
        super().__init__(tenant)
        self.response = _token_error(400, "invalid_tenant", 90002,
                                     f"Tenant '{tenant}' not found. Check to make sure you have the correct "
                                     "tenant ID and are signing into the correct cloud.")




def _invalid_token(message: str) -> ApiError:
    return ApiError(401, "InvalidAuthenticationToken", message,
                    headers={"www-authenticate": 'Bearer realm="", authorization_uri='
                             '"https://login.microsoftonline.com/common/oauth2/authorize", '
                             'client_id="00000003-0000-0000-c000-000000000000"'})


def _token_error(status: int, error: str, code: int, description: str) -> Response:
    trace = str(uuid.uuid4())
    now = datetime.now(UTC)
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {trace} "
                             f"Correlation ID: {trace} Timestamp: {now:%Y-%m-%d %H:%M:%SZ}",
        "error_codes": [code],
        "timestamp": now.strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": trace,
        "correlation_id": trace,
    }
    return Response(status, body, {"content-type": "application/json"})
