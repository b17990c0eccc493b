"""``TABLES``: every warehouse table, its key, scope and column -> Graph path/type map.

Built once from the table declarations (see :mod:`models.base`), so they stay the single source of
truth: the DDL, the flattening SQL, the sync engine's scope handling and the derived SQLModel
classes (:mod:`models.orm`) all read this registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.base import Declared, GraphPath, GraphTable, snake_to_camel

SCOPE, GRAPH, META = "scope", "graph", "meta"


@dataclass(frozen=True)
class ColumnSpec:
    name: str  # SQL column name
    sql_type: str  # DuckDB type: VARCHAR, BOOLEAN, BIGINT, DOUBLE, TIMESTAMPTZ, JSON
    role: str  # "scope" (from the sync engine), "graph" (from the JSON) or "meta" (_raw, _synced_at, ...)
    graph_path: GraphPath | None  # keys to follow in the Graph object; None unless role == "graph"
    facet: bool = False  # BOOLEAN "object at graph_path is present"
    nullable: bool = True
    compression: str | None = None  # DuckDB compression to use ("zstd"), None: DuckDB's choice
    attribute: str = ""  # the declaring class's attribute name (differs for _raw, _synced_at, _deleted_at)
    zone_path: GraphPath | None = None  # a dateTimeTimeZone's zone: the wall-clock time is read in it


@dataclass(frozen=True)
class TableSpec:
    name: str
    model: type[GraphTable]  # the declaring class
    key_columns: tuple[str, ...]  # scope columns, then "id"
    scope_columns: tuple[str, ...]  # supplied by the sync engine in PageBatch.scope_values
    columns: dict[str, ColumnSpec]  # all columns, in table order: key, Graph columns, meta

    @property
    def graph_columns(self) -> dict[str, ColumnSpec]:
        """Columns computed from ``_raw`` (including ``id``)."""
        return {name: col for name, col in self.columns.items() if col.role == GRAPH}


def _declarations(model: type[GraphTable]) -> dict[str, Declared]:
    """Attribute -> declaration, base classes' first, each class in declaration order."""
    found: dict[str, Declared] = {}
    for klass in reversed(model.__mro__):
        found.update({name: value for name, value in vars(klass).items() if isinstance(value, Declared)})
    return found


def _column_spec(attribute: str, declared: Declared) -> ColumnSpec:
    name = declared.column_name or attribute
    path = declared.graph_path
    if declared.role == GRAPH and path is None:
        path = (snake_to_camel(name),)
    return ColumnSpec(name=name, sql_type=declared.sql_type, role=declared.role, graph_path=path,
                      facet=declared.facet, nullable=declared.nullable, compression=declared.compression,
                      attribute=attribute, zone_path=declared.zone_path)


def build_spec(model: type[GraphTable]) -> TableSpec:
    """Read key, scope and column specs off a table class."""
    if not model.is_table:
        raise TypeError(f"{model.__name__} is not declared with table=True")
    declared = _declarations(model)
    specs = [_column_spec(attribute, column) for attribute, column in declared.items()]
    scope = tuple(spec.name for spec in specs if spec.role == SCOPE)
    key = tuple(spec.name for spec, column in zip(specs, declared.values(), strict=True) if column.primary_key)
    if set(key) != {*scope, "id"}:
        raise TypeError(f"{model.__tablename__}: primary key {key} must be the scope columns plus id")
    # Key first, then Graph columns, then bookkeeping: `SELECT *` reads naturally.
    rank = {SCOPE: 0, GRAPH: 1, META: 2}
    ordered = sorted(specs, key=lambda spec: (rank[spec.role], spec.name != "id"))
    return TableSpec(
        name=model.__tablename__,
        model=model,
        key_columns=(*scope, "id"),
        scope_columns=scope,
        columns={spec.name: spec for spec in ordered},
    )
