"""Which Graph areas the simulator serves. Each area registers its routes and keeps its own state."""

from __future__ import annotations

from connectors.simulator.calendar import CalendarArea
from connectors.simulator.directory import DirectoryArea
from connectors.simulator.drive import DriveArea
from connectors.simulator.http import Router
from connectors.simulator.mail import MailArea
from connectors.simulator.teams import TeamsArea
from connectors.simulator.tenant import Tenant

AREAS = {
    "directory": DirectoryArea,
    "mail": MailArea,
    "calendar": CalendarArea,
    "drive": DriveArea,
    "teams": TeamsArea,
}


def register_areas(tenant: Tenant, router: Router) -> None:
    for name, area_class in AREAS.items():
        area = area_class(tenant)
        area.register(router)
        tenant.areas[name] = area
