"""The simulator's ASGI application: Entra endpoints, the Graph v1.0 surface, `$batch`, content
downloads and the private control surface under `/_sim/`.

Graph handlers are synchronous functions over in-memory state and run on the event loop thread, so
no locking is needed; only the optional latency and the response body transfer yield.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from connectors.simulator.auth import AppRegistration, TenantNotFound, TokenService
from connectors.simulator.faults import DROP, FaultInjector, FaultRule, throttled, unavailable
from connectors.simulator.http import (
    ApiError,
    Principal,
    Request,
    Response,
    Router,
    bad_request,
    error_response,
    json_response,
    not_modelled,
    split_path,
)
from connectors.simulator.permissions import enforce
from connectors.simulator.tenant import Tenant

API_ROOT = "/v1.0"
CONTROL_ROOT = "/_sim"
# Path segments that address a user's Outlook data: requests to them count against the mailbox limits.
_MAILBOX_AREAS = {"messages", "mailfolders", "events", "calendar", "calendars", "calendarview", "calendargroups",
                  "outlook", "sendmail", "findmeetingtimes", "findrooms", "findroomlists"}


@dataclass
class JournalEntry:
    seq: int
    at: float
    method: str
    path: str
    query: str
    status: int
    mailbox: str | None
    headers: dict[str, str]
    in_batch: bool = False
    grant_type: str | None = None  # token endpoint entries: the grant ("refresh_token", ...)
    user: str | None = None  # token endpoint entries: the user the grant was for

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class Journal:
    """Every Graph request received, so tests can assert exactly what a client sent."""

    limit: int = 200_000
    entries: deque[JournalEntry] = field(default_factory=deque)
    seq: int = 0

    def record(self, req: Request, status: int, mailbox: str | None, in_batch: bool, raw_query: str) -> None:
        self.seq += 1
        kept = {k: v for k, v in req.headers.items() if k in ("prefer", "if-match", "client-request-id",
                                                              "content-type", "consistencylevel", "content-range")}
        self.entries.append(JournalEntry(self.seq, time.time(), req.method, req.path, raw_query, status, mailbox,
                                         kept, in_batch))
        while len(self.entries) > self.limit:
            self.entries.popleft()

    def record_grant(self, grant_type: str, status: int, user: str | None) -> None:
        """A token endpoint request (or a device authorization, grant_type "device_authorization")."""
        self.seq += 1
        path = "/oauth2/v2.0/devicecode" if grant_type == "device_authorization" else "/oauth2/v2.0/token"
        self.entries.append(JournalEntry(self.seq, time.time(), "POST", path, "", status, None, {}, False,
                                         grant_type, user))
        while len(self.entries) > self.limit:
            self.entries.popleft()

    def since(self, seq: int = 0) -> list[JournalEntry]:
        return [e for e in self.entries if e.seq > seq]


# Top-level entity sets and singletons of Graph v1.0's metadata ($metadata) that the simulator serves
# no route under: a request there is a path Graph has and the simulator does not model (501).
GRAPH_ROOTS = frozenset(name.lower() for name in (
    "admin", "agreements", "appCatalogs", "applications", "auditLogs", "communications", "contacts",
    "dataPolicyOperations", "deviceAppManagement", "deviceManagement", "devices", "directory",
    "directoryObjects", "directoryRoles", "domains", "drive", "education", "employeeExperience", "external",
    "groupLifecyclePolicies", "identity", "identityGovernance", "identityProtection", "informationProtection",
    "invitations", "oauth2PermissionGrants", "places", "planner", "policies", "print",
    "privacy", "reports", "roleManagement", "schemaExtensions", "search", "security", "servicePrincipals",
    "shares", "sites", "solutions", "storage", "subscribedSkus", "subscriptions", "teamwork", "tenantRelationships",
))


class GraphApp:
    def __init__(self, tenant: Tenant, faults: FaultInjector | None = None,
                 denied: frozenset[str] = frozenset()) -> None:
        self.tenant = tenant
        cfg = tenant.config
        self.tokens = TokenService(AppRegistration(cfg.tenant_id, cfg.tenant_domain, cfg.client_id, cfg.client_secret),
                                   denied=frozenset(denied))
        self.faults = faults or FaultInjector(cfg.seed)
        self.journal = Journal()
        self._batch_lost = False  # set while a $batch runs: an item matched a DROP rule
        self.tokens.on_grant = self.journal.record_grant
        self.tokens.upn_of = self._upn_of
        self.router = Router()
        from connectors.simulator.areas import register_areas  # late: areas import this module's peers
        from connectors.simulator.control import Control

        register_areas(tenant, self.router)
        self.control = Control(self)

    def _upn_of(self, user_id: str) -> str | None:
        try:
            return self.tenant.resolve_user(user_id)[1].get("userPrincipalName")
        except ApiError:
            return None

    # -- ASGI --------------------------------------------------------------------------------------
    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        host = headers.get("host", "127.0.0.1")
        origin = f"{scope.get('scheme', 'https')}://{host}"
        path: str = scope["path"]
        raw_query = scope.get("query_string", b"").decode()
        response = await self._route(scope["method"], path, raw_query, headers, body, origin)
        if response.status == DROP:
            await _drop(send)
            return
        await _send(send, response)

    async def _route(self, method: str, path: str, raw_query: str, headers: dict[str, str], body: bytes,
                     origin: str) -> Response:
        try:
            if path.startswith(API_ROOT + "/") or path == API_ROOT:
                return await self._graph(method, path[len(API_ROOT):], raw_query, headers, body, origin)
            if path.startswith(CONTROL_ROOT + "/"):
                return self.control.http(method, path[len(CONTROL_ROOT):], raw_query, body)
            if path.startswith("/_download/"):
                return self.tenant.areas["drive"].download(path.removeprefix("/_download/"))
            if path.startswith("/_upload/attachments/"):
                return self._upload(method, path, raw_query, headers, body, origin)
            return self._entra(method, path, headers, body, origin)
        except TenantNotFound as exc:
            return exc.response
        except ApiError as exc:
            return error_response(exc, str(uuid.uuid4()), headers.get("client-request-id"))

    def _upload(self, method: str, path: str, raw_query: str, headers: dict[str, str], body: bytes,
                origin: str) -> Response:
        """A PUT or DELETE on an attachment upload session's pre-authenticated uploadUrl: no bearer token
        (outlook-large-attachments.md). Journaled like Graph requests, and fault rules apply, so tests can
        check the ranges a client sent and break an upload midway."""
        req = Request(method, path, dict(parse_qsl(raw_query, keep_blank_values=True)), headers, body,
                      origin + API_ROOT)
        rule = self.faults.injected(method, path, None)
        if rule is not None:
            response = self._fault_response(rule, req)
        else:
            try:
                response = self.tenant.areas["attachments"].upload(method, path, req.query, headers, body, origin)
            except ApiError as exc:
                response = error_response(exc, req.request_id, req.client_request_id)
        self.journal.record(req, response.status, None, False, raw_query)
        response.headers.setdefault("request-id", req.request_id)
        return response

    def _entra(self, method: str, path: str, headers: dict[str, str], body: bytes, origin: str) -> Response:
        parts = path.strip("/").split("/")
        tenant = parts[0] if parts else ""
        rest = "/".join(parts[1:])
        if method == "GET" and rest == "v2.0/.well-known/openid-configuration":
            return self.tokens.openid_configuration(origin, tenant)
        if method == "POST" and rest == "oauth2/v2.0/token":
            return self.tokens.token(tenant, body, headers.get("authorization"))
        if method == "POST" and rest == "oauth2/v2.0/devicecode":
            return self.tokens.device_authorization(origin, tenant, body)
        return json_response({"error": "not_found", "error_description": f"No endpoint at {path}"}, 404)

    # -- Graph -------------------------------------------------------------------------------------
    async def _graph(self, method: str, path: str, raw_query: str, headers: dict[str, str], body: bytes,
                     origin: str) -> Response:
        req = Request(method, path, dict(parse_qsl(raw_query, keep_blank_values=True)), headers, body,
                      origin + API_ROOT)
        mailbox: str | None = None
        try:
            req.principal = self.tokens.authenticate(headers.get("authorization"))
            if path.strip("/") == "$batch" and method == "POST":
                response = self._batch(req)
                self.journal.record(req, response.status, None, False, raw_query)
                response.headers.setdefault("request-id", req.request_id)  # as on every Graph response
                return response
            segments, args = self._canonical(req)
            mailbox = self._mailbox_of(segments)
            rule = self.faults.injected(method, req.path, mailbox)
            if rule is not None and rule.status == DROP and rule.applied:
                # Graph applied the request; only its answer is lost.
                await self._run(req, segments, args)
                self.journal.record(req, rule.status, mailbox, False, raw_query)
                return Response(DROP)
            if rule is not None:
                response = self._fault_response(rule, req)
                self.journal.record(req, rule.status, mailbox, False, raw_query)
                return response
            if mailbox is None:
                response = await self._run(req, segments, args)
            else:
                self.faults.charge_budget(mailbox)
                self.faults.enter(mailbox)
                try:
                    response = await self._run(req, segments, args)
                finally:
                    self.faults.leave(mailbox)
        except ApiError as exc:
            response = error_response(exc, req.request_id, req.client_request_id)
        self.journal.record(req, response.status, mailbox, False, raw_query)
        response.headers.setdefault("request-id", req.request_id)
        response.headers.setdefault("client-request-id", req.client_request_id)
        return response

    async def _run(self, req: Request, segments: list[str], args: dict[str, str]) -> Response:
        if self.faults.policy.latency_s:
            await asyncio.sleep(self.faults.policy.latency_s)
        return self._dispatch(req, segments, args)

    def _dispatch(self, req: Request, segments: list[str], args: dict[str, str]) -> Response:
        found = self.router.find(req.method, segments)
        if found is None:
            raise self._unknown_route(req, segments)
        if found is False:
            raise ApiError(405, "Request_BadRequest", f"Specified HTTP method is not allowed for the request "
                                                      f"target: {req.method} {req.path}.")
        route, params = found  # type: ignore[misc]
        enforce(req.method, "/".join(route.pattern), req.principal)
        req.params = {**params, **args}
        return route.handler(req)

    def _unknown_route(self, req: Request, segments: list[str]) -> ApiError:
        """A path no route serves. Under a top-level segment the simulator serves (users, teams, chats...)
        or another that Graph v1.0 has (GRAPH_ROOTS: places, sites, ...), it is most likely a Graph path
        the simulator does not model: 501 with the simulator's own code.
        Anything else gets Graph's own answer for a path missing from its metadata (400)."""
        if segments and (segments[0].lower() in self.router.top_segments() or segments[0].lower() in GRAPH_ROOTS):
            return not_modelled(req.method, req.path)
        return bad_request(f"Resource not found for the segment '{segments[-1] if segments else ''}'.", "BadRequest")

    def _canonical(self, req: Request) -> tuple[list[str], dict[str, str]]:
        """Rewrite `/me/...` to `/users/{signed-in user}/...` and resolve UPNs to user ids."""
        segments, args = split_path(req.path)
        if segments and segments[0].lower() == "me":
            principal = req.principal
            if principal is None or principal.user_id is None:
                raise bad_request("/me request is only valid with delegated authentication flow.", "BadRequest")
            segments = ["users", principal.user_id, *segments[1:]]
        elif segments and segments[0].lower() == "user":  # the catalogue's "/user/{id}/calendar" spelling
            segments = ["users", *segments[1:]]
        if len(segments) >= 2 and segments[0].lower() == "users" and segments[1].lower() != "delta":
            segments[1], _ = self.tenant.resolve_user(segments[1])
            self._check_mailbox_access(req.principal, segments)
        req.path = "/" + "/".join(segments)
        return segments, args

    def _check_mailbox_access(self, principal: Principal | None, segments: list[str]) -> None:
        if principal and principal.user_id and len(segments) > 2 and segments[1] != principal.user_id:
            raise ApiError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    @staticmethod
    def _mailbox_of(segments: list[str]) -> str | None:
        if len(segments) >= 3 and segments[0].lower() == "users" and segments[2].lower() in _MAILBOX_AREAS:
            return segments[1]
        return None

    def _fault_response(self, rule: FaultRule, req: Request) -> Response:
        if rule.status == DROP:
            return Response(DROP)
        if rule.status == 429:
            return error_response(throttled(rule.retry_after), req.request_id, req.client_request_id)
        if rule.status in (503, 504):
            return error_response(unavailable(rule.status, rule.retry_after), req.request_id, req.client_request_id)
        return error_response(ApiError(rule.status, "InjectedFault", "Fault injected by the simulator."),
                              req.request_id, req.client_request_id)

    # -- $batch (concepts/json-batching.md) ------------------------------------------------------------
    def _batch(self, outer: Request) -> Response:
        payload = outer.json()
        items = payload.get("requests") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not items:
            raise bad_request("Invalid batch payload format.", "BadRequest")
        if len(items) > 20:
            raise bad_request("Number of batch request steps exceeds the maximum of 20.", "BadRequest")
        seen: set[str] = set()
        for item in items:
            item_id = str(item.get("id", "")).lower()
            if not item_id or item_id in seen:
                raise bad_request("Batch request contains duplicate or missing ids.", "BadRequest")
            seen.add(item_id)
            if "body" in item and not item.get("headers"):
                raise bad_request("Write request id : " + str(item["id"]) + " does not contain Content-Type "
                                  "header or body.", "BadRequest")
        results: dict[str, dict] = {}
        self._batch_lost = False
        for item in items:
            results[str(item["id"]).lower()] = self._batch_item(outer, item, results)
        if self._batch_lost:  # an item matched a DROP rule: the whole batch's answer is lost
            return Response(DROP)
        return json_response({"responses": [results[str(i["id"]).lower()] for i in items]})

    def _batch_item(self, outer: Request, item: dict, done: dict[str, dict]) -> dict:
        depends = [str(d).lower() for d in item.get("dependsOn") or []]
        if any(d not in done for d in depends):
            return _batch_result(item, error_response(bad_request("dependsOn refers to a later or unknown request."),
                                                      outer.request_id, outer.client_request_id))
        if any(not 200 <= done[d]["status"] < 300 for d in depends):
            return _batch_result(item, error_response(ApiError(424, "FailedDependency", "Failed dependency."),
                                                      outer.request_id, outer.client_request_id))
        url = str(item.get("url", ""))
        path, _, query = url.partition("?")
        headers = {**{k.lower(): v for k, v in outer.headers.items() if k.lower() == "authorization"},
                   **{k.lower(): str(v) for k, v in (item.get("headers") or {}).items()}}
        body = item.get("body")
        raw = b"" if body is None else (body.encode() if isinstance(body, str) else orjson.dumps(body))
        req = Request(str(item.get("method", "GET")).upper(), "/" + path.lstrip("/"),
                      dict(parse_qsl(query, keep_blank_values=True)), headers, raw, outer.base_url,
                      principal=outer.principal)
        mailbox = None
        try:
            segments, args = self._canonical(req)
            mailbox = self._mailbox_of(segments)
            rule = self.faults.injected(req.method, req.path, mailbox)
            if rule is not None and rule.status == DROP:
                self._batch_lost = True
            if rule is not None and (rule.status != DROP or not rule.applied):
                response = self._fault_response(rule, req)
            else:
                if mailbox is not None:
                    self.faults.charge_budget(mailbox)
                response = self._dispatch(req, segments, args)
        except ApiError as exc:
            response = error_response(exc, req.request_id, req.headers.get("client-request-id")
                                      or outer.client_request_id)
        self.journal.record(req, response.status, mailbox, True, query)
        return _batch_result(item, response)


def _batch_result(item: dict, response: Response) -> dict:
    out: dict[str, Any] = {"id": str(item.get("id")), "status": response.status,
                           "headers": {k: v for k, v in response.headers.items()
                                       if k in ("content-type", "retry-after", "location", "etag")}}
    if response.body is not None:
        out["body"] = response.body if not isinstance(response.body, bytes) else response.body.decode(
            "latin-1")
    return out


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send(send: Any, response: Response) -> None:
    payload = response.encoded()
    headers = [(k.encode(), str(v).encode()) for k, v in response.headers.items()]
    headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _drop(send: Any) -> None:
    """Promise a body, send part of it, then fail: the client sees the connection close mid-response."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
    await send({"type": "http.response.body", "body": b'{"value": [', "more_body": True})
    raise ConnectionAbortedError("simulated dropped connection")
