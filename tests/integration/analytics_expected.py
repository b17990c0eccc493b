"""What each analytics view should hold, computed in plain Python from the tables' rows.

Written from the definitions in the README ("Analytics"), not from the views' SQL: loops, dicts and
datetime arithmetic instead of window functions and recursive CTEs, so a mistake in one is not
repeated in the other. Rows are dicts of column -> value as DuckDB returns them (instants aware);
each function returns {key tuple: value tuple} in the column order the tests compare.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

Row = dict[str, Any]
Tables = dict[str, list[Row]]
BUSY = {"busy", "tentative", "oof"}
WORK_START, WORK_END = 8, 18


def live(rows: Iterable[Row]) -> list[Row]:
    return [r for r in rows if r.get("_deleted_at") is None]


def utc(moment: datetime | None) -> datetime | None:
    """The UTC wall-clock time of an aware instant (naive ones are already UTC)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def mailboxes(t: Tables) -> dict[str, str]:
    return {u["id"]: (u["mail"] or u["user_principal_name"]).lower() for u in live(t["users"])
            if u["mail"] or u["user_principal_name"]}


def _mail(t: Tables) -> list[Row]:
    boxes = mailboxes(t)
    out = []
    for m in live(t["messages"]):
        if m.get("is_draft"):
            continue
        sender = m["from_address"].lower() if m["from_address"] else None
        out.append({**m, "mailbox": boxes.get(m["user_id"]), "sender": sender,
                    "key": m["internet_message_id"] or f"{m['user_id']}/{m['id']}",
                    "at": utc(m["sent_date_time"] or m["received_date_time"]),
                    "is_sent": sender == boxes.get(m["user_id"])})
    return out


def mail_volume_daily(t: Tables) -> dict[tuple, tuple]:
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for m in _mail(t):
        if m["received_date_time"] is None:
            continue
        c = counts[(m["user_id"], m["mailbox"], utc(m["received_date_time"]).date())]
        c[0] += 1
        c[1 if m["is_sent"] else 2] += 1
    return {k: tuple(v) for k, v in counts.items()}


def mail_top_senders(t: Tables) -> dict[tuple, tuple]:
    keys: dict[str, set] = defaultdict(set)
    boxes: dict[str, set] = defaultdict(set)
    for m in _mail(t):
        if m["sender"]:
            keys[m["sender"]].add(m["key"])
            boxes[m["sender"]].add(m["user_id"])
    return {(s,): (len(keys[s]), len(boxes[s])) for s in keys}


def mail_top_recipients(t: Tables) -> dict[tuple, tuple]:
    seen: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for m in _mail(t):
        for field in ("to", "cc", "bcc"):
            for recipient in _json(m[f"{field}_recipients"]) or []:
                address = (recipient.get("emailAddress") or {}).get("address")
                if address:
                    seen[address.lower()][field].add(m["key"])
                    seen[address.lower()]["all"].add(m["key"])
    return {(a,): (len(f["all"]), len(f["to"]), len(f["cc"]), len(f["bcc"])) for a, f in seen.items()}


def after_hours_reason(at: datetime) -> str | None:
    if at.weekday() >= 5:
        return "weekend"
    if at.hour < WORK_START:
        return "before 08:00"
    if at.hour >= WORK_END:
        return "after 18:00"
    return None


def mail_after_hours(t: Tables) -> dict[tuple, tuple]:
    out = {}
    for m in _mail(t):
        reason = after_hours_reason(m["at"]) if m["at"] else None
        if reason:
            out[(m["user_id"], m["id"])] = ("sent" if m["is_sent"] else "received", reason)
    return out


def mail_reply_latency(t: Tables) -> dict[tuple, tuple]:
    threads: dict[tuple, list[Row]] = defaultdict(list)
    for m in _mail(t):
        if m["conversation_id"] is not None and m["at"] is not None:
            threads[(m["user_id"], m["conversation_id"])].append(m)
    out = {}
    for key, mail in threads.items():
        mail.sort(key=lambda m: (m["at"], m["id"]))
        first = mail[0]
        reply = next((m for m in mail if m["at"] > first["at"] and m["sender"] != first["sender"]), None)
        if reply is None:
            out[key] = (first["id"], None, None)
        else:
            out[key] = (first["id"], reply["id"], round((reply["at"] - first["at"]).total_seconds() / 60, 6))
    return out


