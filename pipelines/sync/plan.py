"""The sync plan as data: what a stream is, where its scopes come from, and the order streams run in.

A stream (`StreamSpec`) names its *kind* (how Graph lets it be followed), its *parent* (the stream
whose live rows give its scopes, and which of their columns fill its placeholders) and its *root*
(the entity a run is partitioned and paced by: tenant, mailbox, team or chat). The declarations are
in streams.py; `Plan` orders them parents first and answers what a selection of tables must run.
The runner of each kind is in engine.py, the scope bookkeeping in scopes.py and the pacing policy in
tenant.py; none of them names a Graph collection.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import overload

from models import TABLES

Window = tuple[datetime, datetime]  # [start, end) in UTC


def utc_now() -> datetime:
    """The sync's clock for date windows (one place, so a test can move a run to another day)."""
    return datetime.now(UTC)


class Kind(Enum):
    """How a stream is followed from one round to the next."""

    DELTA = "delta"  # nextLinks to a deltaLink, which starts the next round (changes only)
    SNAPSHOT = "snapshot"  # the whole list each round; what the round did not see is tombstoned
    WATERMARK = "watermark"  # what changed since the newest change seen (`$filter=<field> gt`), for lists with no delta
    SINGLE = "single"  # one object per scope (a user's drive); a 404 means there is none


class Root(Enum):
    """What a stream's work is partitioned and paced by (see tenant.py for the gates)."""

    TENANT = "tenant"
    MAILBOX = "mailbox"
    TEAM = "team"
    CHAT = "chat"


class Polling(Enum):
    """The schedule a stream's Dagster job runs on."""

    HOURLY = "hourly"
    DAILY = "daily"


class Accounts(Enum):
    """Delegated roots: where a stream's scopes come from when the sync runs as signed-in people."""

    EACH = "each"  # one scope per signed-in account, {"user_id": its id}: the account's own profile (/me)
    UNION = "union"  # one round over what every signed-in account lists (their joined teams), read as each


class Removal(Enum):
    """How a feed says an item is gone."""

    ANNOTATION = "annotation"  # {"id": ..., "@removed": {"reason": "changed" | "deleted"}} (Outlook, directory)
    DELETED_FACET = "deleted_facet"  # {"id": ..., "deleted": {...}} (OneDrive / SharePoint driveItem)
    DELETED_DATE_TIME = "deleted_date_time"  # soft-deleted chat and channel messages carry deletedDateTime


@dataclass(frozen=True)
class Parent:
    """Where a stream's scopes come from: one scope per distinct projection of the parent's live rows."""

    stream: str
    # (scope field of the child, column of the parent's table), in the order that forms the scope key.
    fields: tuple[tuple[str, str], ...]
    # Only parents written by this run (new or changed) get their children synced; default: every live one.
    changed_only: bool = False
    # A parent row that is gone retires its children: their rows are tombstoned and their state dropped.
    retires_children: bool = True
    # The same child scope comes from several parent scopes (a chat is listed by each of its members):
    # the child waits for every parent scope and syncs each distinct scope once.
    shared: bool = False
    # Only parent rows with this (boolean) column true give a scope (events with `has_attachments`);
    # a row that turns false retires its child scope like a row that is gone.
    only_if: str = ""
    # Preferences the parent's feed must be read with while this child is synced, because only then
    # does the feed report the changes the child follows (a drive's sharing changes).
    prefer: tuple[str, ...] = ()


