"""The set-based SQL of one warehouse commit: upserts, removals, sweeps and states for many batches.

:func:`apply_batches` runs inside the transaction that :meth:`warehouse.writer.Warehouse.apply`
opens: it numbers the commit, merges the batches into few statements per table and writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from models import TABLES
from models.registry import TableSpec
from warehouse import arrow
from warehouse.batches import ApplyCounts, PageBatch, StreamState, to_utc
from warehouse.schema import COMMIT_SEQUENCE
from warehouse.sql import flattening_select, ident

# Names of the relations registered/created per batch inside the apply transaction.
_STAGE = "_gs_stage"
_KEYS = "_gs_keys"
_MERGED = "_gs_merged"
_REMOVED = "_gs_removed"
_SWEEPS = "_gs_sweeps"
_STATES = "_gs_states"
UPSERT_SLICE = 2_000


def apply_batches(connection: duckdb.DuckDBPyConnection, batches: list[PageBatch], now: datetime) -> ApplyCounts:
    """Write all batches in the open transaction; the counts carry the commit's number (``seq``)."""
    moment = to_utc(now)
    counts = ApplyCounts()
    seq = int(connection.execute(f"SELECT nextval('{COMMIT_SEQUENCE}')").fetchall()[0][0])
    upserts, removals = _plan(batches)
    for table, rows in upserts.items():
        # In slices: DuckDB's working memory for the JSON flattening grows with the rows per
        # statement, and a sync's peak memory must not grow with the tenant.
        for start in range(0, len(rows), UPSERT_SLICE):
            counts.add(table, _upsert(connection, TABLES[table], rows[start : start + UPSERT_SLICE], moment, seq))
    for (table, guard_columns), removed in _group_removals(batches, removals).items():
        counts.add(table, ApplyCounts(
            tombstoned=_tombstone_removed(connection, TABLES[table], guard_columns, removed, moment)))
    for (table, column), removed in _group_cascades(batches, removals).items():
        counts.add(table, ApplyCounts(tombstoned=_tombstone_below(connection, TABLES[table], column, removed, moment)))
    for (table, columns), sweeps in _group_sweeps(batches).items():
        counts.add(table, ApplyCounts(tombstoned=_sweep_unseen(connection, TABLES[table], columns, sweeps, moment)))
    _store_states(connection, [batch.state for batch in batches if batch.state is not None])
    counts.seq = seq
    return counts


# -- planning: many batches, few statements ---------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    scope_values: dict[str, str]
    item: dict[str, Any]
    partial: bool
    compare: bool = False


def _plan(batches: list[PageBatch]) -> tuple[dict[str, list[_Row]], list[list[str]]]:
    """All upserts per table (in arrival order, later wins), and each batch's removals still due.

    A sync hands over hundreds of small batches (one per mail folder) per call; running a staging
    round per batch costs tens of milliseconds each, so upserts are merged into one set per table.
    Within one stream (stream, scope) the last operation on an id wins, as the feed ordered them: a
    restore after a removal drops the removal, a removal after an upsert drops the upsert.
    Across streams, upserts run before removals; that is safe because a table fed by several
    streams (messages, one per folder) guards its removals (see PageBatch.removal_guard): a removal
    reported by a message's old folder never tombstones the row its new folder just wrote.
    """
    last_op: dict[tuple[str, str, str], tuple[int, _Row | None]] = {}  # (stream, scope, id) -> (batch, row)
    for index, batch in enumerate(batches):
        stream = (batch.state.stream, batch.state.scope) if batch.state else ("", "")  # no stream: write-back
        for item in batch.upserts:
            key = (*stream, item["id"])
            previous = last_op.pop(key, None)
            row = _Row(batch.scope_values, item, item["id"] in batch.partial_ids, batch.compare)
            if previous is not None and previous[1] is not None:
                earlier = previous[1]  # the same stream wrote this id twice in one call: merge in order
                row = _Row(row.scope_values, {**earlier.item, **item}, earlier.partial and row.partial, row.compare)
            last_op[key] = (index, row)
        for item_id in batch.removals:
            last_op.pop((*stream, item_id), None)
            last_op[(*stream, item_id)] = (index, None)
    upserts: dict[str, list[_Row]] = {}
    removals: list[list[str]] = [[] for _ in batches]
    for (_stream, _scope, item_id), (index, row) in last_op.items():
        if row is None:
            removals[index].append(item_id)
        else:
            upserts.setdefault(batches[index].table, []).append(row)
    return upserts, removals


