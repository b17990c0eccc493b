"""Outlook calendar: calendars, calendar groups, calendar permissions, events (CRUD, recurring series
with occurrences and exceptions; their attachments are in attachments.py and attachment_routes.py),
calendarView with its delta, getSchedule and findMeetingTimes.

Events live per calendar in a `Collection` whose base is generated lazily from the tenant seed, like
messages do. A recurring series is stored once, as its series master; occurrences are computed on
demand (calendarView, instances, delta through `DeltaSource.expand`). An occurrence id packs the
master's key and the occurrence's original start date, so any occurrence can be found from its id
alone. Editing or cancelling one occurrence stores an override on the master and records an update of
the master, so delta re-expands the series and reports what changed.

Times are stored in UTC and returned in UTC unless the request has `Prefer: outlook.timezone`
(calendar_tz.py); request bodies may name other time zones (IANA or Windows names), which are converted on
the way in. Event addresses through a calendar or calendar group are in calendar_paths.py.
"""

from __future__ import annotations

import base64
import copy
import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from connectors.simulator import content, ids
from connectors.simulator.attachments import attachments_of, stored_attachments
from connectors.simulator.calendar_tz import prefer_timezone
from connectors.simulator.calendar_tz import zone as tz_zone
from connectors.simulator.delta import DeltaSource, serve_page, sync_state_not_found
from connectors.simulator.http import ApiError, Request, Response, Router, bad_request, json_response, not_found
from connectors.simulator.places import ROOMS
from connectors.simulator.store import Collapsed, Collection, Item
from connectors.simulator.tenant import Tenant, check_if_match, now_iso, patch_item, public
from connectors.simulator.views import outlook_limits, page_collection, page_items, select

# -- seeds -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarSeed:
    key: str
    name: str
    color: str
    hex_color: str
    is_default: bool = False


CALENDARS = [
    CalendarSeed("calendar", "Calendar", "auto", "", is_default=True),
    CalendarSeed("deadlines", "Project deadlines", "lightGreen", "#87d28e"),
]
# (key, name, classId): the two groups every Outlook mailbox has.
GROUPS = [
    ("mycalendars", "My Calendars", "0006f0b7-0000-0000-c000-000000000046"),
    ("othercalendars", "Other Calendars", "0006f0b8-0000-0000-c000-000000000046"),
]
DEFAULT_GROUP = "mycalendars"
SHAREE_ROLES = ["none", "freeBusyRead", "limitedRead", "read", "write"]
DELEGATE_ROLES = [*SHAREE_ROLES, "delegateWithoutPrivateEventAccess", "delegateWithPrivateEventAccess"]
MY_ORGANIZATION_ID = base64.b64encode(b"Default").decode()  # the id Outlook gives the "My Organization" sharee
EVENT_SUBJECTS = ["Quarterly planning", "Customer call: Fabrikam", "Design review: {project}", "Interview loop",
                  "Budget review Q{q}", "Lunch & learn: {project}", "Sprint retrospective", "Vendor demo",
                  "Offsite prep", "Architecture board", "Hiring sync", "Release {q}.{n} go/no-go"]
SERIES_SUBJECTS = ["Weekly team standup", "Project {project} status", "1:1 catch-up", "Ops review"]
DEADLINE_SUBJECTS = ["{project} milestone due", "Submit Q{q} forecast", "Contract renewal deadline",
                     "Design freeze: {project}"]
PROJECTS = ["Falcon", "Orion", "Atlas", "Nimbus", "Zephyr"]
RESPONSES = ["accepted", "tentativelyAccepted", "declined", "none", "accepted"]
NEVER = "0001-01-01T00:00:00Z"  # the time Outlook reports for responses never given
UID_PREFIX = "040000008200E00074C5B7101A82E00800000000"  # the fixed head of Outlook's global object ids
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
INDEXES = ["first", "second", "third", "fourth", "last"]
MAX_OCCURRENCES = 5000  # safety bound when expanding an unbounded series


def calendar_key_id(user_id: str, key: str) -> str:
    return ids.opaque("calendar", user_id, key)


def group_id(user_id: str, key: str) -> str:
    return ids.opaque("calendarGroup", user_id, key)


def event_key(user_index: int, calendar_key: str, index: int) -> str:
    return f"e.{user_index}.{calendar_key}.{index}"


def event_id(key: str, immutable: bool) -> str:
    # Events never move between calendars here, so the REST id is as stable as the immutable one.
    return ids.immutable_id(key) if immutable else ids.rest_id(key, 0)


def seeded_event_count(scale_events: int, calendar_key: str) -> int:
    return scale_events if calendar_key == "calendar" else max(2, scale_events // 3)


# -- time ------------------------------------------------------------------------------------------
# Zone names (Windows and IANA) and Prefer: outlook.timezone live in calendar_tz.py.


def parse_instant(raw: Any, zone: str = "UTC") -> datetime:
    """An ISO 8601 timestamp (naive ones are in `zone`) as an aware UTC datetime."""
    if not isinstance(raw, str):
        raise bad_request(f"Invalid date/time value '{raw}'.", "ErrorInvalidParameter")
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise bad_request(f"Invalid date/time value '{raw}'.", "ErrorInvalidParameter") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz_zone(zone))
    return value.astimezone(UTC)


def to_utc(value: Any) -> datetime:
    """A dateTimeTimeZone object as an aware UTC datetime."""
    if not isinstance(value, dict) or "dateTime" not in value:
        raise bad_request("A dateTimeTimeZone value needs a dateTime and a timeZone.", "ErrorInvalidRequest")
    return parse_instant(value["dateTime"], value.get("timeZone") or "UTC")


