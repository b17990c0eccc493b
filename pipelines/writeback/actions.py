"""Reading and validating an action file (JSON Lines) before anything is queued.

A file is queued whole or not at all: every bad line is reported with its number and reason. An
action is checked against its op in the catalogue (placeholders, body, upload file, auth modes) and
its `@key.field` references against the file and the queue (each must name an action that exists,
and none may wait on itself).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.writeback import Action
from pipelines.writeback.catalogue import CATALOGUE
from pipelines.writeback.errors import ActionFileError
from pipelines.writeback.op import Body, Op

REFERENCE = re.compile(r"^@([^.\s]+)\.(.+)$")  # "@draft-1.id": field `id` of the result of action `draft-1`
SYNCED = "@synced"  # if_match: the etag the warehouse last synced for the item
_FIELDS = {"op", "user", "key", "params", "body", "content_file", "if_match"}


@dataclass
class Context:
    """What validation needs to know beyond the file."""

    auth: str  # "app" or "delegated"
    signed_in: set[str] = field(default_factory=set)  # UPNs (lower case) of the signed-in accounts
    queued: Callable[[Iterable[str]], set[str]] = lambda keys: set()  # keys already in the queue
    base: Path = Path(".")  # content_file paths are relative to the action file's folder


def references(value: Any) -> list[str]:
    """The action keys a params or body value refers to, anywhere inside it."""
    if isinstance(value, str):
        match = REFERENCE.match(value)
        return [match.group(1)] if match and value != SYNCED else []
    if isinstance(value, dict):
        return [key for v in value.values() for key in references(v)]
    if isinstance(value, list):
        return [key for v in value for key in references(v)]
    return []


def parse_lines(text: str, source: str, context: Context) -> list[Action]:
    """Every action of a file, validated; raises ActionFileError naming each bad line."""
    problems: list[tuple[int, str]] = []
    actions: list[Action] = []
    by_key: dict[str, int] = {}  # key -> line
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            action = _action(line, number, source, context)
        except ValueError as exc:
            problems.append((number, str(exc)))
            continue
        if action.key in by_key:
            problems.append((number, f"key {action.key!r} is also on line {by_key[action.key]}"))
            continue
        by_key[action.key] = number
        actions.append(action)
    if not actions and not problems:
        problems.append((1, "the file has no actions"))
    problems += _reference_problems(actions, by_key, context)
    if problems:
        raise ActionFileError(source, sorted(problems))
    return actions


def _action(line: str, number: int, source: str, context: Context) -> Action:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("an action is a JSON object")
    unknown = set(data) - _FIELDS
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
    name = data.get("op")
    op = CATALOGUE.get(name) if isinstance(name, str) else None
    if op is None:
        raise ValueError(f"unknown op {name!r} (see `graphsync writeback ops`)")
    user = _optional_text(data, "user")
    key = _optional_text(data, "key") or f"auto-{uuid.uuid4().hex[:12]}"
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError("params must be an object")
    missing = [p for p in op.placeholders if not isinstance(params.get(p), str) or not params[p]]
    if missing:
        raise ValueError(f"{op.name} needs params {', '.join(missing)}")
    body = data.get("body")
    content_file = _optional_text(data, "content_file")
    _check_body(op, body, content_file, context)
    if content_file is not None:
        path = (context.base / content_file).resolve()
        if not path.is_file():
            raise ValueError(f"content_file {content_file} does not exist")
        content_file = str(path)
    _check_auth(op, user, context)
    depends = list(dict.fromkeys(references(params) + references(body)))
    return Action(key=key, op=op.name, user=user, params=params, body=body, content_file=content_file,
                  if_match=_optional_text(data, "if_match"), depends_on=depends, line=number, source=source)


def _optional_text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _check_body(op: Op, body: Any, content_file: str | None, context: Context) -> None:
    if op.body is Body.CONTENT:
        if content_file is None:
            raise ValueError(f"{op.name} uploads a file: give content_file")
        return
    if content_file is not None:
        raise ValueError(f"{op.name} takes no content_file")
    if op.body is Body.JSON and body is None:
        raise ValueError(f"{op.name} needs a body")
    if body is not None and op.body is Body.NONE:
        raise ValueError(f"{op.name} takes no body")
    if body is not None and not isinstance(body, dict):
        raise ValueError("body must be a JSON object")


def _check_auth(op: Op, user: str | None, context: Context) -> None:
    as_me = op.path == "/me" or op.path.startswith("/me/")
    if context.auth == "delegated" or not op.app_only:
        if not op.delegated:
            raise ValueError(f"{op.name} is not allowed with delegated permissions; use app-only auth")
        if user is None:
            raise ValueError(f"{op.name} runs as a signed-in user: give user (a UPN)")
        if user.lower() not in context.signed_in:
            why = "" if context.auth == "delegated" else " (Graph does not allow it app-only)"
            raise ValueError(f"{op.name} needs {user} signed in{why}: run `graphsync login --user {user}`")
    elif as_me and user is None:
        raise ValueError(f"{op.name} acts on a user's own data: give user (id or UPN)")


def _reference_problems(actions: list[Action], by_key: dict[str, int], context: Context) -> list[tuple[int, str]]:
    referred = {key for a in actions for key in a.depends_on}
    queued = context.queued(referred - set(by_key))
    problems = []
    for action in actions:
        for key in action.depends_on:
            if key == action.key:
                problems.append((action.line or 0, f"@{key} refers to the action itself"))
            elif key not in by_key and key not in queued:
                problems.append((action.line or 0, f"@{key}.… refers to no action in this file or the queue"))
    graph = {a.key: [k for k in a.depends_on if k in by_key] for a in actions}
    for key in _in_cycles(graph):
        problems.append((by_key[key], f"action {key!r} waits on itself through its references"))
    return problems


def _in_cycles(graph: dict[str, list[str]]) -> list[str]:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    cyclic: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cyclic.update(path[path.index(nxt):] if nxt in path else [nxt])
            elif state.get(nxt) is None:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
    return sorted(cyclic)


def resolve(value: Any, results: dict[str, Action]) -> Any:
    """`@key.field` replaced by that field of the action's result (dotted paths go deeper)."""
    if isinstance(value, str):
        match = REFERENCE.match(value)
        if match is None or value == SYNCED:
            return value
        source = results.get(match.group(1))
        found: Any = source.result if source else None
        for step in match.group(2).split("."):
            found = found.get(step) if isinstance(found, dict) else None
        if found is None:
            raise LookupError(f"{value}: the result of {match.group(1)} has no {match.group(2)}")
        return found
    if isinstance(value, dict):
        return {k: resolve(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, results) for v in value]
    return value
