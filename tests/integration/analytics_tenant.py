"""A small tenant made by hand for the analytics views, each row there to test one rule.

The README's definitions are what it checks: tombstones, drafts and cancelled events left out; UTC days
and weeks; after-hours boundaries (07:59:59 is before hours, 18:00:00 after); a reply is the first
later message from another sender; busy time is merged where events overlap and clipped to Monday to
Friday 08:00-18:00; folder sizes add up every file below. tests/integration/test_analytics.py holds
the numbers worked out by hand from it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from connectors.simulator.server import Simulator
from warehouse import Warehouse

A, B, C, Z = "u-ada", "u-bo", "u-cy", "u-zed"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _people(*names: str) -> str:
    return json.dumps([{"emailAddress": {"name": n.split("@")[0].title(), "address": n}} for n in names])


def _message(user: str, id_: str, sender: str, sent: str, conv: str, to: tuple[str, ...] = (), cc: tuple[str, ...] = (),
             bcc: tuple[str, ...] = (), received: str | None = None, imid: str | None = None, **extra: Any) -> dict:
    return {"user_id": user, "id": id_, "from_address": sender, "from_name": sender.split("@")[0].title(),
            "sent_date_time": at(sent), "received_date_time": at(received or sent), "conversation_id": conv,
            "internet_message_id": imid or f"<{id_}@x>", "to_recipients": _people(*to), "cc_recipients": _people(*cc),
            "bcc_recipients": _people(*bcc), "is_draft": False, "subject": f"subject {id_}", **extra}


def _event(user: str, id_: str, start: str, end: str, show_as: str = "busy", attendees: int = 1, **extra: Any) -> dict:
    return {"user_id": user, "id": id_, "start_date_time": at(start), "end_date_time": at(end), "show_as": show_as,
            "attendees": _people(*[f"guest{n}@x.com" for n in range(attendees)]), "is_cancelled": False,
            "is_all_day": False, "type": "singleInstance", "response_status": "accepted", "is_organizer": False,
            **extra}


def _item(drive: str, id_: str, name: str, parent: str | None, folder: bool = False, size: int = 0,
          modified: datetime | None = None, **extra: Any) -> dict:
    return {"drive_id": drive, "id": id_, "name": name, "parent_id": parent, "is_folder": folder, "size": size,
            "last_modified_date_time": modified, **extra}


def _post(scope: dict, id_: str, sender: str, created: str, **extra: Any) -> dict:
    return {**scope, "id": id_, "from_user_id": sender, "created_date_time": at(created), "message_type": "message",
            "deleted_date_time": None, "reply_to_id": None, **extra}


def tenant(now: datetime) -> dict[str, list[dict]]:
    """The rows per table; drive times are relative to ``now`` (stale is relative to the query's now)."""
    gone = {"_deleted_at": now}
    ada, bo, carl, dana, eve = "ada@x.com", "Bo@X.com", "carl@ext.com", "dana@ext.com", "eve@ext.com"
    messages = [
        # Ada's mailbox. Conversation c1: Carl writes, Ada answers 92 minutes later, Carl again.
        _message(A, "m1", carl, "2026-03-02T08:58:00", "c1", to=(ada,), cc=(bo,), received="2026-03-02T09:00:00",
                 imid="<m1@ext>"),
        _message(A, "m2", ada, "2026-03-02T10:30:00", "c1", to=(carl,)),
        _message(A, "m3", carl, "2026-03-02T11:00:00", "c1", to=(ada,)),
        _message(A, "m4", dana, "2026-03-07T12:00:00", "c2", to=(ada,)),  # a Saturday
        _message(A, "m5", ada, "2026-03-03T18:00:00", "c3", to=(dana, eve), cc=(carl,)),  # 18:00 is after hours
        _message(A, "m6", ada, "2026-03-03T07:59:59", "c4", to=(carl,), bcc=(bo,)),  # before 08:00
        # Sent late on the 3rd, received on the 4th: a day of volume by receipt, after hours by sending.
        _message(A, "m9", carl, "2026-03-03T23:59:00", "c5", to=(ada,), received="2026-03-04T00:01:00"),
        _message(A, "m7", ada, "2026-03-02T12:00:00", "c1", to=(carl,), is_draft=True),  # a draft: left out
        _message(A, "m8", "zed@ext.com", "2026-03-02T12:00:00", "c1", to=(ada,), **gone),  # tombstoned
        # Bo's mailbox: the same m1 (same internet message id) without an answer.
        _message(B, "b1", carl, "2026-03-02T08:58:00", "c1", to=(ada,), cc=(bo,), received="2026-03-02T09:00:30",
                 imid="<m1@ext>"),
        _message(B, "b2", bo.lower(), "2026-03-08T23:30:00", "c6", to=(ada,)),  # a Sunday
        # c7: Dana writes twice, Bo answers 45 minutes after her first.
        _message(B, "b3", dana, "2026-03-04T09:00:00", "c7", to=(bo,)),
        _message(B, "b4", dana, "2026-03-04T09:10:00", "c7", to=(bo,)),
        _message(B, "b5", bo, "2026-03-04T09:45:00", "c7", to=(dana,)),
        _message(Z, "z1", carl, "2026-03-02T10:00:00", "cz", to=("zed@ext.com",), **gone),  # a deleted user's
    ]
    events = [  # Ada's week of Monday 2 March, then one of Bo's
        _event(A, "e1", "2026-03-02T09:00:00", "2026-03-02T10:00:00", is_organizer=True),
        _event(A, "e2", "2026-03-02T09:30:00", "2026-03-02T11:00:00", show_as="tentative"),  # overlaps e1
        _event(A, "e3", "2026-03-03T17:00:00", "2026-03-03T19:00:00"),  # one hour inside working hours
        _event(A, "e4", "2026-03-04T00:00:00", "2026-03-05T00:00:00", show_as="oof", attendees=0, is_all_day=True),
        _event(A, "e5", "2026-03-05T12:00:00", "2026-03-05T13:00:00", show_as="free"),
        _event(A, "e6", "2026-03-06T14:00:00", "2026-03-06T15:00:00", is_cancelled=True),
        _event(A, "e7", "2026-03-06T15:00:00", "2026-03-06T16:00:00", attendees=0),  # busy, but not a meeting
        _event(A, "e8", "2026-03-06T16:00:00", "2026-03-06T17:00:00", response_status="declined"),
        _event(A, "e9", "2026-03-07T10:00:00", "2026-03-07T12:00:00"),  # Saturday: a meeting, not working time
        _event(A, "e10", "2026-03-08T22:00:00", "2026-03-09T09:30:00"),  # Sunday night into Monday's week
        _event(A, "e11", "2026-03-02T13:00:00", "2026-03-02T14:00:00", **gone),
        _event(A, "e12", "2026-03-02T15:00:00", "2026-03-02T16:00:00", type="seriesMaster"),
        _event(B, "e13", "2026-03-16T08:00:00", "2026-03-16T08:30:00"),
    ]
    old = lambda days: now - timedelta(days=days, hours=1)  # noqa: E731 (clearer than a def here)
    drive_items = [
        _item("d1", "root", "root", None, folder=True, modified=old(1)),
        _item("d1", "docs", "Docs", "root", folder=True, modified=old(1)),
        _item("d1", "reports", "Reports", "docs", folder=True, modified=old(1)),
        _item("d1", "photos", "Photos", "root", folder=True, modified=old(1)),
        _item("d1", "empty", "Empty", "root", folder=True, modified=old(300)),  # a folder is never a stale file
        _item("d1", "a", "a.txt", "root", size=100, modified=old(10)),
        _item("d1", "b", "b.pdf", "docs", size=1000, modified=old(100)),
        _item("d1", "c", "c.xlsx", "reports", size=5000, modified=old(200)),
        _item("d1", "d", "d.bin", "reports", size=7, modified=old(400), **gone),
        _item("d1", "e", "e.jpg", "photos", size=300, modified=old(95)),
        _item("d1", "f", "f.jpg", "photos", size=200, modified=old(89)),
        _item("d2", "root2", "root", None, folder=True, modified=old(1)),
        _item("d2", "g", "g.txt", "root2", size=50, modified=old(1)),
    ]
    chat, one = {"chat_id": "ch1"}, {"chat_id": "ch2"}
    general, random = {"team_id": "t1", "channel_id": "g1"}, {"team_id": "t1", "channel_id": "g2"}
    return {
        "users": [{"id": A, "mail": ada, "user_principal_name": ada},
                  {"id": B, "mail": None, "user_principal_name": bo},  # no mail: the UPN is the mailbox
                  {"id": C, "mail": "cy@x.com", "user_principal_name": "cy@x.com"},
                  {"id": Z, "mail": "zed@ext.com", "user_principal_name": "zed@ext.com", **gone}],
        "messages": messages,
        "events": events,
        "calendars": [{"user_id": A, "id": "cal-a"}, {"user_id": C, "id": "cal-c"}],  # Cy: a calendar, no events
        "drives": [{"id": "d1", "owner_user_name": "Ada"}, {"id": "d2", "owner_user_name": "Bo"}],
        "drive_items": drive_items,
        "chats": [{"user_id": A, "id": "ch1", "topic": "Launch", "chat_type": "group"},
                  {"user_id": B, "id": "ch1", "topic": "Launch", "chat_type": "group"},
                  {"user_id": A, "id": "ch2", "topic": None, "chat_type": "oneOnOne"}],
        "chat_messages": [
            _post(chat, "k1", A, "2026-03-02T09:00:00"),
            _post(chat, "k2", B, "2026-03-02T09:01:00"),
            _post(chat, "k3", A, "2026-03-02T23:59:59"),
            _post(chat, "k4", None, "2026-03-02T08:00:00", message_type="systemEventMessage"),
            _post(chat, "k5", B, "2026-03-02T10:00:00", **gone),
            _post(chat, "k6", B, "2026-03-03T00:00:00"),
            _post(one, "k7", A, "2026-03-03T12:00:00"),
        ],
        "teams": [{"id": "t1", "display_name": "Eng"}],
        "channels": [{"team_id": "t1", "id": "g1", "display_name": "General"},
                     {"team_id": "t1", "id": "g2", "display_name": "Random"}],
        "channel_messages": [
            _post(general, "p1", A, "2026-03-02T09:00:00"),
            _post(general, "r1", B, "2026-03-02T09:05:00", reply_to_id="p1"),
            _post(general, "r2", A, "2026-03-02T09:06:00", reply_to_id="p1"),
            _post(random, "p2", B, "2026-03-02T14:00:00"),
            _post(random, "s1", None, "2026-03-02T14:01:00", message_type="systemEventMessage"),
            _post(general, "p3", A, "2026-03-03T09:00:00", **gone),
        ],
    }


def build_warehouse(db: Path) -> Path:
    """A fresh warehouse (tables and views made by graphsync's writer) holding :func:`tenant`'s rows."""
    Warehouse(db).ensure_schema()
    now = datetime.now(UTC)
    with duckdb.connect(str(db)) as connection:
        for table, rows in tenant(now).items():
            columns = list(dict.fromkeys(c for row in rows for c in row))
            names = ", ".join([*columns, "_raw", "_synced_at"])
            marks = ", ".join(["?"] * (len(columns) + 2))
            connection.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})",
                                   [[row.get(c) for c in columns] + ["{}", now] for row in rows])
    return db


