"""Teams and their members, team operations, and the Microsoft 365 groups behind teams."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime

from connectors.simulator import ids
from connectors.simulator.http import ApiError, Request, Response, Router, bad_request, json_response
from connectors.simulator.store import Item
from connectors.simulator.teams.model import (
    channel_id,
    group_object,
    member_id,
    member_object,
    team_object,
    team_url,
)
from connectors.simulator.teams.operations import Operation, render
from connectors.simulator.teams.query import bind_target, bound_user, page, writable
from connectors.simulator.teams.seed import add_channel
from connectors.simulator.teams.state import Holder, OnHolder, Store, TeamState, empty_store, update_item
from connectors.simulator.tenant import public
from connectors.simulator.views import directory_limits, select

_TEAM_WRITABLE = {"displayName", "description", "visibility", "classification", "specialization", "memberSettings",
                  "guestSettings", "messagingSettings", "funSettings", "discoverySettings"}
# teams-list.md: "returns only the id, displayName, and description properties"
_TEAM_LIST_FIELDS = ("id", "displayName", "description")


class TeamRoutes(OnHolder):
    def register(self, r: Router) -> None:
        t = "/teams/{team}"
        r.add("GET", "/teams", self.list_teams)
        r.add("POST", "/teams", self.create_team)
        r.add("GET", "/users/{user}/joinedTeams", self.joined_teams)
        r.add("GET", t, self.get_team)
        r.add("PATCH", t, self.update_team)
        r.add("DELETE", t, self.delete_team)
        r.add("POST", f"{t}/archive", self.archive(True))
        r.add("POST", f"{t}/unarchive", self.archive(False))
        r.add("GET", f"{t}/operations/{{operation}}", self.get_operation)
        r.add("GET", f"{t}/members", self.list_team_members)
        r.add("POST", f"{t}/members", self.add_team_member)
        r.add("POST", f"{t}/members/add", self.add_team_members)
        r.add("GET", "/groups", self.list_groups)
        r.add("GET", "/groups/{group}", self.get_group)
        r.add("DELETE", "/groups/{group}", self.delete_team)

    # -- teams -----------------------------------------------------------------------------------
    def list_teams(self, req: Request) -> Response:
        """List teams: only id, displayName and description; $filter, $select, $top, $skiptoken and
        $count (teams-list.md). Get team returns the whole object."""
        summaries = ({k: v.get(k) for k in _TEAM_LIST_FIELDS} for _, v in self.state.team_items())
        return page(req, summaries, filterable=True)

    def joined_teams(self, req: Request) -> Response:
        user = req.params["user"]
        joined = (public(v) for k, v in self.state.team_items()
                  if self.state.team_state[k].members.get(member_id(k, user)) is not None)
        return page(req, joined)

    def get_team(self, req: Request) -> Response:
        _, item = self.state.team(req.params["team"])
        return json_response(select(public(item), req))

    def create_team(self, req: Request) -> Response:
        """202 with Location/Content-Location; app-only callers must name an owner (team-post.md).
        The team exists, and is visible, only once its createTeam operation has succeeded."""
        body = req.json()
        name = body.get("displayName")
        if not name:
            raise bad_request("displayName is required to create a team.")
        member_ids = list(dict.fromkeys(bound_user(self.holder.tenant, m) for m in body.get("members") or []))
        if req.principal and req.principal.user_id and req.principal.user_id not in member_ids:
            member_ids.insert(0, req.principal.user_id)  # the signed-in creator becomes the owner
        if not member_ids:
            raise bad_request("A team owner must be provided in 'members' when creating a team with application "
                              "permissions.")
        team, item = self._new_team(name, body, member_ids)

        def create() -> None:
            self.state.teams.coll.put_new(team.id, item)
            self.state.team_state[team.id] = team

        return accepted(self.holder, team.id, "createTeam", create)

    def _new_team(self, name: str, body: dict, member_ids: list[str]) -> tuple[TeamState, Item]:
        tenant = self.holder.tenant
        key = ids.guid(tenant.seed, tenant.new_key("team"))
        item = team_object(tenant.config.tenant_id, key, name, body.get("description") or "",
                           body.get("visibility") or "public", datetime.now(UTC))
        item.update({k: copy.deepcopy(v) for k, v in body.items() if k in _TEAM_WRITABLE - {"displayName"}})
        general = channel_id(tenant.seed, key, 0)
        item["internalId"], item["webUrl"] = general, team_url(tenant.config.tenant_id, key, general)
        team = TeamState(key, empty_store(tenant, f"channels/{key}"), {}, empty_store(tenant, f"teamMembers/{key}"))
        for i, user in enumerate(member_ids):
            team.members.coll.put_new(member_id(key, user), member_object(
                key, tenant.person(user), ["owner"] if i == 0 else [], tenant.config.tenant_id))
        for i, spec in enumerate([{"displayName": "General"}, *(body.get("channels") or [])]):
            add_channel(tenant, team, channel_id(tenant.seed, key, i), spec, member_ids[:1])
        return team, item

    def get_operation(self, req: Request) -> Response:
        """GET of a teamsAsyncOperation: each poll moves it on (resources/teamsasyncoperation.md). It is
        readable while its team is still being created, so it is not looked up through the team."""
        op = self.state.operations.observe(req.params["team"], req.params["operation"])
        return json_response(select(render(op, req), req))

    def update_team(self, req: Request) -> Response:
        """Update team: 204 (team-update.md); refused while the team is archived (team-archive.md)."""
        team, item = self.state.writable_team(req.params["team"])
        update_item(self.state.teams, team.id, item, writable(req.json(), _TEAM_WRITABLE, "team"))
        return Response(204)

    def delete_team(self, req: Request) -> Response:
        """Delete the team's group (DELETE /groups/{id}, resources/team.md), also served as DELETE /teams/{id}."""
        team, _ = self.state.team(req.params.get("team") or req.params["group"])
        self.state.teams.coll.remove(team.id)
        del self.state.team_state[team.id]
        for cid in team.channel_state:
            self.holder.tenant.chains.evict(f"chatMessages/{cid}")
        return Response(204)

    def archive(self, archived: bool) -> Callable[[Request], Response]:
        """archive / unarchive (team-archive.md, team-unarchive.md): 202 and an operation; isArchived
        changes, on the team and its channels, when the operation succeeds."""
        def handle(req: Request) -> Response:
            team, _ = self.state.team(req.params["team"])
            params = req.action_params()
            if archived and params.get("shouldSetSpoSiteReadOnlyForMembers") is not None and \
                    req.principal is not None and req.principal.user_id is None:
                # team-archive.md: "The shouldSetSpoSiteReadOnlyForMembers parameter isn't supported in
                # the application context."
                raise bad_request("The shouldSetSpoSiteReadOnlyForMembers parameter isn't supported in the "
                                  "application context.")

            def change() -> None:
                item = self.state.teams.get(team.id)
                if item is None:
                    raise ApiError(404, "NotFound", f"No team found with Group Id {team.id}")
                update_item(self.state.teams, team.id, item, {"isArchived": archived})
                # channel-archive.md: "If you archive a team, its channels are also archived."
                for cid, channel in team.channels.items():
                    update_item(team.channels, cid, channel, {"isArchived": archived})

            return accepted(self.holder, team.id, "archiveTeam" if archived else "unarchiveTeam", change)

        return handle

    # -- groups ----------------------------------------------------------------------------------
    def list_groups(self, req: Request) -> Response:
        """List groups: the team-backed Microsoft 365 groups, the only groups the simulator models.
        `$filter=resourceProvisioningOptions/Any(x:x eq 'Team')` selects them
        (concepts/teams-list-all-teams.md); directory paging with $top up to 999 (group-list.md)."""
        groups = (self._group(v) for _, v in self.state.team_items())
        return page(req, groups, directory_limits(), filterable=True)

    def get_group(self, req: Request) -> Response:
        self.state.operations.settle_due()
        item = self.state.teams.get(req.params["group"])
        if item is None:
            raise ApiError(404, "Request_ResourceNotFound",
                           f"Resource '{req.params['group']}' does not exist or one of its queried reference-property "
                           "objects are not present.")
        return json_response(select(self._group(item), req))

    def _group(self, team: dict) -> dict:
        return group_object(team, self.holder.tenant.config.tenant_domain)

    # -- members ---------------------------------------------------------------------------------
    def list_team_members(self, req: Request) -> Response:
        team, _ = self.state.team(req.params["team"])
        return page(req, (public(m) for _, m in team.members.items()))

    def add_team_member(self, req: Request) -> Response:
        team, _ = self.state.team(req.params["team"])
        return json_response(add_member(self.holder, team.members, team.id, req.json()), 201)

    def add_team_members(self, req: Request) -> Response:
        team, _ = self.state.team(req.params["team"])
        return add_members(self.holder, req, team.members, team.id)


