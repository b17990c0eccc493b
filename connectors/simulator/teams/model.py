"""Teams objects as Graph shapes them: ids, identities, members, messages (user posts and system
events), teams, channels, chats and the group behind each team.

Ids follow Graph's shapes: team ids are GUIDs (the team's group id), channel ids
`19:{hex}@thread.tacv2`, group chat ids `19:{hex}@thread.v2`, meeting chat ids
`19:meeting_{base64}@thread.v2`, one-on-one chat ids `19:{userA}_{userB}@unq.gbl.spaces`, message
ids the epoch milliseconds of their creation.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from connectors.simulator import content, ids
from connectors.simulator.http import bad_request
from connectors.simulator.store import Item

TEAM_NAMES = ["Contoso Sales", "Project Falcon", "Engineering", "Marketing", "Legal and Compliance",
              "Operations", "Research", "HR Connect"]
# (displayName, membershipType) of the channels every seeded team has; "General" is always first.
CHANNEL_SEEDS = [("General", "standard"), ("Announcements", "standard"), ("Planning", "standard"),
                 ("Leadership", "private")]
# Channels whose posts are spread over months rather than hours: some fall outside delta's window.
SLOW_CHANNELS = {"Announcements": timedelta(days=60)}
CHAT_TOPICS = ["Falcon launch crew", "Budget sync", "Friday lunch", "Customer escalation", "Offsite planning"]
MEETING_TOPIC = "Quarterly planning review"
REACTIONS = ["like", "heart", "laugh", "surprised"]
MEMBER_TYPE = "#microsoft.graph.aadUserConversationMember"
MESSAGE_TYPE = "#microsoft.graph.chatMessage"
# Membership events Teams posts as systemEventMessage (resources/chatmessage.md, eventMessageDetail types).
EVENT_TYPES = {"added": "#microsoft.graph.membersAddedEventMessageDetail",
               "deleted": "#microsoft.graph.membersDeletedEventMessageDetail",
               "left": "#microsoft.graph.membersLeftEventMessageDetail"}


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


def months_before(dt: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (clamped to the month's last day)."""
    month_index = dt.year * 12 + dt.month - 1 - months
    year, month = divmod(month_index, 12)
    for day in (dt.day, 30, 29, 28):
        try:
            return dt.replace(year=year, month=month + 1, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def thread_hex(seed: int, *parts: object) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"graphsync-sim/{seed}/thread/" + "/".join(map(str, parts))).hex


def team_id(seed: int, index: int) -> str:
    return ids.guid(seed, "team", index)


def channel_id(seed: int, team: str, index: int) -> str:
    return f"19:{thread_hex(seed, team, index)}@thread.tacv2"


def one_on_one_chat_id(a: str, b: str) -> str:
    first, second = sorted((a, b))
    return f"19:{first}_{second}@unq.gbl.spaces"


def meeting_chat_id(seed: int, index: int) -> str:
    raw = base64.b64encode(thread_hex(seed, "meeting", index).encode()).decode().rstrip("=")
    return f"19:meeting_{raw}@thread.v2"


def member_id(container: str, user_id: str) -> str:
    return ids.opaque("member", container, user_id)


# -- identities and members ------------------------------------------------------------------------
def user_identity(person: content.Person, tenant_id: str) -> dict:
    return {"@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": person.id,
            "displayName": person.display_name, "userIdentityType": "aadUser", "tenantId": tenant_id}


def identity(person: content.Person, tenant_id: str) -> dict:
    """A chatMessageFromIdentitySet for a user."""
    return {"application": None, "device": None, "user": user_identity(person, tenant_id)}


def member_object(container: str, person: content.Person, roles: list[str], tenant_id: str) -> dict:
    return {"@odata.type": MEMBER_TYPE, "id": member_id(container, person.id), "roles": roles,
            "displayName": person.display_name, "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
            "userId": person.id, "email": person.upn, "tenantId": tenant_id}


# -- messages --------------------------------------------------------------------------------------
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
    # Messages are spread over the time before this: the seeded tenant's epoch (Tenant.epoch) for seeded
    # threads, the creation time for new ones.
    start: datetime = field(kw_only=True)
    step: timedelta | None = None  # spacing of the slots (default: 3 h for posts, 3 min for replies)
    opening_event: bool = False  # slot 0 is the system event of the first members being added


def seeded_time(seed: int, spec: ThreadSpec, index: int) -> datetime:
    """Slot i's creation time: strictly increasing with i, so slots are in creation order."""
    h = content.mix(seed, content.stable_hash(spec.key), index)
    step = spec.step or (timedelta(minutes=3) if spec.reply_to else timedelta(hours=3))
    return spec.start - step * (spec.count - index) + timedelta(seconds=h % 120, milliseconds=h % 1000)


def seeded_message_id(seed: int, spec: ThreadSpec, index: int) -> str:
    return str(epoch_ms(seeded_time(seed, spec, index)))


def message_object(seed: int, spec: ThreadSpec, index: int) -> dict:
    """Seeded slot `index` of a thread: a user's message, or the opening membersAdded event."""
    created = seeded_time(seed, spec, index)
    mid = str(epoch_ms(created))
    if index == 0 and spec.opening_event:
        initiator, *added = spec.senders
        return event_message(mid, spec, created, "added", initiator, added)
    h = content.mix(seed, content.stable_hash(spec.key), index, 7)
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
    return message(mid, spec, created, sender, body, mentions, reactions,
                   subject="Weekly update" if spec.channel_id and not spec.reply_to and h % 3 == 0 else None)


