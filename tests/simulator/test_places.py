"""Rooms and room lists through v1.0's /places (place-list.md, place-get.md): the documented paths and
query options, the derived types, Place.Read.All, and the seed matching the rooms meetings book."""

from __future__ import annotations

import httpx

from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient

ROOM_PROPERTIES = {"id", "emailAddress", "displayName", "nickname", "address", "geoCoordinates", "phone", "building",
                   "floorNumber", "floorLabel", "label", "capacity", "bookingType", "isWheelChairAccessible", "tags",
                   "audioDeviceName", "videoDeviceName", "displayDeviceName", "parentId"}


def _app_token(sim: Simulator, http: httpx.Client) -> str:
    ep = sim.endpoints
    r = http.post(ep.token_url, data={"client_id": ep.client_id, "client_secret": ep.client_secret,
                                      "grant_type": "client_credentials", "scope": f"{ep.origin}/.default"})
    return r.json()["access_token"]


def test_rooms_and_room_lists_are_listed_as_the_docs_show(sim: Simulator, graph: GraphTestClient) -> None:
    state = sim.control("places_state")
    rooms = graph.get("/places/microsoft.graph.room")
    assert rooms.status_code == 200
    body = rooms.json()
    assert body["@odata.context"].endswith("/$metadata#places/microsoft.graph.room")
    assert body["value"] == state["rooms"] and len(body["value"]) == 9
    assert all(set(r) == ROOM_PROPERTIES for r in body["value"])
    assert all("@odata.type" not in r for r in body["value"]), "a cast collection needs no per-item type"
    assert all(isinstance(r["capacity"], int) for r in body["value"])
    assert {r["bookingType"] for r in body["value"]} == {"standard", "reserved"}

    lists = graph.get("/places/microsoft.graph.roomlist").json()
    assert lists["@odata.context"].endswith("#places/microsoft.graph.roomList")
    assert [rl["emailAddress"] for rl in lists["value"]] == ["bldg1rooms@contoso.com", "bldg2rooms@contoso.com"]
    assert graph.get("/places/microsoft.graph.roomList").json()["value"] == lists["value"], "case-insensitive cast"
    for room_list in state["roomLists"]:
        inside = graph.get(f"/places/{room_list['emailAddress']}/microsoft.graph.roomlist/rooms")
        assert inside.status_code == 200
        assert [r["emailAddress"] for r in inside.json()["value"]] == room_list["rooms"]
        assert "places('bldg" in inside.json()["@odata.context"]
    listed = {e for rl in state["roomLists"] for e in rl["rooms"]}
    assert len(listed) == 8 and {r["emailAddress"] for r in state["rooms"]} - listed == {"Ivy@contoso.com"}
    # msgraph-sdk addresses the casts through the namespace alias.
    assert graph.get("/places/graph.room").json()["value"] == body["value"]
    assert graph.get("/places/bldg2rooms@contoso.com/graph.roomList/rooms").status_code == 200


def test_room_list_rooms_need_the_email_address_not_the_id(sim: Simulator, graph: GraphTestClient) -> None:
    room_list = sim.control("places_state")["roomLists"][0]
    assert graph.get(f"/places/{room_list['id']}/microsoft.graph.roomlist/rooms").status_code == 404
    assert graph.get("/places/nobody@contoso.com/microsoft.graph.roomlist/rooms").status_code == 404


def test_query_options_page_filter_select_count(sim: Simulator, graph: GraphTestClient) -> None:
    items, _, pages = graph.follow("/places/microsoft.graph.room?$top=4")
    assert pages == 3 and [r["id"] for r in items] == [r["id"] for r in sim.control("places_state")["rooms"]]
    first = graph.get("/places/microsoft.graph.room?$top=4").json()
    assert "$skip=4" in first["@odata.nextLink"]
    in_one = graph.get("/places/microsoft.graph.room?$filter=building eq '1'&$count=true").json()
    assert in_one["@odata.count"] == len(in_one["value"]) == 4 and {r["building"] for r in in_one["value"]} == {"1"}
    picked = graph.get("/places/microsoft.graph.room?$select=displayName,capacity").json()["value"][0]
    assert set(picked) == {"id", "displayName", "capacity"}


def test_get_place_by_id_or_email_carries_its_type(sim: Simulator, graph: GraphTestClient) -> None:
    state = sim.control("places_state")
    room, room_list = state["rooms"][0], state["roomLists"][1]
    by_id = graph.get(f"/places/{room['id']}").json()
    assert by_id["@odata.type"] == "#microsoft.graph.room" and by_id["emailAddress"] == room["emailAddress"]
    assert by_id["@odata.context"].endswith("#places/$entity")
    by_email = graph.get(f"/places/{room_list['emailAddress'].upper()}").json()
    assert by_email["@odata.type"] == "#microsoft.graph.roomList" and by_email["id"] == room_list["id"]
    assert graph.get("/places/not-a-place").status_code == 404


def test_unmodelled_place_paths_answer_501(sim: Simulator, graph: GraphTestClient) -> None:
    room = sim.control("places_state")["rooms"][0]
    for method, path in [("GET", "/places/microsoft.graph.workspace"), ("GET", "/places/graph.building"),
                         ("PATCH", f"/places/{room['id']}"), ("GET", f"/places/{room['id']}/checkIns")]:
        r = graph.request(method, path, json={} if method == "PATCH" else None)
        assert r.status_code == 501 and r.json()["error"]["code"] == "NotImplementedInSimulator", (method, path)


def test_places_need_place_read_all(sim: Simulator, graph: GraphTestClient) -> None:
    sim.control("set_denied", permissions=["Place.Read.All"])
    r = graph.http.get(graph.api + "/places/microsoft.graph.room",
                       headers={"Authorization": f"Bearer {_app_token(sim, graph.http)}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "ErrorAccessDenied"
    sim.control("set_denied", permissions=[])
    read = next(row for row in sim.control("permission_table") if row["route"] == "places*" and "GET" in row["methods"])
    assert read["application"] == read["delegated"] == ["Place.Read.All"] and read["doc"] == "place-list.md"


def test_seeded_meetings_book_rooms_that_places_lists(sim: Simulator, graph: GraphTestClient) -> None:
    rooms = {r["emailAddress"] for r in sim.control("places_state")["rooms"]}
    booked = {e["location"].get("locationEmailAddress") for e in sim.control("calendar_state",
                                                                               user=graph.first_user()).values()}
    booked.discard(None)
    assert booked and booked <= rooms
