"""Replaying the queue against Graph: each action applied once, in dependency order.

The protocol that makes a crash harmless: before a request is sent, its action is marked `running`
and an attempt without an answer is recorded, in one commit. The answer is recorded with the
action's final status in the next. So an action found `running` (its run died, or its connection
broke after sending) may have reached Graph: before every wave such actions are settled
(reconcile.py): an op that is safe to repeat is sent again; a create is looked up in Graph and sent
again only if it is not there; what cannot be looked up ends `failed` with "outcome unknown".

Mail is sent as a draft marked with the action's id, then `/send` (Retry.DRAFT): two steps, each in a
wave of its own, so bulk mail still goes in batches of 20.

Order (order.py): an action that refers to another's result (`@draft.id`) waits for it, and actions
on one item go in the order they were queued. Within a wave a user's actions go as JSON `$batch`
requests of up to 20 (the client retries throttled items after their Retry-After), at most 4 at
once per user.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.graph import AuthError, GraphClient, GraphError, GraphUnreachable
from connectors.graph.delegated import DelegatedProvider, PublicClient
from connectors.settings import GraphSettings
from models.writeback import CONFLICT, FAILED, PENDING, RUNNING, SUCCEEDED, Action, Attempt
from pipelines.sync.routes import delegated_scopes
from pipelines.writeback.actions import SYNCED, resolve
from pipelines.writeback.catalogue import CATALOGUE
from pipelines.writeback.effects import LocalEffects
from pipelines.writeback.op import Body, Effect, Op, Retry
from pipelines.writeback.order import next_wave, packed, target
from pipelines.writeback.reconcile import Found, draft_body, graph_path, settle, stamped
from warehouse import Warehouse
from warehouse.queue import ActionQueue, Outcome

PER_USER = 4  # concurrent requests per mailbox (Outlook's limit)
THROTTLED = (429, 503, 504)


@dataclass
class ReplayReport:
    statuses: dict[str, int] = field(default_factory=dict)  # what this run ended, per status
    requests: int = 0
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)  # "id key: error" of actions that failed or conflicted
    pending: int = 0  # still pending at the end (throttled beyond the retries, or waiting on those)


@dataclass
class _Prepared:
    action: Action
    op: Op
    client: GraphClient  # the app's, or the acting user's own (delegated)
    params: dict[str, Any]  # with `@key.field` resolved
    given: dict[str, Any] | None  # the action's body, resolved
    method: str
    url: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    content: bytes | None = None
    drafting: bool = False  # a DRAFT op's first step: this request creates the marked draft

    @property
    def batchable(self) -> bool:
        return self.content is None and not self.op.asynchronous


class Replay:
    def __init__(self, settings: GraphSettings, queue: ActionQueue, warehouse: Warehouse,
                 app_client: GraphClient | None = None) -> None:
        self.settings = settings
        self.queue = queue
        self.effects = LocalEffects(warehouse)
        self._app_client = app_client
        self.report = ReplayReport()
        self._clients: dict[str, GraphClient] = {}
        self._public: PublicClient | None = None
        self._tried: set[int] = set()  # sent (or settled) in this run: a throttled one waits for the next run
        self._outcomes: list[Outcome] = []  # answered, not yet committed (see _commit)
        self.operation_timeout_s = 300.0  # how long a team operation is followed before it is left to Graph
        self._resumed: set[int] = set()  # drafts found unsent after a lost answer, sent again in this run

    async def run(self) -> ReplayReport:
        started = time.monotonic()
        async with self._connections():
            while True:
                await self._settle_running()
                wave = self._ready()
                if not wave:
                    break
                by_user: dict[str, list[Action]] = {}
                for action in wave:
                    by_user.setdefault(action.user or "", []).append(action)
                await asyncio.gather(*(self._user_wave(actions) for actions in by_user.values()))
            self.report.requests = sum(c.stats.requests for c in self._all_clients())
        self.report.pending = len(self.queue.actions([PENDING]))
        self.report.seconds = time.monotonic() - started
        return self.report

    # -- which actions, in which order ------------------------------------------------------------

    async def _settle_running(self) -> None:
        """Actions `running` between waves may have reached Graph: settle each (see reconcile.py)."""
        running = self.queue.actions([RUNNING])
        if not running:
            return
        slots = asyncio.Semaphore(PER_USER)

        async def one(action: Action) -> None:
            async with slots:
                await self._settle(action)

        await asyncio.gather(*(one(action) for action in running))
        self._commit()

    async def _settle(self, action: Action) -> None:
        op = CATALOGUE[action.op]
        if op.retry is Retry.NEVER:
            self._end(action, FAILED, error="outcome unknown: the request may have reached Graph and nothing "
                                            "finds its result; check in Graph before `writeback retry`")
            return
        try:
            p = self._prepare(action)
        except (LookupError, OSError) as exc:
            self._end(action, FAILED, error=f"outcome unknown: cannot look it up: {exc}")
            return
        verdict = await settle(p.client, op, action, p.params, p.given, as_app=p.client is self._app_client)
        if verdict.found is Found.DONE:
            result = verdict.result or action.result or {}
            self._end(action, SUCCEEDED, result=result, detail=f"settled after a lost answer: {verdict.why}")
            self.effects.add(op, action, p.params, p.given, result)
        elif verdict.found is Found.DRAFTED:
            self._end(action, PENDING, result=verdict.result, detail=f"settled: {verdict.why}; sending it")
            if action.id not in self._resumed:  # once per run: a connection that keeps breaking waits a run
                self._resumed.add(action.id or 0)
                self._tried.discard(action.id or 0)
        elif verdict.found is Found.ABSENT:
            self._end(action, PENDING, result={} if op.retry is Retry.DRAFT else None,
                      detail=f"settled after a lost answer: {verdict.why}; sending again")
        else:
            self._end(action, FAILED, error=f"outcome unknown: {verdict.why}; check in Graph before "
                                            "`writeback retry`")

    def _ready(self) -> list[Action]:
        """The next wave (order.py); actions whose dependency failed, conflicted or was cancelled fail."""
        pending = self.queue.actions([PENDING])
        done = self.queue.known_keys({key for action in pending for key in action.depends_on})
        ready, broken = next_wave(pending, done, self._tried)
        for action, why in broken:
            self._end(action, FAILED, error=why)
        self._tried.update(a.id or 0 for a in ready)
        self._commit()
        return ready

    # -- one user's wave -------------------------------------------------------------------------

    async def _user_wave(self, actions: list[Action]) -> None:
        slots = asyncio.Semaphore(PER_USER)
        prepared: list[_Prepared] = []
        for action in actions:
            try:
                prepared.append(self._prepare(action))
            except (LookupError, OSError) as exc:
                self._end(action, FAILED, error=str(exc))
        self._commit()
        by_client: dict[int, list[_Prepared]] = {}  # one user's actions may need the app's token and their own
        for p in prepared:
            if p.batchable:
                by_client.setdefault(id(p.client), []).append(p)
        single = [p for p in prepared if not p.batchable]
        groups = [group for same in by_client.values() for group in packed(same, lambda p: p.action)]

        async def guarded(coro: Any) -> None:
            async with slots:
                await coro
                self._commit()

        await asyncio.gather(*(guarded(self._send_batch(group)) for group in groups),
                             *(guarded(self._send_one(p)) for p in single))

    def _prepare(self, action: Action) -> _Prepared:
        op = CATALOGUE[action.op]
        results = self.queue.known_keys(action.depends_on)
        params = resolve(action.params, results)
        given = resolve(action.body, results) if action.body is not None else None
        body = given
        if op.retry is Retry.TRANSACTION_ID and isinstance(body, dict):
            # Graph drops a second create with the same transactionId: the retry is harmless.
            body = {"transactionId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"graphsync:{action.key}")), **body}
        if op.lookup is not None and op.lookup.marked:
            body = stamped(op.path, body, action)
        method, template = op.sent_as.split(" ", 1)
        draft = draft_body(op, given, action) if op.retry is Retry.DRAFT else None
        if draft is not None and (action.result or {}).get("id"):  # drafted in an earlier wave: now send it
            method, template, body = "POST", "/me/messages/{draft-id}/send", None
            params = {**params, "draft-id": action.result["id"]}
        drafting = draft is not None and not (action.result or {}).get("id")  # first step: create the draft
        if drafting:
            method, template = op.draft.split(" ", 1)
            body = draft
        client = self._client_for(action, op)
        path = graph_path(template, action, params, given, as_app=client is self._app_client)
        headers: dict[str, str] = {}
        if action.if_match:
            headers["If-Match"] = self.effects.synced_etag(op, action, params) if action.if_match == SYNCED \
                else action.if_match
        content = None
        if op.body is Body.CONTENT and action.content_file:
            with open(action.content_file, "rb") as handle:
                content = handle.read()
            headers["Content-Type"] = "application/octet-stream"
        return _Prepared(action, op, client, params, given, method, path, body, headers, content, drafting)

    # -- sending -----------------------------------------------------------------------------------

    async def _send_batch(self, group: list[_Prepared]) -> None:
        client = group[0].client
        ids = {str(i): p for i, p in enumerate(group)}
        attempts = self._begin(group, in_batch=len(group) > 1)
        requests = []
        for item_id, p in ids.items():
            headers = {**p.headers, "client-request-id": attempts[item_id].client_request_id}
            request: dict[str, Any] = {"id": item_id, "method": p.method, "url": p.url, "headers": headers}
            if item_id != "0" and target(ids[str(int(item_id) - 1)].action) == target(p.action):
                request["dependsOn"] = [str(int(item_id) - 1)]  # the one before it on the same item
            if p.body is not None:
                request["body"] = p.body
            requests.append(request)
        started = time.monotonic()
        try:
            answers = await client.batch(requests)
        except AuthError as exc:
            for item_id, p in ids.items():
                self._not_sent(p, attempts[item_id], exc)
            return
        except GraphUnreachable as exc:
            for item_id, p in ids.items():
                self._ambiguous(p, attempts[item_id], str(exc))
            return
        except GraphError as exc:
            for item_id, p in ids.items():
                self._answered(p, attempts[item_id], exc.status, {"error": {"code": exc.code, "message": str(exc)}},
                               exc.request_id, time.monotonic() - started)
            return
        for item_id, answer in zip(ids, answers, strict=True):
            headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
            self._answered(ids[item_id], attempts[item_id], int(answer.get("status", 0)), answer.get("body"),
                           headers.get("request-id"), time.monotonic() - started)

    async def _send_one(self, p: _Prepared) -> None:
        client = p.client
        attempt = self._begin([p], in_batch=False)["0"]
        started = time.monotonic()
        headers = {**p.headers, "client-request-id": attempt.client_request_id or ""}
        try:
            response = await client.request(p.method, p.url, json=p.body if p.content is None else None,
                                            content=p.content, headers=headers)
        except AuthError as exc:
            self._not_sent(p, attempt, exc)
            return
        except GraphUnreachable as exc:
            self._ambiguous(p, attempt, str(exc))
            return
        except GraphError as exc:
            self._answered(p, attempt, exc.status, {"error": {"code": exc.code, "message": str(exc)}},
                           exc.request_id, time.monotonic() - started)
            return
        body: Any = response.json() if response.content and "json" in response.headers.get("content-type", "") \
            else None
        if p.op.asynchronous and response.status_code == 202 and response.headers.get("location"):
            body = await self._follow(client, response.headers["location"])
            created = body.get("targetResourceLocation")
            if p.op.effect is Effect.INSERT and str(body.get("status", "")).lower() == "succeeded" and created:
                body = await client.get(created)  # a shared channel: the channel itself is the result
        self._answered(p, attempt, response.status_code, body, response.headers.get("request-id"),
                       time.monotonic() - started)

    async def _follow(self, client: GraphClient, location: str) -> dict[str, Any]:
        """A long-running Teams operation (teamsAsyncOperation) followed to its end, or to the
        deadline. Polls back off towards the 30 s between checks that team-post.md asks for."""
        deadline = time.monotonic() + self.operation_timeout_s
        delay = 1.0
        while True:
            operation = await client.get(location)
            operation.setdefault("@graphsync.location", location)
            status = str(operation.get("status", "")).lower()
            if status in ("succeeded", "failed") or time.monotonic() + delay > deadline:
                return operation
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    # -- outcomes ----------------------------------------------------------------------------------

    def _begin(self, group: list[_Prepared], in_batch: bool) -> dict[str, Attempt]:
        now = datetime.now(UTC)
        attempts = {str(i): Attempt(action_id=p.action.id or 0, started_at=now, in_batch=in_batch,
                                    client_request_id=str(uuid.uuid4())) for i, p in enumerate(group)}
        self.queue.begin_attempts([(p.action.id or 0, attempts[str(i)]) for i, p in enumerate(group)])
        return attempts

    def _answered(self, p: _Prepared, attempt: Attempt, status: int, body: Any, request_id: str | None,
                  seconds: float) -> None:
        attempt.http_status, attempt.request_id, attempt.seconds = status, request_id, seconds
        if 200 <= status < 300:
            operation = str(body.get("status", "")).lower() if p.op.asynchronous and isinstance(body, dict) \
                and "@graphsync.location" in body else "succeeded"
            if operation == "failed":
                attempt.error = _error_line(status, body)
                self._end(p.action, FAILED, attempt=attempt, error=f"the operation failed: {body.get('error')}")
                return
            if operation != "succeeded":  # accepted by Graph, not finished by the deadline: never resent
                self._end(p.action, FAILED, attempt=attempt, error=f"outcome unknown: the operation is still "
                          f"{operation} after {self.operation_timeout_s:.0f} s; see {body['@graphsync.location']}")
                return
            result = body if isinstance(body, dict) else {}
            if p.drafting:
                # The marked draft exists: the next wave sends it.
                self._end(p.action, PENDING, attempt=attempt, result=result, detail="draft created; sending it")
                self._tried.discard(p.action.id or 0)
                return
            # Graph's answer is what counts; a status other than the documented one is kept in the history.
            documented = p.op.success_app if p.op.success_app and p.client is self._app_client else p.op.success
            odd = None if status in (documented, 202) else f"answered {status}, documented {documented}"
            self._end(p.action, SUCCEEDED, attempt=attempt, result=result or None, detail=odd)
            self.effects.add(p.op, p.action, p.params, p.given, result or p.action.result or {})
            return
        attempt.error = _error_line(status, body)
        if status == 412:
            self._end(p.action, CONFLICT, attempt=attempt, error=f"conflict: {attempt.error}")
        elif status == 424:  # the one before it on its item failed, so Graph did not run it: next wave, alone
            self._end(p.action, PENDING, attempt=attempt, detail="not run: the action before it failed")
            self._tried.discard(p.action.id or 0)
        elif status in THROTTLED:
            self._end(p.action, PENDING, attempt=attempt, error=f"throttled; sent again next run: {attempt.error}")
        else:
            self._end(p.action, FAILED, attempt=attempt, error=attempt.error)

    def _not_sent(self, p: _Prepared, attempt: Attempt, exc: AuthError) -> None:
        """No token: nothing reached Graph. Failed, so `writeback retry --failed` sends it once fixed."""
        attempt.error = str(exc)
        fix = f"; write-back needs `graphsync login --user {p.action.user} --writeback`" if p.action.user else ""
        self._end(p.action, FAILED, attempt=attempt, error=f"not sent: {exc}{fix}")

    def _ambiguous(self, p: _Prepared, attempt: Attempt, why: str) -> None:
        attempt.error = why
        if p.op.retry in (Retry.SAFE, Retry.TRANSACTION_ID):
            self._end(p.action, PENDING, attempt=attempt, error=f"no answer; safe to send again: {why}")
        elif p.op.retry is Retry.NEVER:
            self._end(p.action, FAILED, attempt=attempt, error=f"outcome unknown (no answer from Graph): {why}")
        else:  # stays running: settled (looked up in Graph) before the next wave
            self._end(p.action, RUNNING, attempt=attempt, detail=f"no answer; to be looked up: {why}")

    def _commit(self) -> None:
        """Store the answers received and write their local effects: one queue commit and one
        warehouse transaction per request, not per action. An answer lost to a crash before this
        leaves its action `running`, which the next run settles as an ambiguous outcome."""
        outcomes, self._outcomes = self._outcomes, []
        self.queue.finish(outcomes)
        self.effects.flush()

    def _end(self, action: Action, status: str, *, attempt: Attempt | None = None,
             result: dict[str, Any] | None = None, error: str | None = None, detail: str | None = None) -> None:
        self._outcomes.append(Outcome(action.id or 0, status, attempt, result, error, detail))
        if status not in (PENDING, RUNNING):
            self.report.statuses[status] = self.report.statuses.get(status, 0) + 1
        if status in (FAILED, CONFLICT):
            self.report.failed.append(f"{action.id} {action.key}: {error}")

    # -- clients ---------------------------------------------------------------------------------

    def _client_for(self, action: Action, op: Op) -> GraphClient:
        if self.settings.auth == "app" and op.app_only:
            assert self._app_client is not None
            return self._app_client
        user = (action.user or "").lower()
        if user not in self._clients:
            if self._public is None:  # opened on the first delegated action: app-only runs never read the cache
                self._public = PublicClient(self.settings)
            account = self._public.account(user)
            if account is None:
                raise LookupError(f"{op.name} needs {action.user} signed in: "
                                  f"run `graphsync login --user {action.user}`")
            provider = DelegatedProvider(self._public, account, delegated_scopes(self.settings, writeback=True))
            self._clients[user] = GraphClient(self.settings, token_provider=provider)
        return self._clients[user]

    def _all_clients(self) -> list[GraphClient]:
        return [*([self._app_client] if self._app_client else []), *self._clients.values()]

    @contextlib.asynccontextmanager
    async def _connections(self) -> AsyncIterator[None]:
        if self.settings.auth == "app" and self._app_client is None:
            self._app_client = GraphClient(self.settings)
        try:
            yield
        finally:
            for client in self._all_clients():
                await client.aclose()
            if self._public is not None:
                self._public.close()


def _error_line(status: int, body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return f"{status} {error.get('code', '')}: {' '.join(str(error.get('message', '')).split())}"[:300]
    return f"HTTP {status}"
