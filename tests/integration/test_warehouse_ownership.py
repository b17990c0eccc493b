"""As a user meets it: `graphsync sync` and `graphsync demo` never write into a file graphsync did not
make, and say so in one line; a warehouse made by an earlier graphsync is adopted and migrated."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from connectors.simulator.server import Simulator
from tests.integration.helpers import assert_exact
from tests.unit.test_warehouse_migrations import make_v0_warehouse
from tests.unit.test_warehouse_ownership import another_programs_database, v0_statements
from warehouse import Warehouse
from warehouse.migrations import SCHEMA_VERSION
from warehouse.ownership import DEMO, MARKER_TABLE, describe

GRAPHSYNC = [sys.executable, "-m", "pipelines.cli"]


def _env(sim: Simulator | None, db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPH_", "GRAPHSYNC_"))}
    if sim is not None:
        env.update(sim.endpoints.env())
    env["GRAPHSYNC_DB"] = str(db)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(GRAPHSYNC + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def _one_line_error(run: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert run.returncode == 1, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("graphsync: error: "), run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]


def _fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.endswith(".lock")}


def _foreign_files(folder: Path) -> dict[str, str]:
    """Files graphsync must refuse, by name: what the refusal says of each."""
    another_programs_database(folder / "app.duckdb", leave_log=True)
    (folder / "notes.duckdb").write_text("not a database\n" * 40)
    return {"app.duckdb": "graphsync did not make (it holds table users)", "notes.duckdb": "not a DuckDB database"}


def test_sync_refuses_a_file_it_did_not_make_and_leaves_it_byte_identical(sim: Simulator, tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    for name, why in _foreign_files(files).items():
        before = _fingerprint(files)
        run = _run(["sync", "--quiet"], _env(sim, files / name), tmp_path)
        _one_line_error(run, str(files / name), why)
        assert _fingerprint(files) == before, name


@pytest.mark.parametrize("existing", ["tenant", "foreign", "text", "unmarked"])
def test_demo_refuses_to_replace_what_is_not_a_demo_warehouse(tmp_path: Path, existing: str) -> None:
    db = tmp_path / "files" / "wh.duckdb"
    db.parent.mkdir()
    if existing == "tenant":
        Warehouse(db).ensure_schema()
    elif existing == "foreign":
        another_programs_database(db)
    elif existing == "text":
        db.write_text("my notes\n")
    else:
        make_v0_warehouse(db)
    before = _fingerprint(db.parent)
    run = _run(["demo", "--db", str(db)], _env(None, db), tmp_path)
    _one_line_error(run, str(db), "not a demo warehouse", "left as it was")
    assert _fingerprint(db.parent) == before


def test_demo_replaces_a_demo_warehouse(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    Warehouse(db, kind=DEMO).ensure_schema()
    with duckdb.connect(str(db)) as connection:
        connection.execute("CREATE TABLE left_from_before (x INTEGER)")
    run = _run(["demo", "--db", str(db)], _env(None, db), tmp_path)
    assert run.returncode == 0, run.stderr
    marker = describe(db)
    assert marker is not None and marker.kind == DEMO
    tables = {row[0] for row in Warehouse(db).query_rows("SELECT table_name FROM duckdb_tables()")}
    assert "messages" in tables and "left_from_before" not in tables


def _as_made_before_the_marker(db: Path) -> None:
    """Turn a warehouse back into what graphsync made before this version (schema version 0): the
    columns that were naive TIMESTAMPs then hold the same UTC values naive again, and no marker."""
    with duckdb.connect() as ddl:
        for statement in v0_statements():
            ddl.execute(statement)
        naive = ddl.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE data_type = 'TIMESTAMP'").fetchall()
    with duckdb.connect(str(db)) as connection:
        for table, column in naive:
            connection.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET DATA TYPE TIMESTAMP '
                               f"USING timezone('UTC', \"{column}\")")
        connection.execute(f"DROP TABLE {MARKER_TABLE}")
        connection.execute("CHECKPOINT")


def test_a_warehouse_of_an_earlier_graphsync_is_adopted_migrated_and_synced(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    assert _run(["sync", "--quiet"], _env(sim, db), tmp_path).returncode == 0
    synced = "SELECT user_id, id, _synced_at, _deleted_at FROM messages ORDER BY ALL"
    before = Warehouse(db).query_rows(synced)
    _as_made_before_the_marker(db)
    assert describe(db) is None

    run = _run(["sync", "--quiet"], _env(sim, db), tmp_path)

    assert run.returncode == 0, run.stderr
    marker = describe(db)
    assert marker is not None and (marker.schema_version, marker.adopted) == (SCHEMA_VERSION, True)
    assert Warehouse(db).query_rows(synced) == before  # unchanged rows keep their instants
    assert_exact(sim, db)


def _duckdb_cli() -> str | None:
    """The DuckDB CLI the `duckdb-cli` package installs, if it is installed."""
    try:
        import duckdb_cli  # type: ignore[import-not-found]
    except ImportError:
        return shutil.which("duckdb")
    binary = Path(duckdb_cli.__file__).with_name("duckdb")
    return str(binary) if binary.exists() else shutil.which("duckdb")


def test_the_duckdb_cli_of_our_duckdb_line_reads_a_synced_warehouse(sim: Simulator, tmp_path: Path) -> None:
    cli = _duckdb_cli()
    if cli is None:
        pytest.skip("no DuckDB CLI installed (pip install 'duckdb-cli>=1.5,<1.6')")
    version = subprocess.run([cli, "--version"], capture_output=True, text=True, check=True).stdout
    if not version.startswith(f"v{'.'.join(duckdb.__version__.split('.')[:2])}."):
        pytest.skip(f"the DuckDB CLI is {version.strip()}, graphsync's DuckDB is {duckdb.__version__}")
    db = tmp_path / "wh.duckdb"
    assert _run(["sync", "--quiet"], _env(sim, db), tmp_path).returncode == 0
    query = ("SET TimeZone = 'America/Los_Angeles'; "
             "SELECT count(*), count(*) FILTER (WHERE _synced_at > now() - INTERVAL 1 HOUR) FROM messages")
    out = subprocess.run([cli, "-readonly", "-csv", "-noheader", str(db), "-c", query], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    total = Warehouse(db).query_rows("SELECT count(*) FROM messages")[0][0]
    assert out.stdout.split() == [f"{total},{total}"]
