"""Places (Graph v1.0): the tenant's rooms and room lists.

v1.0 lists them with `GET /places/microsoft.graph.room`, `GET /places/microsoft.graph.roomlist` and
`GET /places/{room-list-emailaddress}/microsoft.graph.roomlist/rooms`, 100 per page by default, with
`$filter`, `$select`, `$top`, `$skip` and `$count=true` (place-list.md); one place is `GET /places/{id}`,
by id or email address (place-get.md). Other places (workspaces, desks, buildings, floors, sections)
are not modelled: 501. `findRooms`/`findRoomLists` are beta-only (user-findrooms.md
carries the beta disclaimer); the directory area keeps serving them for the catalogue from the same seed.

The seed is fixed and small, like a real tenant's: two buildings with a room list each, the eight
rooms seeded meetings book (their addresses are the `locationEmailAddress` of seeded event locations),
and one room in no list. Rooms have no dates, so nothing here depends on `tenant.epoch`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectors.simulator import content, ids
from connectors.simulator.http import ApiError, Request, Response, Router, json_response, not_modelled
from connectors.simulator.tenant import Tenant
from connectors.simulator.views import PageLimits, page_items, select

# place-list.md: "By default, this operation returns 100 places per page." No maximum is documented;
# larger $top values are capped.
PLACE_LIMITS = PageLimits(100, 1000)
ROOMS = ["Adams", "Baker", "Crystal", "Dogwood", "Elm", "Fir", "Gardenia", "Hawthorn"]  # booked by seeded events
UNLISTED_ROOMS = ["Ivy"]  # a room no room list contains, as tenants have


@dataclass(frozen=True)
class Building:
    list_name: str
    alias: str
    number: str
    address: dict
    latitude: float
    longitude: float


BUILDINGS = [
    Building("Building 1 Rooms", "bldg1rooms", "1",
             {"street": "4567 Main Street", "city": "Buffalo", "state": "NY", "postalCode": "98052",
              "countryOrRegion": "USA"}, 47.640568, -122.129373),
    Building("Building 2 Rooms", "bldg2rooms", "2",
             {"street": "1 Contoso Plaza", "city": "Redmond", "state": "WA", "postalCode": "98052",
              "countryOrRegion": "USA"}, 47.642310, -122.136050),
]
ROOM_LISTS = [(b.list_name, b.alias) for b in BUILDINGS]  # (name, alias): the directory's findRoomLists seed


def room_address(name: str) -> str:
    return f"{name}@{content.DOMAIN}"


def room_list_address(building: Building) -> str:
    return f"{building.alias}@{content.DOMAIN}"


def building_of(index: int) -> Building | None:
    """The building (and so the room list) of seeded room `index`; None for unlisted rooms."""
    return BUILDINGS[index % len(BUILDINGS)] if index < len(ROOMS) else None


def room_object(seed: int, index: int) -> dict:
    """Room `index` (resources/room.md): every documented property, null where a tenant leaves it unset."""
    names = ROOMS + UNLISTED_ROOMS
    name = names[index]
    address = room_address(name)
    h = content.mix(seed, content.stable_hash(address))
    building = building_of(index)
    floor = 1 + h % 5
    return {
        "id": ids.guid(seed, "place", address.lower()),
        "emailAddress": address,
        "displayName": f"Conf Room {name}",
        "nickname": f"Conf Room {name}",
        "address": building.address if building else None,
        "geoCoordinates": {"latitude": building.latitude, "longitude": building.longitude} if building else None,
        "phone": f"+1 425 555 {(h >> 8) % 10000:04d}",
        "building": building.number if building else None,
        "floorNumber": floor if building else None,
        "floorLabel": f"{floor}F" if building else None,
        "label": f"{floor}{index:02d}",
        "capacity": [4, 6, 8, 12, 16, 24][(h >> 12) % 6],
        "bookingType": "reserved" if building is None else "standard",
        "isWheelChairAccessible": (h >> 16) % 3 != 0,
        "tags": [["whiteboard"], ["window", "whiteboard"], [], ["standing desks"]][(h >> 20) % 4],
        "audioDeviceName": "Ceiling speakerphone" if (h >> 24) % 2 else None,
        "videoDeviceName": "Teams Room camera" if (h >> 25) % 2 else None,
        "displayDeviceName": "Surface Hub" if (h >> 26) % 2 else None,
        "parentId": None,
    }


def room_list_object(seed: int, building: Building) -> dict:
    """A room list (resources/roomlist.md): address and email; no coordinates or phone, as the docs' sample."""
    address = room_list_address(building)
    return {"id": ids.guid(seed, "place", address.lower()), "displayName": building.list_name,
            "address": building.address, "geoCoordinates": None, "phone": None, "emailAddress": address,
            "isWheelChairAccessible": False, "label": None, "parentId": None, "tags": []}


