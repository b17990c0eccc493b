"""Run graphsync against a simulator and compare the warehouse with the tenant's exact state."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.settings import GraphSettings, load_settings
from connectors.simulator.server import Simulator
from models import TABLES
from pipelines.sync.tenant import SyncOptions, SyncReport, TenantSync
from warehouse import Warehouse

if TYPE_CHECKING:
    from tests.conftest import GraphTestClient


def settings_for(sim: Simulator, db: Path) -> GraphSettings:
    return load_settings({**sim.endpoints.env(), "GRAPHSYNC_DB": str(db)}, dotenv_path=None)


def run_sync(sim: Simulator, db: Path, **options: object) -> SyncReport:
    settings = settings_for(sim, db)
    sync = TenantSync(settings, Warehouse(db), SyncOptions(**options))  # type: ignore[arg-type]
    return asyncio.run(sync.run())


def warehouse_state(db: Path) -> dict[str, object]:
    wh = Warehouse(db)
    users = wh.query_df("SELECT id FROM users WHERE _deleted_at IS NULL")
    folders = wh.query_df("SELECT user_id, id, display_name FROM mail_folders WHERE _deleted_at IS NULL")
    messages = wh.query_df("SELECT user_id, id, parent_folder_id, subject, is_read FROM messages "
                           "WHERE _deleted_at IS NULL")
    return {
        "users": set(users["id"]),
        "folders": {(r.user_id, r.id, r.display_name) for r in folders.itertuples()},
        "messages": {(r.user_id, r.id, r.parent_folder_id, r.subject, bool(r.is_read)) for r in messages.itertuples()},
    }


def tenant_state(sim: Simulator) -> dict[str, object]:
    users = sim.control("user_ids")
    folders, messages = set(), set()
    for user in users:
        box = sim.control("mailbox_state", user=user)
        folders |= {(user, f["id"], f["displayName"]) for f in box["folders"].values()}
        messages |= {(user, m["id"], m["parentFolderId"], m["subject"], bool(m["isRead"]))
                     for m in box["messages"].values()}
    return {"users": set(users), "folders": folders, "messages": messages}


def duplicated_keys(db: Path) -> dict[str, int]:
    """Rows per table sharing a key with another row, tombstones included (the tables carry no
    key constraint; the writer keeps them unique)."""
    wh, found = Warehouse(db), {}
    for name, spec in TABLES.items():
        key = ", ".join(spec.key_columns)
        (extra,) = wh.query_rows(f"SELECT count(*) - count(DISTINCT ({key})) FROM {name}")[0]
        if extra:
            found[name] = extra
    return found


def assert_exact(sim: Simulator, db: Path) -> None:
    assert duplicated_keys(db) == {}
    expected, actual = tenant_state(sim), warehouse_state(db)
    for part in ("users", "folders", "messages"):
        missing = expected[part] - actual[part]  # type: ignore[operator]
        extra = actual[part] - expected[part]  # type: ignore[operator]
        assert not missing and not extra, f"{part}: {len(missing)} missing e.g. {sorted(missing)[:2]}, " \
                                          f"{len(extra)} extra e.g. {sorted(extra)[:2]}"


# -- delegated sign-in -------------------------------------------------------------------------------

GRAPHSYNC = [sys.executable, "-m", "pipelines.cli"]


def delegated_env(sim: Simulator, cache: Path) -> dict[str, str]:
    """The environment of a delegated install: the simulator's settings without the client secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPH_", "GRAPHSYNC_"))}
    env.update(sim.endpoints.env())
    env.pop("GRAPH_CLIENT_SECRET", None)  # delegated sign-in is a public client: no secret
    env["GRAPH_AUTH"] = "delegated"
    env["GRAPHSYNC_TOKEN_CACHE"] = str(cache)
    return env


def upns(sim: Simulator) -> list[str]:
    users = sim.control("users_state")
    return [users[u]["userPrincipalName"] for u in sorted(users)]


def login(sim: Simulator, cache: Path, upn: str, *options: str) -> subprocess.CompletedProcess:
    """`graphsync login --user UPN [OPTIONS]`, approving its code in the simulator as that person would."""
    proc = subprocess.Popen(GRAPHSYNC + ["login", "--user", upn, *options], env=delegated_env(sim, cache), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    instruction = proc.stdout.readline()
    code = re.search(r"enter the code (\w+)", instruction)
    assert code, instruction
    assert sim.control("approve_device_code", user_code=code.group(1), user=upn)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, instruction + out, err)


def drive_permissions_in_tenant(graph: GraphTestClient, sim: Simulator) -> set[tuple[str, str, str]]:
    """(drive, item, permission) for every item of every user's drive, as Graph lists them."""
    found = set()
    for user in sim.control("user_ids"):
        state = sim.control("drive_state", user=user)
        drive = state["drive"]["id"]
        for item in state["items"]:
            for permission in graph.follow(f"/drives/{drive}/items/{item}/permissions")[0]:
                found.add((drive, item, permission["id"]))
    return found


def drive_permissions_stored(db: Path) -> set[tuple[str, str, str]]:
    return set(Warehouse(db).query_rows(
        "SELECT drive_id, item_id, id FROM drive_item_permissions WHERE _deleted_at IS NULL"))


def assert_events_exact(sim: Simulator, db: Path) -> None:
    """Each mailbox's live events equal what its calendar view shows over the sync's window (the
    occurrences), plus the series those occurrences belong to."""
    from pipelines.sync.streams import EVENTS
    from tests.conftest import GraphTestClient

    graph = GraphTestClient(sim)
    for user in sim.control("user_ids"):
        window = EVENTS.first_url({"user_id": user}).split("?", 1)[1]
        view = graph.follow(f"/users/{user}/calendarView?{window}&$top=50",
                            headers={"Prefer": 'IdType="ImmutableId"'})[0]
        stored = Warehouse(db).query_rows(
            "SELECT id, type = 'seriesMaster' FROM events WHERE user_id = ? AND _deleted_at IS NULL", [user])
        assert {i for i, master in stored if not master} == {item["id"] for item in view}, user
        assert {i for i, master in stored if master} == {item["seriesMasterId"] for item in view
                                                         if item.get("seriesMasterId")}, user
