"""The write-back scenario's measurement (see scenarios.writeback): the same actions through
`graphsync writeback` and through the plain-httpx floor, each on a tenant under the same storm."""

from __future__ import annotations

import sys
from typing import Any

import orjson

from bench.context import REPO, Context, request_counts
from bench.measure import run_child
from bench.sim import child_env

STORM = [{"status": 429, "path": "^/users/", "probability": 0.1, "retry_after": 0.2}]


def actions_for(ctx: Context, sim: Any, patches: int, creates: int) -> list[dict[str, Any]]:
    users = sim.control("users_state")
    upns = [users[u]["userPrincipalName"] for u in sorted(users)]
    out: list[dict[str, Any]] = []
    per_user = -(-patches // len(upns))
    for upn in upns:
        ids = sorted(sim.control("mailbox_state", user=upn)["messages"])[:per_user]
        out += [{"op": "PATCH /me/messages/{message-id}", "user": upn, "key": f"patch-{upn}-{n}",
                 "params": {"message-id": m}, "body": {"isRead": True, "categories": ["bench"]}}
                for n, m in enumerate(ids)]
    out = out[:patches]
    for n in range(creates):
        upn = upns[n % len(upns)]
        if n % 2:
            out.append({"op": "POST /me/mailFolders", "user": upn, "key": f"folder-{n}",
                        "body": {"displayName": f"Bench folder {n}"}})
        else:
            out.append({"op": "POST /me/calendar/events", "user": upn, "key": f"event-{n}",
                        "body": {"subject": f"Bench meeting {n}",
                                 "start": {"dateTime": "2026-12-20T10:00:00", "timeZone": "UTC"},
                                 "end": {"dateTime": "2026-12-20T10:30:00", "timeZone": "UTC"}}})
    return out


def measure(ctx: Context, patches: int = 1000, creates: int = 200) -> dict[str, Any]:
    size = ctx.profile.small
    results: dict[str, Any] = {"patches": patches, "creates": creates}
    # graphsync
    sim = ctx.sim(size)
    ctx.mark_dirty(sim)
    actions = actions_for(ctx, sim, patches, creates)
    results["actions"] = len(actions)
    results["patches"] = sum(a["op"].startswith("PATCH") for a in actions)
    path = ctx.workdir / "writeback-actions.jsonl"
    path.write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in actions))
    env = child_env({**sim.env, "GRAPHSYNC_DB": str(ctx.workdir / "writeback.duckdb")})
    ctx.log(f"graphsync writeback: {len(actions):,} actions")
    run_child([sys.executable, "-m", "pipelines.cli", "writeback", "enqueue", "--file", str(path)], env, REPO)
    sim.control("set_faults", rules=STORM)
    mark = sim.journal_mark()
    run = run_child([sys.executable, "-m", "pipelines.cli", "writeback", "run"], env, REPO)
    results["graphsync_seconds"] = run.seconds
    results["graphsync_requests"], _ = request_counts(sim, mark)
    results["succeeded"] = int(run.stdout.split(" succeeded")[0].rsplit(" ", 1)[-1]) if " succeeded" in run.stdout \
        else 0
    # the floor, on a fresh tenant under the same storm
    floor_sim = ctx.sim(size)
    ctx.mark_dirty(floor_sim)
    floor_actions = actions_for(ctx, floor_sim, patches, creates)
    floor_path = ctx.workdir / "writeback-floor.jsonl"
    floor_path.write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in floor_actions))
    floor_sim.control("set_faults", rules=STORM)
    ctx.log("write-back floor")
    mark = floor_sim.journal_mark()
    floor = run_child([sys.executable, "-m", "bench.writeback_floor", str(floor_path)], child_env(floor_sim.env), REPO)
    results["floor_seconds"] = floor.seconds  # process start to exit, as for graphsync
    results["floor_requests"], _ = request_counts(floor_sim, mark)
    return results
