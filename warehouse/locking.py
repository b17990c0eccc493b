"""Short, serialised access to the DuckDB file.

DuckDB lets one process open a file read-write, and while it does every other process (even a
read-only one) fails to open it. So nobody keeps the warehouse open: each read or write takes an
OS lock on ``<db>.lock``, opens the database, does its work, closes it and releases the lock.
Writers lock exclusively; readers share the lock so several can read at once (DuckDB allows many
read-only openers as long as nobody writes).

Readers get their turn: a reader who is waiting says so (a shared flock on ``<db>.readers``); a
sync lets go of the file after its next commit when one is (or every `BatchWriter.hold_seconds`
anyway), and before it takes the file again lets the waiting readers in first. So a reader waits
about one commit during even the longest sync (measured in tests/integration/test_readers.py).
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from warehouse.errors import ForeignFile, WarehouseError, WarehouseLocked

# DuckDB's message when a process outside our flock protocol (a DuckDB shell, a notebook) holds
# the file: retried like our own lock, since such sessions usually end soon.
_DUCKDB_LOCK_MESSAGE = "Could not set lock on file"
# ... and when the file was written by a newer DuckDB than ours (its storage format is unknown to us).
_DUCKDB_NEWER_MESSAGE = "created with a newer version of DuckDB"

# The storage format new warehouses are written in. DuckDB 1.5 writes v1.0.0 by default (for old
# readers), in which `USING COMPRESSION zstd` is silently ignored for text (see models.base: zstd
# made long text 4x smaller and 2.4x cheaper to write); v1.5.0 keeps it, and every 1.5.x DuckDB (the
# `duckdb-cli` and `duckdb-extension-*` packages, the Python package) reads and writes it. Existing
# files keep the format they were made in.
STORAGE_VERSION = "v1.5.0"

# A DuckDB database file has "DUCK" at byte 8 (after its checksum); what SQLite files start with.
_DUCKDB_MAGIC = (8, b"DUCK")
_SQLITE_MAGIC = b"SQLite format 3\x00"


log = logging.getLogger("graphsync.warehouse")

# How long a writer about to take the file lets readers who are waiting for it in first. A sync lets
# go of the file at least every BatchWriter.hold_seconds; without this turn a reader polling the lock
# would mostly miss the moment, as the writer takes it again at once.
READERS_TURN_S = 5.0


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def check_folder(db_path: Path) -> None:
    if not db_path.parent.is_dir():
        raise WarehouseError(f"database folder {db_path.parent} does not exist")


def file_size(db_path: Path) -> int | None:
    """The file's size, None if there is no file; checks that a file that is there is a DuckDB database.

    Read from its first bytes, before DuckDB opens it: DuckDB would answer a SQLite file by trying to
    download its SQLite extension, and graphsync must not write into what is not its own.
    """
    try:
        with db_path.open("rb") as handle:
            head = handle.read(16)
            size = handle.seek(0, 2)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise WarehouseError(f"cannot read warehouse {db_path}: {error.strerror or error}") from None
    offset, magic = _DUCKDB_MAGIC
    if size and head[offset:offset + len(magic)] != magic:
        reason = "it is a SQLite database" if head.startswith(_SQLITE_MAGIC) else "it is not a DuckDB database"
        raise ForeignFile(f"{db_path} is not a graphsync warehouse: {reason}; graphsync left it as it was "
                          "(choose another file with --db or GRAPHSYNC_DB)", reason)
    return size


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


def readers_path_for(db_path: Path) -> Path:
    """Readers waiting for the file hold a shared flock on this one while they wait."""
    return db_path.with_name(db_path.name + ".readers")


@contextmanager
def _file_lock(lock_path: Path, exclusive: bool, deadline: _Deadline, db_path: Path) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    waiting: int | None = None  # a reader's "I am waiting" flock, held until it gets in
    try:
        if exclusive:
            _readers_first(db_path)
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                if waiting is None:
                    log.info("waiting for the lock on warehouse %s (another graphsync process holds it)", db_path,
                             extra={"event": "lock_wait", "lock": "warehouse", "write": exclusive})
                    waiting = -1 if exclusive else _announce_reader(db_path)
                if deadline.expired():
                    raise WarehouseLocked(
                        f"warehouse {db_path} is locked by another graphsync process; "
                        f"gave up after {deadline.timeout_s:g} s"
                    ) from None
                deadline.pause()
        if waiting is not None:
            log.info("got the lock on warehouse %s after %.1f s", db_path, time.monotonic() - started,
                     extra={"event": "lock_acquired", "lock": "warehouse", "seconds": time.monotonic() - started})
        if waiting is not None and waiting >= 0:
            os.close(waiting)
            waiting = None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        if waiting is not None and waiting >= 0:
            os.close(waiting)
        os.close(fd)


def _announce_reader(db_path: Path) -> int:
    """A reader about to wait says so: a shared flock on the readers file, for the writer to see."""
    try:
        fd = os.open(readers_path_for(db_path), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        return -1  # a read-only folder: readers just wait their turn
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def readers_waiting(db_path: Path) -> bool:
    """Whether some reader is waiting for the file now (its writer may want to let go early)."""
    try:  # no file: no reader ever waited (writers never create it, so nothing appears beside a file
        fd = os.open(readers_path_for(db_path), os.O_RDWR)  # graphsync refuses to write into)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _readers_first(db_path: Path) -> None:
    """A writer lets readers that are waiting in before it takes the file (at most READERS_TURN_S):
    the readers file is free once none of them is still waiting."""
    try:
        fd = os.open(readers_path_for(db_path), os.O_RDWR)
    except OSError:  # none: no reader ever waited
        return
    try:
        end = time.monotonic() + READERS_TURN_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                if time.monotonic() >= end:
                    return
                time.sleep(0.01)
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
    if not read_only and not db_path.exists():  # only a new file: an existing one is opened as it is
        options += f", STORAGE_VERSION '{STORAGE_VERSION}'"
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
            if _DUCKDB_NEWER_MESSAGE in str(error):
                raise WarehouseError(
                    f"cannot open warehouse {db_path}: it was written by a newer DuckDB than graphsync's "
                    f"{duckdb.__version__} ({_first_line(error)})") from None
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
            # Instants are TIMESTAMPTZ and read right in any zone; graphsync's own reads see them in UTC.
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
    """Lock, open, yield the connection, close, unlock. Waits at most ``timeout_s`` in total.

    A file that is not a DuckDB database is refused (:class:`ForeignFile`) before DuckDB sees it; an
    empty one (0 bytes, which DuckDB refuses) is a new warehouse to a writer. Whether a DuckDB file is
    graphsync's own is for the writer to check, before it writes (warehouse.schema)."""
    check_folder(db_path)
    if not write and not db_path.exists():
        raise WarehouseError(f"warehouse {db_path} does not exist yet; run a sync first")
    deadline = _Deadline(timeout_s)
    with _file_lock(lock_path_for(db_path), write, deadline, db_path):
        size = file_size(db_path)
        if size == 0:
            if not write:
                raise WarehouseError(f"warehouse {db_path} is empty; run a sync first")
            try:
                db_path.unlink()  # nothing to lose; DuckDB writes a new database in its place
            except OSError as error:
                raise WarehouseError(f"cannot replace the empty file {db_path}: {error.strerror or error}") from None
        connection = _open(db_path, read_only=not write, deadline=deadline)
        try:
            yield connection
        finally:
            connection.close()