def graph_time(dt: datetime) -> dict:
    """The dateTimeTimeZone shape Graph returns: seven fractional digits, UTC."""
    return {"dateTime": dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def _overlaps(start: datetime, end: datetime, window_start: datetime, window_end: datetime) -> bool:
    if start == end:  # a zero-length event belongs to the window it starts in
        return window_start <= start < window_end
    return start < window_end and end > window_start


# -- recurrence ------------------------------------------------------------------------------------
def _month_length(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _nth_weekday(year: int, month: int, weekday: int, index: str) -> date:
    if index == "last":
        last = date(year, month, _month_length(year, month))
        return last - timedelta(days=(last.weekday() - weekday) % 7)
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * INDEXES.index(index))


def _months(year: int, month: int, step: int) -> Iterator[tuple[int, int]]:
    while True:
        yield year, month
        month += step
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1


def _pattern_dates(pattern: dict, start: date) -> Iterator[date]:
    """Every date the pattern produces from the range's start date on, in order."""
    kind = pattern["type"]
    interval = max(1, int(pattern.get("interval") or 1))
    days = [WEEKDAYS.index(d) for d in pattern.get("daysOfWeek") or []]
    index = pattern.get("index") or "first"
    if kind == "daily":
        current = start
        while True:
            yield current
            current += timedelta(days=interval)
    elif kind == "weekly":
        first_day = WEEKDAYS.index(pattern.get("firstDayOfWeek") or "sunday")
        week = start - timedelta(days=(start.weekday() - first_day) % 7)
        offsets = sorted((d - first_day) % 7 for d in days)
        while True:
            for offset in offsets:
                candidate = week + timedelta(days=offset)
                if candidate >= start:
                    yield candidate
            week += timedelta(weeks=interval)
    else:
        yearly = kind.endswith("Yearly")
        month = int(pattern.get("month") or start.month) if yearly else start.month
        for year, mon in _months(start.year, month, 12 * interval if yearly else interval):
            if kind in ("absoluteMonthly", "absoluteYearly"):
                day = int(pattern.get("dayOfMonth") or start.day)
                found = [date(year, mon, day)] if day <= _month_length(year, mon) else []
            else:
                found = sorted(_nth_weekday(year, mon, d, index) for d in days)
            yield from (d for d in found if d >= start)


def occurrence_starts(recurrence: dict, first: datetime, until: datetime) -> Iterator[datetime]:
    """Original start times of a series' occurrences, up to `until` and the recurrence range's end."""
    rng = recurrence.get("range") or {}
    start_date = date.fromisoformat(rng.get("startDate") or first.date().isoformat())
    end_date = date.fromisoformat(rng["endDate"]) if rng.get("type") == "endDate" and rng.get("endDate") else None
    count = int(rng.get("numberOfOccurrences") or 0) if rng.get("type") == "numbered" else 0
    for n, day in enumerate(_pattern_dates(recurrence["pattern"], start_date)):
        if (count and n >= count) or (end_date and day > end_date) or n >= MAX_OCCURRENCES:
            return
        start = datetime.combine(day, first.time(), UTC)
        if start > until:
            return
        yield start


def _validate_recurrence(recurrence: Any, start: datetime) -> dict | None:
    if recurrence is None:
        return None
    pattern = recurrence.get("pattern") if isinstance(recurrence, dict) else None
    rng = recurrence.get("range") if isinstance(recurrence, dict) else None
    kinds = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly")
    if not isinstance(pattern, dict) or not isinstance(rng, dict) or pattern.get("type") not in kinds:
        raise bad_request("The recurrence pattern is invalid.", "ErrorPropertyValidationFailure")
    days = pattern.get("daysOfWeek") or []
    if pattern["type"] in ("weekly", "relativeMonthly", "relativeYearly") and not days:
        raise bad_request("A weekly or relative recurrence needs daysOfWeek.", "ErrorPropertyValidationFailure")
    if any(d not in WEEKDAYS for d in days) or (pattern.get("index") or "first") not in INDEXES:
        raise bad_request("The recurrence pattern is invalid.", "ErrorPropertyValidationFailure")
    if rng.get("type") not in ("endDate", "noEnd", "numbered"):
        raise bad_request("The recurrence range type is invalid.", "ErrorPropertyValidationFailure")
    if rng["type"] == "endDate" and not rng.get("endDate"):
        raise bad_request("An endDate recurrence range needs an endDate.", "ErrorPropertyValidationFailure")
    if rng["type"] == "numbered" and int(rng.get("numberOfOccurrences") or 0) < 1:
        raise bad_request("A numbered recurrence range needs numberOfOccurrences.", "ErrorPropertyValidationFailure")
    try:
        for key in ("startDate", "endDate"):
            if rng.get(key):
                date.fromisoformat(rng[key])
    except ValueError:
        raise bad_request("The recurrence range dates are invalid.", "ErrorPropertyValidationFailure") from None
    normalized = copy.deepcopy(recurrence)
    normalized["range"].setdefault("startDate", start.date().isoformat())
    normalized["range"].setdefault("recurrenceTimeZone", "UTC")
    normalized["pattern"].setdefault("interval", 1)
    return normalized


# -- generated content -----------------------------------------------------------------------------
def _room(index: int) -> dict:
    room = ROOMS[index % len(ROOMS)]
    address = f"{room}@{content.DOMAIN}"
    return {"displayName": f"Conf Room {room}", "locationType": "conferenceRoom", "uniqueId": address,
            "uniqueIdType": "directory", "locationEmailAddress": address}


def _agenda_html(h: int, organizer: str) -> str:
    items = "".join(f"<li>{content.PARAGRAPHS[(h >> (3 * k)) % len(content.PARAGRAPHS)]}</li>"
                    for k in range(2 + h % 3))
    return ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
            f'<body><div style="font-family:Calibri,sans-serif;font-size:11pt"><p>Agenda:</p><ul>{items}</ul>'
            f"<p>{html.escape(organizer)}</p></div></body></html>")


def _preview(body: Any) -> str:
    text = str((body or {}).get("content", "")) if isinstance(body, dict) else ""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text))).strip()[:255]


def _join_url(h: int) -> str:
    return f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{h:016x}%40thread.v2/0"


def ical_uid(seed: int, key: str) -> str:
    return UID_PREFIX + f"{content.mix(seed, content.stable_hash(key)):016X}" + "10000000" + \
        ids.guid(seed, "ical", key).replace("-", "").upper()


def _attendees(seed: int, exclude: set[int], h: int, user_count: int, count: int, epoch: datetime) -> list[dict]:
    found: list[dict] = []
    seen = set(exclude)
    for k in range(count):
        index = (h >> (19 + 5 * k)) % max(user_count, 1)
        if index in seen:
            continue
        seen.add(index)
        response = RESPONSES[(h >> (3 + k)) % len(RESPONSES)]
        found.append({"type": "optional" if k == 2 else "required",
                      "status": {"response": response,
                                 "time": NEVER if response == "none" else content.iso(epoch - timedelta(days=2 + k))},
                      "emailAddress": content.person(seed, index).recipient()["emailAddress"]})
    return found


def event_object(seed: int, owner: content.Person, calendar_key: str, index: int, user_count: int,
                 epoch: datetime) -> Item:
    """The seeded event `index` of a calendar: single meetings over epoch±60 days, a few weekly series
    in the default calendar, all-day deadlines in the others. The id is added when rendered."""
    h = content.mix(seed, owner.index, content.stable_hash(calendar_key), index)
    key = event_key(owner.index, calendar_key, index)
    day0 = datetime.combine(epoch.date(), time(0), UTC)
    deadline = calendar_key != "calendar"
    series = not deadline and index % 4 == 1
    fmt = {"project": PROJECTS[h % len(PROJECTS)], "q": 1 + h % 4, "n": h % 10}
    recurrence = None
    if deadline:
        start = day0 + timedelta(days=(h % 121) - 60)
        end = start + timedelta(days=1)
        subject = DEADLINE_SUBJECTS[(h >> 5) % len(DEADLINE_SUBJECTS)].format(**fmt)
    else:
        offset = (h % 30) - 45 if series else (h % 121) - 60
        start = day0 + timedelta(days=offset, hours=8 + (h >> 7) % 9, minutes=30 * ((h >> 11) % 2))
        end = start + timedelta(minutes=[30, 60, 60, 90, 120][(h >> 13) % 5])
        pool = SERIES_SUBJECTS if series else EVENT_SUBJECTS
        subject = pool[(h >> 5) % len(pool)].format(**fmt)
    if series:
        recurrence = _seeded_recurrence(start, index)
    other_organizer = not deadline and (h >> 23) % 4 == 0 and user_count > 1
    organizer = content.person(seed, (owner.index + 1 + (h >> 40) % max(user_count - 1, 1)) % user_count) \
        if other_organizer else owner
    attendees = [] if deadline else _attendees(seed, {owner.index, organizer.index}, h, user_count,
                                               1 + (h >> 17) % 3, epoch)
    if other_organizer:
        attendees.append({"type": "required", "status": {"response": "accepted", "time": content.iso(start)},
                          "emailAddress": owner.recipient()["emailAddress"]})
    online = not deadline and (h >> 29) % 2 == 0
    no_room = deadline or (online and (h >> 31) % 2 == 1)  # some online meetings book no room
    location = {"displayName": "", "locationType": "default", "uniqueIdType": "unknown"} if no_room \
        else _room(h >> 25)
    change_key, tag = content.etag(0, key)
    created = content.iso(min(start, epoch) - timedelta(days=3 + h % 20))
    body = {"contentType": "html", "content": _agenda_html(h >> 9, organizer.display_name)}
    return {
        "@odata.type": "#microsoft.graph.event", "@odata.etag": tag,
        "createdDateTime": created, "lastModifiedDateTime": created, "changeKey": change_key,
        "categories": ["Blue category"] if h % 9 == 0 else [], "transactionId": None,
        "originalStartTimeZone": "UTC", "originalEndTimeZone": "UTC", "iCalUId": ical_uid(seed, key),
        "reminderMinutesBeforeStart": 15 if not deadline else 1080, "isReminderOn": not deadline,
        "hasAttachments": h % 5 == 0, "subject": subject, "bodyPreview": _preview(body),
        "importance": "high" if h % 17 == 0 else "normal",
        "sensitivity": "private" if h % 13 == 0 else "normal", "isAllDay": deadline, "isCancelled": False,
        "isOrganizer": not other_organizer, "responseRequested": True, "seriesMasterId": None,
        "showAs": "free" if deadline else "busy", "type": "seriesMaster" if series else "singleInstance",
        "onlineMeetingUrl": None, "isOnlineMeeting": online,
        "onlineMeetingProvider": "teamsForBusiness" if online else "unknown", "allowNewTimeProposals": True,
        "isDraft": False, "hideAttendees": False, "recurrence": recurrence,
        "onlineMeeting": {"joinUrl": _join_url(h)} if online else None,
        "responseStatus": {"response": "organizer", "time": NEVER} if not other_organizer else
        {"response": "accepted", "time": created},
        "body": body, "start": graph_time(start), "end": graph_time(end),
        "location": location, "locations": [] if not location.get("displayName") else [location],
        "attendees": attendees, "organizer": organizer.recipient(),
    }


