"""The Entra ID (v2.0) endpoints MSAL needs: discovery, token (client credentials, device code,
refresh token) and device authorization, plus bearer-token checks for the Graph surface.

Error bodies follow the documented token error shape: error, error_description (with an AADSTS
code), error_codes, timestamp, trace_id, correlation_id.
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs

import orjson

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
    approved_user: str | None = None


@dataclass
class TokenService:
    app: AppRegistration
    tokens: dict[str, Principal] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # refresh token -> user id
    device_flows: dict[str, DeviceFlow] = field(default_factory=dict)  # device code -> flow
    issued: int = 0

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
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):  # client_secret_basic
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        grant = form.get("grant_type", "")
        if client_id != self.app.client_id:
            return _token_error(400, "unauthorized_client", 700016,
                                f"Application with identifier '{client_id}' was not found in the directory "
                                f"'{self.app.tenant_domain}'.")
        if grant == "client_credentials":
            if secret != self.app.client_secret:
                return _token_error(401, "invalid_client", 7000215,
                                    "Invalid client secret provided. Ensure the secret being sent in the "
                                    f"request is the client secret value, not the client secret ID, for a "
                                    f"secret added to app '{client_id}'.")
            if not form.get("scope", "").endswith("/.default"):
                return _token_error(400, "invalid_scope", 1002012,
                                    "The provided value for scope is not valid. Client credential flows must "
                                    "have a scope value with /.default suffixed to the resource identifier.")
            return self._issue(None, with_refresh=False)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            return self._redeem_device_code(form.get("device_code", ""))
        if grant == "refresh_token":
            user = self.refresh_tokens.get(form.get("refresh_token", ""))
            if user is None:
                return _token_error(400, "invalid_grant", 70000, "The provided refresh token is invalid.")
            return self._issue(user, with_refresh=True)
        return _token_error(400, "unsupported_grant_type", 70003,
                            f"The app requested an unsupported grant type '{grant}'.")

    def device_authorization(self, base: str, tenant: str, body: bytes) -> Response:
        self._check_tenant(tenant)
        code = secrets.token_urlsafe(24)
        user_code = secrets.token_hex(4).upper()
        self.device_flows[code] = DeviceFlow(user_code, time.time() + 900)
        body_out = {
            "device_code": code, "user_code": user_code,
            "verification_uri": f"{base}/devicelogin", "expires_in": 900, "interval": 1,
            "message": f"To sign in, use a web browser to open {base}/devicelogin and enter the code "
                       f"{user_code} to authenticate.",
        }
        return Response(200, body_out, {"content-type": "application/json"})

    def approve_device_code(self, user_code: str, user_id: str) -> bool:
        """What a person does in the browser: sign in as `user_id` and approve `user_code`."""
        for flow in self.device_flows.values():
            if flow.user_code == user_code:
                flow.approved_user = user_id
                return True
        return False

    def _redeem_device_code(self, device_code: str) -> Response:
        flow = self.device_flows.get(device_code)
        if flow is None or flow.expires_at < time.time():
            return _token_error(400, "expired_token", 70020, "The provided authorization code or "
                                                             "device code has expired.")
        if flow.approved_user is None:
            return _token_error(400, "authorization_pending", 70016,
                                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
        del self.device_flows[device_code]
        return self._issue(flow.approved_user, with_refresh=True)

    def _issue(self, user_id: str | None, with_refresh: bool) -> Response:
        self.issued += 1
        access = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(32)
        lifetime = self.app.token_lifetime_s
        self.tokens[access] = Principal(self.app.client_id, user_id, time.time() + lifetime)
        body: dict = {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                      "access_token": access}
        if user_id is not None:
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = user_id
            body.update(
                scope="https://graph.microsoft.com/.default offline_access",
                refresh_token=refresh,
                id_token=_unsigned_jwt({"aud": self.app.client_id, "iss": self.app.tenant_id,
                                        "oid": user_id, "tid": self.app.tenant_id, "sub": user_id,
                                        "preferred_username": user_id, "iat": int(time.time()),
                                        "exp": int(time.time()) + lifetime}),
                client_info=_b64(orjson.dumps({"uid": user_id, "utid": self.app.tenant_id})),
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


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unsigned_jwt(claims: dict) -> str:
    return ".".join([_b64(orjson.dumps({"typ": "JWT", "alg": "none"})), _b64(orjson.dumps(claims)), ""])
