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
    scopes = ScopeBook.child_scopes(MESSAGES, [row("f1", user_id="u1"), row("f2", user_id="u1")])
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