def _group_removals(batches: list[PageBatch], removals: list[list[str]]
                    ) -> dict[tuple[str, tuple[str, ...]], list[tuple[str, ...]]]:
    """Removal rows per (table, guard columns): scope values, id, then the guard values."""
    groups: dict[tuple[str, tuple[str, ...]], list[tuple[str, ...]]] = {}
    for batch, removed in zip(batches, removals, strict=True):
        if not removed:
            continue
        guard = batch.removal_guard or {}
        scope = tuple(batch.scope_values[c] for c in TABLES[batch.table].scope_columns)
        rows = groups.setdefault((batch.table, tuple(guard)), [])
        rows.extend((*scope, item_id, *guard.values()) for item_id in removed)
    return groups


def _group_cascades(batches: list[PageBatch], removals: list[list[str]]
                    ) -> dict[tuple[str, str], list[tuple[str, ...]]]:
    """Removed keys (scope values, id) per (table, tree column), of the batches that cascade."""
    groups: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for batch, removed in zip(batches, removals, strict=True):
        if removed and batch.cascade is not None:
            scope = tuple(batch.scope_values[c] for c in TABLES[batch.table].scope_columns)
            groups.setdefault((batch.table, batch.cascade), []).extend((*scope, item_id) for item_id in removed)
    return groups


_Bound = tuple[int | None, datetime | None]  # keep rows from this commit on, or (older states) this time on


def _group_sweeps(batches: list[PageBatch]) -> dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]]:
    """Sweep rows per (table, matched columns): the column values, then what the sweep keeps (the
    round's first commit number and its start; both None for a retirement: nothing is kept)."""
    latest: dict[tuple[str, tuple[str, ...]], dict[tuple[str, ...], _Bound]] = {}
    for batch in batches:
        for matched, retiring in ((batch.sweep_unseen, False), (batch.retire, True)):
            if matched is None:
                continue
            bound = (None, None) if retiring or batch.state is None else _round_bound(batch.state)
            bounds = latest.setdefault((batch.table, tuple(matched)), {})
            # Two full rounds of one scope in one apply: the later round's view is the one that stands.
            bounds[tuple(matched.values())] = bound
    return {group: [(*values, *bound) for values, bound in bounds.items()] for group, bounds in latest.items()}


def _round_bound(state: StreamState) -> _Bound:
    if state.round_seq is not None:
        return state.round_seq, None
    assert state.round_started_at is not None
    return None, to_utc(state.round_started_at)


def _stage_upserts(spec: TableSpec, rows: list[_Row], raw: list[bytes]) -> pa.Table:
    """The rows as one Arrow table: scope columns, id, _raw (`raw`, their JSON text), _partial, _seq."""
    columns: dict[str, pa.Array] = {
        name: arrow.strings([row.scope_values[name] for row in rows]) for name in spec.scope_columns
    }
    columns["id"] = arrow.strings([row.item["id"] for row in rows])
    columns["_raw"] = arrow.encoded_strings(raw)
    columns["_partial"] = arrow.bools([row.partial for row in rows])
    columns["_compare"] = arrow.bools([row.compare for row in rows])
    # Later duplicates win, like Graph's own ordering within a delta round.
    columns["_seq"] = arrow.int64s(range(len(rows)))
    return arrow.table(columns)


