"""Control operations for Teams: mutate teams, channels, chats and messages between syncs, and read
the exact state back. Call them as `Simulator.control("<name>", **kwargs)` or over HTTP as
`POST /_sim/control/<name>` with the keyword arguments as a JSON object.

`user`/`by` arguments take a user id or UPN. Messages are addressed by their id. Every change goes
through the same state methods the Graph routes use, so it shows in lists and in delta.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.simulator import content
from connectors.simulator.http import ApiError
from connectors.simulator.teams.channels import delete_channel, delta_window_start, validate_new_channel
from connectors.simulator.teams.model import iso_ms, member_id
from connectors.simulator.teams.operations import render
from connectors.simulator.teams.seed import add_channel, new_channel_id
from connectors.simulator.teams.state import OnHolder, Thread, require_message
from connectors.simulator.teams.teams_routes import add_member
from connectors.simulator.tenant import public


def _html(text: str) -> dict:
    return {"body": {"contentType": "html", "content": f"<p>{text}</p>"}}


class TeamsControl(OnHolder):
    def ops(self) -> dict[str, Callable[..., Any]]:
        return {name.removeprefix("op_"): getattr(self, name) for name in dir(self) if name.startswith("op_")}

    def _user(self, user: str) -> str:
        return self.holder.tenant.resolve_user(user)[0]

    def _person(self, user: str | None, thread: Thread) -> content.Person:
        return self.holder.tenant.person(self._user(user)) if user is not None else thread.spec.senders[0]

    # -- channels --------------------------------------------------------------------------------
    def op_create_channel(self, team: str, name: str, membership_type: str = "standard",
                          description: str | None = None, owner: str | None = None) -> dict:
        """create_channel(team, name, membership_type="standard", description=None, owner=None) -> channel.
        A private channel's member list starts with `owner` (default: the team's first member)."""
        team_state, _ = self.state.team(team)
        spec = {"displayName": name, "membershipType": membership_type, "description": description}
        validate_new_channel(self.state, team_state.id, spec)
        owners = [self._user(owner)] if owner else [m["userId"] for _, m in team_state.members.items()][:1]
        tenant = self.holder.tenant
        return public(add_channel(tenant, team_state, new_channel_id(tenant), spec, owners))

    def op_delete_channel(self, team: str, channel: str) -> None:
        """delete_channel(team, channel): the channel disappears; its delta tokens answer 410."""
        delete_channel(self.holder, team, channel)

    def op_add_team_member(self, team: str, user: str, roles: list[str] | None = None) -> dict:
        """add_team_member(team, user, roles=None) -> conversationMember."""
        team_state, _ = self.state.team(team)
        body = {"userId": self._user(user), "roles": roles or []}
        return public(add_member(self.holder, team_state.members, team_state.id, body))

    def op_remove_team_member(self, team: str, user: str) -> None:
        """remove_team_member(team, user): the team (and its standard channels) lose the member."""
        team_state, _ = self.state.team(team)
        key = member_id(team_state.id, self._user(user))
        if team_state.members.get(key) is None:
            raise ApiError(404, "NotFound", "Member not found.")
        team_state.members.coll.remove(key)

    # -- channel messages ------------------------------------------------------------------------
    def op_post_channel_message(self, team: str, channel: str, text: str, user: str | None = None) -> dict:
        """post_channel_message(team, channel, text, user=None) -> the new post."""
        _, state, _ = self.state.channel(team, channel)
        return public(self.state.post_message(state.thread, _html(text), self._person(user, state.thread)))

    def op_edit_channel_message(self, team: str, channel: str, message: str, text: str) -> dict:
        """edit_channel_message(team, channel, message, text): new body, lastEditedDateTime and
        lastModifiedDateTime set."""
        _, state, _ = self.state.channel(team, channel)
        return public(self.state.edit_message(state.thread, message, _html(text)))

    def op_delete_channel_message(self, team: str, channel: str, message: str) -> dict:
        """delete_channel_message(team, channel, message): soft delete (deletedDateTime set, body empty)."""
        _, state, _ = self.state.channel(team, channel)
        return public(self.state.soft_delete_message(state.thread, message))

    def op_post_channel_reply(self, team: str, channel: str, message: str, text: str, user: str | None = None) -> dict:
        """post_channel_reply(team, channel, message, text, user=None) -> the reply; the post's reply
        chain moves to the top of the channel's message list and is reported again by delta."""
        _, state, _ = self.state.channel(team, channel)
        return public(self.state.reply_to_post(state, message, _html(text), self._person(user, state.thread)))

    def op_edit_channel_reply(self, team: str, channel: str, message: str, reply: str, text: str) -> dict:
        """edit_channel_reply(team, channel, message, reply, text): edits a reply (the chain changes)."""
        _, state, _ = self.state.channel(team, channel)
        chain = self.state.replies(state, message, require_message(state.thread, message))
        edited = self.state.edit_message(chain, reply, _html(text))
        self.state.chain_changed(state, message)
        return public(edited)

    def op_delete_channel_reply(self, team: str, channel: str, message: str, reply: str) -> dict:
        """delete_channel_reply(team, channel, message, reply): soft-deletes a reply (the chain changes)."""
        _, state, _ = self.state.channel(team, channel)
        chain = self.state.replies(state, message, require_message(state.thread, message))
        deleted = self.state.soft_delete_message(chain, reply)
        self.state.chain_changed(state, message)
        return public(deleted)

    # -- chats -----------------------------------------------------------------------------------
    def op_post_chat_message(self, chat: str, text: str, user: str | None = None) -> dict:
        """post_chat_message(chat, text, user=None) -> the new message (sent by `user`, default the
        chat's first member)."""
        state, _ = self.state.chat(chat)
        return public(self.state.post_message(state.thread, _html(text), self._person(user, state.thread)))

    def op_edit_chat_message(self, chat: str, message: str, text: str) -> dict:
        """edit_chat_message(chat, message, text): new body; lastEditedDateTime, lastModifiedDateTime
        and etag change."""
        state, _ = self.state.chat(chat)
        return public(self.state.edit_message(state.thread, message, _html(text)))

    def op_delete_chat_message(self, chat: str, message: str) -> dict:
        """delete_chat_message(chat, message): soft delete, deletedDateTime and lastModifiedDateTime set,
        body emptied; the message stays in lists and getAllMessages."""
        state, _ = self.state.chat(chat)
        return public(self.state.soft_delete_message(state.thread, message))

    def op_add_chat_member(self, chat: str, user: str, by: str | None = None, roles: list[str] | None = None) -> dict:
        """add_chat_member(chat, user, by=None, roles=None) -> conversationMember. Posts a
        membersAdded systemEventMessage (initiator `by`) and bumps the chat's lastUpdatedDateTime."""
        state, _ = self.state.chat(chat)
        initiator = self.holder.tenant.person(self._user(by)) if by else None
        return public(self.state.add_chat_member(state, self._user(user), roles or [], initiator))

    def op_remove_chat_member(self, chat: str, user: str, by: str | None = None) -> None:
        """remove_chat_member(chat, user, by=None): posts membersDeleted (initiator `by`); the chat
        no longer lists for `user` under /users/{user}/chats."""
        state, _ = self.state.chat(chat)
        initiator = self.holder.tenant.person(self._user(by)) if by else None
        self.state.remove_chat_member(state, self._user(user), initiator)

    def op_leave_chat(self, chat: str, user: str) -> None:
        """leave_chat(chat, user): the user left: a membersLeft event with the user as initiator."""
        state, _ = self.state.chat(chat)
        user_id = self._user(user)
        self.state.remove_chat_member(state, user_id, self.holder.tenant.person(user_id))

    # -- state -----------------------------------------------------------------------------------
    def op_channel_delta_window(self) -> str:
        """channel_delta_window() -> ISO time: channel message delta leaves out posts whose reply chain
        last changed before it (eight months before the seeded tenant's epoch; chatmessage-delta.md)."""
        return iso_ms(delta_window_start(self.holder.tenant))

    def op_teams_state(self) -> dict[str, dict]:
        """teams_state() -> {team id: {"team", "members", "channels": {channel id: {"channel",
        "members", "messages": {post id: post with "replies"}}}}}, every live object."""
        out: dict[str, dict] = {}
        for key, team in self.state.team_items():
            ts = self.state.team_state[key]
            channels = {}
            for cid, channel in ts.channels.items():
                cs = ts.channel_state[cid]
                posts = {k: self.state.render_post(cs, k, v, True) for k, v in cs.thread.store.items()}
                members = cs.members or ts.members
                channels[cid] = {"channel": public(channel), "members": [public(m) for _, m in members.items()],
                                 "messages": posts}
            out[key] = {"team": public(team), "members": [public(m) for _, m in ts.members.items()],
                        "channels": channels}
        return out

    def op_team_operations(self) -> list[dict]:
        """team_operations() -> every teamsAsyncOperation (createTeam, archiveTeam, unarchiveTeam,
        createChannel), as GET of it shows it, without moving it on."""
        return [render(op) for op in self.state.operations.all()]

    def op_complete_team_operations(self) -> int:
        """complete_team_operations() -> how many pending Teams operations were completed now (their
        changes applied), as if their time had come (teams/operations.py)."""
        return self.state.operations.settle_all()

    def op_chats_state(self, user: str) -> dict[str, dict]:
        """chats_state(user) -> {chat id: {"chat", "members", "messages": {id: message}}} for every
        live chat the user is a member of (system event messages included)."""
        user_id = self._user(user)
        out: dict[str, dict] = {}
        for key, chat in self.state.chats_of(user_id):
            cs = self.state.chat_state[key]
            out[key] = {"chat": public(chat), "members": [public(m) for _, m in cs.members.items()],
                        "messages": {k: public(v) for k, v in cs.thread.store.items()}}
        return out
