"""Teams and chats (Graph v1.0 chat, team, channel, conversationMember, chatMessage)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.base import BOOLEAN, JSON, TIMESTAMPTZ, GraphTable, graph_field, graph_key, scope_key


class Chat(GraphTable, table=True):
    # One row per chat and member whose chats are synced (/users/{id}/chats): a chat a user left is no
    # longer live for that user, while it stays live for the others.
    __tablename__ = "chats"

    user_id: str = scope_key()
    id: str = graph_key()
    topic: str | None = graph_field()
    chat_type: str | None = graph_field()
    created_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    last_updated_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    tenant_id: str | None = graph_field()
    web_url: str | None = graph_field()
    is_hidden_for_all_members: bool | None = graph_field(BOOLEAN)
    online_meeting_join_url: str | None = graph_field(path="onlineMeetingInfo.joinWebUrl")


class ChatMember(GraphTable, table=True):
    __tablename__ = "chat_members"

    chat_id: str = scope_key()
    id: str = graph_key()
    odata_type: str | None = graph_field(path=("@odata.type",))  # one key: the dot is part of it
    display_name: str | None = graph_field()
    user_id: str | None = graph_field()
    email: str | None = graph_field()
    tenant_id: str | None = graph_field()
    roles: Any = graph_field(JSON)
    visible_history_start_date_time: datetime | None = graph_field(TIMESTAMPTZ)


class ChatMessage(GraphTable, table=True):
    __tablename__ = "chat_messages"

    chat_id: str = scope_key()
    id: str = graph_key()
    message_type: str | None = graph_field()
    reply_to_id: str | None = graph_field()
    subject: str | None = graph_field()
    summary: str | None = graph_field()
    body_content: str | None = graph_field(path="body.content", long_text=True)
    body_content_type: str | None = graph_field(path="body.contentType")
    from_user_id: str | None = graph_field(path="from.user.id")
    from_user_name: str | None = graph_field(path="from.user.displayName")
    from_application_name: str | None = graph_field(path="from.application.displayName")
    importance: str | None = graph_field()
    locale: str | None = graph_field()
    etag: str | None = graph_field()
    web_url: str | None = graph_field()
    created_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    last_modified_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    last_edited_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    deleted_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    attachments: Any = graph_field(JSON)
    mentions: Any = graph_field(JSON)
    reactions: Any = graph_field(JSON)


class Team(GraphTable, table=True):
    __tablename__ = "teams"

    id: str = graph_key()
    display_name: str | None = graph_field()
    description: str | None = graph_field()
    visibility: str | None = graph_field()
    classification: str | None = graph_field()
    specialization: str | None = graph_field()
    is_archived: bool | None = graph_field(BOOLEAN)
    web_url: str | None = graph_field()
    tenant_id: str | None = graph_field()
    internal_id: str | None = graph_field()
    created_date_time: datetime | None = graph_field(TIMESTAMPTZ)


class TeamMember(GraphTable, table=True):
    __tablename__ = "team_members"

    team_id: str = scope_key()
    id: str = graph_key()
    odata_type: str | None = graph_field(path=("@odata.type",))  # one key: the dot is part of it
    display_name: str | None = graph_field()
    user_id: str | None = graph_field()
    email: str | None = graph_field()
    tenant_id: str | None = graph_field()
    roles: Any = graph_field(JSON)
    visible_history_start_date_time: datetime | None = graph_field(TIMESTAMPTZ)


class Channel(GraphTable, table=True):
    __tablename__ = "channels"

    team_id: str = scope_key()
    id: str = graph_key()
    display_name: str | None = graph_field()
    description: str | None = graph_field()
    email: str | None = graph_field()
    membership_type: str | None = graph_field()
    is_archived: bool | None = graph_field(BOOLEAN)
    is_favorite_by_default: bool | None = graph_field(BOOLEAN)
    web_url: str | None = graph_field()
    tenant_id: str | None = graph_field()
    created_date_time: datetime | None = graph_field(TIMESTAMPTZ)


class ChannelMember(GraphTable, table=True):
    __tablename__ = "channel_members"

    team_id: str = scope_key()
    channel_id: str = scope_key()
    id: str = graph_key()
    odata_type: str | None = graph_field(path=("@odata.type",))  # one key: the dot is part of it
    display_name: str | None = graph_field()
    user_id: str | None = graph_field()
    email: str | None = graph_field()
    tenant_id: str | None = graph_field()
    roles: Any = graph_field(JSON)
    visible_history_start_date_time: datetime | None = graph_field(TIMESTAMPTZ)


class ChannelMessage(GraphTable, table=True):
    """Channel posts and their replies (``reply_to_id`` set on replies)."""

    __tablename__ = "channel_messages"

    team_id: str = scope_key()
    channel_id: str = scope_key()
    id: str = graph_key()
    message_type: str | None = graph_field()
    reply_to_id: str | None = graph_field()
    subject: str | None = graph_field()
    summary: str | None = graph_field()
    body_content: str | None = graph_field(path="body.content", long_text=True)
    body_content_type: str | None = graph_field(path="body.contentType")
    from_user_id: str | None = graph_field(path="from.user.id")
    from_user_name: str | None = graph_field(path="from.user.displayName")
    from_application_name: str | None = graph_field(path="from.application.displayName")
    importance: str | None = graph_field()
    locale: str | None = graph_field()
    etag: str | None = graph_field()
    web_url: str | None = graph_field()
    created_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    last_modified_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    last_edited_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    deleted_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    attachments: Any = graph_field(JSON)
    mentions: Any = graph_field(JSON)
    reactions: Any = graph_field(JSON)
