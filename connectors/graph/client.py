"""Async Microsoft Graph client: one pooled httpx connection set, retries, throttling, paging, batching.

Design notes (see reference/graph-semantics.md §3-5, 7):
- 429/503/504 are retried honouring Retry-After, else capped exponential backoff with full jitter,
  bounded by a per-request time budget and a retry count.
- Outlook allows 4 concurrent requests per app+mailbox, so requests addressed to one mailbox share
  a semaphore of that size, inside a global concurrency limit.
- nextLinks/deltaLinks are opaque: they are sent exactly as received.
- Writes are never replayed when the outcome is unknown (a dropped connection after sending).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import httpx
import orjson

from connectors.graph.auth import ClientCredentialsProvider, TokenProvider
from connectors.graph.errors import (
    GraphClientError,
    GraphError,
    GraphUnreachable,
    OutcomeUnknown,
    SyncStateLost,
    error_codes,
    error_message,
    error_request_id,
    is_sync_state_lost,
    one_line,
)
from connectors.graph.retry import (
    IDEMPOTENT_METHODS,
    RETRYABLE_STATUSES,
    RETRYABLE_STATUSES_NON_IDEMPOTENT,
    backoff_seconds,
    retry_after_seconds,
)
from connectors.graph.tls import is_certificate_failure, ssl_context
from connectors.settings import GraphSettings

log = logging.getLogger("graphsync.graph")

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_BATCH_ITEMS = 20
IMMUTABLE_ID_PREFERENCE = 'IdType="ImmutableId"'
# Path segments of Outlook resources whose ids change on move unless immutable ids are requested.
_OUTLOOK_SEGMENTS = frozenset({"messages", "mailfolders", "events", "calendar", "calendarview", "calendars"})
# A path of one mailbox: /users/{id}/..., or /me/... (a delegated client is one person's: one mailbox).
_USER_SCOPED_PATH = re.compile(r"^/(?:users/([^/?#]+)|me)/")
# Transport failures where the request provably never reached the server: safe to resend any method.
MAX_CONNECT_RETRIES = 3
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Characters left readable in query strings we build (Graph docs write $filter=... this way).
_QUERY_SAFE = "$'(),:/@"

Sleep = Callable[[float], Awaitable[None]]


def _user_agent() -> str:
    try:
        return f"graphsync/{version('graphsync')}"
    except PackageNotFoundError:
        return "graphsync/0+unknown"


class WaitClock:
    """Wall-clock time during which at least one request was waiting to be retried.

    Concurrent waits overlap: ten requests each waiting 2 s at once are 2 s of a run spent
    throttled, not 20. Clients of one run (one per signed-in account) may share one clock.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._waiting = 0
        self._since = 0.0
        self._done = 0.0

    @property
    def seconds(self) -> float:
        return self._done + (self._clock() - self._since if self._waiting else 0.0)

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        if not self._waiting:
            self._since = self._clock()
        self._waiting += 1
        try:
            yield
        finally:
            self._waiting -= 1
            if not self._waiting:
                self._done += self._clock() - self._since


@dataclass
class ClientStats:
    """Counters for Dagster metadata; safe to read at any time."""

    requests: int = 0  # HTTP requests sent, retries included
    retries: int = 0
    throttled_responses: int = 0  # 429/503/504 answers, including items inside $batch
    seconds_throttled: float = 0.0  # wall-clock time some request waited on Retry-After or backoff (WaitClock)
    bytes_received: int = 0

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)


@dataclass(frozen=True)
class _Target:
    url: str  # what httpx receives: a base-relative path+query, or an absolute link as received
    path: str  # API-relative path without query, for messages and header decisions
    mailbox: str | None  # key of the per-mailbox semaphore


@dataclass
class _Attempt:
    response: httpx.Response
    token: str


