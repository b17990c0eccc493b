"""Microsoft Teams: teams, channels, channel messages (lists, replies, delta), chats, chat messages,
getAllMessages and conversation members.

All Teams state hangs off one `TeamsState`, built the first time any Teams route or control operation
touches it. Teams, channels, chats and members are small seeded lists; message lists are lazy
collections (a message is a pure function of its thread and slot) so they cost nothing until read.
Every write goes through a `Collection`, so changes land in the change log the delta engine reads.

Ids follow Graph's shapes: team ids are GUIDs (the team's group id), channel ids
`19:{hex}@thread.tacv2`, group chat ids `19:{hex}@thread.v2`, one-on-one chat ids
`19:{userA}_{userB}@unq.gbl.spaces`, message ids the epoch milliseconds of their creation.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from connectors.simulator import content, ids
from connectors.simulator.delta import DeltaSource, serve, sync_state_not_found
from connectors.simulator.http import ApiError, Request, Response, Router, bad_request, json_response
from connectors.simulator.store import Collapsed, Collection, Item
from connectors.simulator.tenant import Tenant, public
from connectors.simulator.views import (
    PageLimits,
    compile_filter,
    list_response,
    page_size,
    select,
    skiptoken,
    skiptoken_position,
    teams_limits,
)

TEAM_NAMES = ["Contoso Sales", "Project Falcon", "Engineering", "Marketing", "Legal and Compliance",
              "Operations", "Research", "HR Connect"]
# (displayName, membershipType) of the channels every seeded team has; "General" is always first.
CHANNEL_SEEDS = [("General", "standard"), ("Announcements", "standard"), ("Planning", "standard"),
                 ("Leadership", "private")]
CHAT_TOPICS = ["Falcon launch crew", "Budget sync", "Friday lunch", "Customer escalation", "Offsite planning"]
REACTIONS = ["like", "heart", "laugh", "surprised"]
MEMBER_TYPE = "#microsoft.graph.aadUserConversationMember"
MESSAGE_TYPE = "#microsoft.graph.chatMessage"
_TEAM_WRITABLE = {"displayName", "description", "visibility", "classification", "specialization", "memberSettings",
                  "guestSettings", "messagingSettings", "funSettings", "discoverySettings"}
_CHANNEL_WRITABLE = {"displayName", "description", "isFavoriteByDefault"}
_MESSAGE_WRITABLE = {"body", "subject", "importance", "mentions", "attachments", "policyViolation", "summary"}
_BIND_USER = re.compile(r"users\('([^']+)'\)", re.IGNORECASE)
_DATE_CLAUSE = re.compile(r"^\s*(\w+)\s+(gt|ge|lt|le|eq)\s+'?([^'\s]+)'?\s*$", re.IGNORECASE)


# -- time and ids ----------------------------------------------------------------------------------
def iso_ms(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def epoch_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().strip("'").replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"Invalid DateTimeOffset value '{value}'.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _thread_hex(seed: int, *parts: object) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"graphsync-sim/{seed}/thread/" + "/".join(map(str, parts))).hex


def team_id(seed: int, index: int) -> str:
    return ids.guid(seed, "team", index)


def channel_id(seed: int, team: str, index: int) -> str:
    return f"19:{_thread_hex(seed, team, index)}@thread.tacv2"


def one_on_one_chat_id(a: str, b: str) -> str:
    first, second = sorted((a, b))
    return f"19:{first}_{second}@unq.gbl.spaces"


def member_id(container: str, user_id: str) -> str:
    return ids.opaque("member", container, user_id)


# -- seeded content ---------------------------------------------------------------------------------
def identity(person: content.Person, tenant_id: str) -> dict:
    return {"application": None, "device": None, "user": {
        "@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": person.id,
        "displayName": person.display_name, "userIdentityType": "aadUser", "tenantId": tenant_id}}


def member_object(container: str, person: content.Person, roles: list[str], tenant_id: str) -> dict:
    return {"@odata.type": MEMBER_TYPE, "id": member_id(container, person.id), "roles": roles,
            "displayName": person.display_name, "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
            "userId": person.id, "email": person.upn, "tenantId": tenant_id}


@dataclass(frozen=True)
class ThreadSpec:
    """Where a message list lives and who talks in it: enough to generate any of its messages."""

    key: str  # a stable name for hashing (the channel or chat id, or "post id/replies")
    count: int
    senders: tuple[content.Person, ...]
    tenant_id: str
    chat_id: str | None = None
    team_id: str | None = None
    channel_id: str | None = None
    reply_to: str | None = None  # replies: the post they answer
    start: datetime = content.EPOCH  # messages are spread over the hours before this


def seeded_time(seed: int, spec: ThreadSpec, index: int) -> datetime:
    """Slot i's creation time: strictly increasing with i, so slots are in creation order."""
    h = content.mix(seed, content.stable_hash(spec.key), index)
    step = timedelta(minutes=3) if spec.reply_to else timedelta(hours=3)
    return spec.start - step * (spec.count - index) + timedelta(seconds=h % 120, milliseconds=h % 1000)


def seeded_message_id(seed: int, spec: ThreadSpec, index: int) -> str:
    return str(epoch_ms(seeded_time(seed, spec, index)))


def message_object(seed: int, spec: ThreadSpec, index: int) -> dict:
    h = content.mix(seed, content.stable_hash(spec.key), index, 7)
    created = seeded_time(seed, spec, index)
    mid = str(epoch_ms(created))
    sender = spec.senders[h % len(spec.senders)]
    text = content.PARAGRAPHS[(h >> 5) % len(content.PARAGRAPHS)]
    mentions: list[dict] = []
    body = f"<p>{text}</p>"
    others = [p for p in spec.senders if p.id != sender.id]
    if others and h % 5 == 0:  # an occasional @mention, shaped as Teams renders it
        target = others[(h >> 9) % len(others)]
        body = f'<div><at id="0">{target.display_name}</at> {body}</div>'
        mentions = [{"id": 0, "mentionText": target.display_name,
                     "mentioned": identity(target, spec.tenant_id) | {"conversation": None}}]
    reactions = []
    if others and h % 4 == 0:
        reactor = others[(h >> 13) % len(others)]
        reactions = [{"reactionType": REACTIONS[(h >> 17) % len(REACTIONS)],
                      "createdDateTime": iso_ms(created + timedelta(minutes=1)),
                      "user": {"application": None, "device": None,
                               "user": {"id": reactor.id, "displayName": None, "userIdentityType": "aadUser"}}}]
    return _message(mid, spec, created, sender, body, mentions, reactions,
                    subject="Weekly update" if spec.channel_id and not spec.reply_to and h % 3 == 0 else None)


