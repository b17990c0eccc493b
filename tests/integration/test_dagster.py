"""Real Dagster runs of the assets against the simulator and a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from connectors.simulator.server import Simulator
from pipelines.definitions import defs
from pipelines.defs.calendar.assets import events, events_have_unique_keys
from pipelines.defs.directory.assets import users, users_have_unique_ids
from pipelines.defs.files.assets import drive_items, drive_items_have_unique_keys
from pipelines.defs.mail.assets import live_messages_have_live_folders, mail, messages_have_unique_keys
from pipelines.defs.mail.automation import batched_run_requests, mailbox_partitions, mailboxes_hourly
from pipelines.defs.teams.assets import (
    CHAT_TABLES,
    TEAM_TABLES,
    channel_messages_have_unique_keys,
    chat_messages_have_unique_keys,
    chats,
    teams,
)
from pipelines.partitions import mailboxes
from pipelines.resources import GraphResource, WarehouseResource
from tests.integration.helpers import assert_exact, login, run_sync
from tests.integration.test_sync_delegated import assert_same_as_app_only
from tests.integration.test_sync_teams import assert_teams_exact


def _resources(sim: Simulator, db: Path, **graph_settings: str) -> dict[str, object]:
    ep = sim.endpoints
    graph = GraphResource(tenant_id=ep.tenant_id, client_id=ep.client_id, token_url=ep.token_url, api_url=ep.api_url,
                          ca_bundle=str(ep.ca_path), env_file="/nonexistent", **graph_settings)
    return {"graph": graph, "warehouse": WarehouseResource(path=str(db))}


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)


def test_users_then_mailbox_partitions_then_batched_mail_run(sim: Simulator, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRAPH_CLIENT_SECRET", sim.endpoints.client_secret)
    db = tmp_path / "wh.duckdb"
    resources = _resources(sim, db)
    with dg.instance_for_test() as instance:
        result = dg.materialize([users, users_have_unique_ids], instance=instance, resources=resources)
        assert result.success
        meta = result.asset_materializations_for_node("users")[0].metadata
        assert meta["dagster/row_count"].value == 3 and meta["rows_upserted"].value == 3
        assert meta["graph_requests"].value >= 1

        sensor_result = mailbox_partitions(dg.build_sensor_context(instance=instance, resources=resources))
        assert sensor_result.dynamic_partitions_requests
        instance.add_dynamic_partitions(mailboxes.name, sensor_result.dynamic_partitions_requests[0].partition_keys)
        keys = instance.get_dynamic_partitions(mailboxes.name)
        assert sorted(keys) == sorted(sim.control("user_ids"))

        requests = mailboxes_hourly(dg.build_schedule_context(instance=instance))
        assert len(requests) == 1, "three mailboxes fit in one batched run"
        tags = requests[0].tags
        result = dg.materialize([mail, messages_have_unique_keys, live_messages_have_live_folders],
                                instance=instance, resources=resources, tags=tags)
        assert result.success
        materialized = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
        by_asset = {m.asset_key.path[-1]: m.metadata for m in materialized}
        assert by_asset["messages"]["rows_upserted"].value == 60
        assert by_asset["mail_folders"]["dagster/row_count"].value == 30
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks == {"messages_have_unique_keys": True, "live_messages_have_live_folders": True}

        result = dg.materialize([events, drive_items, events_have_unique_keys, drive_items_have_unique_keys],
                                instance=instance, resources=resources, tags=tags)
        assert result.success
        materialized = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
        rows = {m.asset_key.path[-1]: m.metadata["dagster/row_count"].value for m in materialized}
        assert rows["events"] > 3 * 6 and rows["drive_items"] >= 3 * 5
        assert all(c.passed for c in result.get_asset_check_evaluations())

        # Teams: chats per mailbox partition, then teams and channels tenant-wide.
        result = dg.materialize([chats, teams, chat_messages_have_unique_keys, channel_messages_have_unique_keys],
                                instance=instance, resources=resources, tags=tags)
        assert result.success
        materialized = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
        rows = {m.asset_key.path[-1]: m.metadata["dagster/row_count"].value for m in materialized}
        assert set(rows) == {*CHAT_TABLES, *TEAM_TABLES}
        assert rows["chats"] > 0 and rows["chat_messages"] > 0 and rows["channel_messages"] > 0
        assert all(c.passed for c in result.get_asset_check_evaluations())
    assert_exact(sim, db)
    assert_teams_exact(sim, db)


def test_batches_split_many_mailboxes() -> None:
    requests = batched_run_requests([f"u{i:03d}" for i in range(60)], batch_size=25)
    assert [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
            for r in requests] == [("u000", "u024"), ("u025", "u049"), ("u050", "u059")]


def test_delegated_assets_are_partitioned_by_signed_in_account(sim: Simulator, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GRAPH_CLIENT_SECRET", raising=False)
    cache, db, app_db = tmp_path / "cache.json", tmp_path / "wh.duckdb", tmp_path / "app.duckdb"
    users_state = sim.control("users_state")
    people = sorted(users_state)[:2]
    for user_id in people:
        assert login(sim, cache, users_state[user_id]["userPrincipalName"]).returncode == 0
    resources = _resources(sim, db, auth="delegated", token_cache=str(cache))
    with dg.instance_for_test() as instance:
        sensor_result = mailbox_partitions(dg.build_sensor_context(instance=instance, resources=resources))
        keys = sensor_result.dynamic_partitions_requests[0].partition_keys
        assert sorted(keys) == people, "one partition per signed-in account"
        instance.add_dynamic_partitions(mailboxes.name, keys)
        tags = mailboxes_hourly(dg.build_schedule_context(instance=instance))[0].tags
        assert dg.materialize([users], instance=instance, resources=resources).success
        result = dg.materialize([mail, events], instance=instance, resources=resources, tags=tags)
        assert result.success
    run_sync(sim, app_db, tables=("users", "mail_folders", "messages", "events"))
    assert_same_as_app_only(app_db, db, people, ("users", "mail_folders", "messages", "events"))


def test_the_writeback_job_replays_pending_actions_when_the_sensor_sees_them(sim: Simulator, tmp_path: Path,
                                                                            monkeypatch) -> None:
    import json

    from pipelines.defs.writeback.jobs import pending_actions, writeback
    from pipelines.writeback.commands import enqueue_text
    from tests.integration.helpers import settings_for
    from warehouse.queue import ActionQueue, queue_path

    monkeypatch.setenv("GRAPH_CLIENT_SECRET", sim.endpoints.client_secret)
    db = tmp_path / "wh.duckdb"
    resources = _resources(sim, db)
    with dg.instance_for_test() as instance:
        idle = pending_actions(dg.build_sensor_context(instance=instance, resources=resources))
        assert not idle.run_requests
        user = sim.control("users_state")[sim.control("user_ids")[0]]["userPrincipalName"]
        line = json.dumps({"op": "POST /me/mailFolders", "user": user, "key": "f1", "body": {"displayName": "Dagster"}})
        enqueue_text(settings_for(sim, db), ActionQueue(queue_path(db)), line, "test", tmp_path)
        woken = pending_actions(dg.build_sensor_context(instance=instance, resources=resources))
        assert len(woken.run_requests) == 1
        result = writeback.execute_in_process(instance=instance, resources=resources)
        assert result.success
    folders = sim.control("mailbox_state", user=user)["folders"].values()
    assert [f["displayName"] for f in folders].count("Dagster") == 1
    assert ActionQueue(queue_path(db)).counts()["succeeded"] == 1
