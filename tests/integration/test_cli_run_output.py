"""What a run shows its operator: logs with -v / --log-format json, progress, `graphsync status`."""

from __future__ import annotations

import json
from pathlib import Path

from connectors.simulator.server import Simulator
from tests.integration.test_cli import _env, _run


def test_verbose_json_logs_name_retries_and_skipped_tables(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    env = _env(sim, db)
    quiet = _run(["sync", "--only", "users", "--quiet"], env, tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == "", "--quiet: nothing on success"
    sim.control("set_faults", rules=[{"status": 429, "path": r"/mailFolders", "times": 2, "retry_after": 0.1},
                                     {"status": 403, "path": r"/drive$"}])
    run = _run(["--log-format", "json", "sync", "-v", "--only", "mail_folders,drives", "--quiet"], env, tmp_path)
    assert run.returncode == 1 and "drives" in run.stdout, "a run that failed in part shows its summary"
    events = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    retries = [e for e in events if e.get("event") == "retry"]
    assert len(retries) == 2 and all(e["seconds"] == 0.1 and "429" in e["reason"] for e in retries), events
    skipped = [e for e in events if e.get("event") == "skipped"]
    assert skipped and {e["table"] for e in skipped} == {"drives"} and skipped[0]["level"] == "warning"
    assert run.stderr.splitlines()[-1].startswith("graphsync: error: not everything could be read")

    quiet = _run(["sync", "--only", "mail_folders"], env, tmp_path)
    assert not any(line.startswith("{") or line.startswith("graphsync: retry") for line in quiet.stderr.splitlines()), \
        "without -v nothing is logged"


def test_on_a_terminal_a_sync_shows_live_progress_per_table_then_its_summary(sim: Simulator, tmp_path: Path) -> None:
    import os
    import pty
    import subprocess

    from tests.integration.helpers import GRAPHSYNC

    db = tmp_path / "wh.duckdb"
    env = _env(sim, db)
    assert _run(["sync", "--only", "users", "--quiet"], env, tmp_path).returncode == 0
    sim.control("set_throttle", latency_s=0.05)  # long enough for several redraws
    primary, secondary = pty.openpty()
    process = subprocess.Popen(GRAPHSYNC + ["sync", "--only", "mail_folders,messages"], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=secondary, text=True)
    os.close(secondary)
    out, _ = process.communicate(timeout=300)
    drawn = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal's other end closed
            break
        if not chunk:
            break
        drawn += chunk
    os.close(primary)
    assert process.returncode == 0
    screen = drawn.decode()
    assert "\x1b[" in screen and "mailboxes" in screen and "messages" in screen and "items" in screen, screen[-500:]
    assert "sync finished" in out, "the summary goes to stdout, after the block is erased"


def test_two_syncs_at_once_do_the_work_once(sim: Simulator, tmp_path: Path) -> None:
    import subprocess
    import time

    from tests.integration.helpers import GRAPHSYNC

    tables = "users,mail_folders,messages,events"
    baseline = sim.control("journal_mark")
    assert _run(["sync", "--only", tables, "--quiet"], _env(sim, tmp_path / "one.duckdb"), tmp_path).returncode == 0
    one = len(sim.control("journal", since=baseline))

    env = _env(sim, tmp_path / "two.duckdb")
    sim.control("set_throttle", latency_s=0.3)  # the first sync is still running when the second starts
    mark = sim.control("journal_mark")
    first = subprocess.Popen(GRAPHSYNC + ["sync", "--only", tables], env=env, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "two.duckdb.sync.lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text().startswith("pid")) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the first holds the sync lock (start-up is slow on a loaded machine)
    second = subprocess.Popen(GRAPHSYNC + ["sync", "--only", tables, "-v"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    skipped = _run(["sync", "--only", tables, "--if-running", "skip"], env, tmp_path)
    first_out = first.communicate(timeout=300)
    second_out = second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, first_out[1] + second_out[1]
    assert skipped.returncode == 0 and "is running (pid" in skipped.stderr and "skipped" in skipped.stderr
    assert "waiting for the sync of" in second_out[1], "the second says whom it waits for"
    both = len(sim.control("journal", since=mark))
    assert both <= 1.1 * one, f"two syncs at once made {both} requests, one alone {one}"


def test_status_shows_each_table_its_lag_and_the_runs(sim: Simulator, tmp_path: Path) -> None:
    import subprocess

    from tests.integration.helpers import GRAPHSYNC

    db = tmp_path / "wh.duckdb"
    env = _env(sim, db)
    assert _run(["sync", "--only", "users,mail_folders", "--quiet"], env, tmp_path).returncode == 0
    bare = {k: v for k, v in env.items() if not k.startswith("GRAPH_")}  # no tenant settings needed
    shown = subprocess.run(GRAPHSYNC + ["status", "--json"], env=bare, cwd=tmp_path, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    tables = {t["table"]: t for t in report["tables"]}
    users = len(sim.control("users_state"))
    assert tables["users"]["live_rows"] == users and tables["users"]["lag_seconds"] < 60
    assert tables["mail_folders"]["scopes"] == users and tables["mail_folders"]["mid_round"] == 0
    assert tables["messages"]["last_synced"] is None, "never synced: no lag to tell"
    assert report["runs"][0]["status"] == "succeeded" and report["runs"][0]["kind"] == "sync"
    text = _run(["status"], env, tmp_path)
    assert text.returncode == 0 and "mail_folders" in text.stdout and "recent runs" in text.stdout
    missing = _run(["status", "--db", str(tmp_path / "none.duckdb")], env, tmp_path)
    assert missing.returncode == 1 and "no warehouse at" in missing.stderr and not (tmp_path / "none.duckdb").exists()
