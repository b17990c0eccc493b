"""GraphClient behaviour against httpx.MockTransport; no network, no real waiting."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from connectors.graph import GraphClient, GraphError, GraphUnreachable, OutcomeUnknown, SyncStateLost
from connectors.graph.client import ClientStats
from connectors.settings import GraphSettings, Secret

API = "https://graph.test/v1.0"
SETTINGS = GraphSettings(
    tenant_id="tenant",
    client_id="client",
    client_secret=Secret("never-used"),
    token_url="https://login.test/tenant/oauth2/v2.0/token",
    api_url=API,
)


class FakeTokens:
    """Token provider double: hands out tok-0, tok-1, ... advancing on invalidate()."""

    def __init__(self) -> None:
        self.generation = 0
        self.invalidations: list[str | None] = []

    async def token(self) -> str:
        return f"tok-{self.generation}"

    def invalidate(self, rejected: str | None = None) -> None:
        self.invalidations.append(rejected)
        self.generation += 1


class FakeTime:
    """sleep() that returns at once but advances the clock the client reads its budget from."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


Handler = Callable[[httpx.Request], Any]


def make_client(handler: Handler, fake_time: FakeTime | None = None, **kwargs: Any) -> GraphClient:
    fake_time = fake_time or FakeTime()
    kwargs.setdefault("token_provider", FakeTokens())
    return GraphClient(
        SETTINGS,
        transport=httpx.MockTransport(handler),
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        jitter=lambda: 1.0,  # deterministic backoff: always the ceiling
        **kwargs,
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def graph_error(status: int, code: str, message: str = "boom", headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}}, headers=headers or {})


def scripted(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering each request with the next scripted response (the last one repeats)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = responses[min(len(seen) - 1, len(responses) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


OK = httpx.Response(200, json={"value": [1]})


# ----- throttling and backoff ------------------------------------------------------------------


def test_fractional_retry_after_is_honoured():
    handler, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "2.128"}, json={"error": {"code": "TooManyRequests"}}), OK
    )
    fake_time = FakeTime()

    async def go() -> tuple[dict, ClientStats]:
        async with make_client(handler, fake_time) as graph:
            return await graph.get("/users/u1/messages"), graph.stats

    page, stats = run(go())
    assert page == {"value": [1]}
    assert fake_time.sleeps == [2.128]
    assert len(seen) == 2
    assert (stats.requests, stats.retries, stats.throttled_responses) == (2, 1, 1)
    assert stats.seconds_throttled == pytest.approx(2.128)
    assert stats.bytes_received > 0


def test_503_without_retry_after_uses_capped_exponential_backoff():
    handler, seen = scripted(*[httpx.Response(503)] * 9, OK)
    fake_time = FakeTime()

    async def go() -> dict:
        async with make_client(handler, fake_time, max_retries=10, retry_budget_s=10_000) as graph:
            return await graph.get("/users")

    assert run(go()) == {"value": [1]}
    # jitter=1.0 picks the ceiling: 0.5 * 2**n, capped at 60 s.
    assert fake_time.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_backoff_jitter_scales_the_wait():
    handler, _ = scripted(httpx.Response(504), OK)
    fake_time = FakeTime()

    async def go() -> None:
        async with make_client(handler, fake_time) as graph:
            graph._jitter = lambda: 0.25
            await graph.get("/users")

    run(go())
    assert fake_time.sleeps == [0.125]


def test_time_budget_exhaustion_raises_graph_error_without_query_string():
    throttled = httpx.Response(
        429,
        headers={"Retry-After": "100", "request-id": "rid-1"},
        json={"error": {"code": "TooManyRequests", "message": "Please retry again later."}},
    )
    handler, seen = scripted(throttled)
    fake_time = FakeTime()

    async def go() -> None:
        async with make_client(handler, fake_time, retry_budget_s=250) as graph:
            await graph.get("/users/u1/messages", params={"$skiptoken": "SECRETISH-TOKEN"})

    with pytest.raises(GraphError) as caught:
        run(go())
    error = caught.value
    assert fake_time.sleeps == [100.0, 100.0]  # a third wait would pass the 250 s budget
    assert len(seen) == 3
    assert (error.status, error.code, error.retries, error.request_id) == (429, "TooManyRequests", 2, "rid-1")
    text = str(error)
    assert text.startswith("Graph 429 TooManyRequests on GET /users/u1/messages: Please retry again later.")
    assert "request-id rid-1" in text and "\n" not in text and "SECRETISH" not in text


