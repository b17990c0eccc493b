"""What a token grants: the scopes a request asks for, the claims Entra puts in an access token, and
the refresh tokens a user holds.

- App-only tokens carry `roles`, the application permissions granted to the app; `.default` asks
  for all of them (concepts/permissions-overview.md; auth-v2-service.md).
- Delegated tokens carry `scp`, a space-separated string of the scopes consented for the resource
  (concepts/permissions-overview.md; auth-v2-user.md). `User.Read` is the permission every new app
  registration is given, so it is always consented; `.default` asks for every delegated permission
  configured on the app (here: every one the simulator's permission table knows).
- Refresh tokens "replace themselves with a fresh token upon every use"; the old one is not revoked
  (Entra's refresh-tokens.md): the simulator keeps it valid too. They stop working when revoked
  (revokeSignInSessions, a password change: AADSTS50173) or after 90 days unused (AADSTS700082).
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from connectors.simulator.permissions import application_permissions, delegated_permissions

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
DEFAULT_CONSENT = frozenset({"User.Read"})  # every app registration starts with it
REFRESH_MAX_INACTIVE_S = 90 * 24 * 3600  # Entra's refresh token MaxInactiveTime


@dataclass
class RequestedScopes:
    """The `scope` parameter of a token request, split into Graph permissions and the rest."""

    raw: list[str]  # as sent, e.g. ["https://graph.microsoft.com/Mail.Read", "offline_access"]
    permissions: frozenset[str]  # Graph permission names ("Mail.Read")
    oidc: frozenset[str]
    default: bool  # asked for `<resource>/.default`
    resource: str  # the resource prefix the scopes were named with ("" for bare names)

    @classmethod
    def parse(cls, scope: str) -> RequestedScopes:
        raw = scope.split()
        names: set[str] = set()
        oidc: set[str] = set()
        default = False
        resource = ""
        for item in raw:
            prefix, _, name = item.rpartition("/")
            if item.lower() in OIDC_SCOPES:
                oidc.add(item.lower())
            elif name.lower() == ".default":
                default, resource = True, prefix
            else:
                names.add(name)
                resource = resource or prefix
        return cls(raw, frozenset(names), frozenset(oidc), default, resource)

    def delegated(self) -> frozenset[str]:
        return delegated_permissions() if self.default else self.permissions


@dataclass
class RefreshGrant:
    user_id: str
    scopes: frozenset[str]  # consented delegated scopes
    oidc: frozenset[str]
    issued_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.time)
    revoked_at: float | None = None


def app_roles(denied: frozenset[str]) -> frozenset[str]:
    """An app-only `.default` token: every application permission granted, minus the withheld."""
    return application_permissions() - denied


def delegated_scopes(asked: frozenset[str], denied: frozenset[str]) -> frozenset[str]:
    return (asked | DEFAULT_CONSENT) - denied


def access_claims(tenant_id: str, client_id: str, audience: str, user_id: str | None, upn: str | None,
                  permissions: frozenset[str], oidc: frozenset[str], lifetime: int) -> dict:
    """Claims of a v1.0 Graph access token (Entra's access-token claims reference)."""
    now = int(time.time())
    claims: dict = {
        "aud": audience or "https://graph.microsoft.com", "iss": f"https://sts.windows.net/{tenant_id}/",
        "iat": now, "nbf": now, "exp": now + lifetime, "appid": client_id, "tid": tenant_id,
        "uti": secrets.token_urlsafe(16), "ver": "1.0",
    }
    if user_id is None:
        claims.update(idtyp="app", oid=client_id, sub=client_id, roles=sorted(permissions))
    else:
        scp = sorted(permissions | (oidc - {"offline_access"}), key=str.lower)
        claims.update(idtyp="user", oid=user_id, sub=user_id, upn=upn or user_id, unique_name=upn or user_id,
                      scp=" ".join(scp))
    return claims


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unsigned_jwt(claims: dict) -> str:
    """header.claims. with `alg: none`: readable like Entra's tokens, signed by nobody."""
    return ".".join([b64(orjson.dumps({"typ": "JWT", "alg": "none"})), b64(orjson.dumps(claims)), ""])


def read_claims(token: str) -> dict:
    """The claims of a token this module wrote (tests decode tokens with it)."""
    body = token.split(".")[1]
    return orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%m/%d/%Y %H:%M:%S")