def _upsert(connection: duckdb.DuckDBPyConnection, spec: TableSpec, rows: list[_Row], now: datetime,
            seq: int) -> ApplyCounts:
    """Stage the batch as Arrow, then: keys table, partial merges, counts, replace stored rows, insert new ones.

    The wide ``_raw`` text is never copied into an intermediate table: the keys table holds only
    keys and flags, and the rows are written straight from the Arrow stage through a view.
    """
    raw = [orjson.dumps(row.item) for row in rows]
    stage = _stage_upserts(spec, rows, raw)
    connection.register(_STAGE, stage)
    try:
        _create_keys_table(connection, spec)
        if any(row.compare for row in rows):
            _mark_unchanged(connection, spec, now, seq)
        inserted, updated, revived, unchanged = connection.execute(
            f"SELECT count(*) FILTER (NOT _existed), count(*) FILTER (_existed AND NOT _same), "
            f"count(*) FILTER (_was_deleted), count(*) FILTER (_same) FROM {_KEYS}"
        ).fetchall()[0]
        # Partial upserts merge into stored rows only; a full round's batches (most rows) have none,
        # and skipping the lookup that would find nothing saves a quarter of a full sync's writes.
        if updated > 0 and any(row.partial for row in rows):
            for seq, stored in _stored_raw_of_partials(connection, spec).items():
                raw[seq] = orjson.dumps({**stored, **rows[seq].item})  # see _stored_raw_of_partials
            connection.unregister(_STAGE)
            connection.register(_STAGE, stage.set_column(stage.schema.get_field_index("_raw"), "_raw",
                                                         arrow.encoded_strings(raw)))
        connection.execute(
            f"CREATE OR REPLACE TEMP VIEW {_MERGED} AS "
            f"SELECT {', '.join('k.' + ident(c) for c in spec.key_columns)}, k._existed, s._raw::JSON AS _raw "
            f"FROM {_STAGE} AS s JOIN {_KEYS} AS k ON k._seq = s._seq WHERE NOT k._same"
        )
        _replace_rows(connection, spec, now, seq, stored=updated > 0)
    finally:
        connection.execute(f"DROP VIEW IF EXISTS {_MERGED}")
        connection.execute(f"DROP TABLE IF EXISTS {_KEYS}")
        connection.unregister(_STAGE)
    return ApplyCounts(upserted=inserted + updated, inserted=inserted, updated=updated, revived=revived,
                       unchanged=unchanged)


def _create_keys_table(connection: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    """One row per distinct key (the last occurrence wins), with whether it is stored already.

    Deduplicated here even though the engine collapses pages by id: a stored row must not be
    written twice by one statement, and the flags must be taken before anything is written.
    Only keys and flags are copied; the wide ``_raw`` stays in the Arrow stage.
    """
    keys = [ident(k) for k in spec.key_columns]
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE {_KEYS} AS "
        f"SELECT {', '.join('s.' + k for k in keys)}, s._seq, s._partial, s._compare, "
        f"t.id IS NOT NULL AS _existed, t._deleted_at IS NOT NULL AS _was_deleted, false AS _same "
        f"FROM (SELECT {', '.join(keys)}, _seq, _partial, _compare FROM {_STAGE} "
        f"QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)} ORDER BY _seq DESC) = 1) AS s "
        f"LEFT JOIN {ident(spec.name)} AS t ON {_key_match(spec, 's')}"
    )


def _mark_unchanged(connection: duckdb.DuckDBPyConnection, spec: TableSpec, now: datetime, seq: int) -> None:
    """Live stored rows whose ``_raw`` equals the new object's text: flagged ``_same`` in the keys
    table (they are not rewritten) and given this commit's sync marks, which a sweep reads."""
    connection.execute(
        f"UPDATE {_KEYS} AS k SET _same = true FROM {_STAGE} AS s, {ident(spec.name)} AS t "
        f"WHERE s._seq = k._seq AND k._compare AND k._existed AND NOT k._was_deleted AND {_key_match(spec, 'k')} "
        "AND t._raw::VARCHAR = s._raw")
    connection.execute(
        f"UPDATE {ident(spec.name)} AS t SET _synced_seq = $seq, _synced_at = $now FROM {_KEYS} AS k "
        f"WHERE k._same AND {_key_match(spec, 'k')}", {"seq": seq, "now": now})


def _stored_raw_of_partials(connection: duckdb.DuckDBPyConnection, spec: TableSpec) -> dict[int, dict[str, Any]]:
    """The stored ``_raw`` of every partial upsert of a stored row, by the row's ``_seq``.

    The caller merges the partial over it: a Graph partial replaces whole top-level properties and a
    null there means "now null", so the merge is a plain top-level dict update (not
    json_merge_patch, which merges nested objects key by key and drops null members). A partial for
    a row not stored yet is inserted as it is. Reading the stored ``_raw`` costs the same for 100
    rows as for all of them (each touched row group's compressed block is read whole): ~50 ms at
    100k messages.
    """
    rows = connection.execute(
        f"SELECT k._seq, t._raw FROM {_KEYS} AS k JOIN {ident(spec.name)} AS t ON {_key_match(spec, 'k')} "
        "WHERE k._partial AND k._existed"
    ).fetchall()
    return {seq: orjson.loads(stored) for seq, stored in rows}


