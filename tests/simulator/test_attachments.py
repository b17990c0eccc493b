"""Attachments of messages and events (attachment-get.md, message-list-attachments.md,
event-list-attachments.md, *-post-attachments.md, attachment-delete.md, attachment-createuploadsession.md,
outlook-large-attachments.md): the three kinds, /$value, the 3 MB POST limit, upload sessions that
create the attachment at their last range, and the control ops that give a seeded file's sha256."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlparse

import httpx

from connectors.simulator import content
from connectors.simulator.attachments import (
    LARGE_SEED_BYTES,
    event_has_attachments,
    message_has_attachments,
    showcase_keys,
)
from connectors.simulator.calendar import event_object, seeded_event_count
from connectors.simulator.server import Simulator
from tests.conftest import GraphTestClient

FILE, ITEM, REFERENCE = ("#microsoft.graph.fileAttachment", "#microsoft.graph.itemAttachment",
                         "#microsoft.graph.referenceAttachment")
MB = 1024 * 1024


def _large(sim: Simulator, kind: str) -> dict:
    return next(a for a in sim.control("large_attachments") if a["kind"] == kind)


def _base(entry: dict) -> str:
    return f"/users/{entry['user']}/{entry['kind']}s/{entry['itemId']}/attachments"


def _file(name: str, data: bytes) -> dict:
    return {"@odata.type": "#microsoft.graph.fileAttachment", "name": name,
            "contentBytes": base64.b64encode(data).decode()}


def _upload(http: httpx.Client, url: str, data: bytes, total: int, start: int) -> httpx.Response:
    end = start + len(data) - 1
    return http.put(url, content=data, headers={"Content-Range": f"bytes {start}-{end}/{total}",
                                                "Content-Type": "application/octet-stream"})


def test_seeded_has_attachments_matches_the_attachment_seed(sim: Simulator) -> None:
    """The seed of attachments (attachments.py) and of messages/events agree on which carry some."""
    tenant = sim.tenant
    for scale in ("tiny", "small"):
        s = content.SCALES[scale]
        for u in range(s.users):
            owner = content.person(tenant.seed, u)
            counts = content.folder_counts(s.messages_per_mailbox)
            for f in content.FOLDERS:
                for i in range(counts[f.key]):
                    seeded = content.message_object(tenant.seed, owner, f.key, i, s.users, tenant.epoch)
                    assert seeded["hasAttachments"] == message_has_attachments(tenant.seed, u, f.key, i)
            for key in ("calendar", "deadlines"):
                for i in range(seeded_event_count(s.events_per_calendar, key)):
                    event = event_object(tenant.seed, owner, key, i, s.users, tenant.epoch)
                    assert event["hasAttachments"] == event_has_attachments(tenant.seed, u, key, i)


def test_every_kind_is_listed_and_read_by_id(sim: Simulator, graph: GraphTestClient) -> None:
    for kind in ("message", "event"):
        entry = _large(sim, kind)
        parent = graph.get(f"/users/{entry['user']}/{kind}s/{entry['itemId']}").json()
        assert parent["hasAttachments"] is True
        listed = graph.get(_base(entry)).json()["value"]
        by_type = {a["@odata.type"] for a in listed}
        assert by_type == {FILE, ITEM, REFERENCE}, kind
        for att in listed:
            one = graph.get(f"{_base(entry)}/{att['id']}")
            assert one.status_code == 200 and one.json()["@odata.context"].endswith("/attachments/$entity")
            got = one.json()
            assert {k: v for k, v in got.items() if k != "@odata.context"} == att
            if att["@odata.type"] == FILE:
                assert base64.b64decode(att["contentBytes"]) and att["contentId"] is None
            else:
                assert "contentBytes" not in att
            if att["@odata.type"] == ITEM:
                assert att["contentType"] is None and "item" not in att
        item = next(a for a in listed if a["@odata.type"] == ITEM)
        expanded = graph.get(f"{_base(entry)}/{item['id']}?$expand=microsoft.graph.itemattachment/item").json()
        assert expanded["item"]["@odata.type"] == f"#microsoft.graph.{kind}"


def test_values_are_raw_bytes_mime_or_405(sim: Simulator, graph: GraphTestClient) -> None:
    entry = _large(sim, "message")
    listed = {a["@odata.type"]: a for a in graph.get(_base(entry)).json()["value"] if a["id"] != entry["attachmentId"]}
    small = graph.get(f"{_base(entry)}/{listed[FILE]['id']}/$value")
    assert small.status_code == 200 and small.headers["content-type"] == "application/pdf"
    assert small.content == base64.b64decode(listed[FILE]["contentBytes"]) and small.content.startswith(b"%PDF")
    mime = graph.get(f"{_base(entry)}/{listed[ITEM]['id']}/$value")
    assert mime.status_code == 200 and b"Subject: " + listed[ITEM]["name"].encode() in mime.content
    assert len(mime.content) == listed[ITEM]["size"]
    assert graph.get(f"{_base(entry)}/{listed[REFERENCE]['id']}/$value").status_code == 405
    event = _large(sim, "event")
    ical = next(a for a in graph.get(_base(event)).json()["value"] if a["@odata.type"] == ITEM)
    body = graph.get(f"{_base(event)}/{ical['id']}/$value").content
    assert body.startswith(b"BEGIN:VCALENDAR") and b"BEGIN:VEVENT" in body


def test_large_seeded_file_bytes_match_the_control_sha256(sim: Simulator, graph: GraphTestClient) -> None:
    for kind in ("message", "event"):
        entry = _large(sim, kind)
        assert entry["size"] == LARGE_SEED_BYTES > 4 * MB
        raw = graph.get(f"{_base(entry)}/{entry['attachmentId']}/$value")
        assert raw.status_code == 200 and len(raw.content) == entry["size"]
        assert hashlib.sha256(raw.content).hexdigest() == entry["sha256"]
        check = sim.control("attachment_sha256", user=entry["user"], kind=kind, item_id=entry["itemId"],
                            attachment_id=entry["attachmentId"])
        assert check["sha256"] == entry["sha256"] and check["size"] == entry["size"]
        # Reading is not limited by size (outlook-large-attachments.md, step 4): contentBytes comes too...
        full = graph.get(f"{_base(entry)}/{entry['attachmentId']}").json()
        assert hashlib.sha256(base64.b64decode(full["contentBytes"])).hexdigest() == entry["sha256"]
        # ...unless a $select leaves it out.
        meta = graph.get(f"{_base(entry)}/{entry['attachmentId']}?$select=name,size,contentType").json()
        assert "contentBytes" not in meta and meta["size"] == entry["size"]
    # One on the first message and on the first default-calendar event with attachments, per seeded user.
    expected = {(u, kind) for i, u in enumerate(sim.control("user_ids"))
                for kind, key in zip(("message", "event"), showcase_keys(sim.tenant, i), strict=True) if key}
    assert {(e["user"], e["kind"]) for e in sim.control("large_attachments")} == expected and len(expected) >= 4
    state = sim.control("attachments_state", user=entry["user"], kind="event", item_id=entry["itemId"])
    assert {a["id"]: a["sha256"] for a in state}[entry["attachmentId"]] == entry["sha256"]
    assert all("contentBytes" not in a for a in state)


def test_post_limits_and_kinds(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    event = sim.control("create_event", user=user, fields={"subject": "Attach here"})
    base = f"/users/{user}/events/{event['id']}/attachments"
    before = graph.get(f"/users/{user}/events/{event['id']}").json()["changeKey"]
    added = graph.post(base, json={**_file("menu.txt", b"soup"), "contentType": "text/plain"})
    assert added.status_code == 201 and added.json()["size"] == 4 and added.json()["contentType"] == "text/plain"
    after = graph.get(f"/users/{user}/events/{event['id']}").json()
    assert after["hasAttachments"] is True and after["changeKey"] != before
    too_big = graph.post(base, json=_file("big.bin", b"x" * (3 * MB + 1)))
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "ErrorRequestEntityTooLarge"
    subjects = {e["subject"] for e in sim.control("calendar_state", user=user).values()}
    inline = graph.post(f"/users/{user}/events", json={
        "subject": "Inline too big", "start": {"dateTime": "2026-11-05T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-05T10:00:00", "timeZone": "UTC"}, "attachments": [_file("b", b"x" * (4 * MB))]})
    assert inline.status_code == 413
    assert {e["subject"] for e in sim.control("calendar_state", user=user).values()} == subjects, "no event made"
    draft = graph.post(f"/users/{user}/messages",
                       json={"subject": "Too big", "attachments": [_file("b", b"x" * (4 * MB))]})
    assert draft.status_code == 413
    assert graph.post(base, json=_file("edge.bin", b"x" * (3 * MB))).status_code == 201
    item = graph.post(base, json={"@odata.type": "#microsoft.graph.itemAttachment", "name": "Holiday event",
                                  "item": {"@odata.type": "microsoft.graph.event", "subject": "Gifts",
                                           "start": {"dateTime": "2026-12-02T18:00:00", "timeZone": "UTC"},
                                           "end": {"dateTime": "2026-12-02T19:00:00", "timeZone": "UTC"}}})
    assert item.status_code == 201 and item.json()["contentType"] is None and item.json()["size"] > 0
    ref = graph.post(base, json={"@odata.type": "#microsoft.graph.referenceAttachment", "name": "Plan.docx"})
    assert ref.status_code == 201 and ref.json()["@odata.type"] == REFERENCE
    beta_only = graph.post(base, json={"@odata.type": "#microsoft.graph.referenceAttachment", "name": "x",
                                       "sourceUrl": "https://contoso.sharepoint.com/x"})
    assert beta_only.status_code == 400 and "sourceUrl" in beta_only.json()["error"]["message"]
    assert graph.post(base, json={"@odata.type": "#microsoft.graph.nope", "name": "x"}).status_code == 400
    ids = [a["id"] for a in graph.get(base).json()["value"]]
    assert len(ids) == 4
    assert graph.delete(f"{base}/{ids[0]}").status_code == 204
    assert graph.get(f"{base}/{ids[0]}").status_code == 404
    assert [a["id"] for a in graph.get(base).json()["value"]] == ids[1:]


def test_message_attachments_post_copy_and_delivery(sim: Simulator, graph: GraphTestClient) -> None:
    users = graph.get("/users").json()["value"]
    sender, recipient = users[0], users[1]
    draft = graph.post(f"/users/{sender['id']}/messages", json={
        "subject": "With a file", "toRecipients": [{"emailAddress": {"address": recipient["userPrincipalName"]}}],
        "attachments": [_file("notes.txt", b"hello")]}).json()
    assert draft["hasAttachments"] is True
    base = f"/users/{sender['id']}/messages/{draft['id']}/attachments"
    assert [a["name"] for a in graph.get(base).json()["value"]] == ["notes.txt"]
    assert graph.post(base, json=_file("more.txt", b"more")).status_code == 201
    copied = graph.post(f"/users/{sender['id']}/messages/{draft['id']}/copy",
                        json={"destinationId": "archive"}).json()
    names = [a["name"] for a in graph.get(f"/users/{sender['id']}/messages/{copied['id']}/attachments").json()["value"]]
    assert names == ["notes.txt", "more.txt"]
    assert graph.post(f"/users/{sender['id']}/messages/{draft['id']}/send").status_code == 202
    inbox = sim.control("mailbox_state", user=recipient["id"])["messages"]
    got = next(m for m in inbox.values() if m["subject"] == "With a file")
    delivered = graph.get(f"/users/{recipient['id']}/messages/{got['id']}/attachments").json()["value"]
    assert [base64.b64decode(a["contentBytes"]) for a in delivered] == [b"hello", b"more"]


def test_upload_session_creates_the_attachment_at_the_last_range(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    message = sim.control("create_message", user=user, fields={"subject": "Large upload"})
    base = f"/users/{user}/messages/{message['id']}/attachments"
    too_small = graph.post(f"{base}/createUploadSession",
                           json={"AttachmentItem": {"attachmentType": "file", "name": "s.bin", "size": MB}})
    assert too_small.status_code == 400
    assert too_small.json()["error"]["code"] == "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"
    data = hashlib.shake_256(b"upload").digest(5 * MB + 123)
    created = graph.post(f"{base}/createUploadSession", json={"AttachmentItem": {
        "attachmentType": "file", "name": "flower.jpg", "size": len(data), "contentType": "image/jpeg"}})
    assert created.status_code == 201
    session = created.json()
    assert session["nextExpectedRanges"] == ["0-"] and session["expirationDateTime"].endswith("Z")
    url = session["uploadUrl"]
    assert urlparse(url).path.startswith("/_upload/")
    plain = httpx.Client(verify=str(sim.endpoints.ca_path), timeout=30)  # no Authorization header at all
    try:
        first = _upload(plain, url, data[:4 * MB], len(data), 0)
        assert first.status_code == 200 and first.json()["nextExpectedRanges"] == [str(4 * MB)]
        assert "ExpirationDateTime" in first.json()
        assert graph.get(base).json()["value"] == [], "nothing is attached before the last range"
        assert _upload(plain, url, data[:10], len(data), 0).status_code == 416, "ranges go in order"
        assert sim.control("upload_sessions")[0]["received"] == 4 * MB
        last = _upload(plain, url, data[4 * MB:], len(data), 4 * MB)
        assert last.status_code == 201 and last.content == b""
        location = last.headers["location"]
        assert _upload(plain, url, data[:1], len(data), 0).status_code == 404, "the session is gone"
    finally:
        plain.close()
    meta = graph.get(location).json()  # a /users('id')/messages('id')/attachments('id') URL
    assert meta["name"] == "flower.jpg" and meta["size"] == len(data) and meta["contentType"] == "image/jpeg"
    raw = graph.get(f"{base}/{meta['id']}/$value")
    assert raw.content == data and raw.headers["content-type"] == "image/jpeg"
    puts = [e for e in sim.control("journal") if e["method"] == "PUT" and e["path"].startswith("/_upload/")]
    assert [e["headers"]["content-range"] for e in puts if e["status"] in (200, 201)] == [
        f"bytes 0-{4 * MB - 1}/{len(data)}", f"bytes {4 * MB}-{len(data) - 1}/{len(data)}"]


def test_upload_session_on_an_event_and_cancel(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    event = sim.control("create_event", user=user, fields={"subject": "Slides"})
    base = f"/users/{user}/calendar/events/{event['id']}/attachments"
    spec = {"AttachmentItem": {"attachmentType": "file", "name": "deck.pptx", "size": 3 * MB}}
    url = graph.post(f"{base}/createUploadSession", json=spec).json()["uploadUrl"]
    plain = httpx.Client(verify=str(sim.endpoints.ca_path), timeout=30)
    try:
        assert plain.delete(url).status_code == 204
        assert _upload(plain, url, b"x", 3 * MB, 0).status_code == 404
        url = graph.post(f"{base}/createUploadSession", json=spec).json()["uploadUrl"]
        assert _upload(plain, url, b"y" * (3 * MB), 3 * MB, 0).status_code == 201
        assert plain.put(url.split("?")[0] + "?authtoken=wrong", content=b"z").status_code == 404
    finally:
        plain.close()
    listed = graph.get(f"/users/{user}/events/{event['id']}/attachments").json()["value"]
    assert [(a["name"], a["size"]) for a in listed] == [("deck.pptx", 3 * MB)]


def test_occurrences_show_the_series_attachments_and_refuse_new_ones(sim: Simulator, graph: GraphTestClient) -> None:
    user = graph.first_user()
    master = graph.post(f"/users/{user}/events", json={
        "subject": "Weekly", "start": {"dateTime": "2026-11-02T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-02T09:30:00", "timeZone": "UTC"},
        "recurrence": {"pattern": {"type": "weekly", "daysOfWeek": ["monday"]},
                       "range": {"type": "numbered", "startDate": "2026-11-02", "numberOfOccurrences": 3}},
        "attachments": [_file("agenda.txt", b"agenda")]}).json()
    assert master["hasAttachments"] is True
    window = "startDateTime=2026-01-01T00:00:00Z&endDateTime=2028-01-01T00:00:00Z"
    occurrence = graph.get(f"/users/{user}/events/{master['id']}/instances?{window}").json()["value"][0]
    listed = graph.get(f"/users/{user}/events/{occurrence['id']}/attachments").json()["value"]
    assert [a["name"] for a in listed] == ["agenda.txt"]
    assert graph.post(f"/users/{user}/events/{occurrence['id']}/attachments",
                      json=_file("x.txt", b"x")).status_code == 400
