"""Attachment content, opt-in: the files of `event_attachments` and `message_attachments` written to
GRAPHSYNC_FILES_DIR.

The warehouse holds the metadata; the bytes go to disk, never into DuckDB, at
`<files dir>/<table>/<user id>/<event or message id>/<attachment id>`, each read through
`/attachments/{id}/$value` (outlook-large-attachments.md: the raw bytes, whatever the size, where
`contentBytes` would carry a 4 MB file as 5.6 MB of base64 inside JSON). A file larger than the
limit (GRAPHSYNC_FILES_MAX_MB) is left out.

Crash-safe and idempotent: what is missing on disk (or has another size) is fetched, written to a
temporary file and renamed into place, so a killed run leaves no partial file, and the next run
fetches exactly what is still missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from connectors.graph import GraphError
from pipelines.sync.routes import Routes
from warehouse import Warehouse

FILE_ATTACHMENT = "#microsoft.graph.fileAttachment"
AT_ONCE = 4  # downloads in flight (Outlook allows 4 concurrent requests per mailbox)


@dataclass(frozen=True)
class AttachmentTable:
    table: str
    parent_column: str  # the column naming the event or message
    segment: str  # its Graph collection under the mailbox


ATTACHMENT_TABLES = {spec.table: spec for spec in (AttachmentTable("event_attachments", "event_id", "events"),
                                                   AttachmentTable("message_attachments", "message_id", "messages"))}


@dataclass
class FilesReport:
    written: int = 0
    bytes: int = 0
    too_large: int = 0
    failed: int = 0


def attachment_path(files_dir: str | Path, user_id: str, parent_id: str, attachment_id: str,
                    table: str = "event_attachments") -> Path:
    """Where an attachment's bytes live (ids are Graph's, made safe as file names)."""
    return Path(files_dir) / table / _safe(user_id) / _safe(parent_id) / _safe(attachment_id)


async def download_attachments(routes: Routes, warehouse: Warehouse, files_dir: str, max_bytes: int,
                               tables: list[AttachmentTable], users: set[str] | None = None) -> FilesReport:
    """Fetch every live file attachment of `tables` missing from `files_dir` (of `users`, default all)."""
    report = FilesReport()
    rows = []
    for spec in tables:
        rows += [(spec, *row) for row in await asyncio.to_thread(
            warehouse.query_rows,
            f"SELECT user_id, {spec.parent_column}, id, size FROM {spec.table} "
            f"WHERE _deleted_at IS NULL AND odata_type = ? ORDER BY ALL", [FILE_ATTACHMENT])]
    slots = asyncio.Semaphore(AT_ONCE)

    async def one(spec: AttachmentTable, user_id: str, parent_id: str, attachment_id: str, size: int | None) -> None:
        if size is not None and size > max_bytes:
            report.too_large += 1
            return
        target = attachment_path(files_dir, user_id, parent_id, attachment_id, spec.table)
        if target.exists() and (size is None or target.stat().st_size == size):
            return
        client, mailbox = routes.mailbox_client(user_id)
        path = (f"{mailbox}/{spec.segment}/{quote(parent_id, safe='')}/attachments/"
                f"{quote(attachment_id, safe='')}/$value")
        async with slots:
            try:
                response = await client.request("GET", path)
            except GraphError:
                report.failed += 1  # gone meanwhile, or refused: the next run tries again
                return
        await asyncio.to_thread(_write_atomically, target, response.content)
        report.written += 1
        report.bytes += len(response.content)

    await asyncio.gather(*(one(*row) for row in rows if users is None or row[1] in users))
    return report


def _write_atomically(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with open(partial, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, target)
    with contextlib.suppress(OSError):  # the folder entry too, where the platform allows it
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _safe(name: str) -> str:
    return quote(name, safe="-_.=")
