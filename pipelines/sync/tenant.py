"""Sync a tenant by its plan (streams.py): policy only, the streams themselves are data.

What this module decides: how many mailboxes, teams and chats are synced at once (and how many
first syncs, which are CPU- and memory-bound), how many requests one of them has in flight, which
errors skip a table of one mailbox, team or chat (the rest is stored, the run exits 1) and which stop
the whole sync (authentication, connectivity, throttling that outlasted the retries, 5xx). Graph is
called with no database connection open; everything lands through one BatchWriter.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from connectors.graph import GraphClient, GraphError
from connectors.settings import GraphSettings
from pipelines.sync.engine import StreamRun, StreamStats
from pipelines.sync.exclusive import SyncSkipped, one_sync_at_a_time
from pipelines.sync.fetch import PageFetcher
from pipelines.sync.files import ATTACHMENT_TABLES, FilesReport, download_attachments
from pipelines.sync.plan import Plan, Root, StreamSpec
from pipelines.sync.progress import Progress
from pipelines.sync.routes import Routes, account_routes, app_routes, delegated_scopes
from pipelines.sync.scopes import Row, Scope, ScopeBook
from pipelines.sync.streams import PLAN, plan_for
from pipelines.sync.writer import BatchWriter
from warehouse import StreamState, Warehouse

ALL_TABLES = PLAN.tables
DEFAULT_TABLES = PLAN.default_tables  # all but the opt-in ones

log = logging.getLogger("graphsync.sync")


@dataclass
class SyncOptions:
    tables: tuple[str, ...] = DEFAULT_TABLES
    users: tuple[str, ...] = ()  # ids or UPNs; empty: every live user in the warehouse (delegated: every account)
    full: bool = False
    if_running: str = "wait"  # another sync of the warehouse is running: "wait" for it, or "skip"
    # After waiting for it: skip if it just covered the same tables and mailboxes (the CLI does;
    # a Dagster materialization always runs, so it has its own result).
    skip_covered: bool = False
    # Mailboxes synced at once. One synced before costs a few delta calls per folder, a wave of
    # folders after another (4 at once per mailbox, Outlook's limit), so an incremental sync takes as
    # many waves of $batch round trips as it has rounds of mailboxes: 16 at once made 16 waves for 50
    # mailboxes (0.43 s against the simulator), 50 made 4 (0.31 s); against Graph a wave is 0.1-0.3 s.
    # A first sync pages through whole mailboxes and is CPU- and memory-bound: more than 16 at once
    # ran no faster and held ~16 MB more at 100k messages.
    mailboxes_at_once: int = 50
    first_syncs_at_once: int = 16
    # Stream rounds of one mailbox (team, chat) in flight at once: Outlook allows 4 concurrent requests
    # per mailbox, and Teams at most 4 per second per team or channel.
    requests_at_once: int = 4
    page_size: int | None = None  # override every stream's odata.maxpagesize (tests use small pages)
    # Memory stays flat whatever the tenant's size: streams reserve room before each page, so at most
    # about `held_items` items received from Graph are parsed, waiting or being written at once. A
    # stream hands its items over every `hand_off_items`; the writer commits once `flush_items` wait.
    hand_off_items: int = 1_000
    flush_items: int = 5_000
    held_items: int = 10_000
    batch_requests: bool = True  # coalesce concurrent GETs into JSON $batch requests (see fetch.py)


@dataclass
class SyncReport:
    streams: dict[str, StreamStats] = field(default_factory=dict)  # per stream name
    # The same, per label the work was done under (a mailbox id, "team <id>", "chat <id>", or a
    # tenant-wide stream's name): label -> stream name -> stats. Dagster reports each partition's own.
    by_label: dict[str, dict[str, StreamStats]] = field(default_factory=dict)
    mailboxes: list[str] = field(default_factory=list)
    # What could not be read: mailbox id (or "team <id>", "chat <id>", a tenant-wide table) -> "table: error".
    failed: dict[str, str] = field(default_factory=dict)
    writer: BatchWriter | None = None
    requests: int = 0
    seconds_throttled: float = 0.0
    retries: int = 0
    seconds: float = 0.0
    delegated: bool = False  # read as signed-in accounts: a refusal names the delegated permission
    files: FilesReport | None = None  # attachment content written to GRAPHSYNC_FILES_DIR (opt-in)
    # Tables that could not be read somewhere: table -> (the first reason, where: mailbox, team or chat labels).
    skipped: dict[str, tuple[str, Root, set[str]]] = field(default_factory=dict)

    def stream(self, name: str) -> StreamStats:
        return self.streams.setdefault(name, StreamStats())

    def add(self, label: str, name: str, stats: StreamStats) -> None:
        """Count a stream round done under `label`, in its stream's totals and in the label's."""
        self.stream(name).add(stats)
        self.by_label.setdefault(label, {}).setdefault(name, StreamStats()).add(stats)

    def fail(self, spec: StreamSpec, label: str, error: GraphError) -> None:
        """Record a table that could not be read; a refusal names the permission to grant."""
        permission = spec.permission(self.delegated)
        missing = f"missing {permission}" if error.status == 403 and permission else ""
        line = f"{spec.table}: {missing + ': ' if missing else ''}{error}"
        self.failed[label] = f"{self.failed[label]}; {line}" if label in self.failed else line
        reason = missing or f"{error.status} {error.code}"
        _, _, labels = self.skipped.setdefault(spec.table, (reason, spec.root, set()))
        labels.add(label)
        log.warning("skipped %s of %s: %s", spec.table, label, reason,
                    extra={"event": "skipped", "table": spec.table, "where": label, "reason": reason})

    def skipped_line(self) -> str:
        """Every table skipped somewhere, why, and where: one line."""
        parts = []
        for table, (reason, root, labels) in self.skipped.items():
            noun = root.value if len(labels) == 1 else "mailboxes" if root is Root.MAILBOX else f"{root.value}s"
            where = "" if root is Root.TENANT else f" in {len(labels)} {noun}"
            parts.append(f"{table} ({reason}){where}")
        return "; ".join(parts)


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
                 on_progress: Callable[[list[str]], None] | None = None, progress_every_s: float = 2.0) -> None:
        self.settings = settings
        self.warehouse = warehouse
        self.options = options
        # App-only, one client reads the tenant; delegated, each signed-in account reads its own data.
        self.delegated = settings.auth == "delegated"
        self.plan: Plan = plan_for(self.delegated)
        self.client_factory = client_factory or (lambda: GraphClient(settings))
        self.on_progress = on_progress  # called every progress_every_s with Progress.lines()
        self.progress_every_s = progress_every_s
        self.progress = Progress()
        self.report = SyncReport(delegated=self.delegated)
        self._last_seq = 0  # the warehouse's latest commit number when the run began

    async def run(self) -> SyncReport:
        """Sync, recording the run (start, outcome, counts, error) in the warehouse table `_sync_runs`.
        A sync of the same warehouse already running is waited for, or with `if_running="skip"`
        raises SyncSkipped (exclusive.py)."""
        asked = datetime.now(UTC)
        lock = one_sync_at_a_time(Path(self.warehouse.path), wait=self.options.if_running == "wait",
                                  on_wait=self._waiting)
        waited = await asyncio.to_thread(lock.__enter__)
        try:
            if waited and self.options.skip_covered:
                await asyncio.to_thread(self._skip_if_just_done, asked)
            return await self._locked_run()
        finally:
            lock.__exit__(None, None, None)

    def _skip_if_just_done(self, since: datetime) -> None:
        """After waiting for another sync: if it covered everything this one would (every table, every
        mailbox) and succeeded, running now would only read what changed in the meantime; the next
        scheduled run does that. A --full sync always runs."""
        if self.options.full:
            return
        wanted = set(self._stream_names())
        for (streams,) in self.warehouse.query_rows(
                "SELECT streams FROM _sync_runs WHERE kind = ? AND status = 'succeeded' AND finished_at >= ?",
                [self._kind(), since]):
            if wanted <= set((streams or "").split(",")):
                raise SyncSkipped("the sync of this warehouse that was running when this one started has just "
                                  "covered the same tables; nothing to repeat")

    def _waiting(self, line: str) -> None:
        log.info(line, extra={"event": "lock_wait", "lock": "sync"})
        if self.on_progress is not None:
            self.on_progress([line])

    async def _locked_run(self) -> SyncReport:
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

    def _begin(self) -> tuple[int, ScopeBook]:
        """Schema, the run log entry and what the warehouse knows, in one open of the file, which is
        left open for the writer (see run)."""
        self.warehouse.hold_open()
        try:
            self.warehouse.ensure_schema()
            run_id = self.warehouse.start_run(self._kind(), self._stream_names(), datetime.now(UTC))
            self._last_seq = self.warehouse.read_seq()
            return run_id, ScopeBook.load(self.warehouse, self.plan, self._stream_names())
        except BaseException:
            self.warehouse.release()
            raise

    def _kind(self) -> str:
        """The run log's kind: "sync" for every mailbox, "sync --user" for some of them."""
        return "sync --user" if self.options.users else "sync"

    def _stream_names(self) -> list[str]:
        return self.plan.selection(self.options.tables)

    async def _run(self, book: ScopeBook) -> SyncReport:
        started = time.monotonic()
        async with self._routes() as routes:
            writer = BatchWriter(self.warehouse, flush_items=self.options.flush_items,
                                 held_limit=self.options.held_items, last_seq=self._last_seq)
            self.report.writer = writer
            ticker = asyncio.create_task(writer.flush_periodically())
            reporter = asyncio.create_task(self._report_progress(routes)) if self.on_progress else None
            try:
                await _Walk(self, book, routes, writer).run()
                await writer.close(release=False)  # run() writes the run log first
                attachments = [spec for table, spec in ATTACHMENT_TABLES.items() if table in self.options.tables]
                if self.settings.files_dir and attachments:
                    self.report.files = await download_attachments(
                        routes, self.warehouse, self.settings.files_dir, self.settings.files_max_bytes,
                        attachments, set(self.report.mailboxes))
            finally:
                ticker.cancel()
                if reporter is not None:
                    reporter.cancel()
            stats = routes.stats()
            self.report.requests = stats.requests
            self.report.retries = stats.retries
            self.report.seconds_throttled = stats.seconds_throttled
        self.report.seconds = time.monotonic() - started
        return self.report

    def _routes(self) -> contextlib.AbstractAsyncContextManager[Routes]:
        if self.delegated:
            scopes = delegated_scopes(self.settings)
            return account_routes(self.settings, self.options.users, scopes, self.options.batch_requests)
        return app_routes(self.client_factory(), self.options.batch_requests)

    async def _sync_instance(self, key: str, walk: _Walk, root: Root, entries: list[tuple[StreamSpec, Scope]],
                             fetcher: PageFetcher) -> None:
        """One mailbox, team or chat, let in by its root's gates: its streams, and theirs below."""
        in_flight = asyncio.Semaphore(self.options.requests_at_once)
        label = key if root is Root.MAILBOX else f"{root.value} {key}"
        mailbox = root is Root.MAILBOX
        self.progress.mailboxes_running += mailbox
        try:
            await asyncio.gather(*(walk.stream(spec, scope, in_flight, label, fetcher) for spec, scope in entries))
            if mailbox:
                self.report.mailboxes.append(key)
        finally:
            self.progress.mailboxes_running -= mailbox
            self.progress.mailboxes_done += mailbox

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

    async def _report_progress(self, routes: Routes) -> None:
        assert self.on_progress is not None
        while True:
            await asyncio.sleep(self.progress_every_s)
            self.on_progress(self.progress.lines(routes.stats()))


