"""Errors the warehouse raises; their messages are one line, fit for the CLI to print as is."""

from __future__ import annotations


class WarehouseError(Exception):
    """Any warehouse failure the user can act on (missing folder, unreadable file, bad batch)."""


class WarehouseLocked(WarehouseError):
    """Another process kept the warehouse busy for longer than the lock timeout."""


class ForeignFile(WarehouseError):
    """The file is not a warehouse graphsync made (another program's DuckDB database, or no DuckDB
    database at all); graphsync refused it before writing anything, so it is as it was.

    ``reason`` is the why alone ("it is a SQLite database"), for callers that phrase their own line.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class NewerWarehouse(WarehouseError):
    """The warehouse was made (or migrated) by a newer graphsync, whose schema this one does not know."""
