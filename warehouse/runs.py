"""The run log ``_sync_runs``, and how a run whose process died is told from one still going.

A run's row is written ``running`` when it starts and given its outcome when it ends. A process
killed with SIGKILL, or with SIGTERM (whose default action ends Python without any cleanup), never
records one. So every live run holds a shared flock on ``<db>.runs.lock`` for as long as it runs,
which the kernel drops when the process ends, however it ends. A run that starts, holding the
warehouse's write lock, asks for that lock exclusively without waiting: granted, no other run is
alive, so every row still ``running`` belongs to a dead process and is marked ``abandoned``;
refused, some run is alive and which rows are its is not known, so none is touched (the next run
alone marks them).

The write lock alone would not tell: a sync lets go of the warehouse between bursts of writes so
that readers get in, and another process holding no write lock may still be in the middle of a run.
Only a holder of the write lock ever asks for the run lock exclusively, so flock's change from
exclusive to shared (not atomic) cannot let another starter slip in between.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import duckdb

from warehouse.errors import WarehouseError

RUNNING, SUCCEEDED, FAILED, ABANDONED = "running", "succeeded", "failed", "abandoned"
ABANDONED_ERROR = "abandoned: its process ended without recording an outcome (killed, or the machine stopped)"
# How long a starting run waits for a shared run lock; only a starter holding the write lock ever
# holds it exclusively, for the time of one UPDATE, so this is never reached in practice.
_SHARED_WAIT_S = 10.0


def run_lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".runs.lock")


def _try_flock(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def start(connection: duckdb.DuckDBPyConnection, db_path: Path, kind: str, streams: Sequence[str],
          now: datetime) -> tuple[int, int]:
    """Under the write lock: mark dead runs abandoned, log this one as running. Returns the run's id
    and the descriptor of its run lock, which the caller closes when the run ends (see :func:`finish`)."""
    try:
        fd = os.open(run_lock_path(db_path), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise WarehouseError(f"cannot open the run lock of warehouse {db_path}: {error.strerror or error}") from None
    try:
        alone = _try_flock(fd, fcntl.LOCK_EX)
        connection.execute("BEGIN TRANSACTION")
        try:
            if alone:
                connection.execute(
                    "UPDATE _sync_runs SET status = ?, finished_at = ?, error = coalesce(error, ?) WHERE status = ?",
                    [ABANDONED, now, ABANDONED_ERROR, RUNNING])
            row = connection.execute(
                "INSERT INTO _sync_runs (kind, started_at, status, streams, upserted, tombstoned) "
                "VALUES (?, ?, ?, ?, 0, 0) RETURNING id", [kind, now, RUNNING, ",".join(streams)]).fetchone()
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        _hold_shared(fd, db_path)
    except BaseException:
        os.close(fd)
        raise
    assert row is not None
    return int(row[0]), fd


def _hold_shared(fd: int, db_path: Path) -> None:
    deadline = time.monotonic() + _SHARED_WAIT_S
    while not _try_flock(fd, fcntl.LOCK_SH):
        if time.monotonic() >= deadline:
            raise WarehouseError(f"the run lock {run_lock_path(db_path)} is held exclusively by another process")
        time.sleep(0.05)


def finish(connection: duckdb.DuckDBPyConnection, run_id: int, status: str, now: datetime, upserted: int,
           tombstoned: int, error: str | None) -> None:
    """Record a run's outcome and its total counts."""
    connection.execute(
        "UPDATE _sync_runs SET finished_at = ?, status = ?, upserted = ?, tombstoned = ?, error = ? WHERE id = ?",
        [now, status, upserted, tombstoned, error, run_id])