def _message(mid: str, spec: ThreadSpec, created: datetime, sender: content.Person | None, body_html: str,
             mentions: list[dict], reactions: list[dict], subject: str | None = None,
             app_identity: dict | None = None) -> dict:
    web_url = None
    if spec.channel_id:
        web_url = (f"https://teams.microsoft.com/l/message/{quote(spec.channel_id, safe='')}/{mid}?groupId="
                   f"{spec.team_id}&tenantId={spec.tenant_id}&createdTime={mid}&parentMessageId={spec.reply_to or mid}")
    sender_identity = identity(sender, spec.tenant_id) if sender else {
        "application": app_identity, "device": None, "user": None}
    stamp = iso_ms(created)
    return {
        "@odata.type": MESSAGE_TYPE, "id": mid, "replyToId": spec.reply_to, "etag": mid, "messageType": "message",
        "createdDateTime": stamp, "lastModifiedDateTime": stamp, "lastEditedDateTime": None,
        "deletedDateTime": None, "subject": subject, "summary": None, "chatId": spec.chat_id, "importance": "normal",
        "locale": "en-us", "webUrl": web_url,
        "channelIdentity": {"teamId": spec.team_id, "channelId": spec.channel_id} if spec.channel_id else None,
        "policyViolation": None, "eventDetail": None, "from": sender_identity,
        "body": {"contentType": "html", "content": body_html}, "attachments": [], "mentions": mentions,
        "reactions": reactions, "messageHistory": [],
    }


# -- state -----------------------------------------------------------------------------------------
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
    operations: dict[str, dict] = field(default_factory=dict)


@dataclass
class ChatState:
    id: str
    members: Store
    thread: Thread


@dataclass
class TeamsState:
    tenant: Tenant
    teams: Store
    team_state: dict[str, TeamState]
    chats: Store
    chat_state: dict[str, ChatState]

    @property
    def tenant_id(self) -> str:
        return self.tenant.config.tenant_id

    def person(self, user_id: str) -> content.Person:
        return self.tenant.person(user_id)

    # -- lookups ---------------------------------------------------------------------------------
    def team(self, key: str) -> tuple[TeamState, Item]:
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

    def chats_of(self, user_id: str) -> list[tuple[str, Item]]:
        return [(k, v) for k, v in self.chats.items()
                if any(m.get("userId") == user_id for _, m in self.chat_state[k].members.items())]

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

    # -- writes ----------------------------------------------------------------------------------
    def post_message(self, thread: Thread, body: dict, sender: content.Person | None,
                     app_identity: dict | None = None) -> Item:
        now = datetime.now(UTC)
        mid = thread.new_id(now)
        content_html = str(body.get("body", {}).get("content", ""))
        item = _message(mid, thread.spec, datetime.fromtimestamp(int(mid) / 1000, UTC), sender, content_html,
                        list(body.get("mentions") or []), [], body.get("subject"), app_identity)
        item["body"]["contentType"] = body.get("body", {}).get("contentType", "text")
        item["importance"] = body.get("importance", "normal")
        thread.store.coll.put_new(mid, item)
        return item

    def edit_message(self, thread: Thread, mid: str, fields: dict) -> Item:
        item = _require_message(thread, mid)
        updated = copy.deepcopy(item)
        updated.update(copy.deepcopy(fields))
        touched = set(fields) | {"lastModifiedDateTime", "etag"}
        if "body" in fields:
            updated["lastEditedDateTime"] = _touch(updated)
            touched.add("lastEditedDateTime")
        else:
            _touch(updated)
        thread.store.coll.update(mid, updated, frozenset(touched))
        return updated

    def soft_delete_message(self, thread: Thread, mid: str) -> Item:
        """Teams keeps a deleted message in place: deletedDateTime set, body emptied."""
        item = _require_message(thread, mid)
        updated = copy.deepcopy(item)
        updated["deletedDateTime"] = _touch(updated)
        updated["body"] = {"contentType": "text", "content": ""}
        updated["mentions"], updated["attachments"], updated["reactions"] = [], [], []
        thread.store.coll.update(mid, updated, frozenset({"deletedDateTime", "body", "lastModifiedDateTime", "etag"}))
        return updated

    def reply_to_post(self, channel: ChannelState, post_id: str, body: dict, sender: content.Person | None) -> Item:
        """A new reply changes the reply chain: the post is reported again by channel message delta."""
        post = _require_message(channel.thread, post_id)
        reply = self.post_message(self.replies(channel, post_id, post), body, sender)
        updated = copy.deepcopy(post)
        updated["_chainModifiedDateTime"] = reply["createdDateTime"]
        channel.thread.store.coll.update(post_id, updated, frozenset({"replies"}))
        return reply


def _require_message(thread: Thread, mid: str) -> Item:
    item = thread.store.get(mid)
    if item is None:
        raise ApiError(404, "NotFound", f"Message {mid} not found.")
    return item


def _touch(item: Item) -> str:
    """Bump lastModifiedDateTime and the etag (Teams etags are the modification time in ms)."""
    now = datetime.now(UTC)
    ms = max(epoch_ms(now), int(item.get("etag") or 0) + 1)
    stamp = iso_ms(datetime.fromtimestamp(ms / 1000, UTC))
    item["lastModifiedDateTime"] = stamp
    item["etag"] = str(ms)
    return stamp


# -- building the seeded tenant --------------------------------------------------------------------
def build_state(tenant: Tenant) -> TeamsState:
    users = tenant.user_ids()
    teams_count = tenant.scale.teams if users else 0
    team_keys = [team_id(tenant.seed, i) for i in range(teams_count)]
    seeded_teams = [_seed_team(tenant, i, users) for i in range(teams_count)]
    team_items = [t[0] for t in seeded_teams]
    teams = seeded_store(tenant, "teams", team_keys, lambda i: copy.deepcopy(team_items[i]))
    team_state = {t[1].id: t[1] for t in seeded_teams}
    chat_specs = _chat_specs(tenant, users)
    chat_items = [spec[0] for spec in chat_specs]
    chats = seeded_store(tenant, "chats", [c["id"] for c in chat_items], lambda i: copy.deepcopy(chat_items[i]))
    state = TeamsState(tenant, teams, team_state, chats, {})
    for item, member_ids in chat_specs:
        state.chat_state[item["id"]] = _chat_state(tenant, item, member_ids, seeded=True)
    return state


