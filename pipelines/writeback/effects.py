"""What a successful action changes in the warehouse at once (the op's `effect`, see op.py).

UPDATE merges the sent properties into the row (a message marked read shows `is_read` true before
the next sync), INSERT upserts the created object Graph returned, DELETE tombstones the row. The
rows are written like a sync's partial update, outside any stream (no delta link moves), and the
next sync overwrites them with what Graph holds. An effect that cannot be written (the warehouse is
busy, the row's scope is unknown) is skipped: the action did succeed, and the next sync shows it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from models import TABLES
from models.writeback import Action
from pipelines.writeback.op import Effect, Op
from warehouse import PageBatch, Warehouse, WarehouseError


def _norm(name: str) -> str:
    """`chat_id`, `chat-id` and `chatId` are one name: a table's scope column and an op's placeholder."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


class LocalEffects:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self.skipped: list[str] = []  # why an effect was not written, per action
        self._due: list[PageBatch] = []
        self._user_ids: dict[str, str | None] = {}  # id or UPN -> user id, read once per user

    def flush(self) -> None:
        """Write the effects collected so far, in one warehouse transaction."""
        due, self._due = self._due, []
        if not due:
            return
        try:
            self.warehouse.apply(due, now=datetime.now(UTC))
        except WarehouseError as exc:
            self.skipped.append(f"{len(due)} effect(s): {exc}")

    def add(self, op: Op, action: Action, params: dict[str, Any], sent: dict[str, Any] | None,
            result: dict[str, Any]) -> bool:
        """Collect the effect of one successful action (written by `flush`)."""
        if op.effect not in (Effect.UPDATE, Effect.INSERT, Effect.DELETE) or op.table not in TABLES:
            return False
        try:
            scope = self._scope(op, action, params, result)
            target = result.get("id") if op.effect is Effect.INSERT else _target_id(op, params)
            if scope is None or not isinstance(target, str):
                self.skipped.append(f"{action.key}: its row's scope is not known; the next sync shows it")
                return False
            if op.effect is Effect.DELETE:
                batch = _batch(op.table, scope, [], set(), [target])
            elif op.effect is Effect.UPDATE:
                changed = {**(sent or {}), **{k: v for k, v in result.items() if not k.startswith("@odata.context")}}
                batch = _batch(op.table, scope, [{**changed, "id": target}], {target}, [])
            else:
                batch = _batch(op.table, scope, [result], set(), [])
            self._due.append(batch)
            return True
        except WarehouseError as exc:
            self.skipped.append(f"{action.key}: {exc}")
            return False

    def synced_etag(self, op: Op, action: Action, params: dict[str, Any]) -> str:
        """`"if_match": "@synced"`: the etag of the row as the warehouse last synced it."""
        target = _target_id(op, params)
        if op.table not in TABLES or target is None:
            raise LookupError(f"{op.name}: @synced needs an op on a synced table")
        rows = self.warehouse.query_rows(
            f'SELECT coalesce(json_extract_string(_raw, \'$."@odata.etag"\'), json_extract_string(_raw, \'$.eTag\'))'
            f" FROM {op.table} WHERE id = ?", [target])
        if not rows or rows[0][0] is None:
            raise LookupError(f"@synced: {op.table} holds no etag for {target}; sync it first")
        return str(rows[0][0])

    def _scope(self, op: Op, action: Action, params: dict[str, Any], result: dict[str, Any]) -> dict[str, str] | None:
        by_name = {_norm(k): v for k, v in params.items()}
        scope: dict[str, str] = {}
        for column in TABLES[op.table].scope_columns:
            value = self._user_id(action.user) if column == "user_id" else by_name.get(_norm(column))
            if not isinstance(value, str) or not value:
                return None
            scope[column] = value
        return scope

    def _user_id(self, user: str | None) -> str | None:
        if not user:
            return None
        if user not in self._user_ids:
            rows = self.warehouse.query_rows(
                "SELECT id FROM users WHERE id = ? OR lower(user_principal_name) = lower(?)", [user, user])
            self._user_ids[user] = str(rows[0][0]) if rows else None
        return self._user_ids[user]


def _target_id(op: Op, params: dict[str, Any]) -> str | None:
    """The id of the object an op acts on: its last placeholder (`/me/messages/{message-id}`)."""
    if not op.placeholders:
        return None
    value = params.get(op.placeholders[-1])
    return value if isinstance(value, str) else None


def _batch(table: str, scope: dict[str, str], upserts: list[dict[str, Any]], partial: set[str],
           removals: list[str]) -> PageBatch:
    return PageBatch(table=table, scope_values=scope, upserts=upserts, partial_ids=partial, removals=removals,
                     removal_guard=None, state=None)
