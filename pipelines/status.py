"""`graphsync status`: what the warehouse holds, when each table was last synced, and the runs.

Everything comes from the warehouse itself (`_sync_runs`, `_sync_state` and the tables), read under
the shared lock, so it works while a sync runs and with no connection to Graph. "Lag" is how long ago
the last successful sync of a table finished: Graph may have changed since, and the next sync reads
exactly those changes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.sync.streams import PLAN
from warehouse import Warehouse


@dataclass
class TableStatus:
    table: str
    live_rows: int
    tombstoned_rows: int
    last_synced: str | None  # when the last successful run covering it finished (UTC, ISO 8601)
    lag_seconds: float | None
    scopes: int  # mailboxes, teams, chats... it is synced for
    mid_round: int  # of those, how many are part-way through a full enumeration


def status(warehouse: Warehouse, recent: int = 5) -> dict[str, Any]:
    now = datetime.now(UTC)
    existing = {name for (name,) in warehouse.query_rows(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()")}
    succeeded: dict[str, datetime] = {}
    for streams, finished in warehouse.query_rows(
            "SELECT streams, finished_at FROM _sync_runs WHERE status = 'succeeded' ORDER BY finished_at"):
        for stream in (streams or "").split(","):
            succeeded[stream] = finished
    states: dict[str, tuple[int, int]] = {stream: (scopes, mid) for stream, scopes, mid in warehouse.query_rows(
        "SELECT stream, count(*), count(*) FILTER (WHERE link_kind = 'next') "
        "FROM _sync_state GROUP BY stream")}
    synced = [name for table, name in PLAN.primary.items() if table in existing]
    # One read of the file for every table's counts (each query_rows opens the warehouse anew).
    counts = {name: (live, gone) for name, live, gone in warehouse.query_rows(" UNION ALL ".join(
        f"SELECT '{name}', count(*) FILTER (WHERE _deleted_at IS NULL), "
        f'count(*) FILTER (WHERE _deleted_at IS NOT NULL) FROM "{PLAN[name].table}"' for name in synced))} \
        if synced else {}
    tables = []
    for name in synced:
        table = PLAN[name].table
        live, gone = counts[name]
        finished = succeeded.get(name)
        scopes, mid = states.get(name, (0, 0))
        tables.append(TableStatus(table, live, gone, finished.isoformat() if finished else None,
                                  round((now - finished).total_seconds(), 1) if finished else None, scopes, mid))
    runs = [dict(zip(("id", "kind", "started_at", "finished_at", "status", "upserted", "tombstoned", "error"), row,
                     strict=True))
            for row in warehouse.query_rows(
                "SELECT id, kind, started_at, finished_at, status, upserted, tombstoned, error FROM _sync_runs "
                "ORDER BY id DESC LIMIT ?", [recent])]
    return {"warehouse": str(warehouse.path), "tables": [asdict(t) for t in tables], "runs": runs}


def render(report: dict[str, Any]) -> str:
    width = max([len("table"), *(len(t["table"]) for t in report["tables"])]) + 2
    lines = [f"warehouse {report['warehouse']}", "",
             f"  {'table':<{width}}{'live':>10}{'deleted':>9}  {'last synced (UTC)':<21}{'lag':>9}  scopes"]
    for t in report["tables"]:
        synced = (t["last_synced"] or "never")[:19].replace("T", " ")
        mid = f" ({t['mid_round']} mid-round)" if t["mid_round"] else ""
        lines.append(f"  {t['table']:<{width}}{t['live_rows']:>10,}{t['tombstoned_rows']:>9,}  {synced:<21}"
                     f"{_ago(t['lag_seconds']):>9}  {t['scopes']}{mid}")
    lines += ["", "  recent runs:"]
    for r in report["runs"]:
        started = str(r["started_at"])[:19]
        error = f"  {r['error'][:100]}" if r["error"] else ""
        lines.append(f"  #{r['id']:<5}{r['kind']:<12}{started:<21}{r['status']:<11}"
                     f"+{r['upserted']:,} -{r['tombstoned']:,}{error}")
    return "\n".join(lines)


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def run_status(db_path: str, as_json: bool) -> int:
    path = Path(db_path)
    if not path.is_file():
        raise LookupError(f"no warehouse at {path}: run `graphsync sync` first (or pass --db)")
    report = status(Warehouse(path))
    print(json.dumps(report, indent=2, default=str) if as_json else render(report))
    return 0