def _next_monday(now: datetime) -> datetime:
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=7 - now.weekday())


def add_to_simulator(sim: Simulator) -> dict[str, Any]:
    """Through the simulator's control API, what its seeded tenant lacks for the views to show: a
    conversation Bo starts and Ada answers 42 minutes later (her copy in Sent Items), mail sent after
    hours, a meeting next Monday, a file, a channel post and a chat message. Returns who is who."""
    users = sim.control("users_state")
    ada, bo = sorted(users)[:2]
    address = {u: users[u]["mail"] for u in (ada, bo)}
    person = {u: {"emailAddress": {"name": users[u]["displayName"], "address": address[u]}} for u in (ada, bo)}

    def mail(folder: str, sender: str, when: datetime, conversation: str) -> None:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        sim.control("create_message", user=ada, folder=folder, fields={
            "from": person[sender], "sender": person[sender], "toRecipients": [person[ada if sender == bo else bo]],
            "conversationId": conversation, "sentDateTime": stamp, "receivedDateTime": stamp, "subject": conversation})

    start = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
    mail("inbox", bo, start, "conv-analytics")
    mail("sentitems", ada, start + timedelta(minutes=42), "conv-analytics")
    mail("inbox", bo, datetime(2026, 2, 3, 19, 30, tzinfo=UTC), "conv-late")
    monday = _next_monday(datetime.now(UTC))
    meeting = monday + timedelta(hours=10)
    sim.control("create_event", user=ada, fields={
        "subject": "Analytics review", "showAs": "busy",
        "start": {"dateTime": meeting.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": (meeting + timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "attendees": [{**person[bo], "type": "required"}]})
    sim.control("create_file", user=ada, name="analytics.bin", size=12_345)
    teams = sim.control("teams_state")
    team = sorted(teams)[0]
    sim.control("post_channel_message", team=team, channel=sorted(teams[team]["channels"])[0], text="analytics post")
    sim.control("post_chat_message", chat=sorted(sim.control("chats_state", user=ada))[0], text="analytics chat")
    return {"ada": ada, "bo": bo, "address": address, "meeting_week": monday.date()}
