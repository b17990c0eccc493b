"""Delegated routing: the delegated plan, and which signed-in account reads a scope."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from connectors.graph import AuthError, GraphClient, GraphError
from pipelines.sync.plan import Accounts, Root
from pipelines.sync.routes import Account, AccountRoutes, FirstAllowed, pick_accounts
from pipelines.sync.streams import DELEGATED_PLAN, PLAN


def test_the_delegated_plan_reads_each_persons_own_data_through_me() -> None:
    assert DELEGATED_PLAN.tables == PLAN.tables
    for name, spec in DELEGATED_PLAN.streams.items():
        app = PLAN[name]
        if app.path.startswith("/users/{user_id}"):
            assert spec.path == "/me" + app.path.removeprefix("/users/{user_id}"), name
        if spec.parent is None:
            assert spec.accounts is not None, f"{name}: a delegated root says how accounts read it"
        assert spec.delegated_permission, name
    assert DELEGATED_PLAN["users"].accounts is Accounts.EACH and DELEGATED_PLAN["users"].path == "/me"
    assert DELEGATED_PLAN["teams"].accounts is Accounts.UNION
    assert DELEGATED_PLAN["teams"].path == "/me/joinedTeams"


def test_a_delegated_plan_must_say_how_its_roots_are_read() -> None:
    with pytest.raises(ValueError, match="must say how accounts read it"):
        PLAN.delegated(())


def _refused(status: int) -> GraphError:
    return GraphError(status, "Forbidden" if status == 403 else "NotFound", "no", None, "/x")


@dataclass
class FakeFetcher:
    name: str
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)
    refuse: int | None = None
    calls: list[str] = field(default_factory=list)

    async def get(self, url: str, headers: dict[str, str], small: bool = False) -> dict[str, Any]:
        self.calls.append(url)
        if self.refuse:
            raise _refused(self.refuse)
        return self.pages.get(url, {"value": [], "by": self.name})


def _routes(*fetchers: FakeFetcher) -> AccountRoutes:
    return AccountRoutes({f.name: Account(f.name, f"{f.name}@contoso.com", cast(GraphClient, None), f)
                          for f in fetchers})


def test_a_refused_account_hands_the_read_to_the_next_one_who_then_keeps_it() -> None:
    outsider, member = FakeFetcher("a", refuse=403), FakeFetcher("b")
    first = FirstAllowed([outsider, member])
    assert asyncio.run(first.get("/chats/1/members", {}))["by"] == "b"
    asyncio.run(first.get("/chats/1/messages", {}))
    assert outsider.calls == ["/chats/1/members"] and len(member.calls) == 2


def test_when_every_account_is_refused_the_first_refusal_is_raised() -> None:
    with pytest.raises(GraphError) as refused:
        asyncio.run(FirstAllowed([FakeFetcher("a", refuse=403), FakeFetcher("b", refuse=404)]).get("/x", {}))
    assert refused.value.status == 403


def test_other_errors_are_not_retried_as_someone_else() -> None:
    broken, other = FakeFetcher("a", refuse=500), FakeFetcher("b")
    with pytest.raises(GraphError):
        asyncio.run(FirstAllowed([broken, other]).get("/x", {}))
    assert other.calls == []


def test_a_union_root_is_one_page_of_what_every_account_lists_and_remembers_who_listed_it() -> None:
    a = FakeFetcher("a", {"/me/joinedTeams": {"value": [{"id": "t1"}, {"id": "t2"}], "@odata.nextLink": "next"},
                          "next": {"value": [{"id": "t3"}]}})
    b = FakeFetcher("b", {"/me/joinedTeams": {"value": [{"id": "t2", "late": True}, {"id": "t4"}]}})
    routes = _routes(a, b)
    ((scope, union),) = routes.roots(DELEGATED_PLAN["teams"])
    page = asyncio.run(union.get("/me/joinedTeams", {}))
    assert scope == {} and [i["id"] for i in page["value"]] == ["t1", "t2", "t3", "t4"]
    assert "@odata.nextLink" not in page and "late" not in page["value"][1]
    assert routes.listed_by == {"t1": ["a"], "t2": ["a", "b"], "t3": ["a"], "t4": ["b"]}
    # A team's own reads go first to someone who listed it.
    asyncio.run(routes.instance(Root.TEAM, {"team_id": "t4"}, []).get("/teams/t4/allChannels", {}))
    assert b.calls[-1] == "/teams/t4/allChannels" and "/teams/t4/allChannels" not in a.calls


def test_each_account_reads_its_own_profile_and_mailbox() -> None:
    a, b = FakeFetcher("a"), FakeFetcher("b")
    routes = _routes(a, b)
    assert [(scope, f) for scope, f in routes.roots(DELEGATED_PLAN["users"])] == [({"user_id": "a"}, a),
                                                                                 ({"user_id": "b"}, b)]
    assert routes.instance(Root.MAILBOX, {"user_id": "b"}, []) is b
    assert routes.mailboxes() == {"a", "b"}


def test_accounts_are_picked_by_upn_or_id_and_a_missing_one_is_named() -> None:
    signed_in = [{"username": "Adele@contoso.com", "local_account_id": "id-a"},
                 {"username": "lee@contoso.com", "local_account_id": "id-l"}]
    assert pick_accounts(signed_in, []) == signed_in
    assert pick_accounts(signed_in, ["adele@contoso.com", "id-l"]) == signed_in
    with pytest.raises(LookupError, match="graphsync login --user nobody@contoso.com"):
        pick_accounts(signed_in, ["nobody@contoso.com"])
    with pytest.raises(AuthError, match="nobody is signed in"):
        pick_accounts([], [])
