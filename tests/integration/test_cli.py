"""`graphsync` as a user runs it: real processes, real simulator, real DuckDB file."""

from __future__ import annotations

import fcntl
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from connectors.simulator.server import Simulator
from tests.conftest import start_simulator
from tests.integration.helpers import assert_events_exact, assert_exact, warehouse_state
from tests.integration.test_sync_teams import TEAMS_TABLES, assert_teams_exact, warehouse_teams
from warehouse import Warehouse

GRAPHSYNC = [sys.executable, "-m", "pipelines.cli"]


def _env(sim: Simulator, db: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPH_", "GRAPHSYNC_"))}
    env.update(sim.endpoints.env())
    env["GRAPHSYNC_DB"] = str(db)
    env.update(overrides)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(GRAPHSYNC + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _assert_one_line_error(run: subprocess.CompletedProcess, *needles: str) -> None:
    assert run.returncode != 0
    progress = "  … "  # live progress lines are expected on stderr; the error itself is one line
    lines = [line for line in run.stderr.splitlines() if line.strip() and not line.startswith(progress)]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("graphsync: error: ")
    assert "Traceback" not in run.stderr + run.stdout
    for needle in needles:
        assert needle.lower() in lines[0].lower(), lines[0]


def test_sync_command_is_exact_and_prints_a_summary(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    run = _run(["sync"], _env(sim, db), tmp_path)
    assert run.returncode == 0, run.stderr
    assert "messages" in run.stdout and "upserted" in run.stdout
    assert sim.endpoints.client_secret not in run.stdout + run.stderr
    assert_exact(sim, db)


@pytest.mark.parametrize(("overrides", "needles"), [
    ({"GRAPH_TENANT_ID": ""}, ["GRAPH_TENANT_ID"]),
    ({"GRAPH_CLIENT_SECRET": ""}, ["GRAPH_CLIENT_SECRET"]),
    ({"GRAPH_TOKEN_URL": "http://127.0.0.1:1/t/oauth2/v2.0/token"}, ["GRAPH_TOKEN_URL"]),
    ({"GRAPH_CA_BUNDLE": "/no/such/ca.pem"}, ["GRAPH_CA_BUNDLE"]),
    ({"GRAPH_CLIENT_SECRET": "wrong-secret-value"}, ["AADSTS7000215"]),
    ({"GRAPH_API_URL": "https://127.0.0.1:9/v1.0"}, ["127.0.0.1:9"]),
    ({"GRAPHSYNC_DB": "/no/such/folder/wh.duckdb"}, ["/no/such/folder", "does not exist"]),
])
def test_bad_input_gives_one_line_and_stores_nothing(sim: Simulator, tmp_path: Path, overrides: dict[str, str],
                                                      needles: list[str]) -> None:
    db = tmp_path / "wh.duckdb"
    run = _run(["sync"], _env(sim, db, **overrides), tmp_path)
    _assert_one_line_error(run, *needles)
    secret = overrides.get("GRAPH_CLIENT_SECRET") or sim.endpoints.client_secret
    assert secret not in run.stderr + run.stdout
    if db.exists():
        assert warehouse_state(db)["messages"] == set(), "nothing is marked synced that was not stored"


def test_unreachable_token_host(sim: Simulator, tmp_path: Path) -> None:
    env = _env(sim, tmp_path / "wh.duckdb", GRAPH_TOKEN_URL="https://127.0.0.1:9/t/oauth2/v2.0/token")
    _assert_one_line_error(_run(["sync"], env, tmp_path), "127.0.0.1:9")


def test_lock_held_longer_than_the_wait_limit(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    env = _env(sim, db)
    assert _run(["sync", "--only", "users"], env, tmp_path).returncode == 0
    with open(f"{db}.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        run = _run(["sync", "--lock-timeout", "1.5"], env, tmp_path)
        waited = time.monotonic() - started
    _assert_one_line_error(run, "lock")
    assert waited >= 1.5


def test_debug_shows_the_traceback(sim: Simulator, tmp_path: Path) -> None:
    run = _run(["--debug", "sync"], _env(sim, tmp_path / "wh.duckdb", GRAPH_TENANT_ID=""), tmp_path)
    assert run.returncode != 0 and "Traceback" in run.stderr


def _kill_at_random_points(sim: Simulator, env: dict[str, str], cwd: Path, args: list[str], seed: int,
                           between: Callable[[int], None], command: tuple[str, ...] = ("sync",)) -> int:
    """Start `graphsync COMMAND ARGS` six times, each killed with SIGKILL after a random number of Graph
    requests; `between(attempt)` may change the tenant after each kill. Returns how many were killed."""
    rng = random.Random(seed)
    interrupted = 0
    for attempt in range(6):
        # A random point measured in Graph requests served, not seconds: robust to machine speed.
        kill_after = rng.randint(3, 60)
        mark = sim.control("journal_mark")
        proc = subprocess.Popen(GRAPHSYNC + [*command, *args], env=env, cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if len(sim.control("journal", since=mark)) >= kill_after:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        interrupted += proc.wait(30) == -signal.SIGKILL
        between(attempt)
    return interrupted


def test_sigkill_at_random_points_then_rerun_is_exact(tmp_path: Path) -> None:
    sim = start_simulator(tmp_path / "sim", scale="small")
    try:
        db = tmp_path / "wh.duckdb"
        env = _env(sim, db)

        def change(attempt: int) -> None:
            if attempt == 1:  # the tenant changes between a killed run and its rerun
                user = sim.control("user_ids")[0]
                created = sim.control("create_message", user=user, folder="inbox")
                sim.control("move_message", user=user, message_id=created["id"], folder="archive")
                event = next(k for k, e in sim.control("calendar_state", user=user).items()
                             if e.get("type") == "singleInstance")
                sim.control("delete_event", user=user, event_id=event)

        interrupted = _kill_at_random_points(sim, env, tmp_path, ["--page-size", "25", "--quiet"], 20261127, change)
        assert interrupted >= 3, "the kills must land while the sync is running"
        final = _run(["sync", "--page-size", "25", "--quiet"], env, tmp_path)
        assert final.returncode == 0, final.stderr
        assert_exact(sim, db)
        assert_events_exact(sim, db)
        statuses = dict(Warehouse(db).query_rows("SELECT status, count(*) FROM _sync_runs GROUP BY ALL"))
        assert statuses.get("abandoned", 0) >= 3 and "running" not in statuses, \
            f"killed runs stay visible in the run log, marked abandoned by the next run: {statuses}"
    finally:
        sim.stop()


def test_twenty_mailboxes_of_two_thousand_messages_in_one_sync(tmp_path: Path) -> None:
    sim = start_simulator(tmp_path / "sim", scale="medium")
    try:
        db = tmp_path / "wh.duckdb"
        run = _run(["sync"], _env(sim, db), tmp_path, timeout=600)
        assert run.returncode == 0, run.stderr
        state = warehouse_state(db)
        assert len(state["users"]) == 20 and len(state["messages"]) == 40_000
        assert_exact(sim, db)
    finally:
        sim.stop()


def test_sigkill_during_teams_syncs_then_rerun_is_exact(tmp_path: Path) -> None:
    sim = start_simulator(tmp_path / "sim", scale="small")
    try:
        db = tmp_path / "wh.duckdb"
        env = _env(sim, db)
        args = ["--only", ",".join(TEAMS_TABLES), "--page-size", "5", "--quiet"]

        def change(attempt: int) -> None:
            teams = sim.control("teams_state")
            team = sorted(teams)[attempt % len(teams)]
            channel = sorted(teams[team]["channels"])[0]
            sim.control("post_channel_message", team=team, channel=channel, text=f"post {attempt}")
            chat = sorted(sim.control("chats_state", user=sim.control("user_ids")[0]))[0]
            sim.control("post_chat_message", chat=chat, text=f"message {attempt}")

        interrupted = _kill_at_random_points(sim, env, tmp_path, args, 20261201, change)
        assert interrupted >= 3, "the kills must land while the sync is running"
        final = _run(["sync", *args], env, tmp_path)
        assert final.returncode == 0, final.stderr
        assert_teams_exact(sim, db)
    finally:
        sim.stop()


def test_a_table_the_app_cannot_read_is_named_and_the_rest_is_stored(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    # Every team's member list is refused, as Graph refuses it without TeamMember.Read.All.
    sim.control("set_faults", rules=[{"status": 403, "path": r"^/teams/[^/]+/members$"}])
    run = _run(["sync", "--quiet"], _env(sim, db), tmp_path)
    assert run.returncode == 1, run.stderr
    _assert_one_line_error(run, "team_members", "missing TeamMember.Read.All", "in 2 teams")
    assert "messages" in run.stdout, "the summary is printed before the error"
    stored = warehouse_teams(db)
    assert not stored["team_members"] and stored["channels"] and stored["channel_messages"]
    assert_exact(sim, db)


def test_demo_tells_the_whole_story_and_ends_exact(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPH_", "GRAPHSYNC_"))}
    run = _run(["demo", "--db", str(tmp_path / "demo.duckdb")], env, tmp_path)
    assert run.returncode == 0, run.stderr
    for step in ("1. Full sync", "2. Meanwhile in the tenant", "3. Incremental sync", "matches the tenant"):
        assert step in run.stdout, step
    assert "chat_messages" in run.stdout and "channel_messages" in run.stdout


@pytest.mark.xfail(int(duckdb.__version__.split(".")[0]) < 2, strict=True,
                   reason="DuckDB 1.5 imports pandas whenever it binds a parameter or scans an Arrow table")
def test_a_whole_sync_imports_no_pandas(sim: Simulator, tmp_path: Path) -> None:
    # pa.array() imports pandas on first use (~0.5 s and ~50 MB per sync process): staging goes through
    # warehouse.arrow instead, on every path a sync takes (upserts, sweeps, retirements, states).
    script = ("import runpy, sys; sys.argv = ['graphsync', 'sync', '--quiet']\n"
              "try:\n    runpy.run_module('pipelines.cli', run_name='__main__')\n"
              "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
              "print('pandas imported' if 'pandas' in sys.modules else 'no pandas', file=sys.stderr)")
    db = tmp_path / "wh.duckdb"
    for _ in range(2):  # a first sync, then an incremental one (snapshots compare, sweeps run)
        run = subprocess.run([sys.executable, "-c", script], env=_env(sim, db), cwd=tmp_path, capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert run.stderr.strip().endswith("no pandas"), run.stderr[-500:]
