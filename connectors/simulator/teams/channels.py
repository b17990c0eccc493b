"""Channels, channel members and channel messages: lists, replies and delta."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from connectors.simulator import content
from connectors.simulator.delta import DeltaSource, serve, sync_state_not_found
from connectors.simulator.http import Request, Response, Router, bad_request, json_response
from connectors.simulator.store import Collapsed, Item
from connectors.simulator.teams.edits import delete_not_supported, message_update
from connectors.simulator.teams.model import MESSAGE_TYPE, months_before, parse_time
from connectors.simulator.teams.query import (
    bound_user,
    capped_limits,
    date_clauses,
    expand_replies,
    message_body,
    page,
    writable,
)
from connectors.simulator.teams.seed import add_channel, commit_channel, new_channel, new_channel_id
from connectors.simulator.teams.state import (
    ChannelState,
    Holder,
    OnHolder,
    TeamsState,
    app_sender,
    require_message,
    update_item,
)
from connectors.simulator.teams.teams_routes import accepted, add_member
from connectors.simulator.tenant import Tenant, public
from connectors.simulator.views import page_size, select

_CHANNEL_WRITABLE = {"displayName", "description", "isFavoriteByDefault"}
DELTA_WINDOW_MONTHS = 8  # chatmessage-delta.md: "messages ... in the last eight months"


def delta_window_start(tenant: Tenant | None = None) -> datetime:
    """The oldest last-modified time channel message delta still returns. The simulator's clock for
    this is the seeded tenant's "now" (Tenant.epoch): writes made since are always inside the window.
    Without a tenant: that of a tenant seeded now with no pinned time (content.seed_epoch()); the
    control call `channel_delta_window` gives a running tenant's own."""
    return months_before(tenant.epoch if tenant else content.seed_epoch(), DELTA_WINDOW_MONTHS)


