"""The scenario registry. A scenario is a function from the shared Context to table rows.

To add one (another collection, write-back...), write a function returning rows and decorate it with
`@scenario("name", "Title")`; it runs in registration order. Measurements shared with other
scenarios belong in Context, memoised there.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import changes
from bench.context import BaselineRun, Context, SyncRun


@dataclass
class Row:
    metric: str
    value: float | int | None
    unit: str = ""
    target: str = ""  # the target, in words
    met: bool | None = None  # None: no target
    note: str = ""


@dataclass
class Scenario:
    name: str
    title: str
    run: Callable[[Context], list[Row]]


@dataclass
class Outcome:
    scenario: Scenario
    rows: list[Row] = field(default_factory=list)
    error: str | None = None


SCENARIOS: list[Scenario] = []


def scenario(name: str, title: str) -> Callable[[Callable[[Context], list[Row]]], Callable[[Context], list[Row]]]:
    def register(fn: Callable[[Context], list[Row]]) -> Callable[[Context], list[Row]]:
        SCENARIOS.append(Scenario(name, title, fn))
        return fn

    return register


# -- helpers ---------------------------------------------------------------------------------------
def items_per_s(items: int, seconds: float) -> float:
    return items / max(seconds, 1e-9)


def sync_rate(run: SyncRun) -> float:
    return items_per_s(run.items, run.run.seconds)


def baseline_rate(run: BaselineRun) -> float:
    return items_per_s(int(run.result["items"]), run.run.seconds)


def in_process_note(run: SyncRun) -> str:
    if run.reported_seconds is None:
        return ""
    return (f"sync itself {run.reported_seconds:.1f} s; the rest is start-up (imports, opening the warehouse) "
            "and the end (run log, final checkpoint)")


# -- scenarios -------------------------------------------------------------------------------------
@scenario("full_sync", "Full sync")
def full_sync(ctx: Context) -> list[Row]:
    size = ctx.profile.large
    run = ctx.full_sync(size)
    json_mb = ctx.floor(size).result["bytes"] / 1e6  # same pages as graphsync fetched (see bench.floor)
    return [
        Row(f"tenant {size.label} ({size.messages:,} messages)", run.items, "items received"),
        Row("wall time", run.run.seconds, "s", note=in_process_note(run)),
        Row("throughput", sync_rate(run), "items/s"),
        Row("JSON processed", json_mb / run.run.seconds, "MB/s", note=f"{json_mb:,.0f} MB of response bodies"),
        Row("peak RSS", run.run.peak_rss_mb, "MB"),
        Row("HTTP requests", run.http_requests, "", note=f"{run.graph_calls:,} Graph calls"),
    ]


@scenario("fetch_floor", "Baseline: fetch floor")
def fetch_floor(ctx: Context) -> list[Row]:
    size = ctx.profile.large
    floor, run = ctx.floor(size), ctx.full_sync(size)
    fraction = sync_rate(run) / baseline_rate(floor)
    return [
        Row("floor wall time", floor.run.seconds, "s"),
        Row("floor throughput", baseline_rate(floor), "items/s",
            note=f"{floor.result['bytes'] / 1e6 / floor.run.seconds:,.1f} MB/s, {floor.http_requests:,} requests"),
        Row("graphsync / floor throughput", fraction, "x", "≥ 0.60", fraction >= 0.60),
    ]


@scenario("dlt", "Baseline: dlt rest_api")
def dlt(ctx: Context) -> list[Row]:
    size = ctx.profile.large
    base, run = ctx.dlt(size), ctx.full_sync(size)
    multiple = sync_rate(run) / baseline_rate(base)
    return [
        Row("dlt wall time", base.run.seconds, "s", note=f"{base.result['items']:,} rows, "
                                                         f"{base.http_requests:,} requests"),
        Row("dlt throughput", baseline_rate(base), "items/s"),
        Row("dlt peak RSS", base.run.peak_rss_mb, "MB"),
        Row("graphsync / dlt throughput", multiple, "x", "≥ 3", multiple >= 3.0),
    ]


@scenario("memory_scaling", "Memory scaling")
def memory_scaling(ctx: Context) -> list[Row]:
    runs = ctx.profile.memory_runs
    small, large = (sorted(run.run.peak_rss_mb for run in ctx.full_syncs(size, runs))
                    for size in (ctx.profile.small, ctx.profile.large))
    ratio = statistics.median(large) / statistics.median(small)
    return [
        Row(f"peak RSS at {ctx.profile.small.messages:,} messages", statistics.median(small), "MB",
            note=_spread(small)),
        Row(f"peak RSS at {ctx.profile.large.messages:,} messages", statistics.median(large), "MB",
            note=_spread(large)),
        Row("ratio", ratio, "x", "≤ 1.3", ratio <= 1.3, note="of the medians" if runs > 1 else ""),
    ]


def _spread(peaks: list[float]) -> str:
    if len(peaks) < 2:
        return ""
    return f"median of {len(peaks)} runs ({peaks[0]:,.0f}-{peaks[-1]:,.0f} MB)"


@scenario("incremental", "Incremental sync")
def incremental(ctx: Context) -> list[Row]:
    size = ctx.profile.large
    full = ctx.full_sync(size)
    ctx.mark_dirty(full.sim)  # later read-only measurements need the seeded data
    wanted = round(size.messages * ctx.profile.changed_fraction)
    ctx.log(f"changing {wanted:,} messages")
    made = changes.apply(full.sim, wanted)
    ctx.log("graphsync incremental sync")
    inc = ctx.graphsync_sync(full.sim, full.db)
    wall_ratio = inc.run.seconds / full.run.seconds
    request_ratio = inc.http_requests / max(full.http_requests, 1)
    rows = [
        Row("changes", sum(made.values()), "", note=", ".join(f"{n} {op}" for op, n in sorted(made.items()))),
        Row("wall time", inc.run.seconds, "s", note=in_process_note(inc)),
        Row("wall time / full sync", wall_ratio, "x", "≤ 0.05", wall_ratio <= 0.05),
        Row("HTTP requests", inc.http_requests, "", note=f"{inc.graph_calls:,} Graph calls"),
        Row("requests / full sync", request_ratio, "x", "≤ 0.05", request_ratio <= 0.05),
    ]
    if inc.reported_seconds and full.reported_seconds:
        rows.append(Row("sync time / full sync, in-process", inc.reported_seconds / full.reported_seconds, "x",
                        note="excludes start-up; informational"))
    return rows


def run_all(ctx: Context, selected: list[Scenario] | None = None) -> list[Outcome]:
    outcomes = []
    for sc in selected or SCENARIOS:
        outcome = Outcome(sc)
        try:
            outcome.rows = sc.run(ctx)
        except Exception as exc:  # one failing scenario must not lose the others' numbers
            outcome.error = f"{type(exc).__name__}: {exc}"
            ctx.log(f"scenario {sc.name} failed: {outcome.error}")
        outcomes.append(outcome)
    return outcomes


def row_dict(row: Row) -> dict[str, Any]:
    return {"metric": row.metric, "value": row.value, "unit": row.unit, "target": row.target or None,
            "met": row.met, "note": row.note or None}


@scenario("writeback", "Write-back under a throttling storm")
def writeback(ctx: Context) -> list[Row]:
    from bench.writeback_run import measure

    result = measure(ctx)
    ratio = result["graphsync_seconds"] / max(result["floor_seconds"], 1e-9)
    return [
        Row("actions", result["actions"], "", note=f"{result['patches']:,} PATCH + {result['creates']} creates, "
                                                   "10% of them answered 429 (Retry-After 0.2 s) first"),
        Row("graphsync wall time", result["graphsync_seconds"], "s", note="`graphsync writeback run`, process start "
                                                                          "to exit"),
        Row("graphsync HTTP requests", result["graphsync_requests"], "",
            note=f"{result['succeeded']:,} actions succeeded"),
        Row("floor wall time", result["floor_seconds"], "s", note="plain httpx, batches of 20, same requests"),
        Row("floor HTTP requests", result["floor_requests"], ""),
        Row("graphsync / floor wall time", ratio, "x"),
    ]
