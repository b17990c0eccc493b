"""The coalescing fetcher: concurrent GETs travel as $batch, answers and errors reach their callers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from connectors.graph import GraphError, SyncStateLost
from pipelines.sync.fetch import CoalescingFetcher


class FakeClient:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.gets: list[str] = []

    async def get(self, url: str, headers: dict[str, str]) -> dict[str, Any]:
        self.gets.append(url)
        return {"value": [url]}

    async def batch(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.batches.append(requests)
        answers = []
        for r in requests:
            if "gone" in r["url"]:
                answers.append({"id": r["id"], "status": 410, "headers": {"Location": "/restart"},
                                "body": {"error": {"code": "SyncStateNotFound", "message": "lost"}}})
            elif "bad" in r["url"]:
                answers.append({"id": r["id"], "status": 404, "body": {"error": {"code": "ErrorItemNotFound"}}})
            else:
                answers.append({"id": r["id"], "status": 200, "body": {"value": [r["url"]]}})
        return answers


def test_concurrent_gets_share_batches_of_twenty() -> None:
    client = FakeClient()
    fetcher = CoalescingFetcher(client)  # type: ignore[arg-type]

    async def run() -> list[dict[str, Any]]:
        return await asyncio.gather(*(fetcher.get(f"/u/{i}/delta", {"Prefer": "x"}) for i in range(45)))

    pages = asyncio.run(run())
    assert [p["value"][0] for p in pages] == [f"/u/{i}/delta" for i in range(45)]
    assert [len(b) for b in client.batches] == [20, 20, 5]
    assert client.batches[0][0]["headers"] == {"Prefer": "x"}


def test_a_lone_get_is_sent_plainly() -> None:
    client = FakeClient()
    page = asyncio.run(CoalescingFetcher(client).get("/users/delta", {}))  # type: ignore[arg-type]
    assert page == {"value": ["/users/delta"]} and client.gets == ["/users/delta"] and not client.batches


def test_item_errors_raise_in_their_own_caller() -> None:
    client = FakeClient()
    fetcher = CoalescingFetcher(client)  # type: ignore[arg-type]

    async def run() -> list[Any]:
        urls = ["/ok/1", "/gone/delta?$deltatoken=x", "/bad/2"]
        return await asyncio.gather(*(fetcher.get(u, {}) for u in urls), return_exceptions=True)

    ok, gone, bad = asyncio.run(run())
    assert ok == {"value": ["/ok/1"]}
    assert isinstance(gone, SyncStateLost) and gone.location == "/restart"
    assert isinstance(bad, GraphError) and not isinstance(bad, SyncStateLost) and bad.status == 404
    assert "$deltatoken" not in str(gone), "opaque tokens stay out of error text"


@pytest.mark.parametrize("count", [1, 20, 21])
def test_every_caller_is_answered(count: int) -> None:
    fetcher = CoalescingFetcher(FakeClient())  # type: ignore[arg-type]

    async def run() -> list[dict[str, Any]]:
        return await asyncio.wait_for(asyncio.gather(*(fetcher.get(f"/x/{i}", {}) for i in range(count))), 5)

    assert len(asyncio.run(run())) == count
