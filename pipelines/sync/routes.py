"""Which Graph client reads each scope: the app's one client, or each signed-in account's own.

App-only, one client (one token) reads everything. Delegated, every signed-in account has its own
client, and a scope is read with the token of someone allowed to read it:

- a mailbox (a person's mail, calendar, drive and chats, through `/me`) by its owner;
- a chat by one of the accounts whose chat list gave it, a team by one of those who joined it;
  if that one is refused (403) or finds nothing (404), the next account is tried, and whoever
  answered reads the rest of that chat or team;
- a tenant-wide root by the accounts themselves: each one's profile (`Accounts.EACH`), or the union
  of what each one lists (`Accounts.UNION`: the teams any of them joined), as one round.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from connectors.graph import AuthError, ClientStats, GraphClient, GraphError
from connectors.graph.client import WaitClock
from connectors.graph.delegated import DelegatedProvider, PublicClient, graph_scopes
from connectors.settings import GraphSettings
from pipelines.sync.fetch import CoalescingFetcher, DirectFetcher, PageFetcher
from pipelines.sync.plan import Accounts, Root, StreamSpec
from pipelines.sync.streams import DELEGATED_PLAN

Scope = dict[str, str]


class Routes(Protocol):
    delegated: bool

    def roots(self, spec: StreamSpec) -> list[tuple[Scope, PageFetcher]]:
        """The scopes of a root stream, each with the fetcher that reads it."""
        ...

    def instance(self, root: Root, scope: Scope, users: Iterable[str]) -> PageFetcher:
        """The fetcher of one mailbox, team or chat; `users`: the users whose rows gave its scope."""
        ...

    def mailboxes(self) -> set[str] | None:
        """The only mailboxes that may be synced (the signed-in accounts); None: any."""
        ...

    def mailbox_client(self, user_id: str) -> tuple[GraphClient, str]:
        """The client that reads a mailbox directly (not a page fetcher), and the path of that
        mailbox for it: `/users/{id}` app-only, `/me` as its owner."""
        ...

    def stats(self) -> ClientStats:
        """Requests, retries and throttling of every client so far."""
        ...


def _fetcher(client: GraphClient, batch_requests: bool) -> PageFetcher:
    return CoalescingFetcher(client) if batch_requests else DirectFetcher(client)


@dataclass
class AppRoutes:
    """App-only: the tenant-wide client reads every scope."""

    client: GraphClient
    batch_requests: bool = True
    delegated: bool = False

    def __post_init__(self) -> None:
        self.fetcher = _fetcher(self.client, self.batch_requests)

    def roots(self, spec: StreamSpec) -> list[tuple[Scope, PageFetcher]]:
        return [({}, self.fetcher)]

    def mailbox_client(self, user_id: str) -> tuple[GraphClient, str]:
        return self.client, f"/users/{user_id}"

    def instance(self, root: Root, scope: Scope, users: Iterable[str]) -> PageFetcher:
        return self.fetcher

    def mailboxes(self) -> set[str] | None:
        return None

    def stats(self) -> ClientStats:
        return self.client.stats


@dataclass
class Account:
    user_id: str
    username: str
    client: GraphClient
    fetcher: PageFetcher


@dataclass
class AccountRoutes:
    """Delegated: each scope is read by a signed-in account allowed to read it (see the module text)."""

    accounts: dict[str, Account]  # by user id, in sign-in order
    delegated: bool = True
    # Who listed each item of a UNION root (team id -> user ids): the team's own reads go to them first.
    listed_by: dict[str, list[str]] = field(default_factory=dict)

    def mailbox_client(self, user_id: str) -> tuple[GraphClient, str]:
        return self.accounts[user_id].client, "/me"

    def roots(self, spec: StreamSpec) -> list[tuple[Scope, PageFetcher]]:
        if spec.accounts is Accounts.EACH:
            return [({"user_id": user_id}, account.fetcher) for user_id, account in self.accounts.items()]
        if spec.accounts is Accounts.UNION:
            return [({}, UnionFetcher(self, spec.first_url({})))]
        raise ValueError(f"{spec.name} is not a delegated root")

    def instance(self, root: Root, scope: Scope, users: Iterable[str]) -> PageFetcher:
        if root is Root.MAILBOX:
            return self.accounts[scope["user_id"]].fetcher
        hinted = [*users, *(user for value in scope.values() for user in self.listed_by.get(value, []))]
        return FirstAllowed(self.ordered(hinted))

    def mailboxes(self) -> set[str] | None:
        return set(self.accounts)

    def stats(self) -> ClientStats:
        total = ClientStats()
        for account in self.accounts.values():
            for name in (f.name for f in fields(ClientStats)):
                setattr(total, name, getattr(total, name) + getattr(account.client.stats, name))
        # Their clients share one WaitClock: the run's throttled time is its reading, not a sum.
        total.seconds_throttled = max((a.client.stats.seconds_throttled for a in self.accounts.values()), default=0.0)
        return total

    def ordered(self, first: Iterable[str]) -> list[PageFetcher]:
        """Every account's fetcher, those of `first` (user ids) first."""
        order = [u for u in dict.fromkeys(first) if u in self.accounts]
        order += [u for u in self.accounts if u not in order]
        return [self.accounts[u].fetcher for u in order]


