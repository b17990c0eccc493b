"""The analytics views (warehouse.views) return the right numbers.

Twice over: on a small tenant made by hand (tests/integration/analytics_tenant.py), whose numbers are
worked out by hand below AND recomputed by the plain-Python definitions of
tests/integration/analytics_expected.py; and on a real synced warehouse (the simulator over HTTPS,
with a conversation, a meeting, a file and Teams posts added through its control API), against those
same Python definitions applied to the synced tables. Views are read in a session whose time zone is
UTC+14, so any day or week not taken in UTC shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.simulator.server import Simulator
from tests.integration import analytics_expected as ref
from tests.integration.analytics_tenant import A, B, C, add_to_simulator, build_warehouse
from tests.integration.helpers import run_sync
from warehouse import Warehouse
from warehouse.views import VIEW_NAMES

FAR_EAST = "Pacific/Kiritimati"  # UTC+14: a UTC day and this zone's day differ for most of the day
TABLES = ("users", "messages", "events", "calendars", "drives", "drive_items", "chats", "chat_messages", "teams",
          "channels", "channel_messages")


@pytest.fixture
def hand_made(tmp_path: Path) -> Path:
    return build_warehouse(tmp_path / "hand.duckdb")


@pytest.fixture
def far_east() -> Iterator[Any]:
    def connect(db: Path) -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect(str(db), read_only=True)
        connection.execute(f"SET TimeZone = '{FAR_EAST}'")
        return connection
    yield connect


def _round(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


def view_rows(connection: duckdb.DuckDBPyConnection, view: str) -> dict[tuple, tuple]:
    keys, values = ref.COLUMNS[view]
    rows = connection.execute(f"SELECT {', '.join(keys + values)} FROM {view}").fetchall()
    found = {tuple(r[:len(keys)]): tuple(_round(v) for v in r[len(keys):]) for r in rows}
    assert len(found) == len(rows), f"{view}: a key appears twice"
    return found


def tables_of(connection: duckdb.DuckDBPyConnection) -> ref.Tables:
    out = {}
    for table in TABLES:
        cursor = connection.execute(f"SELECT * FROM {table}")
        columns = [d[0] for d in cursor.description]
        out[table] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return out


def assert_views_match_python(connection: duckdb.DuckDBPyConnection) -> dict[str, dict[tuple, tuple]]:
    """Every view equals its plain-Python definition over the same tables; returns the views' rows."""
    now = connection.execute("SELECT current_timestamp").fetchone()[0]
    expected = ref.expected(tables_of(connection), now)
    assert set(expected) == set(VIEW_NAMES), "every view has its Python definition"
    actual = {view: view_rows(connection, view) for view in VIEW_NAMES}
    for view in VIEW_NAMES:
        missing = {k: v for k, v in expected[view].items() if actual[view].get(k) != v}
        extra = {k: v for k, v in actual[view].items() if k not in expected[view]}
        got = [actual[view].get(k) for k in missing]
        assert not missing and not extra, f"{view}: expected {missing}, got {got}; unexpected {extra}"
    return actual


