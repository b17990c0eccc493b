"""Query options shared by every list endpoint: $top, Prefer odata.maxpagesize, $select, $filter,
$orderby, $count and server-driven paging through @odata.nextLink."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from connectors.simulator.http import ApiError, Request, Response, bad_request, json_response
from connectors.simulator.store import Collection, Item


@dataclass(frozen=True)
class PageLimits:
    default: int
    maximum: int
    top_error: Callable[[int], ApiError] | None = None  # None: values above the maximum are capped


def outlook_limits(default: int = 10, maximum: int = 1000) -> PageLimits:
    return PageLimits(default, maximum)


def directory_limits() -> PageLimits:
    # The directory rejects $top=1000 rather than capping it (Q&A 1129204).
    return PageLimits(100, 999, lambda n: ApiError(
        400, "Request_UnsupportedQuery", f"Invalid page size specified: '{n}'. Must be between 1 and 999 inclusive."))


def teams_limits(default: int = 20) -> PageLimits:
    return PageLimits(default, 50, lambda n: ApiError(
        400, "BadRequest", f"The page size '{n}' is invalid; $top must be between 1 and 50."))


def page_size(req: Request, limits: PageLimits) -> int:
    """$top wins over Prefer: odata.maxpagesize; both are bounded by the resource's maximum."""
    top = req.query.get("$top")
    if top is not None:
        if not top.isdigit() or int(top) < 1:
            raise bad_request(f"Invalid value '{top}' for $top.", "BadRequest")
        n = int(top)
        if n > limits.maximum:
            if limits.top_error is not None:
                raise limits.top_error(n)
            return limits.maximum
        return n
    pref = req.prefer.get("odata.maxpagesize")
    if pref and pref.isdigit():
        return max(1, min(int(pref), limits.maximum))
    return limits.default


def select(obj: dict, req: Request) -> dict:
    if EXTENDED in obj:
        obj = _extended_properties(obj, req.query.get("$expand") or "")
    fields = req.query.get("$select")
    if not fields:
        return obj
    wanted = {f.strip() for f in fields.split(",")} | {"id", "@odata.type", "@odata.etag", "@removed"}
    return {k: v for k, v in obj.items() if k in wanted}


# Extended properties are returned only when expanded, and then only those the expand's $filter names
# (singlevaluelegacyextendedproperty-get.md: `$expand=singleValueExtendedProperties($filter=id eq '...')`).
EXTENDED = "singleValueExtendedProperties"
_EXPAND = re.compile(rf"{EXTENDED}(?:\(\s*\$filter\s*=\s*(?P<filter>.*)\))?", re.IGNORECASE)


def _extended_properties(obj: dict, expand: str) -> dict:
    shown = {k: v for k, v in obj.items() if k != EXTENDED}
    wanted = next((m for m in (_EXPAND.fullmatch(part.strip()) for part in _top_level(expand, ",")) if m), None)
    if wanted is not None:
        predicate = compile_filter(wanted.group("filter"))
        shown[EXTENDED] = [p for p in obj[EXTENDED] or [] if predicate is None or predicate(p)]
    return shown


# -- $filter / $orderby: the subset Graph clients commonly send --------------------------------------
_CLAUSE = re.compile(
    r"^\s*(?:(?P<fn>startswith|endswith|contains)\(\s*(?P<fprop>[\w/]+)\s*,\s*'(?P<fval>(?:[^']|'')*)'\s*\)"
    r"|(?P<prop>[\w/$]+)\s+(?P<op>eq|ne|gt|ge|lt|le)\s+(?P<val>'(?:[^']|'')*'|[^\s)]+))\s*$",
    re.IGNORECASE,
)


# A lambda over a collection property: resourceProvisioningOptions/Any(x:x eq 'Team')
# (concepts/teams-list-all-teams.md), or over objects, singleValueExtendedProperties/Any(ep: ep/id eq
# '...' and ep/value eq '...') (singlevaluelegacyextendedproperty-get.md).
_LAMBDA = re.compile(r"^(?P<prop>[\w/]+)/any\(\s*(?P<var>\w+)\s*:(?P<body>.*)\)$", re.IGNORECASE | re.DOTALL)


def value_at(obj: Any, prop: str) -> Any:
    """The value at a `/`-separated property path (`from/user/id`), None where it stops."""
    for part in prop.split("/"):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _literal(raw: str) -> Any:
    if raw.startswith("'"):
        return raw[1:-1].replace("''", "'")
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    try:
        return float(raw) if "." in raw and "T" not in raw else int(raw)
    except ValueError:
        return raw  # ISO timestamps compare correctly as strings ("2026-01-01T00:00:00Z")


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if left is None or right is None:
        return False
    left_s, right_s = (str(left), str(right)) if isinstance(right, str) else (left, right)
    return {"gt": left_s > right_s, "ge": left_s >= right_s, "lt": left_s < right_s, "le": left_s <= right_s}[op]


def compile_filter(expression: str | None) -> Callable[[dict], bool] | None:
    """A predicate for `a eq 'x' and b ge 2026-01-01T00:00:00Z or startswith(c,'y')` style filters."""
    if not expression:
        return None
    alternatives = []
    for disjunct in _top_level(expression, " or "):
        clauses = []
        for clause in _top_level(_trim(disjunct), " and "):
            clause = _trim(clause)
            if len(_top_level(clause, " or ")) > 1 or len(_top_level(clause, " and ")) > 1:
                clauses.append({"sub": compile_filter(clause)})  # a parenthesised group: `(a or b) and c`
                continue
            lam = _LAMBDA.match(clause)
            if lam is not None:
                var = lam.group("var")
                inner = re.sub(rf"\b{var}/", "", lam.group("body"))
                inner = re.sub(rf"\b{var}\b", "$it", inner)  # the element itself: `x eq 'Team'`
                clauses.append({"lambda": compile_filter(inner), "prop": lam.group("prop")})
                continue
            m = _CLAUSE.match(clause)
            if m is None:
                raise bad_request(f"Invalid filter clause: {clause.strip()}", "BadRequest")
            clauses.append(m.groupdict())
        alternatives.append(clauses)

    def matches(obj: dict) -> bool:
        return any(all(_clause_holds(obj, c) for c in clauses) for clauses in alternatives)

    return matches


