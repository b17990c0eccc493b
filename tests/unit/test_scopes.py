"""Scope bookkeeping: which child scopes a parent's rows give, which are gone, and what retiring does."""

from __future__ import annotations

from dataclasses import replace

from pipelines.sync.plan import Parent, Plan
from pipelines.sync.scopes import ScopeBook
from pipelines.sync.streams import DRIVE_ITEMS, DRIVES, MAIL_FOLDERS, MESSAGES, PLAN, USERS


def row(id_: str, live: bool = True, **columns: str) -> dict[str, object]:
    return {"id": id_, "_live": live, **columns}


def book() -> ScopeBook:
    selected = ["users", "mail_folders", "messages", "drives", "drive_items"]
    b = ScopeBook(PLAN, selected, states={})
    b.rows = {"users": {"": [row("u1"), row("u2")]},
              "mail_folders": {"u1": [row("f1", user_id="u1"), row("f2", user_id="u1")]},
              "drives": {"u1": [row("d1", owner_user_id="u1")]}}
    b.held = {"mail_folders": {"u1", "u2"}, "messages": {"u1/f1", "u1/f2"}, "drives": {"u1"},
              "drive_items": {"d1"}}
    return b


def test_child_scopes_project_the_live_rows() -> None:
    scopes = book().child_scopes(MESSAGES, [row("f1", user_id="u1"), row("f2", user_id="u1")])
    assert scopes == {"u1/f1": {"user_id": "u1", "folder_id": "f1"}, "u1/f2": {"user_id": "u1", "folder_id": "f2"}}


def test_a_folder_gone_from_the_live_rows_is_gone_only_if_the_warehouse_holds_it() -> None:
    b = book()
    before = b.rows["mail_folders"]["u1"]
    now = [row("f1", user_id="u1"), row("f2", live=False, user_id="u1"), row("f3", live=False, user_id="u1")]
    assert b.gone(MESSAGES, before, now) == [{"user_id": "u1", "folder_id": "f2"}]  # f3 never had messages


def test_retiring_a_user_retires_their_folders_messages_drive_and_drive_items() -> None:
    b = book()
    batches = b.retire(MAIL_FOLDERS, {"user_id": "u1"}) + b.retire(DRIVES, {"user_id": "u1"})
    retired = [(batch.table, batch.retire, batch.state.scope, batch.state.link) for batch in batches]
    assert retired == [
        ("mail_folders", {"user_id": "u1"}, "u1", None),
        ("messages", {"user_id": "u1", "parent_folder_id": "f1"}, "u1/f1", None),
        ("messages", {"user_id": "u1", "parent_folder_id": "f2"}, "u1/f2", None),
        ("drives", {"owner_user_id": "u1"}, "u1", None),
        ("drive_items", {"drive_id": "d1"}, "d1", None),
    ]
    assert b.live_rows("mail_folders", "u1") == [] and "u1/f1" not in b.held["messages"]


def test_changed_only_children_follow_the_rows_this_run_wrote() -> None:
    changed_only = replace(DRIVE_ITEMS, parent=Parent("drives", (("drive_id", "id"),), changed_only=True))
    plan = Plan([USERS, DRIVES, changed_only])
    b = ScopeBook(plan, ["drives", "drive_items"], states={}, held={"drive_items": {"d1", "d2"}})
    rows = [row("d1"), {**row("d2"), "_written": True}, row("d3")]
    assert [s["drive_id"] for s in b.to_sync(changed_only, rows)] == ["d2", "d3"]  # d3: never synced
    assert [s["drive_id"] for s in b.to_sync(DRIVE_ITEMS, rows)] == ["d1", "d2", "d3"]


def test_a_message_moved_to_another_folder_keeps_its_attachments() -> None:
    selected = ["mail_folders", "messages", "message_attachments"]
    b = ScopeBook(PLAN, selected, states={}, held={"message_attachments": {"u1/m1", "u1/m2", "u2/m1"}})
    message = {"user_id": "u1", "has_attachments": True}
    # The new folder's round already wrote m1; then the old folder reports m1 and m2 removed.
    b.rows = {"messages": {"u1/f2": [{**row("m1", **message), "parent_folder_id": "f2"}],
                           "u2/f1": [{**row("m2", user_id="u2", has_attachments=True), "parent_folder_id": "f1"}]}}
    before = [{**row("m1", **message), "parent_folder_id": "f1"}, {**row("m2", **message), "parent_folder_id": "f1"}]
    now = [{**r, "_live": False} for r in before]
    b.rows["messages"]["u1/f1"] = now
    gone = b.gone(PLAN["message_attachments"], before, now)
    # m2 lives on in no folder of u1 (u2's m2 is another mailbox's): retired; m1 lives on in f2.
    assert gone == [{"user_id": "u1", "message_id": "m2"}]


def test_a_series_row_gives_no_attachment_scope_its_occurrences_do() -> None:
    rows = [row("s1", user_id="u1", has_attachments=True, type="seriesMaster"),
            row("o1", user_id="u1", has_attachments=True, type="occurrence"),
            row("e1", user_id="u1", has_attachments=False, type="singleInstance")]
    assert list(book().child_scopes(PLAN["event_attachments"], rows)) == ["u1/o1"]
    assert "type" in PLAN.row_columns("events"), "the column the rule reads is loaded with the parent rows"
