"""Sync a tenant: the directory, then every mailbox's folders and their messages.

Graph is called with no database connection open; everything lands through one BatchWriter.
A mailbox that fails (no Exchange licence, blocked by an application access policy...) is reported
and skipped; authentication and connectivity failures stop the whole sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from connectors.graph import GraphClient, GraphError
from connectors.settings import GraphSettings
from pipelines.sync.engine import DeltaStream, StreamStats
from pipelines.sync.fetch import CoalescingFetcher, DirectFetcher, PageFetcher
from pipelines.sync.streams import DRIVE_ITEMS, EVENTS, MAIL_FOLDERS, MESSAGES, USERS, StreamSpec
from pipelines.sync.writer import BatchWriter
from warehouse import PageBatch, StreamState, Warehouse

MAIL_TABLES = ("mail_folders", "messages")
MAILBOX_TABLES = (*MAIL_TABLES, "events", "drive_items")  # what is synced per mailbox partition
ALL_TABLES = ("users", *MAILBOX_TABLES)


@dataclass
class SyncOptions:
    tables: tuple[str, ...] = ALL_TABLES
    users: tuple[str, ...] = ()  # ids or UPNs; empty: every live user in the warehouse
    full: bool = False
    # Mailboxes synced at once. One synced before costs a few delta calls per folder, a wave of
    # folders after another (4 at once per mailbox, Outlook's limit), so an incremental sync takes as
    # many waves of $batch round trips as it has rounds of mailboxes: 16 at once made 16 waves for 50
    # mailboxes (0.43 s against the simulator), 50 made 4 (0.31 s); against Graph a wave is 0.1-0.3 s.
    # A first sync pages through whole mailboxes and is CPU- and memory-bound: more than 16 at once
    # ran no faster and held ~16 MB more at 100k messages.
    mailboxes_at_once: int = 50
    first_syncs_at_once: int = 16
    folders_at_once: int = 4  # per mailbox, matching Outlook's 4 concurrent requests per mailbox
    page_size: int | None = None  # override every stream's odata.maxpagesize (tests use small pages)
    # Memory stays flat whatever the tenant's size: streams reserve room before each page, so at most
    # about `held_items` items received from Graph are parsed, waiting or being written at once. A
    # stream hands its items over every `hand_off_items`; the writer commits once `flush_items` wait.
    hand_off_items: int = 1_000
    flush_items: int = 5_000
    held_items: int = 10_000
    batch_requests: bool = True  # coalesce concurrent GETs into JSON $batch requests (see fetch.py)


@dataclass
class Progress:
    """Live counters a reporter can print while a sync runs."""

    mailboxes_total: int = 0
    mailboxes_done: int = 0
    items: int = 0
    pages: int = 0
    started: float = field(default_factory=time.monotonic)

    def page(self, items: int) -> None:
        self.pages += 1
        self.items += items

    def line(self, client: GraphClient | None = None) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        throttled = f" · {client.stats.seconds_throttled:.1f}s throttled" if client else ""
        return (f"mailboxes {self.mailboxes_done}/{self.mailboxes_total} · {self.items:,} items in "
                f"{self.pages:,} pages · {self.items / elapsed:,.0f} items/s{throttled}")


@dataclass
class SyncReport:
    streams: dict[str, StreamStats] = field(default_factory=dict)  # per stream name
    mailboxes: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # mailbox -> one-line error
    writer: BatchWriter | None = None
    requests: int = 0
    seconds_throttled: float = 0.0
    retries: int = 0
    seconds: float = 0.0

    def stream(self, name: str) -> StreamStats:
        return self.streams.setdefault(name, StreamStats())


@dataclass(frozen=True)
class Known:
    users: set[str]  # live user ids
    folders: dict[str, set[str]]  # live mail folder ids per user
    all_states: dict[str, dict[str, StreamState]]  # stream -> scope -> state

    def states(self, spec: StreamSpec) -> dict[str, StreamState]:
        return self.all_states.get(spec.name, {})

    def synced_before(self, user_id: str) -> bool:
        """Whether the mailbox has a stored mail-folder or calendar state (its scope is the user)."""
        return any(user_id in self.states(spec) for spec in (MAIL_FOLDERS, EVENTS))


def _current_ids(stored: set[str], stream: DeltaStream) -> set[str]:
    """The ids that exist now: what a full round saw, or what was stored updated by a delta round."""
    if stream.was_full_round:
        return set(stream.seen_ids)
    return (stored | stream.seen_ids) - stream.removed_ids


@contextlib.contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Run the garbage collector far less often while syncing.

    Parsing a page creates ~15 container objects per message, so with CPython's default thresholds
    the cyclic collector ran thousands of times per sync and took ~15% of its CPU (py-spy), mostly
    re-scanning long-lived objects. A sync's objects are short-lived and freed by reference counting.
    """
    previous = gc.get_threshold()
    gc.freeze()  # what was alive before the sync (imported modules, settings) is never scanned again
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


