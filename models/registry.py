"""``TABLES``: every warehouse table, its key, scope and column -> Graph path/type map.

Built once from the SQLModel classes, so the classes stay the single source of truth: the DDL,
the flattening SQL and the sync engine's scope handling all read this registry.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import SQLModel

from models.base import GraphPath, GraphTable, snake_to_camel

SCOPE, GRAPH, META = "scope", "graph", "meta"


@dataclass(frozen=True)
class ColumnSpec:
    name: str  # SQL column name
    sql_type: str  # DuckDB type: VARCHAR, BOOLEAN, BIGINT, DOUBLE, TIMESTAMPTZ, TIMESTAMP, JSON
    role: str  # "scope" (from the sync engine), "graph" (from the JSON) or "meta" (_raw, _synced_at, ...)
    graph_path: GraphPath | None  # keys to follow in the Graph object; None unless role == "graph"
    facet: bool = False  # BOOLEAN "object at graph_path is present"
    nullable: bool = True
    compression: str | None = None  # DuckDB compression to use ("zstd"), None: DuckDB's choice


@dataclass(frozen=True)
class TableSpec:
    name: str
    model: type[SQLModel]
    key_columns: tuple[str, ...]  # scope columns, then "id"
    scope_columns: tuple[str, ...]  # supplied by the sync engine in PageBatch.scope_values
    columns: dict[str, ColumnSpec]  # all columns, in table order: key, Graph columns, meta

    @property
    def table(self) -> sa.Table:
        return self.model.__table__  # type: ignore[attr-defined, no-any-return]

    @property
    def graph_columns(self) -> dict[str, ColumnSpec]:
        """Columns computed from ``_raw`` (including ``id``)."""
        return {name: col for name, col in self.columns.items() if col.role == GRAPH}


def _column_spec(column: sa.Column) -> ColumnSpec:
    info = column.info
    role = info["role"]
    path = info.get("graph_path")
    if role == GRAPH and path is None:
        path = (snake_to_camel(column.name),)
    return ColumnSpec(
        name=column.name,
        sql_type=info["sql_type"],
        role=role,
        graph_path=path,
        facet=bool(info.get("facet")),
        nullable=bool(column.nullable) and not column.primary_key,
        compression=info.get("compression"),
    )


def build_spec(model: type[GraphTable]) -> TableSpec:
    """Read key, scope and column specs off a SQLModel table class."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    specs = [_column_spec(column) for column in table.columns]
    scope = tuple(spec.name for spec in specs if spec.role == SCOPE)
    key = tuple(column.name for column in table.primary_key.columns)
    if set(key) != {*scope, "id"}:
        raise TypeError(f"{table.name}: primary key {key} must be the scope columns plus id")
    # Key first, then Graph columns, then bookkeeping: `SELECT *` reads naturally.
    rank = {SCOPE: 0, GRAPH: 1, META: 2}
    ordered = sorted(specs, key=lambda spec: (rank[spec.role], spec.name != "id"))
    return TableSpec(
        name=table.name,
        model=model,
        key_columns=(*scope, "id"),
        scope_columns=scope,
        columns={spec.name: spec for spec in ordered},
    )
