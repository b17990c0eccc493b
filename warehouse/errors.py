"""Errors the warehouse raises; their messages are one line, fit for the CLI to print as is."""

from __future__ import annotations


class WarehouseError(Exception):
    """Any warehouse failure the user can act on (missing folder, unreadable file, bad batch)."""


class WarehouseLocked(WarehouseError):
    """Another process kept the warehouse busy for longer than the lock timeout."""
