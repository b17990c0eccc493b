"""Time zones for Outlook calendars: the names Graph accepts, and `Prefer: outlook.timezone` on reads.

Events are stored in UTC. Graph returns them in UTC unless the request says otherwise: "For all GET
operations that return events, you can use the `Prefer: outlook.timezone` header to specify the time
zone for the event start and end times in the response ... If the `Prefer: outlook.timezone` header is
not specified, the start and end times are returned in UTC" (user-list-events.md), and the response
confirms it with `Preference-Applied: outlook.timezone="..."` (user-list-events.md, event-get.md
examples). calendarView (user-list-calendarview.md), instances (event-list-instances.md), calendarView
delta ("Prefer: {Time zone}. Optional, UTC assumed if absent.", event-delta.md), getSchedule
(calendar-getschedule.md) and findMeetingTimes (user-findmeetingtimes.md) honour it the same way.

The preference only changes how `start`/`end` are written: the startDateTime/endDateTime of a window
are still read as UTC when they carry no offset (user-list-calendarview.md), and a delta token does not
carry the header, so each request states it again (event-delta.md lists it as a request header).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.simulator.http import Handler, Request, Response, bad_request

# Windows time zone names (resources/datetimetimezone.md lists them as the names Graph accepts) to their
# IANA equivalents (CLDR windowsZones, territory 001). IANA names are accepted as they are.
WINDOWS_ZONES = {
    "Dateline Standard Time": "Etc/GMT+12", "UTC-11": "Etc/GMT+11", "Hawaiian Standard Time": "Pacific/Honolulu",
    "Alaskan Standard Time": "America/Anchorage", "Pacific Standard Time": "America/Los_Angeles",
    "US Mountain Standard Time": "America/Phoenix", "Mountain Standard Time": "America/Denver",
    "Central America Standard Time": "America/Guatemala", "Central Standard Time": "America/Chicago",
    "Central Standard Time (Mexico)": "America/Mexico_City", "Canada Central Standard Time": "America/Regina",
    "SA Pacific Standard Time": "America/Bogota", "Eastern Standard Time": "America/New_York",
    "US Eastern Standard Time": "America/Indiana/Indianapolis", "Atlantic Standard Time": "America/Halifax",
    "Newfoundland Standard Time": "America/St_Johns", "E. South America Standard Time": "America/Sao_Paulo",
    "Argentina Standard Time": "America/Argentina/Buenos_Aires", "UTC": "Etc/UTC",
    "Coordinated Universal Time": "Etc/UTC", "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik", "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest", "Romance Standard Time": "Europe/Paris",
    "Central European Standard Time": "Europe/Warsaw", "W. Central Africa Standard Time": "Africa/Lagos",
    "GTB Standard Time": "Europe/Bucharest", "FLE Standard Time": "Europe/Kiev",
    "E. Europe Standard Time": "Europe/Chisinau", "Egypt Standard Time": "Africa/Cairo",
    "South Africa Standard Time": "Africa/Johannesburg", "Israel Standard Time": "Asia/Jerusalem",
    "Turkey Standard Time": "Europe/Istanbul", "Arab Standard Time": "Asia/Riyadh",
    "Russian Standard Time": "Europe/Moscow", "Iran Standard Time": "Asia/Tehran",
    "Arabian Standard Time": "Asia/Dubai", "Pakistan Standard Time": "Asia/Karachi",
    "India Standard Time": "Asia/Kolkata", "Nepal Standard Time": "Asia/Kathmandu",
    "Bangladesh Standard Time": "Asia/Dhaka", "SE Asia Standard Time": "Asia/Bangkok",
    "China Standard Time": "Asia/Shanghai", "Singapore Standard Time": "Asia/Singapore",
    "Taipei Standard Time": "Asia/Taipei", "W. Australia Standard Time": "Australia/Perth",
    "Tokyo Standard Time": "Asia/Tokyo", "Korea Standard Time": "Asia/Seoul",
    "Cen. Australia Standard Time": "Australia/Adelaide", "AUS Central Standard Time": "Australia/Darwin",
    "E. Australia Standard Time": "Australia/Brisbane", "AUS Eastern Standard Time": "Australia/Sydney",
    "West Pacific Standard Time": "Pacific/Port_Moresby", "New Zealand Standard Time": "Pacific/Auckland",
}
_BY_LOWER = {k.lower(): v for k, v in WINDOWS_ZONES.items()}


def find_zone(name: str) -> tzinfo | None:
    """The zone a Windows or IANA name denotes, or None when Graph would not know it."""
    cleaned = name.strip()
    if not cleaned:
        return None
    if cleaned.upper() in ("UTC", "Z", "GMT"):
        return UTC
    try:
        return ZoneInfo(_BY_LOWER.get(cleaned.lower(), cleaned))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone(name: str) -> tzinfo:
    """The zone of a dateTimeTimeZone in a request body; an unknown name is a 400, as Outlook answers."""
    if not name:
        return UTC
    found = find_zone(name)
    if found is None:
        raise bad_request(f"Time zone '{name}' is not supported.", "ErrorTimeZone")
    return found


def preferred_zone(req: Request) -> tuple[str, tzinfo] | None:
    """The zone named by `Prefer: outlook.timezone="..."`, or None. A name Graph does not know is a
    preference the server cannot honour, so it is ignored and no Preference-Applied is sent (RFC 7240 §2,
    the Prefer header's own rule); the times stay in UTC."""
    raw = req.prefer.get("outlook.timezone")
    if not raw:
        return None
    name = raw.strip().strip('"').strip()
    found = find_zone(name)
    return None if found is None else (name, found)


def _localize_time(value: dict, name: str, tz: tzinfo) -> dict:
    try:
        source = ZoneInfo("UTC") if value.get("timeZone") in (None, "UTC") else find_zone(str(value["timeZone"]))
        moment = datetime.fromisoformat(str(value["dateTime"]))
    except (ValueError, TypeError):
        return value
    if source is None:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=source)
    return {"dateTime": moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": name}


def localize(obj: Any, name: str, tz: tzinfo) -> Any:
    """`obj` with every `start`/`end` dateTimeTimeZone written in `tz` and labelled `name` (in place for
    containers). All-day events convert like the rest: Outlook anchors them in their original zone, which
    here is the zone they were written in, already folded into the stored UTC time."""
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            obj[i] = localize(item, name, tz)
        return obj
    if not isinstance(obj, dict):
        return obj
    for key, value in obj.items():
        if key in ("start", "end") and isinstance(value, dict) and "dateTime" in value:
            obj[key] = _localize_time(value, name, tz)
        elif isinstance(value, list | dict):
            localize(value, name, tz)
    return obj


def apply_preference(req: Request, response: Response) -> Response:
    """Honour `Prefer: outlook.timezone` on a successful JSON response of events."""
    wanted = preferred_zone(req)
    if wanted is None or not 200 <= response.status < 300 or not isinstance(response.body, dict):
        return response
    name, tz = wanted
    localize(response.body, name, tz)
    applied = f'outlook.timezone="{name}"'
    previous = response.headers.get("preference-applied")
    response.headers["preference-applied"] = f"{previous}, {applied}" if previous else applied
    return response


def prefer_timezone(handler: Handler) -> Handler:
    """A handler whose events come back in the zone the request prefers."""
    @wraps(handler)
    def handle(req: Request) -> Response:
        return apply_preference(req, handler(req))

    return handle
