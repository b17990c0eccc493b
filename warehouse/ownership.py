"""Which DuckDB files graphsync writes into: the ones it made, marked by the one-row table ``_graphsync``.

The marker records the schema version the warehouse is at (see warehouse.migrations), its kind
(``tenant``: synced from a tenant; ``demo``: made by ``graphsync demo``, which may delete it), and who
made it when. Before a writer creates or changes anything, :func:`examine` reads the file's catalog
(no statement that writes, so a refused file stays byte-identical, and no write-ahead log appears):

- marked, at this graphsync's version or an older one: ours (older ones are migrated);
- marked by a newer graphsync: refused (:class:`NewerWarehouse`), its schema is unknown here;
- unmarked but holding graphsync's ``_sync_state``: a warehouse made before the marker existed,
  adopted at version 0 and migrated;
- holding nothing at all: a new warehouse;
- anything else: another program's database, refused (:class:`ForeignFile`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import duckdb

from models.base import TIMESTAMPTZ
from warehouse.errors import ForeignFile, NewerWarehouse, WarehouseError
from warehouse.locking import open_locked

MARKER_TABLE = "_graphsync"
TENANT, DEMO = "tenant", "demo"
KINDS = (TENANT, DEMO)

MARKER_DDL = f"""CREATE TABLE {MARKER_TABLE} (
    schema_version INTEGER NOT NULL, kind VARCHAR NOT NULL, created_at {TIMESTAMPTZ} NOT NULL,
    created_by VARCHAR NOT NULL, adopted BOOLEAN NOT NULL, migrated_at {TIMESTAMPTZ}, migrated_by VARCHAR)"""

# A warehouse made before the marker existed holds this table with (at least) these columns.
_ADOPTABLE_TABLE = "_sync_state"
_ADOPTABLE_COLUMNS = {"stream", "scope", "link", "link_kind", "updated_at"}

# Everything a database can hold besides tables: a file with any of it is not empty.
_OBJECTS = """
    SELECT 'table ' || table_name FROM duckdb_tables() WHERE database_name = current_database() AND NOT internal
    UNION ALL SELECT 'view ' || view_name FROM duckdb_views()
        WHERE database_name = current_database() AND NOT internal
    UNION ALL SELECT 'sequence ' || sequence_name FROM duckdb_sequences() WHERE database_name = current_database()
    UNION ALL SELECT 'macro ' || function_name FROM duckdb_functions()
        WHERE database_name = current_database() AND NOT internal
    UNION ALL SELECT 'type ' || type_name FROM duckdb_types() WHERE database_name = current_database() AND NOT internal
    UNION ALL SELECT 'schema ' || schema_name FROM duckdb_schemas()
        WHERE database_name = current_database() AND NOT internal AND schema_name <> 'main'
    ORDER BY 1"""


@functools.cache
def graphsync_version() -> str:
    try:
        return f"graphsync {metadata.version('graphsync')}"
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "graphsync (not installed)"


@dataclass(frozen=True)
class Marker:
    schema_version: int
    kind: str
    created_at: datetime
    created_by: str
    adopted: bool  # made before the marker existed, and adopted by `created_by` at `created_at`


@dataclass(frozen=True)
class Examined:
    marker: Marker | None  # None: a new warehouse (empty file) or one to adopt
    adopt: bool = False  # unmarked, made by an earlier graphsync: mark it at version 0, then migrate

    @property
    def new(self) -> bool:
        return self.marker is None and not self.adopt


def _columns(connection: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = connection.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = ?", [table]).fetchall()
    return {row[0] for row in rows}


def read_marker(connection: duckdb.DuckDBPyConnection, path: Path) -> Marker | None:
    """The marker of the open warehouse, None when it has none; a marker graphsync cannot read is
    refused like a foreign file (another program's table of that name)."""
    columns = _columns(connection, MARKER_TABLE)
    if not columns:
        return None
    if not {"schema_version", "kind", "created_at", "created_by", "adopted"} <= columns:
        raise _foreign(path, f"its {MARKER_TABLE} table is not graphsync's")
    rows = connection.execute(
        f"SELECT schema_version, kind, created_at, created_by, adopted FROM {MARKER_TABLE}").fetchall()
    if len(rows) != 1 or rows[0][0] is None:
        raise _foreign(path, f"its {MARKER_TABLE} table holds {len(rows)} rows, not graphsync's one")
    version, kind, created_at, created_by, adopted = rows[0]
    return Marker(int(version), str(kind), created_at, str(created_by), bool(adopted))


def examine(connection: duckdb.DuckDBPyConnection, path: Path, known_version: int) -> Examined:
    """What the open file is to a writer (see the module's docstring); reads only."""
    marker = read_marker(connection, path)
    if marker is not None:
        if marker.schema_version > known_version:
            raise NewerWarehouse(
                f"warehouse {path} was made by a newer graphsync (schema version {marker.schema_version}; "
                f"this {graphsync_version()} knows up to {known_version}): upgrade graphsync to write to it")
        return Examined(marker)
    if _columns(connection, _ADOPTABLE_TABLE) >= _ADOPTABLE_COLUMNS:
        return Examined(None, adopt=True)
    objects = [row[0] for row in connection.execute(_OBJECTS).fetchall()]
    if objects:
        shown = ", ".join(objects[:3]) + (f" and {len(objects) - 3} more" if len(objects) > 3 else "")
        raise _foreign(path, f"it is a DuckDB database graphsync did not make (it holds {shown})")
    return Examined(None)


def _foreign(path: Path, reason: str) -> ForeignFile:
    return ForeignFile(f"{path} is not a graphsync warehouse: {reason}; graphsync writes only into its own "
                       "warehouses and left the file as it was (choose another file with --db or GRAPHSYNC_DB)",
                       reason)


def write_marker(connection: duckdb.DuckDBPyConnection, version: int, kind: str, adopted: bool) -> None:
    """Mark the open warehouse as graphsync's (in the caller's transaction)."""
    if kind not in KINDS:
        raise WarehouseError(f"unknown warehouse kind {kind!r}; one of {', '.join(KINDS)}")
    connection.execute(MARKER_DDL)
    connection.execute(f"INSERT INTO {MARKER_TABLE} (schema_version, kind, created_at, created_by, adopted) "
                       "VALUES (?, ?, ?, ?, ?)", [version, kind, datetime.now(UTC), graphsync_version(), adopted])


def record_version(connection: duckdb.DuckDBPyConnection, version: int) -> None:
    """The warehouse is now at ``version`` (in the transaction of the migration that brought it there)."""
    connection.execute(f"UPDATE {MARKER_TABLE} SET schema_version = ?, migrated_at = ?, migrated_by = ?",
                       [version, datetime.now(UTC), graphsync_version()])


def describe(path: Path, timeout_s: float = 60.0) -> Marker | None:
    """The marker of a warehouse file, read with a read-only open (nothing is written), None if it has
    none. Raises :class:`ForeignFile` for a file that is not a DuckDB database."""
    with open_locked(path, write=False, timeout_s=timeout_s) as connection:
        return read_marker(connection, path)
