"""Settling a lost answer: did an action that may have reached Graph take effect?

An action is `running` with an unanswered attempt when its run died after sending it, or when the
connection broke after the request went out. Sending it again is harmless for idempotent ops
(Retry.SAFE) and for event creates carrying their transactionId; any other op is first looked up
in Graph, as its `Lookup` (or, for mail, the draft marker) says, and sent again only if it is not
there. What cannot be looked up ends `failed` with "outcome unknown".

Mail sent by the replay is always a marked draft first (Retry.DRAFT): the marker finds it in Drafts
(not sent yet: send it) or in Sent Items (sent: done), or nowhere (nothing happened: start over).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import quote

from connectors.graph import GraphClient, GraphError, GraphUnreachable
from models.writeback import Action
from pipelines.writeback.op import MARKER_PROPERTY, Lookup, Op, Retry


class Found(Enum):
    DONE = "done"  # it took effect: the action succeeded, with what was found as its result
    DRAFTED = "drafted"  # a DRAFT op's draft exists, unsent: send it
    ABSENT = "absent"  # nothing happened: safe to send again
    UNKNOWN = "unknown"  # cannot tell: never sent again blindly


@dataclass
class Verdict:
    found: Found
    result: dict[str, Any] | None = None
    why: str = ""


def marker(action: Action) -> str:
    """The value of the marker property on the drafts this action creates: stable across runs."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"graphsync:action:{action.key}"))


def marked(message: dict[str, Any], action: Action) -> dict[str, Any]:
    """A message body with the action's marker added to its extended properties."""
    properties = [p for p in message.get("singleValueExtendedProperties") or [] if p.get("id") != MARKER_PROPERTY]
    return {**message, "singleValueExtendedProperties": [*properties, {"id": MARKER_PROPERTY, "value": marker(action)}]}


def stamped(path: str, body: dict[str, Any] | None, action: Action) -> dict[str, Any]:
    """The body with the action's marker on the message it creates: the body itself for a POST to
    `.../messages`, its `message` for createReply, createForward and the like."""
    body = dict(body or {})
    if path.endswith("/messages"):
        return marked(body, action)
    return {**body, "message": marked(body.get("message") or {}, action)}


def draft_body(op: Op, body: dict[str, Any] | None, action: Action) -> dict[str, Any] | None:
    """The body of the marked draft a DRAFT op is done as, or None if it cannot go through a draft.

    sendMail's draft is its `message`; a reply's or forward's create action takes the same body as
    the action itself (comment, toRecipients, message). sendMail with saveToSentItems false would
    leave a copy in Sent Items if sent as a draft, so it is sent as asked, and cannot be settled.
    """
    body = dict(body or {})
    if op.draft.endswith("/messages"):
        if str(body.get("saveToSentItems", True)).lower() == "false" or not isinstance(body.get("message"), dict):
            return None
        return stamped(op.draft, body["message"], action)
    return stamped(op.draft, body, action)


def graph_path(template: str, action: Action, params: dict[str, Any], body: dict[str, Any] | None,
               as_app: bool) -> str:
    """A catalogue path with its placeholders filled: params, the acting user for {user-id},
    `{body:a/b}` from the body; `/me` is the action's user when the app acts for them."""
    if as_app and (template == "/me" or template.startswith("/me/")):
        template = f"/users/{quote(action.user or '', safe='@')}" + template[3:]
    values = {"user-id": action.user or "", **params}
    for name in re.findall(r"\{([^}]+)\}", template):
        value = _at(body, name[5:]) if name.startswith("body:") else values.get(name)
        if not value:
            raise LookupError(f"{action.op}: no value for {{{name}}}")
        template = template.replace(f"{{{name}}}", quote(str(value), safe=""))
    return template


async def settle(client: GraphClient, op: Op, action: Action, params: dict[str, Any],
                 body: dict[str, Any] | None, as_app: bool) -> Verdict:
    """Whether `action`, which may have reached Graph, took effect."""
    if op.retry in (Retry.SAFE, Retry.TRANSACTION_ID):
        return Verdict(Found.ABSENT, why="safe to send again")
    try:
        if op.retry is Retry.DRAFT:
            if draft_body(op, body, action) is None:
                return Verdict(Found.UNKNOWN, why="sent without a draft (saveToSentItems false): nothing to look up")
            return await _by_marker(client, action, as_app, drafts=True)
        if op.retry is Retry.LOOKUP and op.lookup is not None:
            return await _look_up(client, op, op.lookup, action, params, body, as_app)
    except (GraphError, GraphUnreachable) as exc:
        return Verdict(Found.UNKNOWN, why=f"the lookup failed: {exc}")
    except LookupError as exc:
        return Verdict(Found.UNKNOWN, why=str(exc))
    return Verdict(Found.UNKNOWN, why="nothing the action set can find its result again")


async def _look_up(client: GraphClient, op: Op, lookup: Lookup, action: Action, params: dict[str, Any],
                   body: dict[str, Any] | None, as_app: bool) -> Verdict:
    if lookup.marked:
        return await _by_marker(client, action, as_app, drafts=False)
    path = graph_path(lookup.path or op.path, action, params, body, as_app)
    if not lookup.field:
        try:
            item = await client.get(path)
        except GraphError as exc:
            if exc.status != 404:
                raise
            return Verdict(Found.DONE if lookup.gone_means_done else Found.ABSENT, why=f"{path}: 404")
        if lookup.gone_means_done:  # still there: done only if it is no longer a draft
            sent = item.get("isDraft") is False
            return Verdict(Found.DONE if sent else Found.ABSENT, why="sent" if sent else "still a draft")
        return Verdict(Found.DONE, item, why=f"found {path}")
    if str((body or {}).get("@microsoft.graph.conflictBehavior", "")).lower() == "rename":
        return Verdict(Found.UNKNOWN, why="with conflictBehavior rename Graph may have changed the name")
    wanted = _bound_id(_at(body, lookup.value))
    if wanted is None:
        raise LookupError(f"{action.op}: the action sets no {lookup.value} to look it up by")
    async for page in client.pages(path):
        for item in page.get("value") or []:
            if _same(_at(item, lookup.field), wanted):
                return Verdict(Found.DONE, item, why=f"found by {lookup.field}")
    return Verdict(Found.ABSENT, why=f"no item with {lookup.field} {wanted!r}")


async def _by_marker(client: GraphClient, action: Action, as_app: bool, *, drafts: bool) -> Verdict:
    """The messages carrying the action's marker, in any folder: sent (done), a draft, or none."""
    path = graph_path("/me/messages", action, {}, None, as_app)
    where = f"singleValueExtendedProperties/Any(ep: ep/id eq '{MARKER_PROPERTY}' and ep/value eq '{marker(action)}')"
    found: list[dict[str, Any]] = []
    async for page in client.pages(path, params={"$filter": where}):
        found.extend(page.get("value") or [])
    sent = [m for m in found if m.get("isDraft") is False]
    if sent:
        return Verdict(Found.DONE, sent[0], why="found in Sent Items" if drafts else "found")
    if found:
        return Verdict(Found.DRAFTED if drafts else Found.DONE, found[0], why="found in Drafts")
    return Verdict(Found.ABSENT, why="no marked message")


def _at(obj: Any, path: str) -> Any:
    for part in path.split("/"):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _bound_id(value: Any) -> Any:
    """`https://graph.microsoft.com/v1.0/users('id')` (an @odata.bind) gives `id`; anything else as is."""
    if isinstance(value, str):
        match = re.search(r"\('([^']+)'\)\s*$", value)
        if match:
            return match.group(1)
    return value


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    return bool(left == right)
