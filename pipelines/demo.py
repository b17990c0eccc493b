"""`graphsync demo`: the whole loop against the built-in tenant simulator.

Full sync, a burst of changes in the tenant (new, edited, deleted and moved mail, a new folder, a
directory edit), an incremental sync that moves only those changes, a check that the warehouse
equals the tenant, a queued write-back (mail marked read, a draft sent, a meeting booked) whose
effect shows in the warehouse at once, and a few example queries.

The demo starts from an empty warehouse, so it deletes the one at ``--db``, but only a warehouse an
earlier demo made (its marker says ``demo``): any other file there is refused in one line and left as
it was, a tenant's warehouse above all.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from connectors.settings import load_settings
from connectors.simulator import content
from connectors.simulator.server import Simulator
from connectors.simulator.tenant import TenantConfig
from pipelines.reporting import print_summary
from pipelines.sync.plan import Kind
from pipelines.sync.streams import PLAN
from pipelines.sync.tenant import SyncOptions, SyncReport, TenantSync
from warehouse import Warehouse, WarehouseError, WarehouseLocked
from warehouse.ownership import DEMO, describe
from warehouse.queue import ActionQueue, queue_path

EXAMPLE_QUERIES = {
    "Busiest senders": """
        SELECT from_address AS sender, count(*) AS messages
        FROM messages WHERE _deleted_at IS NULL
        GROUP BY ALL ORDER BY messages DESC LIMIT 5""",
    "Unread mail per folder": """
        SELECT f.display_name AS folder, count(*) FILTER (WHERE NOT m.is_read) AS unread, count(*) AS total
        FROM messages m JOIN mail_folders f ON f.user_id = m.user_id AND f.id = m.parent_folder_id
        WHERE m._deleted_at IS NULL GROUP BY ALL ORDER BY unread DESC LIMIT 5""",
    "Deleted since the first sync (tombstones)": """
        SELECT count(*) AS tombstoned_messages FROM messages WHERE _deleted_at IS NOT NULL""",
}


@dataclass
class Demo:
    db: Path
    scale: str
    state_dir: Path

    def run(self) -> None:
        refuse_unless_demo(self.db)
        for leftover in (self.db, Path(f"{self.db}.wal"), queue_path(self.db), *queue_path(self.db).parent.glob(
                f"{queue_path(self.db).name}-*")):
            leftover.unlink(missing_ok=True)  # the demo always starts from an empty warehouse
        scale = content.SCALES[self.scale]
        say(f"Starting the tenant simulator ({scale.users} mailboxes x {scale.messages_per_mailbox:,} messages)")
        with Simulator(TenantConfig(scale=scale), state_dir=self.state_dir) as sim:
            say(f"  token URL {sim.endpoints.token_url}\n  API URL   {sim.endpoints.api_url}")
            full = self._sync(sim, "1. Full sync")
            changed = self._change_tenant(sim)
            say(f"\n2. Meanwhile in the tenant: {changed}")
            incremental = self._sync(sim, "3. Incremental sync (delta links and watermarks)")
            received = sum(s.items for s in incremental.streams.values())
            calls = {kind: sum(s.pages for name, s in incremental.streams.items() if PLAN[name].kind is kind)
                     for kind in Kind}
            say(f"   it received {received:,} items instead of {sum(s.items for s in full.streams.values()):,}: "
                f"{calls[Kind.DELTA]} delta calls and {calls[Kind.WATERMARK]} chat watermark calls carrying only "
                f"what changed, and {calls[Kind.SNAPSHOT] + calls[Kind.SINGLE]} reads of lists Graph has no delta "
                f"for (chats, members, channels, calendars; unchanged rows are left as they are), "
                f"sent together in {incremental.requests} HTTP requests ($batch)")
            self._check_exact(sim)
            self._write_back(sim)
        self._show_queries()
        say(f"\nThe warehouse is {self.db}. Query it with DuckDB, e.g.:\n"
            f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{self.db}', read_only=True)"
            f".sql('SELECT subject, from_address FROM messages LIMIT 5'))\"")

    def _warehouse(self) -> Warehouse:
        # Marked as a demo warehouse when it is created, so that the next demo may replace it.
        return Warehouse(self.db, kind=DEMO)

    def _sync(self, sim: Simulator, title: str) -> SyncReport:
        say(f"\n{title}")
        settings = load_settings({**sim.endpoints.env(), "GRAPHSYNC_DB": str(self.db)}, dotenv_path=None)
        sync = TenantSync(settings, self._warehouse(), SyncOptions(),
                          on_progress=lambda lines: say(f"   … {lines[0]}"))
        report = asyncio.run(sync.run())
        print_summary(report, title="   done")
        return report

    def _change_tenant(self, sim: Simulator) -> str:
        users = sim.control("user_ids")
        created = edited = deleted = moved = 0
        for user in users[:3]:
            box = sim.control("mailbox_state", user=user)
            inbox = sim.control("folder_id", user=user, folder="inbox")
            in_inbox = sorted(mid for mid, m in box["messages"].items() if m["parentFolderId"] == inbox)
            for n in range(3):
                sim.control("create_message", user=user, folder="inbox", fields={"subject": f"Demo news #{n}"})
                created += 1
            for message_id in in_inbox[:4]:
                sim.control("update_message", user=user, message_id=message_id, fields={"isRead": True,
                                                                                        "categories": ["Demo"]})
                edited += 1
            sim.control("delete_message", user=user, message_id=in_inbox[4])
            sim.control("delete_message", user=user, message_id=in_inbox[5], soft=True)
            deleted += 2
            for message_id in in_inbox[6:8]:
                sim.control("move_message", user=user, message_id=message_id, folder="archive")
                moved += 1
        sim.control("create_folder", user=users[0], name="Demo follow-ups", parent="inbox")
        sim.control("update_user", user=users[1], fields={"jobTitle": "Head of Demos"})
        sim.control("create_event", user=users[2], fields={"subject": "Demo review"})
        chat = sorted(sim.control("chats_state", user=users[0]))[0]
        sim.control("post_chat_message", chat=chat, text="Demo: lunch at noon?")
        teams = sim.control("teams_state")
        team = sorted(teams)[0]
        channel = sorted(teams[team]["channels"])[0]
        post = sorted(teams[team]["channels"][channel]["messages"])[-1]
        sim.control("post_channel_reply", team=team, channel=channel, message=post, text="Demo: agreed")
        return (f"{created} messages received, {edited} edited, {deleted} deleted, {moved} moved, "
                "1 folder created, 1 user edited, 1 meeting booked, 1 chat message and 1 channel reply posted")

    def _write_back(self, sim: Simulator) -> None:
        """Queue actions as a user would (a JSON Lines file), replay them, show the effect."""
        from pipelines.writeback.commands import enqueue_text
        from pipelines.writeback.replay import Replay

        settings = load_settings({**sim.endpoints.env(), "GRAPHSYNC_DB": str(self.db)}, dotenv_path=None)
        wh = self._warehouse()
        user_id, upn = wh.query_rows("SELECT id, user_principal_name FROM users WHERE _deleted_at IS NULL "
                                     "ORDER BY user_principal_name LIMIT 1")[0]
        unread = [row[0] for row in wh.query_rows(
            "SELECT id FROM messages WHERE user_id = ? AND NOT is_read AND _deleted_at IS NULL ORDER BY id LIMIT 5",
            [user_id])]
        actions = [{"op": "PATCH /me/messages/{message-id}", "user": upn, "key": f"demo-read-{n}",
                    "params": {"message-id": m}, "body": {"isRead": True}} for n, m in enumerate(unread)]
        actions += [
            {"op": "POST /me/messages", "user": upn, "key": "demo-draft",
             "body": {"subject": "Demo: write-back works", "toRecipients": [{"emailAddress": {"address": upn}}]}},
            {"op": "POST /me/messages/{message-id}/send", "user": upn, "key": "demo-send",
             "params": {"message-id": "@demo-draft.id"}},
            {"op": "POST /me/calendar/events", "user": upn, "key": "demo-meeting",
             "body": {"subject": "Demo: queued meeting",
                      "start": {"dateTime": "2026-12-15T15:00:00", "timeZone": "UTC"},
                      "end": {"dateTime": "2026-12-15T15:30:00", "timeZone": "UTC"}}},
        ]
        queue = ActionQueue(queue_path(self.db))
        enqueue_text(settings, queue, "".join(json.dumps(a) + "\n" for a in actions), "demo", self.db.parent)
        say(f"\n5. Write-back: {len(actions)} actions queued for {upn} ({len(unread)} messages to mark read, a "
            "draft and its send (the send waits for the draft's id), a meeting)")
        report = asyncio.run(Replay(settings, queue, wh).run())
        done = ", ".join(f"{n} {status}" for status, n in sorted(report.statuses.items()))
        still = wh.query_rows(f"SELECT count(*) FROM messages WHERE NOT is_read AND id IN "
                              f"({', '.join('?' for _ in unread) or 'NULL'})", unread)[0][0]
        meeting = wh.query_rows("SELECT count(*) FROM events WHERE subject = ?", ["Demo: queued meeting"])[0][0]
        say(f"   {done} in {report.requests} HTTP requests ($batch); in the warehouse, at once: "
            f"{len(unread) - still} of those {len(unread)} messages now read, the new meeting "
            f"{'stored' if meeting else 'not stored'}")
        if report.failed or still or not meeting:
            raise SystemExit(1)

    def _check_exact(self, sim: Simulator) -> None:
        wh = self._warehouse()
        live = wh.query_df("SELECT count(*) AS n FROM messages WHERE _deleted_at IS NULL")["n"][0]
        expected = sum(len(sim.control("mailbox_state", user=u)["messages"]) for u in sim.control("user_ids"))
        verdict = "matches" if live == expected else "DOES NOT match"
        say(f"\n4. The warehouse {verdict} the tenant: {live:,} live messages vs {expected:,} in the tenant")
        if live != expected:
            raise SystemExit(1)

    def _show_queries(self) -> None:
        wh = self._warehouse()
        for title, sql in EXAMPLE_QUERIES.items():
            say(f"\n-- {title}")
            say(wh.query_df(sql).to_string(index=False))


def refuse_unless_demo(db: Path) -> None:
    """Raise (one line) unless ``db`` is absent, empty, or a warehouse an earlier demo made; reads only."""
    if not db.exists() or (db.is_file() and db.stat().st_size == 0):
        return
    try:
        marker = describe(db)
    except WarehouseLocked:
        raise
    except WarehouseError as exc:
        why = str(getattr(exc, "reason", exc))
    else:
        if marker is not None and marker.kind == DEMO:
            return
        why = ("it holds no graphsync marker (a warehouse made by an older graphsync, or another program's)"
               if marker is None else f"it is a graphsync {marker.kind} warehouse")
    raise WarehouseError(f"the demo starts from an empty warehouse and will not delete {db}, which is not a "
                         f"demo warehouse: {why}; the file is left as it was (choose another --db)")


def say(text: str) -> None:
    print(text, file=sys.stdout, flush=True)
