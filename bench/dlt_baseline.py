"""The dlt baseline: dlt's `rest_api` source following the same delta endpoints into DuckDB.

Run as its own process (`python -m bench.dlt_baseline --db PATH`, GRAPH_* in the environment); prints
one JSON line. Users -> their mail folders -> each folder's messages are dlt parent/child resources,
so dlt itself discovers the mailboxes and folders, as a dlt user would configure it. The simulator's
CA reaches `requests` through REQUESTS_CA_BUNDLE, which the parent process sets for this child.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench.common import GLOBAL_CONCURRENCY, client_credentials_token, prefer_header
from pipelines.sync.streams import MAIL_FOLDERS, MESSAGES, USERS


def source_config(api_url: str, token: str, page_size: int | None) -> dict[str, Any]:
    """A RESTAPIConfig for the three streams graphsync follows."""
    select = USERS.query.removeprefix("$select=")
    return {
        "client": {
            "base_url": api_url.rstrip("/") + "/",
            "auth": {"type": "bearer", "token": token},
            "paginator": {"type": "json_link", "next_url_path": "['@odata.nextLink']"},
        },
        "resource_defaults": {
            "write_disposition": "replace",
            "parallelized": True,  # fetch concurrently, as graphsync and the floor do
            "endpoint": {"data_selector": "value"},
        },
        "resources": [
            {"name": "users", "endpoint": {
                "path": "users/delta", "params": {"$select": select},
                "headers": {"Prefer": prefer_header(USERS, page_size)}}},
            {"name": "mail_folders", "include_from_parent": ["id"], "endpoint": {
                "path": "users/{resources.users.id}/mailFolders/delta",
                "headers": {"Prefer": prefer_header(MAIL_FOLDERS, page_size)}}},
            {"name": "messages", "endpoint": {
                "path": "users/{resources.mail_folders._users_id}/mailFolders/{resources.mail_folders.id}"
                        "/messages/delta",
                "headers": {"Prefer": prefer_header(MESSAGES, page_size)}}},
        ],
    }


def run(db: Path, page_size: int | None) -> dict[str, Any]:
    import dlt
    from dlt.sources.rest_api import rest_api_source

    env = dict(os.environ)
    token = client_credentials_token(env)
    source = rest_api_source(source_config(env["GRAPH_API_URL"], token, page_size))  # type: ignore[arg-type]
    pipeline = dlt.pipeline(pipeline_name="graphsync_bench", destination=dlt.destinations.duckdb(str(db)),
                            dataset_name="graph", pipelines_dir=str(db.parent / "dlt-pipelines"))
    started = time.perf_counter()
    pipeline.run(source)
    seconds = time.perf_counter() - started
    counts = {t: _count(pipeline, t) for t in ("users", "mail_folders", "messages")}
    return {"items": sum(counts.values()), "by_table": counts, "seconds": seconds}


def _count(pipeline: Any, table: str) -> int:
    with pipeline.sql_client() as client:
        return int(client.execute_sql(f"SELECT count(*) FROM {table}")[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dlt_baseline")
    parser.add_argument("--db", required=True)
    parser.add_argument("--page-size", type=int, default=None)
    args = parser.parse_args()
    # dlt's extract thread pool: as many fetches in flight as graphsync allows overall.
    os.environ.setdefault("EXTRACT__WORKERS", str(GLOBAL_CONCURRENCY))
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    result = run(Path(args.db), args.page_size)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
