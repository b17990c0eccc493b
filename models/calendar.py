"""Calendars and places (Graph v1.0 event, calendar, calendarGroup, calendarPermission,
attachment, room, roomList)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.base import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    JSON,
    TIMESTAMPTZ,
    GraphTable,
    graph_field,
    graph_key,
    scope_key,
)


class Event(GraphTable, table=True):
    __tablename__ = "events"

    user_id: str = scope_key()
    id: str = graph_key()
    subject: str | None = graph_field()
    body_preview: str | None = graph_field()
    body_content: str | None = graph_field(path="body.content", long_text=True)
    body_content_type: str | None = graph_field(path="body.contentType")
    # dateTimeTimeZone: a wall-clock time without offset plus the zone it is in (UTC unless a request
    # asks for another with `Prefer: outlook.timezone`, which graphsync does not); stored as the instant.
    start_date_time: datetime | None = graph_field(TIMESTAMPTZ, path="start.dateTime", zone="start.timeZone")
    start_time_zone: str | None = graph_field(path="start.timeZone")
    end_date_time: datetime | None = graph_field(TIMESTAMPTZ, path="end.dateTime", zone="end.timeZone")
    end_time_zone: str | None = graph_field(path="end.timeZone")
    is_all_day: bool | None = graph_field(BOOLEAN)
    is_cancelled: bool | None = graph_field(BOOLEAN)
    is_draft: bool | None = graph_field(BOOLEAN)
    is_organizer: bool | None = graph_field(BOOLEAN)
    is_online_meeting: bool | None = graph_field(BOOLEAN)
    online_meeting_provider: str | None = graph_field()
    online_meeting_join_url: str | None = graph_field(path="onlineMeeting.joinUrl")
    is_reminder_on: bool | None = graph_field(BOOLEAN)
    reminder_minutes_before_start: int | None = graph_field(BIGINT)
    response_requested: bool | None = graph_field(BOOLEAN)
    response_status: str | None = graph_field(path="responseStatus.response")
    organizer_address: str | None = graph_field(path="organizer.emailAddress.address")
    organizer_name: str | None = graph_field(path="organizer.emailAddress.name")
    location_display_name: str | None = graph_field(path="location.displayName")
    locations: Any = graph_field(JSON)
    attendees: Any = graph_field(JSON)
    categories: Any = graph_field(JSON)
    importance: str | None = graph_field()
    sensitivity: str | None = graph_field()
    show_as: str | None = graph_field()
    type: str | None = graph_field()
    series_master_id: str | None = graph_field()
    recurrence: Any = graph_field(JSON)
    has_attachments: bool | None = graph_field(BOOLEAN)
    i_cal_u_id: str | None = graph_field(path="iCalUId")
    created_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    last_modified_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    change_key: str | None = graph_field()
    web_link: str | None = graph_field()


class AttachmentColumns(GraphTable):
    """An Outlook attachment's metadata (resources/attachment.md), of events and of messages alike."""

    odata_type: str | None = graph_field(path=("@odata.type",))  # one key: the dot is part of it
    name: str | None = graph_field()
    content_type: str | None = graph_field()
    size: int | None = graph_field(BIGINT)
    is_inline: bool | None = graph_field(BOOLEAN)
    last_modified_date_time: datetime | None = graph_field(TIMESTAMPTZ)


class EventAttachment(AttachmentColumns, table=True):
    """Attachment metadata of an event; ``contentBytes`` stays in ``_raw`` only if it was selected."""

    __tablename__ = "event_attachments"

    user_id: str = scope_key()
    event_id: str = scope_key()
    id: str = graph_key()


class Calendar(GraphTable, table=True):
    __tablename__ = "calendars"

    user_id: str = scope_key()
    id: str = graph_key()
    name: str | None = graph_field()
    color: str | None = graph_field()
    hex_color: str | None = graph_field()
    is_default_calendar: bool | None = graph_field(BOOLEAN)
    can_edit: bool | None = graph_field(BOOLEAN)
    can_share: bool | None = graph_field(BOOLEAN)
    can_view_private_items: bool | None = graph_field(BOOLEAN)
    is_removable: bool | None = graph_field(BOOLEAN)
    is_tallying_responses: bool | None = graph_field(BOOLEAN)
    owner_address: str | None = graph_field(path="owner.address")
    owner_name: str | None = graph_field(path="owner.name")
    default_online_meeting_provider: str | None = graph_field()
    allowed_online_meeting_providers: Any = graph_field(JSON)
    change_key: str | None = graph_field()


class CalendarGroup(GraphTable, table=True):
    __tablename__ = "calendar_groups"

    user_id: str = scope_key()
    id: str = graph_key()
    name: str | None = graph_field()
    class_id: str | None = graph_field()
    change_key: str | None = graph_field()


class CalendarPermission(GraphTable, table=True):
    __tablename__ = "calendar_permissions"

    user_id: str = scope_key()
    calendar_id: str = scope_key()
    id: str = graph_key()
    email_address: str | None = graph_field(path="emailAddress.address")
    email_name: str | None = graph_field(path="emailAddress.name")
    role: str | None = graph_field()
    allowed_roles: Any = graph_field(JSON)
    is_inside_organization: bool | None = graph_field(BOOLEAN)
    is_removable: bool | None = graph_field(BOOLEAN)


class Room(GraphTable, table=True):
    __tablename__ = "rooms"

    id: str = graph_key()
    display_name: str | None = graph_field()
    email_address: str | None = graph_field()
    nickname: str | None = graph_field()
    building: str | None = graph_field()
    floor_number: int | None = graph_field(BIGINT)
    floor_label: str | None = graph_field()
    label: str | None = graph_field()
    capacity: int | None = graph_field(BIGINT)
    booking_type: str | None = graph_field()
    phone: str | None = graph_field()
    is_wheel_chair_accessible: bool | None = graph_field(BOOLEAN)
    audio_device_name: str | None = graph_field()
    video_device_name: str | None = graph_field()
    display_device_name: str | None = graph_field()
    address_city: str | None = graph_field(path="address.city")
    address_country_or_region: str | None = graph_field(path="address.countryOrRegion")
    latitude: float | None = graph_field(DOUBLE, path="geoCoordinates.latitude")
    longitude: float | None = graph_field(DOUBLE, path="geoCoordinates.longitude")
    tags: Any = graph_field(JSON)


class RoomList(GraphTable, table=True):
    __tablename__ = "room_lists"

    id: str = graph_key()
    display_name: str | None = graph_field()
    email_address: str | None = graph_field()
    phone: str | None = graph_field()
    address_city: str | None = graph_field(path="address.city")
    address_country_or_region: str | None = graph_field(path="address.countryOrRegion")
