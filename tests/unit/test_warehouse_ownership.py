"""graphsync writes only into warehouses it made: a marker, adoption of older ones, and refusals that
leave the file byte-identical."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from warehouse import PageBatch, StreamState, Warehouse, WarehouseError
from warehouse.errors import ForeignFile, NewerWarehouse
from warehouse.migrations import SCHEMA_VERSION
from warehouse.ownership import DEMO, MARKER_TABLE, TENANT, describe

V0_DDL = Path(__file__).parent / "data" / "warehouse_v0.sql"
NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file of the folder but graphsync's lock files, with the sha256 of its bytes."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())
            if not path.name.endswith(".lock")}


def users_batch() -> PageBatch:
    return PageBatch("users", {}, [{"id": "u1", "displayName": "Adele"}], set(), [], None,
                     StreamState("users", "", "https://delta", "delta", None, NOW))


# Every way a writer may first touch a file; each must examine it before writing anything.
WRITES: dict[str, Callable[[Warehouse], object]] = {
    "ensure_schema": lambda wh: wh.ensure_schema(),
    "apply": lambda wh: wh.apply([users_batch()], NOW),
    "start_run": lambda wh: wh.start_run("sync", ["users"], NOW),
    "load_states": lambda wh: wh.load_states("users"),
    "drop_states": lambda wh: wh.drop_states(),
    "read_seq": lambda wh: wh.read_seq(),
}


def another_programs_database(path: Path, leave_log: bool = False) -> None:
    """A DuckDB file of some other application, with its own `users` table; with `leave_log`, the
    process dies before folding its write-ahead log, which stays beside the file."""
    script = ("import duckdb, os, sys\n"
              "c = duckdb.connect(sys.argv[1])\n"
              "c.execute('CREATE TABLE users (id INTEGER, email VARCHAR)')\n"
              "c.execute(\"INSERT INTO users VALUES (1, 'a@example.com')\")\n"
              "c.execute('CHECKPOINT')\n"
              "if sys.argv[2] == '1':\n"
              "    c.execute('PRAGMA disable_checkpoint_on_shutdown')\n"
              "    c.execute(\"INSERT INTO users VALUES (2, 'b@example.com')\")\n"
              "    os._exit(0)\n"
              "c.close()\n")
    subprocess.run([sys.executable, "-c", script, str(path), "1" if leave_log else "0"], check=True)


def assert_one_line(error: BaseException, path: Path, *needles: str) -> None:
    message = str(error)
    assert "\n" not in message and str(path) in message, message
    for needle in needles:
        assert needle in message, message


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("leave_log", [False, True])
def test_another_programs_duckdb_file_is_refused_and_left_byte_identical(tmp_path: Path, write: str,
                                                                         leave_log: bool) -> None:
    db = tmp_path / "app.duckdb"
    another_programs_database(db, leave_log)
    assert db.with_name("app.duckdb.wal").exists() == leave_log
    before = fingerprint(tmp_path)

    with pytest.raises(ForeignFile) as error:
        WRITES[write](Warehouse(db, lock_timeout_s=5))

    assert_one_line(error.value, db, "did not make", "table users", "left the file as it was")
    assert fingerprint(tmp_path) == before  # the file, its log, and no new file beside them
    assert duckdb.connect(str(db), read_only=True).execute("SELECT count(*) FROM users").fetchall() == [
        (2 if leave_log else 1,)]


def test_a_held_open_foreign_file_is_not_checkpointed_on_release(tmp_path: Path) -> None:
    db = tmp_path / "app.duckdb"
    another_programs_database(db, leave_log=True)
    before = fingerprint(tmp_path)
    wh = Warehouse(db, lock_timeout_s=5)
    wh.hold_open()
    with pytest.raises(ForeignFile):
        wh.ensure_schema()
    wh.release(checkpoint=True)  # what a sync does when it ends
    assert fingerprint(tmp_path) == before


@pytest.mark.parametrize(("content", "reason"), [
    (b"name,email\nadele,a@example.com\n" * 20, "it is not a DuckDB database"),
    (bytes(range(256)) * 4, "it is not a DuckDB database"),
    (None, "it is a SQLite database"),
])
def test_a_file_that_is_no_duckdb_database_is_refused_for_writes_and_reads(tmp_path: Path, content: bytes | None,
                                                                            reason: str) -> None:
    db = tmp_path / "notes.duckdb"
    if content is None:
        with sqlite3.connect(db) as connection:
            connection.execute("CREATE TABLE t (x)")
    else:
        db.write_bytes(content)
    before = fingerprint(tmp_path)
    for call in (lambda wh: wh.ensure_schema(), lambda wh: wh.query_rows("SELECT 1")):
        with pytest.raises(ForeignFile) as error:
            call(Warehouse(db, lock_timeout_s=5))
        assert_one_line(error.value, db, reason)
        assert error.value.reason == reason
    assert fingerprint(tmp_path) == before


def test_a_new_warehouse_is_marked_with_its_version_and_kind(tmp_path: Path) -> None:
    Warehouse(tmp_path / "t.duckdb").ensure_schema()
    Warehouse(tmp_path / "d.duckdb", kind=DEMO).apply([users_batch()], NOW)
    tenant, demo = describe(tmp_path / "t.duckdb"), describe(tmp_path / "d.duckdb")
    assert tenant is not None and demo is not None
    assert (tenant.schema_version, tenant.kind, tenant.adopted) == (SCHEMA_VERSION, TENANT, False)
    assert tenant.created_by.startswith("graphsync") and tenant.created_at.tzinfo is not None
    assert demo.kind == DEMO
    # Opening again keeps the marker as it was: one row, the first kind.
    Warehouse(tmp_path / "d.duckdb").ensure_schema()
    assert describe(tmp_path / "d.duckdb") == demo


def test_an_empty_file_and_an_empty_duckdb_database_become_warehouses(tmp_path: Path) -> None:
    empty_file, empty_database = tmp_path / "empty.duckdb", tmp_path / "blank.duckdb"
    empty_file.touch()
    duckdb.connect(str(empty_database)).close()
    for db in (empty_file, empty_database):
        Warehouse(db).apply([users_batch()], NOW)
        assert Warehouse(db).query_rows("SELECT display_name FROM users") == [("Adele",)]
        marker = describe(db)
        assert marker is not None and not marker.adopted


def test_reading_an_empty_file_says_so(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    db.touch()
    with pytest.raises(WarehouseError, match="is empty"):
        Warehouse(db).query_rows("SELECT 1")
    assert db.stat().st_size == 0


def v0_statements() -> list[str]:
    """The DDL of a warehouse made by graphsync before the marker and TIMESTAMPTZ (schema version 0)."""
    text = "\n".join(line for line in V0_DDL.read_text().splitlines() if not line.startswith("--"))
    return [statement for statement in text.split(";\n") if statement.strip()]


def test_a_warehouse_made_before_the_marker_is_adopted(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as connection:
        for statement in v0_statements():
            connection.execute(statement)
    Warehouse(db).ensure_schema()
    marker = describe(db)
    assert marker is not None
    assert (marker.schema_version, marker.kind, marker.adopted) == (SCHEMA_VERSION, TENANT, True)


def test_a_warehouse_of_a_newer_graphsync_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "next.duckdb"
    Warehouse(db).ensure_schema()
    with duckdb.connect(str(db)) as connection:
        connection.execute(f"UPDATE {MARKER_TABLE} SET schema_version = {SCHEMA_VERSION + 1}")
    before = fingerprint(tmp_path)
    with pytest.raises(NewerWarehouse) as error:
        Warehouse(db).apply([users_batch()], NOW)
    assert_one_line(error.value, db, "newer graphsync", f"schema version {SCHEMA_VERSION + 1}")
    assert fingerprint(tmp_path) == before
    assert Warehouse(db).query_rows("SELECT count(*) FROM users") == [(0,)]  # reading it is fine


@pytest.mark.parametrize("marker_sql", [
    f"CREATE TABLE {MARKER_TABLE} (note VARCHAR)",
    f"CREATE TABLE {MARKER_TABLE} (schema_version INTEGER, kind VARCHAR, created_at TIMESTAMPTZ, "
    "created_by VARCHAR, adopted BOOLEAN)",
])
def test_a_marker_table_that_is_not_graphsyncs_is_refused(tmp_path: Path, marker_sql: str) -> None:
    db = tmp_path / "odd.duckdb"
    with duckdb.connect(str(db)) as connection:
        connection.execute(marker_sql)
    before = fingerprint(tmp_path)
    with pytest.raises(ForeignFile) as error:
        Warehouse(db).ensure_schema()
    assert_one_line(error.value, db, MARKER_TABLE)
    assert fingerprint(tmp_path) == before


def test_a_file_of_a_newer_duckdb_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What DuckDB 1.5 says of a file DuckDB 2.0 wrote (a real 2.0 file needs DuckDB 2.0 to make).
    said = ("IO Error: Trying to read a database file with version number 69, but we can only read versions "
            "between 64 and 68.\nThe database file was created with a newer version of DuckDB.\n\nNewer DuckDB...")

    def refuse(db_path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
        raise duckdb.IOException(said)

    db = tmp_path / "future.duckdb"
    Warehouse(db).ensure_schema()
    monkeypatch.setattr("warehouse.locking._connect", refuse)
    for call in (lambda wh: wh.ensure_schema(), lambda wh: wh.query_rows("SELECT 1")):
        with pytest.raises(WarehouseError) as error:
            call(Warehouse(db))
        assert_one_line(error.value, db, "written by a newer DuckDB than graphsync's", "version number 69")
