"""Which scopes each stream has: the parents' rows as the warehouse stores them, kept current during a run.

Before any Graph call, the rows of every parent stream are read once (only the columns that name a
scope: a folder's user and id, a drive's owner and id), with whether each is live, together with
the scopes that have live rows or a delta state of their own. After a parent's round, its scope's
rows are replaced by what the round saw (a full round) or updated by it (an incremental one).

A child's scopes are the distinct projections of its parent's live rows. A child scope that a
parent row once gave and no live one gives any more is *retired*: its rows are tombstoned and its
state forgotten, and so on down the plan (a deleted user's folders, their messages, the user's drive
and its items). Because the projection is compared with what the warehouse holds, not with what this
run saw removed, a run killed between the parent's tombstone and its children's retirement still
retires them next time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from models import TABLES
from pipelines.sync.engine import StreamRun
from pipelines.sync.plan import Plan, StreamSpec
from warehouse import PageBatch, StreamState, Warehouse
from warehouse.sql import ident

Row = dict[str, Any]  # column -> value, plus "_live"
Scope = dict[str, str]


@dataclass
class ScopeBook:
    plan: Plan
    selected: list[str]  # stream names this run syncs
    states: dict[str, dict[str, StreamState]]  # stream -> scope key -> state
    rows: dict[str, dict[str, list[Row]]] = field(default_factory=dict)  # parent stream -> scope key -> rows
    held: dict[str, set[str]] = field(default_factory=dict)  # child stream -> scope keys with live rows or a link
    synced: dict[str, set[str]] = field(default_factory=dict)  # parent stream -> scope keys this run synced

    # -- reading the warehouse once ----------------------------------------------------------------

    @classmethod
    def load(cls, warehouse: Warehouse, plan: Plan, selected: list[str]) -> ScopeBook:
        book = cls(plan, selected, warehouse.load_all_states())
        # Parents not synced this run (users when only messages are) give their stored rows too.
        parents = {plan[name].parent.stream for name in selected if plan[name].parent}  # type: ignore[union-attr]
        for name in [*selected, *sorted(parents - set(selected))]:
            spec = plan[name]
            if plan.children(name, selected):
                book.rows[name] = book._read_rows(warehouse, spec)
            if spec.parent is not None and name in selected:
                book.held[name] = book._read_held(warehouse, spec)
        return book

    def needed_columns(self, spec: StreamSpec) -> list[str]:
        return self.plan.row_columns(spec.name, self.selected)

    def _read_rows(self, warehouse: Warehouse, spec: StreamSpec) -> dict[str, list[Row]]:
        columns = self.needed_columns(spec)
        found: dict[str, list[Row]] = {}
        for values in warehouse.query_rows(
                f"SELECT {', '.join(map(ident, columns))}, _deleted_at IS NULL FROM {ident(spec.table)}"):
            row = {**dict(zip(columns, values, strict=False)), "_live": values[-1]}
            found.setdefault(self._key_of_row(spec, row), []).append(row)
        return found

    def _read_held(self, warehouse: Warehouse, spec: StreamSpec) -> set[str]:
        columns = [column for column, _ in spec.rows_of_scope()]
        held = {"/".join(values) for values in warehouse.query_rows(
            f"SELECT DISTINCT {', '.join(map(ident, columns))} FROM {ident(spec.table)} WHERE _deleted_at IS NULL")}
        return held | {key for key, state in self.states.get(spec.name, {}).items() if state.link}

    @staticmethod
    def _key_of_row(spec: StreamSpec, row: Row) -> str:
        by_field = {name: row[column] for column, name in spec.rows_of_scope()}
        return "/".join(str(by_field[name]) for name in spec.scope)

    # -- parents -----------------------------------------------------------------------------------

    def live_rows(self, stream: str, key: str | None = None) -> list[Row]:
        """The parent's live rows: of one scope, or of all."""
        scopes = self.rows.get(stream, {})
        chosen = scopes.values() if key is None else [scopes.get(key, [])]
        return [row for rows in chosen for row in rows if row["_live"]]

    def after_round(self, run: StreamRun) -> tuple[list[Row], list[Row]]:
        """Record what a parent's round leaves in its scope; returns (rows before, rows now). The rows
        it wrote (what a delta round reports changed; all a full round saw) are marked `_written`."""
        spec, key = run.spec, run.scope_key
        before = self.rows.setdefault(spec.name, {}).get(key, [])
        seen = {item_id: self._project(spec, run.scope, item) for item_id, item in run.seen.items()}
        now = {row["id"]: {**row, "_live": False} for row in before}
        if not run.saw_whole_scope:  # changes only: the stored rows stand unless changed or removed
            now.update({row["id"]: row for row in before if row["_live"] and row["id"] not in run.removed_ids})
        for item_id, row in seen.items():
            now[item_id] = {**now.get(item_id, {}), **{k: v for k, v in row.items() if v is not None},
                            "_written": True}
        self.rows[spec.name][key] = list(now.values())
        self.synced.setdefault(spec.name, set()).add(key)
        return before, self.rows[spec.name][key]

    def rows_synced(self, stream: str) -> list[Row]:
        """The parent's rows in the scopes this run synced (the mailboxes of `--user`, say)."""
        scopes = self.rows.get(stream, {})
        return [row for key in sorted(self.synced.get(stream, set())) for row in scopes.get(key, [])]

    def _project(self, spec: StreamSpec, scope: Scope, item: dict[str, Any]) -> Row:
        return project(spec, scope, item, self.needed_columns(spec))

    # -- children ----------------------------------------------------------------------------------

    def child_scopes(self, child: StreamSpec, rows: Iterable[Row]) -> dict[str, Scope]:
        """Distinct child scopes of these parent rows, by scope key (rows lacking a field give none)."""
        assert child.parent is not None
        marks = self.plan.others_marks(child.parent.stream)
        found: dict[str, Scope] = {}
        for row in rows:
            if child.parent.only_if and not row.get(child.parent.only_if):
                continue
            if any(row.get(column) == value for column, value in marks):
                continue  # another stream's row in the parent's table (a series among events)
            values = {name: row.get(column) for name, column in child.parent.fields}
            if all(isinstance(v, str) and v for v in values.values()):
                scope = {name: str(value) for name, value in values.items()}
                found.setdefault(child.scope_key(scope), scope)
        return found

    def to_sync(self, child: StreamSpec, rows: list[Row]) -> list[Scope]:
        """The child scopes to sync: of every live parent row, or with `changed_only` of the rows this
        run wrote and of those whose child was never synced."""
        assert child.parent is not None
        live = [row for row in rows if row["_live"]]
        if child.parent.changed_only:
            held = self.held.get(child.name, set())
            live = [row for row in live if row.get("_written") or not set(self.child_scopes(child, [row])) <= held]
        return list(self.child_scopes(child, live).values())

    def gone(self, child: StreamSpec, before: Iterable[Row], now: Iterable[Row]) -> list[Scope]:
        """Child scopes that parent rows gave and live ones no longer give, still held in the warehouse."""
        assert child.parent is not None
        if not child.parent.retires_children:
            return []
        live = self.child_scopes(child, (row for row in now if row["_live"]))
        every = self.child_scopes(child, [*before, *now])
        held = self.held.get(child.name, set())
        gone = {key: scope for key, scope in every.items() if key not in live and key in held}
        elsewhere = self._given_elsewhere(child, gone) if gone else set()
        return [scope for key, scope in gone.items() if key not in elsewhere]

    def _given_elsewhere(self, child: StreamSpec, scopes: dict[str, Scope]) -> set[str]:
        """Of these child scopes, those a live row of another scope of the parent still gives: a message
        moved to another folder keeps its attachments. Only a child whose scope leaves out some of the
        parent's scope fields (the folder) can be given by another parent scope; the rows looked at are
        those of the parent scopes that agree on the fields both share (the same mailbox)."""
        assert child.parent is not None
        parent = self.plan[child.parent.stream]
        if set(parent.scope) <= set(child.scope):
            return set()
        common = [name for name in parent.scope if name in child.scope]
        wanted = {tuple(scope[name] for name in common) for scope in scopes.values()}
        found: set[str] = set()
        for key, rows in self.rows.get(parent.name, {}).items():
            fields = dict(zip(parent.scope, key.split("/"), strict=False))
            if tuple(fields.get(name) for name in common) in wanted:
                found |= set(self.child_scopes(child, (row for row in rows if row["_live"]))) & set(scopes)
        return found

    def retire(self, spec: StreamSpec, scope: Scope) -> list[PageBatch]:
        """Batches that tombstone a scope's rows and forget its state, then its unshared children's."""
        key = spec.scope_key(scope)
        self.held.get(spec.name, set()).discard(key)
        now = datetime.now(UTC)
        batches = [PageBatch(
            table=spec.table, scope_values=spec.row_values(scope), upserts=[], partial_ids=set(), removals=[],
            removal_guard=None, state=StreamState(spec.name, key, None, "delta", None, now),
            retire={column: scope[name] for column, name in spec.rows_of_scope()})]
        rows = self.rows.get(spec.name, {}).get(key, [])
        for row in rows:
            row["_live"] = False
        for child in self.plan.children(spec.name, self.selected):
            if not self.plan.pipelined(child):
                continue  # shared children are settled once every parent scope has run (tenant.py)
            for child_scope in self.gone(child, rows, []):
                batches += self.retire(child, child_scope)
        return batches


def project(spec: StreamSpec, scope: Scope, item: dict[str, Any], columns: list[str]) -> Row:
    """A Graph object as a parent row (`columns`: see Plan.row_columns): the stream's scope columns
    from the scope, the others through the table's Graph paths."""
    table = TABLES[spec.table]
    from_scope = {column: scope[name] for column, name in spec.rows_of_scope()}
    row: Row = {"_live": True}
    for column in columns:
        if column in from_scope:
            row[column] = from_scope[column]
            continue
        value: Any = item
        for step in table.columns[column].graph_path or (column,):
            value = value.get(step) if isinstance(value, dict) else None
        row[column] = value
    return row