def message(mid: str, spec: ThreadSpec, created: datetime, sender: content.Person | None, body_html: str,
            mentions: list[dict], reactions: list[dict], subject: str | None = None,
            app_identity: dict | None = None) -> dict:
    """A chatMessage as resources/chatmessage.md shows it."""
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


def event_message(mid: str, spec: ThreadSpec, created: datetime, kind: str, initiator: content.Person | None,
                  members: list[content.Person]) -> dict:
    """A systemEventMessage about members being added, removed, or leaving: `from` is null and
    `eventDetail` says what happened (resources/chatmessage.md, membersAddedEventMessageDetail.md)."""
    out = message(mid, spec, created, None, "<systemEventMessage/>", [], [])
    out["messageType"], out["from"], out["webUrl"] = "systemEventMessage", None, None
    detail: dict[str, Any] = {
        "@odata.type": EVENT_TYPES[kind],
        "members": [{"id": p.id, "displayName": None, "userIdentityType": "aadUser", "tenantId": spec.tenant_id}
                    for p in members],
        "initiator": identity(initiator, spec.tenant_id) if initiator else None,
    }
    if kind == "added":
        detail["visibleHistoryStartDateTime"] = "0001-01-01T00:00:00Z"
    out["eventDetail"] = detail
    return out


def message_info(item: Item) -> dict:
    """The chatMessageInfo of a chat's lastMessagePreview (resources/chatmessageinfo.md)."""
    return {"id": item["id"], "createdDateTime": item["createdDateTime"],
            "isDeleted": item.get("deletedDateTime") is not None, "messageType": item["messageType"],
            "eventDetail": item.get("eventDetail"), "body": item["body"], "from": item.get("from")}


# -- teams, channels, chats, groups ----------------------------------------------------------------
def team_object(tenant_id: str, key: str, name: str, description: str, visibility: str, created: datetime) -> Item:
    """A whole team, as Get team returns it (team-get.md)."""
    return {
        "id": key, "createdDateTime": iso_ms(created), "displayName": name, "description": description,
        "internalId": None, "classification": None, "specialization": "none", "visibility": visibility,
        "webUrl": None, "isArchived": False, "tenantId": tenant_id,
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


def team_url(tenant_id: str, key: str, general: str) -> str:
    return (f"https://teams.microsoft.com/l/team/{quote(general, safe='')}/conversations?groupId={key}"
            f"&tenantId={tenant_id}")


def channel_object(tenant_id: str, team_key: str, key: str, name: str, kind: str, created: datetime,
                   description: str | None = None) -> Item:
    return {
        "id": key, "createdDateTime": iso_ms(created), "displayName": name,
        "description": description if description is not None else f"{name} channel",
        "isFavoriteByDefault": None, "email": "", "membershipType": kind, "isArchived": False,
        "tenantId": tenant_id,
        "webUrl": f"https://teams.microsoft.com/l/channel/{quote(key, safe='')}/{quote(name)}?groupId={team_key}"
                  f"&tenantId={tenant_id}",
    }


def chat_object(tenant_id: str, key: str, kind: str, topic: str | None, created: datetime) -> Item:
    return {"id": key, "topic": topic, "createdDateTime": iso_ms(created), "lastUpdatedDateTime": iso_ms(created),
            "chatType": kind, "webUrl": f"https://teams.microsoft.com/l/chat/{quote(key, safe='')}/0?tenantId="
                                        f"{tenant_id}",
            "tenantId": tenant_id, "isHiddenForAllMembers": False, "onlineMeetingInfo": None}


def meeting_info(key: str, organizer: str, tenant_id: str) -> dict:
    """teamworkOnlineMeetingInfo of a meeting chat (resources/teamworkonlinemeetinginfo.md)."""
    return {"calendarEventId": None,
            "joinWebUrl": f"https://teams.microsoft.com/l/meetup-join/{quote(key, safe='')}/0?context=%7b%22Tid"
                          f"%22%3a%22{tenant_id}%22%2c%22Oid%22%3a%22{organizer}%22%7d",
            "organizer": {"id": organizer, "displayName": None, "userIdentityType": "aadUser", "tenantId": tenant_id}}


def group_object(team: Item, domain: str) -> dict:
    """The Microsoft 365 group behind a team (resources/group.md; concepts/teams-list-all-teams.md)."""
    nickname = "".join(ch for ch in team["displayName"] if ch.isalnum()) or team["id"][:8]
    return {
        "id": team["id"], "deletedDateTime": None, "classification": team.get("classification"),
        "createdDateTime": team["createdDateTime"].split(".")[0] + "Z", "creationOptions": ["Team"],
        "description": team.get("description"), "displayName": team["displayName"], "expirationDateTime": None,
        "groupTypes": ["Unified"], "isAssignableToRole": None, "mail": f"{nickname}@{domain}", "mailEnabled": True,
        "mailNickname": nickname, "membershipRule": None, "membershipRuleProcessingState": None,
        "preferredDataLocation": None, "preferredLanguage": None,
        "proxyAddresses": [f"SMTP:{nickname}@{domain}"], "renewedDateTime": team["createdDateTime"].split(".")[0] + "Z",
        "resourceBehaviorOptions": [], "resourceProvisioningOptions": ["Team"], "securityEnabled": False,
        "securityIdentifier": None, "theme": None,
        "visibility": "Private" if team.get("visibility") == "private" else "Public",
    }
