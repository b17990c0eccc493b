"""Teams and chats into DuckDB against the simulator: first sync, incremental changes, retirements."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.simulator.server import Simulator
from connectors.simulator.teams.channels import delta_window_start
from tests.conftest import GraphTestClient
from tests.integration.helpers import duplicated_keys, run_sync
from warehouse import Warehouse

TEAMS_TABLES = ("users", "chats", "chat_members", "chat_messages", "teams", "team_members", "channels",
                "channel_members", "channel_messages")


def _live(message: dict[str, Any]) -> bool:
    return not message.get("deletedDateTime")


def _modified(message: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(message["lastModifiedDateTime"].replace("Z", "+00:00"))


def tenant_teams(sim: Simulator) -> dict[str, set[tuple[str, ...]]]:
    """Every Teams row the warehouse should hold live, from the simulator's own state."""
    out: dict[str, set[tuple[str, ...]]] = {t: set() for t in TEAMS_TABLES[1:]}
    for team_id, team in sim.control("teams_state").items():
        out["teams"].add((team_id,))
        out["team_members"] |= {(team_id, m["id"]) for m in team["members"]}
        for channel_id, channel in team["channels"].items():
            out["channels"].add((team_id, channel_id))
            out["channel_members"] |= {(team_id, channel_id, m["id"]) for m in channel["members"]}
            for post_id, post in channel["messages"].items():
                # Channel message delta returns reply chains changed in the last eight months only
                # (chatmessage-delta.md); older ones are not synced (README: Teams).
                chain = [post, *post.get("replies", [])]
                if max(_modified(m) for m in chain) < delta_window_start():
                    continue
                if _live(post):
                    out["channel_messages"].add((team_id, channel_id, post_id))
                out["channel_messages"] |= {(team_id, channel_id, r["id"]) for r in post.get("replies", [])
                                            if _live(r)}
    for user in sim.control("user_ids"):
        for chat_id, chat in sim.control("chats_state", user=user).items():
            out["chats"].add((user, chat_id))
            out["chat_members"] |= {(chat_id, m["id"]) for m in chat["members"]}
            out["chat_messages"] |= {(chat_id, mid) for mid, m in chat["messages"].items() if _live(m)}
    return out


def warehouse_teams(db: Path) -> dict[str, set[tuple[str, ...]]]:
    keys = {"teams": "id", "team_members": "team_id, id", "channels": "team_id, id",
            "channel_members": "team_id, channel_id, id", "channel_messages": "team_id, channel_id, id",
            "chats": "user_id, id", "chat_members": "chat_id, id", "chat_messages": "chat_id, id"}
    wh = Warehouse(db)
    return {table: set(wh.query_rows(f"SELECT {cols} FROM {table} WHERE _deleted_at IS NULL"))
            for table, cols in keys.items()}


def assert_teams_exact(sim: Simulator, db: Path) -> None:
    assert duplicated_keys(db) == {}
    expected, actual = tenant_teams(sim), warehouse_teams(db)
    for table in expected:
        missing, extra = expected[table] - actual[table], actual[table] - expected[table]
        assert not missing and not extra, f"{table}: missing {sorted(missing)[:2]}, extra {sorted(extra)[:2]}"