def _seed_team(tenant: Tenant, index: int, users: list[str]) -> tuple[Item, TeamState]:
    h = content.mix(tenant.seed, index, 31)
    key = team_id(tenant.seed, index)
    size = min(len(users), 3 + h % 4)
    member_ids = [users[(index + j) % len(users)] for j in range(size)]
    created = content.EPOCH - timedelta(days=200 + h % 300)
    name = TEAM_NAMES[index % len(TEAM_NAMES)] + ("" if index < len(TEAM_NAMES) else f" {index}")
    item = team_object(tenant, key, name, f"Where the {name} team works together.",
                       "private" if h % 3 == 0 else "public", created)
    channels = [(channel_id(tenant.seed, key, c), name, kind) for c, (name, kind) in enumerate(CHANNEL_SEEDS)]
    item["internalId"] = channels[0][0]
    item["webUrl"] = _team_url(tenant, key, channels[0][0])
    channel_items = [channel_object(tenant, key, cid, cname, kind, created) for cid, cname, kind in channels]
    channel_store = seeded_store(tenant, f"channels/{key}", [c[0] for c in channels],
                                 lambda i: copy.deepcopy(channel_items[i]))
    channel_state = {cid: _channel_state(tenant, key, cid, kind, member_ids, tenant.scale.messages_per_thread,
                                         member_ids[:2]) for cid, _, kind in channels}
    return item, TeamState(key, channel_store, channel_state,
                           _member_store(tenant, f"teamMembers/{key}", key, member_ids))


def team_object(tenant: Tenant, key: str, name: str, description: str, visibility: str, created: datetime) -> Item:
    return {
        "id": key, "createdDateTime": iso_ms(created), "displayName": name, "description": description,
        "internalId": None, "classification": None, "specialization": "none", "visibility": visibility,
        "webUrl": None, "isArchived": False, "tenantId": tenant.config.tenant_id,
        "isMembershipLimitedToOwners": False,
        "memberSettings": {"allowCreateUpdateChannels": True, "allowCreatePrivateChannels": True,
                           "allowDeleteChannels": True, "allowAddRemoveApps": True,
                           "allowCreateUpdateRemoveTabs": True, "allowCreateUpdateRemoveConnectors": True},
        "guestSettings": {"allowCreateUpdateChannels": False, "allowDeleteChannels": False},
        "messagingSettings": {"allowUserEditMessages": True, "allowUserDeleteMessages": True,
                              "allowOwnerDeleteMessages": True, "allowTeamMentions": True,
                              "allowChannelMentions": True},
        "funSettings": {"allowGiphy": True, "giphyContentRating": "moderate", "allowStickersAndMemes": True,
                        "allowCustomMemes": True},
        "discoverySettings": {"showInTeamsSearchAndSuggestions": visibility == "public"},
    }


def _team_url(tenant: Tenant, key: str, general: str) -> str:
    return (f"https://teams.microsoft.com/l/team/{quote(general, safe='')}/conversations?groupId={key}"
            f"&tenantId={tenant.config.tenant_id}")


def channel_object(tenant: Tenant, team_key: str, key: str, name: str, kind: str, created: datetime,
                   description: str | None = None) -> Item:
    return {
        "id": key, "createdDateTime": iso_ms(created), "displayName": name,
        "description": description if description is not None else f"{name} channel",
        "isFavoriteByDefault": None, "email": "", "membershipType": kind, "isArchived": False,
        "tenantId": tenant.config.tenant_id,
        "webUrl": f"https://teams.microsoft.com/l/channel/{quote(key, safe='')}/{quote(name)}?groupId={team_key}"
                  f"&tenantId={tenant.config.tenant_id}",
    }


def _member_store(tenant: Tenant, name: str, container: str, user_ids: list[str]) -> Store:
    people = [tenant.person(u) for u in user_ids]
    tid = tenant.config.tenant_id
    keys = [member_id(container, p.id) for p in people]
    return seeded_store(tenant, name, keys,
                        lambda i: member_object(container, people[i], ["owner"] if i == 0 else [], tid))


def _channel_state(tenant: Tenant, team_key: str, key: str, kind: str, member_ids: list[str], count: int,
                   private_members: list[str]) -> ChannelState:
    """A channel's thread; a private channel also gets its own member list (`private_members`)."""
    private_members = private_members if kind == "private" else []
    talkers = private_members or member_ids
    spec = ThreadSpec(key, count, tuple(tenant.person(u) for u in talkers), tenant.config.tenant_id,
                      team_id=team_key, channel_id=key)
    members = _member_store(tenant, f"channelMembers/{key}", key, private_members) if kind == "private" else None
    return ChannelState(key, team_key, make_thread(tenant, spec), members)


