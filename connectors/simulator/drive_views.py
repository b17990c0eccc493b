"""Read-only views over a drive: search, item permissions, delta through an item, and the deprecated
recent / sharedWithMe lists. drive.py keeps the drive itself, its items and their writes.

- search(q=) (driveitem-search.md): `/root/search` and `/items/{id}/search` search a folder's hierarchy,
  `/drive/search` the drive plus the items shared with the user, those with the **remoteItem** facet.
  "Values may be matched across several fields including filename, metadata, and file content": here the
  name and the description.
- `/items/{id}/permissions` (driveitem-list-permissions.md): the owner sees every permission; "for a
  non-owner caller, only the sharing permissions that apply to the caller are returned", without the
  properties that carry secrets (`shareId`, the link's `webUrl`); `if-none-match` with the item's
  current eTag answers 304.
- `/items/{id}/delta` is the address msgraph-sdk builds (`drives.by_drive_id().items.by_drive_item_id(id)
  .delta`); driveitem-delta.md documents `/root/delta`, and OneDrive for Business has "the delta action
  only available on the root item of a drive" (OneDrive/onedrive-api-docs release-notes.md, "View
  deltas"), so the root's item id serves the root's delta and any other item is refused.
- recent and sharedWithMe are deprecated: "will operate in a degraded state until November, 2026, after
  which it will stop returning data" (drive-recent.md; drive-sharedwithme.md), and neither supports
  application permissions (their Permissions tables: Application "Not supported"). What Graph answers an
  app-only caller is not documented; observed: 200 with an empty `value`
  (OneDrive/onedrive-api-docs#987, microsoftgraph/microsoft-graph-docs#1540), which is what this answers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from connectors.simulator.content import person
from connectors.simulator.drive import (
    DRIVE_TYPE,
    LIST_LIMITS,
    PREFIXES,
    SHARED_SLOT,
    Drive,
    DriveArea,
    identity,
    page_list,
    sharing_owners,
)
from connectors.simulator.http import ApiError, Request, Response, Router, bad_request
from connectors.simulator.tenant import Tenant

# The month after which recent and sharedWithMe stop returning data (drive-recent.md, drive-sharedwithme.md).
DEPRECATED_AFTER = datetime(2026, 12, 1, tzinfo=UTC)


class DriveViewsArea:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    @property
    def area(self) -> DriveArea:
        return self.tenant.areas["drive"]

    def register(self, r: Router) -> None:
        for p in PREFIXES:
            r.add("GET", f"{p}/root/search", self.search_root)
            r.add("GET", f"{p}/items/{{item}}/search", self.search_item)
            r.add("GET", f"{p}/search", self.search_drive)
            r.add("GET", f"{p}/items/{{item}}/delta", self.item_delta)
            r.add("GET", f"{p}/items/{{item}}/permissions", self.list_permissions)
            r.add("GET", f"{p}/recent", self.recent)
            r.add("GET", f"{p}/sharedWithMe", self.shared_with_me)

    # -- search ------------------------------------------------------------------------------------
    @staticmethod
    def _query(req: Request) -> str:
        q = req.params.get("q") if "q" in req.params else req.query.get("q")
        if q is None:
            raise bad_request("The q parameter is required.", "invalidRequest")
        return q

    def _matches(self, req: Request, drive: Drive, keys: set[str] | None) -> list[dict]:
        needle = self._query(req).lower()
        return [self.area.render(req, drive, k, v) for k, v in drive.live_items()
                if k != drive.root_id and (keys is None or k in keys)
                and (needle in v["name"].lower() or needle in str(v.get("description") or "").lower())]

    def _page(self, req: Request, found: list[dict]) -> Response:
        return page_list(req, found, LIST_LIMITS, extra_query={"q": quote(self._query(req), safe="")})

    def search_root(self, req: Request) -> Response:
        return self._page(req, self._matches(req, self.area.drive(req), None))

    def search_item(self, req: Request) -> Response:
        drive = self.area.drive(req)
        key, item = drive.find(req.params["item"])
        scope = None if key == drive.root_id else set(drive.descendants(key)) if "folder" in item else set()
        return self._page(req, self._matches(req, drive, scope))

    def search_drive(self, req: Request) -> Response:
        drive = self.area.drive(req)
        needle = self._query(req).lower()
        shared = [s for s in self._shared_items(req, drive) if needle in s["name"].lower()]
        return self._page(req, self._matches(req, drive, None) + shared)

    # -- permissions -------------------------------------------------------------------------------
    def list_permissions(self, req: Request) -> Response:
        drive = self.area.drive(req)
        key, item = drive.find(req.params["item"])
        wanted = req.headers.get("if-none-match", "").strip()
        if wanted and wanted == item.get("eTag"):
            return Response(304)
        found = drive.permissions(key)
        caller = req.principal.user_id if req.principal else None
        if caller is not None and caller != drive.user_id:
            found = [_without_secrets(p) for p in found
                     if ((p.get("grantedToV2") or {}).get("user") or {}).get("id") == caller]
        return page_list(req, found, LIST_LIMITS)

    # -- delta through an item ---------------------------------------------------------------------
    def item_delta(self, req: Request) -> Response:
        drive = self.area.drive(req)
        key, _ = drive.find(req.params["item"])
        if key != drive.root_id:
            # The documented restriction (release-notes.md, "View deltas"); Graph's exact error is not.
            raise ApiError(400, "invalidRequest", "Delta is only supported on the root folder of a "
                                                  "OneDrive for Business drive.")
        return self.area.delta(req)

    # -- deprecated views --------------------------------------------------------------------------
    def _deprecated_empty(self, req: Request) -> bool:
        app_only = req.principal is not None and req.principal.user_id is None
        return app_only or self.tenant.epoch >= DEPRECATED_AFTER

    def recent(self, req: Request) -> Response:
        """Files the user worked on lately: their own and those shared with them (with remoteItem)."""
        if self._deprecated_empty(req):
            return page_list(req, [], LIST_LIMITS)
        drive = self.area.drive(req)
        own = [self.area.render(req, drive, k, v) for k, v in drive.live_items() if "file" in v]
        everything = own + self._shared_items(req, drive)
        everything.sort(key=lambda o: o.get("lastModifiedDateTime") or "", reverse=True)
        return page_list(req, everything[:50], LIST_LIMITS)

    def shared_with_me(self, req: Request) -> Response:
        if self._deprecated_empty(req):
            return page_list(req, [], LIST_LIMITS)
        return page_list(req, self._shared_items(req, self.area.drive(req)), LIST_LIMITS)

    def _shared_items(self, req: Request, drive: Drive) -> list[dict]:
        """What colleagues put in their Shared folder, as drive-sharedwithme.md returns it: a stub whose
        remoteItem points at the item in the owner's drive."""
        out = []
        for owner_index in sharing_owners(self.tenant, drive.user_index):
            owner_drive = self.area.drive_of(person(self.tenant.seed, owner_index).id)
            shared_id = owner_drive.slot_id(SHARED_SLOT)
            for key, item in owner_drive.children(shared_id):
                remote = owner_drive.render(key, item, self.area.origin(req))
                remote.pop("@microsoft.graph.downloadUrl", None)
                remote["parentReference"] = {"driveId": owner_drive.id, "driveType": DRIVE_TYPE}
                remote["shared"] = {"owner": identity(owner_drive.owner), "sharedDateTime": remote["createdDateTime"]}
                stub = {k: remote[k] for k in ("id", "name", "size", "webUrl", "createdDateTime",
                                               "lastModifiedDateTime", "file", "folder") if k in remote}
                stub["remoteItem"] = remote
                out.append(stub)
        return out


def _without_secrets(permission: dict) -> dict:
    """driveitem-list-permissions.md: "Sharing permission properties that contain secrets (e.g. `shareId`
    and `webUrl`) are only returned for callers that are able to create the sharing permission"."""
    out = {k: v for k, v in permission.items() if k != "shareId"}
    if isinstance(out.get("link"), dict):
        out["link"] = {k: v for k, v in out["link"].items() if k != "webUrl"}
    return out
