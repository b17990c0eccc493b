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
    ``_s`` (VARCHAR[]) and ``_j`` (JSON[]) lists that the expressions index into. The zones of
    dateTimeTimeZone columns are read in the same string list, after the columns' own values.
    """
    columns = [column for name, column in spec.graph_columns.items() if name != "id"]
    string_columns = [column for column in columns if not _uses_json_extract(column)]
    zoned = [column for column in string_columns if column.zone_path is not None]
    string_paths = [column.graph_path for column in string_columns] + [column.zone_path for column in zoned]
    json_paths = [column.graph_path for column in columns if _uses_json_extract(column)]
    expressions = []
    string_index = json_index = 0
    for column in columns:
        if _uses_json_extract(column):
            json_index += 1
            expressions.append(_json_expression(column, f"_j[{json_index}]"))
        else:
            string_index += 1
            zone = f"_s[{len(string_columns) + zoned.index(column) + 1}]" if column.zone_path else None
            expressions.append(_string_expression(column, f"_s[{string_index}]", zone))
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


def _string_expression(column: ColumnSpec, value: str, zone: str | None = None) -> str:
    if column.sql_type == VARCHAR:
        return value
    if zone is not None:
        return _instant_in_zone(value, zone)
    # TRY_CAST: one malformed value must not fail the whole sync; `_raw` still holds it. A Graph
    # *DateTime string carries its offset ("...Z"); one that does not is read in the session's zone,
    # which every connection of graphsync sets to UTC (warehouse.locking).
    return f"TRY_CAST({value} AS {column.sql_type})"


def _instant_in_zone(value: str, zone: str) -> str:
    """A dateTimeTimeZone as the instant it names: its wall-clock time read in its zone.

    Graph answers in UTC unless asked otherwise; an IANA zone is honoured too. Any other name (a
    Windows zone like "Pacific Standard Time", which DuckDB does not know and on which `timezone()`
    would fail the statement) gives NULL rather than a wrong instant; `_raw` keeps the value.
    """
    wall = f"TRY_CAST({value} AS TIMESTAMP)"
    return (f"CASE WHEN coalesce({zone}, 'UTC') = 'UTC' THEN timezone('UTC', {wall}) "
            f"WHEN {zone} IN (SELECT name FROM pg_timezone_names()) THEN timezone({zone}, {wall}) END")


def backfill_statement(spec: TableSpec, names: list[str]) -> str:
    """An UPDATE that recomputes the named Graph columns of every stored row from its ``_raw`` (a column
    a model gained, or one whose reading changed)."""
    expressions, from_clause = flattening_select(spec, ident(spec.name))
    graph_names = [name for name in spec.graph_columns if name != "id"]
    selected = ", ".join(f"{expressions[graph_names.index(name)]} AS {ident(name)}" for name in names)
    key_match = " AND ".join(f"t.{ident(k)} = f.{ident(k)}" for k in spec.key_columns)
    assignments = ", ".join(f"{ident(name)} = f.{ident(name)}" for name in names)
    keys = ", ".join(ident(k) for k in spec.key_columns)
    return (f"UPDATE {ident(spec.name)} AS t SET {assignments} "
            f"FROM (SELECT {keys}, {selected} FROM {from_clause}) AS f WHERE {key_match}")
