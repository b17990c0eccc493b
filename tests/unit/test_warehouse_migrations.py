"""Every instant is a UTC TIMESTAMPTZ, read right from any time zone; older warehouses are migrated in place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pytest

import warehouse.migrations
import warehouse.schema
from tests.unit.test_warehouse_ownership import v0_statements
from warehouse import PageBatch, StreamState, Warehouse, WarehouseError
from warehouse.migrations import SCHEMA_VERSION
from warehouse.ownership import describe

LOS_ANGELES = "America/Los_Angeles"
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
PARIS_EVENT = {"id": "e2", "subject": "Paris", "start": {"dateTime": "2024-05-01T10:00:00.0000000",
                                                         "timeZone": "Europe/Paris"},
               "end": {"dateTime": "2024-05-01T11:00:00.0000000", "timeZone": "Europe/Paris"}}
UTC_EVENT = {"id": "e1", "subject": "Standup", "start": {"dateTime": "2024-05-01T08:00:00.0000000", "timeZone": "UTC"},
             "end": {"dateTime": "2024-05-01T08:15:00.0000000", "timeZone": "UTC"}}


def reader(db: Path, zone: str = LOS_ANGELES) -> duckdb.DuckDBPyConnection:
    """A session as a user elsewhere opens it: read-only, in their own time zone."""
    connection = duckdb.connect(str(db), read_only=True)
    connection.execute(f"SET TimeZone = '{zone}'")
    return connection


def make_v0_warehouse(db: Path, primary_keys: bool = False) -> None:
    """A warehouse as graphsync made it before this version: naive UTC TIMESTAMPs, no marker; with
    `primary_keys`, as the oldest ones were, a PRIMARY KEY on the Graph tables too."""
    with duckdb.connect(str(db)) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        for statement in v0_statements():
            if primary_keys and statement.startswith('CREATE TABLE IF NOT EXISTS "messages"'):
                statement = statement[:-1] + ', PRIMARY KEY ("user_id", "id"))'
            connection.execute(statement)
        connection.execute(
            "INSERT INTO messages (user_id, id, subject, _raw, _synced_at, _deleted_at, _synced_seq) VALUES "
            "('u1', 'm1', 'live', '{\"id\": \"m1\"}', '2024-05-01 08:00:00', NULL, 1), "
            "('u1', 'm2', 'gone', '{\"id\": \"m2\"}', '2024-05-01 08:00:00', '2024-05-02 09:30:00', 1)")
        # v0 stored a dateTimeTimeZone's wall-clock time as it came: right for UTC, hours off for Paris.
        for event in (UTC_EVENT, PARIS_EVENT):
            connection.execute(
                "INSERT INTO events (user_id, id, subject, start_date_time, end_date_time, _raw, _synced_at) "
                "VALUES ('u1', ?, ?, TRY_CAST(? AS TIMESTAMP), TRY_CAST(? AS TIMESTAMP), ?, '2024-05-01 08:00:00')",
                [event["id"], event["subject"], event["start"]["dateTime"], event["end"]["dateTime"],  # type: ignore[index]
                 orjson.dumps(event).decode()])
        connection.execute("INSERT INTO _sync_state VALUES ('messages', 'u1/inbox', 'https://next', 'next', "
                           "'2024-05-01 07:00:00', '2024-05-01 08:00:00', NULL)")
        connection.execute("INSERT INTO _sync_runs (kind, started_at, finished_at, status, upserted, tombstoned) "
                           "VALUES ('sync', '2024-05-01 07:00:00', '2024-05-01 08:00:00', 'succeeded', 2, 0)")


def column_types(db: Path) -> set[str]:
    with reader(db) as connection:
        return {row[0] for row in connection.execute(
            "SELECT DISTINCT c.data_type FROM duckdb_columns() c JOIN duckdb_tables() t USING (table_oid) "
            "WHERE c.data_type LIKE 'TIMESTAMP%'").fetchall()}


@pytest.mark.parametrize("primary_keys", [False, True])
def test_a_warehouse_of_naive_timestamps_is_migrated_in_place_and_keeps_its_instants(tmp_path: Path,
                                                                                      primary_keys: bool) -> None:
    db = tmp_path / "old.duckdb"
    make_v0_warehouse(db, primary_keys)
    assert "TIMESTAMP" in column_types(db)  # Graph's own *DateTime columns were TIMESTAMPTZ already

    Warehouse(db).ensure_schema()

    assert column_types(db) == {"TIMESTAMP WITH TIME ZONE"}
    marker = describe(db)
    assert marker is not None and (marker.schema_version, marker.adopted) == (SCHEMA_VERSION, True)
    with reader(db) as connection:  # in Los Angeles, the stored values are the same instants
        assert connection.execute("SELECT id, _synced_at, _deleted_at FROM messages ORDER BY id").fetchall() == [
            ("m1", T0, None), ("m2", T0, datetime(2024, 5, 2, 9, 30, tzinfo=UTC))]
        assert connection.execute("SELECT id, start_date_time, end_date_time FROM events ORDER BY id").fetchall() == [
            ("e1", T0, T0 + timedelta(minutes=15)),
            ("e2", T0, T0 + timedelta(hours=1))]  # 10:00 in Paris (UTC+2) is 08:00 UTC
        assert connection.execute("SELECT started_at, finished_at FROM _sync_runs").fetchall() == [
            (T0 - timedelta(hours=1), T0)]
    state = Warehouse(db).load_state("messages", "u1/inbox")
    assert state is not None and (state.round_started_at, state.updated_at) == (T0 - timedelta(hours=1), T0)
    # Opening it again changes nothing more.
    Warehouse(db).ensure_schema()
    assert describe(db) == marker


def test_a_migrated_warehouse_goes_on_syncing(tmp_path: Path) -> None:
    # The round began in v0 (no round_seq): its sweep compares _synced_at with round_started_at.
    db = tmp_path / "old.duckdb"
    make_v0_warehouse(db)
    now = T0 + timedelta(days=2)
    state = StreamState("messages", "u1/inbox", "https://delta", "delta", T0 - timedelta(minutes=30), now)
    counts = Warehouse(db).apply([PageBatch(
        "messages", {"user_id": "u1"}, [{"id": "m3", "subject": "new", "parentFolderId": "inbox"}], set(), [],
        {"parent_folder_id": "inbox"}, state, sweep_unseen={"user_id": "u1"})], now)
    assert (counts.inserted, counts.tombstoned) == (1, 0)  # m1 was written after the round began
    with reader(db) as connection:
        assert connection.execute("SELECT id, _synced_at FROM messages WHERE id = 'm3'").fetchall() == [("m3", now)]


def test_a_session_in_any_time_zone_reads_the_same_instants(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    now = datetime.now(UTC).replace(microsecond=0)
    wh = Warehouse(db)
    state = StreamState("events", "u1", "https://delta", "delta", None, now)
    batch = PageBatch("events", {"user_id": "u1"}, [UTC_EVENT, PARIS_EVENT], set(), [], None, state)
    wh.apply([batch], now - timedelta(hours=30))
    wh.apply([PageBatch("events", {"user_id": "u1"}, [], set(), ["e1"], None, state)], now - timedelta(hours=30))
    wh.apply([PageBatch("events", {"user_id": "u1"}, [], set(), ["e2"], None, state)], now - timedelta(hours=2))

    seen = {}
    for zone in ("UTC", LOS_ANGELES, "Asia/Tokyo"):
        with reader(db, zone) as connection:
            seen[zone] = connection.execute(
                "SELECT id, _synced_at, _deleted_at, start_date_time, epoch(start_date_time) FROM events ORDER BY id"
            ).fetchall()
            # "Deleted since yesterday": e2 only, wherever the reader is (naive TIMESTAMPs were 7-9 h off).
            assert connection.execute("SELECT id FROM events WHERE _deleted_at > now() - INTERVAL 1 DAY").fetchall() \
                == [("e2",)], zone
    assert seen["UTC"] == seen[LOS_ANGELES] == seen["Asia/Tokyo"]
    assert [row[3] for row in seen[LOS_ANGELES]] == [T0, T0]
    assert Warehouse(db).load_state("events", "u1").updated_at == now  # type: ignore[union-attr]


def test_a_time_zone_duckdb_does_not_know_gives_null_not_a_wrong_instant(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    windows = {**UTC_EVENT, "id": "e3",
               "start": {"dateTime": "2024-05-01T08:00:00", "timeZone": "Pacific Standard Time"}}
    state = StreamState("events", "u1", "https://delta", "delta", None, T0)
    Warehouse(db).apply([PageBatch("events", {"user_id": "u1"}, [windows], set(), [], None, state)], T0)
    with reader(db) as connection:
        assert connection.execute("SELECT start_date_time, start_time_zone FROM events").fetchall() == [
            (None, "Pacific Standard Time")]


def test_a_failing_migration_leaves_the_warehouse_at_the_version_before(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "old.duckdb"
    make_v0_warehouse(db)

    def broken(connection: duckdb.DuckDBPyConnection) -> None:
        connection.execute("ALTER TABLE messages ADD COLUMN half_done VARCHAR")
        connection.execute("SELECT * FROM no_such_table")

    migrations = (*warehouse.migrations.MIGRATIONS, ("a broken step", broken))
    monkeypatch.setattr(warehouse.migrations, "MIGRATIONS", migrations)
    monkeypatch.setattr(warehouse.migrations, "SCHEMA_VERSION", len(migrations))
    monkeypatch.setattr(warehouse.schema, "SCHEMA_VERSION", len(migrations))

    with pytest.raises(WarehouseError) as error:
        Warehouse(db).ensure_schema()
    message = str(error.value)
    assert "\n" not in message and str(db) in message and f"schema version {len(migrations)} (a broken step)" in message
    marker = describe(db)
    assert marker is not None and marker.schema_version == SCHEMA_VERSION  # migration 1 stands, 2 is undone
    with reader(db) as connection:
        columns = {row[0] for row in connection.execute("SELECT column_name FROM duckdb_columns() "
                                                        "WHERE table_name = 'messages'").fetchall()}
    assert "half_done" not in columns


def test_odata_types_read_as_one_key_are_filled_from_raw(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    Warehouse(db).ensure_schema()
    connection = duckdb.connect(str(db))
    connection.execute("INSERT INTO chat_members (chat_id, id, _raw, _synced_at, odata_type) VALUES "
                       "('c1', 'm1', '{\"@odata.type\": \"#microsoft.graph.aadUserConversationMember\"}', now(), NULL)")
    connection.execute("UPDATE _graphsync SET schema_version = 1")
    connection.close()
    Warehouse(db).ensure_schema()  # a later graphsync opens it: migration 2
    with reader(db) as connection:
        assert connection.execute("SELECT odata_type FROM chat_members").fetchall() == [
            ("#microsoft.graph.aadUserConversationMember",)]
