"""A run whose process was killed is not left `running` forever: the next run marks it abandoned, and
never a run that is still alive."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from warehouse import Warehouse
from warehouse.runs import ABANDONED_ERROR, run_lock_path

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)

# A sync's process, reduced to what matters here: it logs its run, then works until it is killed.
RUN_UNTIL_KILLED = """
import sys, time
from datetime import UTC, datetime
from warehouse import Warehouse
run_id = Warehouse(sys.argv[1]).start_run("sync", ["users"], datetime(2024, 5, 1, 7, 0, tzinfo=UTC))
print(run_id, flush=True)
time.sleep(120)
"""


def start_run_in_process(db: Path) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, "-c", RUN_UNTIL_KILLED, str(db)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def runs(db: Path) -> dict[int, tuple[str, datetime | None, str | None]]:
    rows = Warehouse(db).query_rows("SELECT id, status, finished_at, error FROM _sync_runs ORDER BY id")
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_run_is_marked_abandoned_by_the_next_one(tmp_path: Path, how: signal.Signals) -> None:
    db = tmp_path / "w.duckdb"
    process, killed = start_run_in_process(db)
    process.send_signal(how)  # only the process this test started
    process.wait()
    assert runs(db)[killed][0] == "running"

    later = T0 + timedelta(hours=1)
    current = Warehouse(db).start_run("sync", ["users"], later)

    assert runs(db)[killed] == ("abandoned", later, ABANDONED_ERROR)
    assert runs(db)[current][0] == "running"


def test_a_run_still_alive_in_another_process_is_left_running(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    process, alive = start_run_in_process(db)
    try:
        # The live run holds no write lock between its writes, as a sync waiting on Graph does.
        second = Warehouse(db, lock_timeout_s=5)
        current = second.start_run("sync", ["users"], T0)
        second.finish_run(current, "succeeded", T0)
        assert runs(db)[alive][0] == "running"
    finally:
        process.kill()
        process.wait()
    Warehouse(db).finish_run(Warehouse(db).start_run("sync", ["users"], T0), "succeeded", T0)
    assert runs(db)[alive][0] == "abandoned"


def test_runs_of_one_process_see_each_other_alive_and_a_finished_run_keeps_its_outcome(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    first, second = Warehouse(db), Warehouse(db)
    done = first.start_run("sync", ["users"], T0)
    first.finish_run(done, "failed", T0, error="boom")
    going = first.start_run("sync", ["users"], T0)
    other = second.start_run("sync", ["users"], T0)
    assert {run: status for run, (status, _, _) in runs(db).items()} == {
        done: "failed", going: "running", other: "running"}
    assert runs(db)[done][2] == "boom"
    second.finish_run(other, "succeeded", T0)
    first.finish_run(going, "succeeded", T0)
    assert not first._run_locks and not second._run_locks  # every run lock was let go


def test_runs_left_by_an_older_graphsync_are_abandoned(tmp_path: Path) -> None:
    # Rows of runs from before the run lock existed: nobody holds a lock for them.
    db = tmp_path / "w.duckdb"
    Warehouse(db).ensure_schema()
    with duckdb.connect(str(db)) as connection:
        connection.execute("INSERT INTO _sync_runs (kind, started_at, status, upserted, tombstoned) "
                           "VALUES ('sync', TIMESTAMPTZ '2024-04-30 08:00:00+00', 'running', 0, 0)")
    assert not run_lock_path(db).exists()
    Warehouse(db).start_run("sync", ["users"], T0)
    assert [status for status, _, _ in runs(db).values()] == ["abandoned", "running"]


def test_a_run_whose_outcome_cannot_be_written_still_lets_go_of_its_lock(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    wh = Warehouse(db)
    run_id = wh.start_run("sync", ["users"], T0)
    wh.path = tmp_path / "gone" / "w.duckdb"  # its folder vanished: the outcome cannot be written
    with pytest.raises(Exception, match="does not exist"):
        wh.finish_run(run_id, "succeeded", T0)
    assert not wh._run_locks
    Warehouse(db).start_run("sync", ["users"], T0)
    assert runs(db)[run_id][0] == "abandoned"
