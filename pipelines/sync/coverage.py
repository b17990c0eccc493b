"""Every GET of the seed catalogue, as data: the warehouse table it lands in, or why it does not.

`COVERAGE` has one entry per GET row of the catalogue (the seed's spelling, in its order):
`Covered(table, how)` names a table of the sync plan, whose stream says how the table stays current
and which permissions read it (derived here from `PLAN` / `DELEGATED_PLAN`, never typed twice);
`NotSynced(reason)` says why not. A GET whose table is still to come reads "not synced yet: planned
as `<table>`": once the plan declares that table, tests/unit/test_coverage.py asks for it to become
`Covered`. The README's coverage table is `coverage_markdown()` (the same test keeps them equal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipelines.sync.plan import Plan, StreamSpec
from pipelines.sync.streams import DELEGATED_PLAN, PLAN


@dataclass(frozen=True)
class Covered:
    """The GET's data lands in `table`; `how` says how the GET maps onto what the stream reads."""

    table: str
    how: str = ""


@dataclass(frozen=True)
class NotSynced:
    """The GET's data is not in the warehouse, and why."""

    reason: str


Coverage = Covered | NotSynced

PLANNED = "not synced yet: planned as "
_ONE = "one item of the list"


def planned(table: str, why: str = "") -> NotSynced:
    """A GET whose table another stream of the plan is about to fill (flip it to `Covered` then)."""
    return NotSynced(f"{PLANNED}`{table}` (issue 14)" + (f"; {why}" if why else ""))


COVERAGE: dict[str, Coverage] = {
    # -- Outlook: messages and mail folders --------------------------------------------------------
    "GET /me/messages": Covered("messages", "every folder's messages, read through mailFolders/{id}/messages/delta"),
    "GET /me/messages/{message-id}": Covered("messages", _ONE),
    "GET /me/mailFolders": Covered("mail_folders", "read through mailFolders/delta, nested folders included"),
    "GET /me/mailFolders/{mailFolder-id}": Covered("mail_folders", _ONE),
    "GET /me/mailFolders/{mailFolder-id}/messages": Covered(
        "messages", "the folder's rows (`parent_folder_id`), read through its messages/delta"),
    "GET /me/mailFolders/Inbox/messages/delta": Covered(
        "messages", "the Inbox's rows: every folder is read through its own messages/delta"),
    "GET /me/mailFolders/{mailFolder-id}/messages/delta": Covered("messages", "this very delta, per folder"),
    "GET /me/mailFolders/delta": Covered("mail_folders", "this very delta"),
    # -- Outlook: categories and rooms -------------------------------------------------------------
    "GET /me/outlook/masterCategories": Covered("categories"),
    "GET /me/outlook/masterCategories/{outlookCategory-id}": Covered("categories", _ONE),
    "GET /me/findRooms": Covered("rooms", "findRooms is beta only; v1.0 lists them at /places/microsoft.graph.room"),
    "GET /me/findRooms(RoomList='{roomList-emailAddress}')": Covered(
        "rooms", "beta only; v1.0 lists a list's rooms at /places/{list}/microsoft.graph.roomlist/rooms"),
    "GET /me/findRoomLists": Covered("room_lists", "beta only; v1.0 lists them at /places/microsoft.graph.roomlist"),
    # -- Calendar: default calendar ----------------------------------------------------------------
    "GET /me/calendar": Covered("calendars", "the row with `is_default_calendar`"),
    "GET /me/calendar/events": Covered(
        "events", "read through calendarView/delta: the sync's window, occurrences as rows of their own"),
    "GET /me/calendar/calendarPermissions": Covered("calendar_permissions", "the default calendar's rows"),
    "GET /me/calendar/calendarPermissions/{permissionId}": Covered("calendar_permissions", _ONE),
    # -- Calendar: user calendars and groups -------------------------------------------------------
    "GET /user/{userId}/calendar": NotSynced(
        "not a Graph path (Graph has no `user` segment); GET /users/{id}/calendar is covered by `calendars`"),
    "GET /me/calendars": Covered("calendars"),
    "GET /me/calendars/{calendarId}": Covered("calendars", _ONE),
    "GET /me/calendars/{calendarId}/events": NotSynced(
        "only the default calendar's events are synced (`events`): v1.0 has delta only for the default "
        "calendar's view (a calendar's events/delta is beta only)"),
    "GET /me/calendarGroups": Covered("calendar_groups"),
    "GET /me/calendarGroups/{groupId}/calendars": Covered("calendars", "a group's calendars are rows of `calendars`"),
    # -- Calendar: events --------------------------------------------------------------------------
    "GET /me/events/{eventId}": Covered("events", "one item, if in the default calendar and the sync's window"),
    "GET /me/events/{eventId}/instances": Covered(
        "events", "occurrences are rows of their own (`series_master_id`), within the sync's window"),
    "GET /me/events/{eventId}/attachments": Covered("event_attachments", "metadata; events with attachments"),
    "GET /me/calendarView": Covered("events", "read through calendarView/delta over the sync's window"),
    # -- Users -------------------------------------------------------------------------------------
    "GET /users": Covered("users", "read through users/delta (delegated: each signed-in account's own profile)"),
    "GET /users/{user-id}": Covered("users", _ONE),
    "GET /me": Covered("users", "app-only: the user's row of users/delta; delegated: GET /me itself"),
    # -- Teams: teams and chats --------------------------------------------------------------------
    "GET /teams": Covered("teams", "each team then read whole (GET /teams/{id}); delegated: /me/joinedTeams"),
    "GET /chats": Covered(
        "chats", "read per user (/users/{id}/chats: app-only cannot list /chats); delegated: /me/chats"),
    "GET /me/joinedTeams": Covered("teams", "the delegated plan's source of `teams`"),
    "GET /chats/{chat-id}": Covered("chats", "one chat (a row per chat and member user)"),
    "GET /chats/{chat-id}/members": Covered("chat_members"),
    "GET /chats/{chat-id}/members/{conversationMember-id}": Covered("chat_members", _ONE),
    "GET /chats/{chat-id}/messages": Covered("chat_messages"),
    "GET /chats/{chat-id}/messages/{chatMessage-id}": Covered("chat_messages", _ONE),
    "GET /chats/getAllMessages": NotSynced(
        "not a documented GET (only a change-notification resource; the export is app-only "
        "/users/{id}/chats/getAllMessages); the same messages are covered by `chat_messages`, read per chat"),
    # -- Teams: team, channels and channel messages ------------------------------------------------
    "GET /teams/{team-id}": Covered("teams", "one team, read whole"),
    "GET /teams/{team-id}/members": Covered("team_members"),
    "GET /teams/{team-id}/allChannels": Covered("channels"),
    "GET /teams/{team-id}/channels": Covered(
        "channels", "read through allChannels, which adds incoming shared channels"),
    "GET /teams/{team-id}/channels/{channel-id}": Covered("channels", _ONE),
    "GET /teams/{team-id}/channels/{channel-id}/members": Covered("channel_members"),
    "GET /teams/{team-id}/channels/{channel-id}/messages": Covered(
        "channel_messages",
        "posts and replies, read through messages/delta: reply chains changed in the last 8 months"),
    "GET /teams/{team-id}/channels/{channel-id}/messages/{chatMessage-id}": Covered("channel_messages", _ONE),
    "GET /teams/{team-id}/allChannels/{channel-id}": Covered("channels", _ONE),
    # -- OneDrive: root and shared content ---------------------------------------------------------
    "GET /me/drive/root/children": Covered("drive_items", "the root's children (`parent_id`), read through root/delta"),
    "GET /me/drive/recent": NotSynced("deprecated (drive-recent.md), and not supported app-only"),
    "GET /me/drive/sharedWithMe": NotSynced("deprecated (drive-sharedwithme.md), and not supported app-only"),
    "GET /me/drive/root/search(q='{search-query}')": NotSynced("search, not a collection: query `drive_items`"),
    # -- OneDrive: specific drives and items -------------------------------------------------------
    "GET /drives/{drive-id}/root/children": Covered(
        "drive_items", "the root's children, read through root/delta (users' OneDrives only)"),
    "GET /drives/{drive-id}/items/{item-id}/children": Covered(
        "drive_items", "the folder's children (`parent_id`), read through root/delta"),
    "GET /drives/{drive-id}/items/{item-id}": Covered("drive_items", _ONE),
    "GET /drives/{drive-id}/items/{item-id}/content": NotSynced(
        "file content is not synced: `drive_items` holds each file's metadata"),
    "GET /drives/{drive-id}/items/{item-id}/permissions": Covered("drive_item_permissions"),
}


