"""The warehouse is opened only under a file lock, with a bounded wait, and fails in one line."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from warehouse import PageBatch, StreamState, Warehouse, WarehouseError, WarehouseLocked
from warehouse.writer import _checkpoint

HOLD_FLOCK = """
import fcntl, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""

HOLD_DUCKDB = """
import duckdb, sys, time
connection = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
connection.close()
"""


@contextmanager
def holder(script: str, target: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Run a helper process that holds a lock on ``target`` for ``seconds``; wait until it does."""
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(target), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "held"
        yield process
    finally:
        process.kill()  # only the process this test started
        process.wait()


def test_waits_for_the_lock_then_succeeds(tmp_path: Path) -> None:
    db = tmp_path / "graphsync.duckdb"
    with holder(HOLD_FLOCK, tmp_path / "graphsync.duckdb.lock", seconds=1.0) as process:
        started = time.monotonic()
        Warehouse(db, lock_timeout_s=20).ensure_schema()
        waited = time.monotonic() - started
        assert process.poll() is not None  # it only got through once the holder had finished
    assert waited > 0.3
    assert Warehouse(db).load_states("messages") == {}


def test_gives_up_after_the_timeout_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "graphsync.duckdb"
    with holder(HOLD_FLOCK, tmp_path / "graphsync.duckdb.lock", seconds=60), pytest.raises(WarehouseLocked) as error:
        Warehouse(db, lock_timeout_s=0.5).ensure_schema()
    message = str(error.value)
    assert str(db) in message and "\n" not in message
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_readers_wait_for_writers_too(tmp_path: Path) -> None:
    db = tmp_path / "graphsync.duckdb"
    Warehouse(db).ensure_schema()
    with holder(HOLD_FLOCK, tmp_path / "graphsync.duckdb.lock", seconds=60), pytest.raises(WarehouseLocked):
        Warehouse(db, lock_timeout_s=0.3).query_df("SELECT 1")


def test_duckdb_lock_of_another_program_is_retried_then_reported(tmp_path: Path) -> None:
    db = tmp_path / "graphsync.duckdb"
    Warehouse(db).ensure_schema()
    with holder(HOLD_DUCKDB, db, seconds=60), pytest.raises(WarehouseLocked) as error:
        Warehouse(db, lock_timeout_s=0.5).ensure_schema()
    assert str(db) in str(error.value) and "\n" not in str(error.value)


def test_duckdb_lock_released_in_time_is_waited_for(tmp_path: Path) -> None:
    db = tmp_path / "graphsync.duckdb"
    Warehouse(db).ensure_schema()
    with holder(HOLD_DUCKDB, db, seconds=1.0):
        Warehouse(db, lock_timeout_s=20).ensure_schema()


def test_missing_folder_is_one_line_error(tmp_path: Path) -> None:
    folder = tmp_path / "x" / "y"
    with pytest.raises(WarehouseError) as error:
        Warehouse(folder / "graphsync.duckdb").ensure_schema()
    assert str(error.value) == f"database folder {folder} does not exist"


def test_reading_a_warehouse_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="does not exist yet"):
        Warehouse(tmp_path / "none.duckdb").query_df("SELECT 1")


def test_a_held_connection_serves_this_process_and_keeps_others_out_until_released(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    holder_wh, other = Warehouse(db), Warehouse(db, lock_timeout_s=0.3)
    holder_wh.ensure_schema()
    holder_wh.hold_open()
    try:
        # Calls of the holding process go through the held connection (they would deadlock on the
        # file lock otherwise), from any thread.
        assert holder_wh.query_rows("SELECT count(*) FROM users") == [(0,)]
        assert len(holder_wh.query_df("SELECT * FROM _sync_state")) == 0
        with pytest.raises(WarehouseLocked):
            other.query_rows("SELECT 1")
    finally:
        holder_wh.release()
    assert not holder_wh.is_held_open
    assert other.query_rows("SELECT count(*) FROM users") == [(0,)]


@pytest.mark.parametrize("checkpoint", [True, False])
def test_release_folds_the_log_when_asked(tmp_path: Path, checkpoint: bool) -> None:
    db = tmp_path / "w.duckdb"
    wh = Warehouse(db)
    wh.hold_open()
    wh.start_run("sync", ["users"], datetime.now(UTC))
    wal = db.with_name(db.name + ".wal")
    assert wal.stat().st_size > 0
    wh.release(checkpoint=checkpoint)
    assert (not wal.exists() or wal.stat().st_size == 0) == checkpoint


def test_a_commit_past_the_log_threshold_checkpoints_under_a_memory_cap_then_lifts_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("warehouse.writer.CHECKPOINT_LOG_BYTES", 1)
    db = tmp_path / "w.duckdb"
    wh = Warehouse(db)
    wh.hold_open()
    try:
        default_limit = wh.query_rows("SELECT current_setting('memory_limit')")
        now = datetime.now(UTC)
        wh.apply([PageBatch(table="users", scope_values={}, upserts=[{"id": "u1", "displayName": "Adele"}],
                            partial_ids=set(), removals=[], removal_guard=None,
                            state=StreamState("users", "", "https://delta", "delta", None, now))], now)
        wal = db.with_name(db.name + ".wal")
        assert not wal.exists() or wal.stat().st_size == 0, "the log was folded into the file"
        assert wh.query_rows("SELECT current_setting('memory_limit')") == default_limit
    finally:
        wh.release()
    assert Warehouse(db).query_rows("SELECT display_name FROM users") == [("Adele",)]


def test_a_checkpoint_that_runs_out_of_its_memory_cap_is_retried_uncapped() -> None:
    class Connection:
        def __init__(self) -> None:
            self.statements: list[str] = []

        def execute(self, sql: str) -> None:
            self.statements.append(sql)
            if sql == "CHECKPOINT" and self.statements.count("CHECKPOINT") == 1:
                raise duckdb.OutOfMemoryException("could not allocate")

    connection = Connection()
    _checkpoint(connection)  # type: ignore[arg-type]
    assert connection.statements == ["SET memory_limit = '128MB'", "CHECKPOINT", "RESET memory_limit", "CHECKPOINT",
                                     "RESET memory_limit"]
