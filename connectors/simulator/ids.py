"""Opaque identifiers, shaped like Graph's but decodable by the simulator.

Real Outlook ids are long base64 strings; clients must treat them as opaque. The simulator packs the
internal key of an object into the same kind of string so that a lazily generated item can be found
again from its id alone, without holding a lookup table for a million messages.
"""

from __future__ import annotations

import base64
import uuid

# Prefixes borrowed from real ids so logs look familiar: REST ids of Outlook items start "AAMkA",
# immutable ones "AAkAL".
_REST_PREFIX = "AAMkAD"
_IMMUTABLE_PREFIX = "AAkALg"
_PLAIN_PREFIX = "AQMkAD"


def _pack(prefix: str, *parts: object) -> str:
    raw = "|".join(str(p) for p in parts).encode()
    return prefix + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unpack(prefix: str, value: str) -> list[str] | None:
    if not value.startswith(prefix):
        return None
    body = value[len(prefix) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return raw.decode().split("|")
    except (ValueError, UnicodeDecodeError):
        return None


def opaque(*parts: object) -> str:
    """An id for objects whose id never changes (folders, calendars, chats, drive items...)."""
    return _pack(_PLAIN_PREFIX, *parts)


def unopaque(value: str) -> list[str] | None:
    return _unpack(_PLAIN_PREFIX, value)


def immutable_id(key: str) -> str:
    """The id an Outlook item keeps for life when the client sends Prefer: IdType="ImmutableId"."""
    return _pack(_IMMUTABLE_PREFIX, key)


def rest_id(key: str, moves: int) -> str:
    """The default (REST) id of an Outlook item: it changes every time the item is moved."""
    return _pack(_REST_PREFIX, key, moves)


def parse_item_id(value: str) -> tuple[str, int | None] | None:
    """(internal key, move count or None for an immutable id), or None when not one of ours."""
    parts = _unpack(_IMMUTABLE_PREFIX, value)
    if parts and len(parts) == 1:
        return parts[0], None
    parts = _unpack(_REST_PREFIX, value)
    if parts and len(parts) == 2 and parts[1].isdigit():
        return parts[0], int(parts[1])
    return None


def guid(seed: int, *parts: object) -> str:
    """A deterministic GUID, the shape of directory object ids."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"graphsync-sim/{seed}/" + "/".join(map(str, parts))))
