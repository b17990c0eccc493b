"""The simulated tenant: directory, mailboxes, calendars, drives, teams and chats.

Everything hangs off `Tenant`. Per-user areas (`Mailbox`) are built the first time they are touched,
and their big collections (messages) are lazy, so a tenant of a million messages starts instantly.
The mutation methods here are the single way state changes: the Graph write endpoints, the control
surface and tests all call them, so every change lands in a change log and shows up in delta.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.simulator import content, ids
from connectors.simulator.delta import ChainRegistry, DeltaKnobs
from connectors.simulator.http import ApiError, not_found
from connectors.simulator.store import Collection, Item, Sequencer


@dataclass
class TenantConfig:
    seed: int = 42
    scale: content.Scale = field(default_factory=lambda: content.SCALES["small"])
    tenant_id: str = "7d2c3a5e-0f1b-4c8e-9a61-5b8f2d4c6e10"
    tenant_domain: str = content.DOMAIN
    client_id: str = "5f0b6c7e-3d2a-4f19-8b7c-2e1d0a9c8b74"
    client_secret: str = "sim-secret-change-me"
    knobs: DeltaKnobs = field(default_factory=DeltaKnobs)
    # The seeded tenant's "now": seeded data lies before it. None: $GRAPHSYNC_SIM_NOW, else the
    # current time (content.seed_epoch), so "the last 30 days" always finds data.
    now: datetime | None = None
    # Seconds after which a Teams async operation succeeds even if nobody polls it (teams/operations.py);
    # resources/teamsasyncoperation.md asks clients to wait more than 30 s between polls.
    team_operation_s: float = 30.0

    @property
    def verified_domains(self) -> list[str]:
        """The tenant's verified domains (organization.verifiedDomains): its custom domain and the initial
        `{name}.onmicrosoft.com` one every Entra tenant has (user-post-users.md's example UPN uses it)."""
        initial = f"{self.tenant_domain.split('.')[0]}.onmicrosoft.com"
        return list(dict.fromkeys([self.tenant_domain.lower(), initial]))


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def public(item: Item) -> dict:
    """The Graph object without simulator-private keys."""
    return {k: v for k, v in item.items() if not k.startswith("_")}


class Tenant:
    def __init__(self, config: TenantConfig | None = None) -> None:
        self.config = config or TenantConfig()
        self.seed = self.config.seed
        self.scale = self.config.scale
        self.epoch = content.seed_epoch(self.config.now)  # every seeded date is relative to this
        self.clock = Sequencer()
        self.chains = ChainRegistry(self.config.knobs)
        self._counter = itertools.count(1)
        self.users = Collection(
            "users", self.clock, base_count=self.scale.users,
            base_key=lambda i: content.person(self.seed, i).id,
            base_item=lambda i: content.user_object(self.seed, i, self.epoch),
        )
        self._user_index = {content.person(self.seed, i).id: i for i in range(self.scale.users)}
        self._upn_index = {content.person(self.seed, i).upn.lower(): content.person(self.seed, i).id
                           for i in range(self.scale.users)}
        self.deleted_users: dict[str, Item] = {}
        self.mailboxes: dict[str, Any] = {}
        # Areas register themselves here (see simulator.areas); each builds its state lazily.
        self.areas: dict[str, Any] = {}

    def new_key(self, prefix: str) -> str:
        return f"{prefix}.n{next(self._counter)}"

    # -- users -----------------------------------------------------------------------------------
    def resolve_user(self, id_or_upn: str) -> tuple[str, Item]:
        """(user id, user object) for an id or UPN; 404 as the directory answers otherwise."""
        key = self._upn_index.get(id_or_upn.lower(), id_or_upn)
        item = self.users.get(key, self._user_index.get(key))
        if item is None:
            raise ApiError(404, "Request_ResourceNotFound",
                           f"Resource '{id_or_upn}' does not exist or one of its queried reference-property "
                           "objects are not present.")
        return key, item

    def user_index(self, user_id: str) -> int | None:
        return self._user_index.get(user_id)

    def person(self, user_id: str) -> content.Person:
        idx = self._user_index.get(user_id)
        if idx is not None:
            return content.person(self.seed, idx)
        _, item = self.resolve_user(user_id)
        return content.Person(-1, user_id, item.get("givenName") or "New", item.get("surname") or "User")

    def create_user(self, fields: dict) -> Item:
        upn = fields.get("userPrincipalName")
        if not upn or not fields.get("displayName"):
            raise ApiError(400, "Request_BadRequest",
                           "Property 'userPrincipalName' and 'displayName' are required.")
        if upn.lower() in self._upn_index:
            raise ApiError(400, "Request_BadRequest",
                           "Another object with the same value for property userPrincipalName already exists.",
                           details=[{"code": "ObjectConflict", "target": "userPrincipalName"}])
        user_id = ids.guid(self.seed, "created-user", next(self._counter))
        item = {"@odata.type": "#microsoft.graph.user", "id": user_id, "businessPhones": [],
                "mail": fields.get("mail") or upn, "createdDateTime": now_iso(), "accountEnabled": True,
                **{k: v for k, v in fields.items() if k != "passwordProfile"}}
        self.users.put_new(user_id, item)
        self._upn_index[upn.lower()] = user_id
        return item

    def update_user(self, id_or_upn: str, fields: dict) -> Item:
        key, item = self.resolve_user(id_or_upn)
        updated = {**item, **fields}
        self.users.update(key, updated, frozenset(fields))
        if "userPrincipalName" in fields:
            self._upn_index.pop(str(item.get("userPrincipalName", "")).lower(), None)
            self._upn_index[fields["userPrincipalName"].lower()] = key
        return updated

    def delete_user(self, id_or_upn: str, permanent: bool = False) -> None:
        """Soft delete (restorable for 30 days: @removed reason "changed") or permanent ("deleted")."""
        key, item = self.resolve_user(id_or_upn)
        self.users.remove(key, "deleted" if permanent else "changed")
        if not permanent:
            self.deleted_users[key] = item

    def restore_user(self, user_id: str) -> Item:
        item = self.deleted_users.pop(user_id, None)
        if item is None:
            raise not_found(code="Request_ResourceNotFound")
        self.users.put_new(user_id, item)
        return item

    def user_ids(self) -> list[str]:
        return [key for key, _ in self.users.items()]

    # -- shared helpers for every area ---------------------------------------------------------------
    def stamp(self, item: Item, key: str) -> Item:
        """New change key, etag and modification time after a write."""
        change_key, tag = content.etag(self.clock.value + 1, key)
        item["@odata.etag"] = tag
        if "changeKey" in item or item.get("@odata.type", "").endswith(("message", "event", "calendar")):
            item["changeKey"] = change_key
        item["lastModifiedDateTime"] = now_iso()
        return item


def patch_item(tenant: Tenant, coll: Collection, key: str, item: Item, fields: dict,
               stamp: bool = True) -> Item:
    """Apply a PATCH body to an item, record the update, and return the new item."""
    updated = copy.deepcopy(item)
    updated.update(fields)
    touched = set(fields)
    if stamp:
        tenant.stamp(updated, key)
        touched |= {"@odata.etag", "lastModifiedDateTime"} | ({"changeKey"} if "changeKey" in updated else set())
    coll.update(key, updated, frozenset(touched))
    return updated


def check_if_match(headers: dict[str, str], item: Item, *, drive: bool = False) -> None:
    """Optimistic concurrency: a stale If-Match answers 412 like Outlook (or OneDrive) does."""
    wanted = headers.get("if-match")
    if not wanted or wanted.strip() == "*":
        return
    current = {item.get("@odata.etag"), item.get("eTag"), item.get("cTag")}
    if wanted.strip() in current:
        return
    if drive:
        raise ApiError(412, "resourceModified", "ETag does not match current item's value",
                       inner_code="entityTagDoesNotMatch")
    raise ApiError(412, "ErrorIrresolvableConflict",
                   "The send or update operation could not be performed because the change key passed in "
                   "the request does not match the current change key for the item.")