def _top_level(text: str, separator: str) -> list[str]:
    """`text` split at `separator` (case-insensitive) where it is outside parentheses and quotes."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    lowered, sep = text.lower(), separator.lower()
    while i < len(text):
        char = text[i]
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
        elif not quoted and depth == 0 and lowered.startswith(sep, i):
            parts.append(text[start:i])
            i = start = i + len(sep)
            continue
        i += 1
    parts.append(text[start:])
    return [p for p in (part.strip() for part in parts) if p]


def _trim(text: str) -> str:
    """A clause without the parentheses that group it: a balanced outer pair, or the unmatched
    leading "(" / trailing ")" left when `(a or b)` is split at `or`. Function calls keep theirs."""
    text = text.strip()
    while text:
        if text.startswith("(") and _closing(text, 0) == len(text) - 1:
            text = text[1:-1].strip()
        elif text.endswith(")") and text.count(")") > text.count("("):
            text = text[:-1].strip()
        elif text.startswith("(") and text.count("(") > text.count(")"):
            text = text[1:].strip()
        else:
            return text
    return text


def _closing(text: str, start: int) -> int:
    """The index of the parenthesis closing the one at `start`, or -1."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return -1


def _clause_holds(obj: dict, c: dict) -> bool:
    if c.get("sub"):
        return bool(c["sub"](obj))
    if c.get("lambda"):
        return any(c["lambda"](v if isinstance(v, dict) else {"$it": v}) for v in value_at(obj, c["prop"]) or [])
    if c["fn"]:
        value = str(value_at(obj, c["fprop"]) or "").lower()
        needle = c["fval"].replace("''", "'").lower()
        return {"startswith": value.startswith, "endswith": value.endswith,
                "contains": lambda n: n in value}[c["fn"].lower()](needle)
    return _compare(value_at(obj, c["prop"]), c["op"].lower(), _literal(c["val"]))


def order_key(expression: str | None) -> tuple[Callable[[dict], Any], bool] | None:
    if not expression:
        return None
    prop, _, direction = expression.strip().partition(" ")
    return (lambda o: (value_at(o, prop) is None, value_at(o, prop) or "")), direction.strip().lower() == "desc"


# -- paging ------------------------------------------------------------------------------------------
def skiptoken(position: int) -> str:
    """An opaque $skiptoken for a position in a list (clients must not read it, nor may they)."""
    return base64.urlsafe_b64encode(f"offset:{position}".encode()).decode().rstrip("=")


def skiptoken_position(token: str | None, code: str = "BadRequest") -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(raw.removeprefix("offset:"))
    except ValueError:
        raise bad_request("The $skiptoken is malformed.", code) from None


def _next_query(req: Request, **changes: str) -> dict[str, str]:
    query = {k: v for k, v in req.query.items() if k not in ("$skiptoken", "$skip")}
    query.update(changes)
    return query


def list_response(req: Request, values: list[dict], next_query: dict[str, str] | None,
                  count: int | None = None) -> Response:
    body: dict[str, Any] = {"@odata.context": f"{req.base_url}/$metadata#{req.path.strip('/')}"}
    if count is not None and req.query.get("$count", "").lower() == "true":
        body["@odata.count"] = count
    body["value"] = values
    if next_query is not None:
        body["@odata.nextLink"] = req.link(req.path, **next_query)
    return json_response(body)


def page_collection(req: Request, coll: Collection, limits: PageLimits,
                    render: Callable[[str, Item], dict | None]) -> Response:
    """Page a collection by slot (O(page) even for a million-item folder) unless the query needs
    filtering or ordering, which materialises the matching items first."""
    if any(q in req.query for q in ("$filter", "$orderby", "$search")):
        return page_items(req, (render(k, v) for k, v in coll.items()), limits)
    size = page_size(req, limits)
    start = skiptoken_position(req.query.get("$skiptoken"))
    values: list[dict] = []
    cursor = start
    while len(values) < size and cursor < coll.slot_count:
        batch, cursor = coll.scan(cursor, size - len(values))
        values.extend(select(r, req) for r in (render(k, v) for k, v in batch) if r is not None)
    more = cursor < coll.slot_count
    count = len(coll) if req.query.get("$count") else None
    return list_response(req, values, _next_query(req, **{"$skiptoken": skiptoken(cursor)}) if more else None, count)


def page_items(req: Request, objects: Iterable[dict | None], limits: PageLimits) -> Response:
    """Page an in-memory sequence with $skip, after $filter/$orderby (Outlook lists page with $skip)."""
    items = [o for o in objects if o is not None]
    predicate = compile_filter(req.query.get("$filter"))
    if predicate is not None:
        items = [o for o in items if predicate(o)]
    ordering = order_key(req.query.get("$orderby"))
    if ordering is not None:
        items.sort(key=ordering[0], reverse=ordering[1])
    size = page_size(req, limits)
    skip_raw = req.query.get("$skip", "0")
    if not skip_raw.isdigit():
        raise bad_request(f"Invalid value '{skip_raw}' for $skip.")
    skip = int(skip_raw)
    chunk = items[skip : skip + size]
    more = skip + size < len(items)
    return list_response(req, [select(o, req) for o in chunk],
                         _next_query(req, **{"$skip": str(skip + size)}) if more else None, len(items))
