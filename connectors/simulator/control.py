"""The control surface: mutate the tenant between syncs, switch faults, read the request journal.

Every operation is a method taking JSON-able keyword arguments and returning a JSON-able result, so
the same call works in-process (`Simulator.control("move_message", ...)`) and over HTTP
(`POST /_sim/control/move_message` with the arguments as a JSON object).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from connectors.simulator import content, ids
from connectors.simulator.faults import FaultRule
from connectors.simulator.http import ApiError, Response, bad_request, json_response
from connectors.simulator.mail import mailbox
from connectors.simulator.permissions import RULES
from connectors.simulator.tenant import patch_item, public

if TYPE_CHECKING:
    from connectors.simulator.app import GraphApp


class Control:
    def __init__(self, app: GraphApp) -> None:
        self.app = app
        self.tenant = app.tenant

    def operations(self) -> dict[str, Callable[..., Any]]:
        ops = {name: getattr(self, name) for name in dir(self)
               if not name.startswith("_") and name not in ("operations", "http", "call", "app", "tenant")}
        for area in self.tenant.areas.values():
            ops.update(getattr(area, "control_ops", dict)())
        return ops

    def call(self, op: str, **kwargs: Any) -> Any:
        fn = self.operations().get(op)
        if fn is None:
            raise bad_request(f"Unknown control operation '{op}'.")
        return fn(**kwargs)

    def http(self, method: str, path: str, raw_query: str, body: bytes) -> Response:
        query = dict(parse_qsl(raw_query))
        if method == "GET" and path == "/journal":
            since = int(query.get("since", "0"))
            return json_response({"value": self.journal(since, grants=query.get("grants") in ("1", "true"))})
        if method == "POST" and path.startswith("/control/"):
            kwargs = orjson.loads(body) if body else {}
            try:
                return json_response({"result": self.call(path.removeprefix("/control/"), **kwargs)})
            except TypeError as exc:
                raise bad_request(f"Bad arguments: {exc}") from None
        raise ApiError(404, "NotFound", f"No control endpoint {method} {path}")

    # -- tenant ----------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        cfg = self.tenant.config
        return {"tenant_id": cfg.tenant_id, "tenant_domain": cfg.tenant_domain, "client_id": cfg.client_id,
                "seed": cfg.seed, "scale": asdict(cfg.scale), "users": len(self.tenant.users),
                "clock": self.tenant.clock.value, "epoch": content.iso(self.tenant.epoch)}

    def user_ids(self) -> list[str]:
        return self.tenant.user_ids()

    def users_state(self) -> dict[str, dict]:
        """Every live user, as the directory returns them."""
        return {k: public(v) for k, v in self.tenant.users.items()}

    def create_user(self, fields: dict) -> dict:
        return public(self.tenant.create_user(fields))

    def update_user(self, user: str, fields: dict) -> dict:
        return public(self.tenant.update_user(user, fields))

    def delete_user(self, user: str, permanent: bool = False) -> None:
        self.tenant.delete_user(user, permanent)

    def restore_user(self, user: str) -> dict:
        return public(self.tenant.restore_user(user))

    # -- mail ------------------------------------------------------------------------------------
    def mailbox_state(self, user: str) -> dict[str, Any]:
        """The exact mail state of a mailbox: folders and every live message (immutable ids)."""
        user_id, _ = self.tenant.resolve_user(user)
        box = mailbox(self.tenant, user_id)
        folders = {k: box.render_folder(k, v) for k, v in box.folders.items()}
        messages = {box.render_message(k, v, True)["id"]: box.render_message(k, v, True)
                    for fid in folders for k, v in box.messages[fid].items()}
        return {"folders": folders, "messages": messages}

    def folder_id(self, user: str, folder: str) -> str:
        user_id, _ = self.tenant.resolve_user(user)
        return self._folder(mailbox(self.tenant, user_id), folder)

    def create_message(self, user: str, folder: str = "inbox", fields: dict | None = None) -> dict:
        user_id, _ = self.tenant.resolve_user(user)
        box = mailbox(self.tenant, user_id)
        defaults = {"subject": "Simulated new message", "body": {"contentType": "html", "content": "<p>Hi</p>"},
                    "toRecipients": [box.owner.recipient()], "isRead": False}
        key, item = box.create_message(self._folder(box, folder), {**defaults, **(fields or {})}, draft=False)
        return self._message_ids(box, key, item)

    def update_message(self, user: str, message_id: str, fields: dict) -> dict:
        box, key = self._message(user, message_id)
        return self._message_ids(box, key, box.update_message(key, fields))

    def delete_message(self, user: str, message_id: str, soft: bool = False) -> None:
        box, key = self._message(user, message_id)
        box.delete_message(key, soft=soft)

    def move_message(self, user: str, message_id: str, folder: str) -> dict:
        box, key = self._message(user, message_id)
        return self._message_ids(box, key, box.move_message(key, self._folder(box, folder)))

    def restore_message(self, user: str, message_id: str) -> dict:
        user_id, _ = self.tenant.resolve_user(user)
        box = mailbox(self.tenant, user_id)
        parsed = ids.parse_item_id(message_id)
        if parsed is None:
            raise bad_request("Id is malformed.")
        return self._message_ids(box, parsed[0], box.restore_message(parsed[0]))

    def create_folder(self, user: str, name: str, parent: str | None = None) -> dict:
        user_id, _ = self.tenant.resolve_user(user)
        box = mailbox(self.tenant, user_id)
        parent_id = self._folder(box, parent or "msgfolderroot")
        item = box.create_folder(parent_id, name)
        return box.render_folder(item["id"], item)

    def rename_folder(self, user: str, folder: str, name: str) -> None:
        user_id, _ = self.tenant.resolve_user(user)
        box = mailbox(self.tenant, user_id)
        fid = self._folder(box, folder)
        patch_item(self.tenant, box.folders, fid, box.folder(fid), {"displayName": name}, stamp=False)

    def delete_folder(self, user: str, folder: str) -> None:
        user_id, _ = self.tenant.resolve_user(user)
        box = mailbox(self.tenant, user_id)
        box.delete_folder(self._folder(box, folder))

    @staticmethod
    def _folder(box: Any, name: str) -> str:
        """A folder by id, well-known name or display name (tests say "alpha" for the nested folder)."""
        try:
            return box.folder_id(name)
        except ApiError:
            for key, folder in box.folders.items():
                if folder.get("displayName", "").lower() == name.lower():
                    return key
            raise

    def _message(self, user: str, message_id: str):
        user_id, _ = self.tenant.resolve_user(user)
        box = mailbox(self.tenant, user_id)
        key, _, _ = box.find(message_id)
        return box, key

    @staticmethod
    def _message_ids(box: Any, key: str, item: dict) -> dict:
        out = box.render_message(key, item, True)
        out["restId"] = ids.rest_id(key, item.get("_moves", 0))
        return out

    # -- delta, auth, faults, journal ------------------------------------------------------------
    def evict_delta(self, prefix: str = "") -> int:
        """Forget sync states (all, or those of collections whose name starts with `prefix`, e.g.
        "messages/<user-id>/"): the next use of their tokens answers 410."""
        return self.tenant.chains.evict(prefix)

    def expire_tokens(self) -> int:
        return self.app.tokens.expire_all()

    def set_token_lifetime(self, seconds: int) -> None:
        self.app.tokens.app.token_lifetime_s = seconds

    def tokens_issued(self) -> int:
        return self.app.tokens.issued

    def approve_device_code(self, user_code: str, user: str) -> bool:
        """Sign in as `user` (id or UPN) and approve a pending device code; False if no such code."""
        user_id, _ = self.tenant.resolve_user(user)
        return self.app.tokens.approve_device_code(user_code, user_id)

    def pending_device_codes(self) -> list[str]:
        """The user codes of device flows waiting for a sign-in."""
        return self.app.tokens.pending_device_codes()

    def revoke_refresh_tokens(self, user: str) -> int:
        """Revoke every refresh token of `user` (revokeSignInSessions): later refresh grants get
        400 invalid_grant AADSTS50173. Returns how many were revoked."""
        user_id, _ = self.tenant.resolve_user(user)
        return self.app.tokens.revoke_refresh_tokens(user_id)

    def idle_refresh_tokens(self, user: str, days: float = 91) -> int:
        """Age `user`'s refresh tokens as if unused for `days` (> 90: AADSTS700082 on refresh)."""
        user_id, _ = self.tenant.resolve_user(user)
        return self.app.tokens.idle_refresh_tokens(user_id, days)

    def set_denied(self, permissions: list[str]) -> list[str]:
        """Withhold these permissions (roles and scopes) from every token issued from now on;
        `[]` grants everything again. Tokens already issued keep what they carry."""
        self.app.tokens.denied = frozenset(permissions)
        return sorted(self.app.tokens.denied)

    def denied(self) -> list[str]:
        return sorted(self.app.tokens.denied)

    def permission_table(self) -> list[dict]:
        """The route -> permission table the simulator enforces (connectors/simulator/permissions.py)."""
        return [{"methods": sorted(r.methods), "route": r.glob, "workload": r.need.workload,
                 "delegated": list(r.need.delegated), "application": list(r.need.application), "doc": r.need.doc}
                for r in RULES]

    def set_faults(self, rules: list[dict]) -> list[dict]:
        self.app.faults.set_rules([FaultRule.from_dict(r) for r in rules])
        return [r.as_dict() for r in self.app.faults.rules]

    def faults(self) -> list[dict]:
        return [r.as_dict() for r in self.app.faults.rules]

    def set_throttle(self, **policy: Any) -> dict:
        for name, value in policy.items():
            if not hasattr(self.app.faults.policy, name):
                raise bad_request(f"Unknown throttle setting '{name}'.")
            setattr(self.app.faults.policy, name, value)
        return asdict(self.app.faults.policy)

    def journal(self, since: int = 0, grants: bool = False) -> list[dict]:
        """Graph requests after `since`; with `grants=True` the token endpoint's requests too, in
        order, each with its `grant_type` ("client_credentials", "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code", or "device_authorization" for a new device code)."""
        return [e.as_dict() for e in self.app.journal.since(since) if grants or e.grant_type is None]

    def token_grants(self, since: int = 0) -> list[dict]:
        """Only the token endpoint's requests after `since` (see `journal`)."""
        return [e.as_dict() for e in self.app.journal.since(since) if e.grant_type is not None]

    def journal_mark(self) -> int:
        """The journal's current position: pass it to `journal(since=...)` to see only later requests."""
        return self.app.journal.seq

    def set_delta_knobs(self, **knobs: Any) -> dict:
        for name, value in knobs.items():
            if not hasattr(self.tenant.config.knobs, name):
                raise bad_request(f"Unknown delta setting '{name}'.")
            setattr(self.tenant.config.knobs, name, value)
        return asdict(self.tenant.config.knobs)