def test_views_are_in_the_warehouse_file(hand_made: Path) -> None:
    with duckdb.connect(str(hand_made), read_only=True) as connection:
        found = {row[0]: row[1] for row in connection.execute(
            "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert set(VIEW_NAMES) <= set(found)
    assert all(found[name] for name in VIEW_NAMES), "each view carries its description as its comment"


def test_hand_made_tenant_by_hand(hand_made: Path, far_east: Any) -> None:
    """The numbers worked out by hand from analytics_tenant.py (its comments say why each is so)."""
    d = date.fromisoformat
    with far_east(hand_made) as connection:
        views = {view: view_rows(connection, view) for view in VIEW_NAMES}
        now = connection.execute("SELECT current_timestamp").fetchone()[0]
    assert views["mail_volume_daily"] == {
        (A, "ada@x.com", d("2026-03-02")): (3, 1, 2), (A, "ada@x.com", d("2026-03-03")): (2, 2, 0),
        (A, "ada@x.com", d("2026-03-04")): (1, 0, 1), (A, "ada@x.com", d("2026-03-07")): (1, 0, 1),
        (B, "bo@x.com", d("2026-03-02")): (1, 0, 1), (B, "bo@x.com", d("2026-03-04")): (3, 1, 2),
        (B, "bo@x.com", d("2026-03-08")): (1, 1, 0)}
    assert views["mail_top_senders"] == {("carl@ext.com",): (3, 2), ("ada@x.com",): (3, 1), ("dana@ext.com",): (3, 2),
                                         ("bo@x.com",): (2, 1)}
    assert views["mail_top_recipients"] == {("ada@x.com",): (5, 5, 0, 0), ("carl@ext.com",): (3, 2, 1, 0),
                                            ("bo@x.com",): (4, 2, 1, 1), ("dana@ext.com",): (2, 2, 0, 0),
                                            ("eve@ext.com",): (1, 1, 0, 0)}
    assert views["mail_after_hours"] == {(A, "m4"): ("received", "weekend"), (A, "m5"): ("sent", "after 18:00"),
                                         (A, "m6"): ("sent", "before 08:00"), (A, "m9"): ("received", "after 18:00"),
                                         (B, "b2"): ("sent", "weekend")}
    assert views["mail_reply_latency"] == {
        (A, "c1"): ("m1", "m2", 92.0), (A, "c2"): ("m4", None, None), (A, "c3"): ("m5", None, None),
        (A, "c4"): ("m6", None, None), (A, "c5"): ("m9", None, None), (B, "c1"): ("b1", None, None),
        (B, "c6"): ("b2", None, None), (B, "c7"): ("b3", "b5", 45.0)}
    assert views["meeting_hours_weekly"] == {(A, d("2026-03-02")): (5, 1, 18.0), (B, d("2026-03-16")): (1, 0, 0.5)}
    weeks = [d("2026-03-02"), d("2026-03-09"), d("2026-03-16")]
    busy = {(A, weeks[0]): 15.0, (A, weeks[1]): 1.5, (B, weeks[2]): 0.5}
    assert views["calendar_free_busy_weekly"] == {
        (p, w): (busy.get((p, w), 0.0), 50 - busy.get((p, w), 0.0)) for p in (A, B, C) for w in weeks}
    assert views["drive_largest_folders"] == {
        ("d1", "root"): ("/", 5, 6600), ("d1", "docs"): ("/Docs", 2, 6000),
        ("d1", "reports"): ("/Docs/Reports", 1, 5000),
        ("d1", "photos"): ("/Photos", 2, 500), ("d1", "empty"): ("/Empty", 0, 0), ("d2", "root2"): ("/", 1, 50)}
    assert views["drive_stale_files"] == {("d1", "b"): ("/Docs/b.pdf", 100), ("d1", "c"): ("/Docs/Reports/c.xlsx", 200),
                                          ("d1", "e"): ("/Photos/e.jpg", 95)}
    assert views["chat_activity_daily"] == {("ch1", d("2026-03-02")): ("Launch", 3, 2),
                                            ("ch1", d("2026-03-03")): ("Launch", 1, 1),
                                            ("ch2", d("2026-03-03")): (None, 1, 1)}
    assert views["channel_activity_daily"] == {("t1", "g1", d("2026-03-02")): ("Eng", "General", 3, 1, 2, 2),
                                               ("t1", "g2", d("2026-03-02")): ("Eng", "Random", 1, 1, 0, 1)}
    assert now.tzinfo is not None


def test_hand_made_tenant_equals_python_definitions(hand_made: Path, far_east: Any) -> None:
    """The Python definitions agree with the hand-worked numbers too (so they can judge the synced tenant)."""
    with far_east(hand_made) as connection:
        assert_views_match_python(connection)


def test_times_and_flags_of_the_views(hand_made: Path, far_east: Any) -> None:
    with far_east(hand_made) as connection:
        sent, reason = connection.execute("SELECT sent_utc, reason FROM mail_after_hours WHERE message_id = 'm9'"
                                          ).fetchone()
        answered = connection.execute("SELECT user_id, answered_by_mailbox FROM mail_reply_latency "
                                      "WHERE reply_id IS NOT NULL ORDER BY user_id").fetchall()
        share = connection.execute("SELECT busy_share FROM calendar_free_busy_weekly WHERE user_id = ? AND week = ?",
                                   [A, date(2026, 3, 2)]).fetchone()[0]
    assert (sent, reason) == (datetime(2026, 3, 3, 23, 59), "after 18:00")  # UTC wall time, whatever the session
    assert answered == [(A, True), (B, True)]
    assert share == pytest.approx(0.3)


def test_views_follow_the_tables_and_are_replaced_by_a_newer_writer(hand_made: Path) -> None:
    with duckdb.connect(str(hand_made)) as connection:  # an older graphsync's definition, and a tombstone
        connection.execute("CREATE OR REPLACE VIEW mail_top_senders AS SELECT 1 AS stale_definition")
        connection.execute("UPDATE messages SET _deleted_at = current_timestamp WHERE id IN ('m3', 'm9')")
    Warehouse(hand_made).ensure_schema()
    with duckdb.connect(str(hand_made), read_only=True) as connection:
        assert view_rows(connection, "mail_top_senders")[("carl@ext.com",)] == (1, 2)


def test_views_on_a_synced_simulator_tenant(sim: Simulator, tmp_path: Path, far_east: Any) -> None:
    added = add_to_simulator(sim)
    ada, bo = added["ada"], added["bo"]
    db = tmp_path / "synced.duckdb"
    report = run_sync(sim, db)
    assert not report.failed
    with far_east(db) as connection:
        views = assert_views_match_python(connection)
        latency = connection.execute("SELECT latency_minutes, answered_by_mailbox, original_sender FROM "
                                     "mail_reply_latency WHERE conversation_id = 'conv-analytics'").fetchall()
        late = connection.execute("SELECT direction, reason, sent_utc FROM mail_after_hours m JOIN messages USING "
                                  "(user_id) WHERE m.message_id = messages.id AND messages.subject = 'conv-late'"
                                  ).fetchall()
    empty = [view for view in VIEW_NAMES if not views[view]]
    assert not empty, f"the simulated tenant should give every view rows: {empty}"
    assert latency == [(42.0, True, added["address"][bo].lower())]
    assert late == [("received", "after 18:00", datetime(2026, 2, 3, 19, 30))]
    assert views["meeting_hours_weekly"][(ada, added["meeting_week"])][2] >= 1.5
