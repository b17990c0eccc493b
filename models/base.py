"""The one mechanism that ties a warehouse column to the Graph JSON it comes from.

Tables are declared as classes whose attributes are column declarations: :func:`graph_field` (or
:func:`graph_key` / :func:`scope_key` / :func:`graph_facet`). A declaration records:

- ``sql_type``: the DuckDB type of the column (``VARCHAR``, ``BOOLEAN``, ``BIGINT``, ``DOUBLE``,
  ``TIMESTAMPTZ`` or ``JSON``); the DDL and the extraction casts both use it. Every instant is a
  ``TIMESTAMPTZ`` (INTERFACE.md), so a session in any time zone reads it right; there is no naive
  ``TIMESTAMP`` column.
- ``zone_path``: for a Graph ``dateTimeTimeZone`` (an event's start and end: a wall-clock time and,
  beside it, the zone it is in), the path of that zone; the time is read as an instant in it.
- ``graph_path``: the JSON path inside the Graph object, as a tuple of keys
  (default: the camelCase of the column name), or ``None`` for scope columns.
- ``facet``: true for a BOOLEAN meaning "this object is present" (:func:`graph_facet`).
- ``role``: ``"scope"`` (supplied by the sync engine, not the JSON), ``"graph"`` or ``"meta"``.
- ``compression``: ``"zstd"`` for long text (``_raw``, JSON columns, message bodies), else DuckDB's
  choice. DuckDB's default analysis (FSST/dictionary) suits short repeated strings but spent more
  than half of a full sync's write time on long documents; zstd cut the messages table's
  write cost 2.4x and its size 4x (measured on 100k simulated messages).

The declarations are plain data, so a sync process loads the schema without SQLAlchemy (importing
SQLModel and building 22 model classes was half of a sync's 1 s start-up). :mod:`models.orm` derives
SQLModel classes from the same declarations for code that wants typed ORM access.

The bookkeeping columns ``_raw``, ``_synced_at`` and ``_deleted_at`` come from :class:`GraphTable`;
their attribute names have no leading underscore (pydantic reserves those for private attributes
in the derived SQLModel classes); the SQL column names are the ones from INTERFACE.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

VARCHAR = "VARCHAR"
BOOLEAN = "BOOLEAN"
BIGINT = "BIGINT"
DOUBLE = "DOUBLE"
# Every instant, Graph's and graphsync's own (_synced_at, the run log...): stored in UTC, read in any zone.
TIMESTAMPTZ = "TIMESTAMPTZ"
JSON = "JSON"
ZSTD = "zstd"

GraphPath = tuple[str, ...]


def snake_to_camel(name: str) -> str:
    """``received_date_time`` -> ``receivedDateTime`` (the Graph property naming)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _as_path(path: str | GraphPath) -> GraphPath:
    # A dotted string is the common case; a tuple is needed only for keys that contain dots
    # themselves, like "@microsoft.graph.downloadUrl".
    return tuple(path.split(".")) if isinstance(path, str) else tuple(path)


@dataclass(frozen=True)
class Declared:
    """One column as declared in a table class; :func:`models.registry.build_spec` names it."""

    role: str  # "scope" | "graph" | "meta"
    sql_type: str
    graph_path: GraphPath | None = None  # None: resolved from the attribute name (graph columns)
    facet: bool = False
    compression: str | None = None
    primary_key: bool = False
    nullable: bool = True
    column_name: str | None = None  # None: the attribute name
    zone_path: GraphPath | None = None  # dateTimeTimeZone: where the zone of this wall-clock time is


def _compression(sql_type: str, long_text: bool) -> str | None:
    return ZSTD if long_text or sql_type == JSON else None


def graph_field(sql_type: str = VARCHAR, path: str | GraphPath | None = None, long_text: bool = False,
                zone: str | GraphPath | None = None) -> Any:
    """A nullable column filled from the Graph object.

    ``path`` defaults to the camelCase of the attribute name. ``long_text`` marks free text that is
    usually long (a message body), stored zstd-compressed. ``zone`` (TIMESTAMPTZ only) is the path of
    the time zone that a wall-clock time at ``path`` is in (Graph's dateTimeTimeZone).
    """
    if zone is not None and sql_type != TIMESTAMPTZ:
        raise TypeError("only a TIMESTAMPTZ column is read in a time zone")
    return Declared("graph", sql_type, _as_path(path) if path else None, compression=_compression(sql_type, long_text),
                    zone_path=_as_path(zone) if zone else None)


def graph_facet(path: str | GraphPath) -> Any:
    """A BOOLEAN that is true when the object at ``path`` is present and not null.

    Graph marks kinds of item with facets (driveItem ``folder``, ``root``, ``package``): the
    presence of the object is the fact, its content may be empty.
    """
    return Declared("graph", BOOLEAN, _as_path(path), facet=True)


def graph_key() -> Any:
    """The Graph ``id``: part of every table's key."""
    return Declared("graph", VARCHAR, ("id",), primary_key=True, nullable=False)


def scope_key() -> Any:
    """A scope column (``user_id``, ``team_id``, ...): part of the key, supplied by the sync engine."""
    return Declared("scope", VARCHAR, primary_key=True, nullable=False)


def _meta_field(column_name: str, sql_type: str, nullable: bool) -> Any:
    return Declared("meta", sql_type, compression=_compression(sql_type, False), nullable=nullable,
                    column_name=column_name)


class GraphTable:
    """Columns every warehouse table has besides its Graph columns (see INTERFACE.md).

    Subclasses declare ``__tablename__`` and their columns; ``table=True`` in the class statement
    (kept from the SQLModel idiom) marks a class as a warehouse table.
    """

    __tablename__: ClassVar[str]
    is_table: ClassVar[bool] = False

    # The whole last-seen Graph object: columns are always recomputable from it.
    raw: Any = _meta_field("_raw", JSON, nullable=False)
    # When this row was last written by a sync.
    synced_at: Any = _meta_field("_synced_at", TIMESTAMPTZ, nullable=False)
    # When Graph reported the item removed (or its parent gone); NULL while the item exists in Graph.
    deleted_at: Any = _meta_field("_deleted_at", TIMESTAMPTZ, nullable=True)
    # The warehouse commit that last wrote this row (a sequence, see warehouse.writer): a full round's
    # sweep compares it with the commit its round began at, never clocks, which can step back.
    synced_seq: Any = _meta_field("_synced_seq", BIGINT, nullable=True)

    def __init_subclass__(cls, table: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.is_table = table
