"""Query options of the Teams lists: paging, `$expand`, request bodies, and the `$filter` dialects
of chat messages (chat-list-messages.md), getAllMessages (chats-getallmessages.md) and channel
message delta (chatmessage-delta.md)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from connectors.simulator.http import ApiError, Request, Response, bad_request
from connectors.simulator.teams.model import parse_time
from connectors.simulator.tenant import Tenant
from connectors.simulator.views import (
    PageLimits,
    compile_filter,
    list_response,
    page_size,
    select,
    skiptoken,
    skiptoken_position,
    teams_limits,
    value_at,
)

# user@odata.bind names the user as users('{id}') or users/{id} (chat-post-members.md uses both forms).
_BIND_USER = re.compile(r"users(?:\('([^']+)'\)|/([^/?#()']+))", re.IGNORECASE)
_DATE_CLAUSE = re.compile(r"^\s*(\w+)\s+(gt|ge|lt|le|eq)\s+'?([^'\s]+)'?\s*$", re.IGNORECASE)
_ATOM = re.compile(r"^\s*([\w/]+)\s+(eq|ne|gt|ge|lt|le)\s+('(?:[^']|'')*'|[^\s()]+)\s*$", re.IGNORECASE)
Predicate = Callable[[dict], bool]


# -- paging ------------------------------------------------------------------------------------------
def page(req: Request, objects: Iterable[dict], limits: PageLimits | None = None, *,
         filterable: bool = False) -> Response:
    """Page a Teams list with $top (bounded by `limits`, by default lists without a documented cap) and
    an opaque $skiptoken; `$count=true` adds @odata.count (teams-list.md)."""
    items = list(objects)
    if filterable:
        predicate = compile_filter(req.query.get("$filter"))
        if predicate is not None:
            items = [o for o in items if predicate(o)]
    size = page_size(req, limits or plain_limits())
    start = skiptoken_position(req.query.get("$skiptoken"))
    chunk = items[start : start + size]
    next_query = None
    if start + size < len(items):
        next_query = {k: v for k, v in req.query.items() if k != "$skiptoken"}
        next_query["$skiptoken"] = skiptoken(start + size)
    return list_response(req, [select(o, req) for o in chunk], next_query, len(items))


def capped_limits() -> PageLimits:
    """Lists Graph caps at $top=50, 20 by default (chat messages, channel messages, chats)."""
    return teams_limits(20)


def plain_limits() -> PageLimits:  # lists without a documented cap (teams, channels, members)
    return PageLimits(100, 999)


def expand_options(req: Request, allowed: set[str], type_name: str) -> set[str]:
    """The navigation properties named in $expand; 400 for any other."""
    raw = req.query.get("$expand")
    wanted = {p.strip() for p in raw.split(",") if p.strip()} if raw else set()
    unknown = wanted - allowed
    if unknown:
        raise bad_request(f"Only {', '.join(sorted(allowed))} can be expanded on {type_name}, not "
                          f"'{sorted(unknown)[0]}'.")
    return wanted


def expand_replies(req: Request) -> bool:
    return "replies" in expand_options(req, {"replies"}, "channel messages")


# -- request bodies ----------------------------------------------------------------------------------
def writable(body: Any, allowed: set[str], type_name: str) -> dict:
    if not isinstance(body, dict):
        raise bad_request("Empty Payload. JSON content expected.")
    unknown = set(body) - allowed - {"@odata.type"}
    if unknown:
        raise bad_request(f"Property '{sorted(unknown)[0]}' does not exist on type 'microsoft.graph.{type_name}' "
                          "or cannot be updated.")
    return {k: v for k, v in body.items() if k in allowed}


def bound_user(tenant: Tenant, member: dict) -> str:
    """The user of a conversationMember payload: user@odata.bind, or userId."""
    raw = bind_target(member) or member.get("userId")
    if not raw:
        raise bad_request("A member must be bound to a user with 'user@odata.bind'.")
    try:
        user_id, _ = tenant.resolve_user(str(raw))
    except ApiError:
        raise ApiError(404, "NotFound", f"User '{raw}' was not found.") from None
    return user_id


def bind_target(member: dict) -> str | None:
    bind = _BIND_USER.search(str(member.get("user@odata.bind", "")))
    return (bind.group(1) or bind.group(2)) if bind else None


def message_body(body: Any) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get("body"), dict) or not body["body"].get("content"):
        raise bad_request("Message body cannot be empty.")
    if body["body"].get("contentType", "text") not in ("text", "html"):
        raise bad_request("contentType must be 'text' or 'html'.")
    return body


# -- $filter on chat messages and channel delta --------------------------------------------------------
def date_clauses(expression: str) -> list[tuple[str, str, str]]:
    """`a gt X and a lt Y` as [(property, operator, value)]; 400 on anything else."""
    clauses = []
    for part in re.split(r"\s+and\s+", expression.strip(), flags=re.IGNORECASE):
        m = _DATE_CLAUSE.match(part.strip("() "))
        if m is None:
            raise bad_request(f"Invalid filter clause: {part.strip()}")
        parse_time(m.group(3))
        clauses.append((m.group(1), m.group(2).lower(), m.group(3)))
    return clauses


_LIST_FILTER_OPS = {"lastModifiedDateTime": {"gt", "lt"}, "createdDateTime": {"lt"}}


def chat_message_query(req: Request) -> tuple[str, Predicate | None]:
    """(sort property, filter predicate or None when Graph would ignore the filter): $orderby
    lastModifiedDateTime (default) or createdDateTime, desc only; $filter only applies when $orderby
    names the same property (chat-list-messages.md)."""
    orderby = req.query.get("$orderby")
    prop, direction = "lastModifiedDateTime", "desc"
    if orderby is not None:
        prop, _, direction = orderby.strip().partition(" ")
        direction = direction.strip().lower() or "asc"
        if prop not in _LIST_FILTER_OPS:
            raise bad_request(f"$orderby is only supported on lastModifiedDateTime and createdDateTime, not '{prop}'.")
        if direction != "desc":
            raise bad_request("Only descending order is supported for $orderby on chat messages.")
    flt = req.query.get("$filter")
    if not flt or orderby is None:
        return prop, None  # ignored: $orderby must name the filtered property
    clauses = date_clauses(flt)
    if any(p != prop for p, _, _ in clauses):
        return prop, None
    for p, op, _ in clauses:
        if op not in _LIST_FILTER_OPS[p]:
            raise bad_request(f"Operator '{op}' is not supported on {p}.")
    return prop, time_predicate(clauses)


def time_predicate(clauses: list[tuple[str, str, str]]) -> Predicate:
    bounds = [(p, op, parse_time(v)) for p, op, v in clauses]

    def holds(message: dict) -> bool:
        return all(_time_holds(parse_time(message[p]), op, bound) for p, op, bound in bounds)

    return holds


def _time_holds(value: datetime, op: str, bound: datetime) -> bool:
    return {"gt": value > bound, "ge": value >= bound, "lt": value < bound, "le": value <= bound,
            "eq": value == bound}[op]


# -- $filter on getAllMessages --------------------------------------------------------------------------
# chats-getallmessages.md: the lastModifiedDateTime window (gt/lt) and these properties (eq/ne),
# combined with `and`/`or` and parentheses.
_ALL_MESSAGES_PROPS = {"messageType", "from/user/id", "from/user/userIdentityType",
                       "from/application/applicationIdentityType"}


def all_messages_filter(expression: str | None) -> Predicate:
    """A predicate for getAllMessages' $filter; 400 for any property or operator it does not take."""
    if not expression or not expression.strip():
        return lambda m: True
    predicate, rest = _parse_or(_tokens(expression))
    if rest:
        raise bad_request(f"Invalid filter clause: {' '.join(rest)}")
    return predicate