class GraphClient:
    """Async Graph client. Use as `async with GraphClient(settings) as graph: ...`."""

    def __init__(
        self,
        settings: GraphSettings,
        *,
        token_provider: TokenProvider | None = None,
        max_concurrency: int = 16,
        per_mailbox: int = 4,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry_budget_s: float = 600.0,
        max_retries: int = 8,
        immutable_ids: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        wait_clock: WaitClock | None = None,
    ) -> None:
        if max_concurrency < 1 or per_mailbox < 1:
            raise ValueError("max_concurrency and per_mailbox must be at least 1")
        self.settings = settings
        self.stats = ClientStats()
        self._owns_provider = token_provider is None
        self._tokens: TokenProvider = token_provider or ClientCredentialsProvider(settings)
        self._retry_budget_s = retry_budget_s
        self._max_retries = max_retries
        self._immutable_ids = immutable_ids
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self.wait_clock = wait_clock or WaitClock(clock)
        self._api = httpx.URL(settings.api_url.rstrip("/") + "/")
        self._api_path = self._api.path.rstrip("/")  # "/v1.0"
        self._api_origin = _origin(str(self._api))
        self._global_slots = asyncio.Semaphore(max_concurrency)
        self._per_mailbox = per_mailbox
        self._mailbox_slots: dict[str, asyncio.Semaphore] = {}
        self._http = httpx.AsyncClient(
            base_url=self._api,
            verify=ssl_context(settings.ca_bundle),
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
            headers={"User-Agent": _user_agent(), "Accept": "application/json"},
        )

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        close = getattr(self._tokens, "close", None)
        if self._owns_provider and callable(close):
            close()

    # ----- public API -------------------------------------------------------------------------

    async def get(
        self,
        url_or_path: str,
        *,
        mailbox: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """GET and parse JSON. Absolute URLs (nextLink/deltaLink) are sent untouched; no params allowed."""
        target = self._target(url_or_path, mailbox, params)
        response = await self._send("GET", target, headers=headers)
        return _json_or_empty(response, target)

    async def request(
        self,
        method: str,
        url_or_path: str,
        *,
        mailbox: str | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Any method; returns the 2xx response or raises GraphError.

        Retried: 429/503 for every method, 504 and dropped connections only for idempotent methods
        (GET/PUT/DELETE/PATCH...). A POST whose connection breaks after sending raises OutcomeUnknown.
        """
        if json is not None and content is not None:
            raise ValueError("pass json or content, not both")
        target = self._target(url_or_path, mailbox, params)
        body = orjson.dumps(json) if json is not None else content
        merged = dict(headers or {})
        if json is not None and not any(k.lower() == "content-type" for k in merged):
            merged["Content-Type"] = "application/json"
        return await self._send(method.upper(), target, headers=merged, content=body)

    async def pages(
        self,
        url_or_path: str,
        *,
        mailbox: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield each page, following @odata.nextLink until a page has none.

        `params` apply to the first request only (links already encode them). `headers` are sent
        on every page, because Graph does not carry e.g. ConsistencyLevel into nextLinks.
        The last page of a delta round carries @odata.deltaLink.
        """
        next_url: str | None = url_or_path
        first_params = params
        while next_url is not None:
            page = await self.get(next_url, mailbox=mailbox, headers=headers, params=first_params)
            yield page
            link = page.get("@odata.nextLink")
            if link is not None and link == next_url:
                raise GraphClientError(f"Graph returned a page linking to itself at {_path_of(link)}")
            next_url, first_params = link, None

    async def batch(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send up to 20 requests as one JSON `$batch`; returns item responses in input order.

        Items answered 429 (and items that failed with 424 because they depend on one) are resent
        in a new batch after the longest item Retry-After. Items still throttled when retries or
        the time budget run out are returned as they are; other per-item errors are not raised.
        """
        _validate_batch(requests)
        if not requests:
            return []
        order = [str(item["id"]) for item in requests]
        pending = {str(item["id"]).lower(): self._batch_item(item) for item in requests}
        final: dict[str, dict[str, Any]] = {}
        deadline = self._clock() + self._retry_budget_s
        retry_number = 0
        while True:
            answered = await self._post_batch(list(pending.values()))
            retry_ids = _ids_to_retry(pending, answered)
            final.update({k: v for k, v in answered.items() if k not in retry_ids})
            self.stats.throttled_responses += sum(1 for k in retry_ids if answered[k].get("status") == 429)
            delay = self._batch_delay(answered, retry_ids, retry_number)
            if not retry_ids or not self._may_wait(delay, deadline, retry_number):
                final.update({k: answered[k] for k in retry_ids})
                return [final[item_id.lower()] for item_id in order]
            await self._wait(delay, f"{len(retry_ids)} throttled $batch items")
            self.stats.retries += 1
            retry_number += 1
            pending = _resend_set(pending, retry_ids)

    # ----- request plumbing ---------------------------------------------------------------------

    def _target(self, url_or_path: str, mailbox: str | None, params: Mapping[str, Any] | None) -> _Target:
        if url_or_path.startswith(("https://", "http://")):
            if params:
                raise ValueError("params cannot be added to an absolute URL (links are used as-is)")
            self._check_same_origin(url_or_path)
            path = self._api_relative(urlsplit(url_or_path).path)
            url = url_or_path
        else:
            url = url_or_path if url_or_path.startswith("/") else "/" + url_or_path
            path = urlsplit(url).path
            if params:
                url += ("&" if "?" in url else "?") + urlencode(params, quote_via=quote, safe=_QUERY_SAFE)
        return _Target(url=url, path=path, mailbox=_mailbox_key(mailbox) or _mailbox_from_path(path))

    def _check_same_origin(self, url: str) -> None:
        # The bearer token must only ever go to the configured API host.
        scheme, host, port = _origin(url)
        if (scheme, host, port) != self._api_origin:
            raise ValueError(f"refusing to send the Graph token to another origin: {scheme}://{host}:{port}")

    def _api_relative(self, path: str) -> str:
        if self._api_path and (path == self._api_path or path.startswith(self._api_path + "/")):
            return path[len(self._api_path) :] or "/"
        return path

    async def _send(
        self,
        method: str,
        target: _Target,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """One logical request: attempts, waits and the final verdict."""
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        retryable = RETRYABLE_STATUSES if idempotent else RETRYABLE_STATUSES_NON_IDEMPOTENT
        client_request_id = str(uuid.uuid4())  # kept across retries so they correlate server-side
        deadline = self._clock() + self._retry_budget_s
        retry_number = 0
        refused = 0
        renewed_token = False
        while True:
            try:
                attempt = await self._attempt(method, target, headers, content, client_request_id)
            except httpx.TransportError as exc:
                delay = backoff_seconds(retry_number, self._jitter)
                refused += isinstance(exc, httpx.ConnectError)
                if (
                    not self._transport_retry_allowed(exc, idempotent)
                    or not self._may_wait(delay, deadline, retry_number)
                    # A host that keeps refusing connections is misconfigured, not busy: fail in seconds.
                    or refused > MAX_CONNECT_RETRIES
                ):
                    raise self._transport_failure(exc, method, target, retry_number, idempotent) from None
                await self._wait(delay, f"{type(exc).__name__} on {method} {target.path}")
            else:
                response = attempt.response
                if response.is_success:
                    return response
                body = _parsed_body(response)
                if not renewed_token and _is_expired_token(response.status_code, body):
                    # The token may have been revoked or expired early; fetch a fresh one, once.
                    self._tokens.invalidate(attempt.token)
                    renewed_token = True
                    self.stats.retries += 1
                    continue
                if response.status_code not in retryable:
                    raise self._error(response, body, method, target, retry_number, client_request_id)
                self.stats.throttled_responses += 1
                delay = retry_after_seconds(response.headers)
                if delay is None:
                    delay = backoff_seconds(retry_number, self._jitter)
                if not self._may_wait(delay, deadline, retry_number):
                    raise self._error(response, body, method, target, retry_number, client_request_id)
                await self._wait(delay, f"{response.status_code} on {method} {target.path}")
            retry_number += 1
            self.stats.retries += 1

    async def _attempt(
        self,
        method: str,
        target: _Target,
        headers: Mapping[str, str] | None,
        content: bytes | str | None,
        client_request_id: str,
    ) -> _Attempt:
        # Take the mailbox slot first so requests queued behind a busy mailbox do not hold global slots.
        mailbox_slot = self._mailbox_slot(target.mailbox)
        async with mailbox_slot or contextlib.nullcontext(), self._global_slots:
            # Fetched inside the slots so a request that queued for long still sends a fresh token.
            token = await self._tokens.token()
            request = self._http.build_request(
                method,
                target.url,
                headers=self._request_headers(target, headers, token, client_request_id),
                content=content,
            )
            self.stats.requests += 1
            response = await self._http.send(request, follow_redirects=method == "GET")
            self.stats.bytes_received += len(response.content)
            return _Attempt(response=response, token=token)

    def _mailbox_slot(self, mailbox: str | None) -> asyncio.Semaphore | None:
        if mailbox is None:
            return None
        slot = self._mailbox_slots.get(mailbox)
        if slot is None:
            slot = self._mailbox_slots[mailbox] = asyncio.Semaphore(self._per_mailbox)
        return slot

    def _request_headers(
        self, target: _Target, caller: Mapping[str, str] | None, token: str, client_request_id: str
    ) -> httpx.Headers:
        headers = httpx.Headers(caller or {})
        if self._immutable_ids and _is_outlook_path(target.path):
            headers["Prefer"] = _with_preference(headers.get("Prefer"), IMMUTABLE_ID_PREFERENCE)
        headers["Authorization"] = f"Bearer {token}"
        if "client-request-id" not in headers:
            headers["client-request-id"] = client_request_id
        return headers

    def _may_wait(self, delay: float, deadline: float, retry_number: int) -> bool:
        return retry_number < self._max_retries and self._clock() + delay <= deadline

    async def _wait(self, delay: float, reason: str) -> None:
        log.info("retry in %.2f s after %s", delay, reason,
                 extra={"event": "retry", "seconds": round(delay, 3), "reason": reason})
        with self.wait_clock.waiting():
            try:
                await self._sleep(delay)
            finally:
                self.stats.seconds_throttled = self.wait_clock.seconds

    @staticmethod
    def _transport_retry_allowed(exc: httpx.TransportError, idempotent: bool) -> bool:
        if is_certificate_failure(exc) or isinstance(exc, httpx.UnsupportedProtocol):
            return False  # retrying cannot fix configuration problems
        return idempotent or isinstance(exc, _NOT_SENT_ERRORS)

    def _transport_failure(
        self, exc: httpx.TransportError, method: str, target: _Target, retries: int, idempotent: bool
    ) -> GraphUnreachable:
        host = self._api.netloc.decode()
        if is_certificate_failure(exc):
            reason = "TLS certificate verification failed (is GRAPH_CA_BUNDLE the right CA?)"
        else:
            reason = one_line(str(exc) or type(exc).__name__, 200)
        if not idempotent and not isinstance(exc, _NOT_SENT_ERRORS):
            return OutcomeUnknown(
                f"connection to {host} broke during {method} {target.path} ({reason}); it may or may "
                "not have been applied, so it was not retried",
                host=host,
            )
        after = f" after {retries} retries" if retries else ""
        return GraphUnreachable(f"cannot reach Graph at {host}{after}: {reason}", host=host)

    def _error(
        self,
        response: httpx.Response,
        body: Any,
        method: str,
        target: _Target,
        retries: int,
        client_request_id: str,
    ) -> GraphError:
        codes = error_codes(body)
        code = codes[0] if codes else response.reason_phrase.replace(" ", "")
        args = (
            response.status_code,
            code,
            error_message(body),
            response.headers.get("request-id") or error_request_id(body),
            target.path,
        )
        extra: dict[str, Any] = {
            "method": method,
            "retries": retries,
            "client_request_id": client_request_id,
            "body": body,
        }
        if is_sync_state_lost(response.status_code, codes):
            return SyncStateLost(*args, location=response.headers.get("Location"), **extra)
        return GraphError(*args, **extra)

    # ----- batch helpers ------------------------------------------------------------------------

    def _batch_item(self, item: Mapping[str, Any]) -> dict[str, Any]:
        prepared = dict(item)
        prepared["id"] = str(item["id"])
        prepared["method"] = str(item["method"]).upper()
        url = str(item["url"])
        if url.startswith(("https://", "http://")):
            self._check_same_origin(url)
            split = urlsplit(url)
            url = self._api_relative(split.path) + (f"?{split.query}" if split.query else "")
        prepared["url"] = url
        headers = dict(item.get("headers") or {})
        if self._immutable_ids and _is_outlook_path(urlsplit(url).path):
            prefer_key = next((k for k in headers if k.lower() == "prefer"), "Prefer")
            headers[prefer_key] = _with_preference(headers.get(prefer_key), IMMUTABLE_ID_PREFERENCE)
        if "body" in item and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"  # Graph rejects a body without headers
        if headers:
            prepared["headers"] = headers
        return prepared

    async def _post_batch(self, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        mailboxes = {_mailbox_from_path(urlsplit(item["url"]).path) for item in items}
        only_mailbox = mailboxes.pop() if len(mailboxes) == 1 else None
        # The outer POST is as safe to resend as its least safe item.
        reads_only = all(item["method"] in IDEMPOTENT_METHODS for item in items)
        target = _Target(url="/$batch", path="/$batch", mailbox=only_mailbox)
        response = await self._send_batch(target, {"requests": items}, reads_only)
        answered = {str(r.get("id")).lower(): r for r in _parsed_body(response).get("responses", [])}
        outer_id = response.headers.get("request-id")
        for r in answered.values():  # an item without its own request-id is traced by its batch's
            headers = r.setdefault("headers", {}) if isinstance(r.get("headers", {}), dict) else {}
            if outer_id and not any(k.lower() == "request-id" for k in headers):
                headers["request-id"] = outer_id
        missing = [item["id"] for item in items if item["id"].lower() not in answered]
        if missing:
            raise GraphError(
                response.status_code,
                "IncompleteBatchResponse",
                f"no response for ids {missing}",
                response.headers.get("request-id"),
                "/$batch",
                method="POST",
            )
        return answered

    async def _send_batch(self, target: _Target, payload: dict[str, Any], reads_only: bool) -> httpx.Response:
        # A batch of reads may be resent after a dropped connection or a 504, like a GET.
        return await self._send(
            "POST",
            target,
            headers={"Content-Type": "application/json"},
            content=orjson.dumps(payload),
            idempotent=reads_only,
        )

    def _batch_delay(
        self, answered: dict[str, dict[str, Any]], retry_ids: set[str], retry_number: int
    ) -> float:
        waits = [retry_after_seconds(answered[k].get("headers") or {}) for k in retry_ids]
        known = [w for w in waits if w is not None]
        return max(known) if known else backoff_seconds(retry_number, self._jitter)


# ----- module helpers -------------------------------------------------------------------------


def _mailbox_key(mailbox: str | None) -> str | None:
    # UPNs are case-insensitive; object ids are GUIDs. Casefolding makes both forms one key each.
    return mailbox.strip().casefold() if mailbox and mailbox.strip() else None


def _mailbox_from_path(path: str) -> str | None:
    match = _USER_SCOPED_PATH.match(path)
    if match is None:
        return None
    return _mailbox_key(unquote(match.group(1))) if match.group(1) else "me"


def _is_outlook_path(path: str) -> bool:
    return any(segment.lower() in _OUTLOOK_SEGMENTS for segment in path.split("/"))


def _with_preference(existing: str | None, preference: str) -> str:
    if not existing:
        return preference
    name = preference.split("=", 1)[0].strip().lower()
    present = {part.split("=", 1)[0].strip().lower() for part in existing.split(",")}
    return existing if name in present else f"{existing}, {preference}"


_DEFAULT_PORTS = {"https": 443, "http": 80}


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port filled in. urlsplit rather than httpx.URL: a full
    parse of every link cost a tenth of an incremental sync's client time."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or ""), parts.port or _DEFAULT_PORTS.get(scheme)


def _parsed_body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


def _json_or_empty(response: httpx.Response, target: _Target) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        parsed = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise GraphError(
            response.status_code,
            "InvalidJson",
            "the response body is not JSON",
            response.headers.get("request-id"),
            target.path,
        ) from None
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _is_expired_token(status: int, body: Any) -> bool:
    return status == 401 and any(code.lower() == "invalidauthenticationtoken" for code in error_codes(body))


def _path_of(url: str) -> str:
    return urlsplit(url).path


def _validate_batch(requests: list[dict[str, Any]]) -> None:
    if len(requests) > MAX_BATCH_ITEMS:
        raise ValueError(f"a $batch holds at most {MAX_BATCH_ITEMS} requests, got {len(requests)}")
    seen: set[str] = set()
    for position, item in enumerate(requests):
        for field in ("id", "method", "url"):
            if not item.get(field):
                raise ValueError(f"$batch request #{position} has no {field!r}")
        key = str(item["id"]).lower()  # Graph compares batch ids case-insensitively
        if key in seen:
            raise ValueError(f"duplicate $batch request id {item['id']!r}")
        seen.add(key)


def _ids_to_retry(pending: dict[str, dict[str, Any]], answered: dict[str, dict[str, Any]]) -> set[str]:
    # An item "not now" is resent like a plain request would be: 429 always, 503/504 for reads and other
    # idempotent methods only (a POST that timed out at the gateway may have been carried out).
    throttled = {
        k for k, r in answered.items()
        if r.get("status") in (RETRYABLE_STATUSES if pending[k]["method"] in IDEMPOTENT_METHODS
                               else RETRYABLE_STATUSES_NON_IDEMPOTENT)
    }
    # Items that failed only because a throttled item they depend on failed (424) go again too.
    blocked = {
        k
        for k, r in answered.items()
        if r.get("status") == 424
        and any(str(dep).lower() in throttled for dep in pending[k].get("dependsOn", []))
    }
    return throttled | blocked


def _resend_set(pending: dict[str, dict[str, Any]], retry_ids: set[str]) -> dict[str, dict[str, Any]]:
    resend: dict[str, dict[str, Any]] = {}
    for key in (k for k in pending if k in retry_ids):  # keep the caller's order
        item = dict(pending[key])
        if "dependsOn" in item:
            # A dependency that already succeeded is not in the new batch; naming it would be a 400.
            kept = [dep for dep in item["dependsOn"] if str(dep).lower() in retry_ids]
            if kept:
                item["dependsOn"] = kept
            else:
                del item["dependsOn"]
        resend[key] = item
    return resend
