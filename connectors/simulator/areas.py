"""Which Graph areas the simulator serves. Each area registers its routes and keeps its own state."""

from __future__ import annotations

from connectors.simulator.attachment_routes import AttachmentsArea
from connectors.simulator.calendar import CalendarArea
from connectors.simulator.calendar_paths import CalendarPathsArea
from connectors.simulator.directory import DirectoryArea
from connectors.simulator.drive import DriveArea
from connectors.simulator.drive_views import DriveViewsArea
from connectors.simulator.http import Router
from connectors.simulator.mail import MailArea
from connectors.simulator.places import PlacesArea
from connectors.simulator.teams import TeamsArea
from connectors.simulator.tenant import Tenant

AREAS = {
    "directory": DirectoryArea,
    "mail": MailArea,
    "calendar": CalendarArea,
    "calendar_paths": CalendarPathsArea,
    "drive": DriveArea,
    "drive_views": DriveViewsArea,
    "teams": TeamsArea,
    "places": PlacesArea,
    "attachments": AttachmentsArea,
}


def register_areas(tenant: Tenant, router: Router) -> None:
    for name, area_class in AREAS.items():
        area = area_class(tenant)
        area.register(router)
        tenant.areas[name] = area
