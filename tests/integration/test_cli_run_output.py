"""What a run shows its operator: logs with -v / --log-format json, progress, `graphsync status`."""

from __future__ import annotations

import json
from pathlib import Path

from connectors.simulator.server import Simulator
from tests.integration.test_cli import _env, _run


def test_verbose_json_logs_name_retries_and_skipped_tables(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    env = _env(sim, db)
    assert _run(["sync", "--only", "users", "--quiet"], env, tmp_path).returncode == 0
    sim.control("set_faults", rules=[{"status": 429, "path": r"/mailFolders", "times": 2, "retry_after": 0.1},
                                     {"status": 403, "path": r"/drive$"}])
    run = _run(["--log-format", "json", "sync", "-v", "--only", "mail_folders,drives", "--quiet"], env, tmp_path)
    assert run.returncode == 1 and run.stdout == "", "--quiet prints nothing but the error"
    events = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    retries = [e for e in events if e.get("event") == "retry"]
    assert len(retries) == 2 and all(e["seconds"] == 0.1 and "429" in e["reason"] for e in retries), events
    skipped = [e for e in events if e.get("event") == "skipped"]
    assert skipped and {e["table"] for e in skipped} == {"drives"} and skipped[0]["level"] == "warning"
    assert run.stderr.splitlines()[-1].startswith("graphsync: error: not everything could be read")

    quiet = _run(["sync", "--only", "mail_folders"], env, tmp_path)
    assert not any(line.startswith("{") or line.startswith("graphsync: retry") for line in quiet.stderr.splitlines()), \
        "without -v nothing is logged"
