"""Real Dagster runs of the assets against the simulator and a real DuckDB file."""

from __future__ import annotations

import re
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
from pipelines.resources import GraphResource, WarehouseResource, graph_from_environment, warehouse_from_environment
from tests.integration.helpers import assert_exact, login, run_sync
from tests.integration.test_sync_delegated import assert_same_as_app_only
from tests.integration.test_sync_teams import assert_teams_exact
from warehouse import Warehouse


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
        # Each partition carries its own mailbox's numbers, not the batch's.
        messages = _by_partition(result, "messages")
        assert sorted(messages) == sorted(keys)
        for user in keys:
            own = len(sim.control("mailbox_state", user=user)["messages"])
            assert messages[user]["dagster/row_count"] == messages[user]["items_upserted"] == own
            assert messages[user]["graph_requests"] >= 1 and "run_http_requests" not in messages[user]
        assert {m["dagster/row_count"] for m in _by_partition(result, "mail_folders").values()} == {10}
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks == {"messages_have_unique_keys": True, "live_messages_have_live_folders": True}

        result = dg.materialize([events, drive_items, events_have_unique_keys, drive_items_have_unique_keys],
                                instance=instance, resources=resources, tags=tags)
        assert result.success
        for user in keys:
            assert _by_partition(result, "events")[user]["dagster/row_count"] > 6
            assert _by_partition(result, "drive_items")[user]["dagster/row_count"] >= 5
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
        # A chat's messages count for each member's partition: the rows of the chats it lists.
        chat_messages = _by_partition(result, "chat_messages")
        for user in keys:
            (own,) = Warehouse(db).query_rows(
                "SELECT count(*) FROM chat_messages m JOIN chats c ON c.id = m.chat_id "
                "WHERE c.user_id = ? AND c._deleted_at IS NULL AND m._deleted_at IS NULL", [user])[0]
            assert chat_messages[user]["dagster/row_count"] == own > 0
    assert_exact(sim, db)
    assert_teams_exact(sim, db)


def _by_partition(result: dg.ExecuteInProcessResult, table: str) -> dict[str | None, dict[str, object]]:
    """The run's materializations of one table: partition -> metadata values."""
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
        if materialization.asset_key == dg.AssetKey(table):
            found[materialization.partition] = {k: v.value for k, v in materialization.metadata.items()}
    return found


def _statuses(instance: dg.DagsterInstance, table: str, keys: list[str]) -> dict[str, str | None]:
    status = instance.get_status_by_partition(dg.AssetKey(table), keys, mailboxes)
    assert status is not None
    return {key: value.value if value else None for key, value in status.items()}


def test_a_failing_mailbox_fails_only_its_partition(sim: Simulator, tmp_path: Path, monkeypatch) -> None:
    """A batch of three mailboxes, one of which Graph refuses (403, which is not retried): the other two
    materialize, each with its own counts; the refused one is failed in Dagster and materializes on
    its own once Graph answers again."""
    monkeypatch.setenv("GRAPH_CLIENT_SECRET", sim.endpoints.client_secret)
    db = tmp_path / "wh.duckdb"
    resources = _resources(sim, db)
    with dg.instance_for_test() as instance:
        assert dg.materialize([users], instance=instance, resources=resources).success
        keys = sorted(sim.control("user_ids"))
        instance.add_dynamic_partitions(mailboxes.name, keys)
        (batch,) = mailboxes_hourly(dg.build_schedule_context(instance=instance))
        assert dg.materialize([mail], instance=instance, resources=resources, tags=batch.tags).success

        # Different changes per mailbox, so each partition's numbers are its own.
        first, refused, last = keys
        for n in range(2):
            sim.control("create_message", user=first, folder="inbox", fields={"subject": f"new {n}"})
        gone = next(iter(sim.control("mailbox_state", user=last)["messages"]))
        sim.control("delete_message", user=last, message_id=gone)
        sim.control("set_faults", rules=[{"status": 403, "mailbox": refused, "path": "/messages/delta"}])
        result = dg.materialize([mail, messages_have_unique_keys], instance=instance, resources=resources,
                                tags=batch.tags, raise_on_error=False)
        assert not result.success

        messages = _by_partition(result, "messages")
        assert sorted(messages, key=str) == [first, last], "the refused mailbox's messages are not materialized"
        assert (messages[first]["items_upserted"], messages[first]["items_removed"]) == (2, 0)
        assert (messages[last]["items_upserted"], messages[last]["items_removed"]) == (0, 1)
        for user in (first, last):
            assert messages[user]["dagster/row_count"] == len(sim.control("mailbox_state", user=user)["messages"])
        # Its folders were read: they materialize, with its own (unchanged) numbers.
        folders = _by_partition(result, "mail_folders")
        assert sorted(folders) == keys and folders[refused]["items_upserted"] == 0

        (failure,) = result.get_step_failure_events()
        data = failure.step_failure_data.user_failure_data
        assert data is not None and refused in (data.description or "") and first not in (data.description or "")
        assert set(data.metadata) == {refused} and "missing Mail.Read" in str(data.metadata[refused].value)
        assert _statuses(instance, "messages", keys) == {first: "MATERIALIZED", refused: "FAILED",
                                                         last: "MATERIALIZED"}
        assert set(_statuses(instance, "mail_folders", keys).values()) == {"MATERIALIZED"}

        # Graph answers again: retrying only the failed partition completes it.
        sim.control("set_faults", rules=[])
        retry = dg.materialize([mail], instance=instance, resources=resources, partition_key=refused)
        assert retry.success
        assert _by_partition(retry, "messages")[refused]["dagster/row_count"] == len(
            sim.control("mailbox_state", user=refused)["messages"])
        assert set(_statuses(instance, "messages", keys).values()) == {"MATERIALIZED"}
    assert_exact(sim, db)


