"""The Markdown table and results.json."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.context import Profile
from bench.scenarios import Outcome, Row, row_dict


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(_mem_total_kb() / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _mem_total_kb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 1024


def fmt_value(row: Row) -> str:
    value = row.value
    if value is None:
        text = "n/a"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif row.unit == "x":
        text = f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"
    else:
        text = f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"
    return f"{text} {row.unit}".strip()


def status(row: Row) -> str:
    if row.met is None:
        return ""
    return "met" if row.met else "**missed**"


def markdown(outcomes: list[Outcome], info: dict[str, Any]) -> str:
    m = info["machine"]
    lines = [f"graphsync benchmark ({info['profile']}), {info['date']}: {m['cpus']} CPUs ({m['cpu_model']}), "
             f"{m['memory_gb']} GB, Python {m['python']}", "",
             "| Scenario | Metric | Value | Target | Status | Notes |", "|---|---|---|---|---|---|"]
    for outcome in outcomes:
        if outcome.error:
            lines.append(f"| {outcome.scenario.title} | failed | | | **error** | {outcome.error[:200]} |")
        for row in outcome.rows:
            lines.append(f"| {outcome.scenario.title} | {row.metric} | {fmt_value(row)} | {row.target} | "
                         f"{status(row)} | {row.note} |")
    return "\n".join(lines) + "\n"


def run_info(profile: Profile) -> dict[str, Any]:
    return {"profile": profile.name, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
            "sizes": {"large": profile.large.__dict__, "small": profile.small.__dict__}}


def write_json(path: Path, outcomes: list[Outcome], info: dict[str, Any]) -> None:
    payload = {**info, "scenarios": [
        {"name": o.scenario.name, "title": o.scenario.title, "error": o.error, "rows": [row_dict(r) for r in o.rows]}
        for o in outcomes]}
    path.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")