@dataclass(frozen=True)
class StreamSpec:
    name: str  # the stream's name in the sync-state table
    table: str  # warehouse table it lands in
    kind: Kind
    path: str  # first-call URL path; {placeholders} are the scope fields
    root: Root = Root.TENANT
    parent: Parent | None = None
    group: str = ""  # the Dagster asset group (and README family): directory, mail, calendar, files, teams
    description: str = ""  # the asset's text in Dagster's UI
    # How often a schedule may poll it. Teams allows polling a resource for changes once a day
    # (resources/teams-api-overview.md, "Polling requirements"); a sync someone asks for is not polling.
    polling: Polling = Polling.HOURLY
    # The least privileged Graph permission that reads it, from its doc page's Permissions table:
    # granted to the app (app-only) or consented by each signed-in person (delegated).
    app_permission: str = ""
    delegated_permission: str = ""
    # (scope field, column): how a stored row shows which scope it belongs to, where the column is not
    # the scope field itself (a message's folder is its parent_folder_id, a drive's user its owner).
    scope_columns: tuple[tuple[str, str], ...] = ()
    removal: Removal = Removal.ANNOTATION
    # Tombstone a removal only while the stored row still has this column equal to the given scope
    # value: a message moved to another folder is reported removed by its old folder, possibly after
    # the new folder already reported it, and must stay live.
    removal_guard: tuple[str, str] | None = None  # (column, scope field)
    # The table is a tree by this column: a removed item also tombstones the stored rows below it (a
    # deleted folder's contents, should the feed name only the folder).
    removal_cascade: str | None = None
    page_size: int = 100  # sent as Prefer: odata.maxpagesize; also the room reserved per page
    query: str = ""  # extra query options of the first call (delta tokens carry them afterwards)
    headers: dict[str, str] = field(default_factory=dict, hash=False)
    prefer: tuple[str, ...] = ()  # sent in the Prefer header, after odata.maxpagesize
    # calendarView delta needs a date window on its first call; the tokens keep it for later rounds.
    # (days before, days after) the day a run starts, in UTC: when that day moves on, a new round
    # opens with the new window (see engine.py; rows that only left the window stay live).
    window_days: tuple[int, int] | None = None
    # The columns of a row's own interval, compared with a window (an event's start and end).
    window_columns: tuple[str, str] = ("start_date_time", "end_date_time")
    # A windowed feed says "removed" also for an item that only left the window (event-delta.md):
    # each such item, and each stored one a new window's round did not see, is read from this path
    # ({id}); only a 404 tombstones it, anything else stores it as it is now.
    confirm: str | None = None
    # SNAPSHOT: the list holds only some properties; each item is read whole from this path ({id}).
    detail: str | None = None
    # Items carry these nested items (a channel post its replies), which are stored as rows of their own.
    nested: str | None = None
    # WATERMARK: the property compared, and how far before the last watermark a round starts again
    # (Graph's replicas may commit a change stamped a little earlier than one already listed).
    watermark_field: str = "lastModifiedDateTime"
    watermark_overlap: timedelta = timedelta(minutes=5)
    # Delegated plans only (Plan.delegated): a root read as the signed-in accounts.
    accounts: Accounts | None = None
    # Synced only when asked for by name (`sync --only`): it costs a request per parent row.
    opt_in: bool = False
    # A stream that fills a table another stream lists: its rows are those with this (column, value)
    # (a series in `events`). The other stream's children and window leave them alone.
    marks: tuple[str, str] | None = None

    @property
    def scope(self) -> tuple[str, ...]:
        """The scope fields, in the order they form the scope key."""
        if self.accounts is Accounts.EACH:
            return ("user_id",)
        return tuple(name for name, _ in self.parent.fields) if self.parent else ()

    def permission(self, delegated: bool) -> str:
        """The least privileged permission that reads it, as the app or as a signed-in person."""
        return self.delegated_permission if delegated else self.app_permission

    @property
    def row_scope(self) -> tuple[str, ...]:
        """The scope fields that are key columns of every row of the table."""
        return TABLES[self.table].scope_columns

    def rows_of_scope(self) -> tuple[tuple[str, str], ...]:
        """(column, scope field) pairs selecting the stored rows of one scope."""
        renamed = dict(self.scope_columns)
        return tuple((renamed.get(name, name), name) for name in self.scope
                     if name in renamed or name in TABLES[self.table].scope_columns)

    def scope_key(self, scope: dict[str, str]) -> str:
        return "/".join(scope[c] for c in self.scope)

    def window(self) -> Window | None:
        """The date window a round opened now asks for: whole UTC days around today."""
        if self.window_days is None:
            return None
        today = utc_now().replace(hour=0, minute=0, second=0, microsecond=0)
        before, after = self.window_days
        return today - timedelta(days=before), today + timedelta(days=after)

    def first_url(self, scope: dict[str, str], since: datetime | None = None, window: Window | None = None) -> str:
        path = self.path.format(**scope)
        options = [self.query] if self.query else []
        window = window or self.window()
        if window is not None:
            options.append(f"startDateTime={window[0]:%Y-%m-%dT%H:%M:%SZ}&endDateTime={window[1]:%Y-%m-%dT%H:%M:%SZ}")
        if self.kind is Kind.WATERMARK:
            # Graph applies the filter only when $orderby names the same property, descending.
            options.append(f"$orderby={self.watermark_field} desc")
            if since is not None:
                options.append(f"$filter={self.watermark_field} gt {since - self.watermark_overlap:%Y-%m-%dT%H:%M:%SZ}")
        return f"{path}?{'&'.join(options)}" if options else path

    def row_values(self, scope: dict[str, str]) -> dict[str, str]:
        return {c: scope[c] for c in self.row_scope}


