"""Timing check for Warehouse.apply (not a test): `python -m warehouse.bench_apply [ROWS]`.

Applies ROWS message-shaped objects into a fresh warehouse (all inserts), then the same ids
again (all updates, 10% partial), and prints rows/s for each.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from warehouse import PageBatch, StreamState, Warehouse


def _message(number: int, folder: str) -> dict[str, Any]:
    return {
        "@odata.etag": f'W/"CQAAABYAAAA{number}"',
        "id": f"AAMkAD{number:012d}",
        "createdDateTime": "2024-03-01T09:15:00Z",
        "lastModifiedDateTime": "2024-03-01T09:16:00Z",
        "changeKey": f"CQAAABYAAAA{number}",
        "categories": ["Blue category"] if number % 7 == 0 else [],
        "receivedDateTime": "2024-03-01T09:15:00Z",
        "sentDateTime": "2024-03-01T09:14:58Z",
        "hasAttachments": number % 5 == 0,
        "internetMessageId": f"<msg{number}@contoso.com>",
        "subject": f"Quarterly report {number}",
        "bodyPreview": "Hi team, please find attached the quarterly numbers. " * 2,
        "importance": "normal",
        "parentFolderId": folder,
        "conversationId": f"AAQkAD{number // 3:010d}",
        "isRead": number % 2 == 0,
        "isDraft": False,
        "webLink": f"https://outlook.office365.com/owa/?ItemID=AAMkAD{number}",
        "inferenceClassification": "focused",
        "body": {"contentType": "html", "content": "<html><body><p>Hi team,</p>" + "x" * 400 + "</body></html>"},
        "sender": {"emailAddress": {"name": "Adele Vance", "address": "adele@contoso.com"}},
        "from": {"emailAddress": {"name": "Adele Vance", "address": "adele@contoso.com"}},
        "toRecipients": [{"emailAddress": {"name": "Alex Wilber", "address": "alex@contoso.com"}}],
        "ccRecipients": [],
        "bccRecipients": [],
        "replyTo": [],
        "flag": {"flagStatus": "notFlagged"},
    }


def _batch(objects: list[dict[str, Any]], partial_ids: set[str], now: datetime) -> PageBatch:
    state = StreamState("messages", "u1/inbox", "https://graph/delta?token=x", "delta", None, now)
    return PageBatch("messages", {"user_id": "u1"}, objects, partial_ids, [], None, state)


def main(rows: int) -> None:
    objects = [_message(number, "inbox") for number in range(rows)]
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder:
        warehouse = Warehouse(Path(folder) / "bench.duckdb")
        warehouse.ensure_schema()
        started = time.perf_counter()
        warehouse.apply([_batch(objects, set(), now)], now)
        inserting = time.perf_counter() - started
        partial_ids = {obj["id"] for obj in objects[::10]}
        changed = [{"id": obj["id"], "isRead": True} if obj["id"] in partial_ids else obj for obj in objects]
        started = time.perf_counter()
        counts = warehouse.apply([_batch(changed, partial_ids, now)], now + timedelta(minutes=5))
        updating = time.perf_counter() - started
    print(f"insert {rows} rows: {inserting:.2f} s ({rows / inserting:,.0f} rows/s)")
    print(f"update {rows} rows (10% partial): {updating:.2f} s ({rows / updating:,.0f} rows/s); {counts.updated} updated")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
