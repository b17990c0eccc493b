"""Windowed feeds (calendarView delta): what a round over a date window cannot see.

A calendar view's delta tokens keep the window they were opened with, and its feed says "removed"
both of an event deleted and of one that only left the window (event-delta.md). So (engine.py): a
run on a later day opens a new round over that day's window; every item the feed reports removed is
read by id (StreamSpec.confirm), where only a 404 is a removal; and a new window's round, on its last
page, doubts the stored live rows inside the window that it did not list (`unseen_in_window`), which
are read by id the same way. Rows outside the window are left as last seen: their items still exist.
"""

from __future__ import annotations

from datetime import datetime

from pipelines.sync.plan import StreamSpec, Window
from pipelines.sync.writer import BatchWriter
from warehouse.sql import ident


async def unseen_in_window(spec: StreamSpec, scope: dict[str, str], writer: BatchWriter, window: Window,
                           round_seq: int | None, round_started_at: datetime | None,
                           marks: list[tuple[str, str]]) -> list[str]:
    """Ids of the scope's live rows whose own interval meets `window` and that the round begun at
    commit `round_seq` (older states: at `round_started_at`) has not written, leaving out rows with
    another stream's `marks` (Plan.others_marks). Counting a row that
    only touches the window is harmless: a doubted row is read, not tombstoned."""
    start, end = spec.window_columns
    columns = spec.rows_of_scope()
    # Rows another stream fills the table with (the series among events) are not the window's.
    others = "".join(f" AND coalesce({ident(column)}, '') <> ?" for column, _ in marks)
    kept = ("coalesce(_synced_seq, 0) < ?", round_seq) if round_seq is not None \
        else ("_synced_at < ?", round_started_at)
    rows = await writer.read(
        f"SELECT id FROM {ident(spec.table)} WHERE _deleted_at IS NULL AND {kept[0]} "
        f"AND {ident(start)} < ? AND {ident(end)} >= ?{others}" + "".join(f" AND {ident(c)} = ?" for c, _ in columns),
        [kept[1], window[1], window[0], *(value for _, value in marks), *(scope[name] for _, name in columns)])
    return [row[0] for row in rows]