class ChannelRoutes(OnHolder):
    def register(self, r: Router) -> None:
        t, c = "/teams/{team}", "/teams/{team}/channels/{channel}"
        r.add("GET", f"{t}/channels", self.list_channels)
        r.add("POST", f"{t}/channels", self.create_channel)
        r.add("GET", f"{t}/allChannels", self.list_channels)
        r.add("GET", f"{t}/allChannels/{{channel}}", self.get_channel)
        r.add("GET", c, self.get_channel)
        r.add("PATCH", c, self.update_channel)
        r.add("DELETE", c, self.delete_channel)
        r.add("GET", f"{c}/members", self.list_channel_members)
        r.add("POST", f"{c}/members", self.add_channel_member)
        r.add("GET", f"{c}/messages", self.list_channel_messages)
        r.add("POST", f"{c}/messages", self.post_channel_message)
        r.add("GET", f"{c}/messages/delta", self.channel_messages_delta)
        r.add("GET", f"{c}/messages/{{message}}", self.get_channel_message)
        r.add("PATCH", f"{c}/messages/{{message}}", self.update_channel_message)
        r.add("DELETE", f"{c}/messages/{{message}}", delete_not_supported)
        r.add("GET", f"{c}/messages/{{message}}/replies", self.list_replies)
        r.add("POST", f"{c}/messages/{{message}}/replies", self.post_reply)
        # chatmessage-get.md, chatmessage-update.md: a reply by id.
        r.add("GET", f"{c}/messages/{{message}}/replies/{{reply}}", self.get_reply)
        r.add("PATCH", f"{c}/messages/{{message}}/replies/{{reply}}", self.update_reply)
        r.add("DELETE", f"{c}/messages/{{message}}/replies/{{reply}}", delete_not_supported)
        # chatmessage-softdelete.md, chatmessage-undosoftdelete.md: a post or a reply.
        for action, delete in (("softDelete", True), ("undoSoftDelete", False)):
            r.add("POST", f"{c}/messages/{{message}}/{action}", self.soft_delete_post(delete))
            r.add("POST", f"{c}/messages/{{message}}/replies/{{reply}}/{action}", self.soft_delete_reply(delete))

    # -- channels --------------------------------------------------------------------------------
    def list_channels(self, req: Request) -> Response:
        team, _ = self.state.team(req.params["team"])
        return page(req, (public(v) for _, v in team.channels.items()), filterable=True)

    def get_channel(self, req: Request) -> Response:
        _, _, item = self.state.channel(req.params["team"], req.params["channel"])
        return json_response(select(public(item), req))

    def create_channel(self, req: Request) -> Response:
        """Create channel (channel-post.md): "201 Created ... and a channel object ... for a channel with a
        membershipType value of standard or private. For a channel with a membershipType value of
        shared, this method returns a 202 Accepted response code and a link to the teamsAsyncOperation";
        the shared channel appears when that operation succeeds. Refused in an archived team."""
        team, _ = self.state.writable_team(req.params["team"])
        body = req.json()
        validate_new_channel(self.state, team.id, body)
        tenant = self.holder.tenant
        owners = _owners(self.holder, body)
        if req.principal and req.principal.user_id and req.principal.user_id not in owners:
            owners.insert(0, req.principal.user_id)
        owners = owners or [m.get("userId") for _, m in team.members.items()][:1]
        key = new_channel_id(tenant)
        if body.get("membershipType") != "shared":
            return json_response(public(add_channel(tenant, team, key, body, owners)), 201)
        item, state = new_channel(tenant, team, key, body, owners)
        return accepted(self.holder, team.id, "createChannel", lambda: commit_channel(team, item, state),
                        target=f"/teams('{team.id}')/channels('{key}')")

    def update_channel(self, req: Request) -> Response:
        self.state.writable_team(req.params["team"])
        team, channel, item = self.state.channel(req.params["team"], req.params["channel"])
        fields = writable(req.json(), _CHANNEL_WRITABLE, "channel")
        if "displayName" in fields and item["displayName"] == "General" and fields["displayName"] != "General":
            raise bad_request("The General channel cannot be renamed.")
        update_item(team.channels, channel.id, item, fields)
        return Response(204)

    def delete_channel(self, req: Request) -> Response:
        delete_channel(self.holder, req.params["team"], req.params["channel"])
        return Response(204)

    def list_channel_members(self, req: Request) -> Response:
        team, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        store = channel.members or team.members  # a standard channel's members are the team's
        return page(req, (public(m) for _, m in store.items()))

    def add_channel_member(self, req: Request) -> Response:
        _, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        if channel.members is None:
            raise bad_request("Adding members is only supported for private and shared channels.")
        return json_response(add_member(self.holder, channel.members, channel.id, req.json()), 201)

    # -- channel messages ------------------------------------------------------------------------
    def list_channel_messages(self, req: Request) -> Response:
        """Top-level posts, newest reply-chain activity first: "sorted by the last modified date of the
        entire reply chain, including both the root channel message and its replies"; default 20,
        at most 50; $expand=replies (channel-list-messages.md)."""
        _, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        expand = expand_replies(req)
        posts = channel.thread.store.items()
        posts.sort(key=lambda kv: (self.state.chain_modified(channel, *kv), int(kv[0])), reverse=True)
        return page(req, (self.state.render_post(channel, k, v, expand) for k, v in posts), capped_limits())

    def get_channel_message(self, req: Request) -> Response:
        _, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        item = require_message(channel.thread, req.params["message"])
        return json_response(self.state.render_post(channel, req.params["message"], item, expand_replies(req)))

    def _writable_channel(self, req: Request) -> ChannelState:
        """The channel of a request that changes messages: not in an archived team (team-archive.md)."""
        self.state.writable_team(req.params["team"])
        return self.state.channel(req.params["team"], req.params["channel"])[1]

    def post_channel_message(self, req: Request) -> Response:
        channel = self._writable_channel(req)
        item = self.state.post_message(channel.thread, message_body(req.json()), *app_sender(self.holder.tenant, req))
        return json_response(public(item), 201)

    def update_channel_message(self, req: Request) -> Response:
        """Update chatMessage (chatmessage-update.md): delegated 204, app-only policyViolation only, 200."""
        channel = self._writable_channel(req)
        fields, status = message_update(req)
        self.state.edit_message(channel.thread, req.params["message"], fields)
        return Response(status)

    def get_reply(self, req: Request) -> Response:
        _, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        chain = self.state.replies(channel, req.params["message"], require_message(channel.thread,
                                                                                   req.params["message"]))
        return json_response(select(public(require_message(chain, req.params["reply"])), req))

    def update_reply(self, req: Request) -> Response:
        """PATCH of a reply (chatmessage-update.md), with the same rules; the reply chain changes."""
        channel = self._writable_channel(req)
        post_id = req.params["message"]
        fields, status = message_update(req)
        chain = self.state.replies(channel, post_id, require_message(channel.thread, post_id))
        self.state.edit_message(chain, req.params["reply"], fields)
        self.state.chain_changed(channel, post_id)
        return Response(status)

    def soft_delete_post(self, delete: bool) -> Callable[[Request], Response]:
        """softDelete / undoSoftDelete of a channel post: no request body, 204 No Content."""
        def handler(req: Request) -> Response:
            channel = self._writable_channel(req)
            change = self.state.soft_delete_message if delete else self.state.undo_soft_delete_message
            change(channel.thread, req.params["message"])
            return Response(204)
        return handler

    def soft_delete_reply(self, delete: bool) -> Callable[[Request], Response]:
        """softDelete / undoSoftDelete of a reply; the post's reply chain changes (delta reports it)."""
        def handler(req: Request) -> Response:
            channel = self._writable_channel(req)
            post_id = req.params["message"]
            chain = self.state.replies(channel, post_id, require_message(channel.thread, post_id))
            change = self.state.soft_delete_message if delete else self.state.undo_soft_delete_message
            change(chain, req.params["reply"])
            self.state.chain_changed(channel, post_id)
            return Response(204)
        return handler

    def list_replies(self, req: Request) -> Response:
        _, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        post = require_message(channel.thread, req.params["message"])
        chain = self.state.replies(channel, req.params["message"], post)
        return page(req, (public(v) for _, v in chain.store.items()), capped_limits())

    def post_reply(self, req: Request) -> Response:
        """Reply to a post: 201 with the reply (chatmessage-post-replies.md)."""
        channel = self._writable_channel(req)
        reply = self.state.reply_to_post(channel, req.params["message"], message_body(req.json()),
                                         *app_sender(self.holder.tenant, req))
        return json_response(public(reply), 201)

    def channel_messages_delta(self, req: Request) -> Response:
        """chatMessage: delta (chatmessage-delta.md). Top-level posts whose reply chain changed in the
        last eight months; $top up to 50 (the page size, kept by the tokens); $filter
        lastModifiedDateTime gt only; replies only with $expand=replies.

        Deleting a channel message is a soft delete in Teams, so a deleted post is not reported with
        @removed: it comes back as a changed message with `deletedDateTime` set and an empty body.
        @removed only appears for posts whose channel was deleted under a live sync state (the state is
        evicted then, so clients get a 410 instead).
        """
        _, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        token = req.query.get("$deltatoken") or req.query.get("$skiptoken")
        options = {} if token else channel_delta_options(req)
        src = DeltaSource(
            channel.thread.store.coll, req.path, render_full=lambda k, v: None,
            render_removed=removed_message, default_page=20, max_page=50, expired=sync_state_not_found,
            options=options,
        )
        oldest = delta_window_start(self.holder.tenant)

        def render_full(key: str, item: Item) -> dict | None:
            changed = self.state.chain_modified(channel, key, item)
            if changed < oldest:
                return None  # outside the eight-month window
            since = src.options.get("since")
            if since and changed <= parse_time(since):
                return None  # the filter keeps reply chains created or changed after `since`
            return self.state.render_post(channel, key, item, bool(src.options.get("replies")))

        src.render_full = render_full
        size = page_size(req, capped_limits()) if "$top" in req.query else None
        return serve(req, src, self.holder.tenant.chains, self.holder.tenant.config.knobs, token, size)