def test_an_unreadable_chat_fails_chat_messages_of_its_members_only(sim: Simulator, tmp_path: Path,
                                                                    monkeypatch) -> None:
    """A chat is read once for all its members: when Graph refuses its messages, `chat_messages` fails
    for the partitions of the mailboxes in that chat, and nothing else does."""
    monkeypatch.setenv("GRAPH_CLIENT_SECRET", sim.endpoints.client_secret)
    db = tmp_path / "wh.duckdb"
    resources = _resources(sim, db)
    keys = sorted(sim.control("user_ids"))
    chats_of = {user: set(sim.control("chats_state", user=user)) for user in keys}
    refused = next(c for c in sorted(chats_of[keys[0]]) if sum(c in chats for chats in chats_of.values()) == 2)
    members = {user for user in keys if refused in chats_of[user]}
    with dg.instance_for_test() as instance:
        assert dg.materialize([users], instance=instance, resources=resources).success
        instance.add_dynamic_partitions(mailboxes.name, keys)
        (batch,) = mailboxes_hourly(dg.build_schedule_context(instance=instance))
        sim.control("set_faults", rules=[{"status": 403, "path": re.escape(f"/chats/{refused}/messages")}])
        result = dg.materialize([chats], instance=instance, resources=resources, tags=batch.tags, raise_on_error=False)
        assert not result.success
        assert _statuses(instance, "chat_messages", keys) == {
            user: "FAILED" if user in members else "MATERIALIZED" for user in keys}
        for table in ("chats", "chat_members"):
            assert set(_statuses(instance, table, keys).values()) == {"MATERIALIZED"}
        (failure,) = result.get_step_failure_events()
        data = failure.step_failure_data.user_failure_data
        assert data is not None and set(data.metadata) == members
        assert all(f"chat {refused}" in str(value.value) for value in data.metadata.values())


def test_readme_names_the_real_jobs_schedules_and_sensors() -> None:
    text = (Path(__file__).parents[2] / "README.md").read_text()
    section = text.split("\n## Dagster\n", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z_0-9]+)`", section))
    automation = {d.name for d in (*defs.schedules, *defs.sensors)}  # type: ignore[union-attr]
    jobs = {job.name for job in defs.jobs}  # type: ignore[union-attr]
    assert automation | jobs <= named, f"not in the README: {sorted((automation | jobs) - named)}"
    looks_like_automation = {n for n in named if n.startswith("sync_") or n.endswith(("_hourly", "_daily"))}
    unknown = looks_like_automation - automation - jobs
    assert not unknown, f"the README names jobs or schedules that do not exist: {sorted(unknown)}"


def test_the_mailbox_sensor_starts_on_and_settings_are_env_vars(monkeypatch) -> None:
    assert mailbox_partitions.default_status is dg.DefaultSensorStatus.RUNNING
    for variable in ("GRAPH_TENANT_ID", "GRAPH_CLIENT_ID", "GRAPH_CLIENT_SECRET", "GRAPHSYNC_DB"):
        monkeypatch.setenv(variable, "set")
    graph, warehouse = graph_from_environment(), warehouse_from_environment()
    for value in (graph.auth, graph.tenant_id, graph.client_id, graph.client_secret, warehouse.path):
        assert isinstance(value, dg.EnvVar)
    monkeypatch.delenv("GRAPH_CLIENT_SECRET")  # delegated: no secret, and an unset EnvVar would fail runs
    assert graph_from_environment().client_secret is None


def test_the_secret_given_as_an_env_var_stays_out_of_dagster(sim: Simulator, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRAPH_CLIENT_SECRET", sim.endpoints.client_secret)
    monkeypatch.setenv("GRAPHSYNC_PROGRESS_SECONDS", "0.05")  # progress lines in the run log too
    sim.control("set_throttle", latency_s=0.2)
    resources = _resources(sim, tmp_path / "wh.duckdb", client_secret=dg.EnvVar("GRAPH_CLIENT_SECRET"))
    with dg.instance_for_test() as instance:
        result = dg.materialize([users], instance=instance, resources=resources)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        stored = "\n".join([str(run and run.run_config), *(str(r) for r in instance.all_logs(result.run_id))])
    assert sim.endpoints.client_secret not in stored
    assert "progress: " in stored and "users" in stored, "the sync's progress reaches the run log"


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