def test_max_retries_bounds_attempts():
    handler, seen = scripted(httpx.Response(503))

    async def go() -> None:
        async with make_client(handler, max_retries=2) as graph:
            await graph.get("/users")

    with pytest.raises(GraphError) as caught:
        run(go())
    assert len(seen) == 3
    assert caught.value.status == 503


def test_non_retryable_error_is_raised_at_once_as_one_line():
    handler, seen = scripted(
        graph_error(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
            headers={"request-id": "abc-123"},
        )
    )

    async def go() -> None:
        async with make_client(handler) as graph:
            await graph.get(f"{API}/users/x/messages/y?$select=subject")

    with pytest.raises(GraphError) as caught:
        run(go())
    assert len(seen) == 1
    assert str(caught.value) == (
        "Graph 404 ErrorItemNotFound on GET /users/x/messages/y: "
        "The specified object was not found in the store. (request-id abc-123)"
    )
    assert not isinstance(caught.value, SyncStateLost)


# ----- authentication --------------------------------------------------------------------------


def test_expired_token_is_renewed_once_and_request_retried():
    handler, seen = scripted(graph_error(401, "InvalidAuthenticationToken", "Access token has expired"), OK)
    tokens = FakeTokens()

    async def go() -> dict:
        async with make_client(handler, token_provider=tokens) as graph:
            return await graph.get("/users")

    assert run(go()) == {"value": [1]}
    assert [r.headers["Authorization"] for r in seen] == ["Bearer tok-0", "Bearer tok-1"]
    assert tokens.invalidations == ["tok-0"]


def test_second_401_is_not_renewed_again():
    handler, seen = scripted(graph_error(401, "InvalidAuthenticationToken"))
    tokens = FakeTokens()

    async def go() -> None:
        async with make_client(handler, token_provider=tokens) as graph:
            await graph.get("/users")

    with pytest.raises(GraphError) as caught:
        run(go())
    assert caught.value.status == 401
    assert len(seen) == 2 and len(tokens.invalidations) == 1


def test_other_401_codes_do_not_renew_the_token():
    handler, seen = scripted(graph_error(401, "Unauthorized"))
    tokens = FakeTokens()

    async def go() -> None:
        async with make_client(handler, token_provider=tokens) as graph:
            await graph.get("/users")

    with pytest.raises(GraphError):
        run(go())
    assert len(seen) == 1 and tokens.invalidations == []


# ----- concurrency -----------------------------------------------------------------------------


