"""The write-back queue: a SQLite file beside the warehouse (`graphsync.duckdb` -> `graphsync.queue.sqlite`).

Why not tables in the DuckDB file: DuckDB lets one process write a file at a time, and a long sync
holds it for minutes, so an enqueue would wait behind it. SQLite in WAL mode lets any number of
processes enqueue and update actions concurrently, each commit taking a lock for microseconds and
surviving a crash (synchronous=FULL). The sync never opens it; the write-back run reads it and
writes its local effects into the warehouse in short locked transactions of its own.

Every change of status is recorded in `writeback_status_history`, in the same transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, create_engine, func, select

from models.writeback import FAILED, PENDING, RUNNING, STATUSES, Action, Attempt, StatusChange
from warehouse.errors import WarehouseError


def queue_path(db_path: str | Path) -> Path:
    """The queue file of a warehouse: beside it, same stem."""
    path = Path(db_path)
    return path.with_name(f"{path.stem}.queue.sqlite")


@dataclass(frozen=True)
class Enqueued:
    action_id: int
    key: str
    new: bool  # False: an action with this key was already queued, and is left as it is


@dataclass
class Outcome:
    """Where one action ends after an attempt (or without one: a failed dependency)."""

    action_id: int
    status: str
    attempt: Attempt | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    detail: str | None = None  # for the status history, where there is no error (defaults to the error)


def _now() -> datetime:
    return datetime.now(UTC)


class ActionQueue:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"cannot create the folder of the write-back queue {self.path}: "
                                 f"{exc.strerror or exc}") from None
        self.engine = create_engine(f"sqlite:///{self.path}", connect_args={"timeout": 30})
        sa.event.listen(self.engine, "connect", _pragmas)
        try:
            SQLModel.metadata.create_all(self.engine, tables=[Action.__table__, StatusChange.__table__,  # type: ignore[list-item]
                                                              Attempt.__table__])  # type: ignore[list-item]
        except sa.exc.DatabaseError as exc:
            raise WarehouseError(f"{self.path} is not a graphsync write-back queue: {exc.orig}") from None

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
            except sa.exc.OperationalError as exc:
                raise WarehouseError(f"write-back queue {self.path}: {exc.orig}") from None

    # -- enqueue -----------------------------------------------------------------------------------

    def enqueue(self, actions: list[Action]) -> list[Enqueued]:
        """Queue every action in one transaction; a key already queued keeps its action."""
        now = _now()
        out = []
        with self.session() as session:
            # BEGIN IMMEDIATE: the key check and the inserts see no other enqueue in between.
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            keys = [a.key for a in actions]
            existing = {a.key: a for a in session.exec(select(Action).where(Action.key.in_(keys)))}  # type: ignore[attr-defined]
            for action in actions:
                if action.key in existing:
                    out.append(Enqueued(existing[action.key].id or 0, action.key, False))
                    continue
                action.created_at = action.updated_at = now
                session.add(action)
                session.flush()
                session.add(StatusChange(action_id=action.id, status=PENDING, at=now))
                existing[action.key] = action
                out.append(Enqueued(action.id or 0, action.key, True))
            session.commit()
        return out

    def known_keys(self, keys: Iterable[str]) -> dict[str, Action]:
        wanted = list(set(keys))
        if not wanted:
            return {}
        with self.session() as session:
            return {a.key: a for a in session.exec(select(Action).where(Action.key.in_(wanted)))}  # type: ignore[attr-defined]

    # -- status ------------------------------------------------------------------------------------

    def set_status(self, action_id: int, status: str, *, detail: str | None = None,
                   result: dict[str, Any] | None = None, error: str | None = None) -> Action:
        assert status in STATUSES
        with self.session() as session:
            action = self._load(session, [action_id])[action_id]
            self._set(session, action, status, detail=detail or error, result=result, error=error)
            session.commit()
            return action

    @staticmethod
    def _load(session: Session, ids: list[int]) -> dict[int, Action]:
        """The actions of these ids, in one query; an unknown id is an error."""
        found = {a.id or 0: a for a in session.exec(select(Action).where(Action.id.in_(ids)))}  # type: ignore[union-attr]
        missing = set(ids) - set(found)
        if missing:
            raise LookupError(f"no write-back action {min(missing)}")
        return found

    @staticmethod
    def _set(session: Session, action: Action, status: str, *, detail: str | None,
             result: dict[str, Any] | None, error: str | None) -> Action:
        now = _now()
        action.status, action.updated_at, action.error = status, now, error
        if result is not None:
            action.result = result
        session.add(action)
        session.add(StatusChange(action_id=action.id, status=status, at=now, detail=detail))
        return action

    def begin_attempts(self, attempts: list[tuple[int, Attempt]]) -> None:
        """Before sending: each action `running` with an attempt that has no answer yet, in one commit.
        An action found `running` later may have reached Graph (see pipelines/writeback/replay.py)."""
        now = _now()
        with self.session() as session, session.no_autoflush:
            actions = self._load(session, [action_id for action_id, _ in attempts])
            for action_id, attempt in attempts:
                action = actions[action_id]
                action.status, action.updated_at, action.attempts = RUNNING, now, action.attempts + 1
                session.add(action)
                session.add(StatusChange(action_id=action_id, status=RUNNING, at=now))
                session.add(attempt)
            session.commit()

    def finish(self, outcomes: list[Outcome]) -> None:
        """Answers of attempts and the statuses they lead to, in one commit."""
        if not outcomes:
            return
        with self.session() as session, session.no_autoflush:
            actions = self._load(session, [outcome.action_id for outcome in outcomes])
            for outcome in outcomes:
                if outcome.attempt is not None:
                    session.add(outcome.attempt)
                self._set(session, actions[outcome.action_id], outcome.status, detail=outcome.detail or outcome.error,
                          result=outcome.result, error=outcome.error)
            session.commit()

    def counts(self) -> dict[str, int]:
        with self.session() as session:
            rows = session.exec(select(Action.status, func.count()).group_by(Action.status)).all()
        return {status: 0 for status in STATUSES} | {status: n for status, n in rows}

    def actions(self, statuses: Iterable[str] | None = None) -> list[Action]:
        with self.session() as session:
            query = select(Action).order_by(Action.id)  # type: ignore[arg-type]
            if statuses is not None:
                query = query.where(Action.status.in_(list(statuses)))  # type: ignore[attr-defined]
            return list(session.exec(query))

    def history(self, action_id: int) -> list[StatusChange]:
        with self.session() as session:
            query = select(StatusChange).where(StatusChange.action_id == action_id).order_by(StatusChange.id)  # type: ignore[arg-type]
            return list(session.exec(query))

    def attempts_of(self, action_id: int) -> list[Attempt]:
        with self.session() as session:
            return list(session.exec(select(Attempt).where(Attempt.action_id == action_id).order_by(Attempt.id)))  # type: ignore[arg-type]

    def find(self, id_or_key: str) -> Action | None:
        with self.session() as session:
            if id_or_key.isdigit():
                found = session.get(Action, int(id_or_key))
                if found is not None:
                    return found
            return session.exec(select(Action).where(Action.key == id_or_key)).first()

    def cancel(self, ids_or_keys: Iterable[str]) -> list[Action]:
        """Cancel pending actions (and those waiting on them). Anything else is refused whole."""
        targets = []
        for name in ids_or_keys:
            action = self.find(name)
            if action is None:
                raise LookupError(f"no write-back action {name!r} (an id or key from `graphsync writeback status`)")
            if action.status != PENDING:
                raise LookupError(f"action {action.id} ({action.key}) is {action.status}; only pending ones "
                                  "can be cancelled")
            targets.append(action)
        done = []
        for action in targets:
            done.append(self.set_status(action.id or 0, "cancelled", detail="cancelled by the user"))
        return done

    def retry_failed(self) -> list[Action]:
        """Failed (not conflicting, not outcome-unknown) actions go back to pending."""
        again = []
        for action in self.actions([FAILED]):
            if action.error and "outcome unknown" in action.error:
                continue  # sending it again could apply it twice: the user decides (see the note in status)
            again.append(self.set_status(action.id or 0, PENDING, detail="retry --failed"))
        return again


def _pragmas(connection: sqlite3.Connection, _record: object) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
