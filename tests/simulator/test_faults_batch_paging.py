"""Throttling, injected faults, $batch, If-Match, paging limits and the journal."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient


def test_injected_429_carries_fractional_retry_after(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    sim.control("set_faults", rules=[{"status": 429, "path": "/messages", "after": 1, "times": 2,
                                      "retry_after": 2.128}])
    path = f"/users/{user}/messages?$top=1"
    statuses = [graph.get(path) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 429, 429, 200]
    throttled = statuses[1]
    assert throttled.headers["retry-after"] == "2.128"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert throttled.json()["error"]["innerError"]["code"] == "429"


@pytest.mark.parametrize("status", [503, 504])
def test_injected_service_errors(sim: Simulator, graph: GraphTestClient, status: int) -> None:
    sim.control("set_faults", rules=[{"status": status, "path": "^/users$", "times": 1, "retry_after": None}])
    assert graph.get("/users").status_code == status
    assert graph.get("/users").status_code == 200


def test_dropped_connection(sim: Simulator, graph: GraphTestClient) -> None:
    sim.control("set_faults", rules=[{"status": 0, "path": "^/users$", "times": 1}])
    with pytest.raises(httpx.RemoteProtocolError):
        graph.get("/users")
    assert graph.get("/users").status_code == 200


def test_seeded_probability_is_deterministic(tmp_path) -> None:
    from tests.conftest import start_simulator

    outcomes = []
    for run in range(2):
        simulator = start_simulator(tmp_path / f"s{run}")
        try:
            client = GraphTestClient(simulator)
            simulator.control("set_faults", rules=[{"status": 503, "path": "^/users$", "probability": 0.5}])
            outcomes.append([client.get("/users").status_code for _ in range(12)])
        finally:
            simulator.stop()
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {200, 503}


def test_mailbox_concurrency_limit_is_four(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    sim.control("set_throttle", latency_s=1.0)  # wide enough that all 8 overlap even on a loaded machine

    async def burst() -> list[int]:
        async with httpx.AsyncClient(verify=str(sim.endpoints.ca_path), timeout=30) as client:
            headers = {"Authorization": f"Bearer {graph.token}"}
            url = f"{graph.api}/users/{user}/mailFolders"
            responses = await asyncio.gather(*(client.get(url, headers=headers) for _ in range(8)))
            return [r.status_code for r in responses]

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 4 and statuses.count(429) == 4
    directory = [graph.get("/users").status_code for _ in range(2)]
    assert directory == [200, 200], "the mailbox limits do not apply to directory calls"


def test_mailbox_request_budget(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    sim.control("set_throttle", mailbox_budget=3, budget_window_s=600)
    statuses = [graph.get(f"/users/{user}/mailFolders").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    other = graph.get("/users").json()["value"][1]["id"]
    assert graph.get(f"/users/{other}/mailFolders").status_code == 200, "budgets are per mailbox"


def test_batch_dependencies_and_per_item_throttling(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    sim.control("set_faults", rules=[{"status": 429, "path": "/mailFolders/archive$", "retry_after": 7}])
    batch = {"requests": [
        {"id": "1", "method": "GET", "url": f"/users/{user}/mailFolders/inbox"},
        {"id": "2", "method": "GET", "url": f"/users/{user}/mailFolders/archive"},
        {"id": "3", "dependsOn": ["2"], "method": "GET", "url": f"/users/{user}/mailFolders/drafts"},
        {"id": "4", "method": "POST", "url": f"/users/{user}/messages", "headers": {"Content-Type": "application/json"},
         "body": {"subject": "from batch"}},
        {"id": "5", "method": "GET", "url": "/users/nobody@nowhere.test"},
    ]}
    r = graph.post("/$batch", json=batch)
    assert r.status_code == 200
    by_id = {item["id"]: item for item in r.json()["responses"]}
    assert by_id["1"]["status"] == 200 and by_id["1"]["body"]["displayName"] == "Inbox"
    assert by_id["2"]["status"] == 429 and by_id["2"]["headers"]["retry-after"] == "7"
    assert by_id["3"]["status"] == 424
    assert by_id["4"]["status"] == 201 and by_id["4"]["body"]["isDraft"] is True
    assert by_id["5"]["status"] == 404
    journal = [e for e in sim.control("journal") if e["in_batch"]]
    assert len(journal) == 4, "each inner request is journalled (the 424 one never ran)"


def test_batch_limits(graph: GraphTestClient) -> None:
    too_many = {"requests": [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]}
    assert graph.post("/$batch", json=too_many).status_code == 400
    duplicate = {"requests": [{"id": "a", "method": "GET", "url": "/users"}, {"id": "A", "method": "GET",
                                                                           "url": "/users"}]}
    assert graph.post("/$batch", json=duplicate).status_code == 400


def test_if_match_conflict_is_412(graph: GraphTestClient) -> None:
    user = graph.first_user()
    message = graph.get(f"/users/{user}/messages?$top=1").json()["value"][0]
    path = f"/users/{user}/messages/{message['id']}"
    ok = graph.patch(path, json={"isRead": True}, headers={"If-Match": message["@odata.etag"]})
    assert ok.status_code == 200 and ok.json()["@odata.etag"] != message["@odata.etag"]
    stale = graph.patch(path, json={"isRead": False}, headers={"If-Match": message["@odata.etag"]})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "ErrorIrresolvableConflict"


def test_paging_limits(graph: GraphTestClient) -> None:
    r = graph.get("/users?$top=1000")
    assert r.status_code == 400 and "between 1 and 999" in r.json()["error"]["message"]
    page = graph.get("/users?$top=2").json()
    assert len(page["value"]) == 2 and "$top=2" in page["@odata.nextLink"]
    rest = graph.get(page["@odata.nextLink"]).json()
    assert len(rest["value"]) == 1 and "@odata.nextLink" not in rest
    user = page["value"][0]["id"]
    default = graph.get(f"/users/{user}/messages").json()
    assert len(default["value"]) == 10, "Outlook lists default to 10 items"
    preferred = graph.get(f"/users/{user}/mailFolders/inbox/messages", headers={"Prefer": "odata.maxpagesize=4"})
    assert len(preferred.json()["value"]) == 4


def test_unknown_segment_and_wrong_method(graph: GraphTestClient) -> None:
    assert graph.get("/nonsense").status_code == 400
    assert graph.request("PUT", "/users").status_code == 405


def test_journal_records_exactly_what_was_sent(sim: Simulator, graph: GraphTestClient) -> None:
    mark = sim.control("journal_mark")
    graph.get("/users?$top=1", headers={"Prefer": "odata.maxpagesize=5", "client-request-id": "abc"})
    entries = sim.control("journal", since=mark)
    assert len(entries) == 1
    entry = entries[0]
    assert (entry["method"], entry["path"], entry["query"], entry["status"]) == ("GET", "/users", "$top=1", 200)
    assert entry["headers"]["prefer"] == "odata.maxpagesize=5"
    assert entry["headers"]["client-request-id"] == "abc"


def test_control_surface_over_http(sim: Simulator, graph: GraphTestClient) -> None:
    graph.get("/users")
    r = graph.http.post(f"{sim.endpoints.origin}/_sim/control/info", json={})
    assert r.status_code == 200 and r.json()["result"]["client_id"] == sim.endpoints.client_id
    r = graph.http.get(f"{sim.endpoints.origin}/_sim/journal?since=0")
    assert r.status_code == 200 and r.json()["value"]