def _timed_events(t: Tables) -> list[Row]:
    out = []
    for e in live(t["events"]):
        start, end = utc(e["start_date_time"]), utc(e["end_date_time"])
        if e.get("is_cancelled") or e.get("type") == "seriesMaster" or start is None or end is None or end <= start:
            continue
        out.append({**e, "start": start, "end": end})
    return out


def meeting_hours_weekly(t: Tables) -> dict[tuple, tuple]:
    acc: dict[tuple, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for e in _timed_events(t):
        if e.get("is_all_day") or not _json(e["attendees"]) or e.get("response_status") == "declined" \
                or e.get("show_as") == "free":
            continue
        a = acc[(e["user_id"], monday(e["start"].date()))]
        a[0] += 1
        a[1] += 1 if e.get("is_organizer") else 0
        a[2] += (e["end"] - e["start"]).total_seconds() / 3600
    return {k: (v[0], v[1], round(v[2], 6)) for k, v in acc.items()}


def _working_pieces(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    pieces, day = [], datetime(start.year, start.month, start.day)
    while day < end:
        if day.weekday() < 5:
            s, e = max(start, day + timedelta(hours=WORK_START)), min(end, day + timedelta(hours=WORK_END))
            if e > s:
                pieces.append((s, e))
        day += timedelta(days=1)
    return pieces


def calendar_free_busy_weekly(t: Tables) -> dict[tuple, tuple]:
    timed = _timed_events(t)
    pieces: dict[str, list] = defaultdict(list)
    for e in timed:
        if e.get("show_as") in BUSY:
            pieces[e["user_id"]].extend(_working_pieces(e["start"], e["end"]))
    busy: dict[tuple, float] = defaultdict(float)
    for user, spans in pieces.items():
        spans.sort()
        merged: list[list[datetime]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        for s, e in merged:
            busy[(user, monday(s.date()))] += (e - s).total_seconds() / 3600
    weeks = {monday(e["start"].date()) for e in timed} | {w for _, w in busy}
    if not weeks:
        return {}
    people = {r["user_id"] for r in live(t["calendars"])} | {r["user_id"] for r in live(t["events"])}
    out, week = {}, min(weeks)
    while week <= max(weeks):
        for person in people:
            hours = busy.get((person, week), 0.0)
            out[(person, week)] = (round(hours, 6), round(50 - hours, 6))
        week += timedelta(days=7)
    return out


def _folder_paths(items: list[Row]) -> dict[tuple, str]:
    by_id = {(i["drive_id"], i["id"]): i for i in items}
    paths: dict[tuple, str] = {}

    def path(key: tuple, depth: int = 0) -> str | None:
        item = by_id.get(key)
        if item is None or not item.get("is_folder") or depth > 64:
            return None
        if item["parent_id"] is None:
            return "/"
        above = path((item["drive_id"], item["parent_id"]), depth + 1)
        return None if above is None else above.rstrip("/") + "/" + item["name"]

    for key in by_id:
        found = path(key)
        if found is not None:
            paths[key] = found
    return paths


def drive_largest_folders(t: Tables) -> dict[tuple, tuple]:
    items = live(t["drive_items"])
    by_id = {(i["drive_id"], i["id"]): i for i in items}
    paths = _folder_paths(items)
    files: dict[tuple, int] = defaultdict(int)
    size: dict[tuple, int] = defaultdict(int)
    for i in items:
        if i.get("is_folder"):
            continue
        parent, seen = i["parent_id"], 0
        while parent is not None and (i["drive_id"], parent) in by_id and seen <= 64:
            files[(i["drive_id"], parent)] += 1
            size[(i["drive_id"], parent)] += i["size"] or 0
            parent, seen = by_id[(i["drive_id"], parent)]["parent_id"], seen + 1
    return {key: (path, files[key], size[key]) for key, path in paths.items()}


def drive_stale_files(t: Tables, now: datetime, days: int = 90) -> dict[tuple, tuple]:
    items = live(t["drive_items"])
    paths = _folder_paths(items)
    out = {}
    for i in items:
        modified = i["last_modified_date_time"]
        if i.get("is_folder") or modified is None or modified >= now - timedelta(days=days):
            continue
        folder = paths.get((i["drive_id"], i["parent_id"]))
        path = None if folder is None else folder.rstrip("/") + "/" + i["name"]
        out[(i["drive_id"], i["id"])] = (path, math.floor((now - modified).total_seconds() / 86400))
    return out


def _peoples(rows: list[Row]) -> list[Row]:
    return [m for m in live(rows) if (m["message_type"] or "message") == "message" and m["deleted_date_time"] is None
            and m["created_date_time"] is not None]


def chat_activity_daily(t: Tables) -> dict[tuple, tuple]:
    topics: dict[str, str | None] = {}
    for c in live(t["chats"]):
        if c["topic"] is not None and (topics.get(c["id"]) is None or c["topic"] > topics[c["id"]]):
            topics[c["id"]] = c["topic"]
        topics.setdefault(c["id"], None)
    messages: dict[tuple, int] = defaultdict(int)
    senders: dict[tuple, set] = defaultdict(set)
    for m in _peoples(t["chat_messages"]):
        key = (m["chat_id"], utc(m["created_date_time"]).date())
        messages[key] += 1
        if m["from_user_id"] is not None:
            senders[key].add(m["from_user_id"])
    return {k: (topics.get(k[0]), n, len(senders[k])) for k, n in messages.items()}


def channel_activity_daily(t: Tables) -> dict[tuple, tuple]:
    teams = {r["id"]: r["display_name"] for r in live(t["teams"])}
    channels = {(r["team_id"], r["id"]): r["display_name"] for r in live(t["channels"])}
    acc: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    senders: dict[tuple, set] = defaultdict(set)
    for m in _peoples(t["channel_messages"]):
        key = (m["team_id"], m["channel_id"], utc(m["created_date_time"]).date())
        acc[key][0] += 1
        acc[key][1 if m["reply_to_id"] is None else 2] += 1
        if m["from_user_id"] is not None:
            senders[key].add(m["from_user_id"])
    return {k: (teams.get(k[0]), channels.get((k[0], k[1])), *v, len(senders[k])) for k, v in acc.items()}


# The view's columns each function's (key, value) tuples line up with.
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "mail_volume_daily": (("user_id", "mailbox", "day"), ("messages", "sent", "received")),
    "mail_top_senders": (("sender_address",), ("messages", "mailboxes")),
    "mail_top_recipients": (("recipient_address",), ("messages", "as_to", "as_cc", "as_bcc")),
    "mail_after_hours": (("user_id", "message_id"), ("direction", "reason")),
    "mail_reply_latency": (("user_id", "conversation_id"), ("original_id", "reply_id", "latency_minutes")),
    "meeting_hours_weekly": (("user_id", "week"), ("meetings", "organized", "meeting_hours")),
    "calendar_free_busy_weekly": (("user_id", "week"), ("busy_hours", "free_hours")),
    "drive_largest_folders": (("drive_id", "folder_id"), ("path", "files", "total_bytes")),
    "drive_stale_files": (("drive_id", "item_id"), ("path", "days_unmodified")),
    "chat_activity_daily": (("chat_id", "day"), ("topic", "messages", "senders")),
    "channel_activity_daily": (("team_id", "channel_id", "day"), ("team", "channel", "messages", "posts", "replies",
                                                                  "senders")),
}


def expected(t: Tables, now: datetime) -> dict[str, dict[tuple, tuple]]:
    """Every view's expected rows; ``now`` is the instant the stale-file check is made at."""
    found = {name: fn(t) for name, fn in [
        ("mail_volume_daily", mail_volume_daily), ("mail_top_senders", mail_top_senders),
        ("mail_top_recipients", mail_top_recipients), ("mail_after_hours", mail_after_hours),
        ("mail_reply_latency", mail_reply_latency), ("meeting_hours_weekly", meeting_hours_weekly),
        ("calendar_free_busy_weekly", calendar_free_busy_weekly), ("drive_largest_folders", drive_largest_folders),
        ("chat_activity_daily", chat_activity_daily), ("channel_activity_daily", channel_activity_daily)]}
    found["drive_stale_files"] = drive_stale_files(t, now)
    return found
