"""How the engine fetches pages: one GET per page, or many concurrent GETs coalesced into `$batch`.

An incremental sync of a large tenant is mostly "anything new?" calls: one delta call per mail
folder, most answering an empty page with a new deltaLink. Sent one by one that is hundreds of round
trips; JSON batching (concepts/json-batching.md) carries up to 20 of them in one request. The
coalescing fetcher gathers the GETs that streams issue at about the same moment and sends them
together; each caller still gets its own page or its own exception, exactly as from a plain GET, so
the engine does not know the difference.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from connectors.graph import GraphClient, GraphError
from connectors.graph.errors import error_from_answer

BATCH_LIMIT = 20  # Graph's maximum number of requests in one $batch


class PageFetcher(Protocol):
    async def get(self, url: str, headers: dict[str, str], small: bool = False) -> dict[str, Any]:
        """One page. `small`: the caller expects little data (an incremental round), so the GET may
        wait a moment to share a `$batch` with others."""
        ...


@dataclass
class DirectFetcher:
    client: GraphClient

    async def get(self, url: str, headers: dict[str, str], small: bool = False) -> dict[str, Any]:
        return await self.client.get(url, headers=headers)


@dataclass
class _Waiting:
    url: str
    headers: dict[str, str]
    answer: asyncio.Future[dict[str, Any]]


@dataclass
class CoalescingFetcher:
    client: GraphClient
    window_s: float = 0.01  # how long a GET waits for company before it is sent
    _queue: list[_Waiting] = field(default_factory=list)
    _timer: asyncio.TimerHandle | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def get(self, url: str, headers: dict[str, str], small: bool = True) -> dict[str, Any]:
        if not small:
            # Full pages gain nothing from sharing a request and would serialise behind each other
            # inside one batch; they go as plain, concurrent GETs.
            return await self.client.get(url, headers=headers)
        waiting = _Waiting(url, headers, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if len(self._queue) >= BATCH_LIMIT:
            self._dispatch()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.window_s, self._dispatch)
        return await waiting.answer

    def _dispatch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        group, self._queue = self._queue[:BATCH_LIMIT], self._queue[BATCH_LIMIT:]
        if self._queue:  # more than one batch was waiting: keep draining
            self._timer = asyncio.get_running_loop().call_soon(self._dispatch)  # type: ignore[assignment]
        if group:
            task = asyncio.create_task(self._send(group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, group: list[_Waiting]) -> None:
        try:
            if len(group) == 1:  # a batch of one only adds overhead
                page = await self.client.get(group[0].url, headers=group[0].headers)
                if not group[0].answer.done():
                    group[0].answer.set_result(page)
                return
            requests = [{"id": str(i), "method": "GET", "url": w.url, "headers": w.headers}
                        for i, w in enumerate(group)]
            for waiting, answer in zip(group, await self.client.batch(requests), strict=True):
                _settle(waiting, answer)
        except Exception as exc:  # noqa: BLE001 - the callers decide; never leave one hanging
            for waiting in group:
                if not waiting.answer.done():
                    waiting.answer.set_exception(exc)


def _settle(waiting: _Waiting, answer: dict[str, Any]) -> None:
    if waiting.answer.done():  # the caller was cancelled meanwhile
        return
    status = int(answer.get("status", 0))
    body = answer.get("body")
    if 200 <= status < 300 and isinstance(body, dict):
        waiting.answer.set_result(body)
    else:
        path = waiting.url.split("?", 1)[0]
        waiting.answer.set_exception(error_from_answer(status, body, answer.get("headers") or {}, "GET", path))


async def read_each(fetcher: PageFetcher, paths: list[str]) -> list[dict[str, Any] | None]:
    """One object per path, read concurrently (and so batched); None where Graph answers 404."""

    async def read(path: str) -> dict[str, Any] | None:
        try:
            return await fetcher.get(path, {}, small=True)
        except GraphError as exc:
            if exc.status == 404:
                return None
            raise

    return list(await asyncio.gather(*map(read, paths)))
