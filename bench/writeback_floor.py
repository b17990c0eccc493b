"""The write-back floor: the same requests graphsync's replay sends, by plain httpx in `$batch`es of 20.

Run as its own process (`python -m bench.writeback_floor ACTIONS.jsonl`, GRAPH_* in the
environment); prints one JSON line. No queue, no validation, no dependencies, no local effects: each
action becomes its request (`/me` as `/users/{user}`), 20 to a batch, 4 batches at once, and items
answered 429 are sent again after their Retry-After. The fastest any write-back of these actions
could go here.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import httpx
import orjson

from bench.common import PER_MAILBOX, client_credentials_token
from connectors.graph.tls import ssl_context


def requests_of(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for n, action in enumerate(actions):
        method, path = action["op"].split(" ", 1)
        if path.startswith("/me"):
            path = f"/users/{action['user']}" + path[3:]
        for name, value in (action.get("params") or {}).items():
            path = path.replace(f"{{{name}}}", value)
        request: dict[str, Any] = {"id": str(n), "method": method, "url": path}
        if action.get("body") is not None:
            request |= {"body": action["body"], "headers": {"Content-Type": "application/json"}}
        out.append(request)
    return out


async def run(env: dict[str, str], actions: list[dict[str, Any]]) -> dict[str, Any]:
    token = client_credentials_token(env)
    sent = 0
    slots = asyncio.Semaphore(PER_MAILBOX)
    async with httpx.AsyncClient(base_url=env["GRAPH_API_URL"] + "/", verify=ssl_context(env["GRAPH_CA_BUNDLE"]),
                                 headers={"Authorization": f"Bearer {token}"}, timeout=120.0) as http:

        async def batch(items: list[dict[str, Any]]) -> None:
            nonlocal sent
            while items:
                async with slots:
                    response = await http.post("$batch", content=orjson.dumps({"requests": items}),
                                               headers={"Content-Type": "application/json"})
                sent += 1
                answers = {a["id"]: a for a in response.json()["responses"]}
                throttled = [i for i in items if answers[i["id"]]["status"] == 429]
                if throttled:
                    waits = [float((answers[i["id"]].get("headers") or {}).get("retry-after", 1)) for i in throttled]
                    await asyncio.sleep(max(waits))
                items = throttled

        requests = requests_of(actions)
        started = time.monotonic()
        await asyncio.gather(*(batch(requests[i:i + 20]) for i in range(0, len(requests), 20)))
    return {"seconds": time.monotonic() - started, "requests": sent, "items": len(actions)}


def main() -> None:
    with open(sys.argv[1], "rb") as lines:
        actions = [orjson.loads(line) for line in lines if line.strip()]
    sys.stdout.write(orjson.dumps(asyncio.run(run(dict(os.environ), actions))).decode() + "\n")


if __name__ == "__main__":
    main()