def test_first_and_incremental_teams_syncs_are_exact(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    report = run_sync(sim, db, tables=TEAMS_TABLES, page_size=3)
    assert not report.failed, report.failed
    assert_teams_exact(sim, db)
    assert all(warehouse_teams(db)[t] for t in ("teams", "channels", "channel_messages", "chats", "chat_messages"))
    # Each team is stored whole (GET /teams/{id}), not as the list's three properties.
    assert Warehouse(db).query_rows("SELECT count(*) FROM teams WHERE web_url IS NULL")[0][0] == 0

    teams = sim.control("teams_state")
    team_id = sorted(teams)[0]
    channels = teams[team_id]["channels"]
    general = next(c for c, v in channels.items() if v["channel"]["displayName"] == "General")
    doomed = next(c for c in sorted(channels) if c != general) if len(channels) > 1 else None
    posts = sorted(channels[general]["messages"])
    users = sim.control("user_ids")
    chats = sim.control("chats_state", user=users[0])
    chat_id = sorted(chats)[0]
    chat_messages = sorted(m for m, v in chats[chat_id]["messages"].items() if v.get("messageType") == "message")

    sim.control("post_channel_message", team=team_id, channel=general, text="new post")
    sim.control("post_channel_reply", team=team_id, channel=general, message=posts[0], text="a reply")
    sim.control("edit_channel_message", team=team_id, channel=general, message=posts[-1], text="edited post")
    sim.control("delete_channel_message", team=team_id, channel=general, message=posts[1])
    created = sim.control("create_channel", team=team_id, name="Launch")
    if doomed:
        sim.control("delete_channel", team=team_id, channel=doomed)
    sim.control("post_chat_message", chat=chat_id, text="hello again")
    sim.control("edit_chat_message", chat=chat_id, message=chat_messages[0], text="edited after the watermark")
    sim.control("delete_chat_message", chat=chat_id, message=chat_messages[1])
    member = next(u for u in users if u not in {m.get("userId") for m in chats[chat_id]["members"]})
    sim.control("add_chat_member", chat=chat_id, user=member)
    sim.control("add_team_member", team=team_id, user=member)
    new_chat = GraphTestClient(sim).post("/chats", json={"chatType": "group", "topic": "Fresh", "members": [
        {"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": ["owner"],
         "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{u}')"} for u in users]}).json()
    sim.control("post_chat_message", chat=new_chat["id"], text="first words")
    had = {table: Warehouse(db).query_rows(f"SELECT count(*) FROM {table} WHERE channel_id = ? AND _deleted_at IS NULL",
                                           [doomed])[0][0] for table in ("channel_messages", "channel_members")}
    mark = sim.control("journal_mark")

    run_sync(sim, db, tables=TEAMS_TABLES, page_size=3)
    assert_teams_exact(sim, db)
    calls = [c for c in sim.control("journal", since=mark) if c["path"] != "/$batch"]
    channel_deltas = [c for c in calls if c["path"].endswith("/messages/delta")]
    first_deltas = [c for c in channel_deltas if "token" not in c["query"]]
    assert [c["path"] for c in first_deltas] == [f"/teams/{team_id}/channels/{created['id']}/messages/delta"]
    chat_lists = [c for c in calls if c["path"].startswith("/chats/") and c["path"].endswith("/messages")]
    old_chats = [c for c in chat_lists if new_chat["id"] not in c["path"]]
    assert old_chats and all("lastModifiedDateTime gt" in c["query"] for c in old_chats), \
        "chat messages are read after the watermark, never listed whole again"
    assert [c for c in chat_lists if new_chat["id"] in c["path"] and "$filter" not in c["query"]], \
        "a new chat's messages are listed whole once"
    edited = Warehouse(db).query_rows("SELECT body_content FROM chat_messages WHERE id = ?", [chat_messages[0]])
    assert "edited after the watermark" in edited[0][0]
    replies = Warehouse(db).query_rows("SELECT count(*) FROM channel_messages WHERE reply_to_id = ?", [posts[0]])
    assert replies[0][0] >= 1
    assert {(users[0], new_chat["id"])} <= warehouse_teams(db)["chats"]
    if doomed:  # a deleted channel tombstones its messages and members
        for table in ("channel_messages", "channel_members"):
            left = Warehouse(db).query_rows(
                f"SELECT count(*) FROM {table} WHERE channel_id = ? AND _deleted_at IS NULL", [doomed])
            assert left == [(0,)], table
        assert all(had.values()), f"the deleted channel had messages and members: {had}"


def test_a_chat_a_user_left_is_no_longer_live_for_that_user(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    run_sync(sim, db, tables=TEAMS_TABLES)
    users = sim.control("user_ids")
    chats = sim.control("chats_state", user=users[0])
    group = next(c for c, v in sorted(chats.items()) if v["chat"]["chatType"] == "group")
    sim.control("leave_chat", chat=group, user=users[0])
    run_sync(sim, db, tables=TEAMS_TABLES)
    assert_teams_exact(sim, db)
    rows = Warehouse(db).query_rows("SELECT user_id, _deleted_at IS NULL FROM chats WHERE id = ?", [group])
    assert (users[0], False) in rows and any(live for _, live in rows)


def test_one_mailbox_reads_only_the_chats_it_is_in(sim: Simulator, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    run_sync(sim, db, tables=TEAMS_TABLES)
    users = sim.control("user_ids")
    mine = set(sim.control("chats_state", user=users[-1]))
    assert mine != {chat for user in users for chat in sim.control("chats_state", user=user)}
    mark = sim.control("journal_mark")
    run_sync(sim, db, tables=("chats", "chat_members", "chat_messages"), users=(users[-1],))
    read = {c["path"].split("/")[2] for c in sim.control("journal", since=mark) if c["path"].startswith("/chats/")}
    assert read == mine
    assert_teams_exact(sim, db)
