"""Arrow columns built from buffers round-trip through DuckDB exactly, nulls and non-ASCII included."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import duckdb

from warehouse import arrow


def test_columns_round_trip_through_duckdb() -> None:
    staged = arrow.table({
        "s": arrow.strings(["a", None, "Grüße ✉", ""]),
        "raw": arrow.encoded_strings([b'{"x":1}', None, "é".encode(), b""]),
        "b": arrow.bools([True, False, True, False]),
        "i": arrow.int64s(range(4)),
        # Instants: naive ones are taken as UTC, aware ones keep their instant; all arrive as TIMESTAMPTZ.
        "t": arrow.timestamps([datetime(2026, 1, 2, 3, 4, 5, 6), None,
                               datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))), datetime(1601, 1, 1)]),
    })
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'America/Los_Angeles'")  # what a reader's session may be in
    connection.register("staged", staged)
    assert connection.execute("SELECT * FROM staged").fetchall() == [
        ("a", '{"x":1}', True, 0, datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)),
        (None, None, False, 1, None),
        ("Grüße ✉", "é", True, 2, datetime(1970, 1, 1, tzinfo=UTC)),
        ("", "", False, 3, datetime(1601, 1, 1, tzinfo=UTC)),
    ]
    assert connection.execute("SELECT DISTINCT typeof(t) FROM staged").fetchall() == [("TIMESTAMP WITH TIME ZONE",)]


def test_empty_columns() -> None:
    staged = arrow.table({"s": arrow.strings([]), "i": arrow.int64s([]), "t": arrow.timestamps([])})
    assert staged.num_rows == 0


def test_staging_does_not_import_pandas() -> None:
    # pa.array() would import pandas (0.5 s of every sync's CPU); the warehouse's staging must not.
    script = ("import sys; from warehouse import arrow; "
              "arrow.table({'s': arrow.strings(['a']), 'b': arrow.bools([True])}); "
              "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
