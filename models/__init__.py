"""Table declarations: the schema source of truth for the warehouse.

``TABLES`` maps each INTERFACE.md table name to its :class:`TableSpec` (declaring class, key
columns, scope columns, column -> Graph path/type map). SQLModel classes for ORM access are in
:mod:`models.orm` (imported on demand: SQLAlchemy costs half a second of start-up).
"""

from __future__ import annotations

from models.base import GraphTable, graph_facet, graph_field, graph_key, scope_key
from models.calendar import (
    Calendar,
    CalendarGroup,
    CalendarPermission,
    Event,
    EventAttachment,
    Room,
    RoomList,
)
from models.files import Drive, DriveItem, DriveItemPermission
from models.mail import Category, MailFolder, Message, MessageAttachment, User
from models.registry import ColumnSpec, TableSpec, build_spec
from models.teams import Channel, ChannelMember, ChannelMessage, Chat, ChatMember, ChatMessage, Team, TeamMember

GRAPH_MODELS: tuple[type[GraphTable], ...] = (
    User,
    MailFolder,
    Message,
    MessageAttachment,
    Category,
    Event,
    EventAttachment,
    Calendar,
    CalendarGroup,
    CalendarPermission,
    Room,
    RoomList,
    Chat,
    ChatMember,
    ChatMessage,
    Team,
    TeamMember,
    Channel,
    ChannelMember,
    ChannelMessage,
    Drive,
    DriveItem,
    DriveItemPermission,
)

TABLES: dict[str, TableSpec] = {spec.name: spec for spec in map(build_spec, GRAPH_MODELS)}

__all__ = [
    "GRAPH_MODELS",
    "TABLES",
    "Calendar",
    "CalendarGroup",
    "CalendarPermission",
    "Category",
    "Channel",
    "ChannelMember",
    "ChannelMessage",
    "Chat",
    "ChatMember",
    "ChatMessage",
    "ColumnSpec",
    "Drive",
    "DriveItem",
    "DriveItemPermission",
    "Event",
    "EventAttachment",
    "GraphTable",
    "MailFolder",
    "Message",
    "MessageAttachment",
    "Room",
    "RoomList",
    "TableSpec",
    "Team",
    "TeamMember",
    "User",
    "build_spec",
    "graph_facet",
    "graph_field",
    "graph_key",
    "scope_key",
]
