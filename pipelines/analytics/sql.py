"""`graphsync sql "QUERY" [--format table|csv|json]`: one read-only query on the warehouse.

The warehouse is opened read-only under the shared lock (analytics.reader), so the query waits for
a sync like any reader, and DuckDB itself refuses any statement that would write (the error is
turned into one line). Rows are streamed for CSV and JSON; the aligned table, made for a person to
read, holds its rows in memory to measure the columns.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

import duckdb

from pipelines.analytics.reader import analytics_session
from warehouse import WarehouseError

FORMATS = ("table", "csv", "json")
_BATCH = 10_000  # rows fetched at a time for the streamed formats
_MAX_CELL = 80  # the table format cuts longer values (a message body, _raw) so rows stay on a line
_READ_ONLY = "read-only mode"  # DuckDB's words for a statement that would write


def run_sql(path: str | Path, query: str, fmt: str = "table", lock_timeout_s: float = 60.0,
            out: TextIO | None = None) -> int:
    """Run ``query`` and print its rows in ``fmt``; a statement without rows prints nothing."""
    out = out or sys.stdout
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    if not query.strip():
        raise WarehouseError("the query is empty")
    with analytics_session(Path(path).expanduser().absolute(), lock_timeout_s) as connection:
        refused = None
        try:
            cursor = connection.execute(query)
        except duckdb.Error as error:
            if _READ_ONLY not in str(error):
                raise
            refused = " ".join(str(error).split())
        if refused is not None:  # raised here, outside the handler, so the CLI shows this line, not DuckDB's
            raise WarehouseError(f"graphsync sql only reads: the warehouse is opened read-only ({refused})")
        if cursor.description is None:
            return 0
        columns = [d[0] for d in cursor.description]
        rows = _batches(cursor)
        {"table": _write_table, "csv": _write_csv, "json": _write_json}[fmt](columns, rows, out)
    return 0


def _batches(cursor: duckdb.DuckDBPyConnection) -> Iterator[tuple[Any, ...]]:
    while batch := cursor.fetchmany(_BATCH):
        yield from batch


def plain(value: Any) -> Any:
    """A DuckDB value as JSON has it: instants and dates in ISO 8601, exact decimals as numbers."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return str(value)


def _text(value: Any) -> str:
    if value is None:
        return "NULL"
    shown = plain(value)
    text = shown if isinstance(shown, str) else json.dumps(shown, ensure_ascii=False)
    if isinstance(value, datetime):
        text = text.replace("T", " ", 1)  # a person reads "2026-12-01 07:00:00+00:00" more easily
    text = " ".join(text.split())
    return text if len(text) <= _MAX_CELL else text[:_MAX_CELL - 1] + "…"


def _write_table(columns: list[str], rows: Iterator[tuple[Any, ...]], out: TextIO) -> None:
    cells = [[_text(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    # Numbers align right, as in every SQL shell; a column is numeric when all its values are.
    numeric = [all(r[i] == "NULL" or _is_number(r[i]) for r in cells) and bool(cells) for i in range(len(columns))]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True))

    out.write(line(columns).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for row in cells:
        out.write(line(row).rstrip() + "\n")
    out.write(f"({len(cells)} row{'' if len(cells) == 1 else 's'})\n")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _write_csv(columns: list[str], rows: Iterator[tuple[Any, ...]], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow("" if v is None else _csv_value(v) for v in row)


def _csv_value(value: Any) -> Any:
    shown = plain(value)
    return shown if isinstance(shown, str | int | float) else json.dumps(shown, ensure_ascii=False)


def _write_json(columns: list[str], rows: Iterator[tuple[Any, ...]], out: TextIO) -> None:
    """A JSON array of records, one per line, written as rows arrive."""
    out.write("[")
    for n, row in enumerate(rows):
        record = {column: plain(value) for column, value in zip(columns, row, strict=True)}
        out.write(("\n" if n == 0 else ",\n") + json.dumps(record, ensure_ascii=False))
    out.write("\n]\n")
