"""The simulator must satisfy Microsoft's own SDK, not only graphsync's client."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient

SDK_PYTHON = os.environ.get("GRAPHSYNC_SDK_PYTHON", str(Path(".venv-sdk/bin/python").absolute()))
SCRIPT = Path(__file__).parent.parent / "sdk" / "sdk_client.py"

pytestmark = pytest.mark.skipif(not Path(SDK_PYTHON).exists(),
                                reason="msgraph-sdk venv missing: run `make sdk-venv` (make test does it)")


def test_msgraph_sdk_pages_parses_and_writes(sim: Simulator, graph: GraphTestClient) -> None:
    users = graph.get("/users").json()["value"]
    env = {**os.environ, **sim.endpoints.env(), "SDK_RECIPIENT": users[1]["userPrincipalName"]}
    env.pop("REQUESTS_CA_BUNDLE", None)
    run = subprocess.run([SDK_PYTHON, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])

    assert seen["user_ids"] == [u["id"] for u in users]
    state = sim.control("mailbox_state", user=users[0]["id"])
    assert seen["delta_pages"] > 1
    inbox = sim.control("folder_id", user=users[0]["id"], folder="inbox")
    # The SDK sends no IdType preference, so it sees REST ids, not the state's immutable ones: compare counts.
    assert len(seen["delta_ids"]) == sum(1 for m in state["messages"].values() if m["parentFolderId"] == inbox)
    assert seen["parsed_subject"]
    assert seen["draft"]["is_draft"] is True and seen["draft"]["subject"] == "SDK draft"
    assert seen["patched_subject"] == "SDK draft v2"
    assert seen["moved_parent"] == sim.control("folder_id", user=users[0]["id"], folder="archive")
    assert seen["error_code"] == "ErrorItemNotFound" and seen["error_status"] == 404
    assert "SDK meeting" in seen["calendar_subjects"] and len(seen["calendar_subjects"]) > 3
    assert "Documents" in seen["drive_folders"]
    assert seen["download"]["bytes"] == seen["download"]["size"] > 0
    assert len(seen["teams"]) == 2
    assert seen["teams_settings"] == [False, False], "List teams returns only id, displayName, description"
    chats = sim.control("chats_state", user=users[0]["id"])
    assert seen["chat_ids"] == sorted(chats)
    assert "meeting" in seen["chat_types"]
    first = chats[seen["chat_id"]]
    assert seen["chat_message_ids"] == sorted(first["messages"])
    assert seen["chat_member_user_ids"] == sorted(m["userId"] for m in first["members"])
    channels = sim.control("teams_state")[seen["team_id"]]["channels"]
    assert seen["channel_names"] == sorted(c["channel"]["displayName"] for c in channels.values())
    assert seen["channel_delta_pages"] > 1 and "$deltatoken=" in seen["channel_delta_link"]
    assert seen["channel_delta_ids"] == sorted(channels[seen["general_id"]]["messages"])
    delivered = sim.control("mailbox_state", user=users[1]["id"])["messages"].values()
    assert any(m["subject"] == "SDK sendMail" for m in delivered)
    statuses = {(e["method"], e["path"].rsplit("/", 1)[-1], e["status"]) for e in sim.control("journal")}
    assert ("POST", "sendMail", 202) in statuses and ("POST", "move", 201) in statuses


def test_msgraph_sdk_reads_me_with_a_delegated_device_code_token(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.get("/users").json()["value"][0]
    env = {**os.environ, **sim.endpoints.env(), "SDK_DELEGATED_USER": user["userPrincipalName"]}
    env.pop("REQUESTS_CA_BUNDLE", None)
    mark = sim.control("journal_mark")
    run = subprocess.run([SDK_PYTHON, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["me_id"] == user["id"] and seen["me_upn"] == user["userPrincipalName"]
    state = sim.control("mailbox_state", user=user["id"])
    assert len(seen["me_message_ids"]) == len(state["messages"]) > 0
    grants = [e["grant_type"] for e in sim.control("token_grants", since=mark)]
    assert grants[0] == "device_authorization" and grants[-1] == "urn:ietf:params:oauth:grant-type:device_code"
    paths = {e["path"] for e in sim.control("journal", since=mark)}
    assert f"/users/{user['id']}" in paths and f"/users/{user['id']}/messages" in paths