def rooms(seed: int) -> list[dict]:
    return [room_object(seed, i) for i in range(len(ROOMS) + len(UNLISTED_ROOMS))]


def rooms_in(seed: int, building: Building) -> list[dict]:
    return [room_object(seed, i) for i in range(len(ROOMS)) if building_of(i) == building]


def place_not_found(key: str) -> ApiError:
    # Not documented; Exchange's answer for an object it cannot find.
    return ApiError(404, "ErrorItemNotFound", f"The place '{key}' was not found.")


class PlacesArea:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    def register(self, r: Router) -> None:
        # Cast segments match case-insensitively (the docs write roomlist and roomList), with the namespace
        # or its alias: msgraph-sdk requests /places/graph.room and /places/{id}/graph.roomList/rooms.
        for ns in ("microsoft.graph", "graph"):
            r.add("GET", f"/places/{ns}.room", self.list_rooms)
            r.add("GET", f"/places/{ns}.roomlist", self.list_room_lists)
            r.add("GET", f"/places/{{place}}/{ns}.roomlist/rooms", self.list_rooms_in_list)
        r.add("GET", "/places/{place}", self.get_place)
        r.add("PATCH", "/places/{place}", self.update_place)

    def _context(self, req: Request, tail: str) -> str:
        return f"{req.base_url}/$metadata#{tail}"

    def list_rooms(self, req: Request) -> Response:
        return self._page(req, rooms(self.tenant.seed), "places/microsoft.graph.room")

    def list_room_lists(self, req: Request) -> Response:
        found = [room_list_object(self.tenant.seed, b) for b in BUILDINGS]
        return self._page(req, found, "places/microsoft.graph.roomList")

    def list_rooms_in_list(self, req: Request) -> Response:
        """place-list.md: "you must specify the room list by its emailAddress property, not by its id"."""
        key = req.params["place"]
        building = next((b for b in BUILDINGS if room_list_address(b).lower() == key.lower()), None)
        if building is None:
            raise place_not_found(key)
        quoted = key.replace("@", "%40")
        return self._page(req, rooms_in(self.tenant.seed, building),
                          f"places('{quoted}')/microsoft.graph.roomList/rooms")

    def get_place(self, req: Request) -> Response:
        """place-get.md: a room or room list by id or email address, with its derived @odata.type."""
        key = req.params["place"].lower()
        if key.startswith(("microsoft.graph.", "graph.")):
            # Another type cast (workspace, desk, building, floor, section): Graph has it, this does not.
            raise not_modelled(req.method, req.path)
        seed = self.tenant.seed
        candidates = [("#microsoft.graph.room", o) for o in rooms(seed)] + \
                     [("#microsoft.graph.roomList", room_list_object(seed, b)) for b in BUILDINGS]
        for odata_type, obj in candidates:
            if key in (obj["id"].lower(), obj["emailAddress"].lower()):
                body = {"@odata.context": self._context(req, "places/$entity"), "@odata.type": odata_type,
                        **select(obj, req)}
                return json_response(body)
        raise place_not_found(req.params["place"])

    def update_place(self, req: Request) -> Response:
        """place-update.md documents PATCH; the simulator does not model place writes."""
        raise not_modelled(req.method, req.path)

    def _page(self, req: Request, found: list[dict], context: str) -> Response:
        response = page_items(req, found, PLACE_LIMITS)
        response.body["@odata.context"] = self._context(req, context)
        return response

    # -- control surface ---------------------------------------------------------------------------
    def control_ops(self) -> dict[str, Callable[..., Any]]:
        return {"places_state": self.control_places_state}

    def control_places_state(self) -> dict[str, list[dict]]:
        """places_state() -> {"rooms": [room], "roomLists": [roomList + "rooms": [room email]]}: every
        place exactly as `/places/microsoft.graph.room|roomlist` return them."""
        seed = self.tenant.seed
        return {"rooms": rooms(seed),
                "roomLists": [{**room_list_object(seed, b), "rooms": [r["emailAddress"] for r in rooms_in(seed, b)]}
                              for b in BUILDINGS]}
