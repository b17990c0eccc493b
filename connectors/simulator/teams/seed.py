"""The seeded Teams tenant: teams with four channels each, one-on-one, group and meeting chats.

Group and meeting chats open with the system event of their members being added, as Teams writes
one; so does each team's General channel. The Announcements channel posts every two months, so its
oldest posts lie outside channel message delta's eight-month window (chatmessage-delta.md).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from connectors.simulator import content
from connectors.simulator.store import Item
from connectors.simulator.teams.model import (
    CHANNEL_SEEDS,
    CHAT_TOPICS,
    MEETING_TOPIC,
    SLOW_CHANNELS,
    TEAM_NAMES,
    ThreadSpec,
    channel_id,
    channel_object,
    chat_object,
    meeting_chat_id,
    meeting_info,
    member_id,
    member_object,
    one_on_one_chat_id,
    team_id,
    team_object,
    team_url,
    thread_hex,
)
from connectors.simulator.teams.operations import Operations
from connectors.simulator.teams.state import (
    ChannelState,
    ChatState,
    Store,
    TeamsState,
    TeamState,
    make_thread,
    seeded_store,
)
from connectors.simulator.tenant import Tenant


def build_state(tenant: Tenant) -> TeamsState:
    users = tenant.user_ids()
    teams_count = tenant.scale.teams if users else 0
    team_keys = [team_id(tenant.seed, i) for i in range(teams_count)]
    seeded_teams = [_seed_team(tenant, i, users) for i in range(teams_count)]
    team_items = [t[0] for t in seeded_teams]
    teams = seeded_store(tenant, "teams", team_keys, lambda i: copy.deepcopy(team_items[i]))
    team_state = {t[1].id: t[1] for t in seeded_teams}
    chat_specs = chat_seeds(tenant, users)
    chat_items = [spec[0] for spec in chat_specs]
    chats = seeded_store(tenant, "chats", [c["id"] for c in chat_items], lambda i: copy.deepcopy(chat_items[i]))
    state = TeamsState(tenant, teams, team_state, chats, {}, Operations(tenant.config.team_operation_s))
    for item, member_ids in chat_specs:
        state.chat_state[item["id"]] = chat_state(tenant, item, member_ids, seeded=True)
    return state


def _seed_team(tenant: Tenant, index: int, users: list[str]) -> tuple[Item, TeamState]:
    h = content.mix(tenant.seed, index, 31)
    key = team_id(tenant.seed, index)
    tid = tenant.config.tenant_id
    size = min(len(users), 3 + h % 4)
    member_ids = [users[(index + j) % len(users)] for j in range(size)]
    created = tenant.epoch - timedelta(days=400 + h % 300)
    name = team_name(index)
    item = team_object(tid, key, name, f"Where the {name} team works together.",
                       "private" if h % 3 == 0 else "public", created)
    channels = [(channel_id(tenant.seed, key, c), cname, kind) for c, (cname, kind) in enumerate(CHANNEL_SEEDS)]
    item["internalId"] = channels[0][0]
    item["webUrl"] = team_url(tid, key, channels[0][0])
    channel_items = [channel_object(tid, key, cid, cname, kind, created) for cid, cname, kind in channels]
    channel_store = seeded_store(tenant, f"channels/{key}", [c[0] for c in channels],
                                 lambda i: copy.deepcopy(channel_items[i]))
    channel_state = {cid: channel_thread(tenant, key, cid, cname, kind, member_ids, tenant.scale.messages_per_thread,
                                         member_ids[:2]) for cid, cname, kind in channels}
    return item, TeamState(key, channel_store, channel_state, member_store(tenant, f"teamMembers/{key}", key,
                                                                           member_ids))


def team_name(index: int) -> str:
    return TEAM_NAMES[index % len(TEAM_NAMES)] + ("" if index < len(TEAM_NAMES) else f" {index}")


def member_store(tenant: Tenant, name: str, container: str, user_ids: list[str]) -> Store:
    people = [tenant.person(u) for u in user_ids]
    tid = tenant.config.tenant_id
    keys = [member_id(container, p.id) for p in people]
    return seeded_store(tenant, name, keys,
                        lambda i: member_object(container, people[i], ["owner"] if i == 0 else [], tid))


def channel_thread(tenant: Tenant, team_key: str, key: str, name: str, kind: str, member_ids: list[str],
                   count: int, private_members: list[str]) -> ChannelState:
    """A channel's thread; a private or shared channel also gets its own member list (`private_members`)."""
    own_members = kind in ("private", "shared")
    private_members = private_members if own_members else []
    talkers = private_members or member_ids
    spec = ThreadSpec(key, count, tuple(tenant.person(u) for u in talkers), tenant.config.tenant_id,
                      team_id=team_key, channel_id=key, step=SLOW_CHANNELS.get(name),
                      start=tenant.epoch if count else datetime.now(UTC),
                      opening_event=count > 1 and name == "General" and len(talkers) > 1)
    members = member_store(tenant, f"channelMembers/{key}", key, private_members) if own_members else None
    return ChannelState(key, team_key, make_thread(tenant, spec), members)