def _seeded_recurrence(start: datetime, index: int) -> dict:
    weekday = WEEKDAYS[start.weekday()]
    kind = (index // 4) % 3
    rng: dict[str, Any] = {"type": ["numbered", "noEnd", "endDate"][kind], "startDate": start.date().isoformat(),
                           "endDate": "0001-01-01", "recurrenceTimeZone": "UTC", "numberOfOccurrences": 0}
    if kind == 0:
        rng["numberOfOccurrences"] = 10
    elif kind == 2:
        rng["endDate"] = (start.date() + timedelta(weeks=12)).isoformat()
    return {"pattern": {"type": "weekly", "interval": 1, "month": 0, "dayOfMonth": 0, "daysOfWeek": [weekday],
                        "firstDayOfWeek": "sunday", "index": "first"}, "range": rng}


# -- per-user state --------------------------------------------------------------------------------
@dataclass
class EventRef:
    """A client-supplied event id resolved: the stored item, and the occurrence date for occurrence ids."""

    key: str
    calendar_id: str
    item: Item
    occurrence: str | None = None  # "YYYYMMDD" of the occurrence's original start


@dataclass
class UserCalendar:
    tenant: Tenant
    user_id: str
    owner: content.Person
    user_index: int | None
    calendars: Collection
    groups: Collection
    events: dict[str, Collection] = field(default_factory=dict)  # calendar id -> its events
    permissions: dict[str, Collection] = field(default_factory=dict)  # calendar id -> its permissions
    location: dict[str, str] = field(default_factory=dict)  # event key -> calendar id, when not seeded there
    versions: dict[str, list[Item]] = field(default_factory=dict)  # event key -> earlier versions, newest last
    transactions: dict[tuple[str, str], str] = field(default_factory=dict)  # (calendar id, transactionId) -> key

    # -- calendars and groups --------------------------------------------------------------------
    @property
    def default_calendar_id(self) -> str:
        return calendar_key_id(self.user_id, "calendar")

    def calendar(self, calendar_id: str) -> Item:
        for key, item in self.calendars.items():
            if key == calendar_id:
                return item
        raise not_found()

    def render_calendar(self, key: str, item: Item) -> dict:
        return {k: v for k, v in public(item).items() if k not in ("@odata.etag", "lastModifiedDateTime")}

    def create_calendar(self, name: Any, group_key: str, color: str = "auto") -> Item:
        if not isinstance(name, str) or not name.strip():
            raise bad_request("The calendar name is required.", "ErrorInvalidRequest")
        if any(c.get("name", "").lower() == name.lower() for _, c in self.calendars.items()):
            raise ApiError(409, "ErrorFolderExists", "A folder with the specified name already exists.")
        key = calendar_key_id(self.user_id, self.tenant.new_key("cal"))
        item = _calendar_item(key, name, color, "", False, self.owner, group_key)
        self.calendars.put_new(key, item)
        self.events[key] = Collection(f"events/{self.user_id}/{key}", self.tenant.clock)
        return item

    def update_calendar(self, calendar_id: str, fields: dict) -> Item:
        item = self.calendar(calendar_id)
        allowed = {k: v for k, v in fields.items() if k in ("name", "color", "isDefaultCalendar")}
        name = allowed.get("name")
        if name is not None and any(c.get("name", "").lower() == str(name).lower() and k != calendar_id
                                    for k, c in self.calendars.items()):
            raise ApiError(409, "ErrorFolderExists", "A folder with the specified name already exists.")
        allowed["changeKey"] = content.etag(self.tenant.clock.value + 1, calendar_id)[0]
        return patch_item(self.tenant, self.calendars, calendar_id, item, allowed, stamp=False)

    def delete_calendar(self, calendar_id: str) -> None:
        item = self.calendar(calendar_id)
        if item.get("isDefaultCalendar") or not item.get("isRemovable", True):
            raise bad_request("The default calendar cannot be deleted.", "ErrorCannotDeleteObject")
        coll = self.events.pop(calendar_id, None)
        if coll is not None:
            for key, _ in list(coll.items()):
                coll.remove(key)
        self.calendars.remove(calendar_id)
        self.tenant.chains.evict(f"events/{self.user_id}/{calendar_id}")

    def group_key(self, group: str) -> str:
        for key, _ in self.groups.items():
            if key == group:
                return key
        raise not_found()

    def create_group(self, name: Any) -> Item:
        if not isinstance(name, str) or not name.strip():
            raise bad_request("The calendar group name is required.", "ErrorInvalidRequest")
        if any(g.get("name", "").lower() == name.lower() for _, g in self.groups.items()):
            raise ApiError(409, "ErrorFolderExists", "A folder with the specified name already exists.")
        key = group_id(self.user_id, self.tenant.new_key("calgroup"))
        item = {"id": key, "name": name, "classId": ids.guid(self.tenant.seed, "classId", key),
                "changeKey": content.etag(self.tenant.clock.value + 1, key)[0]}
        self.groups.put_new(key, item)
        return item

    # -- permissions -----------------------------------------------------------------------------
    def calendar_permissions(self, calendar_id: str) -> Collection:
        self.calendar(calendar_id)
        coll = self.permissions.get(calendar_id)
        if coll is None:
            coll = Collection(f"calendarPermissions/{self.user_id}/{calendar_id}", self.tenant.clock)
            is_default = calendar_id == self.default_calendar_id
            for item in _seed_permissions(self.tenant, self.owner, calendar_id, is_default):
                coll.put_new(item["id"], item)
            self.permissions[calendar_id] = coll
        return coll

    def permission(self, calendar_id: str, permission_id: str) -> Item:
        for key, item in self.calendar_permissions(calendar_id).items():
            if key == permission_id:
                return item
        raise not_found()

    # -- events: lookup and rendering ------------------------------------------------------------
    def where(self, key: str) -> tuple[str, int | None]:
        if key in self.location:
            return self.location[key], None
        parts = key.split(".")  # e.<user index>.<calendar key>.<index>
        if len(parts) == 4 and parts[0] == "e" and parts[3].isdigit() and str(self.user_index) == parts[1]:
            return calendar_key_id(self.user_id, parts[2]), int(parts[3])
        raise not_found()

    def stored(self, key: str) -> tuple[str, Item]:
        calendar_id, base_index = self.where(key)
        coll = self.events.get(calendar_id)
        item = coll.get(key, base_index) if coll is not None else None
        if item is None:
            raise not_found()
        return calendar_id, item

    def find(self, client_id: str) -> EventRef:
        parsed = ids.parse_item_id(client_id)
        if parsed is None:
            raise ApiError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
        key, _ = parsed
        master_key, _, occurrence = key.partition("~")
        calendar_id, item = self.stored(master_key)
        if occurrence and not self._is_occurrence(item, occurrence):
            raise not_found()
        return EventRef(master_key, calendar_id, item, occurrence or None)

    def _is_occurrence(self, master: Item, tag: str) -> bool:
        if not master.get("recurrence") or tag in (master.get("_cancelled") or []):
            return False
        try:
            day = datetime.strptime(tag, "%Y%m%d").replace(tzinfo=UTC)
        except ValueError:
            return False
        first = to_utc(master["start"])
        until = datetime.combine(day.date(), first.time(), UTC)
        return any(s == until for s in occurrence_starts(master["recurrence"], first, until))

    def render_event(self, key: str, item: Item, immutable: bool) -> dict:
        out = public(item)
        out["id"] = event_id(key, immutable)
        out["webLink"] = _web_link(out["id"])
        return out

    def render_ref(self, ref: EventRef, immutable: bool) -> dict:
        if ref.occurrence is None:
            return self.render_event(ref.key, ref.item, immutable)
        first = to_utc(ref.item["start"])
        original = datetime.combine(datetime.strptime(ref.occurrence, "%Y%m%d").date(), first.time(), UTC)
        return self._occurrence(ref.key, ref.item, original, immutable)

    def _occurrence(self, key: str, master: Item, original: datetime, immutable: bool) -> dict:
        tag = original.strftime("%Y%m%d")
        duration = to_utc(master["end"]) - to_utc(master["start"])
        out = public(master)
        out.update({"id": event_id(f"{key}~{tag}", immutable), "type": "occurrence", "recurrence": None,
                    "seriesMasterId": event_id(key, immutable), "originalStart": content.iso(original),
                    "start": graph_time(original), "end": graph_time(original + duration),
                    "iCalUId": str(master.get("iCalUId", ""))[:40] + original.strftime("%Y%m%d").encode().hex()
                    + str(master.get("iCalUId", ""))[56:]})
        override = (master.get("_exceptions") or {}).get(tag)
        if override:
            out.update(copy.deepcopy(override))
            out["type"] = "exception"
        out["webLink"] = _web_link(out["id"])
        return out

    def occurrences(self, key: str, master: Item, start: datetime, end: datetime, immutable: bool) -> list[dict]:
        """Occurrences and exceptions of a series that overlap [start, end)."""
        exceptions = master.get("_exceptions") or {}
        cancelled = set(master.get("_cancelled") or [])
        # An exception moved into the window may come from a later original date: expand that far.
        latest = max([end, *(to_utc(o["start"]) for o in exceptions.values() if "start" in o)])
        limit = latest + (to_utc(master["end"]) - to_utc(master["start"])) + timedelta(days=366) \
            if exceptions else end
        found = []
        for original in occurrence_starts(master["recurrence"], to_utc(master["start"]), limit):
            if original.strftime("%Y%m%d") in cancelled:
                continue
            occurrence = self._occurrence(key, master, original, immutable)
            if _overlaps(to_utc(occurrence["start"]), to_utc(occurrence["end"]), start, end):
                found.append(occurrence)
        return found

    def in_window(self, key: str, item: Item, start: datetime, end: datetime, immutable: bool) -> list[dict]:
        """What a stored event contributes to a calendar view: itself, or its occurrences for a series."""
        if item.get("recurrence"):
            return self.occurrences(key, item, start, end, immutable)
        if _overlaps(to_utc(item["start"]), to_utc(item["end"]), start, end):
            return [self.render_event(key, item, immutable)]
        return []

    def view(self, calendar_id: str, start: datetime, end: datetime, immutable: bool) -> list[dict]:
        """The calendar view of one calendar, ordered by start time."""
        found = [o for key, item in self.events[calendar_id].items()
                 for o in self.in_window(key, item, start, end, immutable)]
        return sorted(found, key=lambda o: (o["start"]["dateTime"], o["id"]))

    def earlier_ids(self, key: str, start: datetime, end: datetime, immutable: bool) -> set[str]:
        """Ids that earlier versions of an event showed in a window (for @removed after edits)."""
        return {o["id"] for version in self.versions.get(key, [])
                for o in self.in_window(key, version, start, end, immutable)}

    # -- events: writes --------------------------------------------------------------------------
    def create_event(self, calendar_id: str, fields: dict) -> tuple[str, Item, bool]:
        """(key, item, created); an already used transactionId returns the earlier event instead."""
        self.calendar(calendar_id)
        transaction = fields.get("transactionId")
        if transaction:
            existing = self.transactions.get((calendar_id, str(transaction)))
            if existing is not None:
                live = self.events[calendar_id].overlay.get(existing)
                if live is not None:
                    return existing, live, False
        key = self.tenant.new_key(f"e.{self.user_id}")
        stamp = now_iso()
        item: Item = {
            "@odata.type": "#microsoft.graph.event", "createdDateTime": stamp, "lastModifiedDateTime": stamp,
            "categories": [], "transactionId": None, "originalStartTimeZone": "UTC", "originalEndTimeZone": "UTC",
            "iCalUId": ical_uid(self.tenant.seed, key), "reminderMinutesBeforeStart": 15, "isReminderOn": True,
            "hasAttachments": False, "subject": "", "bodyPreview": "", "importance": "normal",
            "sensitivity": "normal", "isAllDay": False, "isCancelled": False, "isOrganizer": True,
            "responseRequested": True, "seriesMasterId": None, "showAs": "busy", "type": "singleInstance",
            "onlineMeetingUrl": None, "isOnlineMeeting": False, "onlineMeetingProvider": "unknown",
            "allowNewTimeProposals": True, "isDraft": False, "hideAttendees": False, "recurrence": None,
            "onlineMeeting": None, "responseStatus": {"response": "organizer", "time": NEVER},
            "body": {"contentType": "html", "content": ""},
            "location": {"displayName": "", "locationType": "default", "uniqueIdType": "unknown"},
            "locations": [], "attendees": [], "organizer": self.owner.recipient(),
        }
        item.update(fields)
        _derive(item, key)
        self.tenant.stamp(item, key)
        self.events[calendar_id].put_new(key, item)
        self.location[key] = calendar_id
        if transaction:
            self.transactions[(calendar_id, str(transaction))] = key
        return key, item, True

    def _remember(self, key: str, item: Item) -> None:
        history = self.versions.setdefault(key, [])
        history.append(item)
        del history[:-8]  # enough history for any realistic gap between two delta rounds

    def update_event(self, key: str, fields: dict) -> Item:
        calendar_id, item = self.stored(key)
        if "transactionId" in fields and fields["transactionId"] != item.get("transactionId"):
            raise bad_request("The transactionId of an event cannot be changed.", "ErrorInvalidPropertyUpdate")
        merged = {**item, **fields}
        _derive(merged, key)
        changed = {k: v for k, v in merged.items() if k in fields or item.get(k) != v}
        if "recurrence" in fields:  # a new pattern drops the overrides of the old one
            changed.update({"_exceptions": {}, "_cancelled": []})
        self._remember(key, item)
        return patch_item(self.tenant, self.events[calendar_id], key, item, changed)

    def update_occurrence(self, ref: EventRef, fields: dict) -> Item:
        """Editing one occurrence turns it into an exception, stored as an override on the master."""
        assert ref.occurrence is not None
        if "recurrence" in fields:
            raise bad_request("The recurrence of an occurrence cannot be set.", "ErrorInvalidRequest")
        previous = (ref.item.get("_exceptions") or {}).get(ref.occurrence) or {}
        merged = {**self.render_ref(ref, False), **fields}
        _derive(merged, ref.key, occurrence=True)
        touched = set(previous) | set(fields)
        for trigger, derived in (({"body"}, {"bodyPreview"}), ({"location", "locations"}, {"location", "locations"}),
                                 ({"start", "end"}, {"start", "end", "originalStartTimeZone", "originalEndTimeZone"})):
            if touched & trigger:
                touched |= derived
        override = {k: merged[k] for k in touched if k in merged}
        exceptions = {**(ref.item.get("_exceptions") or {}), ref.occurrence: override}
        self._remember(ref.key, ref.item)
        return patch_item(self.tenant, self.events[ref.calendar_id], ref.key, ref.item, {"_exceptions": exceptions})

    def delete_event(self, ref: EventRef) -> None:
        if ref.occurrence is not None:  # deleting one occurrence cancels it in the series
            cancelled = [*(ref.item.get("_cancelled") or []), ref.occurrence]
            self._remember(ref.key, ref.item)
            patch_item(self.tenant, self.events[ref.calendar_id], ref.key, ref.item, {"_cancelled": cancelled})
            return
        self._remember(ref.key, ref.item)
        self.events[ref.calendar_id].remove(ref.key, "deleted")

    def attachments(self, ref: EventRef) -> list[dict]:
        """The event's attachments; an occurrence shows its series master's (attachments.py)."""
        return attachments_of(self.tenant, "event", ref.key, ref.item)

    def set_attachments(self, ref: EventRef, attachments: list[dict]) -> Item:
        """Replace the event's attachments; adding one is a change of the event (changeKey, delta)."""
        if ref.occurrence is not None:
            raise bad_request("Attachments can be added to the series master or single events only.",
                              "ErrorInvalidRequest")
        self._remember(ref.key, ref.item)
        return patch_item(self.tenant, self.events[ref.calendar_id], ref.key, ref.item,
                          {"_attachments": attachments, "hasAttachments": bool(attachments)})

    # -- free/busy -------------------------------------------------------------------------------
    def busy_items(self, start: datetime, end: datetime) -> list[dict]:
        """Events of the default calendar that block time in [start, end)."""
        return [o for o in self.view(self.default_calendar_id, start, end, False)
                if not o.get("isCancelled") and o.get("showAs") != "free"]


def _web_link(client_id: str) -> str:
    return f"https://outlook.office365.com/owa/?itemid={quote(client_id, safe='')}&exvsurl=1&path=/calendar/item"


def _derive(item: Item, key: str, occurrence: bool = False) -> None:
    """Recompute the properties Outlook derives from the written ones."""
    start, end = to_utc(item["start"]), to_utc(item["end"])
    if end < start:
        raise bad_request("The end of an event must not be before its start.", "ErrorInvalidRequest")
    for side, value in (("start", start), ("end", end)):
        zone = str((item[side] or {}).get("timeZone") or "UTC")
        item[f"original{side.title()}TimeZone"] = zone
        item[side] = graph_time(value)
    item["bodyPreview"] = _preview(item.get("body"))
    if isinstance(item.get("location"), dict) and item["location"].get("displayName"):
        item["locations"] = [item["location"]]
    elif item.get("locations"):
        item["location"] = item["locations"][0]
    item["attendees"] = [_attendee(a) for a in item.get("attendees") or []]
    if item.get("isOnlineMeeting") and not item.get("onlineMeeting"):
        item["onlineMeeting"] = {"joinUrl": _join_url(content.stable_hash(key))}
        if item.get("onlineMeetingProvider") in (None, "unknown"):
            item["onlineMeetingProvider"] = "teamsForBusiness"
    if not occurrence:
        item["recurrence"] = _validate_recurrence(item.get("recurrence"), start)
        item["type"] = "seriesMaster" if item["recurrence"] else "singleInstance"


def _attendee(raw: Any) -> dict:
    if not isinstance(raw, dict) or not isinstance(raw.get("emailAddress"), dict):
        raise bad_request("Each attendee needs an emailAddress.", "ErrorInvalidRequest")
    return {"type": raw.get("type") or "required", "status": raw.get("status") or {"response": "none", "time": NEVER},
            "emailAddress": raw["emailAddress"]}


def _calendar_item(key: str, name: str, color: str, hex_color: str, is_default: bool, owner: content.Person,
                   group_key: str) -> Item:
    return {"id": key, "name": name, "color": color, "hexColor": hex_color, "isDefaultCalendar": is_default,
            "changeKey": content.etag(0, key)[0], "canShare": True, "canViewPrivateItems": True,
            "canEdit": True, "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness", "isTallyingResponses": is_default,
            "isRemovable": not is_default, "owner": {"name": owner.display_name, "address": owner.upn},
            "_group": group_key}


def _seed_permissions(tenant: Tenant, owner: content.Person, calendar_id: str, is_default: bool) -> list[Item]:
    found = [{"id": MY_ORGANIZATION_ID, "isRemovable": False, "isInsideOrganization": True,
              "role": "freeBusyRead" if is_default else "none", "allowedRoles": SHAREE_ROLES,
              "emailAddress": {"name": "My Organization"}}]
    users = tenant.scale.users
    if owner.index >= 0 and users > 1:
        other = content.person(tenant.seed, (owner.index + 1) % users)
        found.append({"id": ids.opaque("calendarPermission", calendar_id, other.upn), "isRemovable": True,
                      "isInsideOrganization": True,
                      "role": "delegateWithPrivateEventAccess" if is_default else "read",
                      "allowedRoles": DELEGATE_ROLES if is_default else SHAREE_ROLES,
                      "emailAddress": {"name": other.display_name, "address": other.upn}})
    return found


def user_calendar(tenant: Tenant, user_id: str) -> UserCalendar:
    """The calendars of a user, built on first use and cached on the calendar area."""
    area = tenant.areas.get("calendar")
    cache: dict[str, UserCalendar] = area.users if area is not None else {}
    state = cache.get(user_id)
    if state is not None:
        return state
    owner = tenant.person(user_id)
    user_index = tenant.user_index(user_id)
    default_group = group_id(user_id, DEFAULT_GROUP)
    calendars = Collection(
        f"calendars/{user_id}", tenant.clock, base_count=len(CALENDARS),
        base_key=lambda i: calendar_key_id(user_id, CALENDARS[i].key),
        base_item=lambda i: _calendar_item(calendar_key_id(user_id, CALENDARS[i].key), CALENDARS[i].name,
                                           CALENDARS[i].color, CALENDARS[i].hex_color, CALENDARS[i].is_default,
                                           owner, default_group),
    )
    groups = Collection(
        f"calendarGroups/{user_id}", tenant.clock, base_count=len(GROUPS),
        base_key=lambda i: group_id(user_id, GROUPS[i][0]),
        base_item=lambda i: {"id": group_id(user_id, GROUPS[i][0]), "name": GROUPS[i][1], "classId": GROUPS[i][2],
                             "changeKey": content.etag(0, group_id(user_id, GROUPS[i][0]))[0]},
    )
    state = UserCalendar(tenant, user_id, owner, user_index, calendars, groups)
    users = tenant.scale.users
    for seed in CALENDARS:
        cid = calendar_key_id(user_id, seed.key)
        count = seeded_event_count(tenant.scale.events_per_calendar, seed.key) if user_index is not None else 0
        state.events[cid] = Collection(
            f"events/{user_id}/{cid}", tenant.clock, base_count=count,
            base_key=lambda i, ck=seed.key: event_key(user_index or 0, ck, i),
            base_item=lambda i, ck=seed.key: event_object(tenant.seed, owner, ck, i, users, tenant.epoch),
        )
    cache[user_id] = state
    return state


# -- HTTP ------------------------------------------------------------------------------------------
_EVENT_WRITABLE = {"subject", "body", "start", "end", "location", "locations", "attendees", "isAllDay",
                   "isOnlineMeeting", "onlineMeetingProvider", "recurrence", "reminderMinutesBeforeStart",
                   "isReminderOn", "showAs", "sensitivity", "importance", "categories", "responseRequested",
                   "allowNewTimeProposals", "transactionId", "hideAttendees", "isCancelled"}
# Read-only or navigation properties a client may echo back; Graph ignores them on write.
_EVENT_IGNORED = {"@odata.type", "@odata.etag", "id", "changeKey", "createdDateTime", "lastModifiedDateTime",
                  "iCalUId", "type", "seriesMasterId", "bodyPreview", "webLink", "organizer", "isOrganizer",
                  "responseStatus", "hasAttachments", "onlineMeeting", "onlineMeetingUrl", "originalStart",
                  "originalStartTimeZone", "originalEndTimeZone", "isDraft", "calendar", "instances", "extensions",
                  "singleValueExtendedProperties", "multiValueExtendedProperties"}
_UNSUPPORTED_ON_VIEW_DELTA = ("$select", "$filter", "$orderby", "$top", "$expand", "$search")
_TIME_WINDOW_REQUIRED = "This request requires a time window specified by the query string parameters " \
                        "StartDateTime and EndDateTime."
# getSchedule's availabilityView digits, and which status wins when several events share a slot.
_AVAILABILITY_DIGIT = {"free": "0", "tentative": "1", "busy": "2", "oof": "3", "workingElsewhere": "4"}
_STATUS_RANK = {"free": 0, "workingElsewhere": 1, "tentative": 2, "busy": 3, "oof": 4}


class CalendarArea:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.users: dict[str, UserCalendar] = {}

    def register(self, r: Router) -> None:
        u = "/users/{user}"
        tz = prefer_timezone  # event reads honour Prefer: outlook.timezone (calendar_tz.py)
        r.add("GET", f"{u}/calendar", self.get_default_calendar)
        r.add("PATCH", f"{u}/calendar", self.update_default_calendar)
        r.add("GET", f"{u}/calendar/events", tz(self.list_default_calendar_events))
        r.add("POST", f"{u}/calendar/events", self.create_default_calendar_event)
        r.add("GET", f"{u}/calendar/calendarPermissions", self.list_permissions)
        r.add("POST", f"{u}/calendar/calendarPermissions", self.create_permission)
        r.add("GET", f"{u}/calendar/calendarPermissions/{{permission}}", self.get_permission)
        r.add("PATCH", f"{u}/calendar/calendarPermissions/{{permission}}", self.update_permission)
        r.add("DELETE", f"{u}/calendar/calendarPermissions/{{permission}}", self.delete_permission)
        r.add("POST", f"{u}/calendar/getSchedule", tz(self.get_schedule))
        r.add("GET", f"{u}/calendars", self.list_calendars)
        r.add("POST", f"{u}/calendars", self.create_calendar)
        r.add("GET", f"{u}/calendars/{{calendar}}", self.get_calendar)
        r.add("PATCH", f"{u}/calendars/{{calendar}}", self.update_calendar)
        r.add("DELETE", f"{u}/calendars/{{calendar}}", self.delete_calendar)
        r.add("GET", f"{u}/calendars/{{calendar}}/events", tz(self.list_calendar_events))
        r.add("POST", f"{u}/calendars/{{calendar}}/events", self.create_calendar_event)
        r.add("GET", f"{u}/calendars/{{calendar}}/calendarPermissions", self.list_permissions)
        r.add("POST", f"{u}/calendars/{{calendar}}/calendarPermissions", self.create_permission)
        r.add("GET", f"{u}/calendars/{{calendar}}/calendarView", tz(self.calendar_view))
        r.add("GET", f"{u}/calendarGroups", self.list_groups)
        r.add("POST", f"{u}/calendarGroups", self.create_group)
        r.add("GET", f"{u}/calendarGroups/{{group}}/calendars", self.list_group_calendars)
        r.add("POST", f"{u}/calendarGroups/{{group}}/calendars", self.create_group_calendar)
        r.add("GET", f"{u}/events", tz(self.list_default_calendar_events))
        r.add("POST", f"{u}/events", self.create_default_calendar_event)
        r.add("GET", f"{u}/events/{{event}}", tz(self.get_event))
        r.add("PATCH", f"{u}/events/{{event}}", self.update_event)
        r.add("DELETE", f"{u}/events/{{event}}", self.delete_event)
        r.add("GET", f"{u}/events/{{event}}/instances", tz(self.list_instances))
        r.add("GET", f"{u}/calendarView", tz(self.calendar_view))
        r.add("GET", f"{u}/calendarView/delta", tz(self.calendar_view_delta))
        r.add("POST", f"{u}/findMeetingTimes", tz(self.find_meeting_times))

    def state(self, req: Request) -> UserCalendar:
        return user_calendar(self.tenant, req.params["user"])

    def _calendar_id(self, req: Request, state: UserCalendar) -> str:
        """The calendar a request addresses: `{calendar}` in the path, else the default one."""
        calendar_id = req.params.get("calendar") or state.default_calendar_id
        state.calendar(calendar_id)
        return calendar_id

    # -- calendars -------------------------------------------------------------------------------
    def get_default_calendar(self, req: Request) -> Response:
        state = self.state(req)
        cid = state.default_calendar_id
        return json_response(select(state.render_calendar(cid, state.calendar(cid)), req))

    def update_default_calendar(self, req: Request) -> Response:
        state = self.state(req)
        cid = state.default_calendar_id
        return json_response(state.render_calendar(cid, state.update_calendar(cid, _object_body(req))))

    def list_calendars(self, req: Request) -> Response:
        state = self.state(req)
        return page_items(req, (state.render_calendar(k, v) for k, v in state.calendars.items()), outlook_limits())

    def get_calendar(self, req: Request) -> Response:
        state = self.state(req)
        cid = self._calendar_id(req, state)
        return json_response(select(state.render_calendar(cid, state.calendar(cid)), req))

    def create_calendar(self, req: Request) -> Response:
        return self._create_calendar(req, group_id(req.params["user"], DEFAULT_GROUP))

    def update_calendar(self, req: Request) -> Response:
        state = self.state(req)
        cid = self._calendar_id(req, state)
        return json_response(state.render_calendar(cid, state.update_calendar(cid, _object_body(req))))

    def delete_calendar(self, req: Request) -> Response:
        state = self.state(req)
        state.delete_calendar(self._calendar_id(req, state))
        return Response(204)

    def list_groups(self, req: Request) -> Response:
        return page_items(req, (public(v) for _, v in self.state(req).groups.items()), outlook_limits())

    def create_group(self, req: Request) -> Response:
        return json_response(public(self.state(req).create_group(_object_body(req).get("name"))), 201)

    def list_group_calendars(self, req: Request) -> Response:
        state = self.state(req)
        group = state.group_key(req.params["group"])
        found = (state.render_calendar(k, v) for k, v in state.calendars.items() if v.get("_group") == group)
        return page_items(req, found, outlook_limits())

    def create_group_calendar(self, req: Request) -> Response:
        return self._create_calendar(req, self.state(req).group_key(req.params["group"]))

    def _create_calendar(self, req: Request, group: str) -> Response:
        body = _object_body(req)
        state = self.state(req)
        item = state.create_calendar(body.get("name"), group, str(body.get("color") or "auto"))
        return json_response(state.render_calendar(item["id"], item), 201)

    # -- permissions -----------------------------------------------------------------------------
    def list_permissions(self, req: Request) -> Response:
        state = self.state(req)
        coll = state.calendar_permissions(self._calendar_id(req, state))
        return page_items(req, (public(v) for _, v in coll.items()), outlook_limits())

    def get_permission(self, req: Request) -> Response:
        state = self.state(req)
        return json_response(select(public(state.permission(state.default_calendar_id, req.params["permission"])),
                                    req))

    def create_permission(self, req: Request) -> Response:
        state = self.state(req)
        cid = self._calendar_id(req, state)
        body = _object_body(req)
        address = (body.get("emailAddress") or {}).get("address") if isinstance(body.get("emailAddress"), dict) \
            else None
        if not address:
            raise bad_request("emailAddress.address is required.", "ErrorInvalidParameter")
        coll = state.calendar_permissions(cid)
        if any(str((p.get("emailAddress") or {}).get("address", "")).lower() == address.lower()
               for _, p in coll.items()):
            raise ApiError(409, "ErrorItemAlreadyExists", "The calendar is already shared with this user.")
        inside = self._inside_organization(address)
        roles = (DELEGATE_ROLES if cid == state.default_calendar_id and inside else SHAREE_ROLES)
        role = body.get("role") or "read"
        if role not in roles:
            raise bad_request(f"The role '{role}' is not allowed for this sharee.", "ErrorInvalidParameter")
        item = {"id": ids.opaque("calendarPermission", cid, address.lower()), "isRemovable": True,
                "isInsideOrganization": inside, "role": role, "allowedRoles": roles,
                "emailAddress": {"name": body["emailAddress"].get("name") or address, "address": address}}
        coll.put_new(item["id"], item)
        return json_response(public(item), 200)  # calendar-post-calendarpermissions.md: 200 OK, not 201

    def _inside_organization(self, address: str) -> bool:
        try:
            self.tenant.resolve_user(address)
        except ApiError:
            return False
        return True

    def update_permission(self, req: Request) -> Response:
        state = self.state(req)
        cid = state.default_calendar_id
        item = state.permission(cid, req.params["permission"])
        body = _object_body(req)
        others = set(body) - {"role", "@odata.type", "id"}
        if others:
            raise bad_request("Only the role of a calendar permission can be updated.", "ErrorInvalidRequest")
        if "role" in body and body["role"] not in item.get("allowedRoles", []):
            raise bad_request(f"The role '{body['role']}' is not allowed for this sharee.", "ErrorInvalidParameter")
        updated = patch_item(self.tenant, state.calendar_permissions(cid), item["id"], item,
                             {k: v for k, v in body.items() if k == "role"}, stamp=False)
        return json_response(public(updated))

    def delete_permission(self, req: Request) -> Response:
        state = self.state(req)
        cid = state.default_calendar_id
        item = state.permission(cid, req.params["permission"])
        if not item.get("isRemovable", True):
            raise bad_request("This calendar permission cannot be removed.", "ErrorInvalidRequest")
        state.calendar_permissions(cid).remove(item["id"])
        return Response(204)

    # -- events ----------------------------------------------------------------------------------
    def list_default_calendar_events(self, req: Request) -> Response:
        return self._list_events(req, self.state(req).default_calendar_id)

    def list_calendar_events(self, req: Request) -> Response:
        state = self.state(req)
        return self._list_events(req, self._calendar_id(req, state))

    def _list_events(self, req: Request, calendar_id: str) -> Response:
        # Lists hold single instances and series masters; occurrences appear only in calendar views.
        state = self.state(req)
        immutable = req.immutable_ids
        return page_collection(req, state.events[calendar_id], outlook_limits(),
                               lambda k, v: state.render_event(k, v, immutable))

    def create_default_calendar_event(self, req: Request) -> Response:
        return self._create_event(req, self.state(req).default_calendar_id)

    def create_calendar_event(self, req: Request) -> Response:
        state = self.state(req)
        return self._create_event(req, self._calendar_id(req, state))

    def _create_event(self, req: Request, calendar_id: str) -> Response:
        state = self.state(req)
        body = _object_body(req)
        fields = _event_fields(body)
        for required in ("start", "end"):
            if required not in fields:
                raise bad_request(f"The event property '{required}' is required.", "ErrorInvalidRequest")
        attachments = body.get("attachments") or []
        stored_attachments(attachments, "eventAttachment", "check")  # a bad attachment creates no event
        key, item, created = state.create_event(calendar_id, fields)
        if created and attachments:  # event-post-attachments.md rules hold for attachments sent inline too
            parsed = stored_attachments(attachments, "eventAttachment", key, self.tenant.new_key)
            item = state.set_attachments(EventRef(key, calendar_id, item), parsed)
        return json_response(state.render_event(key, item, req.immutable_ids), 201)

    def get_event(self, req: Request) -> Response:
        state = self.state(req)
        return json_response(select(state.render_ref(state.find(req.params["event"]), req.immutable_ids), req))

    def update_event(self, req: Request) -> Response:
        state = self.state(req)
        ref = state.find(req.params["event"])
        check_if_match(req.headers, state.render_ref(ref, False))
        fields = _event_fields(_object_body(req))
        if ref.occurrence is not None:
            master = state.update_occurrence(ref, fields)
            ref = EventRef(ref.key, ref.calendar_id, master, ref.occurrence)
            return json_response(state.render_ref(ref, req.immutable_ids))
        return json_response(state.render_event(ref.key, state.update_event(ref.key, fields), req.immutable_ids))

    def delete_event(self, req: Request) -> Response:
        state = self.state(req)
        ref = state.find(req.params["event"])
        check_if_match(req.headers, state.render_ref(ref, False))
        state.delete_event(ref)
        return Response(204)

    def list_instances(self, req: Request) -> Response:
        state = self.state(req)
        start, end = _window(req)
        ref = state.find(req.params["event"])
        if ref.occurrence is not None:
            found = [o for o in [state.render_ref(ref, req.immutable_ids)]
                     if _overlaps(to_utc(o["start"]), to_utc(o["end"]), start, end)]
        else:
            found = state.in_window(ref.key, ref.item, start, end, req.immutable_ids)
        return page_items(req, sorted(found, key=lambda o: o["start"]["dateTime"]), outlook_limits())

    # -- calendar view and its delta -------------------------------------------------------------
    def calendar_view(self, req: Request) -> Response:
        state = self.state(req)
        start, end = _window(req)
        return page_items(req, state.view(self._calendar_id(req, state), start, end, req.immutable_ids),
                          outlook_limits())

    def calendar_view_delta(self, req: Request) -> Response:
        unsupported = [q for q in _UNSUPPORTED_ON_VIEW_DELTA if q in req.query]
        if unsupported:
            raise bad_request(f"The query option '{unsupported[0]}' is not supported with change tracking "
                              "over the 'CalendarView' resource.", "ErrorInvalidUrlQuery")
        state = self.state(req)
        token = req.query.get("$deltatoken") or req.query.get("$skiptoken")
        options: dict = {}
        if not token:
            start, end = _window(req)
            options = {"window": [content.iso(start), content.iso(end)]}
        immutable = req.immutable_ids
        src = DeltaSource(
            state.events[state.default_calendar_id], req.path, render_full=None,  # type: ignore[arg-type]
            render_removed=None,  # type: ignore[arg-type]
            default_page=10, max_page=1000, expired=sync_state_not_found, options=options,
        )

        def window() -> tuple[datetime, datetime]:
            start_raw, end_raw = src.options["window"]
            return parse_instant(start_raw), parse_instant(end_raw)

        def expand(key: str, item: Item) -> list[dict]:
            start, end = window()
            current = state.in_window(key, item, start, end, immutable)
            gone = state.earlier_ids(key, start, end, immutable) - {o["id"] for o in current}
            if not current and not gone:
                return []
            return current + [_removed_event(i) for i in sorted(gone)]

        def render_removed(change: Collapsed) -> list[dict]:
            start, end = window()
            gone = {event_id(change.key, immutable)} | state.earlier_ids(change.key, start, end, immutable)
            return [_removed_event(i) for i in sorted(gone)]

        src.expand = expand  # the engine renders through expand; render_full only serves sources without one
        src.render_full = lambda k, v: (expand(k, v) or [None])[0]
        src.render_removed = render_removed
        return serve_page(req, self.tenant, src)

    # -- scheduling ------------------------------------------------------------------------------
    def get_schedule(self, req: Request) -> Response:
        body = req.action_params()
        schedules = body.get("schedules")
        if not isinstance(schedules, list) or not schedules or "startTime" not in body or "endTime" not in body:
            raise bad_request("schedules, startTime and endTime are required.", "ErrorInvalidParameter")
        start, end = to_utc(body["startTime"]), to_utc(body["endTime"])
        interval = int(body.get("availabilityViewInterval") or 30)
        if not 5 <= interval <= 1440:
            raise bad_request("availabilityViewInterval must be between 5 and 1440.", "ErrorInvalidParameter")
        if end <= start:
            raise bad_request("The endTime must be after the startTime.", "ErrorInvalidParameter")
        values = [self._schedule(str(address), start, end, interval) for address in schedules]
        return json_response({"@odata.context": f"{req.base_url}/$metadata#Collection("
                                                "microsoft.graph.scheduleInformation)", "value": values})

    def _schedule(self, address: str, start: datetime, end: datetime, interval: int) -> dict:
        try:
            user_id, _ = self.tenant.resolve_user(address)
        except ApiError:
            return {"scheduleId": address, "availabilityView": "", "scheduleItems": [],
                    "error": {"message": "The specified user or resource could not be found.",
                              "responseCode": "ErrorMailRecipientNotFound"}}
        busy = user_calendar(self.tenant, user_id).busy_items(start, end)
        slots = []
        slot = start
        while slot < end:
            status = _slot_status(busy, slot, min(slot + timedelta(minutes=interval), end))
            slots.append(_AVAILABILITY_DIGIT[status])
            slot += timedelta(minutes=interval)
        items = [{"isPrivate": o.get("sensitivity") == "private", "status": o.get("showAs", "busy"),
                  "subject": o.get("subject", ""), "location": (o.get("location") or {}).get("displayName", ""),
                  "isMeeting": bool(o.get("attendees")), "isRecurring": o.get("type") != "singleInstance",
                  "isException": o.get("type") == "exception", "isReminderSet": bool(o.get("isReminderOn")),
                  "start": o["start"], "end": o["end"]} for o in busy]
        return {"scheduleId": address, "availabilityView": "".join(slots), "scheduleItems": items,
                "workingHours": _working_hours()}

    def find_meeting_times(self, req: Request) -> Response:
        body = req.action_params()
        state = self.state(req)
        duration = _duration(body.get("meetingDuration") or "PT30M")
        constraint = body.get("timeConstraint") or {}
        domain = constraint.get("activityDomain") or "work"
        slots = constraint.get("timeSlots") or [{"start": graph_time(self.tenant.epoch),
                                                 "end": graph_time(self.tenant.epoch + timedelta(days=2))}]
        attendees = [a for a in body.get("attendees") or [] if isinstance(a, dict)]
        minimum = float(body.get("minimumAttendeePercentage") or 50)
        organizer_optional = _truthy(body.get("isOrganizerOptional"))
        reasons = _truthy(body.get("returnSuggestionReasons"))
        locations = [{"displayName": loc.get("displayName", "")}
                     for loc in ((body.get("locationConstraint") or {}).get("locations") or [])[:1]]
        busy_of = self._busy_lookup(attendees, slots)
        organizer_busy = state.busy_items(*_span(slots))
        candidates, organizer_blocked, attendees_blocked = [], 0, 0
        for start in _candidate_starts(slots, duration, domain):
            end = start + duration
            organizer = _slot_status(organizer_busy, start, end)
            if not organizer_optional and organizer in ("busy", "oof"):
                organizer_blocked += 1
                continue
            availability = [(a, _availability(busy_of, a, start, end)) for a in attendees]
            chances = [{"free": 100.0, "tentative": 100.0, "workingElsewhere": 100.0,
                        "unknown": 49.0}.get(s, 0.0) for _, s in availability]
            confidence = sum(chances) / len(chances) if chances else 100.0
            if confidence < minimum:
                attendees_blocked += 1
                continue
            candidates.append((confidence, start, organizer, availability))
        candidates.sort(key=lambda c: (-c[0], c[1]))
        limit = int(body.get("maxCandidates") or 10)
        suggestions = [_suggestion(n + 1, c, duration, locations, reasons) for n, c in enumerate(candidates[:limit])]
        reason = "" if suggestions else ("organizerUnavailable" if organizer_blocked and not attendees_blocked
                                         else "attendeesUnavailableOrUnknown" if attendees_blocked else "unknown")
        context = f"{req.base_url}/$metadata#microsoft.graph.meetingTimeSuggestionsResult"
        return json_response({"@odata.context": context, "emptySuggestionsReason": reason,
                              "meetingTimeSuggestions": suggestions})

    def _busy_lookup(self, attendees: list[dict], slots: list[dict]) -> dict[str, list[dict] | None]:
        """Busy events per attendee address over the whole search span; None for people outside the tenant."""
        span = _span(slots)
        found: dict[str, list[dict] | None] = {}
        for attendee in attendees:
            address = str((attendee.get("emailAddress") or {}).get("address", ""))
            try:
                user_id, _ = self.tenant.resolve_user(address)
            except ApiError:
                found[address.lower()] = None
                continue
            found[address.lower()] = user_calendar(self.tenant, user_id).busy_items(*span)
        return found

    # -- control surface -------------------------------------------------------------------------
    def control_ops(self) -> dict[str, Callable[..., Any]]:
        return {"create_event": self.control_create_event, "update_event": self.control_update_event,
                "delete_event": self.control_delete_event, "calendar_state": self.control_calendar_state}

    def _user_state(self, user: str) -> UserCalendar:
        user_id, _ = self.tenant.resolve_user(user)
        return user_calendar(self.tenant, user_id)

    def control_create_event(self, user: str, fields: dict, calendar: str | None = None) -> dict:
        """Create an event (default calendar unless `calendar` is given); defaults fill a one-hour meeting."""
        state = self._user_state(user)
        cid = calendar or state.default_calendar_id
        start = self.tenant.epoch + timedelta(days=1)
        defaults = {"subject": "Simulated new event", "start": graph_time(start),
                    "end": graph_time(start + timedelta(hours=1)),
                    "body": {"contentType": "html", "content": "<p>Added by the simulator</p>"}}
        key, item, _ = state.create_event(cid, {**defaults, **_event_fields(fields)})
        return self._control_ids(state, key, item)

    def control_update_event(self, user: str, event_id: str, fields: dict) -> dict:
        state = self._user_state(user)
        ref = state.find(event_id)
        if ref.occurrence is not None:
            master = state.update_occurrence(ref, _event_fields(fields))
            return state.render_ref(EventRef(ref.key, ref.calendar_id, master, ref.occurrence), False)
        return self._control_ids(state, ref.key, state.update_event(ref.key, _event_fields(fields)))

    def control_delete_event(self, user: str, event_id: str) -> None:
        state = self._user_state(user)
        state.delete_event(state.find(event_id))

    def control_calendar_state(self, user: str) -> dict[str, dict]:
        """Every live event (single instances and series masters) of the default calendar, by REST id."""
        state = self._user_state(user)
        return {event_id(k, False): state.render_event(k, v, False)
                for k, v in state.events[state.default_calendar_id].items()}

    @staticmethod
    def _control_ids(state: UserCalendar, key: str, item: Item) -> dict:
        out = state.render_event(key, item, False)
        out["immutableId"] = event_id(key, True)
        return out


# -- helpers ---------------------------------------------------------------------------------------
def _object_body(req: Request) -> dict:
    body = req.json()
    if not isinstance(body, dict):
        raise bad_request("Empty Payload. JSON content expected.", "ErrorInvalidRequest")
    return body


def _event_fields(body: dict) -> dict:
    unknown = set(body) - _EVENT_WRITABLE - _EVENT_IGNORED - {"attachments"}
    if unknown:
        raise bad_request(f"Property '{sorted(unknown)[0]}' does not exist on type 'microsoft.graph.event'.",
                          "RequestBodyRead")
    return {k: copy.deepcopy(v) for k, v in body.items() if k in _EVENT_WRITABLE}


def _query(req: Request, name: str) -> str | None:
    """A query parameter by case-insensitive name (Graph accepts `startdatetime` as well)."""
    lowered = name.lower()
    return next((v for k, v in req.query.items() if k.lower() == lowered), None)


def _window(req: Request) -> tuple[datetime, datetime]:
    start_raw, end_raw = _query(req, "startDateTime"), _query(req, "endDateTime")
    if not start_raw or not end_raw:
        raise bad_request(_TIME_WINDOW_REQUIRED, "ErrorInvalidParameter")
    start, end = parse_instant(start_raw), parse_instant(end_raw)
    if end <= start:
        raise bad_request("The parameter 'EndDateTime' must be after 'StartDateTime'.", "ErrorInvalidParameter")
    return start, end


def _removed_event(client_id: str) -> dict:
    return {"@odata.type": "#microsoft.graph.event", "id": client_id, "@removed": {"reason": "deleted"}}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"  # the docs' own samples send "true" as a string


def _duration(raw: Any) -> timedelta:
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", str(raw))
    if m is None or not any(m.groups()):
        raise bad_request(f"Invalid meetingDuration '{raw}'.", "ErrorInvalidParameter")
    days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
    value = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if value <= timedelta(0):
        raise bad_request(f"Invalid meetingDuration '{raw}'.", "ErrorInvalidParameter")
    return value


def _span(slots: list[dict]) -> tuple[datetime, datetime]:
    bounds = [(to_utc(s["start"]), to_utc(s["end"])) for s in slots]
    return min(b[0] for b in bounds), max(b[1] for b in bounds)


def _candidate_starts(slots: list[dict], duration: timedelta, domain: str) -> Iterator[datetime]:
    """Half-hour aligned starts inside the time slots and the activity domain's hours (08-17 UTC)."""
    for slot in slots:
        start, end = to_utc(slot["start"]), to_utc(slot["end"])
        current = start + timedelta(minutes=(-start.minute) % 30, seconds=-start.second)
        while current + duration <= end:
            if domain == "unrestricted" or _in_working_hours(current, current + duration, domain == "personal"):
                yield current
            current += timedelta(minutes=30)


def _in_working_hours(start: datetime, end: datetime, weekends: bool) -> bool:
    if not weekends and start.weekday() >= 5:
        return False
    day_start = datetime.combine(start.date(), time(8), UTC)
    return start >= day_start and end <= day_start + timedelta(hours=9)


def _slot_status(busy: list[dict], start: datetime, end: datetime) -> str:
    status = "free"
    for o in busy:
        if _overlaps(to_utc(o["start"]), to_utc(o["end"]), start, end):
            candidate = o.get("showAs") if o.get("showAs") in _STATUS_RANK else "busy"
            if _STATUS_RANK[candidate] > _STATUS_RANK[status]:
                status = candidate
    return status


def _availability(busy_of: dict[str, list[dict] | None], attendee: dict, start: datetime, end: datetime) -> str:
    busy = busy_of.get(str((attendee.get("emailAddress") or {}).get("address", "")).lower())
    return "unknown" if busy is None else _slot_status(busy, start, end)


def _suggestion(order: int, candidate: tuple, duration: timedelta, locations: list[dict], reasons: bool) -> dict:
    confidence, start, organizer, availability = candidate
    out = {"confidence": round(confidence, 2), "order": order, "organizerAvailability": organizer,
           "attendeeAvailability": [{"availability": status,
                                     "attendee": {"type": a.get("type") or "required",
                                                  "emailAddress": a.get("emailAddress")}}
                                    for a, status in availability],
           "locations": locations,
           "meetingTimeSlot": {"start": graph_time(start), "end": graph_time(start + duration)}}
    if reasons:
        who = "all" if confidence >= 100 else "most"
        out["suggestionReason"] = f"Suggested because it is one of the nearest times when {who} attendees are "\
                                  "available."
    return out


def _working_hours() -> dict:
    return {"daysOfWeek": WEEKDAYS[:5], "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000",
            "timeZone": {"name": "UTC"}}