def _denied(exc: GraphError) -> bool:
    """This account may not read it (or cannot see it): another one might."""
    return exc.status in (403, 404)


@dataclass
class FirstAllowed:
    """Fetch as the first account that is allowed to; it then reads the rest (of a chat, a team)."""

    fetchers: list[PageFetcher]

    async def get(self, url: str, headers: dict[str, str], small: bool = False) -> dict[str, Any]:
        first_error: GraphError | None = None
        for index, fetcher in enumerate(self.fetchers):
            try:
                page = await fetcher.get(url, headers, small)
            except GraphError as exc:
                if not _denied(exc):
                    raise
                first_error = first_error or exc
                continue
            if index:
                self.fetchers.insert(0, self.fetchers.pop(index))
            return page
        assert first_error is not None
        raise first_error


@dataclass
class UnionFetcher:
    """One list read as every account, as one page: the union by id (a team listed by two people is
    one row). Other reads of the round (each team read whole) go to an account that listed it."""

    routes: AccountRoutes
    list_url: str

    async def get(self, url: str, headers: dict[str, str], small: bool = False) -> dict[str, Any]:
        if url != self.list_url:
            hinted = [user for item_id, users in self.routes.listed_by.items() if item_id in url for user in users]
            return await FirstAllowed(self.routes.ordered(hinted)).get(url, headers, small)
        union: dict[str, dict[str, Any]] = {}
        for user_id, account in self.routes.accounts.items():
            link: str | None = url
            while link:
                page = await account.fetcher.get(link, headers, small)
                for item in page.get("value", []):
                    union.setdefault(item["id"], item)
                    self.routes.listed_by.setdefault(item["id"], []).append(user_id)
                link = page.get("@odata.nextLink")
        return {"value": list(union.values())}


def delegated_scopes(settings: GraphSettings, tables: Iterable[str] | None = None,
                     writeback: bool = False) -> list[str]:
    """The scopes a signed-in person consents to: the least privileged one of each table's stream
    and, for write-back, of each op Graph allows delegated. Sign-in asks for all of them at once, so
    a later sync (or write-back) never has to ask again."""
    chosen = set(tables or DELEGATED_PLAN.tables)
    wanted = [s.delegated_permission for s in DELEGATED_PLAN.streams.values()
              if s.table in chosen and s.delegated_permission]
    if writeback:
        from pipelines.writeback.catalogue import OPS

        wanted += [op.delegated_permission for op in OPS if op.delegated and op.delegated_permission]
    return graph_scopes(settings, wanted)


def pick_accounts(signed_in: list[dict[str, Any]], wanted: Iterable[str]) -> list[dict[str, Any]]:
    """The signed-in MSAL accounts to sync: all, or those named (UPN or user id) by --user."""
    wanted = list(wanted)
    if not signed_in:
        raise AuthError("nobody is signed in for delegated sync: run `graphsync login --user UPN` first "
                        "(or set GRAPH_CLIENT_SECRET and GRAPH_AUTH=app for app-only sync)")
    if not wanted:
        return signed_in
    chosen = []
    for name in wanted:
        found = next((a for a in signed_in if name.lower() in (a.get("username", "").lower(),
                                                               a.get("local_account_id", "").lower())), None)
        if found is None:
            raise LookupError(f"{name} is not signed in: run `graphsync login --user {name}` "
                              "(see `graphsync accounts`)")
        chosen.append(found)
    return chosen


@contextlib.asynccontextmanager
async def account_routes(settings: GraphSettings, users: Iterable[str], scopes: list[str],
                         batch_requests: bool = True) -> AsyncIterator[AccountRoutes]:
    """A client per signed-in account (of `users`, default all), each renewing its own tokens."""
    public = PublicClient(settings)
    try:
        async with contextlib.AsyncExitStack() as stack:
            accounts: dict[str, Account] = {}
            waits = WaitClock()  # the run's throttled time, whichever account waited
            for signed_in in pick_accounts(public.accounts(), users):
                provider = DelegatedProvider(public, signed_in, scopes)
                client = await stack.enter_async_context(GraphClient(settings, token_provider=provider,
                                                                     wait_clock=waits))
                user_id = str(signed_in.get("local_account_id") or "")
                accounts[user_id] = Account(user_id, provider.username, client, _fetcher(client, batch_requests))
            yield AccountRoutes(accounts)
    finally:
        public.close()


@contextlib.asynccontextmanager
async def app_routes(client: GraphClient, batch_requests: bool = True) -> AsyncIterator[AppRoutes]:
    async with client:
        yield AppRoutes(client, batch_requests)