def chat_seeds(tenant: Tenant, users: list[str]) -> list[tuple[Item, list[str]]]:
    """Chats started by each user: one-on-ones with neighbours and small group chats, plus one
    meeting chat among the first three users."""
    out: list[tuple[Item, list[str]]] = []
    seen: set[str] = set()
    tid = tenant.config.tenant_id
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
                key = f"19:{thread_hex(tenant.seed, 'chat', a, k)}@thread.v2"
                topic, kind = CHAT_TOPICS[h % len(CHAT_TOPICS)], "group"
            if key in seen:
                continue
            seen.add(key)
            created = tenant.epoch - timedelta(days=30 + h % 200, minutes=h % 600)
            out.append((chat_object(tid, key, kind, topic, created), members))
    if n >= 2:
        out.append(_meeting_chat(tenant, users[:3]))
    return out


def _meeting_chat(tenant: Tenant, members: list[str]) -> tuple[Item, list[str]]:
    tid = tenant.config.tenant_id
    key = meeting_chat_id(tenant.seed, 0)
    item = chat_object(tid, key, "meeting", MEETING_TOPIC, tenant.epoch - timedelta(days=12, hours=3))
    item["onlineMeetingInfo"] = meeting_info(key, members[0], tid)
    return item, members


def chat_state(tenant: Tenant, item: Item, member_ids: list[str], seeded: bool) -> ChatState:
    key = item["id"]
    spec = ThreadSpec(key, tenant.scale.messages_per_thread if seeded else 0,
                      tuple(tenant.person(u) for u in member_ids), tenant.config.tenant_id, chat_id=key,
                      opening_event=seeded and item["chatType"] != "oneOnOne" and tenant.scale.messages_per_thread > 1,
                      start=tenant.epoch if seeded else datetime.now(UTC))
    return ChatState(key, member_store(tenant, f"chatMembers/{key}", key, member_ids), make_thread(tenant, spec))


def add_channel(tenant: Tenant, team: TeamState, key: str, spec: dict, owners: list[str]) -> Item:
    """A new, empty channel in a team (create team, create channel, the control surface)."""
    item, state = new_channel(tenant, team, key, spec, owners)
    commit_channel(team, item, state)
    return item


def new_channel(tenant: Tenant, team: TeamState, key: str, spec: dict, owners: list[str]) -> tuple[Item,
                                                                                                   ChannelState]:
    """A channel and its state, not yet in the team (a shared channel joins it when its createChannel
    operation succeeds: channel-post.md)."""
    kind = spec.get("membershipType", "standard")
    item = channel_object(tenant.config.tenant_id, team.id, key, spec["displayName"], kind, datetime.now(UTC),
                          spec.get("description"))
    item["isFavoriteByDefault"] = spec.get("isFavoriteByDefault")
    member_ids = [m.get("userId") for _, m in team.members.items()] or owners
    return item, channel_thread(tenant, team.id, key, spec["displayName"], kind, member_ids, 0, owners[:1])


def commit_channel(team: TeamState, item: Item, state: ChannelState) -> None:
    team.channels.coll.put_new(item["id"], item)
    team.channel_state[item["id"]] = state


def new_channel_id(tenant: Tenant) -> str:
    return f"19:{thread_hex(tenant.seed, tenant.new_key('channel'))}@thread.tacv2"
