"""`graphsync report [--out report.html]`: one self-contained HTML page of charts over the analytics views.

Charts are drawn by plotly (a well-kept library; its plotly.js is inlined once, with the first chart),
so the page needs no network when it is opened: no script, style or font is fetched. The data is read
in one short read-only session (analytics.reader), then the page is built with the warehouse closed.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from pipelines.analytics.reader import analytics_session
from warehouse.views import STALE_AFTER_DAYS, VIEWS, WORK_END_HOUR, WORK_START_HOUR

Rows = list[dict[str, Any]]
_DESCRIPTIONS = {view.name: view.description for view in VIEWS}
# Daily charts show the last DAYS days that have data; weekly ones the weeks around today.
DAYS = 90
WEEKS_BEFORE, WEEKS_AFTER = 12, 4
TOP = 10


def _recent_days(view: str, select: str) -> str:
    return (f"SELECT {select} FROM {view} WHERE day > (SELECT max(day) FROM {view}) - INTERVAL {DAYS} DAY "
            "ORDER BY day")


_WEEK_WINDOW = (f"week BETWEEN CAST(date_trunc('week', timezone('UTC', current_timestamp)) AS DATE) "
                f"- INTERVAL {7 * WEEKS_BEFORE} DAY AND CAST(date_trunc('week', timezone('UTC', current_timestamp)) "
                f"AS DATE) + INTERVAL {7 * WEEKS_AFTER} DAY")


@dataclass(frozen=True)
class Chart:
    view: str  # the analytics view it shows
    title: str
    note: str  # what this chart selects from the view, after the view's own description
    sql: str
    draw: Callable[[Rows], go.Figure]


def _dates(figure: go.Figure, values: list[Any]) -> None:
    """Days as days: a few days apart, plotly would otherwise tick the hours between them."""
    if values and all(isinstance(v, date) for v in values):
        span = (max(values) - min(values)).days
        figure.update_xaxes(type="date", tickformat="%Y-%m-%d", dtick=86_400_000 * max(1, (span + 13) // 14))


def _stacked(x: str, series: str, y: str) -> Callable[[Rows], go.Figure]:
    """Bars of ``y`` over ``x``, one stacked series per value of ``series``."""
    def draw(rows: Rows) -> go.Figure:
        figure = go.Figure()
        for name in dict.fromkeys(str(r[series]) for r in rows):
            mine = [r for r in rows if str(r[series]) == name]
            figure.add_bar(name=name, x=[r[x] for r in mine], y=[r[y] for r in mine])
        figure.update_layout(barmode="stack", xaxis_title=x, yaxis_title=y.replace("_", " "))
        _dates(figure, [r[x] for r in rows])
        return figure
    return draw


def _ranked(label: str, value: str, axis: str) -> Callable[[Rows], go.Figure]:
    """Horizontal bars, the largest on top."""
    def draw(rows: Rows) -> go.Figure:
        figure = go.Figure(go.Bar(x=[r[value] for r in rows], y=[r[label] for r in rows], orientation="h"))
        figure.update_layout(yaxis={"autorange": "reversed", "automargin": True}, xaxis_title=axis)
        return figure
    return draw


def _lines(x: str, series: str, y: str) -> Callable[[Rows], go.Figure]:
    def draw(rows: Rows) -> go.Figure:
        figure = go.Figure()
        for name in dict.fromkeys(str(r[series]) for r in rows):
            mine = [r for r in rows if str(r[series]) == name]
            figure.add_scatter(name=name, x=[r[x] for r in mine], y=[r[y] for r in mine], mode="lines+markers")
        figure.update_layout(xaxis_title=x, yaxis_title=y.replace("_", " "))
        _dates(figure, [r[x] for r in rows])
        return figure
    return draw


def _latency(rows: Rows) -> go.Figure:
    figure = go.Figure()
    for name in dict.fromkeys(str(r["mailbox"]) for r in rows):
        figure.add_box(name=name, y=[r["hours"] for r in rows if str(r["mailbox"]) == name], boxpoints="all")
    figure.update_layout(yaxis_title="hours to the first reply", showlegend=False)
    return figure


def _free_busy(rows: Rows) -> go.Figure:
    people = list(dict.fromkeys(str(r["mailbox"]) for r in rows))
    weeks = sorted({r["week"] for r in rows})
    busy = {(str(r["mailbox"]), r["week"]): r["busy_hours"] for r in rows}
    figure = go.Figure(go.Heatmap(
        x=weeks, y=people, z=[[busy.get((p, w)) for w in weeks] for p in people], zmin=0, zmax=50,
        colorscale="Blues", colorbar={"title": "busy h"},
        hovertemplate="%{y}<br>week of %{x}<br>busy %{z:.1f} h of 50<extra></extra>"))
    figure.update_layout(xaxis_title="week (Monday, UTC)", yaxis={"automargin": True})
    return figure


CHARTS: tuple[Chart, ...] = (
    Chart("mail_volume_daily", "Mail per day", f"Stacked by mailbox; the last {DAYS} days with mail.",
          _recent_days("mail_volume_daily", "day, mailbox, messages"), _stacked("day", "mailbox", "messages")),
    Chart("mail_top_senders", "Top senders", f"The {TOP} senders of the most messages.",
          f"SELECT sender_address, messages FROM mail_top_senders ORDER BY messages DESC, sender_address LIMIT {TOP}",
          _ranked("sender_address", "messages", "messages")),
    Chart("mail_top_recipients", "Top recipients", f"The {TOP} addresses that received the most messages.",
          f"SELECT recipient_address, messages FROM mail_top_recipients ORDER BY messages DESC, recipient_address "
          f"LIMIT {TOP}", _ranked("recipient_address", "messages", "messages")),
    Chart("mail_after_hours", "Mail sent after hours", "Messages each mailbox's owner sent, by when.",
          "SELECT mailbox, reason, count(*) AS messages FROM mail_after_hours WHERE direction = 'sent' "
          "GROUP BY mailbox, reason ORDER BY mailbox, reason", _stacked("mailbox", "reason", "messages")),
    Chart("mail_reply_latency", "Reply latency", "Answered conversations only, per mailbox; each dot a conversation.",
          "SELECT mailbox, latency_minutes / 60 AS hours FROM mail_reply_latency WHERE reply_id IS NOT NULL "
          "ORDER BY mailbox", _latency),
    Chart("meeting_hours_weekly", "Meeting hours per week",
          f"From {WEEKS_BEFORE} weeks ago to {WEEKS_AFTER} weeks ahead.",
          f"SELECT week, mailbox, meeting_hours FROM meeting_hours_weekly WHERE {_WEEK_WINDOW} ORDER BY week",
          _lines("week", "mailbox", "meeting_hours")),
    Chart("calendar_free_busy_weekly", "Busy hours per week",
          f"Darker is busier; from {WEEKS_BEFORE} weeks ago to {WEEKS_AFTER} weeks ahead.",
          f"SELECT week, mailbox, busy_hours FROM calendar_free_busy_weekly WHERE {_WEEK_WINDOW} "
          "ORDER BY mailbox, week",
          _free_busy),
    Chart("drive_largest_folders", "Largest folders", "The 15 largest, drive roots left out; in MB.",
          "SELECT coalesce(drive_owner, drive_id) || ': ' || path AS folder, round(total_bytes / 1e6, 2) AS mb "
          "FROM drive_largest_folders WHERE path <> '/' ORDER BY total_bytes DESC, folder LIMIT 15",
          _ranked("folder", "mb", "MB")),
    Chart("drive_stale_files", "Stale files", f"Files untouched for {STALE_AFTER_DAYS} days or more, per drive.",
          "SELECT coalesce(drive_owner, drive_id) AS drive, count(*) AS files FROM drive_stale_files "
          "GROUP BY 1 ORDER BY files DESC, drive", _ranked("drive", "files", "files")),
    Chart("chat_activity_daily", "Chat activity", f"Stacked by chat (its topic, or its members); the last {DAYS} days.",
          "WITH named AS (SELECT a.*, coalesce(a.topic, (SELECT string_agg(DISTINCT display_name, ', ') "
          "FROM chat_members m WHERE m.chat_id = a.chat_id AND m._deleted_at IS NULL), a.chat_id) AS chat "
          "FROM chat_activity_daily a WHERE a.day > (SELECT max(day) FROM chat_activity_daily) - INTERVAL "
          f"{DAYS} DAY) SELECT day, chat, messages FROM named ORDER BY day, chat",
          _stacked("day", "chat", "messages")),
    Chart("channel_activity_daily", "Channel activity", f"Stacked by team / channel; the last {DAYS} days.",
          _recent_days("channel_activity_daily",
                       "day, coalesce(team, team_id) || ' / ' || coalesce(channel, channel_id) AS channel, messages"),
          _stacked("day", "channel", "messages")),
)

_SUMMARY = """SELECT (SELECT count(*) FROM messages WHERE _deleted_at IS NULL),
    (SELECT count(*) FROM events WHERE _deleted_at IS NULL AND coalesce(type, '') <> 'seriesMaster'),
    (SELECT count(*) FROM drive_items WHERE _deleted_at IS NULL AND NOT coalesce(is_folder, false)),
    (SELECT count(*) FROM chat_messages WHERE _deleted_at IS NULL)
        + (SELECT count(*) FROM channel_messages WHERE _deleted_at IS NULL)"""


def read_charts(path: Path, lock_timeout_s: float) -> tuple[dict[str, Rows], tuple[int, ...]]:
    """Every chart's rows and the summary counts, in one read-only session."""
    data: dict[str, Rows] = {}
    with analytics_session(path, lock_timeout_s, need_views=True) as connection:
        for chart in CHARTS:
            cursor = connection.execute(chart.sql)
            columns = [d[0] for d in cursor.description]
            data[chart.view] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        summary = connection.execute(_SUMMARY).fetchone()
    return data, tuple(int(n) for n in summary or ())


