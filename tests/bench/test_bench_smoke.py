"""Smoke test of the benchmark harness: `python -m bench --quick` on a tiny tenant.

It checks that every scenario produces its rows and that the numbers are sane; it asserts nothing
about speed (the full `make bench` is kept out of `make test`).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# dlt comes with the bench extra (`make bench`), not with `make test`; without it the dlt scenario is
# left out of the smoke run and everything else is still checked.
HAS_DLT = importlib.util.find_spec("dlt") is not None
SCENARIOS = "full_sync,fetch_floor,memory_scaling,incremental" + (",dlt" if HAS_DLT else "")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", SCENARIOS, "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, json.loads(out.read_text())


def rows(results: dict, scenario: str) -> dict[str, dict]:
    found = next(s for s in results["scenarios"] if s["name"] == scenario)
    assert found["error"] is None
    return {r["metric"]: r for r in found["rows"]}


def test_prints_a_markdown_table(quick_run: tuple[str, dict]) -> None:
    table, _ = quick_run
    assert "| Scenario | Metric | Value | Target | Status | Notes |" in table
    titles = ["Full sync", "Incremental sync", "Memory scaling", "Baseline: fetch floor"]
    for title in titles + (["Baseline: dlt rest_api"] if HAS_DLT else []):
        assert f"| {title} |" in table
    assert "**error**" not in table


def test_results_json_describes_the_machine(quick_run: tuple[str, dict]) -> None:
    _, results = quick_run
    machine = results["machine"]
    assert machine["cpus"] >= 1 and machine["memory_gb"] > 0 and machine["python"].startswith("3.")
    assert results["profile"] == "quick" and results["date"]


def test_numbers_are_sane(quick_run: tuple[str, dict]) -> None:
    _, results = quick_run
    full = rows(results, "full_sync")
    expected = results["sizes"]["large"]["users"] * results["sizes"]["large"]["messages_per_mailbox"]
    assert next(r["value"] for m, r in full.items() if m.startswith("tenant")) >= expected
    assert full["wall time"]["value"] > 0 and full["throughput"]["value"] > 0
    assert full["JSON processed"]["value"] > 0
    assert 10 < full["peak RSS"]["value"] < 8000
    assert full["HTTP requests"]["value"] > 0

    inc = rows(results, "incremental")
    assert inc["changes"]["value"] > 0
    assert inc["HTTP requests"]["value"] > 0
    assert inc["requests / full sync"]["met"] in (True, False)

    memory = rows(results, "memory_scaling")
    assert memory["ratio"]["value"] > 0
    assert memory["peak RSS at 500 messages"]["note"].startswith("median of 2 runs")
    assert rows(results, "fetch_floor")["graphsync / floor throughput"]["value"] > 0
    if HAS_DLT:
        assert rows(results, "dlt")["graphsync / dlt throughput"]["value"] > 0
