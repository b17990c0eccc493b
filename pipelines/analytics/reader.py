"""One read-only session on the warehouse for analytics, under the shared lock like every reader."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import duckdb

from warehouse import WarehouseError, WarehouseLocked
from warehouse.locking import open_locked
from warehouse.ownership import read_marker
from warehouse.views import create_temp_views, missing_views


@contextmanager
def analytics_session(path: Path, lock_timeout_s: float,
                      need_views: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection whose session speaks UTC, with the analytics views present, that can
    reach nothing but the warehouse.

    Waits for a sync's lock up to ``lock_timeout_s`` (then WarehouseLocked, one line). The session's
    TimeZone is UTC, so TIMESTAMPTZ columns print as UTC whatever the machine's zone. A warehouse last
    written by a graphsync without the views gets them as TEMP views for this session (the next sync
    stores them); ``need_views`` makes it an error when even that is impossible.

    Errors are raised outside the handlers that caught their causes: the CLI prints the first error
    of a chain (see pipelines.cli.one_line), which for a lock that stayed taken is the last try's
    "Resource temporarily unavailable" rather than the message saying who holds the warehouse.
    """
    with ExitStack() as stack:
        locked = None
        try:
            connection = stack.enter_context(open_locked(path, write=False, timeout_s=lock_timeout_s))
        except WarehouseLocked as error:
            locked = str(error)
        if locked is not None:
            raise WarehouseLocked(locked)
        connection.execute("SET TimeZone = 'UTC'")
        missing, failed = missing_views(connection), None
        if missing and read_marker(connection, path) is not None:
            try:
                create_temp_views(connection)
                missing = []
            except duckdb.Error as error:
                failed = " ".join(str(error).split())
        if missing and need_views:
            raise WarehouseError(f"the analytics views cannot be made on warehouse {path} ({failed}); run "
                                 "`graphsync sync` to bring it up to date" if failed else
                                 f"warehouse {path} has no analytics views ({', '.join(missing[:3])}...); "
                                 "is it a graphsync warehouse? run `graphsync sync` first")
        # Only the warehouse is readable from here on: no files (COPY ... TO, read_csv), no ATTACH of
        # another database to write into, no extension downloads. DuckDB refuses to turn it back on.
        connection.execute("SET enable_external_access = false")
        yield connection
