"""Directory: users (list, CRUD, delta), the signed-in user's profile, rooms and room lists."""

from __future__ import annotations

from datetime import timedelta

from connectors.simulator import content
from connectors.simulator.delta import DeltaSource, serve_page
from connectors.simulator.http import ApiError, Request, Response, Router, bad_request, json_response
from connectors.simulator.places import ROOM_LISTS, ROOMS
from connectors.simulator.store import Collapsed, Item
from connectors.simulator.tenant import Tenant, public
from connectors.simulator.user_rules import check_password, check_upn, validate_new_user
from connectors.simulator.views import directory_limits, page_collection, page_items, select


# findRooms/findRoomLists are beta-only (user-findrooms.md); v1.0 is /places (places.py), from the same seed.
def room_lists() -> list[dict]:
    return [{"name": name, "address": f"{alias}@{content.DOMAIN}"} for name, alias in ROOM_LISTS]


def rooms(room_list: str | None = None) -> list[dict]:
    found = []
    for i, room in enumerate(ROOMS):
        alias = ROOM_LISTS[i % len(ROOM_LISTS)][1]
        if room_list is None or room_list.lower() == f"{alias}@{content.DOMAIN}":
            found.append({"name": f"Conf Room {room}", "address": f"{room}@{content.DOMAIN}"})
    return found


# Writable user properties (resources/user.md); user-post-users.md: "You can optionally specify any other
# writable properties", identities and passwordPolicies included.
_USER_WRITABLE = {"accountEnabled", "displayName", "givenName", "surname", "jobTitle", "department",
                  "officeLocation", "mobilePhone", "businessPhones", "mailNickname", "userPrincipalName",
                  "usageLocation", "preferredLanguage", "passwordProfile", "mail", "city", "country",
                  "companyName", "employeeId", "aboutMe", "state", "streetAddress", "postalCode",
                  "passwordPolicies", "identities", "onPremisesImmutableId", "otherMails", "employeeType",
                  "employeeHireDate", "faxNumber", "ageGroup", "consentProvidedForMinor", "showInAddressList",
                  "preferredName", "interests", "skills", "schools", "pastProjects", "responsibilities",
                  "birthday", "hireDate", "mySite", "employeeOrgData"}


