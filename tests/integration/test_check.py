"""`graphsync check`: one cheap read per table, each table's state, exit 0 only if all are readable."""

from __future__ import annotations

import json
from pathlib import Path

from connectors.simulator.server import Simulator
from pipelines.sync.tenant import DEFAULT_TABLES
from tests.integration.helpers import assert_exact
from tests.integration.test_cli import _env, _run
from warehouse import Warehouse


def test_every_table_is_readable_with_every_permission(sim: Simulator, tmp_path: Path) -> None:
    run = _run(["check", "--json"], _env(sim, tmp_path / "wh.duckdb"), tmp_path)
    assert run.returncode == 0, run.stderr
    states = {r["table"]: r["state"] for r in json.loads(run.stdout)}
    assert states == dict.fromkeys(DEFAULT_TABLES, "readable")
    assert not (tmp_path / "wh.duckdb").exists(), "check reads Graph only"


def test_refused_tables_are_named_with_the_permission_to_grant(sim: Simulator, tmp_path: Path) -> None:
    # Graph refuses the user's chats and drive, as it does without Chat.ReadBasic.All and Files.Read.All.
    sim.control("set_faults", rules=[{"status": 403, "path": r"^/users/[^/]+/(chats|drive)$"}])
    env = _env(sim, tmp_path / "wh.duckdb")
    run = _run(["check"], env, tmp_path)
    assert run.returncode == 1
    lines = {line.split()[0]: line for line in run.stdout.splitlines()[1:]}
    assert "missing Chat.ReadBasic.All" in lines["chats"] and "missing Files.Read.All" in lines["drives"]
    assert "not reachable" in lines["chat_messages"] and "not reachable" in lines["drive_items"]
    assert "readable" in lines["messages"] and "readable" in lines["channel_messages"]
    error = run.stderr.strip()
    assert error.count("\n") == 0 and "chats: missing Chat.ReadBasic.All" in error
    only = _run(["check", "--only", "messages,events", "--json"], env, tmp_path)
    assert only.returncode == 0 and [r["table"] for r in json.loads(only.stdout)] == ["messages", "events"]


def test_withheld_permissions_are_named(sim: Simulator, tmp_path: Path) -> None:
    # The app was granted neither Chat.Read.All nor Files.Read.All, nor anything above them.
    sim.control("set_denied", permissions=["Chat.Read.All", "Chat.ReadWrite.All", "Files.Read.All",
                                           "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All"])
    run = _run(["check", "--json"], _env(sim, tmp_path / "wh.duckdb"), tmp_path)
    assert run.returncode == 1
    states = {r["table"]: r["state"] for r in json.loads(run.stdout)}
    assert states["chat_messages"] == "missing Chat.Read.All"
    assert states["drives"] == "missing Files.Read.All" and states["drive_items"] == "not reachable"
    assert {t for t, s in states.items() if s == "readable"} == set(DEFAULT_TABLES) - {"chat_messages", "drives",
                                                                                   "drive_items"}


def test_a_sync_without_some_permissions_stores_the_rest_and_names_what_to_grant(sim: Simulator,
                                                                                  tmp_path: Path) -> None:
    sim.control("set_denied", permissions=["Chat.Read.All", "Chat.ReadWrite.All", "Files.Read.All",
                                           "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All"])
    db = tmp_path / "wh.duckdb"
    run = _run(["sync", "--quiet"], _env(sim, db), tmp_path)
    assert run.returncode == 1
    error = run.stderr.strip()
    assert error.count("\n") == 0, error
    assert "drives (missing Files.Read.All) in 3 mailboxes" in error, error
    assert "chat_messages (missing Chat.Read.All)" in error, error
    assert_exact(sim, db)  # users, mail folders and messages
    stored = Warehouse(db).query_rows("SELECT count(*) FROM events WHERE _deleted_at IS NULL")[0][0]
    assert stored > 0
    failed = Warehouse(db).query_rows("SELECT error FROM _sync_runs")[0][0]
    assert "chat_messages: missing Chat.Read.All" in failed and "drives: missing Files.Read.All" in failed
