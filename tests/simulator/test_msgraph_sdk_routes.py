"""Microsoft's own SDK (msgraph-sdk) on the routes issue 14 added: it builds its own URLs (graph.room,
items/{id}/delta(), search(q=''), calendar/events/{id}/instances) and parses the derived types, so it
checks the simulator against what real clients send."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient, start_simulator

SDK_PYTHON = os.environ.get("GRAPHSYNC_SDK_PYTHON", str(Path(".venv-sdk/bin/python").absolute()))
SCRIPT = Path(__file__).parent / "sdk_issue14.py"

pytestmark = pytest.mark.skipif(not Path(SDK_PYTHON).exists(),
                                reason="msgraph-sdk venv missing: run `make sdk-venv` (make test does it)")


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    simulator = start_simulator(tmp_path / "sim", now=datetime(2026, 11, 1, 9, tzinfo=UTC))
    yield simulator
    simulator.stop()


def test_msgraph_sdk_reads_the_new_routes(sim: Simulator, graph: GraphTestClient) -> None:
    large = next(a for a in sim.control("large_attachments") if a["kind"] == "message")
    user = large["user"]
    view = graph.get(f"/users/{user}/calendarView?startDateTime=2026-10-02T00:00:00Z"
                     "&endDateTime=2026-12-01T00:00:00Z&$top=200").json()["value"]
    master = next(o["seriesMasterId"] for o in view if o["type"] == "occurrence")
    env = {**os.environ, **sim.endpoints.env(), "SDK_USER": user, "SDK_MASTER_EVENT": master,
           "SDK_ATTACHMENT_MESSAGE": large["itemId"]}
    env.pop("REQUESTS_CA_BUNDLE", None)
    run = subprocess.run([SDK_PYTHON, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])

    places = sim.control("places_state")
    assert seen["room_emails"] == [r["emailAddress"] for r in places["rooms"]]
    assert all(isinstance(c, int) for c in seen["room_capacities"])
    assert seen["room_list_emails"] == [rl["emailAddress"] for rl in places["roomLists"]]
    assert seen["rooms_in_first_list"] == places["roomLists"][0]["rooms"]

    assert seen["drive_delta_ids"] == sorted(sim.control("drive_state", user=user)["items"])
    assert "/items/" in seen["drive_delta_link"] and "token=" in seen["drive_delta_link"]
    assert seen["search_names"] and all("budget" in n.lower() for n in seen["search_names"])

    expected = [o["id"] for o in sorted((o for o in view if o.get("seriesMasterId") == master),
                                        key=lambda o: o["start"]["dateTime"])]
    assert [i["id"] for i in seen["instances"]] == expected
    assert {i["seriesMasterId"] for i in seen["instances"]} == {master}
    assert {i["type"] for i in seen["instances"]} <= {"occurrence", "exception"}
    assert seen["view_zones"] == ["Pacific Standard Time"] and seen["view_count"] == len(view)

    assert seen["attachment_types"] == ["FileAttachment", "FileAttachment", "ItemAttachment", "ReferenceAttachment"]
    assert seen["large_sha256"] == large["sha256"] and seen["large_size"] == large["size"]
    assert "/_upload/attachments/" in seen["upload_url"] and seen["upload_next"] == ["0-"]