def accepted(holder: Holder, team_id: str, operation: str, apply: Callable[[], None],
             target: str | None = None) -> Response:
    """Start a teamsAsyncOperation and answer 202: `Location: /teams('{id}')/operations('{opId}')`,
    `Content-Location` the target (the team unless `target` names another), no body (team-post.md,
    team-archive.md). `apply` makes the change when the operation succeeds (teams/operations.py)."""
    tenant = holder.tenant
    op_id = ids.guid(tenant.seed, tenant.new_key("teamsop"))
    location = target or f"/teams('{team_id}')"
    target_id = location.rsplit("('", 1)[-1].rstrip("')")
    holder.state.operations.start(Operation(op_id, operation, team_id, target_id, location, apply))
    return Response(202, None, {"location": f"/teams('{team_id}')/operations('{op_id}')",
                                "content-location": location, "content-type": "application/json"})


def add_member(holder: Holder, store: Store, container: str, body: dict) -> dict:
    """Add a conversationMember to a team or channel; adding twice leaves one membership."""
    user = bound_user(holder.tenant, body)
    key = member_id(container, user)
    existing = store.get(key)
    if existing is not None:
        return public(existing)
    item = member_object(container, holder.tenant.person(user), list(body.get("roles") or []),
                         holder.tenant.config.tenant_id)
    store.coll.put_new(key, item)
    return item


def add_members(holder: Holder, req: Request, store: Store, container: str,
                adder: Callable[[dict], dict] | None = None) -> Response:
    """conversationMember: add: 200 when every member was added, 207 when some were not
    (conversationmembers-add.md)."""
    values = req.action_params().get("values")
    if not isinstance(values, list) or not values:
        raise bad_request("The 'values' parameter is required.")
    add = adder or (lambda value: add_member(holder, store, container, value))
    results = []
    for value in values:
        try:
            item = add(value)
            results.append({"@odata.type": "#microsoft.graph.aadUserConversationMemberResult",
                            "userId": item["userId"], "error": None})
        except ApiError:
            results.append({"@odata.type": "#microsoft.graph.aadUserConversationMemberResult",
                            "userId": bind_target(value), "error": {"code": "NotFound", "message": ""}})
    failed = any(r["error"] for r in results)
    context = "addConversationMemberResult" if failed else "aadUserConversationMemberResult"
    return json_response({"@odata.context": f"{req.base_url}/$metadata#Collection(microsoft.graph.{context})",
                          "value": results}, 207 if failed else 200)
