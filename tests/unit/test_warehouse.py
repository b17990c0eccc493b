"""Warehouse.apply semantics on real DuckDB files: upsert, partial merge, tombstones, sweep, state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

import warehouse.apply
from warehouse import PageBatch, StreamState, Warehouse, WarehouseError

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def state(scope: str = "u1/inbox", link: str = "https://graph/delta?token=1", **changes: Any) -> StreamState:
    values: dict[str, Any] = {
        "stream": "messages",
        "scope": scope,
        "link": link,
        "link_kind": "delta",
        "round_started_at": None,
        "updated_at": T0,
    }
    values.update(changes)
    return StreamState(**values)


def messages_batch(
    upserts: list[dict[str, Any]] | None = None,
    *,
    user: str = "u1",
    folder: str = "inbox",
    partial_ids: set[str] | None = None,
    removals: list[str] | None = None,
    sweep: bool = False,
    round_started_at: datetime | None = None,
) -> PageBatch:
    return PageBatch(
        table="messages",
        scope_values={"user_id": user},
        upserts=upserts or [],
        partial_ids=partial_ids or set(),
        removals=removals or [],
        removal_guard={"parent_folder_id": folder},
        state=state(scope=f"{user}/{folder}", round_started_at=round_started_at),
        sweep_unseen={"user_id": user, "parent_folder_id": folder} if sweep else None,
    )


def message(message_id: str, folder: str = "inbox", **extra: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "parentFolderId": folder,
        "subject": f"subject of {message_id}",
        "isRead": False,
        "receivedDateTime": "2024-05-01T07:30:00Z",
        "from": {"emailAddress": {"address": "adele@contoso.com", "name": "Adele Vance"}},
        "toRecipients": [{"emailAddress": {"address": "alex@contoso.com"}}],
        "body": {"contentType": "html", "content": "<p>hi</p>"},
        **extra,
    }


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    warehouse = Warehouse(tmp_path / "graphsync.duckdb", lock_timeout_s=5)
    warehouse.ensure_schema()
    return warehouse


def rows(wh: Warehouse, where: str = "true") -> dict[str, dict[str, Any]]:
    frame = wh.query_df(f"SELECT * FROM messages WHERE {where} ORDER BY id")
    return {record["id"]: record for record in frame.to_dict("records")}


def test_insert_flattens_columns_from_raw(wh: Warehouse) -> None:
    counts = wh.apply([messages_batch([message("m1"), message("m2")])], at(1))

    assert (counts.inserted, counts.updated, counts.upserted) == (2, 0, 2)
    stored = rows(wh)["m1"]
    assert stored["user_id"] == "u1"
    assert stored["subject"] == "subject of m1"
    assert stored["from_address"] == "adele@contoso.com"
    assert stored["body_content_type"] == "html"
    assert bool(stored["is_read"]) is False
    assert stored["received_date_time"].isoformat() == "2024-05-01T07:30:00+00:00"
    assert '"alex@contoso.com"' in stored["to_recipients"]
    assert '"subject":"subject of m1"' in stored["_raw"]
    assert stored["_synced_at"].to_pydatetime() == at(1)
    assert stored["_deleted_at"] is None or str(stored["_deleted_at"]) == "NaT"


def test_full_upsert_replaces_every_column(wh: Warehouse) -> None:
    wh.apply([messages_batch([message("m1", flag={"flagStatus": "flagged"})])], at(1))
    counts = wh.apply([messages_batch([message("m1", subject="new")])], at(2))

    stored = rows(wh)["m1"]
    assert (counts.inserted, counts.updated) == (0, 1)
    assert stored["subject"] == "new"
    assert stored["flag_status"] is None  # absent from the full object -> gone
    assert stored["_synced_at"].to_pydatetime() == at(2)


def test_partial_upsert_merges_into_stored_raw(wh: Warehouse) -> None:
    wh.apply([messages_batch([message("m1", flag={"flagStatus": "flagged", "dueDateTime": "x"})])], at(1))
    partial = {"id": "m1", "isRead": True, "flag": {"flagStatus": "complete"}, "categories": None}
    wh.apply([messages_batch([partial], partial_ids={"m1"})], at(2))

    stored = rows(wh)["m1"]
    assert bool(stored["is_read"]) is True
    assert stored["subject"] == "subject of m1"  # not in the partial: kept
    assert stored["from_address"] == "adele@contoso.com"
    assert stored["flag_status"] == "complete"
    assert '"dueDateTime"' not in stored["_raw"]  # top-level property replaced whole
    assert '"categories":null' in stored["_raw"]  # an explicit null is kept as null


def test_partial_for_unknown_row_is_inserted_as_is(wh: Warehouse) -> None:
    counts = wh.apply([messages_batch([{"id": "m9", "isRead": True}], partial_ids={"m9"})], at(1))

    assert counts.inserted == 1
    stored = rows(wh)["m9"]
    assert bool(stored["is_read"]) is True and stored["subject"] is None


def test_duplicates_in_a_batch_last_one_wins(wh: Warehouse) -> None:
    counts = wh.apply([messages_batch([message("m1", subject="first"), message("m1", subject="last")])], at(1))

    assert counts.inserted == 1
    assert rows(wh)["m1"]["subject"] == "last"


def test_removal_tombstones_and_keeps_raw(wh: Warehouse) -> None:
    wh.apply([messages_batch([message("m1"), message("m2")])], at(1))
    counts = wh.apply([messages_batch(removals=["m1", "unknown"])], at(2))
    again = wh.apply([messages_batch(removals=["m1"])], at(3))

    stored = rows(wh)
    assert counts.tombstoned == 1 and again.tombstoned == 0
    assert stored["m1"]["_deleted_at"].to_pydatetime() == at(2)  # first removal stands
    assert stored["m1"]["subject"] == "subject of m1"
    assert str(stored["m2"]["_deleted_at"]) == "NaT"
    assert set(stored) == {"m1", "m2"}  # nothing physically deleted, nothing invented


def test_item_that_comes_back_is_revived(wh: Warehouse) -> None:
    wh.apply([messages_batch([message("m1")])], at(1))
    wh.apply([messages_batch(removals=["m1"])], at(2))
    counts = wh.apply([messages_batch([message("m1", subject="back")])], at(3))

    stored = rows(wh)["m1"]
    assert (counts.revived, counts.updated) == (1, 1)
    assert str(stored["_deleted_at"]) == "NaT"
    assert stored["subject"] == "back"


def test_removals_are_scoped_to_the_batch_user(wh: Warehouse) -> None:
    wh.apply([messages_batch([message("m1")], user="u1"), messages_batch([message("m1")], user="u2")], at(1))
    wh.apply([messages_batch(removals=["m1"], user="u2")], at(2))

    assert str(rows(wh, "user_id = 'u1'")["m1"]["_deleted_at"]) == "NaT"
    assert str(rows(wh, "user_id = 'u2'")["m1"]["_deleted_at"]) != "NaT"


def test_moved_message_new_folder_first_stays_live(wh: Warehouse) -> None:
    wh.apply([messages_batch([message("m1", "inbox")], folder="inbox")], at(1))
    # The archive folder's delta reports the message first, then the inbox's delta removes it.
    wh.apply([messages_batch([message("m1", "archive")], folder="archive")], at(2))
    counts = wh.apply([messages_batch(removals=["m1"], folder="inbox")], at(3))

    stored = rows(wh)["m1"]
    assert counts.tombstoned == 0
    assert str(stored["_deleted_at"]) == "NaT"
    assert stored["parent_folder_id"] == "archive"


def test_moved_message_old_folder_first_is_revived(wh: Warehouse) -> None:
    wh.apply([messages_batch([message("m1", "inbox")], folder="inbox")], at(1))
    wh.apply(
        [
            messages_batch(removals=["m1"], folder="inbox"),
            messages_batch([message("m1", "archive")], folder="archive"),
        ],
        at(2),
    )

    stored = rows(wh)
    assert list(stored) == ["m1"]
    assert str(stored["m1"]["_deleted_at"]) == "NaT"
    assert stored["m1"]["parent_folder_id"] == "archive"


def test_sweep_tombstones_rows_not_seen_in_a_full_round(wh: Warehouse) -> None:
    wh.apply([messages_batch([message("a"), message("b"), message("c")])], at(1))
    wh.apply([messages_batch([message("x", "archive")], folder="archive")], at(1))
    wh.apply([messages_batch([message("c")], user="u2")], at(1))
    # The delta token was lost; a new full enumeration starts at minute 10 and sees a and b only.
    round_start = at(10)
    wh.apply([messages_batch([message("a")], round_started_at=round_start)], at(11))
    counts = wh.apply([messages_batch([message("b")], sweep=True, round_started_at=round_start)], at(12))

    deleted = {
        (record["user_id"], record["id"])
        for record in wh.query_df("SELECT user_id, id FROM messages WHERE _deleted_at IS NOT NULL").to_dict("records")
    }
    assert counts.tombstoned == 1
    assert deleted == {("u1", "c")}  # not the other folder's row, not the other user's


def test_sweep_without_round_start_is_rejected(wh: Warehouse) -> None:
    with pytest.raises(WarehouseError, match="round_started_at"):
        wh.apply([messages_batch([message("a")], sweep=True)], at(1))


def test_state_is_stored_with_the_rows(wh: Warehouse) -> None:
    assert wh.load_state("messages", "u1/inbox") is None
    batch = messages_batch([message("m1")], round_started_at=at(0))
    wh.apply([batch], at(1))

    loaded = wh.load_state("messages", "u1/inbox")
    assert loaded == batch.state
    assert loaded is not None and loaded.round_started_at == at(0)
    assert set(wh.load_states("messages")) == {"u1/inbox"}


def test_last_state_of_a_scope_wins(wh: Warehouse) -> None:
    first = messages_batch([message("m1")])
    second = messages_batch([message("m2")])
    second.state = state(link="https://graph/delta?token=2")
    wh.apply([first, second], at(1))

    loaded = wh.load_state("messages", "u1/inbox")
    assert loaded is not None and loaded.link == "https://graph/delta?token=2"


def test_failure_mid_apply_stores_neither_rows_nor_state(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    wh.apply([messages_batch([message("m1")])], at(1))

    def fail(*_args: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(warehouse.apply, "_store_states", fail)
    batch = messages_batch([message("m1", subject="changed"), message("m2")], removals=["m1"])
    batch.state = state(link="https://graph/delta?token=2")
    with pytest.raises(RuntimeError, match="disk on fire"):
        wh.apply([batch], at(2))

    stored = rows(wh)
    assert list(stored) == ["m1"] and stored["m1"]["subject"] == "subject of m1"
    loaded = wh.load_state("messages", "u1/inbox")
    assert loaded is not None and loaded.link == "https://graph/delta?token=1"


def test_drop_states(wh: Warehouse) -> None:
    users = PageBatch("users", {}, [{"id": "u1"}], set(), [], None, StreamState("users", "", None, "delta", None, T0))
    wh.apply([messages_batch([message("m1")]), users], at(1))

    wh.drop_states(["messages"])
    assert wh.load_states("messages") == {} and set(wh.load_states("users")) == {""}
    wh.drop_states()
    assert wh.load_states("users") == {}


def test_other_tables_use_their_scope_and_facets(wh: Warehouse) -> None:
    item_state = StreamState("drive_items", "d1", None, "delta", None, T0)
    items = [
        {"id": "root", "root": {}, "folder": {"childCount": 1}, "name": "root"},
        {
            "id": "f1",
            "file": {"mimeType": "text/plain"},
            "size": 12,
            "name": "a.txt",
            "parentReference": {"id": "root"},
        },
    ]
    wh.apply([PageBatch("drive_items", {"drive_id": "d1"}, items, set(), [], None, item_state)], at(1))

    frame = wh.query_df(
        "SELECT id, drive_id, is_folder, is_root, size, file_mime_type, parent_id FROM drive_items ORDER BY id"
    )
    frame = frame.astype(object).where(frame.notna(), None)
    assert frame.to_dict("records") == [
        {"id": "f1", "drive_id": "d1", "is_folder": False, "is_root": False, "size": 12,
         "file_mime_type": "text/plain", "parent_id": "root"},
        {"id": "root", "drive_id": "d1", "is_folder": True, "is_root": True, "size": None,
         "file_mime_type": None, "parent_id": None},
    ]  # fmt: skip


def test_a_removed_folder_takes_every_live_row_below_it_along(wh: Warehouse) -> None:
    """PageBatch.cascade: a feed that names only the deleted folder still tombstones its contents,
    however deep, in its drive only; what was moved out of it in the same batch stays."""
    def item(item_id: str, parent: str | None) -> dict[str, Any]:
        return {"id": item_id, "name": item_id, **({"parentReference": {"id": parent}} if parent else {})}

    tree = [item("root", None), item("top", "root"), item("sub", "top"), item("a", "sub"), item("b", "top"),
            item("moved", "sub"), item("beside", "root")]
    for drive in ("d1", "d2"):
        wh.apply([PageBatch("drive_items", {"drive_id": drive}, tree, set(), [], None,
                            StreamState("drive_items", drive, None, "delta", None, T0))], at(1))
    # d1's feed: "moved" went to the root, then "top" was deleted (only the folder is named).
    removal = PageBatch("drive_items", {"drive_id": "d1"}, [item("moved", "root")], set(), ["top"], None,
                        StreamState("drive_items", "d1", None, "delta", None, T0), cascade="parent_id")
    counts = wh.apply([removal], at(2))
    live = set(wh.query_rows("SELECT drive_id, id FROM drive_items WHERE _deleted_at IS NULL"))
    assert live == {("d1", "root"), ("d1", "beside"), ("d1", "moved"), *(("d2", i["id"]) for i in tree)}
    assert counts.tombstoned == 4  # top, sub, a, b
    gone = wh.query_rows("SELECT DISTINCT _deleted_at FROM drive_items WHERE _deleted_at IS NOT NULL")
    assert gone == [(at(2),)]


def test_bad_scope_values_are_rejected(wh: Warehouse) -> None:
    batch = messages_batch([message("m1")])
    batch.scope_values = {}
    with pytest.raises(WarehouseError, match="scope_values"):
        wh.apply([batch], at(1))


def test_two_hundred_thousand_rows(wh: Warehouse) -> None:
    count = 200_000
    objects = [
        {"id": f"m{n:06d}", "parentFolderId": "inbox", "subject": f"s{n}", "isRead": n % 2 == 0} for n in range(count)
    ]
    first = wh.apply([messages_batch(objects)], at(1))
    partial = [{"id": f"m{n:06d}", "isRead": True} for n in range(1, count, 1000)]  # unread ones
    second = wh.apply([messages_batch(partial, partial_ids={p["id"] for p in partial})], at(2))

    assert first.inserted == count and second.updated == len(partial)
    summary = wh.query_df(
        "SELECT count(*) AS n, count(*) FILTER (is_read) AS read, count(DISTINCT subject) AS subjects FROM messages"
    ).iloc[0]
    assert (summary["n"], summary["read"], summary["subjects"]) == (count, count // 2 + len(partial), count)


def test_same_row_written_by_two_batches_of_one_apply(wh: Warehouse) -> None:
    counts = wh.apply(
        [
            messages_batch([message("m1", subject="one")]),
            messages_batch([{"id": "m1", "isRead": True}], partial_ids={"m1"}),
            messages_batch(removals=["m1"]),
            messages_batch([message("m1", subject="three")]),
        ],
        at(1),
    )

    stored = rows(wh)["m1"]
    # One apply collapses a stream's operations on an id in order (upsert, merge, remove, restore):
    # the row is written once, with the final state.
    assert (counts.inserted, counts.updated, counts.tombstoned, counts.revived) == (1, 0, 0, 0)
    assert stored["subject"] == "three" and str(stored["_deleted_at"]) == "NaT"
    assert counts.by_table["messages"].upserted == 1


def test_a_stream_removal_after_its_upsert_in_one_apply_wins(wh: Warehouse) -> None:
    wh.apply([messages_batch([message("m1", subject="one")])], at(1))
    wh.apply([messages_batch([message("m1", subject="two")]), messages_batch(removals=["m1"])], at(2))
    stored = rows(wh)["m1"]
    assert stored["subject"] == "one", "the upsert the same stream later removed is not written"
    assert str(stored["_deleted_at"]) != "NaT"


def test_rows_replaced_several_times_in_one_transaction(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    # A changed row is deleted and inserted again; with slices of two rows, m1 is inserted by the first
    # statement, replaced by the second and the third, all inside one transaction, and m0 (stored
    # before) is replaced twice. Each key must end as one row holding the last values.
    wh.apply([messages_batch([message("m0", subject="stored")])], at(1))
    monkeypatch.setattr(warehouse.apply, "UPSERT_SLICE", 2)
    batches = [messages_batch([message("m1", subject=f"v{i}"), message("m0", subject=f"v{i}")]) for i in range(3)]
    # Distinct streams (folders) so the engine-side collapse by id does not merge them first.
    batches = [replace(b, state=state(scope=f"u1/f{i}")) for i, b in enumerate(batches)]
    wh.apply(batches, at(2))

    count, distinct = wh.query_rows("SELECT count(*), count(DISTINCT id) FROM messages")[0]
    assert (count, distinct) == (2, 2)
    assert {k: v["subject"] for k, v in rows(wh).items()} == {"m0": "v2", "m1": "v2"}
    assert all(v["_synced_at"].to_pydatetime() == at(2) for v in rows(wh).values())


def test_a_compared_upsert_equal_to_the_stored_row_only_moves_its_sync_marks(wh: Warehouse) -> None:
    def team_batch(items: list[dict], sweep: bool = False, seq: int | None = None) -> PageBatch:
        return PageBatch("teams", {}, items, set(), [], None,
                         StreamState("teams", "", None, "delta", at(0) if sweep else None, at(0), seq),
                         sweep_unseen={} if sweep else None, compare=True)

    first = wh.apply([team_batch([{"id": "t1", "displayName": "A"}, {"id": "t2", "displayName": "B"}])], at(1))
    assert first.inserted == 2
    again = wh.apply([team_batch([{"id": "t1", "displayName": "A"}, {"id": "t2", "displayName": "B2"}],
                                 sweep=True, seq=first.seq + 1)], at(2))
    assert (again.unchanged, again.updated, again.tombstoned) == (1, 1, 0), "the equal row is kept, not swept"
    rows = wh.query_rows("SELECT id, display_name, _synced_seq FROM teams ORDER BY id")
    assert rows == [("t1", "A", again.seq), ("t2", "B2", again.seq)]


def test_read_seq_lies_between_the_latest_commit_and_the_next_across_checkpoints(tmp_path: Path) -> None:
    # DuckDB 1.5 reports a sequence's last value one too high once the file is checkpointed: taken as
    # the latest commit, a full round beginning then would sweep away the rows of its own first commit.
    db = tmp_path / "w.duckdb"
    first = Warehouse(db).apply([messages_batch([message("m1")])], at(1)).seq
    with duckdb.connect(str(db)) as connection:
        connection.execute("CHECKPOINT")
    seen = Warehouse(db).read_seq()
    later = Warehouse(db).apply([messages_batch([message("m2")])], at(2)).seq
    assert first <= seen < later