class TenantSync:
    def __init__(self, settings: GraphSettings, warehouse: Warehouse, options: SyncOptions,
                 client_factory: Callable[[], GraphClient] | None = None,
                 on_progress: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.warehouse = warehouse
        self.options = options
        self.client_factory = client_factory or (lambda: GraphClient(settings))
        self.on_progress = on_progress
        self.progress = Progress()
        self.report = SyncReport()

    async def run(self) -> SyncReport:
        """Sync, recording the run (start, outcome, counts, error) in the warehouse table `_sync_runs`."""
        # The warehouse stays open from the start to the first commits and from the last commit to
        # the run log (each open replays DuckDB's log, up to 0.4 s); the writer closes it whenever
        # nothing waits to be written, so readers still get their turn while Graph is slow.
        run_id, known = await asyncio.to_thread(self._begin)
        try:
            try:
                with fewer_gc_passes():
                    report = await self._run(known)
            except BaseException as exc:
                await asyncio.to_thread(self._record_failure, run_id, exc)
                raise
            status = "failed" if report.failed else "succeeded"
            counts = report.writer.counts if report.writer else None
            error = "; ".join(f"{user}: {err}" for user, err in report.failed.items()) or None
            await asyncio.to_thread(self.warehouse.finish_run, run_id, status, datetime.now(UTC), counts, error)
            await asyncio.to_thread(self.warehouse.release, True)  # leave the file checkpointed for readers
            return report
        finally:
            await asyncio.to_thread(self.warehouse.release)

    def _record_failure(self, run_id: int, exc: BaseException) -> None:
        counts = self.report.writer.counts if self.report.writer else None
        with contextlib.suppress(Exception):  # the original error is the one to report
            self.warehouse.finish_run(run_id, "failed", datetime.now(UTC), counts, str(exc) or type(exc).__name__)

    def _begin(self) -> tuple[int, Known]:
        """Schema, `--full`, the run log entry and what the warehouse knows, in one open of the file,
        which is left open for the writer (see run)."""
        self.warehouse.hold_open()
        try:
            self.warehouse.ensure_schema()
            if self.options.full:
                self.warehouse.drop_states(self._stream_names())
            run_id = self.warehouse.start_run("sync", self._stream_names(), datetime.now(UTC))
            return run_id, self._read_known()
        except BaseException:
            self.warehouse.release()
            raise

    async def _run(self, known: Known) -> SyncReport:
        started = time.monotonic()
        async with self.client_factory() as client:
            writer = BatchWriter(self.warehouse, flush_items=self.options.flush_items,
                                 held_limit=self.options.held_items)
            self.report.writer = writer
            ticker = asyncio.create_task(writer.flush_periodically())
            reporter = asyncio.create_task(self._report_progress(client)) if self.on_progress else None
            fetcher = CoalescingFetcher(client) if self.options.batch_requests else DirectFetcher(client)
            try:
                live_users = known.users
                if "users" in self.options.tables:
                    users = await self._run_stream(USERS, {}, fetcher, writer, known.states(USERS), track_ids=True)
                    live_users = _current_ids(known.users, users)
                if set(MAILBOX_TABLES) & set(self.options.tables):
                    mailboxes = await self._mailboxes(live_users, writer)
                    await self._sync_mailboxes(mailboxes, known, fetcher, writer)
                await writer.close(release=False)  # run() writes the run log first
            finally:
                ticker.cancel()
                if reporter is not None:
                    reporter.cancel()
            self.report.requests = client.stats.requests
            self.report.retries = client.stats.retries
            self.report.seconds_throttled = client.stats.seconds_throttled
        self.report.seconds = time.monotonic() - started
        return self.report

    def _stream_names(self) -> list[str]:
        names = set(self.options.tables)
        if "messages" in names:
            names.add("mail_folders")  # messages are found through their folders
        if "drive_items" in names:
            names.add("drives")
        return sorted(names)

    def _read_known(self) -> Known:
        """What the warehouse already knows, read once before any Graph call."""
        users = {user_id for (user_id,) in self.warehouse.query_rows("SELECT id FROM users WHERE _deleted_at IS NULL")}
        folders: dict[str, set[str]] = {}
        for user_id, folder_id in self.warehouse.query_rows(
                "SELECT user_id, id FROM mail_folders WHERE _deleted_at IS NULL"):
            folders.setdefault(user_id, set()).add(folder_id)
        return Known(users, folders, self.warehouse.load_all_states())

    async def _mailboxes(self, live_users: set[str], writer: BatchWriter) -> list[str]:
        if not self.options.users:
            return sorted(live_users)
        await writer.flush()  # names are resolved against the users table, including what this run just read
        return await asyncio.to_thread(self._resolve_users, self.options.users)

    async def _run_stream(self, spec: StreamSpec, scope: dict[str, str], fetcher: PageFetcher, writer: BatchWriter,
                          states: dict[str, StreamState], track_ids: bool = False) -> DeltaStream:
        if self.options.page_size:
            spec = replace(spec, page_size=self.options.page_size)
        stream = DeltaStream(spec, scope, fetcher, writer, flush_items=self.options.hand_off_items,
                             track_ids=track_ids, on_page=self.progress.page)
        await stream.run(states.get(stream.scope_key))
        self.report.stream(spec.name).add(stream.stats)
        return stream

    # -- mailboxes -------------------------------------------------------------------------------
    async def _sync_mailboxes(self, mailboxes: list[str], known: Known, fetcher: PageFetcher,
                              writer: BatchWriter) -> None:
        self.progress.mailboxes_total = len(mailboxes)
        folder_states, message_states = known.states(MAIL_FOLDERS), known.states(MESSAGES)
        gate = asyncio.Semaphore(self.options.mailboxes_at_once)
        first_sync_gate = asyncio.Semaphore(self.options.first_syncs_at_once)

        async def one(user_id: str) -> None:
            # The first-sync gate is taken first, so mailboxes waiting on it hold no general slot.
            first_sync = contextlib.nullcontext() if known.synced_before(user_id) else first_sync_gate
            async with first_sync, gate:
                try:
                    parts = []
                    if set(MAIL_TABLES) & set(self.options.tables):
                        parts.append(self._sync_mailbox(user_id, fetcher, writer, folder_states, message_states,
                                                        known.folders.get(user_id, set())))
                    if "events" in self.options.tables:
                        parts.append(self._run_stream(EVENTS, {"user_id": user_id}, fetcher, writer,
                                                      known.states(EVENTS)))
                    if "drive_items" in self.options.tables:
                        parts.append(self._sync_drive(user_id, fetcher, writer, known.states(DRIVE_ITEMS)))
                    await asyncio.gather(*parts)
                    self.report.mailboxes.append(user_id)
                except GraphError as exc:
                    if exc.status in (401, 429) or exc.status >= 500:
                        raise
                    self.report.failed[user_id] = str(exc)
                finally:
                    self.progress.mailboxes_done += 1

        await asyncio.gather(*(one(u) for u in mailboxes))

    async def _sync_mailbox(self, user_id: str, fetcher: PageFetcher, writer: BatchWriter,
                            folder_states: dict[str, StreamState], message_states: dict[str, StreamState],
                            stored_folders: set[str]) -> None:
        scope = {"user_id": user_id}
        folders = await self._run_stream(MAIL_FOLDERS, scope, fetcher, writer, folder_states, track_ids=True)
        current = _current_ids(stored_folders, folders)
        gone = stored_folders - current
        for folder_id in sorted(gone):
            await writer.submit(self._retire_folder(user_id, folder_id))
        if "messages" not in self.options.tables:
            return
        gate = asyncio.Semaphore(self.options.folders_at_once)

        async def folder(folder_id: str) -> None:
            async with gate:
                await self._run_stream(MESSAGES, {"user_id": user_id, "folder_id": folder_id}, fetcher, writer,
                                       message_states)

        await asyncio.gather(*(folder(f) for f in sorted(current)))

    async def _sync_drive(self, user_id: str, fetcher: PageFetcher, writer: BatchWriter,
                          states: dict[str, StreamState]) -> None:
        """The user's OneDrive: the drive itself into `drives`, then its items through root delta."""
        try:
            drive = await fetcher.get(f"/users/{user_id}/drive", {}, small=True)
        except GraphError as exc:
            if exc.status == 404:  # no OneDrive provisioned for this user: nothing to sync
                return
            raise
        now = datetime.now(UTC)
        await writer.submit(PageBatch(
            table="drives", scope_values={}, upserts=[drive], partial_ids=set(), removals=[], removal_guard=None,
            state=StreamState("drives", user_id, None, "delta", None, now)))
        await self._run_stream(DRIVE_ITEMS, {"drive_id": drive["id"]}, fetcher, writer, states)

    def _retire_folder(self, user_id: str, folder_id: str) -> PageBatch:
        """A folder that no longer exists: tombstone its messages and forget its delta link."""
        now = datetime.now(UTC)
        state = StreamState(stream=MESSAGES.name, scope=MESSAGES.scope_key({"user_id": user_id,
                                                                            "folder_id": folder_id}),
                            link=None, link_kind="delta", round_started_at=now, updated_at=now)
        return PageBatch(table=MESSAGES.table, scope_values={"user_id": user_id}, upserts=[], partial_ids=set(),
                         removals=[], removal_guard=None, state=state,
                         sweep_unseen={"user_id": user_id, "parent_folder_id": folder_id})

    def _resolve_users(self, wanted: tuple[str, ...]) -> list[str]:
        rows = self.warehouse.query_rows("SELECT id, lower(user_principal_name) FROM users")
        by_upn = {upn: user_id for user_id, upn in rows}
        known = {user_id for user_id, _ in rows}
        resolved = []
        for user in wanted:
            user_id = user if user in known else by_upn.get(user.lower())
            if user_id is None:
                raise LookupError(f"user '{user}' is not in the warehouse; run a sync of the users table first")
            resolved.append(user_id)
        return resolved

    async def _report_progress(self, client: GraphClient) -> None:
        assert self.on_progress is not None
        while True:
            await asyncio.sleep(2.0)
            self.on_progress(self.progress.line(client))
