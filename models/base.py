"""The one mechanism that ties a warehouse column to the Graph JSON it comes from.

Every Graph-backed column is declared with :func:`graph_field` (or :func:`graph_key` /
:func:`scope_key` for key columns). The helper stores, in the SQLAlchemy column's ``info``:

- ``sql_type``: the DuckDB type of the column (``VARCHAR``, ``BOOLEAN``, ``BIGINT``, ``DOUBLE``,
  ``TIMESTAMPTZ``, ``TIMESTAMP`` or ``JSON``); the DDL and the extraction casts both use it.
- ``graph_path``: the JSON path inside the Graph object, as a tuple of keys
  (default: the camelCase of the column name), or ``None`` for scope columns.
- ``facet``: true for a BOOLEAN meaning "this object is present" (:func:`graph_facet`).
- ``role``: ``"scope"`` (supplied by the sync engine, not the JSON), ``"graph"`` or ``"meta"``.
- ``compression``: ``"zstd"`` for long text (``_raw``, JSON columns, message bodies), else DuckDB's
  choice. DuckDB's default analysis (FSST/dictionary) suits short repeated strings but spent more
  than half of a full sync's write time on long documents; zstd cut the messages table's
  write cost 2.4x and its size 4x (measured on 100k simulated messages).

The bookkeeping columns ``_raw``, ``_synced_at`` and ``_deleted_at`` come from :class:`GraphTable`.
Their Python attribute names have no leading underscore because pydantic reserves those for
private attributes; the SQL column names are the ones from INTERFACE.md.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

VARCHAR = "VARCHAR"
BOOLEAN = "BOOLEAN"
BIGINT = "BIGINT"
DOUBLE = "DOUBLE"
TIMESTAMPTZ = "TIMESTAMPTZ"  # Graph *DateTime strings carry an offset ("...Z")
TIMESTAMP = "TIMESTAMP"  # dateTimeTimeZone.dateTime has none; its zone sits in a sibling column
JSON = "JSON"

# SQLAlchemy types, so the models stay usable with SQLModel sessions too.
SA_TYPES: dict[str, Any] = {
    VARCHAR: sa.String,
    BOOLEAN: sa.Boolean,
    BIGINT: sa.BigInteger,
    DOUBLE: sa.Double,
    TIMESTAMPTZ: lambda: sa.DateTime(timezone=True),
    TIMESTAMP: sa.DateTime,
    JSON: sa.JSON,
}

GraphPath = tuple[str, ...]


def snake_to_camel(name: str) -> str:
    """``received_date_time`` -> ``receivedDateTime`` (the Graph property naming)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _as_path(path: str | GraphPath) -> GraphPath:
    # A dotted string is the common case; a tuple is needed only for keys that contain dots
    # themselves, like "@microsoft.graph.downloadUrl".
    return tuple(path.split(".")) if isinstance(path, str) else tuple(path)


ZSTD = "zstd"


def _column_info(role: str, sql_type: str, path: GraphPath | None, facet: bool = False,
                 long_text: bool = False) -> dict[str, Any]:
    compression = ZSTD if long_text or sql_type == JSON else None
    return {"role": role, "sql_type": sql_type, "graph_path": path, "facet": facet, "compression": compression}


def graph_field(sql_type: str = VARCHAR, path: str | GraphPath | None = None, long_text: bool = False) -> Any:
    """A nullable column filled from the Graph object.

    ``path`` defaults to the camelCase of the attribute name; it is resolved later by
    :func:`models.registry.build_spec`, because the attribute name is not known here.
    ``long_text`` marks free text that is usually long (a message body), stored zstd-compressed.
    """
    return Field(
        default=None,
        nullable=True,  # `Any` annotations (JSON columns) would otherwise become NOT NULL
        sa_type=SA_TYPES[sql_type](),
        sa_column_kwargs={"info": _column_info("graph", sql_type, _as_path(path) if path else None,
                                               long_text=long_text)},
    )


def graph_facet(path: str | GraphPath) -> Any:
    """A BOOLEAN that is true when the object at ``path`` is present and not null.

    Graph marks kinds of item with facets (driveItem ``folder``, ``root``, ``package``): the
    presence of the object is the fact, its content may be empty.
    """
    return Field(
        default=None,
        sa_type=sa.Boolean(),
        sa_column_kwargs={"info": _column_info("graph", BOOLEAN, _as_path(path), facet=True)},
    )


def graph_key() -> Any:
    """The Graph ``id``: part of every primary key."""
    return Field(
        primary_key=True,
        sa_type=sa.String(),
        sa_column_kwargs={"info": _column_info("graph", VARCHAR, ("id",))},
    )


def scope_key() -> Any:
    """A scope column (``user_id``, ``team_id``, ...): part of the key, supplied by the sync engine."""
    return Field(
        primary_key=True,
        sa_type=sa.String(),
        sa_column_kwargs={"info": _column_info("scope", VARCHAR, None)},
    )


def _meta_field(column_name: str, sql_type: str, nullable: bool) -> Any:
    return Field(
        default=None,
        nullable=nullable,
        sa_type=SA_TYPES[sql_type](),
        sa_column_kwargs={"name": column_name, "info": _column_info("meta", sql_type, None)},
    )


class GraphTable(SQLModel):
    """Columns every warehouse table has besides its Graph columns (see INTERFACE.md)."""

    # The whole last-seen Graph object: columns are always recomputable from it.
    raw: Any = _meta_field("_raw", JSON, nullable=False)
    # Naive UTC, when this row was last written by a sync.
    synced_at: Any = _meta_field("_synced_at", TIMESTAMP, nullable=False)
    # Naive UTC; NULL while the item exists in Graph.
    deleted_at: Any = _meta_field("_deleted_at", TIMESTAMP, nullable=True)
