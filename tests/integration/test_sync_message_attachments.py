"""message_attachments: opt-in metadata of messages that have attachments; content to files on request."""

from __future__ import annotations

import hashlib
from pathlib import Path

from connectors.simulator.server import Simulator
from pipelines.sync.files import attachment_path
from pipelines.sync.tenant import DEFAULT_TABLES
from tests.conftest import GraphTestClient
from tests.integration.helpers import duplicated_keys, run_sync
from tests.integration.test_cli import _env, _run
from warehouse import Warehouse

_IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}
TABLES = ("users", "mail_folders", "messages", "message_attachments")


def _tenant(graph: GraphTestClient, sim: Simulator) -> set[tuple[str, str, str, str, int]]:
    """(user, message, attachment, name, size) of every message Graph says has attachments."""
    found = set()
    for user in sim.control("user_ids"):
        listed = graph.follow(f"/users/{user}/messages?$select=id,hasAttachments&$top=100", headers=_IMMUTABLE)[0]
        for message in (m for m in listed if m["hasAttachments"]):
            for a in graph.follow(f"/users/{user}/messages/{message['id']}/attachments?$select=id,name,size",
                                  headers=_IMMUTABLE)[0]:
                found.add((user, message["id"], a["id"], a["name"], a["size"]))
    return found


def _stored(db: Path) -> set[tuple[str, str, str, str, int]]:
    return set(Warehouse(db).query_rows(
        "SELECT user_id, message_id, id, name, size FROM message_attachments WHERE _deleted_at IS NULL"))


def test_message_attachments_are_opt_in_exact_incremental_and_follow_their_message(
        sim: Simulator, tmp_path: Path) -> None:
    assert "message_attachments" not in DEFAULT_TABLES, "one request per message: only when asked for"
    db = tmp_path / "wh.duckdb"
    graph = GraphTestClient(sim)
    run_sync(sim, db, tables=TABLES)
    assert _stored(db) == _tenant(graph, sim) and _stored(db)
    large = [a for a in sim.control("large_attachments") if a["kind"] == "message"]
    assert large and max(size for *_, size in _stored(db)) > 3_000_000, "the large file's metadata, not its bytes"
    (raw,) = Warehouse(db).query_rows("SELECT max(length(_raw::VARCHAR)) FROM message_attachments")[0]
    assert raw < 10_000, "no content in the warehouse"

    (mover, moved), (deleter, deleted) = sorted({(u, m) for u, m, *_ in _stored(db)})[:2]
    user = sim.control("user_ids")[0]
    plain = next(m["id"] for m in graph.follow(f"/users/{user}/mailFolders/inbox/messages?$select=id,hasAttachments",
                                               headers=_IMMUTABLE)[0] if not m["hasAttachments"])
    added = graph.post(f"/users/{user}/messages/{plain}/attachments", headers=_IMMUTABLE, json={
        "@odata.type": "#microsoft.graph.fileAttachment", "name": "notes.txt", "contentBytes": "aGVsbG8="})
    assert added.status_code == 201, added.text
    folder = graph.get(f"/users/{mover}/messages/{moved}?$select=parentFolderId", headers=_IMMUTABLE).json()
    target = next(f["id"] for f in graph.follow(f"/users/{mover}/mailFolders")[0]
                  if f["id"] != folder["parentFolderId"] and f["displayName"] in ("Archive", "Inbox"))
    move = graph.post(f"/users/{mover}/messages/{moved}/move", headers=_IMMUTABLE, json={"destinationId": target})
    assert move.status_code == 201 and move.json()["id"] == moved, move.text
    assert graph.delete(f"/users/{deleter}/messages/{deleted}", headers=_IMMUTABLE).status_code == 204

    mark = sim.control("journal_mark")
    run_sync(sim, db, tables=TABLES[1:])
    reads = {c["path"] for c in sim.control("journal", since=mark) if c["path"].endswith("/attachments")}
    assert f"/users/{user}/messages/{plain}/attachments" in reads
    assert len(reads) <= 2, f"only new and changed messages are read again: {reads}"
    assert _stored(db) == _tenant(graph, sim)
    assert {moved, plain} <= {m for _, m, *_ in _stored(db)}, "a moved message keeps its attachments"
    gone = Warehouse(db).query_rows(
        "SELECT DISTINCT message_id FROM message_attachments WHERE _deleted_at IS NOT NULL")
    assert gone == [(deleted,)], "a deleted message's attachments are tombstoned with it, and only those"
    assert not duplicated_keys(db)


def test_message_attachment_content_lands_on_disk_exactly(sim: Simulator, tmp_path: Path) -> None:
    db, files = tmp_path / "wh.duckdb", tmp_path / "files"
    run = _run(["sync", "--only", ",".join(TABLES)], _env(sim, db, GRAPHSYNC_FILES_DIR=str(files)), tmp_path)
    assert run.returncode == 0, run.stderr
    ids = dict(Warehouse(db).query_rows("SELECT id, message_id FROM message_attachments"))
    large = [a for a in sim.control("large_attachments") if a["kind"] == "message"]
    for attachment in large:
        path = attachment_path(files, attachment["user"], ids[attachment["attachmentId"]],
                               attachment["attachmentId"], "message_attachments")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == attachment["sha256"], "the bytes, exactly"
    assert not list(files.rglob("*.partial")) and not (files / "event_attachments").exists()
