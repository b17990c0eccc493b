"""Exceptions raised by the Graph client. Every message is one human-readable line.

Messages never contain secrets, tokens or query strings (nextLinks/deltaLinks carry long
opaque tokens that are useless to a reader and may be sensitive).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

# Graph signals "your delta/sync state is gone, start over" with 410 or with these codes
# (resyncRequired, syncStateNotFound, SyncStateNotFound, resyncApplyDifferences, ...).
_SYNC_STATE_CODE = re.compile(r"syncstate|resync", re.IGNORECASE)
_MAX_MESSAGE_CHARS = 300


class GraphClientError(Exception):
    """Base class for everything the Graph client raises on purpose."""


class AuthError(GraphClientError):
    """The token endpoint refused to issue a token (bad secret, unknown tenant, bad scope...)."""


class GraphUnreachable(GraphClientError):
    """A host could not be reached (DNS, refused connection, TLS failure, timeouts) after retries."""

    def __init__(self, message: str, *, host: str | None = None) -> None:
        super().__init__(message)
        self.host = host


class OutcomeUnknown(GraphUnreachable):
    """A non-idempotent request (POST) lost its connection after being sent: it may have been
    applied. It is not retried; the caller must check (e.g. look for the created item) before resending.
    """


class GraphError(GraphClientError):
    """Graph answered with a non-2xx status (after any retries)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str | None,
        url_path: str,
        *,
        method: str = "GET",
        retries: int = 0,
        client_request_id: str | None = None,
        body: Any = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.url_path = url_path
        self.method = method
        self.retries = retries
        self.client_request_id = client_request_id
        self.body = body
        super().__init__(self._one_line())

    def _one_line(self) -> str:
        text = f"Graph {self.status} {self.code or 'error'} on {self.method} {self.url_path}"
        if self.message:
            text += f": {self.message}"
        notes = []
        if self.retries:
            notes.append(f"gave up after {self.retries} retries")
        if self.request_id:
            notes.append(f"request-id {self.request_id}")
        if notes:
            text += f" ({'; '.join(notes)})"
        return text


class SyncStateLost(GraphError):
    """The delta/sync state is gone (410 or a *syncState*/*resync* error code): drop the link, resync.

    `location` is the response's Location header when Graph sent one (the restart URL on 410).
    """

    def __init__(self, *args: Any, location: str | None = None, **kwargs: Any) -> None:
        self.location = location
        super().__init__(*args, **kwargs)


def is_sync_state_lost(status: int, error_codes: list[str]) -> bool:
    if status == 410:
        return True
    return 400 <= status < 500 and any(_SYNC_STATE_CODE.search(code) for code in error_codes)


def error_codes(body: Any) -> list[str]:
    """The top-level `error.code` followed by every nested innerError code."""
    return [code for code in _walk_codes(body.get("error") if isinstance(body, dict) else None)]


def _walk_codes(error: Any) -> Iterator[str]:
    depth = 0
    while isinstance(error, dict) and depth < 10:
        code = error.get("code")
        if isinstance(code, str) and code:
            yield code
        error = error.get("innerError") or error.get("innererror")
        depth += 1


def error_message(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return one_line(message) if isinstance(message, str) else ""


def error_request_id(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    inner = error.get("innerError") if isinstance(error, dict) else None
    request_id = inner.get("request-id") if isinstance(inner, dict) else None
    return request_id if isinstance(request_id, str) else None


def one_line(text: str, limit: int = _MAX_MESSAGE_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def error_from_answer(status: int, body: Any, headers: Mapping[str, str], method: str, path: str) -> GraphError:
    """The exception for a Graph error answer that did not come as an HTTP response of its own
    (a `$batch` item), matching what the client raises for the same answer over plain HTTP."""
    lowered = {k.lower(): v for k, v in headers.items()}
    codes = error_codes(body)
    args = (status, codes[0] if codes else f"HTTP{status}", error_message(body),
            lowered.get("request-id") or error_request_id(body), path)
    if is_sync_state_lost(status, codes):
        return SyncStateLost(*args, location=lowered.get("location"), method=method, body=body)
    return GraphError(*args, method=method, body=body)
