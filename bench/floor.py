"""The fetch floor: fetch and JSON-parse every page graphsync would, with nothing else.

Run as its own process (`python -m bench.floor`, GRAPH_* in the environment); prints one JSON line.
Same endpoints, page sizes, Prefer headers and concurrency shape as graphsync (8 mailboxes at a time,
4 requests per mailbox, 16 overall), over HTTPS with the simulator's CA and a client-credentials
token, but no database, no state and no retries: the fastest any sync of this data could go here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from dataclasses import asdict, dataclass, field

import httpx
import orjson

from bench.common import (
    GLOBAL_CONCURRENCY,
    MAILBOXES_AT_ONCE,
    PER_MAILBOX,
    client_credentials_token,
    prefer_header,
)
from connectors.graph.tls import ssl_context
from pipelines.sync.streams import MAIL_FOLDERS, MESSAGES, USERS, StreamSpec


@dataclass
class FloorResult:
    items: int = 0
    pages: int = 0
    bytes: int = 0  # response bodies, as received
    seconds: float = 0.0
    by_stream: dict[str, int] = field(default_factory=dict)  # items per stream


class Floor:
    def __init__(self, env: dict[str, str], token: str, page_size: int | None) -> None:
        self.page_size = page_size
        self.result = FloorResult()
        self._global = asyncio.Semaphore(GLOBAL_CONCURRENCY)
        self._mailboxes: dict[str, asyncio.Semaphore] = {}
        self._http = httpx.AsyncClient(
            verify=ssl_context(env["GRAPH_CA_BUNDLE"]), timeout=httpx.Timeout(60.0),
            limits=httpx.Limits(max_connections=GLOBAL_CONCURRENCY, max_keepalive_connections=GLOBAL_CONCURRENCY),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self._api = env["GRAPH_API_URL"].rstrip("/")

    async def run(self) -> FloorResult:
        started = time.perf_counter()
        async with self._http:
            users = await self._follow(USERS, {}, None)
            gate = asyncio.Semaphore(MAILBOXES_AT_ONCE)

            async def one(user_id: str) -> None:
                async with gate:
                    await self._mailbox(user_id)

            await asyncio.gather(*(one(u) for u in sorted(users)))
        self.result.seconds = time.perf_counter() - started
        return self.result

    async def _mailbox(self, user_id: str) -> None:
        folders = await self._follow(MAIL_FOLDERS, {"user_id": user_id}, user_id)
        gate = asyncio.Semaphore(PER_MAILBOX)

        async def one(folder_id: str) -> None:
            async with gate:
                await self._follow(MESSAGES, {"user_id": user_id, "folder_id": folder_id}, user_id)

        await asyncio.gather(*(one(f) for f in sorted(folders)))

    async def _follow(self, spec: StreamSpec, scope: dict[str, str], mailbox: str | None) -> list[str]:
        """Every page of one delta round; returns the ids seen (users and folders drive the next level)."""
        url: str | None = self._api + spec.first_url(scope)
        headers = {"Prefer": prefer_header(spec, self.page_size)}
        ids: list[str] = []
        while url is not None:
            page = await self._get(url, headers, mailbox)
            values = page.get("value", [])
            ids.extend(item["id"] for item in values)
            self.result.pages += 1
            self.result.items += len(values)
            self.result.by_stream[spec.name] = self.result.by_stream.get(spec.name, 0) + len(values)
            url = page.get("@odata.nextLink")
        return ids

    async def _get(self, url: str, headers: dict[str, str], mailbox: str | None) -> dict:
        slot = self._mailboxes.setdefault(mailbox, asyncio.Semaphore(PER_MAILBOX)) if mailbox else None
        async with slot or contextlib.nullcontext(), self._global:
            response = await self._http.get(url, headers=headers)
        response.raise_for_status()
        self.result.bytes += len(response.content)
        return orjson.loads(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("--page-size", type=int, default=None)
    args = parser.parse_args()
    env = dict(os.environ)
    token = client_credentials_token(env)
    result = asyncio.run(Floor(env, token, args.page_size).run())
    sys.stdout.write(orjson.dumps(asdict(result)).decode() + "\n")


if __name__ == "__main__":
    main()