def _replace_rows(connection: duckdb.DuckDBPyConnection, spec: TableSpec, now: datetime, seq: int,
                  stored: bool) -> None:
    """Write the merged rows, computing every flattened column from ``_raw`` in SQL.

    A changed row is deleted and inserted again rather than updated in place. Every column of it
    changes, and DuckDB updates wide rows slowly and folds them slower still: at 1,000 changed rows
    of a 100k-message table, UPDATE took 0.11 s plus 0.24 s of checkpoint (every compressed column
    of every touched row group is rewritten), DELETE + INSERT 0.04 s plus 0.03 s, and its log
    replays several times faster. (It was also 3-5x faster than ``INSERT ... ON CONFLICT DO UPDATE``.)
    Both happen in the apply's one transaction, so no reader ever sees the row missing. The keys
    table, built before anything is written, says which rows are stored.
    """
    expressions, from_clause = flattening_select(spec, _MERGED)
    graph_names = [name for name in spec.graph_columns if name != "id"]
    key_names = list(spec.key_columns)
    flattened = ", ".join(
        [*(ident(k) for k in key_names), *(f"{e} AS {ident(n)}" for e, n in zip(expressions, graph_names, strict=True))]
    )
    target_columns = ", ".join(ident(c) for c in [*key_names, *graph_names, "_raw", "_synced_at", "_deleted_at",
                                                  "_synced_seq"])
    if stored:
        connection.execute(
            f"DELETE FROM {ident(spec.name)} AS t USING {_KEYS} AS k "
            f"WHERE k._existed AND NOT k._same AND {_key_match(spec, 'k')}")
    connection.execute(
        f"INSERT INTO {ident(spec.name)} ({target_columns}) "
        f"SELECT {flattened}, _raw, $now, NULL, $seq FROM {from_clause}",
        {"now": now, "seq": seq},
    )


def _key_match(spec: TableSpec, other: str) -> str:
    """The condition matching a stored row `t` to the row aliased `other` on the table's key."""
    return " AND ".join(f"t.{ident(k)} = {other}.{ident(k)}" for k in spec.key_columns)


def _staged_match(columns: list[str], rows: list[tuple[Any, ...]]) -> tuple[pa.Table, str]:
    """Rows of string values as an Arrow table (columns c0, c1, ...), and the condition matching a
    target row `t` to a staged row `r` on those columns."""
    names = [f"c{i}" for i in range(len(columns))]
    staged = arrow.table({name: arrow.strings([row[i] for row in rows]) for i, name in enumerate(names)})
    condition = " AND ".join(f"t.{ident(col)} = r.{name}" for col, name in zip(columns, names, strict=True))
    return staged, condition


def _tombstone_removed(connection: duckdb.DuckDBPyConnection, spec: TableSpec, guard_columns: tuple[str, ...],
                       removed: list[tuple[str, ...]], now: datetime) -> int:
    """One UPDATE for all removals of a table: match the key, and the guard columns when given."""
    staged, condition = _staged_match([*spec.scope_columns, "id", *guard_columns], removed)
    return _update_from_staged(
        connection, _REMOVED, staged, now,
        f"UPDATE {ident(spec.name)} AS t SET _deleted_at = $now "
        f"FROM (SELECT DISTINCT * FROM {_REMOVED}) AS r WHERE {condition} AND t._deleted_at IS NULL")


