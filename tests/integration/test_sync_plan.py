"""The plan's guarantees across tables: retirements, `--full` per user, and sweeps that ignore clocks."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from connectors.simulator.server import Simulator
from pipelines.sync import engine, writer
from tests.integration.helpers import assert_exact, run_sync
from warehouse import Warehouse

MAILBOX_TABLES = {"mail_folders": "user_id", "messages": "user_id", "events": "user_id",
                  "drives": "owner_user_id", "chats": "user_id"}


def live_rows_of(db: Path, user: str) -> dict[str, int]:
    wh = Warehouse(db)
    counts = {table: wh.query_rows(f"SELECT count(*) FROM {table} WHERE {column} = ? AND _deleted_at IS NULL",
                                   [user])[0][0] for table, column in MAILBOX_TABLES.items()}
    counts["drive_items"] = wh.query_rows(
        "SELECT count(*) FROM drive_items i JOIN drives d ON d.id = i.drive_id "
        "WHERE d.owner_user_id = ? AND i._deleted_at IS NULL", [user])[0][0]
    return counts


def test_a_deleted_user_retires_their_mailbox_calendar_drive_and_chats(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    run_sync(sim, db)
    user = sim.control("user_ids")[0]
    assert all(live_rows_of(db, user).values()), live_rows_of(db, user)
    sim.control("delete_user", user=user)
    run_sync(sim, db)
    assert live_rows_of(db, user) == dict.fromkeys([*MAILBOX_TABLES, "drive_items"], 0)
    assert_exact(sim, db)
    states = Warehouse(db).query_rows("SELECT stream, scope FROM _sync_state WHERE link IS NOT NULL "
                                      "AND starts_with(scope, ?)", [user])
    assert states == [], "a retired mailbox keeps no delta link to resume from"


def test_full_resync_of_one_user_keeps_the_other_mailboxes_states(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    run_sync(sim, db)
    users = sim.control("user_ids")
    query = "SELECT stream, scope, link FROM _sync_state WHERE stream IN ('messages', 'mail_folders', 'events')"
    before = set(Warehouse(db).query_rows(query))
    mark = sim.control("journal_mark")
    run_sync(sim, db, full=True, users=(users[0],))
    after = set(Warehouse(db).query_rows(query))
    others = {row for row in before if not row[1].startswith(users[0])}
    assert others and others <= after, "other mailboxes' delta links are kept"
    assert not {row for row in before if row[1].startswith(users[0])} & after, "the user's own links are new"
    first_calls = {c["path"].split("/")[2] for c in sim.control("journal", since=mark)
                   if c["path"].startswith("/users/") and c["path"].endswith("/delta") and "token" not in c["query"]}
    assert first_calls == {users[0]}
    assert_exact(sim, db)


def test_a_clock_stepped_back_between_an_interrupted_round_and_its_resume_loses_nothing(
        sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "wh.duckdb"
    run_sync(sim, db, tables=("users",))
    user = sim.control("user_ids")[0]
    small = {"tables": ("mail_folders", "messages"), "users": (user,), "page_size": 2, "hand_off_items": 2,
             "flush_items": 1}
    # The 5th message page and every one after fail until the retries give up: the sync stops mid-round.
    sim.control("set_faults", rules=[{"status": 503, "path": "/messages/delta", "after": 4, "retry_after": 0.25}])
    with pytest.raises(Exception, match="503|unavailable|Service"):
        run_sync(sim, db, **small)
    mid_round = Warehouse(db).query_rows(
        "SELECT count(*) FROM _sync_state WHERE stream = 'messages' AND link_kind = 'next' AND round_seq IS NOT NULL")
    assert mid_round[0][0] >= 1, "the interrupted round stored where to resume"
    sim.control("set_faults", rules=[])

    class TwoHoursBack(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return datetime.now(tz) - timedelta(hours=2)

    monkeypatch.setattr(engine, "datetime", TwoHoursBack)
    monkeypatch.setattr(writer, "datetime", TwoHoursBack)
    run_sync(sim, db, **small)
    live = Warehouse(db).query_rows("SELECT id FROM messages WHERE user_id = ? AND _deleted_at IS NULL", [user])
    assert {row[0] for row in live} == set(sim.control("mailbox_state", user=user)["messages"])


def test_mailboxes_are_synced_from_the_stored_users_when_users_cannot_be_read(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    run_sync(sim, db, tables=("users",))
    user = sim.control("user_ids")[0]
    sim.control("create_message", user=user, folder="inbox", fields={"subject": "still synced"})
    sim.control("set_faults", rules=[{"status": 403, "path": "^/users/delta$"}])
    report = run_sync(sim, db, tables=("users", "mail_folders", "messages"))
    assert list(report.failed) == ["users"] and "403" in report.failed["users"]
    assert len(report.mailboxes) == len(sim.control("user_ids"))
    assert_exact(sim, db)
