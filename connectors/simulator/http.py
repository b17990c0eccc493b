"""Framework-free request/response types, Graph error bodies and the path router.

The whole Graph surface is a function Request -> Response so that `$batch` can dispatch its inner
requests through exactly the same code as the HTTP server does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import orjson


class ApiError(Exception):
    """A Graph error response: {"error": {"code", "message", "innerError"}}."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 inner_code: str | None = None, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.inner_code = inner_code
        self.details = details  # the directory's error.details, e.g. [{"code": "InvalidValue", "target": ...}]


def bad_request(message: str, code: str = "BadRequest") -> ApiError:
    return ApiError(400, code, message)


def not_found(message: str = "The specified object was not found in the store.",
              code: str = "ErrorItemNotFound") -> ApiError:
    return ApiError(404, code, message)


@dataclass
class Principal:
    """Who a bearer token speaks for: an app (app-only) or a user (delegated)."""

    client_id: str
    user_id: str | None  # None for app-only tokens
    expires_at: float
    permissions: frozenset[str] = frozenset()  # the token's `roles` (app-only) or `scp` (delegated)


@dataclass
class Request:
    method: str
    path: str  # below the API root, e.g. "/users/abc/messages"; already percent-decoded per segment
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    base_url: str  # e.g. "https://127.0.0.1:8443/v1.0"
    principal: Principal | None = None
    params: dict[str, str] = field(default_factory=dict)
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise bad_request(f"Unable to read JSON request payload: {exc}", "BadRequest") from None

    def action_params(self) -> dict[str, Any]:
        """The body of an OData action (move, sendMail, createLink...). Graph matches action parameter
        names case-insensitively and Microsoft's SDKs send them PascalCase ("DestinationId")."""
        body = self.json()
        if not isinstance(body, dict):
            raise bad_request("Action parameters must be a JSON object.")
        return {k[:1].lower() + k[1:]: v for k, v in body.items()}

    @property
    def prefer(self) -> dict[str, str]:
        """Prefer header preferences, e.g. {"odata.maxpagesize": "50", "idtype": '"ImmutableId"'}."""
        out: dict[str, str] = {}
        for part in self.headers.get("prefer", "").split(","):
            name, _, value = part.strip().partition("=")
            if name:
                out[name.strip().lower()] = value.strip()
        return out

    @property
    def immutable_ids(self) -> bool:
        return self.prefer.get("idtype", "").strip('"').lower() == "immutableid"

    @property
    def client_request_id(self) -> str:
        """The client's `client-request-id` header, or the request-id when it sent none (Graph echoes
        both in the response headers and in every error's innerError; concepts/errors.md)."""
        return self.headers.get("client-request-id") or self.request_id

    def link(self, path: str, **query: str) -> str:
        q = "&".join(f"{k}={v}" for k, v in query.items())
        return f"{self.base_url}{path}" + (f"?{q}" if q else "")


@dataclass
class Response:
    status: int
    body: Any = None  # dict/list -> JSON; bytes -> as-is; None -> empty
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return orjson.dumps(self.body)


def error_response(err: ApiError, request_id: str, client_request_id: str | None = None) -> Response:
    """Graph's error envelope (concepts/errors.md): innerError carries `date`, `request-id` and the
    `client-request-id` the client sent (the request-id when it sent none), as the response headers do."""
    inner: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": client_request_id or request_id,
    }
    if err.inner_code:
        inner["code"] = err.inner_code
    error: dict[str, Any] = {"code": err.code, "message": err.message, "innerError": inner}
    if err.details:
        error["details"] = err.details
    body = {"error": error}
    headers = {"content-type": "application/json", **err.headers}
    return Response(err.status, body, headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, body, {"content-type": "application/json; odata.metadata=minimal", **(headers or {})})


# -- routing ---------------------------------------------------------------------------------------
Handler = Callable[[Request], Response]
_FUNCTION_SEGMENT = re.compile(r"^([A-Za-z.]+)\((.*)\)$")
_FUNCTION_ARG = re.compile(r"(\w+)\s*=\s*'((?:[^']|'')*)'")
_KEY_SEGMENT = re.compile(r"^([A-Za-z]\w*)\('((?:[^']|'')*)'\)$")  # entity('key'): a key, not a function


def split_path(path: str) -> tuple[list[str], dict[str, str]]:
    """Segments of a path, with OData keys and function-call arguments lifted out.

    - A key in parentheses addresses that entity, as Graph hands such URLs out in `Location` and
      `Content-Location` headers (team-post.md, teamsasyncoperation.md):
      `/teams('t')/operations('o')` -> (["teams", "t", "operations", "o"], {}).
    - Named arguments are function parameters:
      `/users/u/findRooms(RoomList='x@y')` -> (["users", "u", "findRooms"], {"RoomList": "x@y"}).
    """
    segments: list[str] = []
    args: dict[str, str] = {}
    for raw in path.strip("/").split("/"):
        if not raw:
            continue
        seg = unquote(raw)
        key = _KEY_SEGMENT.match(seg)
        if key:
            segments.extend([key.group(1), key.group(2).replace("''", "'")])
            continue
        m = _FUNCTION_SEGMENT.match(seg)
        if m:
            seg = m.group(1)
            args.update({k: v.replace("''", "'") for k, v in _FUNCTION_ARG.findall(m.group(2))})
        segments.append(seg)
    return segments, args


def not_modelled(method: str, path: str, detail: str = "") -> ApiError:
    """501: Graph serves this path but the simulator does not model it (concepts/errors.md: 501 Not
    Implemented). Never Graph's own "Resource not found for the segment", which means Graph lacks it."""
    message = f"The simulator does not model {method} {path}." + (f" {detail}" if detail else "")
    return ApiError(501, "NotImplementedInSimulator", message)


@dataclass
class Route:
    method: str
    pattern: list[str]  # literals (matched case-insensitively) and {name} placeholders
    handler: Handler


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append(Route(method, [p for p in pattern.strip("/").split("/") if p], handler))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler)
            return handler

        return register

    def match(self, method: str, segments: list[str]) -> tuple[Handler, dict[str, str]] | None | bool:
        found = self.find(method, segments)
        if isinstance(found, tuple):
            return found[0].handler, found[1]
        return found

    def find(self, method: str, segments: list[str]) -> tuple[Route, dict[str, str]] | None | bool:
        """(route, params); False when the path exists under another method; None when unknown.

        When several patterns match (`/users/delta` and `/users/{user-id}`), the one with more
        literal segments wins, whatever the registration order.
        """
        best: tuple[int, Route, dict[str, str]] | None = None
        path_known = False
        for route in self._routes:
            params = _match(route.pattern, segments)
            if params is None:
                continue
            path_known = True
            literals = len(route.pattern) - len(params)
            if route.method == method and (best is None or literals > best[0]):
                best = (literals, route, params)
        if best is not None:
            return best[1], best[2]
        return False if path_known else None

    def top_segments(self) -> set[str]:
        """The first segments of every registered route, lower-cased ("users", "teams", ...)."""
        return {r.pattern[0].lower() for r in self._routes if r.pattern and not r.pattern[0].startswith("{")}


def _match(pattern: list[str], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    params: dict[str, str] = {}
    for pat, seg in zip(pattern, segments, strict=True):
        if pat.startswith("{"):
            params[pat[1:-1]] = seg
        elif pat.lower() != seg.lower():
            return None
    return params