def _chat_specs(tenant: Tenant, users: list[str]) -> list[tuple[Item, list[str]]]:
    """Chats started by each user: one-on-ones with neighbours and small group chats."""
    out: list[tuple[Item, list[str]]] = []
    seen: set[str] = set()
    n = len(users)
    for a, user in enumerate(users):
        for k in range(tenant.scale.chats_per_user):
            if k % 2 == 0:
                members = [user, users[(a + k // 2 + 1) % n]] if n >= 2 else []
            else:
                members = list(dict.fromkeys([user, users[(a + 1) % n], users[(a + 2 + k // 2) % n]]))
            if len(set(members)) < 2:
                continue
            h = content.mix(tenant.seed, a, k, 41)
            if k % 2 == 0:
                key, topic, kind = one_on_one_chat_id(*members), None, "oneOnOne"
            else:
                key = f"19:{_thread_hex(tenant.seed, 'chat', a, k)}@thread.v2"
                topic, kind = CHAT_TOPICS[h % len(CHAT_TOPICS)], "group"
            if key in seen:
                continue
            seen.add(key)
            created = content.EPOCH - timedelta(days=30 + h % 200, minutes=h % 600)
            out.append((chat_object(tenant, key, kind, topic, created), members))
    return out


def chat_object(tenant: Tenant, key: str, kind: str, topic: str | None, created: datetime) -> Item:
    return {"id": key, "topic": topic, "createdDateTime": iso_ms(created), "lastUpdatedDateTime": iso_ms(created),
            "chatType": kind, "webUrl": f"https://teams.microsoft.com/l/chat/{quote(key, safe='')}/0?tenantId="
                                        f"{tenant.config.tenant_id}",
            "tenantId": tenant.config.tenant_id, "isHiddenForAllMembers": False, "onlineMeetingInfo": None}


def _chat_state(tenant: Tenant, item: Item, member_ids: list[str], seeded: bool) -> ChatState:
    key = item["id"]
    spec = ThreadSpec(key, tenant.scale.messages_per_thread if seeded else 0,
                      tuple(tenant.person(u) for u in member_ids), tenant.config.tenant_id, chat_id=key)
    return ChatState(key, _member_store(tenant, f"chatMembers/{key}", key, member_ids),
                     make_thread(tenant, spec))


# -- HTTP ------------------------------------------------------------------------------------------
class TeamsArea:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self._state: TeamsState | None = None

    @property
    def state(self) -> TeamsState:
        if self._state is None:
            self._state = build_state(self.tenant)
        return self._state

    def register(self, r: Router) -> None:
        t, c = "/teams/{team}", "/teams/{team}/channels/{channel}"
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
        r.add("DELETE", f"{c}/messages/{{message}}", self.delete_channel_message)
        r.add("GET", f"{c}/messages/{{message}}/replies", self.list_replies)
        r.add("GET", "/chats", self.list_chats)
        r.add("POST", "/chats", self.create_chat)
        r.add("GET", "/chats/getAllMessages", self.all_chat_messages)
        r.add("GET", "/users/{user}/chats", self.list_user_chats)
        r.add("GET", "/users/{user}/chats/getAllMessages", self.user_all_chat_messages)
        r.add("GET", "/chats/{chat}", self.get_chat)
        r.add("PATCH", "/chats/{chat}", self.update_chat)
        r.add("DELETE", "/chats/{chat}", self.delete_chat)
        r.add("GET", "/chats/{chat}/members", self.list_chat_members)
        r.add("POST", "/chats/{chat}/members", self.add_chat_member)
        r.add("POST", "/chats/{chat}/members/add", self.add_chat_members)
        r.add("GET", "/chats/{chat}/members/{member}", self.get_chat_member)
        r.add("PATCH", "/chats/{chat}/members/{member}", self.update_chat_member)
        r.add("DELETE", "/chats/{chat}/members/{member}", self.remove_chat_member)
        r.add("GET", "/chats/{chat}/messages", self.list_chat_messages)
        r.add("POST", "/chats/{chat}/messages", self.post_chat_message)
        r.add("GET", "/chats/{chat}/messages/{message}", self.get_chat_message)
        r.add("PATCH", "/chats/{chat}/messages/{message}", self.update_chat_message)
        r.add("DELETE", "/chats/{chat}/messages/{message}", self.delete_chat_message)

    # -- teams -----------------------------------------------------------------------------------
    def list_teams(self, req: Request) -> Response:
        return _page(req, (public(v) for _, v in self.state.teams.items()))

    def joined_teams(self, req: Request) -> Response:
        user = req.params["user"]
        joined = (public(v) for k, v in self.state.teams.items()
                  if any(m.get("userId") == user for _, m in self.state.team_state[k].members.items()))
        return _page(req, joined)

    def get_team(self, req: Request) -> Response:
        _, item = self.state.team(req.params["team"])
        return json_response(select(public(item), req))

    def create_team(self, req: Request) -> Response:
        body = req.json()
        name = body.get("displayName")
        if not name:
            raise bad_request("displayName is required to create a team.")
        member_ids = list(dict.fromkeys(_bound_user(self.tenant, m) for m in body.get("members") or []))
        if req.principal and req.principal.user_id and req.principal.user_id not in member_ids:
            member_ids.insert(0, req.principal.user_id)  # the signed-in creator becomes the owner
        if not member_ids:
            # Documented: with application permissions a user must be given in `members`.
            raise bad_request("A team owner must be provided in 'members' when creating a team with application "
                              "permissions.")
        team = self._new_team(name, body, member_ids)
        return self._accepted(team, "createTeam")

    def _new_team(self, name: str, body: dict, member_ids: list[str]) -> TeamState:
        key = ids.guid(self.tenant.seed, self.tenant.new_key("team"))
        now = datetime.now(UTC)
        item = team_object(self.tenant, key, name, body.get("description") or "", body.get("visibility") or "public",
                           now)
        item.update({k: copy.deepcopy(v) for k, v in body.items() if k in _TEAM_WRITABLE - {"displayName"}})
        general = channel_id(self.tenant.seed, key, 0)
        item["internalId"], item["webUrl"] = general, _team_url(self.tenant, key, general)
        team = TeamState(key, Store(Collection(f"channels/{key}", self.tenant.clock), {}), {},
                         Store(Collection(f"teamMembers/{key}", self.tenant.clock), {}))
        for i, user in enumerate(member_ids):
            team.members.coll.put_new(member_id(key, user), member_object(
                key, self.tenant.person(user), ["owner"] if i == 0 else [], self.tenant.config.tenant_id))
        channels = [{"displayName": "General"}, *(body.get("channels") or [])]
        for i, spec in enumerate(channels):
            self._add_channel(team, channel_id(self.tenant.seed, key, i), spec, member_ids[:1])
        self.state.teams.coll.put_new(key, item)
        self.state.team_state[key] = team
        return team

    def _add_channel(self, team: TeamState, key: str, spec: dict, owners: list[str]) -> Item:
        kind = spec.get("membershipType", "standard")
        item = channel_object(self.tenant, team.id, key, spec["displayName"], kind, datetime.now(UTC),
                              spec.get("description"))
        item["isFavoriteByDefault"] = spec.get("isFavoriteByDefault")
        member_ids = [m.get("userId") for _, m in team.members.items()] or owners
        state = _channel_state(self.tenant, team.id, key, kind, member_ids, 0, owners[:1])
        team.channels.coll.put_new(key, item)
        team.channel_state[key] = state
        return item

    def _accepted(self, team: TeamState, operation: str) -> Response:
        """202 Accepted: Location names the teamsAsyncOperation, Content-Location the team."""
        op_id = ids.guid(self.tenant.seed, self.tenant.new_key("teamsop"))
        now = iso_ms(datetime.now(UTC))
        team.operations[op_id] = {
            "id": op_id, "operationType": operation, "createdDateTime": now, "status": "succeeded",
            "lastActionDateTime": now, "attemptsCount": 1, "targetResourceId": team.id,
            "targetResourceLocation": f"/teams('{team.id}')", "error": None}
        return Response(202, None, {"location": f"/teams('{team.id}')/operations('{op_id}')",
                                    "content-location": f"/teams('{team.id}')", "content-type": "application/json"})

    def get_operation(self, req: Request) -> Response:
        team, _ = self.state.team(req.params["team"])
        op = team.operations.get(req.params["operation"])
        if op is None:
            raise ApiError(404, "NotFound", "Operation not found.")
        return json_response(op)

    def update_team(self, req: Request) -> Response:
        team, item = self.state.team(req.params["team"])
        fields = _writable(req.json(), _TEAM_WRITABLE, "team")
        _update(self.state.teams, team.id, item, fields)
        return Response(204)

    def delete_team(self, req: Request) -> Response:
        team, _ = self.state.team(req.params["team"])
        self.state.teams.coll.remove(team.id)
        del self.state.team_state[team.id]
        for cid in team.channel_state:
            self.tenant.chains.evict(f"chatMessages/{cid}")
        return Response(204)

    def archive(self, archived: bool) -> Callable[[Request], Response]:
        def handle(req: Request) -> Response:
            team, item = self.state.team(req.params["team"])
            _update(self.state.teams, team.id, item, {"isArchived": archived})
            return self._accepted(team, "archiveTeam" if archived else "unarchiveTeam")

        return handle

    # -- members ---------------------------------------------------------------------------------
    def list_team_members(self, req: Request) -> Response:
        team, _ = self.state.team(req.params["team"])
        return _page(req, (public(m) for _, m in team.members.items()))

    def add_team_member(self, req: Request) -> Response:
        team, _ = self.state.team(req.params["team"])
        return json_response(self._add_member(team.members, team.id, req.json()), 201)

    def add_team_members(self, req: Request) -> Response:
        team, _ = self.state.team(req.params["team"])
        return self._add_members(req, team.members, team.id)

    def _add_member(self, store: Store, container: str, body: dict) -> dict:
        user = _bound_user(self.tenant, body)
        key = member_id(container, user)
        existing = store.get(key)
        if existing is not None:  # adding a member twice leaves one membership
            return public(existing)
        item = member_object(container, self.tenant.person(user), list(body.get("roles") or []),
                             self.tenant.config.tenant_id)
        store.coll.put_new(key, item)
        return item

    def _add_members(self, req: Request, store: Store, container: str) -> Response:
        """conversationMember: add: 200 when every member was added, 207 when some were not."""
        values = req.action_params().get("values")
        if not isinstance(values, list) or not values:
            raise bad_request("The 'values' parameter is required.")
        results = []
        for value in values:
            bind = _BIND_USER.search(str(value.get("user@odata.bind", "")))
            try:
                item = self._add_member(store, container, value)
                results.append({"@odata.type": "#microsoft.graph.aadUserConversationMemberResult",
                                "userId": item["userId"], "error": None})
            except ApiError:
                results.append({"@odata.type": "#microsoft.graph.aadUserConversationMemberResult",
                                "userId": bind.group(1) if bind else None,
                                "error": {"code": "NotFound", "message": ""}})
        failed = any(r["error"] for r in results)
        context = "addConversationMemberResult" if failed else "aadUserConversationMemberResult"
        return json_response({"@odata.context": f"{req.base_url}/$metadata#Collection(microsoft.graph.{context})",
                              "value": results}, 207 if failed else 200)

    # -- channels --------------------------------------------------------------------------------
    def list_channels(self, req: Request) -> Response:
        team, _ = self.state.team(req.params["team"])
        return _page(req, (public(v) for _, v in team.channels.items()), filterable=True)

    def get_channel(self, req: Request) -> Response:
        _, _, item = self.state.channel(req.params["team"], req.params["channel"])
        return json_response(select(public(item), req))

    def create_channel(self, req: Request) -> Response:
        team, _ = self.state.team(req.params["team"])
        body = req.json()
        name = body.get("displayName")
        if not name:
            raise bad_request("displayName is required to create a channel.")
        if any(str(v.get("displayName", "")).lower() == str(name).lower() for _, v in team.channels.items()):
            raise bad_request("Channel name already existed, please use other name.", "NameAlreadyExists")
        if body.get("membershipType", "standard") not in ("standard", "private", "shared"):
            raise bad_request(f"Invalid membershipType '{body.get('membershipType')}'.")
        owners = [_bound_user(self.tenant, m) for m in body.get("members") or []]
        if req.principal and req.principal.user_id:
            owners.insert(0, req.principal.user_id)
        owners = owners or [m.get("userId") for _, m in team.members.items()][:1]
        key = f"19:{_thread_hex(self.tenant.seed, self.tenant.new_key('channel'))}@thread.tacv2"
        return json_response(public(self._add_channel(team, key, body, owners)), 201)

    def update_channel(self, req: Request) -> Response:
        team, channel, item = self.state.channel(req.params["team"], req.params["channel"])
        fields = _writable(req.json(), _CHANNEL_WRITABLE, "channel")
        if "displayName" in fields and item["displayName"] == "General" and fields["displayName"] != "General":
            raise bad_request("The General channel cannot be renamed.")
        _update(team.channels, channel.id, item, fields)
        return Response(204)

    def delete_channel(self, req: Request) -> Response:
        team, channel, item = self.state.channel(req.params["team"], req.params["channel"])
        if item.get("displayName") == "General":
            raise bad_request("The General channel cannot be deleted.")
        team.channels.coll.remove(channel.id)
        del team.channel_state[channel.id]
        self.tenant.chains.evict(f"chatMessages/{channel.id}")
        return Response(204)

    def list_channel_members(self, req: Request) -> Response:
        team, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        store = channel.members or team.members  # a standard channel's members are the team's
        return _page(req, (public(m) for _, m in store.items()))

    def add_channel_member(self, req: Request) -> Response:
        _, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        if channel.members is None:
            raise bad_request("Adding members is only supported for private and shared channels.")
        return json_response(self._add_member(channel.members, channel.id, req.json()), 201)

    # -- channel messages ------------------------------------------------------------------------
    def list_channel_messages(self, req: Request) -> Response:
        _, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        expand = _expand_replies(req)
        newest_first = sorted(channel.thread.store.items(), key=lambda kv: int(kv[0]), reverse=True)
        return _page(req, (self._render_post(channel, k, v, expand) for k, v in newest_first), limit=50)

    def _render_post(self, channel: ChannelState, key: str, item: Item, expand: bool) -> dict:
        out = public(item)
        if expand:
            out["replies"] = [public(r) for _, r in self.state.replies(channel, key, item).store.items()]
        return out

    def get_channel_message(self, req: Request) -> Response:
        _, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        item = _require_message(channel.thread, req.params["message"])
        return json_response(self._render_post(channel, req.params["message"], item, _expand_replies(req)))

    def post_channel_message(self, req: Request) -> Response:
        _, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        body = _message_body(req.json())
        item = self.state.post_message(channel.thread, body, *self._sender(req))
        return json_response(public(item), 201)

    def update_channel_message(self, req: Request) -> Response:
        _, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        self.state.edit_message(channel.thread, req.params["message"], _writable(req.json(), _MESSAGE_WRITABLE,
                                                                                 "chatMessage"))
        return Response(204)

    def delete_channel_message(self, req: Request) -> Response:
        _, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        self.state.soft_delete_message(channel.thread, req.params["message"])
        return Response(204)

    def list_replies(self, req: Request) -> Response:
        _, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        post = _require_message(channel.thread, req.params["message"])
        chain = self.state.replies(channel, req.params["message"], post)
        return _page(req, (public(v) for _, v in chain.store.items()), limit=50)

    def channel_messages_delta(self, req: Request) -> Response:
        """chatMessage: delta. Top-level posts only (replies come with $expand=replies).

        Deleting a channel message is a soft delete in Teams, so a deleted post is not reported with
        @removed: it comes back as a changed message with `deletedDateTime` set and an empty body,
        which is how a client sees deletions in Teams. @removed only appears for posts whose channel
        was deleted under a live sync state (the state is evicted then, so clients get a 410 instead).
        """
        _, channel, _ = self.state.channel(req.params["team"], req.params["channel"])
        token = req.query.get("$deltatoken") or req.query.get("$skiptoken")
        options = {} if token else _channel_delta_options(req)
        src = DeltaSource(
            channel.thread.store.coll, req.path, render_full=lambda k, v: None,
            render_removed=lambda c: _removed_message(c),
            default_page=20, max_page=50, expired=sync_state_not_found, options=options,
        )

        def render_full(key: str, item: Item) -> dict | None:
            since = src.options.get("since")
            if since and _chain_modified(item) <= parse_time(since):
                return None  # the filter keeps reply chains created or changed after `since`
            return self._render_post(channel, key, item, bool(src.options.get("replies")))

        src.render_full = render_full
        size = page_size(req, teams_limits(20)) if "$top" in req.query else None
        return serve(req, src, self.tenant.chains, self.tenant.config.knobs, token, size)

    # -- chats -----------------------------------------------------------------------------------
    def list_chats(self, req: Request) -> Response:
        user = req.principal.user_id if req.principal else None
        if user is None:
            # List chats supports application permissions only as /users/{id}/chats.
            raise ApiError(412, "PreconditionFailed", "Requested API is not supported in application-only context")
        return self._chats_page(req, user)

    def list_user_chats(self, req: Request) -> Response:
        return self._chats_page(req, req.params["user"])

    def _chats_page(self, req: Request, user: str) -> Response:
        expand = req.query.get("$expand")
        if expand and expand.strip() != "members":
            raise bad_request("Only 'members' can be expanded on chats.")
        chats = (self._render_chat(k, v, bool(expand)) for k, v in self.state.chats_of(user))
        return _page(req, chats, filterable=True, limit=50)

    def _render_chat(self, key: str, item: Item, with_members: bool) -> dict:
        out = public(item)
        if with_members:
            out["members"] = [public(m) for _, m in self.state.chat_state[key].members.items()]
        return out

    def get_chat(self, req: Request) -> Response:
        _, item = self.state.chat(req.params["chat"])
        expand = req.query.get("$expand", "")
        return json_response(select(self._render_chat(req.params["chat"], item, expand == "members"), req))

    def create_chat(self, req: Request) -> Response:
        body = req.json()
        kind = body.get("chatType")
        if kind not in ("oneOnOne", "group"):
            raise bad_request("chatType must be 'oneOnOne' or 'group'.")
        bound = body.get("members") or []
        member_ids = list(dict.fromkeys(_bound_user(self.tenant, m) for m in bound))
        if kind == "oneOnOne" and len(member_ids) != 2:
            raise bad_request("A oneOnOne chat must have exactly two members.")
        if kind == "group" and len(member_ids) < 2:
            raise bad_request("A group chat must have at least two members.")
        if kind == "oneOnOne" and body.get("topic"):
            raise bad_request("A topic can only be set on a group chat.")
        key = (one_on_one_chat_id(*member_ids) if kind == "oneOnOne"
               else f"19:{_thread_hex(self.tenant.seed, self.tenant.new_key('chat'))}@thread.v2")
        existing = self.state.chats.get(key)
        if existing is not None:  # documented: an existing one-on-one chat is returned, not duplicated
            return json_response(public(existing), 201)
        item = chat_object(self.tenant, key, kind, body.get("topic"), datetime.now(UTC))
        state = _chat_state(self.tenant, item, member_ids, seeded=False)
        for m in bound:  # roles as requested ("owner" / "guest")
            user = _bound_user(self.tenant, m)
            mkey = member_id(key, user)
            member = state.members.get(mkey)
            if member is not None and m.get("roles") is not None:
                state.members.coll.update(mkey, {**member, "roles": list(m["roles"])}, frozenset({"roles"}))
        self.state.chats.coll.put_new(key, item)
        self.state.chat_state[key] = state
        return json_response(public(item), 201)

    def update_chat(self, req: Request) -> Response:
        state, item = self.state.chat(req.params["chat"])
        fields = _writable(req.json(), {"topic"}, "chat")
        if "topic" in fields and item["chatType"] != "group":
            raise bad_request("A topic can only be set on a group chat.")
        updated = _update(self.state.chats, state.id, item, {**fields, "lastUpdatedDateTime": iso_ms(
            datetime.now(UTC))})
        return json_response(public(updated))

    def delete_chat(self, req: Request) -> Response:
        state, _ = self.state.chat(req.params["chat"])
        self.state.chats.coll.remove(state.id, "changed")  # soft delete: restorable for 30 days
        return Response(204)

    def list_chat_members(self, req: Request) -> Response:
        state, _ = self.state.chat(req.params["chat"])
        return _page(req, (public(m) for _, m in state.members.items()))

    def _chat_member(self, req: Request) -> tuple[ChatState, Item, str, Item]:
        state, chat = self.state.chat(req.params["chat"])
        key = req.params["member"]
        member = state.members.get(key)
        if member is None:
            raise ApiError(404, "NotFound", "Member not found.")
        return state, chat, key, member

    def get_chat_member(self, req: Request) -> Response:
        return json_response(public(self._chat_member(req)[3]))

    def add_chat_member(self, req: Request) -> Response:
        state, chat = self.state.chat(req.params["chat"])
        if chat["chatType"] == "oneOnOne":
            raise bad_request("Members cannot be added to a oneOnOne chat.")
        item = self._add_member(state.members, state.id, req.json())
        self._members_changed(state.id, chat)
        return json_response(item, 201)

    def add_chat_members(self, req: Request) -> Response:
        state, chat = self.state.chat(req.params["chat"])
        if chat["chatType"] == "oneOnOne":
            raise bad_request("Members cannot be added to a oneOnOne chat.")
        response = self._add_members(req, state.members, state.id)
        self._members_changed(state.id, chat)
        return response

    def update_chat_member(self, req: Request) -> Response:
        state, _, key, member = self._chat_member(req)
        fields = _writable(req.json(), {"roles"}, "conversationMember")
        updated = _update(state.members, key, member, fields)
        return json_response(public(updated))

    def remove_chat_member(self, req: Request) -> Response:
        state, chat, key, _ = self._chat_member(req)
        if chat["chatType"] == "oneOnOne":
            raise bad_request("Members cannot be removed from a oneOnOne chat.")
        state.members.coll.remove(key)
        self._members_changed(state.id, chat)
        return Response(204)

    def _members_changed(self, key: str, chat: Item) -> None:
        """chat.lastUpdatedDateTime: when the chat was renamed or its member list last changed."""
        _update(self.state.chats, key, chat, {"lastUpdatedDateTime": iso_ms(datetime.now(UTC))})

    # -- chat messages ---------------------------------------------------------------------------
    def list_chat_messages(self, req: Request) -> Response:
        """$orderby lastModifiedDateTime (default) or createdDateTime, descending only; $filter on the
        same property only, otherwise Graph ignores it (chat-list-messages.md)."""
        state, _ = self.state.chat(req.params["chat"])
        prop, predicate = _chat_message_query(req)
        messages = [public(v) for _, v in state.thread.store.items()]
        if predicate is not None:
            messages = [m for m in messages if predicate(m)]
        messages.sort(key=lambda m: (parse_time(m[prop]), int(m["id"])), reverse=True)
        return _page(req, messages, limit=50)

    def get_chat_message(self, req: Request) -> Response:
        state, _ = self.state.chat(req.params["chat"])
        return json_response(public(_require_message(state.thread, req.params["message"])))

    def post_chat_message(self, req: Request) -> Response:
        state, _ = self.state.chat(req.params["chat"])
        item = self.state.post_message(state.thread, _message_body(req.json()), *self._sender(req))
        return json_response(public(item), 201)

    def update_chat_message(self, req: Request) -> Response:
        state, _ = self.state.chat(req.params["chat"])
        self.state.edit_message(state.thread, req.params["message"],
                                _writable(req.json(), _MESSAGE_WRITABLE, "chatMessage"))
        return Response(204)

    def delete_chat_message(self, req: Request) -> Response:
        state, _ = self.state.chat(req.params["chat"])
        self.state.soft_delete_message(state.thread, req.params["message"])
        return Response(204)

    def user_all_chat_messages(self, req: Request) -> Response:
        self._require_app_only(req)
        chats = self.state.chats_of(req.params["user"])
        return self._all_messages(req, [k for k, _ in chats])

    def all_chat_messages(self, req: Request) -> Response:
        self._require_app_only(req)
        return self._all_messages(req, [k for k, _ in self.state.chats.items()])

    @staticmethod
    def _require_app_only(req: Request) -> None:
        if req.principal is not None and req.principal.user_id is not None:
            raise ApiError(412, "PreconditionFailed", "Requested API is not supported in delegated context")

    def _all_messages(self, req: Request, chat_keys: list[str]) -> Response:
        """getAllMessages: every message of the chats, filtered by lastModifiedDateTime gt/lt."""
        predicate = _modified_window(req.query.get("$filter"))
        model = req.query.get("model")
        if model is not None and model not in ("A", "B"):
            raise bad_request(f"Invalid model '{model}'; supported values are A and B.")
        messages = (public(v) for key in chat_keys for _, v in self.state.chat_state[key].thread.store.items())
        return _page(req, [m for m in messages if predicate(m)], limit=50)

    def _sender(self, req: Request) -> tuple[content.Person | None, dict | None]:
        """The signed-in user for delegated calls; an app identity for app-only calls (see module notes)."""
        user = req.principal.user_id if req.principal else None
        if user is not None:
            return self.tenant.person(user), None
        return None, {"@odata.type": "#microsoft.graph.teamworkApplicationIdentity", "id": self.tenant.config.client_id,
                      "displayName": "graphsync", "applicationIdentityType": "bot"}

    # -- control surface -------------------------------------------------------------------------
    def control_ops(self) -> dict[str, Callable[..., Any]]:
        return {"post_channel_message": self.op_post_channel_message,
                "edit_channel_message": self.op_edit_channel_message,
                "delete_channel_message": self.op_delete_channel_message,
                "post_channel_reply": self.op_post_channel_reply,
                "post_chat_message": self.op_post_chat_message,
                "edit_chat_message": self.op_edit_chat_message,
                "delete_chat_message": self.op_delete_chat_message,
                "teams_state": self.op_teams_state,
                "chats_state": self.op_chats_state}

    def _control_sender(self, thread: Thread, user: str | None) -> content.Person:
        if user is not None:
            return self.tenant.person(self.tenant.resolve_user(user)[0])
        return thread.spec.senders[0]

    def op_post_channel_message(self, team: str, channel: str, text: str, user: str | None = None) -> dict:
        _, state, _ = self.state.channel(team, channel)
        body = {"body": {"contentType": "html", "content": f"<p>{text}</p>"}}
        return public(self.state.post_message(state.thread, body, self._control_sender(state.thread, user)))

    def op_edit_channel_message(self, team: str, channel: str, message: str, text: str) -> dict:
        _, state, _ = self.state.channel(team, channel)
        return public(self.state.edit_message(state.thread, message,
                                              {"body": {"contentType": "html", "content": f"<p>{text}</p>"}}))

    def op_delete_channel_message(self, team: str, channel: str, message: str) -> dict:
        _, state, _ = self.state.channel(team, channel)
        return public(self.state.soft_delete_message(state.thread, message))

    def op_post_channel_reply(self, team: str, channel: str, message: str, text: str, user: str | None = None) -> dict:
        _, state, _ = self.state.channel(team, channel)
        body = {"body": {"contentType": "html", "content": f"<p>{text}</p>"}}
        return public(self.state.reply_to_post(state, message, body, self._control_sender(state.thread, user)))

    def op_post_chat_message(self, chat: str, text: str, user: str | None = None) -> dict:
        state, _ = self.state.chat(chat)
        body = {"body": {"contentType": "html", "content": f"<p>{text}</p>"}}
        return public(self.state.post_message(state.thread, body, self._control_sender(state.thread, user)))

    def op_edit_chat_message(self, chat: str, message: str, text: str) -> dict:
        state, _ = self.state.chat(chat)
        return public(self.state.edit_message(state.thread, message,
                                              {"body": {"contentType": "html", "content": f"<p>{text}</p>"}}))

    def op_delete_chat_message(self, chat: str, message: str) -> dict:
        state, _ = self.state.chat(chat)
        return public(self.state.soft_delete_message(state.thread, message))

    def op_teams_state(self) -> dict[str, dict]:
        """Every live team with its members, channels and channel posts (replies under each post)."""
        out: dict[str, dict] = {}
        for key, team in self.state.teams.items():
            ts = self.state.team_state[key]
            channels = {}
            for cid, channel in ts.channels.items():
                cs = ts.channel_state[cid]
                posts = {k: self._render_post(cs, k, v, True) for k, v in cs.thread.store.items()}
                members = cs.members or ts.members
                channels[cid] = {"channel": public(channel), "members": [public(m) for _, m in members.items()],
                                 "messages": posts}
            out[key] = {"team": public(team), "members": [public(m) for _, m in ts.members.items()],
                        "channels": channels}
        return out

    def op_chats_state(self, user: str) -> dict[str, dict]:
        """Every live chat of a user with its members and messages."""
        user_id, _ = self.tenant.resolve_user(user)
        out: dict[str, dict] = {}
        for key, chat in self.state.chats_of(user_id):
            cs = self.state.chat_state[key]
            out[key] = {"chat": public(chat), "members": [public(m) for _, m in cs.members.items()],
                        "messages": {k: public(v) for k, v in cs.thread.store.items()}}
        return out


# -- helpers ---------------------------------------------------------------------------------------
def _page(req: Request, objects: Iterable[dict], *, filterable: bool = False, limit: int | None = None) -> Response:
    """Page a Teams list with $top (at most 50 where Graph says so) and an opaque $skiptoken."""
    items = list(objects)
    if filterable:
        predicate = compile_filter(req.query.get("$filter"))
        if predicate is not None:
            items = [o for o in items if predicate(o)]
    size = page_size(req, teams_limits(20)) if limit else page_size(req, _plain_limits())
    start = skiptoken_position(req.query.get("$skiptoken"))
    chunk = items[start : start + size]
    more = start + size < len(items)
    next_query = None
    if more:
        next_query = {k: v for k, v in req.query.items() if k != "$skiptoken"}
        next_query["$skiptoken"] = skiptoken(start + size)
    return list_response(req, [select(o, req) for o in chunk], next_query)


def _plain_limits() -> PageLimits:  # lists without a documented cap (teams, channels, members)
    return PageLimits(100, 999)


def _writable(body: Any, allowed: set[str], type_name: str) -> dict:
    if not isinstance(body, dict):
        raise bad_request("Empty Payload. JSON content expected.")
    unknown = set(body) - allowed - {"@odata.type"}
    if unknown:
        raise bad_request(f"Property '{sorted(unknown)[0]}' does not exist on type 'microsoft.graph.{type_name}' "
                          "or cannot be updated.")
    return {k: v for k, v in body.items() if k in allowed}


def _update(store: Store, key: str, item: Item, fields: dict) -> Item:
    updated = copy.deepcopy(item)
    updated.update(copy.deepcopy(fields))
    store.coll.update(key, updated, frozenset(fields))
    return updated


def _bound_user(tenant: Tenant, member: dict) -> str:
    """The user of a conversationMember payload: user@odata.bind, or userId."""
    bind = _BIND_USER.search(str(member.get("user@odata.bind", "")))
    raw = bind.group(1) if bind else member.get("userId")
    if not raw:
        raise bad_request("A member must be bound to a user with 'user@odata.bind'.")
    try:
        user_id, _ = tenant.resolve_user(str(raw))
    except ApiError:
        raise ApiError(404, "NotFound", f"User '{raw}' was not found.") from None
    return user_id


def _message_body(body: Any) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get("body"), dict) or not body["body"].get("content"):
        raise bad_request("Message body cannot be empty.")
    if body["body"].get("contentType", "text") not in ("text", "html"):
        raise bad_request("contentType must be 'text' or 'html'.")
    return body


def _expand_replies(req: Request) -> bool:
    expand = req.query.get("$expand")
    if expand and expand.strip() != "replies":
        raise bad_request("Only 'replies' can be expanded on channel messages.")
    return bool(expand)


def _chain_modified(post: Item) -> datetime:
    """When a post or any reply to it last changed."""
    stamps = [post["lastModifiedDateTime"], post.get("_chainModifiedDateTime") or post["lastModifiedDateTime"]]
    return max(parse_time(s) for s in stamps)


def _removed_message(change: Collapsed) -> dict:
    return {"@odata.type": MESSAGE_TYPE, "id": change.key, "@removed": {"reason": change.reason}}


def _channel_delta_options(req: Request) -> dict:
    """Options of a first delta call ($filter, $expand); the tokens carry them afterwards."""
    options: dict[str, Any] = {}
    flt = req.query.get("$filter")
    if flt:
        clauses = _date_clauses(flt)
        if len(clauses) != 1 or clauses[0][0] != "lastModifiedDateTime" or clauses[0][1] != "gt":
            raise bad_request("Only 'lastModifiedDateTime gt {value}' is supported as $filter on channel message "
                              "delta.")
        options["since"] = clauses[0][2]
    if _expand_replies(req):
        options["replies"] = True
    return options


def _date_clauses(expression: str) -> list[tuple[str, str, str]]:
    """`a gt X and a lt Y` as [(property, operator, value)]; 400 on anything else."""
    clauses = []
    for part in re.split(r"\s+and\s+", expression.strip(), flags=re.IGNORECASE):
        m = _DATE_CLAUSE.match(part.strip("() "))
        if m is None:
            raise bad_request(f"Invalid filter clause: {part.strip()}")
        parse_time(m.group(3))
        clauses.append((m.group(1), m.group(2).lower(), m.group(3)))
    return clauses


_LIST_FILTER_OPS = {"lastModifiedDateTime": {"gt", "lt"}, "createdDateTime": {"lt"}}


def _chat_message_query(req: Request) -> tuple[str, Callable[[dict], bool] | None]:
    """(sort property, filter predicate or None when Graph would ignore the filter)."""
    orderby = req.query.get("$orderby")
    prop, direction = "lastModifiedDateTime", "desc"
    if orderby is not None:
        prop, _, direction = orderby.strip().partition(" ")
        direction = direction.strip().lower() or "asc"
        if prop not in _LIST_FILTER_OPS:
            raise bad_request(f"$orderby is only supported on lastModifiedDateTime and createdDateTime, not '{prop}'.")
        if direction != "desc":
            raise bad_request("Only descending order is supported for $orderby on chat messages.")
    flt = req.query.get("$filter")
    if not flt or orderby is None:
        return prop, None  # ignored: $orderby must name the filtered property
    clauses = _date_clauses(flt)
    if any(p != prop for p, _, _ in clauses):
        return prop, None
    for p, op, _ in clauses:
        if op not in _LIST_FILTER_OPS[p]:
            raise bad_request(f"Operator '{op}' is not supported on {p}.")
    return prop, _time_predicate(clauses)


def _modified_window(expression: str | None) -> Callable[[dict], bool]:
    if not expression:
        return lambda m: True
    clauses = _date_clauses(expression)
    if any(p != "lastModifiedDateTime" or op not in ("gt", "lt") for p, op, _ in clauses):
        raise bad_request("Only 'lastModifiedDateTime gt {start} and lastModifiedDateTime lt {end}' is supported.")
    return _time_predicate(clauses)


def _time_predicate(clauses: list[tuple[str, str, str]]) -> Callable[[dict], bool]:
    bounds = [(p, op, parse_time(v)) for p, op, v in clauses]

    def holds(message: dict) -> bool:
        for p, op, bound in bounds:
            value = parse_time(message[p])
            if not {"gt": value > bound, "ge": value >= bound, "lt": value < bound,
                    "le": value <= bound, "eq": value == bound}[op]:
                return False
        return True

    return holds
