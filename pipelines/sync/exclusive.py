"""One sync of a warehouse at a time.

Two syncs of one tenant into one warehouse would both page through everything the delta links have
not yet covered: twice the Graph requests, twice the throttling, for rows one of them then writes
again. So a sync first takes `<db>.sync.lock` (an exclusive flock, which the kernel drops when its
process ends, however it ends) and a second one waits for it, or skips at once with one line. After
waiting, if the first one covered the same tables and mailboxes, it skips (TenantSync says so in one
line); otherwise it starts from the delta links the first one left. Either way it repeats none of
the first one's work.

Readers are not affected: this lock only orders syncs. The warehouse's own lock (warehouse.locking)
still lets readers in between a sync's writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from warehouse import WarehouseError
from warehouse.locking import check_folder


class SyncSkipped(Exception):
    """Another sync of the same warehouse is running and this one was asked not to wait."""


def sync_lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".sync.lock")


@contextlib.contextmanager
def one_sync_at_a_time(db_path: Path, *, wait: bool = True, on_wait: Callable[[str], None] | None = None,
                       poll_s: float = 0.2) -> Iterator[bool]:
    """Hold the warehouse's sync lock for the block, which is given whether it had to wait; `on_wait`
    hears once whom it waits for."""
    check_folder(db_path)  # the warehouse's own one-line error for a folder that is not there
    path = sync_lock_path(db_path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise WarehouseError(f"cannot create the sync lock beside warehouse {db_path}: "
                             f"{error.strerror or error}") from None
    try:
        told = waited = False
        while not _try_lock(fd):
            waited = True
            holder = _holder(path)
            if not wait:
                raise SyncSkipped(f"another sync of {db_path} is running ({holder}); skipped")
            if not told and on_wait is not None:
                on_wait(f"waiting for the sync of {db_path} already running ({holder}) to finish")
                told = True
            time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC".encode(), 0)
        yield waited
    finally:
        os.close(fd)  # closing drops the flock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "a process starting"
    except OSError:
        return "another process"