class Plan:
    """The streams in dependency order (parents first) and the questions the runner asks of them."""

    def __init__(self, streams: Iterable[StreamSpec], delegated: bool = False) -> None:
        self.is_delegated = delegated
        given = {s.name: s for s in streams}
        ordered: dict[str, StreamSpec] = {}

        def visit(spec: StreamSpec, path: tuple[str, ...]) -> None:
            if spec.name in ordered:
                return
            if spec.name in path:
                raise ValueError(f"sync plan: {' -> '.join((*path, spec.name))} is a cycle")
            if spec.parent is not None:
                if spec.parent.stream not in given:
                    raise ValueError(f"sync plan: {spec.name}'s parent {spec.parent.stream} is not declared")
                visit(given[spec.parent.stream], (*path, spec.name))
            ordered[spec.name] = spec

        for spec in given.values():
            if spec.table not in TABLES:
                raise ValueError(f"sync plan: {spec.name} lands in unknown table {spec.table}")
            missing = set(spec.row_scope) - set(spec.scope)
            if missing:
                raise ValueError(f"sync plan: {spec.name} gives no scope for {sorted(missing)} of {spec.table}")
            if len(spec.rows_of_scope()) != len(spec.scope):  # a stored row must show its scope (scopes.py)
                raise ValueError(f"sync plan: {spec.name}: every scope field needs a column of {spec.table}")
            if delegated and spec.parent is None and spec.accounts is None:
                raise ValueError(f"sync plan: delegated root {spec.name} must say how accounts read it")
            visit(spec, ())
        self.streams = ordered

    def delegated(self, roots: Iterable[StreamSpec]) -> Plan:
        """The same plan read as signed-in people: `roots` replace the tenant-wide streams of the same
        name (the directory becomes each account's own profile, the teams their joined teams), and
        every path of one user's data is read through `/me` (so it needs that user's own token)."""
        replaced = {spec.name: spec for spec in roots}
        unknown = set(replaced) - set(self.streams)
        if unknown:
            raise ValueError(f"sync plan: delegated roots {sorted(unknown)} replace no stream")
        return Plan((replaced.get(s.name) or replace(s, path=_through_me(s.path), confirm=_through_me(s.confirm))
                     for s in self.streams.values()), delegated=True)

    def __getitem__(self, name: str) -> StreamSpec:
        return self.streams[name]

    @property
    def tables(self) -> tuple[str, ...]:
        """Every table the plan fills, parents first."""
        return tuple(dict.fromkeys(s.table for s in self.streams.values()))

    @property
    def primary(self) -> dict[str, str]:
        """Each table's first stream, the one that lists it (events' calendar view; event_series only
        adds the series its occurrences name): what a table's status or check is about."""
        first: dict[str, str] = {}
        for spec in self.streams.values():
            first.setdefault(spec.table, spec.name)
        return first

    @property
    def default_tables(self) -> tuple[str, ...]:
        """The tables a sync fills unless told otherwise: all but the opt-in ones."""
        return tuple(dict.fromkeys(s.table for s in self.streams.values() if not s.opt_in))

    def children(self, name: str, among: Iterable[str] | None = None) -> list[StreamSpec]:
        chosen = set(self.streams) if among is None else set(among)
        return [s for s in self.streams.values() if s.parent and s.parent.stream == name and s.name in chosen]

    def others_marks(self, name: str) -> list[tuple[str, str]]:
        """The (column, value) marks of the other streams filling this stream's table: rows not its own."""
        table = self.streams[name].table
        return [s.marks for s in self.streams.values() if s.table == table and s.name != name and s.marks]

    def read_as(self, name: str, among: Iterable[str]) -> StreamSpec:
        """A stream as a run of the streams `among` reads it: with the preferences its children there
        need of its feed (Parent.prefer)."""
        spec = self.streams[name]
        wanted = [p for child in self.children(name, among) for p in child.parent.prefer]  # type: ignore[union-attr]
        return replace(spec, prefer=tuple(dict.fromkeys([*spec.prefer, *wanted]))) if wanted else spec

    def row_columns(self, name: str, among: Iterable[str] | None = None) -> list[str]:
        """The columns of a stream's rows that name scopes: its own scope's, its id, and those its
        children (of `among`, default all) take."""
        spec = self.streams[name]
        taken = [column for child in self.children(name, among)
                 for column in (*(c for _, c in child.parent.fields), child.parent.only_if) if column]  # type: ignore[union-attr]
        taken += [column for column, _ in self.others_marks(name)] if taken else []
        return list(dict.fromkeys([*(column for column, _ in spec.rows_of_scope()), "id", *taken]))

    def selection(self, tables: Iterable[str]) -> list[str]:
        """The streams a sync of `tables` runs, parents first: each table's streams and the ancestors
        that find their scopes. A tenant-wide ancestor not asked for (users, teams) is not read
        again: the rows stored by its last sync give the scopes."""
        wanted = set(tables)
        chosen: set[str] = set()
        for spec in self.streams.values():
            if spec.table not in wanted:
                continue
            chosen.add(spec.name)
            parent = spec.parent
            while parent is not None:
                ancestor = self.streams[parent.stream]
                if ancestor.root is not Root.TENANT or ancestor.table in wanted:
                    chosen.add(ancestor.name)
                parent = ancestor.parent
        return [name for name in self.streams if name in chosen]

    def partitioned(self, spec: StreamSpec) -> bool:
        """Whether a stream is synced per mailbox partition: it is reached from a mailbox (a user's mail,
        drive and chats, and those chats' members and messages)."""
        while True:
            if spec.root is Root.MAILBOX:
                return True
            if spec.parent is None:
                return False
            spec = self.streams[spec.parent.stream]

    def pipelined(self, child: StreamSpec) -> bool:
        """Whether a child's scopes are derived per parent scope, as soon as that scope is synced
        (messages per folder of one mailbox), or after every parent scope, once per distinct scope."""
        assert child.parent is not None
        return not child.parent.shared

    def family(self, name: str) -> tuple[str, ...]:
        """The tables of a stream and of every stream below it."""
        below = [name]
        for spec in self.streams.values():
            if spec.parent and spec.parent.stream in below:
                below.append(spec.name)
        return tuple(dict.fromkeys(self.streams[n].table for n in below))


@overload
def _through_me(path: str) -> str: ...
@overload
def _through_me(path: None) -> None: ...
def _through_me(path: str | None) -> str | None:
    """`/users/{user_id}/mailFolders/delta` -> `/me/mailFolders/delta`: a signed-in person's own data."""
    if path is None:
        return None
    prefix = "/users/{user_id}"
    return "/me" + path[len(prefix):] if path == prefix or path.startswith(prefix + "/") else path
