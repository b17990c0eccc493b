"""Delegated sync: two people sign in (device code, real MSAL) and `graphsync sync` reads their own data.

The oracle is an app-only sync of the same tenant (itself checked exact against the simulator by the
other tests), restricted to what the two people can see: their profiles, mail, calendars, drives and
chats, and the teams either of them joined. Every live row of every table must match, column for
column, and the delegated warehouse must hold nothing else.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from connectors.simulator.server import Simulator
from models import TABLES
from pipelines.sync.tenant import ALL_TABLES, DEFAULT_TABLES
from tests.integration.helpers import GRAPHSYNC, delegated_env, login, run_sync
from warehouse import Warehouse

# What two people see of a tenant, table by table: a WHERE clause over the app-only warehouse,
# with {people} the quoted user ids.
VISIBLE = {
    "users": "id IN ({people})",
    "mail_folders": "user_id IN ({people})",
    "messages": "user_id IN ({people})",
    "events": "user_id IN ({people})",
    "calendars": "user_id IN ({people})",
    "calendar_groups": "user_id IN ({people})",
    "calendar_permissions": "user_id IN ({people})",
    "categories": "user_id IN ({people})",
    "event_attachments": "user_id IN ({people})",
    "message_attachments": "user_id IN ({people})",
    "rooms": "TRUE",  # the tenant's, seen by anyone
    "room_lists": "TRUE",
    "drives": "owner_user_id IN ({people})",
    "drive_items": "drive_id IN (SELECT id FROM drives WHERE owner_user_id IN ({people}))",
    "drive_item_permissions": "drive_id IN (SELECT id FROM drives WHERE owner_user_id IN ({people}))",
    "chats": "user_id IN ({people})",
    "chat_members": "chat_id IN (SELECT id FROM chats WHERE user_id IN ({people}) AND _deleted_at IS NULL)",
    "chat_messages": "chat_id IN (SELECT id FROM chats WHERE user_id IN ({people}) AND _deleted_at IS NULL)",
    "teams": "id IN ({joined})",
    "team_members": "team_id IN ({joined})",
    "channels": "team_id IN ({joined})",
    "channel_members": "team_id IN ({joined})",
    "channel_messages": "team_id IN ({joined})",
}
JOINED = "SELECT team_id FROM team_members WHERE user_id IN ({people}) AND _deleted_at IS NULL"


def _columns(table: str) -> str:
    # _raw differs by design (a chat's viewpoint is filled only for a signed-in reader).
    return ", ".join(c for c in TABLES[table].columns if not c.startswith("_"))


def _rows(db: Path, table: str, where: str = "TRUE") -> set[tuple]:
    rows = Warehouse(db).query_rows(f"SELECT {_columns(table)} FROM {table} WHERE _deleted_at IS NULL AND {where}")
    return {tuple(map(str, row)) for row in rows}


def assert_same_as_app_only(app_db: Path, delegated_db: Path, people: list[str],
                            tables: tuple[str, ...] = DEFAULT_TABLES) -> None:
    quoted = ", ".join(f"'{p}'" for p in people)
    assert set(VISIBLE) == set(ALL_TABLES), "every table of the plan has its visibility rule here"
    for table in tables:
        rule = VISIBLE[table]
        where = rule.format(people=quoted, joined=JOINED.format(people=quoted))
        expected, actual = _rows(app_db, table, where), _rows(delegated_db, table)
        assert expected, f"{table}: the tenant gives these people something to sync"
        assert actual == expected, (f"{table}: {len(expected - actual)} missing, {len(actual - expected)} extra, "
                                    f"e.g. {sorted(expected ^ actual)[:1]}")


def sync_as_signed_in(sim: Simulator, cache: Path, db: Path) -> subprocess.CompletedProcess:
    return subprocess.run(GRAPHSYNC + ["sync", "--quiet", "--db", str(db)], env=delegated_env(sim, cache),
                          capture_output=True, text=True, timeout=300)


def test_two_signed_in_people_are_synced_exactly_through_me(sim: Simulator, tmp_path: Path) -> None:
    cache, app_db, db = tmp_path / "cache.json", tmp_path / "app.duckdb", tmp_path / "delegated.duckdb"
    users = sim.control("users_state")
    ids = sorted(users)[:2]
    for user_id in ids:
        assert login(sim, cache, users[user_id]["userPrincipalName"]).returncode == 0

    since = sim.control("journal_mark")
    run = sync_as_signed_in(sim, cache, db)
    assert run.returncode == 0, run.stderr
    run_sync(sim, app_db)
    assert_same_as_app_only(app_db, db, ids)
    # Each person's own data went through /me with their own token; nobody read another's mailbox.
    calls = sim.control("journal", since=since)
    assert calls and all(c["status"] < 400 for c in calls), [c for c in calls if c["status"] >= 400][:2]

    # Changes: mail, a chat message, and a team both people leave (the third member stays in it).
    box = sim.control("mailbox_state", user=ids[0])
    sim.control("delete_message", user=ids[0], message_id=next(iter(box["messages"])))
    chat = next(iter(sim.control("chats_state", user=ids[1])))
    sim.control("post_chat_message", chat=chat, text="after the first sync", user=ids[1])
    teams = sim.control("teams_state")
    left = next(t for t, v in teams.items() if {m["userId"] for m in v["members"]} - set(ids))
    for user_id in ids:
        sim.control("remove_team_member", team=left, user=user_id)

    sim.control("expire_tokens")  # the access tokens in the cache are refused from now on
    mark = sim.control("journal_mark")
    again = sync_as_signed_in(sim, cache, db)
    assert again.returncode == 0, again.stderr
    grants = [g["grant_type"] for g in sim.control("token_grants", since=mark)]
    assert grants.count("refresh_token") >= 2 and "device_authorization" not in grants, grants
    run_sync(sim, app_db)
    assert_same_as_app_only(app_db, db, ids)
    gone = Warehouse(db).query_rows(f"SELECT _deleted_at IS NOT NULL FROM teams WHERE id = '{left}'")
    assert gone == [(True,)], "a team none of the signed-in people is in any more is tombstoned"


def test_delegated_sync_without_anyone_signed_in_says_how_to_sign_in(sim: Simulator, tmp_path: Path) -> None:
    run = sync_as_signed_in(sim, tmp_path / "cache.json", tmp_path / "wh.duckdb")
    assert run.returncode == 1
    assert run.stderr.strip().count("\n") == 0 and "graphsync login --user" in run.stderr, run.stderr


def test_a_revoked_sign_in_stops_the_sync_with_one_line_and_loses_nothing(sim: Simulator, tmp_path: Path) -> None:
    cache, db = tmp_path / "cache.json", tmp_path / "wh.duckdb"
    upn = sim.control("users_state")[sorted(sim.control("users_state"))[0]]["userPrincipalName"]
    assert login(sim, cache, upn).returncode == 0
    assert sync_as_signed_in(sim, cache, db).returncode == 0
    before = {table: _rows(db, table) for table in ALL_TABLES}

    sim.control("revoke_refresh_tokens", user=upn)
    sim.control("expire_tokens")  # the access token MSAL holds is refused: only the refresh token could help
    run = sync_as_signed_in(sim, cache, db)
    assert run.returncode == 1
    assert run.stderr.strip().count("\n") == 0, run.stderr
    assert f"graphsync login --user {upn}" in run.stderr
    assert {table: _rows(db, table) for table in ALL_TABLES} == before


def _secrets_in_cache(cache: Path) -> list[str]:
    from connectors.graph.delegated import open_token_cache

    token_cache, _ = open_token_cache(str(cache))
    kinds = (token_cache.CredentialType.ACCESS_TOKEN, token_cache.CredentialType.REFRESH_TOKEN)
    return [entry["secret"] for kind in kinds for entry in token_cache.find(kind)]


def test_no_token_or_secret_reaches_output_logs_metadata_or_the_warehouse(sim: Simulator, tmp_path: Path,
                                                                           monkeypatch) -> None:
    import dagster as dg

    from pipelines.defs.directory.assets import users
    from pipelines.resources import GraphResource, WarehouseResource

    cache, db = tmp_path / "cache.json", tmp_path / "wh.duckdb"
    upn = sim.control("users_state")[sorted(sim.control("users_state"))[0]]["userPrincipalName"]
    app_env = {**delegated_env(sim, cache), "GRAPH_CLIENT_SECRET": sim.endpoints.client_secret, "GRAPH_AUTH": "app"}
    said = [login(sim, cache, upn)]
    for env, args in ((app_env, ["sync", "--quiet"]), (app_env, ["check"]), (delegated_env(sim, cache), ["sync"]),
                      (delegated_env(sim, cache), ["check", "--json"]), (delegated_env(sim, cache), ["accounts"])):
        said.append(subprocess.run(GRAPHSYNC + [*args, *(["--db", str(db)] if args[0] == "sync" else [])],
                                   env=env, capture_output=True, text=True, timeout=300))
        assert said[-1].returncode == 0, said[-1].stderr
    ep = sim.endpoints
    monkeypatch.setenv("GRAPH_CLIENT_SECRET", ep.client_secret)
    graph = GraphResource(tenant_id=ep.tenant_id, client_id=ep.client_id, token_url=ep.token_url, api_url=ep.api_url,
                          ca_bundle=str(ep.ca_path), env_file="/nonexistent")
    with dg.instance_for_test() as instance:
        result = dg.materialize([users], instance=instance,
                                resources={"graph": graph, "warehouse": WarehouseResource(path=str(db))})
        assert result.success
        dagster_logs = "\n".join(str(record) for record in instance.all_logs(result.run_id))
    wh = Warehouse(db)
    tables = [name for (name,) in wh.query_rows("SELECT table_name FROM information_schema.tables")]
    warehouse_text = "\n".join(str(wh.query_rows(f'SELECT * FROM "{name}"')) for name in tables)

    everything = "\n".join([*(p.stdout + p.stderr for p in said), dagster_logs, warehouse_text])
    secrets = [ep.client_secret, *_secrets_in_cache(cache)]
    assert len(secrets) >= 3 and "_sync_runs" in tables
    assert not [s for s in secrets if s in everything]
    token_shape = r".{0,80}eyJ[\w-]{10,}\.[\w-]*\..{0,20}"
    assert all(re.search(token_shape, s) for s in _secrets_in_cache(cache)[:1]), "the shape finds a real token"
    jwt = re.search(token_shape, everything)
    assert jwt is None, f"no JSON web token of any kind (app-only tokens are JWTs too): {jwt and jwt.group(0)}"


def test_check_as_the_signed_in_person_names_the_delegated_permissions_withheld(sim: Simulator,
                                                                                  tmp_path: Path) -> None:
    sim.control("set_denied", permissions=["Chat.Read", "Chat.ReadWrite", "Files.Read", "Files.ReadWrite",
                                           "Files.Read.All", "Files.ReadWrite.All"])
    cache = tmp_path / "cache.json"
    upn = sim.control("users_state")[sorted(sim.control("users_state"))[0]]["userPrincipalName"]
    assert login(sim, cache, upn).returncode == 0
    run = subprocess.run(GRAPHSYNC + ["check"], env=delegated_env(sim, cache), capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1
    states = dict(line.split(None, 1) for line in run.stdout.splitlines()[1:])
    assert states["chat_messages"].startswith("missing Chat.Read "), states
    assert states["drives"].startswith("missing Files.Read "), states
    assert states["messages"] == "readable" and states["users"] == "readable" and states["teams"] == "readable"