def _fatal(exc: GraphError) -> bool:
    """Errors that no other table or mailbox would escape: stop the sync rather than skip."""
    return exc.status in (401, 429) or exc.status >= 500


@dataclass
class _Walk:
    """One run down the plan: roots first, each stream's children as soon as their scopes are known.

    Every stream round is read through a fetcher the routes chose (routes.py): the app's client, or
    the signed-in account that may read that mailbox, team or chat; children below it in the same
    mailbox (team, chat) are read through the same one."""

    sync: TenantSync
    book: ScopeBook
    routes: Routes
    writer: BatchWriter
    mailboxes: set[str] | None = None  # --user (delegated: the accounts): the mailboxes to sync, once resolved

    def __post_init__(self) -> None:
        options = self.sync.options
        self.plan = self.sync.plan
        self.gates = {root: asyncio.Semaphore(options.mailboxes_at_once) for root in Root}
        self.first_sync_gate = asyncio.Semaphore(options.first_syncs_at_once)
        self.selected = self.book.selected

    async def run(self) -> None:
        plan = self.plan
        in_flight = asyncio.Semaphore(self.sync.options.requests_at_once)
        roots = [plan[name] for name in self.selected if plan[name].parent is None]
        # Tenant-wide parents not asked for (users when only messages are) give their stored rows.
        stored = {s.parent.stream for s in map(plan.__getitem__, self.selected) if s.parent} - set(self.selected)
        await asyncio.gather(
            *(self.stream(spec, scope, in_flight, spec.table, fetcher)
              for spec in roots for scope, fetcher in self.routes.roots(spec)),
            *(self.descend(plan[name], self.book.live_rows(name), self.book.live_rows(name), in_flight, name, None)
              for name in sorted(stored)))
        # Children shared by several parent scopes (a chat listed by each member), once every one ran:
        # retired when no parent row gives them any more, synced when a parent scope of this run does.
        for parent in self.selected:
            shared = [c for c in plan.children(parent, self.selected) if not plan.pipelined(c)]
            if shared:
                every = [row for rows in self.book.rows.get(parent, {}).values() for row in rows]
                await self.children(shared, every, every, in_flight, parent, None, self.book.rows_synced(parent))

    async def stream(self, spec: StreamSpec, scope: Scope, in_flight: asyncio.Semaphore, label: str,
                     fetcher: PageFetcher) -> None:
        """One stream round for one scope, then its children; a table it may not read is skipped."""
        sync = self.sync
        spec = self.plan.read_as(spec.name, self.selected)
        if sync.options.page_size:
            spec = replace(spec, page_size=sync.options.page_size)
        has_children = bool(self.plan.children(spec.name, self.selected))
        run = StreamRun(spec, scope, fetcher, self.writer, flush_items=sync.options.hand_off_items,
                        track_ids=has_children, on_page=functools.partial(sync.progress.page, spec.table),
                        others_marks=self.plan.others_marks(spec.name))
        async with in_flight:
            try:
                await run.run(self._state(spec, scope))
            except GraphError as exc:
                if _fatal(exc):
                    raise
                sync.report.fail(spec, label, exc)
                if has_children and spec.root is Root.TENANT:
                    # The users (teams) could not be read: their stored rows still name the mailboxes.
                    stored = self.book.live_rows(spec.name, run.scope_key)
                    await self.descend(spec, stored, stored, in_flight, label, fetcher)
                return
            finally:
                sync.report.add(label, spec.name, run.stats)
        if has_children:
            before, now = self.book.after_round(run)
            await self.descend(spec, before, now, in_flight, label, fetcher)

    def _state(self, spec: StreamSpec, scope: Scope) -> StreamState | None:
        """The stored state to resume from; none with --full (tenant-wide streams keep theirs when
        only some mailboxes are synced)."""
        options = self.sync.options
        if options.full and not (spec.root is Root.TENANT and options.users):
            return None
        return self.book.states.get(spec.name, {}).get(spec.scope_key(scope))

    async def descend(self, spec: StreamSpec, before: list[Row], now: list[Row], in_flight: asyncio.Semaphore,
                      label: str, fetcher: PageFetcher | None) -> None:
        """The children whose scopes this parent scope's rows give (shared ones wait: see run)."""
        pipelined = [c for c in self.plan.children(spec.name, self.selected) if self.plan.pipelined(c)]
        await self.children(pipelined, before, now, in_flight, label, fetcher)

    async def children(self, children: list[StreamSpec], before: list[Row], now: list[Row],
                       in_flight: asyncio.Semaphore, label: str, fetcher: PageFetcher | None,
                       to_sync: list[Row] | None = None) -> None:
        """Retire the child scopes these parent rows no longer give, then sync the ones they (or
        `to_sync`, a part of them) give: in the parent's mailbox (team, chat) through the parent's
        fetcher, or each as a mailbox (team, chat) of its own."""
        here: list[tuple[StreamSpec, Scope]] = []
        instances: dict[tuple[Root, str], list[tuple[StreamSpec, Scope]]] = {}
        givers: dict[tuple[Root, str], list[str]] = {}  # the users whose rows gave an instance's scope
        for child in children:
            for gone in self.book.gone(child, before, now):
                for batch in self.book.retire(child, gone):
                    await self.writer.submit(batch)
            rows = now if to_sync is None else to_sync
            scopes = self.book.to_sync(child, rows)
            parent = self.plan[child.parent.stream]  # type: ignore[union-attr]
            if child.root is parent.root and fetcher is not None:
                here += [(child, scope) for scope in scopes]
                continue
            for scope in await self._entering(child, scopes):
                instances.setdefault((child.root, child.scope_key(scope)), []).append((child, scope))
            if self.routes.delegated:
                for row in rows:
                    for key in self.book.child_scopes(child, [row]):
                        givers.setdefault((child.root, key), []).append(str(row.get("user_id") or ""))
        self.sync.progress.mailboxes_total += sum(root is Root.MAILBOX for root, _ in instances)
        await asyncio.gather(
            *(self.stream(child, scope, in_flight, label, fetcher) for child, scope in here if fetcher),
            *(self._instance(root, key, entries, givers.get((root, key), []))
              for (root, key), entries in instances.items()))

    async def _instance(self, root: Root, key: str, entries: list[tuple[StreamSpec, Scope]], givers: list[str]) -> None:
        first = not any(spec.scope_key(scope) in self.book.states.get(spec.name, {}) for spec, scope in entries)
        fetcher = self.routes.instance(root, entries[0][1], givers)
        # The first-sync gate is taken first, so instances waiting on it hold no general slot.
        async with self.first_sync_gate if first else contextlib.nullcontext(), self.gates[root]:
            await self.sync._sync_instance(key, self, root, entries, fetcher)

    async def _entering(self, child: StreamSpec, scopes: list[Scope]) -> list[Scope]:
        """Scopes that start a mailbox are limited to --user's mailboxes (delegated: the accounts')."""
        if child.root is not Root.MAILBOX:
            return scopes
        if self.mailboxes is None:
            self.mailboxes = self.routes.mailboxes()
            if self.mailboxes is None and self.sync.options.users:
                await self.writer.flush()  # names resolve against the users table, with what this run read
                self.mailboxes = set(await asyncio.to_thread(self.sync._resolve_users, self.sync.options.users))
        if self.mailboxes is None:
            return scopes
        return [s for s in scopes if s.get("user_id") in self.mailboxes]
