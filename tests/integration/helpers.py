"""Run graphsync against a simulator and compare the warehouse with the tenant's exact state."""

from __future__ import annotations

import asyncio
from pathlib import Path

from connectors.settings import GraphSettings, load_settings
from connectors.simulator.server import Simulator
from models import TABLES
from pipelines.sync.tenant import SyncOptions, SyncReport, TenantSync
from warehouse import Warehouse


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