class DirectoryArea:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    def register(self, r: Router) -> None:
        r.add("GET", "/users", self.list_users)
        r.add("POST", "/users", self.create_user)
        r.add("GET", "/users/delta", self.users_delta)
        r.add("GET", "/users/{user}", self.get_user)
        r.add("PATCH", "/users/{user}", self.update_user)
        r.add("DELETE", "/users/{user}", self.delete_user)
        r.add("GET", "/users/{user}/findRoomLists", self.find_room_lists)
        r.add("GET", "/users/{user}/findRooms", self.find_rooms)
        r.add("GET", "/organization", self.list_organization)
        r.add("GET", "/organization/{organization}", self.get_organization)

    def list_users(self, req: Request) -> Response:
        return page_collection(req, self.tenant.users, directory_limits(), lambda k, v: public(v))

    def get_user(self, req: Request) -> Response:
        _, item = self.tenant.resolve_user(req.params["user"])
        return json_response(select(public(item), req))

    def create_user(self, req: Request) -> Response:
        """Create user (user-post-users.md): required properties, a UPN on a verified domain and a
        password the tenant's policy accepts (user_rules.py)."""
        body = req.json()
        unknown = set(body) - _USER_WRITABLE if isinstance(body, dict) else set()
        if unknown:
            raise ApiError(400, "Request_BadRequest",
                           f"Property '{sorted(unknown)[0]}' does not exist on type 'microsoft.graph.user'.")
        validate_new_user(body, self.tenant.config.verified_domains)
        return json_response(public(self.tenant.create_user(body)), 201)

    def update_user(self, req: Request) -> Response:
        body = req.json()
        unknown = set(body) - _USER_WRITABLE
        if unknown:
            raise ApiError(400, "Request_BadRequest",
                           f"Property '{sorted(unknown)[0]}' does not exist on type 'microsoft.graph.user'.")
        if "userPrincipalName" in body:
            check_upn(str(body["userPrincipalName"]), self.tenant.config.verified_domains)
        if "passwordProfile" in body:  # a new password meets the same policy (resources/passwordprofile.md)
            _, user = self.tenant.resolve_user(req.params["user"])
            check_password(body["passwordProfile"], body.get("passwordPolicies", user.get("passwordPolicies")))
        self.tenant.update_user(req.params["user"], {k: v for k, v in body.items() if k != "passwordProfile"})
        return Response(204)

    def delete_user(self, req: Request) -> Response:
        if req.principal and req.principal.user_id:
            raise ApiError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        self.tenant.delete_user(req.params["user"])
        return Response(204)

    def organization(self) -> dict:
        """The tenant's organization (resources/organization.md), for its verifiedDomains: the domains a
        new user's UPN may use (user-post-users.md)."""
        cfg = self.tenant.config
        domains = cfg.verified_domains
        return {"id": cfg.tenant_id, "displayName": domains[0].split(".")[0].capitalize(), "tenantType": "AAD",
                "countryLetterCode": "US", "preferredLanguage": "en",
                "createdDateTime": content.iso(self.tenant.epoch - timedelta(days=2000)),
                "verifiedDomains": [{"name": d, "type": "Managed", "isDefault": i == 0,
                                     "isInitial": d.endswith(".onmicrosoft.com"),
                                     "capabilities": "Email, OfficeCommunicationsOnline"}
                                    for i, d in enumerate(domains)]}

    def list_organization(self, req: Request) -> Response:
        return page_items(req, [self.organization()], directory_limits())

    def get_organization(self, req: Request) -> Response:
        org = self.organization()
        if req.params["organization"].lower() != org["id"]:
            raise ApiError(404, "Request_ResourceNotFound", f"Resource '{req.params['organization']}' does not exist "
                                                            "or one of its queried reference-property objects are "
                                                            "not present.")
        return json_response(select(org, req))

    def users_delta(self, req: Request) -> Response:
        if "$top" in req.query or "$orderby" in req.query or "$expand" in req.query:
            raise ApiError(400, "Request_UnsupportedQuery", "Unsupported query option on users delta.")
        minimal = req.prefer.get("return") == "minimal"
        token = req.query.get("$deltatoken") or req.query.get("$skiptoken")
        options = {} if token else {"select": req.query.get("$select")}
        src = DeltaSource(
            self.tenant.users, req.path, render_full=None,  # type: ignore[arg-type]
            render_removed=_removed_user, default_page=100, max_page=999, expired=_directory_resync,
            options=options,
        )

        def selected(item: Item) -> dict:
            out = public(item)
            fields = src.options.get("select")
            if not fields:
                return out
            wanted = {f.strip() for f in fields.split(",")} | {"id"}
            # Selected properties are always present, null when unset, as the directory returns them.
            return {k: out.get(k) for k in wanted}

        def partial(key: str, item: Item, fields: frozenset[str]) -> dict:
            full = selected(item)
            if not minimal:
                return full
            return {k: v for k, v in full.items() if k in fields or k == "id"}

        src.render_full = lambda k, v: selected(v)
        src.render_partial = partial
        return serve_page(req, self.tenant, src)

    def find_room_lists(self, req: Request) -> Response:
        return page_items(req, room_lists(), directory_limits())

    def find_rooms(self, req: Request) -> Response:
        room_list = req.params.get("RoomList") or req.query.get("RoomList")
        if room_list is not None and not any(r["address"].lower() == room_list.lower() for r in room_lists()):
            raise bad_request(f"Room list '{room_list}' was not found.", "ErrorInvalidParameter")
        return page_items(req, rooms(room_list), directory_limits())


def _removed_user(change: Collapsed) -> dict:
    return {"@odata.type": "#microsoft.graph.user", "id": change.key, "@removed": {"reason": change.reason}}


def _directory_resync(req: Request, token: str) -> ApiError:
    # delta-query-overview.md: 410 Gone with a Location header that restarts the round from scratch.
    return ApiError(410, "resyncRequired",
                    "The delta token is no longer valid. The application must reset the sync state.",
                    headers={"location": req.link(req.path)})