def _tombstone_below(connection: duckdb.DuckDBPyConnection, spec: TableSpec, column: str,
                     removed: list[tuple[str, ...]], now: datetime) -> int:
    """Tombstone the live rows below the removed ones in the tree `column` draws, however deep."""
    scope = list(spec.scope_columns)
    staged, _ = _staged_match([*scope, "id"], removed)
    names = staged.column_names
    same_scope = "".join(f" AND c.{ident(s)} = b.{ident(s)}" for s in scope)
    top = ", ".join(f"r.{name} AS {ident(col)}" for name, col in zip(names, [*scope, "id"], strict=True))
    keys = ", ".join(ident(c) for c in [*scope, "id"])
    below = (f"WITH RECURSIVE below({keys}) AS (SELECT {top} FROM {_REMOVED} AS r UNION "
             f"SELECT {', '.join(f'c.{ident(c)}' for c in [*scope, 'id'])} FROM {ident(spec.name)} AS c "
             f"JOIN below AS b ON c.{ident(column)} = b.id{same_scope} "
             "WHERE c._deleted_at IS NULL OR c._deleted_at = $now) ")
    match = " AND ".join(f"t.{ident(c)} = d.{ident(c)}" for c in [*scope, "id"])
    return _update_from_staged(
        connection, _REMOVED, staged, now,
        f"UPDATE {ident(spec.name)} AS t SET _deleted_at = $now FROM ({below}SELECT DISTINCT * FROM below) AS d "
        f"WHERE {match} AND t._deleted_at IS NULL")


def _sweep_unseen(connection: duckdb.DuckDBPyConnection, spec: TableSpec, columns: tuple[str, ...],
                  sweeps: list[tuple[Any, ...]], now: datetime) -> int:
    """Tombstone live rows a full round did not see (written before the round's first commit), and
    every live row of a retired scope, for all the rounds that ended in this apply, in one UPDATE."""
    staged, condition = _staged_match(list(columns), [row[:-2] for row in sweeps])
    bounds = arrow.table({"keep_seq": arrow.int64s([row[-2] for row in sweeps]),
                          "keep_at": arrow.timestamps([row[-1] for row in sweeps])})
    for name in staged.column_names:  # a tenant-wide table's sweep matches no column
        bounds = bounds.append_column(name, staged.column(name))
    staged, condition = bounds, condition or "true"
    return _update_from_staged(
        connection, _SWEEPS, staged, now,
        f"UPDATE {ident(spec.name)} AS t SET _deleted_at = $now FROM {_SWEEPS} AS r "
        f"WHERE {condition} AND t._deleted_at IS NULL AND CASE "
        "WHEN r.keep_seq IS NOT NULL THEN coalesce(t._synced_seq, 0) < r.keep_seq "
        "WHEN r.keep_at IS NOT NULL THEN t._synced_at < r.keep_at ELSE true END")


def _update_from_staged(connection: duckdb.DuckDBPyConnection, name: str, staged: pa.Table, now: datetime,
                        update: str) -> int:
    """Run an UPDATE that reads the staged rows under `name`; the number of rows it changed."""
    connection.register(name, staged)
    try:
        row = connection.execute(update, {"now": now}).fetchone()
    finally:
        connection.unregister(name)
    return int(row[0]) if row else 0


def _store_states(connection: duckdb.DuckDBPyConnection, states: list[StreamState]) -> None:
    # The last state given for a (stream, scope) is the one that stands.
    latest = {(state.stream, state.scope): state for state in states}
    if not latest:
        return
    rows = list(latest.values())
    staged = arrow.table(
        {
            "stream": arrow.strings([s.stream for s in rows]),
            "scope": arrow.strings([s.scope for s in rows]),
            "link": arrow.strings([s.link for s in rows]),
            "link_kind": arrow.strings([s.link_kind for s in rows]),
            "round_started_at": arrow.timestamps([s.round_started_at for s in rows]),
            "updated_at": arrow.timestamps([s.updated_at for s in rows]),
            "round_seq": arrow.int64s([s.round_seq for s in rows]),
            "window_start": arrow.timestamps([s.window_start for s in rows]),
            "window_end": arrow.timestamps([s.window_end for s in rows]),
        }
    )
    connection.register(_STATES, staged)
    try:
        connection.execute(
            "INSERT INTO _sync_state (stream, scope, link, link_kind, round_started_at, updated_at, round_seq, "
            "window_start, window_end) SELECT stream, scope, link, link_kind, round_started_at, updated_at, "
            f"round_seq, window_start, window_end FROM {_STATES} ON CONFLICT (stream, scope) DO UPDATE SET "
            "link = excluded.link, link_kind = excluded.link_kind, round_started_at = excluded.round_started_at, "
            "updated_at = excluded.updated_at, round_seq = excluded.round_seq, "
            "window_start = excluded.window_start, window_end = excluded.window_end"
        )
    finally:
        connection.unregister(_STATES)
