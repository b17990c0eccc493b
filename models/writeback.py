"""The write-back queue's tables: actions, their status history and every attempt to apply them.

They live in the queue file beside the warehouse (warehouse/queue.py says why), declared once here.
JSON columns hold what the action file gave (params, body) and what Graph answered (result).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

PENDING, RUNNING, SUCCEEDED, FAILED, CONFLICT, CANCELLED = (
    "pending", "running", "succeeded", "failed", "conflict", "cancelled")
STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED, CONFLICT, CANCELLED)


class Action(SQLModel, table=True):
    """One queued Graph call, as enqueued, with where it stands."""

    __tablename__ = "writeback_actions"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)  # the caller's idempotency key (one is made up when not given)
    op: str  # as named in the catalogue: "PATCH /me/messages/{message-id}"
    user: str | None = None  # whose mailbox (team, chat...) it acts as; /me is this user
    params: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    body: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    content_file: str | None = None  # uploaded as the request body (absolute path)
    if_match: str | None = None  # sent as If-Match; "@synced": the etag the warehouse last synced
    depends_on: list[str] = Field(default_factory=list, sa_type=sa.JSON)  # keys whose results it uses
    status: str = Field(default=PENDING, index=True)
    result: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)  # Graph's response body
    error: str | None = None  # one line: the Graph error, "outcome unknown", a failed dependency
    attempts: int = 0
    line: int | None = None  # its line in the file it came from
    source: str | None = None  # that file
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class StatusChange(SQLModel, table=True):
    """Every status an action went through, in order."""

    __tablename__ = "writeback_status_history"

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="writeback_actions.id", index=True)
    status: str
    at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    detail: str | None = None


class Attempt(SQLModel, table=True):
    """One request sent for an action: what Graph said and how long it took."""

    __tablename__ = "writeback_attempts"

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="writeback_actions.id", index=True)
    started_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    seconds: float | None = None
    http_status: int | None = None  # None: no answer (the outcome of this attempt is unknown)
    request_id: str | None = None  # Graph's request-id
    client_request_id: str | None = None  # ours, sent as client-request-id
    in_batch: bool = False
    error: str | None = None
