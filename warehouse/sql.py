"""SQL text derived from the model registry: identifiers, JSON paths, and the flattening select.

The flattened columns are computed inside DuckDB from ``_raw``: each row's JSON is parsed twice
per statement (once for all string-valued paths, once for all JSON-valued paths) using the list
form of ``json_extract_string``/``json_extract``, rather than once per column.
"""

from __future__ import annotations

from models.base import JSON, VARCHAR, GraphPath
from models.registry import ColumnSpec, TableSpec


def ident(name: str) -> str:
    """Quote an identifier; Graph-derived names include SQL keywords (type, label, size, ...)."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def json_path(path: GraphPath) -> str:
    """('from', 'emailAddress', 'address') -> $."from"."emailAddress"."address" (keys may contain dots)."""
    for key in path:
        if '"' in key:
            raise ValueError(f"unsupported JSON key {key!r}")
    return "$" + "".join(f'."{key}"' for key in path)


def _uses_json_extract(column: ColumnSpec) -> bool:
    return column.sql_type == JSON or column.facet


def flattening_select(spec: TableSpec, source: str) -> tuple[list[str], str]:
    """Return (expressions per Graph column except id, FROM clause) computing them from ``_raw``.

    ``source`` is a relation with a ``_raw`` JSON column; the FROM clause adds the parsed
    ``_s`` (VARCHAR[]) and ``_j`` (JSON[]) lists that the expressions index into.
    """
    columns = [column for name, column in spec.graph_columns.items() if name != "id"]
    string_paths = [column.graph_path for column in columns if not _uses_json_extract(column)]
    json_paths = [column.graph_path for column in columns if _uses_json_extract(column)]
    expressions = []
    string_index = json_index = 0
    for column in columns:
        if _uses_json_extract(column):
            json_index += 1
            expressions.append(_json_expression(column, f"_j[{json_index}]"))
        else:
            string_index += 1
            expressions.append(_string_expression(column, f"_s[{string_index}]"))
    parsed = []
    if string_paths:
        parsed.append(f"json_extract_string(_raw, {_path_list(string_paths)}) AS _s")
    if json_paths:
        parsed.append(f"json_extract(_raw, {_path_list(json_paths)}) AS _j")
    from_clause = f"(SELECT *{''.join(', ' + p for p in parsed)} FROM {source})"
    return expressions, from_clause


def _path_list(paths: list[GraphPath | None]) -> str:
    return "[" + ", ".join(literal(json_path(path)) for path in paths if path is not None) + "]"


def _json_expression(column: ColumnSpec, value: str) -> str:
    if column.facet:
        return f"coalesce({value} <> 'null'::JSON, false)"
    # A JSON null is stored as SQL NULL so `IS NULL` filters work on the column.
    return f"nullif({value}, 'null'::JSON)"


def _string_expression(column: ColumnSpec, value: str) -> str:
    if column.sql_type == VARCHAR:
        return value
    # TRY_CAST: one malformed value must not fail the whole sync; `_raw` still holds it.
    return f"TRY_CAST({value} AS {column.sql_type})"
