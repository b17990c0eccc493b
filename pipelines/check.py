"""`graphsync check`: can this app read each table? One cheap read per stream of the sync plan.

The reads follow the plan: a stream is tried on one scope taken from its parent's first row (the
first user's mailbox, that mailbox's first folder, the first team's first channel...), asking for
a page of one item. Each table ends up in one state:

- `readable`;
- `missing PERMISSION`: Graph answered 403; the stream's least privileged permission is named;
- `no mailbox or licence`: the user has no Exchange Online mailbox (or OneDrive) to read;
- `nothing to try`: its parent has no rows to take a scope from (a tenant without teams);
- `not reachable`: any other answer, or a parent that could not be read.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any

from connectors.graph import GraphClient, GraphError
from connectors.settings import GraphSettings
from pipelines.sync.plan import Accounts, Kind, Plan, StreamSpec
from pipelines.sync.routes import account_routes, delegated_scopes
from pipelines.sync.scopes import project
from pipelines.sync.streams import plan_for

READABLE = "readable"
NO_MAILBOX_CODES = {"MailboxNotEnabledForRESTAPI", "MailboxNotHostedInExchangeOnline", "ErrorInvalidUser",
                    "ResourceNotFound", "itemNotFound"}


@dataclass(frozen=True)
class TableCheck:
    table: str
    state: str  # readable | missing PERMISSION | no mailbox or licence | nothing to try | not reachable
    detail: str = ""  # the Graph error or the reason, one line

    @property
    def ok(self) -> bool:
        return self.state in (READABLE, "nothing to try")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


async def check(settings: GraphSettings, tables: tuple[str, ...],
                client: GraphClient | None = None) -> list[TableCheck]:
    """A state per selected table, in plan order; the streams their scopes come from are tried too.
    App-only, the reads go to the tenant's first user (team, chat...); delegated, to the first
    signed-in account's own data."""
    if settings.auth != "delegated":
        async with client or GraphClient(settings) as graph:
            return await _check(graph, plan_for(False), tables, None)
    async with account_routes(settings, (), delegated_scopes(settings)) as routes:
        first = next(iter(routes.accounts.values()))
        return await _check(first.client, plan_for(True), tables, first.user_id)


async def _check(graph: GraphClient, plan: Plan, tables: tuple[str, ...], me: str | None) -> list[TableCheck]:
    wanted = [name for name in plan.selection(tables) if plan.primary[plan[name].table] == name]
    names = list(dict.fromkeys([*_ancestors(plan, wanted), *wanted]))
    samples: dict[str, dict[str, Any] | None] = {}  # stream -> its first row as columns, None: unreadable
    results: dict[str, TableCheck] = {}
    for name in names:  # parents first: each stream needs its parent's sample row
        results[name], samples[name] = await _try(graph, plan, plan[name], samples, me)
    chosen = set(tables)
    by_table = {r.table: r for name, r in results.items() if plan[name].table in chosen}
    return [by_table[t] for t in plan.tables if t in by_table]


def _ancestors(plan: Plan, names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        parent = plan[name].parent
        chain = []
        while parent is not None:
            chain.append(parent.stream)
            parent = plan[parent.stream].parent
        out += reversed(chain)
    return out


async def _try(graph: GraphClient, plan: Plan, spec: StreamSpec, samples: dict[str, dict[str, Any] | None],
               me: str | None) -> tuple[TableCheck, dict[str, Any] | None]:
    scope: dict[str, str] = {"user_id": me} if spec.accounts is Accounts.EACH and me else {}
    if spec.parent is not None:
        parent_table = plan[spec.parent.stream].table
        parent_row = samples.get(spec.parent.stream)
        if parent_row is None:
            return TableCheck(spec.table, "not reachable", f"{parent_table} could not be read"), None
        if not parent_row:
            return TableCheck(spec.table, "nothing to try", f"no {parent_table} to try"), {}
        scope = {name: str(parent_row.get(column) or "") for name, column in spec.parent.fields}
    try:
        page = await graph.get(spec.first_url(scope), headers={"Prefer": "odata.maxpagesize=1", **spec.headers})
    except GraphError as exc:
        return TableCheck(spec.table, _state_of(spec, exc, plan.is_delegated), str(exc)), None
    item = page if spec.kind is Kind.SINGLE else next(iter(page.get("value") or []), None)
    return TableCheck(spec.table, READABLE), (project(spec, scope, item, plan.row_columns(spec.name)) if item else {})


def _state_of(spec: StreamSpec, exc: GraphError, delegated: bool) -> str:
    if exc.status == 403:
        permission = spec.permission(delegated)
        return f"missing {permission}" if permission else "missing a permission"
    if exc.status == 404 and (exc.code in NO_MAILBOX_CODES or spec.kind is Kind.SINGLE):
        return "no mailbox or licence"
    return "not reachable"


def run_check(settings: GraphSettings, tables: tuple[str, ...]) -> list[TableCheck]:
    return asyncio.run(check(settings, tables))


def render(results: list[TableCheck]) -> str:
    width = max(len(r.table) for r in results)
    lines = [f"{'table'.ljust(width)}  state"]
    for r in results:
        lines.append(f"{r.table.ljust(width)}  {r.state}" + (f"  ({r.detail})" if r.detail and not r.ok else ""))
    return "\n".join(lines)