def _owners(holder: Holder, body: dict) -> list[str]:
    return [bound_user(holder.tenant, m) for m in body.get("members") or []]


def validate_new_channel(state: TeamsState, team_key: str, body: Any) -> None:
    """displayName required and unique in the team; membershipType standard, private or shared."""
    team, _ = state.team(team_key)
    name = body.get("displayName") if isinstance(body, dict) else None
    if not name:
        raise bad_request("displayName is required to create a channel.")
    if any(str(v.get("displayName", "")).lower() == str(name).lower() for _, v in team.channels.items()):
        raise bad_request("Channel name already existed, please use other name.", "NameAlreadyExists")
    if len(str(name)) > 50:  # channel-post.md: "the maximum length of the channel's displayName is 50 characters"
        raise bad_request("The channel displayName can be at most 50 characters long.")
    if body.get("membershipType", "standard") not in ("standard", "private", "shared"):
        raise bad_request(f"Invalid membershipType '{body.get('membershipType')}'.")
    owners = [m for m in body.get("members") or [] if "owner" in (m.get("roles") or [])]
    if body.get("membershipType") == "shared" and len(owners) > 1:
        # channel-post.md: "You can create shared channels with only one owner initially. Adding multiple
        # owners results in a 400 Bad Request error code."
        raise bad_request("A shared channel can be created with only one owner.")


def delete_channel(holder: Holder, team_key: str, channel_key: str) -> None:
    """Delete a channel (General cannot be); its message sync states are evicted (410 afterwards)."""
    team, channel, item = holder.state.channel(team_key, channel_key)
    if item.get("displayName") == "General":
        raise bad_request("The General channel cannot be deleted.")
    team.channels.coll.remove(channel.id)
    del team.channel_state[channel.id]
    holder.tenant.chains.evict(f"chatMessages/{channel.id}")


def removed_message(change: Collapsed) -> dict:
    return {"@odata.type": MESSAGE_TYPE, "id": change.key, "@removed": {"reason": change.reason}}


def channel_delta_options(req: Request) -> dict:
    """Options of a first delta call ($filter, $expand); the tokens carry them afterwards."""
    options: dict[str, Any] = {}
    flt = req.query.get("$filter")
    if flt:
        clauses = date_clauses(flt)
        if len(clauses) != 1 or clauses[0][0] != "lastModifiedDateTime" or clauses[0][1] != "gt":
            raise bad_request("Only 'lastModifiedDateTime gt {value}' is supported as $filter on channel message "
                              "delta.")
        options["since"] = clauses[0][2]
    if expand_replies(req):
        options["replies"] = True
    return options

