"""Short, serialised access to the DuckDB file.

DuckDB lets one process open a file read-write, and while it does every other process (even a
read-only one) fails to open it. So nobody keeps the warehouse open: each read or write takes an
OS lock on ``<db>.lock``, opens the database, does its work, closes it and releases the lock.
Writers lock exclusively; readers share the lock so several can read at once (DuckDB allows many
read-only openers as long as nobody writes).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from warehouse.errors import WarehouseError, WarehouseLocked

# DuckDB's message when a process outside our flock protocol (a DuckDB shell, a notebook) holds
# the file: retried like our own lock, since such sessions usually end soon.
_DUCKDB_LOCK_MESSAGE = "Could not set lock on file"


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def check_folder(db_path: Path) -> None:
    if not db_path.parent.is_dir():
        raise WarehouseError(f"database folder {db_path.parent} does not exist")


class _Deadline:
    """A bounded wait with a growing poll interval (fast when the holder is quick, cheap when not)."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._end = time.monotonic() + timeout_s
        self._pause = 0.02

    def expired(self) -> bool:
        return time.monotonic() >= self._end

    def pause(self) -> None:
        time.sleep(max(0.0, min(self._pause, self._end - time.monotonic())))
        self._pause = min(self._pause * 2, 0.25)


@contextmanager
def _file_lock(lock_path: Path, exclusive: bool, deadline: _Deadline, db_path: Path) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                if deadline.expired():
                    raise WarehouseLocked(
                        f"warehouse {db_path} is locked by another graphsync process; "
                        f"gave up after {deadline.timeout_s:g} s"
                    ) from None
                deadline.pause()
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


# Small row groups keep a sync's memory flat: every checkpoint rewrites the last, growing row group,
# and with DuckDB's default (122,880 rows) that made peak memory and commit time grow with the table
# (measured: high-water mark 340 -> 820 MB over 80k messages; with 2,048-row groups it stays ~360 MB
# and every checkpoint costs the same). Scans lose little: 2,048 rows is one DuckDB vector.
ROW_GROUP_SIZE = 2_048


def _connect(db_path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    options = f"ROW_GROUP_SIZE {ROW_GROUP_SIZE}" + (", READ_ONLY" if read_only else "")
    try:
        quoted = str(db_path).replace("'", "''")
        connection.execute(f"ATTACH '{quoted}' AS warehouse ({options})")
        connection.execute("USE warehouse")
    except BaseException:
        connection.close()
        raise
    return connection


def _open(db_path: Path, read_only: bool, deadline: _Deadline) -> duckdb.DuckDBPyConnection:
    while True:
        try:
            connection = _connect(db_path, read_only)
        except duckdb.IOException as error:
            if _DUCKDB_LOCK_MESSAGE not in str(error):
                raise WarehouseError(f"cannot open warehouse {db_path}: {_first_line(error)}") from None
            if deadline.expired():
                raise WarehouseLocked(
                    f"warehouse {db_path} is held open by another program; gave up after {deadline.timeout_s:g} s"
                ) from None
            deadline.pause()
        except duckdb.Error as error:
            raise WarehouseError(f"cannot open warehouse {db_path}: {_first_line(error)}") from None
        else:
            # Naive TIMESTAMPs in the warehouse are UTC; make TIMESTAMPTZ render in UTC too.
            connection.execute("SET TimeZone = 'UTC'")
            # DuckDB draws a progress bar on the terminal for long statements; not in our CLI.
            connection.execute("SET enable_progress_bar = false")
            if not read_only:
                # Closing after every write burst would checkpoint every time, rewriting whole row groups
                # for a few hundred changed rows (0.8 s at 40k messages). Committed data is durable in
                # the write-ahead log; warehouse.writer folds it into the file, with a memory cap, once
                # the log passes 32 MB. DuckDB's own (uncapped) checkpoint is only a backstop.
                connection.execute("PRAGMA disable_checkpoint_on_shutdown")
                connection.execute("SET checkpoint_threshold = '256MB'")
            return connection


@contextmanager
def open_locked(db_path: Path, *, write: bool, timeout_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
    """Lock, open, yield the connection, close, unlock. Waits at most ``timeout_s`` in total."""
    check_folder(db_path)
    if not write and not db_path.exists():
        raise WarehouseError(f"warehouse {db_path} does not exist yet; run a sync first")
    deadline = _Deadline(timeout_s)
    with _file_lock(lock_path_for(db_path), write, deadline, db_path):
        connection = _open(db_path, read_only=not write, deadline=deadline)
        try:
            yield connection
        finally:
            connection.close()
