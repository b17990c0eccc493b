"""The other addresses Graph gives the same events: through the default calendar, a named calendar and a
calendar group. calendar.py serves `/users/{id}/events/...` and `/users/{id}/calendarView`; this module
serves the documented variants and hands them to the same handlers, after checking that the event
really lives in the calendar the path names (otherwise Outlook cannot find it there: 404).

- get/update/delete an event: `/calendar/events/{id}`, `/calendars/{id}/events/{id}`,
  `/calendarGroups/{id}/calendars/{id}/events/{id}` (event-get.md, event-update.md, event-delete.md);
- its instances, with the same paths + `/instances` (event-list-instances.md);
- calendarView: `/calendar/calendarView` and `/calendarGroups/{id}/calendars/{id}/calendarView`
  (user-list-calendarview.md; `/calendars/{id}/calendarView` is in calendar.py), which msgraph-sdk calls
  as `users.by_user_id(...).calendar.calendar_view`;
- the events of a grouped calendar: `/calendarGroups/{id}/calendars/{id}/events` (user-list-events.md).

Every event read honours `Prefer: outlook.timezone` (calendar_tz.py).
"""

from __future__ import annotations

from collections.abc import Callable

from connectors.simulator.calendar import CalendarArea, user_calendar
from connectors.simulator.calendar_tz import prefer_timezone
from connectors.simulator.http import Handler, Request, Response, Router, not_found
from connectors.simulator.tenant import Tenant

U = "/users/{user}"
# Path prefixes naming one calendar: the default one, any calendar, a calendar in a group.
CALENDAR_PREFIXES = (f"{U}/calendar", f"{U}/calendars/{{calendar}}",
                     f"{U}/calendarGroups/{{group}}/calendars/{{calendar}}")


def named_calendar(tenant: Tenant, req: Request) -> str | None:
    """The calendar a path names (`/calendar`, `/calendars/{id}`, `/calendarGroups/{g}/calendars/{id}`),
    None for paths that name none (`/events/{id}`); 404 when it does not exist or is not in the group."""
    segments = req.path.strip("/").split("/")
    if len(segments) < 3 or segments[2].lower() not in ("calendar", "calendars", "calendargroups"):
        return None
    state = user_calendar(tenant, req.params["user"])
    calendar_id = req.params.get("calendar") or state.default_calendar_id
    calendar = state.calendar(calendar_id)
    if "group" in req.params and calendar.get("_group") != state.group_key(req.params["group"]):
        raise not_found()
    return calendar_id


class CalendarPathsArea:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    @property
    def calendar(self) -> CalendarArea:
        return self.tenant.areas["calendar"]

    def register(self, r: Router) -> None:
        tz = prefer_timezone
        for p in CALENDAR_PREFIXES:
            r.add("GET", f"{p}/events/{{event}}", tz(self._in_calendar(lambda req: self.calendar.get_event(req))))
            r.add("PATCH", f"{p}/events/{{event}}", self._in_calendar(lambda req: self.calendar.update_event(req)))
            r.add("DELETE", f"{p}/events/{{event}}", self._in_calendar(lambda req: self.calendar.delete_event(req)))
            r.add("GET", f"{p}/events/{{event}}/instances",
                  tz(self._in_calendar(lambda req: self.calendar.list_instances(req))))
        grouped = CALENDAR_PREFIXES[2]
        view = tz(self._calendar_only(lambda req: self.calendar.calendar_view(req)))
        r.add("GET", f"{U}/calendar/calendarView", view)
        r.add("GET", f"{grouped}/calendarView", view)
        r.add("GET", f"{grouped}/events", tz(self._calendar_only(lambda req: self.calendar.list_calendar_events(req))))

    def _calendar_id(self, req: Request) -> str:
        found = named_calendar(self.tenant, req)
        assert found is not None  # every route here names a calendar
        return found

    def _calendar_only(self, handler: Handler) -> Handler:
        def handle(req: Request) -> Response:
            self._calendar_id(req)
            return handler(req)

        return handle

    def _in_calendar(self, handler: Callable[[Request], Response]) -> Handler:
        """The handler, for an event (or occurrence) of the calendar the path names only."""
        def handle(req: Request) -> Response:
            calendar_id = self._calendar_id(req)
            ref = user_calendar(self.tenant, req.params["user"]).find(req.params["event"])
            if ref.calendar_id != calendar_id:
                raise not_found()
            return handler(req)

        return handle
