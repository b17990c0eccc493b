"""`graphsync sql`: the three formats, writes refused, bad SQL in one line, the lock waited for.

Run as the installed command would be (a subprocess of `python -m pipelines.cli`) on the hand-made
warehouse of tests/integration/analytics_tenant.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import duckdb
import pytest

from tests.integration.analytics_tenant import build_warehouse
from tests.integration.helpers import GRAPHSYNC
from warehouse.locking import open_locked
from warehouse.views import VIEW_NAMES

SENDERS = "SELECT sender_address, messages, mailboxes FROM mail_top_senders ORDER BY messages DESC, sender_address"
EXPECTED = [("ada@x.com", 3, 1), ("carl@ext.com", 3, 2), ("dana@ext.com", 3, 2), ("bo@x.com", 2, 1)]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build_warehouse(tmp_path / "hand.duckdb")


def sql(db: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPH_", "GRAPHSYNC_"))}
    return subprocess.run([*GRAPHSYNC, "sql", *args, "--db", str(db)], env=env, cwd=db.parent, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_table_format_is_aligned(db: Path) -> None:
    result = sql(db, SENDERS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "sender_address  messages  mailboxes",
        "--------------  --------  ---------",
        "ada@x.com              3          1",
        "carl@ext.com           3          2",
        "dana@ext.com           3          2",
        "bo@x.com               2          1",
        "(4 rows)",
    ]


def test_csv_format(db: Path) -> None:
    result = sql(db, SENDERS, "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["sender_address", "messages", "mailboxes"]
    assert [(a, int(m), int(b)) for a, m, b in rows[1:]] == EXPECTED


def test_json_format_is_records(db: Path) -> None:
    result = sql(db, SENDERS, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"sender_address": a, "messages": m, "mailboxes": b} for a, m, b in EXPECTED]
    # Dates, UTC times and NULLs as JSON has them.
    late = sql(db, "SELECT day, sent_utc, reply_id, latency_minutes FROM mail_reply_latency r JOIN mail_after_hours a "
                   "ON a.message_id = r.original_id JOIN mail_volume_daily v ON v.user_id = r.user_id "
                   "WHERE r.original_id = 'm9' AND v.day = DATE '2026-03-04'", "--format", "json")
    assert json.loads(late.stdout) == [{"day": "2026-03-04", "sent_utc": "2026-03-03T23:59:00", "reply_id": None,
                                        "latency_minutes": None}]


def test_query_from_stdin_and_every_view_answers(db: Path) -> None:
    query = " UNION ALL ".join(f"SELECT '{v}' AS view, count(*) AS n FROM {v}" for v in VIEW_NAMES)
    result = sql(db, "-", "--format", "json", stdin=query)
    assert result.returncode == 0, result.stderr
    counts = {r["view"]: r["n"] for r in json.loads(result.stdout)}
    assert set(counts) == set(VIEW_NAMES) and all(counts.values())


@pytest.mark.parametrize("statement", ["DELETE FROM messages", "UPDATE messages SET subject = 'x'",
                                       "CREATE TABLE sneaky (a INT)", "DROP VIEW mail_top_senders"])
def test_writes_are_refused(db: Path, statement: str) -> None:
    before = db.read_bytes()
    result = sql(db, statement)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("graphsync: error: graphsync sql only reads: the warehouse is opened read-only")
    assert result.stderr.count("\n") == 1, result.stderr
    assert db.read_bytes() == before


def test_no_file_outside_the_warehouse_is_reached(db: Path) -> None:
    target = db.parent / "leak.csv"
    result = sql(db, f"COPY (SELECT * FROM messages) TO '{target}'")
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "disabled by configuration" in result.stderr
    assert not target.exists()


@pytest.mark.parametrize("query, words", [("SELEC 1", "syntax error"), ("SELECT nope FROM messages", "nope"),
                                          ("SELECT * FROM no_such_table", "no_such_table"), ("   ", "empty")])
def test_bad_sql_is_one_line(db: Path, query: str, words: str) -> None:
    result = sql(db, query)
    assert result.returncode == 1
    assert result.stderr.startswith("graphsync: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_warehouse_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.duckdb"
    result = sql(missing, "SELECT 1")
    assert result.returncode == 1
    assert result.stderr == f"graphsync: error: warehouse {missing} does not exist yet; run a sync first\n"
    assert not missing.exists()


def test_views_stand_in_for_a_warehouse_made_before_them(db: Path) -> None:
    """A warehouse a graphsync without the views wrote: the query still sees them, and nothing is written."""
    with duckdb.connect(str(db)) as connection:
        for view in VIEW_NAMES:
            connection.execute(f"DROP VIEW {view}")
    before = db.read_bytes()
    result = sql(db, SENDERS, "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1 + len(EXPECTED)
    assert db.read_bytes() == before


def test_waits_for_a_writer_like_a_sync(db: Path) -> None:
    """While a writer holds the file, a short --lock-timeout gives up in one line; a longer one waits for it."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with open_locked(db, write=True, timeout_s=10):
            holding.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        gave_up = sql(db, "SELECT 1 AS one", "--lock-timeout", "0.5")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPH_", "GRAPHSYNC_"))}
        waiting = subprocess.Popen([*GRAPHSYNC, "sql", "SELECT 1 AS one", "--format", "csv", "--db", str(db),
                                    "--lock-timeout", "60"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        time.sleep(3)  # long enough for it to start and meet the lock
        assert waiting.poll() is None, "it waits while the writer holds the file"
    finally:
        release.set()
        holder.join()
    out, err = waiting.communicate(timeout=60)
    assert gave_up.returncode == 1 and "locked" in gave_up.stderr and gave_up.stderr.count("\n") == 1, gave_up.stderr
    assert waiting.returncode == 0, err
    assert out == "one\n1\n"