def test_per_mailbox_concurrency_never_exceeds_four():
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}
    total = {"now": 0, "peak": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        mailbox = request.url.path.split("/")[3].lower()
        in_flight[mailbox] = in_flight.get(mailbox, 0) + 1
        total["now"] += 1
        peak[mailbox] = max(peak.get(mailbox, 0), in_flight[mailbox])
        total["peak"] = max(total["peak"], total["now"])
        await asyncio.sleep(0.005)
        in_flight[mailbox] -= 1
        total["now"] -= 1
        return httpx.Response(200, json={})

    async def go() -> None:
        async with make_client(handler, max_concurrency=6) as graph:
            calls = []
            for i in range(40):
                # Mixed case: a UPN is one mailbox however it is spelled.
                user = "Adele@contoso.com" if i % 2 else "adele@CONTOSO.com"
                calls.append(graph.get(f"/users/{user}/messages/m{i}"))
            calls += [graph.get(f"{API}/users/other/mailFolders/f{i}") for i in range(10)]
            await asyncio.gather(*calls)

    run(go())
    assert peak["adele@contoso.com"] == 4  # reached, so the limit (not luck) is what held it
    assert total["peak"] <= 6


def test_explicit_mailbox_applies_to_paths_without_users_prefix():
    in_flight = {"now": 0, "peak": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        in_flight["now"] += 1
        in_flight["peak"] = max(in_flight["peak"], in_flight["now"])
        await asyncio.sleep(0.005)
        in_flight["now"] -= 1
        return httpx.Response(200, json={})

    async def go() -> None:
        async with make_client(handler, per_mailbox=2) as graph:
            await asyncio.gather(*[graph.get(f"/drives/d1/items/{i}", mailbox="u9") for i in range(8)])

    run(go())
    assert in_flight["peak"] == 2


# ----- paging, links and headers ---------------------------------------------------------------


def test_next_link_is_followed_exactly_as_received():
    next_link = f"{API}/users/u1/mailFolders/inbox/messages?%24skip=10&$filter=subject%20eq%20'a%2Bb'&$top=5"
    delta_link = f"{API}/users/u1/mailFolders/inbox/messages/delta?$deltatoken=abc%3D%3D"
    handler, seen = scripted(
        httpx.Response(200, json={"value": [1], "@odata.nextLink": next_link}),
        httpx.Response(200, json={"value": [2], "@odata.deltaLink": delta_link}),
    )

    async def go() -> list[dict]:
        async with make_client(handler) as graph:
            pages = graph.pages(
                "/users/u1/mailFolders/inbox/messages",
                headers={"Prefer": "odata.maxpagesize=200", "ConsistencyLevel": "eventual"},
                params={"$select": "subject,from", "$filter": "isRead eq false"},
            )
            return [page async for page in pages]

    pages = run(go())
    assert [p["value"] for p in pages] == [[1], [2]]
    assert pages[-1]["@odata.deltaLink"] == delta_link
    first, second = seen
    assert (
        first.url.raw_path
        == b"/v1.0/users/u1/mailFolders/inbox/messages?$select=subject,from&$filter=isRead%20eq%20false"
    )
    assert second.url.raw_path == next_link.removeprefix("https://graph.test").encode()
    for request in seen:  # caller headers repeat on every page; Prefer merged into one header
        assert request.headers.get_list("Prefer") == ['odata.maxpagesize=200, IdType="ImmutableId"']
        assert request.headers["ConsistencyLevel"] == "eventual"


def test_params_with_absolute_link_are_refused():
    handler, seen = scripted(OK)

    async def go() -> None:
        async with make_client(handler) as graph:
            await graph.get(f"{API}/users?$skiptoken=x", params={"$top": 5})

    with pytest.raises(ValueError):
        run(go())
    assert seen == []


def test_link_to_another_origin_is_refused_so_the_token_stays_home():
    handler, seen = scripted(OK)

    async def go() -> None:
        async with make_client(handler) as graph:
            await graph.get("https://evil.test/v1.0/users?$skiptoken=x")

    with pytest.raises(ValueError, match="another origin"):
        run(go())
    assert seen == []


@pytest.mark.parametrize("link, allowed", [
    ("https://graph.test/v1.0/users?$skiptoken=x", True),
    ("https://GRAPH.test:443/v1.0/users?$skiptoken=x", True),  # same origin, spelled differently
    ("http://graph.test/v1.0/users", False),
    ("https://graph.test:8443/v1.0/users", False),
    ("https://graph.test.evil.example/v1.0/users", False),
])
def test_links_are_followed_only_to_the_api_origin(link: str, allowed: bool) -> None:
    handler, seen = scripted(OK)

    async def go() -> None:
        async with make_client(handler) as graph:
            await graph.get(link)

    if allowed:
        run(go())
        assert len(seen) == 1
    else:
        with pytest.raises(ValueError, match="another origin"):
            run(go())
        assert seen == []


def test_standard_headers_and_immutable_ids_only_on_outlook_paths():
    handler, seen = scripted(OK)

    async def go() -> None:
        async with make_client(handler) as graph:
            await graph.get("/users/u1/calendarView", params={"startDateTime": "2024-01-01T00:00:00Z"})
            await graph.get("/users")
            await graph.get("/users/u1/events", headers={"Prefer": 'IdType="RestId"'})

    run(go())
    calendar, users, events = seen
    assert calendar.headers["Prefer"] == 'IdType="ImmutableId"'
    assert "Prefer" not in users.headers
    assert events.headers["Prefer"] == 'IdType="RestId"'  # an explicit caller choice is kept
    for request in seen:
        assert request.headers["Authorization"] == "Bearer tok-0"
        assert request.headers["User-Agent"].startswith("graphsync/")
        uuid.UUID(request.headers["client-request-id"])


def test_immutable_ids_can_be_switched_off():
    handler, seen = scripted(OK)

    async def go() -> None:
        async with make_client(handler, immutable_ids=False) as graph:
            await graph.get("/users/u1/messages")

    run(go())
    assert "Prefer" not in seen[0].headers


def test_empty_body_gives_empty_dict():
    handler, _ = scripted(httpx.Response(204))

    async def go() -> dict:
        async with make_client(handler) as graph:
            return await graph.get("/users/u1/messages/x")

    assert run(go()) == {}


# ----- sync state ------------------------------------------------------------------------------


def test_410_raises_sync_state_lost_with_location():
    restart = f"{API}/users/u1/mailFolders/inbox/messages/delta?$deltatoken="
    handler, _ = scripted(
        graph_error(
            410, "SyncStateNotFound", "The sync state generation is not found", headers={"Location": restart}
        )
    )

    async def go() -> None:
        async with make_client(handler) as graph:
            await graph.get(f"{API}/users/u1/mailFolders/inbox/messages/delta?$deltatoken=OPAQUE-OLD-TOKEN")

    with pytest.raises(SyncStateLost) as caught:
        run(go())
    assert caught.value.location == restart
    assert caught.value.status == 410
    assert "OPAQUE" not in str(caught.value)


@pytest.mark.parametrize("code", ["resyncRequired", "syncStateNotFound", "SYNCSTATEINVALID"])
def test_4xx_with_resync_code_raises_sync_state_lost(code):
    handler, _ = scripted(graph_error(400, code))

    async def go() -> None:
        async with make_client(handler) as graph:
            await graph.get("/users/delta")

    with pytest.raises(SyncStateLost) as caught:
        run(go())
    assert caught.value.location is None and caught.value.code == code


def test_nested_resync_code_counts_too():
    body = {"error": {"code": "badRequest", "innerError": {"code": "resyncApplyDifferences"}}}
    handler, _ = scripted(httpx.Response(400, json=body))

    async def go() -> None:
        async with make_client(handler) as graph:
            await graph.get("/drives/d/root/delta")

    with pytest.raises(SyncStateLost):
        run(go())


def test_plain_400_is_not_sync_state_lost():
    handler, _ = scripted(graph_error(400, "invalidRequest"))

    async def go() -> None:
        async with make_client(handler) as graph:
            await graph.get("/users/delta")

    with pytest.raises(GraphError) as caught:
        run(go())
    assert type(caught.value) is GraphError


# ----- transport failures and write safety -----------------------------------------------------


def test_get_is_retried_after_a_dropped_connection():
    handler, seen = scripted(httpx.RemoteProtocolError("Server disconnected"), httpx.ReadError("reset"), OK)
    fake_time = FakeTime()

    async def go() -> dict:
        async with make_client(handler, fake_time) as graph:
            return await graph.get("/users")

    assert run(go()) == {"value": [1]}
    assert len(seen) == 3 and fake_time.sleeps == [0.5, 1.0]


@pytest.mark.parametrize(
    "failure", [httpx.ReadError("reset"), httpx.RemoteProtocolError("gone"), httpx.ReadTimeout("slow")]
)
def test_post_is_not_retried_when_the_connection_breaks_after_sending(failure):
    handler, seen = scripted(failure, httpx.Response(202))

    async def go() -> None:
        async with make_client(handler) as graph:
            await graph.request("POST", "/users/u1/sendMail", json={"message": {"subject": "hi"}})

    with pytest.raises(OutcomeUnknown) as caught:
        run(go())
    assert len(seen) == 1
    assert "POST /users/u1/sendMail" in str(caught.value)


@pytest.mark.parametrize("method", ["PATCH", "PUT", "DELETE"])
def test_idempotent_writes_are_retried_after_a_dropped_connection(method):
    handler, seen = scripted(httpx.ReadError("reset"), httpx.Response(200, json={}))

    async def go() -> httpx.Response:
        async with make_client(handler) as graph:
            return await graph.request(method, "/users/u1/messages/m1", json={"isRead": True})

    assert run(go()).status_code == 200
    assert len(seen) == 2
    assert orjson.loads(seen[1].content) == {"isRead": True}


def test_post_is_retried_when_the_connection_was_never_made():
    handler, seen = scripted(httpx.ConnectError("refused"), httpx.Response(201, json={"id": "m1"}))

    async def go() -> httpx.Response:
        async with make_client(handler) as graph:
            return await graph.request("POST", "/users/u1/messages", json={"subject": "draft"})

    assert run(go()).json() == {"id": "m1"}
    assert len(seen) == 2


def test_post_is_retried_on_429_but_not_on_504():
    throttled, seen_429 = scripted(httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(202))
    gateway, seen_504 = scripted(httpx.Response(504), httpx.Response(202))

    async def go(handler: Handler) -> int:
        async with make_client(handler) as graph:
            return (await graph.request("POST", "/users/u1/sendMail", json={})).status_code

    assert run(go(throttled)) == 202 and len(seen_429) == 2
    with pytest.raises(GraphError) as caught:
        run(go(gateway))
    assert caught.value.status == 504 and len(seen_504) == 1


def test_unreachable_host_after_retries_names_the_host():
    handler, seen = scripted(httpx.ConnectError("[Errno 111] Connection refused"))

    async def go() -> None:
        async with make_client(handler, max_retries=3) as graph:
            await graph.get("/users")

    with pytest.raises(GraphUnreachable) as caught:
        run(go())
    assert len(seen) == 4
    assert "graph.test" in str(caught.value) and "Connection refused" in str(caught.value)
    assert not isinstance(caught.value, OutcomeUnknown)


def test_certificate_failure_is_not_retried():
    def handler(request: httpx.Request) -> httpx.Response:
        handler.calls += 1  # type: ignore[attr-defined]
        raise httpx.ConnectError("handshake failed") from ssl.SSLCertVerificationError("self-signed")

    handler.calls = 0  # type: ignore[attr-defined]

    async def go() -> None:
        async with make_client(handler) as graph:
            await graph.get("/users")

    with pytest.raises(GraphUnreachable, match="GRAPH_CA_BUNDLE"):
        run(go())
    assert handler.calls == 1  # type: ignore[attr-defined]


# ----- $batch ----------------------------------------------------------------------------------


def batch_handler(*rounds: dict[str, dict[str, Any]]) -> tuple[Handler, list[list[dict]]]:
    """Answer the n-th $batch with rounds[n] (id -> {status, headers?, body?}); record what was sent."""
    sent: list[list[dict]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1.0/$batch" and request.method == "POST"
        items = orjson.loads(request.content)["requests"]
        sent.append(items)
        answers = rounds[len(sent) - 1]
        # Graph may answer in any order: reverse to prove the client re-orders.
        responses = [{"id": item["id"], **answers[item["id"]]} for item in reversed(items)]
        return httpx.Response(200, json={"responses": responses})

    return handler, sent


def test_batch_retries_only_throttled_items_after_longest_retry_after():
    handler, sent = batch_handler(
        {
            "1": {"status": 200, "body": {"id": "a"}},
            "2": {"status": 429, "headers": {"Retry-After": "3"}},
            "3": {"status": 429, "headers": {"retry-after": "7.5"}},
            "4": {"status": 404, "body": {"error": {"code": "ErrorItemNotFound"}}},
        },
        {"2": {"status": 200, "body": {"id": "b"}}, "3": {"status": 200, "body": {"id": "c"}}},
    )
    fake_time = FakeTime()
    requests = [{"id": str(i), "method": "GET", "url": f"/users/u1/messages/m{i}"} for i in range(1, 5)]

    async def go() -> tuple[list[dict], ClientStats]:
        async with make_client(handler, fake_time) as graph:
            return await graph.batch(requests), graph.stats

    results, stats = run(go())
    assert [r["id"] for r in results] == ["1", "2", "3", "4"]
    assert [r["status"] for r in results] == [200, 200, 200, 404]
    assert [item["id"] for item in sent[1]] == ["2", "3"]
    assert fake_time.sleeps == [7.5]
    assert stats.throttled_responses == 2 and stats.retries == 1
    # Outlook items carry the immutable-id preference inside the batch.
    assert sent[0][0]["headers"]["Prefer"] == 'IdType="ImmutableId"'


def test_batch_resends_dependents_that_failed_because_of_a_throttled_item():
    handler, sent = batch_handler(
        {
            "a": {"status": 200, "body": {}},
            "b": {"status": 429, "headers": {"Retry-After": "1"}},
            "c": {"status": 424},
        },
        {"b": {"status": 200, "body": {}}, "c": {"status": 200, "body": {}}},
    )
    requests = [
        {"id": "a", "method": "GET", "url": "/users/u1"},
        {"id": "b", "method": "PATCH", "url": "/users/u1/messages/m1", "body": {"isRead": True}},
        {
            "id": "c",
            "method": "POST",
            "url": "/users/u1/messages/m1/move",
            "dependsOn": ["a", "b"],
            "body": {"destinationId": "archive"},
        },
    ]

    async def go() -> list[dict]:
        async with make_client(handler) as graph:
            return await graph.batch(requests)

    assert [r["status"] for r in run(go())] == [200, 200, 200]
    resent = {item["id"]: item for item in sent[1]}
    assert set(resent) == {"b", "c"}
    assert resent["c"]["dependsOn"] == ["b"]  # "a" already succeeded and is not in this batch
    assert resent["b"]["headers"]["Content-Type"] == "application/json"


def test_batch_returns_items_still_throttled_when_retries_run_out():
    throttled = {"1": {"status": 429, "headers": {"Retry-After": "1"}}}
    handler, sent = batch_handler(throttled, throttled, throttled)

    async def go() -> list[dict]:
        async with make_client(handler, max_retries=2) as graph:
            return await graph.batch([{"id": "1", "method": "GET", "url": "/users"}])

    assert run(go())[0]["status"] == 429
    assert len(sent) == 3


def test_batch_rejects_more_than_twenty_and_duplicate_ids():
    handler, sent = batch_handler()

    async def go(requests: list[dict]) -> None:
        async with make_client(handler) as graph:
            await graph.batch(requests)

    with pytest.raises(ValueError, match="at most 20"):
        run(go([{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]))
    with pytest.raises(ValueError, match="duplicate"):
        run(go([{"id": "A", "method": "GET", "url": "/users"}, {"id": "a", "method": "GET", "url": "/me"}]))
    assert sent == []


def test_batch_turns_absolute_links_into_version_relative_urls():
    handler, sent = batch_handler({"1": {"status": 200, "body": {}}})

    async def go() -> None:
        async with make_client(handler) as graph:
            await graph.batch([{"id": "1", "method": "GET", "url": f"{API}/users?$skiptoken=X%3D"}])

    run(go())
    assert sent[0][0]["url"] == "/users?$skiptoken=X%3D"


def test_throttled_time_is_wall_clock_not_the_sum_of_concurrent_waits() -> None:
    import time

    seen: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.path] = seen.get(request.url.path, 0) + 1
        if seen[request.url.path] == 1:
            return httpx.Response(429, headers={"Retry-After": "0.3"}, json={"error": {"code": "TooManyRequests"}})
        return httpx.Response(200, json={"value": []})

    async def run() -> GraphClient:
        client = GraphClient(SETTINGS, token_provider=FakeTokens(), transport=httpx.MockTransport(handler),
                             sleep=asyncio.sleep, clock=time.monotonic)
        async with client:
            await asyncio.gather(*(client.get(f"/users/u{i}/messages") for i in range(8)))
        return client

    client = asyncio.run(run())
    assert client.stats.retries == 8
    assert 0.29 <= client.stats.seconds_throttled < 1.0, "8 overlapping waits of 0.3 s are ~0.3 s, not 2.4 s"
