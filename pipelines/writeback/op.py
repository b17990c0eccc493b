"""What a write-back operation is, as data: one `Op` per POST, PATCH, PUT or DELETE of the catalogue.

The catalogue (catalogue.py) names each op exactly as the seed's operation tables do
("METHOD /path/{placeholder}"); where Graph v1.0 spells it differently the op says how it is sent.
Everything the queue checks at enqueue, and everything the replay needs to send, retry, reconcile
and apply locally, is read from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Body(Enum):
    NONE = "none"  # no request body
    JSON = "json"  # a JSON object is required
    OPTIONAL = "optional"  # a JSON object may be given (e.g. a comment on forward)
    CONTENT = "content"  # raw bytes from `content_file` (file upload)


class Retry(Enum):
    """What happens after an ambiguous failure (the request may have reached Graph, no answer came)."""

    SAFE = "safe"  # idempotent (PATCH, PUT, DELETE and reads): sent again
    TRANSACTION_ID = "transaction_id"  # event create: sent again with the same transactionId; Graph dedupes
    DRAFT = "draft"  # mail send: done as a draft marked with the action id, /send, then looked up in Sent Items
    LOOKUP = "lookup"  # a create whose result can be found afterwards by a property the action set
    NEVER = "never"  # not repeated: ends `failed` with "outcome unknown"


# The marker stamped on every draft the replay creates (a single-value extended property: one named
# property in graphsync's own property set; singlevaluelegacyextendedproperty-post-*.md). Its value is
# the action's own id, so after a lost answer the draft, or the mail it became in Sent Items, can be
# found again with `$filter=singleValueExtendedProperties/Any(ep: ep/id eq ... and ep/value eq ...)`.
MARKER_PROPERTY = "String {4f2d0e7c-3b1a-4c8e-9f5d-6a7b8c9d0e1f} Name graphsync-action"


@dataclass(frozen=True)
class Lookup:
    """How the replay finds out, after a lost answer, whether a create took effect (Retry.LOOKUP).

    One of three ways: `marked` (the create carried graphsync's marker: look for it); `path` alone (GET
    one object: found means done, 404 means not, or the reverse with `gone_means_done`); or `field`
    and `value` (list `path`, the op's own collection by default, for an item whose field equals a
    value the action set).
    """

    path: str = ""  # GET this ("" is the op's path); {placeholders} from params, {body:a/b} from the body
    field: str = ""  # `/`-path in each listed item...
    value: str = ""  # ...equal to this `/`-path of the body (a `users('id')` bind yields the id)
    marked: bool = False
    gone_means_done: bool = False  # a sent draft leaves Drafts: 404 (or isDraft false) means it was sent


class Effect(Enum):
    """What a success changes in the warehouse at once."""

    NONE = "none"  # nothing synced changes (e.g. a sharing link, a reply sent)
    UPDATE = "update"  # the row is patched with the sent properties (is_read flips at once)
    INSERT = "insert"  # the created object (the response body) is upserted
    DELETE = "delete"  # the row is tombstoned
    REFRESH = "refresh"  # the table's rows are marked for the next delta to refresh
    RESULT = "result"  # a read done with POST: only the result is stored, in the queue


@dataclass(frozen=True)
class Op:
    name: str  # exactly as in the seed: "PATCH /me/messages/{message-id}"
    family: str  # the seed's section: mail, calendar, users, teams, files
    summary: str  # the seed's description
    body: Body
    success: int  # the documented success status (200, 201, 202, 204)
    # The least privileged permissions of its doc page's Permissions table; "" where Graph does not
    # support that kind (app-only posting of chat messages, say).
    app_permission: str
    delegated_permission: str
    retry: Retry
    effect: Effect
    table: str = ""  # the warehouse table the effect lands in ("" for none)
    doc: str = ""  # the Graph doc page: api-reference/v1.0/api/<doc>.md
    # How Graph v1.0 spells it, where that differs from the name ("DELETE /groups/{team-id}").
    graph: str = ""
    success_app: int = 0  # where app-only is documented to answer otherwise (chat message PATCH: 200)
    # 202 + Location of a teamsAsyncOperation, followed to its end (for a shared channel: may be 201 too)
    asynchronous: bool = False
    lookup: Lookup | None = None  # Retry.LOOKUP: how a lost answer is settled
    # Retry.DRAFT: the op is done as this create of a marked draft, then POST .../{draft}/send.
    draft: str = ""
    note: str = ""  # anything a user must know (shown by `writeback ops`)

    def __post_init__(self) -> None:
        if (self.retry is Retry.LOOKUP) != (self.lookup is not None):
            raise ValueError(f"{self.name}: Retry.LOOKUP and a lookup go together")
        if (self.retry is Retry.DRAFT) != bool(self.draft):
            raise ValueError(f"{self.name}: Retry.DRAFT and a draft go together")

    @property
    def app_only(self) -> bool:
        """Graph allows it with application permissions."""
        return bool(self.app_permission)

    @property
    def delegated(self) -> bool:
        """Graph allows it with delegated permissions."""
        return bool(self.delegated_permission)

    @property
    def method(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.name.split(" ", 1)[1]

    @property
    def sent_as(self) -> str:
        """"METHOD /path" as sent to Graph v1.0."""
        return self.graph or self.name

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{([^}]+)\}", self.path))
