"""Timing check for Warehouse.apply (not a test): `python -m bench.write_path [ROWS]`.

Applies ROWS message-shaped objects into a fresh warehouse (all inserts), then the same ids
again (all updates, 10% partial), and prints rows/s for each; once with full messages (~1.5 kB
of JSON each, HTML body included) and once with lean ones (~0.5 kB, no body). Each is run twice
in the same process and the second run is reported: the first pays the VM's first-touch cost of
fresh memory, which dominates on small sandboxes.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from warehouse import PageBatch, StreamState, Warehouse


def _message(number: int, folder: str, lean: bool = False) -> dict[str, Any]:
    message = {
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
    if lean:
        del message["body"], message["bodyPreview"], message["webLink"]
    return message


def _batch(objects: list[dict[str, Any]], partial_ids: set[str], now: datetime) -> PageBatch:
    state = StreamState("messages", "u1/inbox", "https://graph/delta?token=x", "delta", None, now)
    return PageBatch("messages", {"user_id": "u1"}, objects, partial_ids, [], None, state)


def _run(rows: int, lean: bool) -> tuple[float, float]:
    objects = [_message(number, "inbox", lean) for number in range(rows)]
    partial_ids = {obj["id"] for obj in objects[::10]}
    changed = [{"id": obj["id"], "isRead": True} if obj["id"] in partial_ids else obj for obj in objects]
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder:
        warehouse = Warehouse(Path(folder) / "bench.duckdb")
        warehouse.ensure_schema()
        started = time.perf_counter()
        warehouse.apply([_batch(objects, set(), now)], now)
        inserting = time.perf_counter() - started
        started = time.perf_counter()
        counts = warehouse.apply([_batch(changed, partial_ids, now)], now + timedelta(minutes=5))
        updating = time.perf_counter() - started
    assert counts.updated == rows
    return inserting, updating


def main(rows: int) -> None:
    for lean in (False, True):
        _run(rows, lean)  # warm-up
        inserting, updating = _run(rows, lean)
        kind = "lean" if lean else "full"
        print(
            f"{kind}: insert {rows} rows {inserting:.2f} s ({rows / inserting:,.0f} rows/s); "
            f"update (10% partial) {updating:.2f} s ({rows / updating:,.0f} rows/s)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