def planned_table(entry: Coverage) -> str | None:
    """The table a NotSynced entry waits for ("not synced yet: planned as `rooms`"), if any."""
    found = re.match(re.escape(PLANNED) + r"`(\w+)`", entry.reason) if isinstance(entry, NotSynced) else None
    return found.group(1) if found else None


def _stream(plan: Plan, table: str) -> StreamSpec:
    return next(spec for spec in plan.streams.values() if spec.table == table)


def _kept_current(table: str) -> str:
    app, delegated = _stream(PLAN, table).kind.value, _stream(DELEGATED_PLAN, table).kind.value
    return app if app == delegated else f"{app} (app-only), {delegated} (delegated)"


def _row(get: str, entry: Coverage) -> str:
    if isinstance(entry, NotSynced):
        return f"| `{get}` | — | — | — | — | {entry.reason} |"
    spec, delegated = _stream(PLAN, entry.table), _stream(DELEGATED_PLAN, entry.table)
    note = "; ".join(filter(None, (entry.how, f"opt-in (`sync --only {spec.table}`)" if spec.opt_in else "")))
    return (f"| `{get}` | `{entry.table}` | {_kept_current(entry.table)} | `{spec.app_permission}` "
            f"| `{delegated.delegated_permission}` | {note} |")


def coverage_markdown() -> str:
    """The README's coverage table: each GET of the catalogue, its table, how it stays current, its permissions."""
    lines = ["| GET | table | stays current by | app permission | delegated permission | note |",
             "|---|---|---|---|---|---|"]
    return "\n".join(lines + [_row(get, entry) for get, entry in COVERAGE.items()])


if __name__ == "__main__":
    print(coverage_markdown())
