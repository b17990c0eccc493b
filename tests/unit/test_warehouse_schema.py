"""The model registry and the DDL generated from it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from models import TABLES
from warehouse import PageBatch, StreamState, Warehouse
from warehouse.schema import create_statements

INTERFACE_TABLES = {
    "users", "mail_folders", "messages", "events", "calendars", "calendar_groups", "calendar_permissions",
    "categories", "rooms", "room_lists", "chats", "chat_members", "chat_messages", "teams", "team_members",
    "channels", "channel_members", "channel_messages", "drives", "drive_items", "drive_item_permissions",
    "event_attachments",
}  # fmt: skip
# INTERFACE.md: "message attachments, where synced" (its collection's name in snake_case).
EXTRA_TABLES = {"message_attachments"}


def test_every_interface_table_is_registered_with_bookkeeping_columns() -> None:
    assert set(TABLES) == INTERFACE_TABLES | EXTRA_TABLES
    for spec in TABLES.values():
        assert spec.key_columns[-1] == "id"
        assert [spec.columns[c].sql_type for c in ("_raw", "_synced_at", "_deleted_at")] == [
            "JSON",
            "TIMESTAMPTZ",
            "TIMESTAMPTZ",
        ]


def test_every_instant_is_a_timestamptz() -> None:
    # INTERFACE.md: no naive TIMESTAMP anywhere, Graph's instants and graphsync's own alike.
    connection = duckdb.connect()
    for statement in create_statements():
        connection.execute(statement)
    types = {row[0] for row in connection.execute("SELECT DISTINCT data_type FROM duckdb_columns()").fetchall()}
    assert "TIMESTAMP WITH TIME ZONE" in types
    assert not {t for t in types if t.startswith("TIMESTAMP") and t != "TIMESTAMP WITH TIME ZONE"}
    assert TABLES["events"].columns["start_date_time"].zone_path == ("start", "timeZone")


def test_keys_and_paths() -> None:
    assert TABLES["users"].key_columns == ("id",)
    assert TABLES["messages"].key_columns == ("user_id", "id")
    assert TABLES["mail_folders"].key_columns == ("user_id", "id")
    assert TABLES["channel_messages"].key_columns == ("team_id", "channel_id", "id")
    columns = TABLES["messages"].columns
    assert columns["received_date_time"].graph_path == ("receivedDateTime",)
    assert columns["received_date_time"].sql_type == "TIMESTAMPTZ"
    assert columns["from_address"].graph_path == ("from", "emailAddress", "address")
    assert columns["to_recipients"].sql_type == "JSON"
    assert columns["user_id"].role == "scope" and columns["user_id"].graph_path is None


def test_only_bookkeeping_tables_have_primary_keys(tmp_path: Path) -> None:
    # Graph tables are kept unique by the writer (see create_table_statement), not by an in-memory index.
    connection = duckdb.connect(str(tmp_path / "ddl.duckdb"))
    for statement in create_statements():
        connection.execute(statement)
    constraints = dict(
        connection.execute(
            "SELECT table_name, constraint_column_names FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
        ).fetchall()
    )
    assert constraints == {"_sync_state": ["stream", "scope"], "_sync_runs": ["id"]}


def test_new_model_column_is_added_and_backfilled(tmp_path: Path) -> None:
    db = tmp_path / "graphsync.duckdb"
    warehouse = Warehouse(db)
    state = StreamState("users", "", None, "delta", None, datetime(2024, 1, 1, tzinfo=UTC))
    user = {"id": "u1", "displayName": "Adele", "city": "Oslo"}
    warehouse.apply([PageBatch("users", {}, [user], set(), [], None, state)], datetime(2024, 1, 1, tzinfo=UTC))
    with duckdb.connect(str(db)) as connection:  # an older schema, without the city column
        connection.execute("ALTER TABLE users DROP COLUMN city")

    Warehouse(db).ensure_schema()

    assert Warehouse(db).query_df("SELECT city FROM users")["city"].tolist() == ["Oslo"]


def test_run_log(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "graphsync.duckdb")
    now = datetime(2024, 1, 1, tzinfo=UTC)
    first = warehouse.start_run("sync", ["users", "messages"], now)
    second = warehouse.start_run("sync", ["users"], now)
    warehouse.finish_run(first, "failed", now, error="boom")

    runs = warehouse.query_df("SELECT id, status, streams, error FROM _sync_runs ORDER BY id").to_dict("records")
    assert second == first + 1
    assert runs[0] == {"id": first, "status": "failed", "streams": "users,messages", "error": "boom"}
    assert runs[1]["status"] == "running"


def test_long_text_is_stored_zstd_compressed(tmp_path: Path) -> None:
    # Through the warehouse's own open: DuckDB 1.5 ignores zstd for text in its default storage format,
    # so new warehouses are written in a newer one (warehouse.locking.STORAGE_VERSION).
    db = tmp_path / "ddl.duckdb"
    Warehouse(db).ensure_schema()
    assert TABLES["messages"].columns["body_content"].compression == "zstd"
    assert TABLES["messages"].columns["subject"].compression is None
    connection = duckdb.connect(str(db))
    connection.execute(
        "INSERT INTO messages (user_id, id, subject, body_content, to_recipients, _raw, _synced_at) "
        "SELECT 'u', 'm' || i, 'Quarterly report', repeat('<p>Hello there</p>', 50), '[]', "
        "'{\"id\": \"m' || i || '\"}', now() FROM range(5000) AS r(i)")
    connection.execute("CHECKPOINT")
    stored = dict(connection.execute(
        "SELECT column_name, any_value(compression) FROM pragma_storage_info('messages') "
        "WHERE segment_type <> 'VALIDITY' GROUP BY column_name").fetchall())
    assert stored["body_content"] == stored["_raw"] == stored["to_recipients"] == "ZSTD"
    assert stored["subject"] != "ZSTD"
