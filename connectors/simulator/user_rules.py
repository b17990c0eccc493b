"""What the directory checks before it creates a user (POST /users) or takes a new password.

- user-post-users.md: accountEnabled, displayName, mailNickname, passwordProfile and userPrincipalName
  are required; the UPN is alias@domain, "where domain must be present in the tenant's collection of
  verified domains", and "can't contain accent characters. Only the following characters are allowed
  A - Z, a - z, 0 - 9, ' . - _ ! # ^ ~" (the username policies of Entra's concept-sspr-policy.md:
  no "." right before the "@", at most 64 characters before it, 48 after, 113 in all).
- resources/passwordprofile.md: "The password must satisfy minimum requirements as specified by the
  user's passwordPolicies property. By default, a strong password is required." The strong-password
  policy is Entra's (MicrosoftDocs/entra-docs docs/identity/authentication/concept-sspr-policy.md,
  "Microsoft Entra password policies"): 8 to 256 characters from A-Z, a-z, 0-9, the listed symbols and
  space, no other Unicode, and "three out of four" of lowercase, uppercase, numbers and symbols.
  `passwordPolicies: "DisableStrongPassword"` lifts the complexity rule (resources/user.md).

The errors are the directory's own, as observed: 400 Request_BadRequest with `details` naming the
property (microsoftgraph/microsoft-graph-docs#5777 for mailNickname, #1508 for a UPN conflict), "The
domain portion of the userPrincipalName property is invalid. You must use one of the verified domain
names in your organization." (Office 365 provisioning, Okta KB) and "The specified password does not
comply with password complexity requirements. Please provide a different password."
(microsoftgraph/msgraph-sdk-java-auth#36, msgraph-sdk-dotnet#2793).
"""

from __future__ import annotations

import re
from typing import Any

from connectors.simulator.http import ApiError

REQUIRED = ("accountEnabled", "displayName", "mailNickname", "passwordProfile", "userPrincipalName")
_UPN_ALIAS = re.compile(r"^[A-Za-z0-9'._!#^~-]+$")
_DOMAIN = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_SYMBOLS = set("@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ")
# Exchange's alias rule for mailNickname: printable ASCII without these characters.
_NICKNAME_FORBIDDEN = set('@()\\[]";:<>, ')


def invalid(prop: str, message: str | None = None) -> ApiError:
    return ApiError(400, "Request_BadRequest",
                    message or f"Invalid value specified for property '{prop}' of resource 'User'.",
                    details=[{"code": "InvalidValue", "target": prop}])


def validate_new_user(body: Any, verified_domains: list[str]) -> None:
    """Raise the directory's 400 for a Create user body it would refuse."""
    if not isinstance(body, dict):
        raise ApiError(400, "Request_BadRequest", "Empty Payload. JSON content expected.")
    for prop in REQUIRED:
        if body.get(prop) in (None, ""):
            raise ApiError(400, "Request_BadRequest", f"Property '{prop}' is required.",
                           details=[{"code": "Required", "target": prop}])
    check_upn(str(body["userPrincipalName"]), verified_domains)
    nickname = str(body["mailNickname"])
    if len(nickname) > 64 or any(c in _NICKNAME_FORBIDDEN or not 32 < ord(c) < 127 for c in nickname):
        raise invalid("mailNickname")
    check_password(body["passwordProfile"], body.get("passwordPolicies"))


def check_upn(upn: str, verified_domains: list[str]) -> None:
    alias, at, domain = upn.rpartition("@")
    if not at or not alias or not _UPN_ALIAS.match(alias) or alias.endswith(".") or len(alias) > 64 \
            or len(domain) > 48 or len(upn) > 113 or not _DOMAIN.match(domain):
        raise invalid("userPrincipalName", "Property userPrincipalName is invalid.")
    if domain.lower() not in {d.lower() for d in verified_domains}:
        raise invalid("userPrincipalName", "The domain portion of the userPrincipalName property is invalid. You "
                                           "must use one of the verified domain names in your organization.")


def check_password(profile: Any, policies: Any = None) -> None:
    """A passwordProfile's password against the tenant's password policy."""
    password = profile.get("password") if isinstance(profile, dict) else None
    if not isinstance(password, str) or not password:
        raise invalid("passwordProfile")
    if "disablestrongpassword" in str(policies or "").lower().replace(" ", "").split(","):
        return
    classes = [any(c.islower() and c.isascii() for c in password), any(c.isupper() and c.isascii() for c in password),
               any(c.isdigit() and c.isascii() for c in password), any(c in _SYMBOLS for c in password)]
    allowed = all((c.isascii() and c.isalnum()) or c in _SYMBOLS for c in password)
    if not allowed or not 8 <= len(password) <= 256 or sum(classes) < 3:
        raise ApiError(400, "Request_BadRequest", "The specified password does not comply with password complexity "
                                                  "requirements. Please provide a different password.")