def _tokens(expression: str) -> list[str]:
    """Parentheses, `and`/`or`, and whole comparisons ("messageType ne 'x'") as tokens."""
    out: list[str] = []
    for part in re.split(r"(\(|\)|\s+and\s+|\s+or\s+)", expression, flags=re.IGNORECASE):
        token = part.strip()
        if token:
            out.append(token.lower() if token.lower() in ("and", "or") else token)
    return out


def _parse_or(tokens: list[str]) -> tuple[Predicate, list[str]]:
    left, tokens = _parse_and(tokens)
    while tokens and tokens[0] == "or":
        right, tokens = _parse_and(tokens[1:])
        left = (lambda a, b: lambda m: a(m) or b(m))(left, right)
    return left, tokens


def _parse_and(tokens: list[str]) -> tuple[Predicate, list[str]]:
    left, tokens = _parse_atom(tokens)
    while tokens and tokens[0] == "and":
        right, tokens = _parse_atom(tokens[1:])
        left = (lambda a, b: lambda m: a(m) and b(m))(left, right)
    return left, tokens


def _parse_atom(tokens: list[str]) -> tuple[Predicate, list[str]]:
    if not tokens:
        raise bad_request("Invalid filter clause: the expression ends early.")
    if tokens[0] == "(":
        inner, rest = _parse_or(tokens[1:])
        if not rest or rest[0] != ")":
            raise bad_request("Invalid filter clause: unbalanced parentheses.")
        return inner, rest[1:]
    return _comparison(tokens[0]), tokens[1:]


def _comparison(clause: str) -> Predicate:
    m = _ATOM.match(clause)
    if m is None:
        raise bad_request(f"Invalid filter clause: {clause}")
    prop, op, raw = m.group(1), m.group(2).lower(), m.group(3)
    if prop == "lastModifiedDateTime" and op in ("gt", "lt"):
        return time_predicate([(prop, op, raw)])
    if prop in _ALL_MESSAGES_PROPS and op in ("eq", "ne"):
        wanted = raw[1:-1].replace("''", "'") if raw.startswith("'") else raw
        return lambda m: (value_at(m, prop) == wanted) == (op == "eq")
    raise bad_request(f"Invalid filter clause: {clause}. getAllMessages filters on lastModifiedDateTime gt/lt and "
                      f"on {', '.join(sorted(_ALL_MESSAGES_PROPS))} eq/ne.")