def render(path: Path, data: dict[str, Rows], summary: tuple[int, ...], now: datetime) -> str:
    sections, js_included = [], False
    for n, chart in enumerate(CHARTS):
        rows = data.get(chart.view, [])
        caption = f"{_DESCRIPTIONS[chart.view]} {chart.note}"
        if rows:
            figure = chart.draw(rows)
            figure.update_layout(template="plotly_white", height=380, margin={"t": 20, "b": 40, "l": 60, "r": 20},
                                 legend={"orientation": "h", "y": -0.2})
            # plotly.js goes into the page once, with the first chart drawn; later charts reuse it.
            body = figure.to_html(full_html=False, include_plotlyjs=not js_included, div_id=f"chart-{n}",
                                  config={"displaylogo": False, "responsive": True})
            js_included = True
        else:
            body = '<p class="empty">No rows yet.</p>'
        sections.append(f'<section><h2>{html.escape(chart.title)}</h2>\n<p class="caption">{html.escape(caption)} '
                        f'<code>{chart.view}</code></p>\n{body}</section>')
    messages, events, files, posts = summary if len(summary) == 4 else (0, 0, 0, 0)
    name = html.escape(path.name)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>graphsync report: {name}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1f2937; padding: 0 1rem; }}
h1 {{ margin-bottom: .2rem; }} h2 {{ margin: 2rem 0 .2rem; font-size: 1.2rem; }}
.meta, .caption {{ color: #4b5563; margin: .2rem 0; }} .empty {{ color: #9ca3af; font-style: italic; }}
.note {{ background: #eef2ff; padding: .5rem .8rem; border-radius: 6px; }}
</style></head>
<body>
<h1>graphsync report: {name}</h1>
<p class="meta">Warehouse <code>{html.escape(str(path))}</code>, generated {now:%Y-%m-%d %H:%M} UTC.
{messages:,} messages, {events:,} events, {files:,} files, {posts:,} chat and channel messages.</p>
<p class="note">All times are UTC: days and weeks (Monday to Sunday) are UTC days and weeks, and working hours are
Monday to Friday {WORK_START_HOUR:02d}:00-{WORK_END_HOUR:02d}:00 UTC. Deleted items are left out. Each chart
shows one analytics view of the warehouse (named beside it); query them with <code>graphsync sql</code>.</p>
{chr(10).join(sections)}
</body></html>
"""


def write_report(path: str | Path, out: Path, lock_timeout_s: float = 60.0, now: datetime | None = None) -> Path:
    """Write the page to ``out`` (replaced whole, never left half-written); returns its path."""
    db = Path(path).expanduser().absolute()
    data, summary = read_charts(db, lock_timeout_s)
    page = render(db, data, summary, now or datetime.now(UTC))
    out = out.expanduser().absolute()
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(page)
        os.chmod(temporary, 0o644)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return out
