"""All Teams state, and the only code that changes it.

Teams, channels, chats and members are small seeded lists; message lists are lazy collections (a
message is a pure function of its thread and slot), so they cost nothing until read. Every write
goes through a `Collection`, so changes land in the change log the delta engine reads. The Graph
write routes and the control surface both call the methods here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from connectors.simulator import content
from connectors.simulator.http import ApiError, Request
from connectors.simulator.store import Collection, Item
from connectors.simulator.teams.model import (
    ThreadSpec,
    epoch_ms,
    event_message,
    iso_ms,
    member_id,
    member_object,
    message,
    message_object,
    parse_time,
    seeded_message_id,
)
from connectors.simulator.teams.operations import Operations
from connectors.simulator.tenant import Tenant, public

_SOFT_DELETED = ("body", "mentions", "attachments", "reactions")  # what a soft delete empties


@dataclass
class Store:
    """A Collection plus the slot of each seeded key, so any live item can be found by id."""

    coll: Collection
    slots: dict[str, int]

    def get(self, key: str) -> Item | None:
        return self.coll.get(key, self.slots.get(key))

    def items(self) -> list[tuple[str, Item]]:
        return list(self.coll.items())


def seeded_store(tenant: Tenant, name: str, keys: list[str], make: Callable[[int], Item]) -> Store:
    coll = Collection(name, tenant.clock, base_count=len(keys), base_key=lambda i: keys[i], base_item=make)
    return Store(coll, {k: i for i, k in enumerate(keys)})


def empty_store(tenant: Tenant, name: str) -> Store:
    return Store(Collection(name, tenant.clock), {})


@dataclass
class Thread:
    """The messages of one channel, chat or reply chain."""

    spec: ThreadSpec
    store: Store
    last_id: int = 0  # the highest message id handed out here, so new ids stay unique and increasing

    def new_id(self, now: datetime) -> str:
        candidate = max(epoch_ms(now), self.last_id + 1)
        self.last_id = candidate
        return str(candidate)


def make_thread(tenant: Tenant, spec: ThreadSpec) -> Thread:
    keys = [seeded_message_id(tenant.seed, spec, i) for i in range(spec.count)]
    store = seeded_store(tenant, f"chatMessages/{spec.key}", keys, lambda i: message_object(tenant.seed, spec, i))
    return Thread(spec, store, int(keys[-1]) if keys else 0)


@dataclass
class ChannelState:
    id: str
    team_id: str
    thread: Thread
    members: Store | None  # private channels only; standard channels show the team's members
    replies: dict[str, Thread] = field(default_factory=dict)  # post id -> its reply chain


@dataclass
class TeamState:
    id: str
    channels: Store
    channel_state: dict[str, ChannelState]
    members: Store


@dataclass
class ChatState:
    id: str
    members: Store
    thread: Thread


class Holder(Protocol):
    """What route and control classes need: the tenant and its (lazily built) Teams state."""

    tenant: Tenant

    @property
    def state(self) -> TeamsState: ...


class OnHolder:
    """Base of the route and control classes: they read the Teams state through the holder."""

    def __init__(self, holder: Holder) -> None:
        self.holder = holder

    @property
    def state(self) -> TeamsState:
        return self.holder.state


def require_message(thread: Thread, mid: str) -> Item:
    item = thread.store.get(mid)
    if item is None:
        raise ApiError(404, "NotFound", f"Message {mid} not found.")
    return item


def touch(item: Item) -> str:
    """Bump lastModifiedDateTime and the etag (Teams etags are the modification time in ms)."""
    ms = max(epoch_ms(datetime.now(UTC)), int(item.get("etag") or 0) + 1)
    stamp = iso_ms(datetime.fromtimestamp(ms / 1000, UTC))
    item["lastModifiedDateTime"] = stamp
    item["etag"] = str(ms)
    return stamp


def app_sender(tenant: Tenant, req: Request) -> tuple[content.Person | None, dict | None]:
    """The signed-in user for delegated calls; an app identity for app-only calls."""
    user = req.principal.user_id if req.principal else None
    if user is not None:
        return tenant.person(user), None
    return None, {"@odata.type": "#microsoft.graph.teamworkApplicationIdentity", "id": tenant.config.client_id,
                  "displayName": "graphsync", "applicationIdentityType": "bot"}


def require_unarchived(team: Item) -> None:
    """team-archive.md: "When a team is archived, users can no longer send or like messages on any
    channel in the team, edit the team's name, description, or other settings, or in general make most
    changes to the team. Membership changes to the team continue to be allowed." The page names no
    error; the simulator answers 403 Forbidden, Teams' code for a refused action (concepts/errors.md:
    403 "Access is denied to the requested resource") [the exact Graph body is unverified]."""
    if team.get("isArchived"):
        raise ApiError(403, "Forbidden", f"Team {team['id']} is archived: it is read-only until it is unarchived.")


@dataclass
class TeamsState:
    tenant: Tenant
    teams: Store
    team_state: dict[str, TeamState]
    chats: Store
    chat_state: dict[str, ChatState]
    operations: Operations = field(default_factory=lambda: Operations(30.0))

    @property
    def tenant_id(self) -> str:
        return self.tenant.config.tenant_id

    # -- lookups ---------------------------------------------------------------------------------
    def team_items(self) -> list[tuple[str, Item]]:
        """Every visible team, once the operations that were due have completed."""
        self.operations.settle_due()
        return self.teams.items()

    def writable_team(self, key: str) -> tuple[TeamState, Item]:
        """A team that is not archived (require_unarchived)."""
        state, item = self.team(key)
        require_unarchived(item)
        return state, item

    def team(self, key: str) -> tuple[TeamState, Item]:
        self.operations.settle_due()
        item = self.teams.get(key)
        state = self.team_state.get(key)
        if item is None or state is None:
            raise ApiError(404, "NotFound", f"No team found with Group Id {key}")
        return state, item

    def channel(self, team_key: str, channel_key: str) -> tuple[TeamState, ChannelState, Item]:
        team, _ = self.team(team_key)
        item = team.channels.get(channel_key)
        state = team.channel_state.get(channel_key)
        if item is None or state is None:
            raise ApiError(404, "NotFound", "Channel not found.")
        return team, state, item

    def chat(self, key: str) -> tuple[ChatState, Item]:
        item = self.chats.get(key)
        state = self.chat_state.get(key)
        if item is None or state is None:
            raise ApiError(404, "NotFound", f"Chat '{key}' not found.")
        return state, item

    def user_chat(self, user_id: str, key: str) -> tuple[ChatState, Item]:
        """A chat addressed under /users/{id}/chats: the user must be one of its members (chat-get.md)."""
        state, item = self.chat(key)
        if not self.is_member(state, user_id):
            raise ApiError(404, "NotFound", f"Chat '{key}' not found for user '{user_id}'.")
        return state, item

    @staticmethod
    def is_member(chat: ChatState, user_id: str) -> bool:
        return chat.members.get(member_id(chat.id, user_id)) is not None

    def chats_of(self, user_id: str) -> list[tuple[str, Item]]:
        return [(k, v) for k, v in self.chats.items() if self.is_member(self.chat_state[k], user_id)]

    def replies(self, channel: ChannelState, post_id: str, post: Item) -> Thread:
        """A post's reply chain, generated on first use (0-2 seeded replies per seeded post)."""
        thread = channel.replies.get(post_id)
        if thread is None:
            seeded = post_id in channel.thread.store.slots
            count = content.mix(self.tenant.seed, content.stable_hash(post_id)) % 3 if seeded else 0
            spec = ThreadSpec(f"{channel.id}/{post_id}/replies", count, channel.thread.spec.senders, self.tenant_id,
                              team_id=channel.team_id, channel_id=channel.id, reply_to=post_id,
                              start=parse_time(post["createdDateTime"]) + timedelta(minutes=3 * count + 5))
            thread = make_thread(self.tenant, spec)
            channel.replies[post_id] = thread
        return thread

    def chain_modified(self, channel: ChannelState, post_id: str, post: Item) -> datetime:
        """When a post or any reply to it last changed (channel-list-messages.md sorts by this)."""
        stamps = [post["lastModifiedDateTime"], *(r["lastModifiedDateTime"]
                                                  for _, r in self.replies(channel, post_id, post).store.items())]
        return max(parse_time(s) for s in stamps)

    def render_post(self, channel: ChannelState, key: str, item: Item, expand: bool) -> dict:
        out = public(item)
        if expand:
            out["replies"] = [public(r) for _, r in self.replies(channel, key, item).store.items()]
        return out

    # -- messages --------------------------------------------------------------------------------
    def post_message(self, thread: Thread, body: dict, sender: content.Person | None,
                     app_identity: dict | None = None) -> Item:
        mid = thread.new_id(datetime.now(UTC))
        content_html = str(body.get("body", {}).get("content", ""))
        item = message(mid, thread.spec, datetime.fromtimestamp(int(mid) / 1000, UTC), sender, content_html,
                       list(body.get("mentions") or []), [], body.get("subject"), app_identity)
        item["body"]["contentType"] = body.get("body", {}).get("contentType", "text")
        item["importance"] = body.get("importance", "normal")
        thread.store.coll.put_new(mid, item)
        return item

    def post_event(self, thread: Thread, kind: str, initiator: content.Person | None,
                   members: list[content.Person]) -> Item:
        """Teams' own systemEventMessage for a membership change."""
        mid = thread.new_id(datetime.now(UTC))
        item = event_message(mid, thread.spec, datetime.fromtimestamp(int(mid) / 1000, UTC), kind, initiator,
                             members)
        thread.store.coll.put_new(mid, item)
        return item

    def edit_message(self, thread: Thread, mid: str, fields: dict) -> Item:
        item = require_message(thread, mid)
        updated = copy.deepcopy(item)
        updated.update(copy.deepcopy(fields))
        touched = set(fields) | {"lastModifiedDateTime", "etag"}
        if "body" in fields:
            updated["lastEditedDateTime"] = touch(updated)
            touched.add("lastEditedDateTime")
        else:
            touch(updated)
        thread.store.coll.update(mid, updated, frozenset(touched))
        return updated

    def soft_delete_message(self, thread: Thread, mid: str) -> Item:
        """Teams keeps a deleted message in place: deletedDateTime and lastModifiedDateTime set, body
        emptied (chatmessage-softdelete.md). What it said is kept aside for undoSoftDelete."""
        item = require_message(thread, mid)
        if item.get("deletedDateTime"):
            return item  # already deleted: nothing changes
        updated = copy.deepcopy(item)
        updated["_deleted"] = {k: copy.deepcopy(item.get(k)) for k in _SOFT_DELETED}
        updated["deletedDateTime"] = touch(updated)
        updated["body"] = {"contentType": "text", "content": ""}
        updated["mentions"], updated["attachments"], updated["reactions"] = [], [], []
        thread.store.coll.update(mid, updated, frozenset({"deletedDateTime", "body", "lastModifiedDateTime", "etag"}))
        return updated

    def undo_soft_delete_message(self, thread: Thread, mid: str) -> Item:
        """undoSoftDelete (chatmessage-undosoftdelete.md): the message is back as it was, deletedDateTime
        null again, lastModifiedDateTime bumped. A message that is not deleted is left alone."""
        item = require_message(thread, mid)
        if not item.get("deletedDateTime"):
            return item
        updated = copy.deepcopy(item)
        kept = updated.pop("_deleted", None) or {}
        updated.update({k: v for k, v in kept.items() if v is not None})
        updated["deletedDateTime"] = None
        touch(updated)
        thread.store.coll.update(mid, updated, frozenset({"deletedDateTime", *_SOFT_DELETED, "lastModifiedDateTime",
                                                          "etag"}))
        return updated

    def reply_to_post(self, channel: ChannelState, post_id: str, body: dict, sender: content.Person | None,
                      app_identity: dict | None = None) -> Item:
        """A new reply changes the reply chain: the post is reported again by channel message delta."""
        post = require_message(channel.thread, post_id)
        reply = self.post_message(self.replies(channel, post_id, post), body, sender, app_identity)
        self.chain_changed(channel, post_id)
        return reply

    def chain_changed(self, channel: ChannelState, post_id: str) -> None:
        """Record a reply chain change on its post, so delta reports the post again."""
        post = require_message(channel.thread, post_id)
        updated = copy.deepcopy(post)
        updated["_chainModifiedDateTime"] = iso_ms(datetime.now(UTC))
        channel.thread.store.coll.update(post_id, updated, frozenset({"replies"}))

    # -- chat membership -------------------------------------------------------------------------
    def add_chat_member(self, chat: ChatState, user_id: str, roles: list[str],
                        initiator: content.Person | None, visible_history: str | None = None) -> Item:
        """Add a member (idempotent), post the membersAdded event, bump chat.lastUpdatedDateTime.
        `visible_history`: the visibleHistoryStartDateTime asked for (chat-post-members.md)."""
        key = member_id(chat.id, user_id)
        existing = chat.members.get(key)
        if existing is not None:
            return existing
        person = self.tenant.person(user_id)
        item = member_object(chat.id, person, roles, self.tenant_id)
        if visible_history:
            item["visibleHistoryStartDateTime"] = visible_history
        chat.members.coll.put_new(key, item)
        self.post_event(chat.thread, "added", initiator, [person])
        self.chat_members_changed(chat.id)
        return item

    def remove_chat_member(self, chat: ChatState, user_id: str, initiator: content.Person | None) -> None:
        """Remove a member: membersDeleted when someone removed them, membersLeft when they left
        (initiator is the user themself)."""
        key = member_id(chat.id, user_id)
        if chat.members.get(key) is None:
            raise ApiError(404, "NotFound", "Member not found.")
        chat.members.coll.remove(key)
        person = self.tenant.person(user_id)
        left = initiator is not None and initiator.id == user_id
        self.post_event(chat.thread, "left" if left else "deleted", initiator, [person])
        self.chat_members_changed(chat.id)

    def chat_members_changed(self, key: str) -> None:
        """chat.lastUpdatedDateTime: when the chat was renamed or its member list last changed."""
        item = self.chats.get(key)
        if item is not None:
            update_item(self.chats, key, item, {"lastUpdatedDateTime": iso_ms(datetime.now(UTC))})


def update_item(store: Store, key: str, item: Item, fields: dict) -> Item:
    updated = copy.deepcopy(item)
    updated.update(copy.deepcopy(fields))
    store.coll.update(key, updated, frozenset(fields))
    return updated
