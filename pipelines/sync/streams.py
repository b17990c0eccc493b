"""Every delta stream graphsync follows, described as data.

One engine (engine.py) runs all of them; adding a Graph collection means adding a `StreamSpec`,
not writing another sync loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum


class Removal(Enum):
    """How a delta feed says an item is gone."""

    ANNOTATION = "annotation"  # {"id": ..., "@removed": {"reason": "changed" | "deleted"}} (Outlook, directory)
    DELETED_FACET = "deleted_facet"  # {"id": ..., "deleted": {...}} (OneDrive / SharePoint driveItem)
    DELETED_DATE_TIME = "deleted_date_time"  # soft-deleted chat messages carry deletedDateTime


@dataclass(frozen=True)
class StreamSpec:
    name: str  # the stream's name in the sync-state table
    table: str  # warehouse table it lands in
    path: str  # first-call URL path; {placeholders} are filled from the scope
    scope: tuple[str, ...] = ()  # scope fields, in the order they form the scope key
    row_scope: tuple[str, ...] = ()  # the scope fields that are also key columns of every row
    removal: Removal = Removal.ANNOTATION
    # Tombstone a removal only while the stored row still has this column equal to the given scope
    # value: a message moved to another folder is reported removed by its old folder, possibly after
    # the new folder already reported it, and must stay live.
    removal_guard: tuple[str, str] | None = None  # (column, scope field)
    # Rows belonging to one stream instance, for sweeping items that vanished during a token loss.
    sweep: tuple[tuple[str, str], ...] = ()  # ((column, scope field), ...)
    page_size: int = 100  # sent as Prefer: odata.maxpagesize
    query: str = ""  # extra query options of the first call (tokens carry them afterwards)
    headers: dict[str, str] = field(default_factory=dict)
    # calendarView delta needs a date window on its first call; the tokens keep it for later rounds.
    window_days: tuple[int, int] | None = None  # (days before, days after) the moment a round starts

    def scope_key(self, scope: dict[str, str]) -> str:
        return "/".join(scope[c] for c in self.scope)

    def first_url(self, scope: dict[str, str]) -> str:
        path = self.path.format(**scope)
        options = [self.query] if self.query else []
        if self.window_days is not None:
            now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            before, after = self.window_days
            options.append(f"startDateTime={(now - timedelta(days=before)):%Y-%m-%dT%H:%M:%SZ}"
                           f"&endDateTime={(now + timedelta(days=after)):%Y-%m-%dT%H:%M:%SZ}")
        return f"{path}?{'&'.join(options)}" if options else path

    def row_values(self, scope: dict[str, str]) -> dict[str, str]:
        return {c: scope[c] for c in self.row_scope}


USERS = StreamSpec(
    name="users",
    table="users",
    path="/users/delta",
    # $select decides which properties are tracked (delta-query-users.md).
    query="$select=id,displayName,givenName,surname,userPrincipalName,mail,jobTitle,department,"
          "officeLocation,mobilePhone,businessPhones,preferredLanguage,accountEnabled,createdDateTime,"
          "usageLocation,companyName,employeeId,city,country",
    page_size=200,
)

MAIL_FOLDERS = StreamSpec(
    name="mail_folders",
    table="mail_folders",
    path="/users/{user_id}/mailFolders/delta",
    scope=("user_id",),
    row_scope=("user_id",),
    sweep=(("user_id", "user_id"),),
    page_size=100,
)

MESSAGES = StreamSpec(
    name="messages",
    table="messages",
    path="/users/{user_id}/mailFolders/{folder_id}/messages/delta",
    scope=("user_id", "folder_id"),
    row_scope=("user_id",),
    removal_guard=("parent_folder_id", "folder_id"),
    sweep=(("user_id", "user_id"), ("parent_folder_id", "folder_id")),
    page_size=200,
)

EVENTS = StreamSpec(
    name="events",
    table="events",
    # v1.0 has delta only for a calendar *view*: occurrences of recurring events are expanded, and an
    # event that leaves the window is reported removed (so it is tombstoned, as Graph no longer shows it).
    path="/users/{user_id}/calendarView/delta",
    scope=("user_id",),
    row_scope=("user_id",),
    sweep=(("user_id", "user_id"),),
    window_days=(365, 365),
    page_size=100,
)

DRIVE_ITEMS = StreamSpec(
    name="drive_items",
    table="drive_items",
    # The drive is found first (GET /users/{id}/drive); its root delta reports deletions with the
    # `deleted` facet, and on a lost token a 410 whose Location starts the enumeration over.
    path="/drives/{drive_id}/root/delta",
    scope=("drive_id",),
    row_scope=("drive_id",),
    removal=Removal.DELETED_FACET,
    sweep=(("drive_id", "drive_id"),),
    page_size=200,
)

STREAMS: dict[str, StreamSpec] = {s.name: s for s in (USERS, MAIL_FOLDERS, MESSAGES, EVENTS, DRIVE_ITEMS)}
