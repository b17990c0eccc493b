"""The attachment routes of messages and events, and Outlook's upload sessions for large files.

Routes, under `/users/{id}/messages/{id}` and `/users/{id}/events/{id}` (also `/calendar/events/{id}`,
`/calendars/{id}/events/{id}`, `/calendarGroups/{id}/calendars/{id}/events/{id}`):
- `GET .../attachments` (message-list-attachments.md, event-list-attachments.md);
- `POST .../attachments`: file, item or reference attachment, files under 3 MB (message-post-attachments.md,
  event-post-attachments.md);
- `GET .../attachments/{id}`, `GET .../attachments/{id}/$value` (attachment-get.md);
- `DELETE .../attachments/{id}` (attachment-delete.md);
- `POST .../attachments/createUploadSession` (attachment-createuploadsession.md).

An upload session (outlook-large-attachments.md) is for files "between 3 MB and 150 MB". Its `uploadUrl`
is pre-authenticated: PUTs carry no Authorization header, only `Content-Range: bytes {start}-{end}/{total}`
with the bytes, "in order". Each PUT answers 200 with the next expected range; the last one answers
201 Created with a `Location` naming the new attachment and no body; the attachment exists only then.
DELETE on the URL cancels the session (204). Here the URL is `/_upload/attachments/{session}?authtoken=`
on the simulator's own origin (app.py routes it without a bearer token).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.simulator import ids
from connectors.simulator.attachments import (
    FILE,
    ITEM,
    MAX_POST_BYTES,
    attachments_of,
    content_of,
    from_body,
    render,
    sha256_of,
    showcase_keys,
    wants_bytes,
    wants_item,
)
from connectors.simulator.calendar import EventRef, user_calendar
from connectors.simulator.calendar_paths import CALENDAR_PREFIXES, named_calendar
from connectors.simulator.http import ApiError, Request, Response, Router, bad_request, json_response, not_found
from connectors.simulator.mail import mailbox
from connectors.simulator.store import Item
from connectors.simulator.tenant import Tenant, now_iso
from connectors.simulator.views import outlook_limits, page_items, select

U = "/users/{user}"
MAX_SESSION_BYTES = 150 * 1024 * 1024  # outlook-large-attachments.md: "files up to 150 MB"
SESSION_LIFETIME = timedelta(hours=2)
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@dataclass
class Target:
    """The message or event an attachment request addresses."""

    kind: str  # "message" | "event"
    user_id: str
    key: str  # the stable internal key (message ids change on move)
    client_id: str  # the id the client used, for @odata.context and Location
    item: Item
    calendar_id: str | None = None
    occurrence: str | None = None


@dataclass
class UploadSession:
    id: str
    authtoken: str
    kind: str
    user_id: str
    key: str
    client_id: str
    name: str
    size: int
    content_type: str
    is_inline: bool
    content_id: str | None
    expires: datetime
    received: bytearray = field(default_factory=bytearray)


class AttachmentsArea:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.sessions: dict[str, UploadSession] = {}

    def register(self, r: Router) -> None:
        bases = [f"{U}/messages/{{message}}/attachments", f"{U}/events/{{event}}/attachments",
                 *(f"{p}/events/{{event}}/attachments" for p in CALENDAR_PREFIXES)]
        for base in bases:
            r.add("GET", base, self.list_attachments)
            r.add("POST", base, self.add_attachment)
            r.add("POST", f"{base}/createUploadSession", self.create_upload_session)
            r.add("GET", f"{base}/{{attachment}}", self.get_attachment)
            r.add("DELETE", f"{base}/{{attachment}}", self.delete_attachment)
            r.add("GET", f"{base}/{{attachment}}/$value", self.get_value)

    # -- resolving ---------------------------------------------------------------------------------
    def _target(self, req: Request) -> Target:
        user_id = req.params["user"]
        if "message" in req.params:
            key, _, item = mailbox(self.tenant, user_id).find(req.params["message"])
            return Target("message", user_id, key, req.params["message"], item)
        calendar_id = named_calendar(self.tenant, req)
        ref = user_calendar(self.tenant, user_id).find(req.params["event"])
        if calendar_id is not None and ref.calendar_id != calendar_id:
            raise not_found()  # the event is not in the calendar the path names
        return Target("event", user_id, ref.key, req.params["event"], ref.item, ref.calendar_id, ref.occurrence)

    def _by_key(self, kind: str, user_id: str, key: str) -> Target:
        """A target again from its stable key (an upload session finishing later)."""
        if kind == "message":
            box = mailbox(self.tenant, user_id)
            folder_id, base_index = box._where(key)
            item = box.messages[folder_id].get(key, base_index)
            if item is None:
                raise not_found()
            return Target(kind, user_id, key, key, item)
        calendar_id, item = user_calendar(self.tenant, user_id).stored(key)
        return Target(kind, user_id, key, key, item, calendar_id)

    def _attachments(self, t: Target) -> list[Item]:
        return attachments_of(self.tenant, t.kind, t.key, t.item)

    def _write(self, t: Target, attachments: list[Item]) -> None:
        """Store the new list: the message or event changes (new changeKey, it shows in delta)."""
        if t.kind == "message":
            mailbox(self.tenant, t.user_id).update_message(
                t.key, {"_attachments": attachments, "hasAttachments": bool(attachments)})
            return
        assert t.calendar_id is not None
        user_calendar(self.tenant, t.user_id).set_attachments(
            EventRef(t.key, t.calendar_id, t.item, t.occurrence), attachments)

    def _find(self, t: Target, attachment_id: str) -> Item:
        for att in self._attachments(t):
            if att["id"] == attachment_id:
                return att
        raise not_found()

    def _new_id(self, t: Target) -> str:
        return ids.opaque("att" if t.kind == "message" else "eventAttachment", t.key, self.tenant.new_key("a"))

    @staticmethod
    def _entity_context(req: Request, t: Target) -> str:
        return (f"{req.base_url}/$metadata#users('{t.user_id}')/{t.kind}s('{t.client_id}')"
                "/attachments/$entity")

    # -- routes ------------------------------------------------------------------------------------
    def list_attachments(self, req: Request) -> Response:
        t = self._target(req)
        with_bytes, expand = wants_bytes(req.query), wants_item(req.query)
        found = [render(a, with_bytes=with_bytes, expand_item=expand) for a in self._attachments(t)]
        return page_items(req, found, outlook_limits())

    def get_attachment(self, req: Request) -> Response:
        t = self._target(req)
        att = self._find(t, req.params["attachment"])
        out = render(att, with_bytes=wants_bytes(req.query), expand_item=wants_item(req.query))
        return json_response({"@odata.context": self._entity_context(req, t), **select(out, req)})

    def get_value(self, req: Request) -> Response:
        """The raw content: a file in its own content type, an item as MIME (attachment-get.md)."""
        att = self._find(self._target(req), req.params["attachment"])
        data = content_of(att)
        if att.get("@odata.type") == ITEM:
            kind = "text/calendar" if str((att.get("_item") or {}).get("@odata.type", "")).endswith("event") \
                else "message/rfc822"
            return Response(200, data, {"content-type": kind})
        return Response(200, data, {"content-type": str(att.get("contentType") or "application/octet-stream")})

    def add_attachment(self, req: Request) -> Response:
        t = self._target(req)
        att = from_body(req.json(), self._new_id(t))
        self._write(t, [*self._attachments(t), att])
        return json_response({"@odata.context": self._entity_context(req, t), **render(att)}, 201)

    def delete_attachment(self, req: Request) -> Response:
        t = self._target(req)
        att = self._find(t, req.params["attachment"])
        self._write(t, [a for a in self._attachments(t) if a["id"] != att["id"]])
        return Response(204)

    # -- upload sessions ---------------------------------------------------------------------------
    def create_upload_session(self, req: Request) -> Response:
        t = self._target(req)
        if t.occurrence is not None:
            raise bad_request("Attachments can be added to the series master or single events only.",
                              "ErrorInvalidRequest")
        spec = req.action_params().get("attachmentItem")
        if not isinstance(spec, dict) or not spec.get("name") or not isinstance(spec.get("size"), int):
            raise bad_request("AttachmentItem with a name and a size is required.", "ErrorInvalidRequest")
        if str(spec.get("attachmentType", "")).lower() != "file":
            # attachmentitem.md lists file, item and reference; only a file has bytes to upload.
            raise bad_request("Only file attachments can be uploaded in a session.", "ErrorInvalidRequest")
        size = int(spec["size"])
        if size < MAX_POST_BYTES:  # outlook-large-attachments.md, "Errors"
            raise bad_request("The attachment size should not be less than 3 MB; attach smaller files with a POST "
                              "on the attachments collection.", "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize")
        if size > MAX_SESSION_BYTES:
            # Observed for sessions over the mailbox's message size limit (microsoft-graph-docs-contrib#2561).
            raise bad_request("The message exceeds the maximum supported size.", "ErrorMessageSizeExceeded")
        session = UploadSession(secrets.token_urlsafe(16), secrets.token_urlsafe(24), t.kind, t.user_id, t.key,
                                t.client_id, str(spec["name"]), size,
                                str(spec.get("contentType") or "application/octet-stream"),
                                bool(spec.get("isInline", False)), spec.get("contentId"),
                                datetime.now(UTC) + SESSION_LIFETIME)
        self.sessions[session.id] = session
        origin = req.base_url.rsplit("/", 1)[0]
        return json_response({"@odata.context": f"{req.base_url}/$metadata#microsoft.graph.uploadSession",
                              "uploadUrl": f"{origin}/_upload/attachments/{session.id}?authtoken={session.authtoken}",
                              "expirationDateTime": _stamp(session.expires), "nextExpectedRanges": ["0-"]}, 201)

    def upload(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes,
               origin: str) -> Response:
        """A request to an uploadUrl: PUT a range, or DELETE to cancel."""
        session = self.sessions.get(path.removeprefix("/_upload/attachments/"))
        if session is None or query.get("authtoken") != session.authtoken or datetime.now(UTC) > session.expires:
            raise ApiError(404, "ErrorItemNotFound", "The upload session was not found or has expired.")
        if method == "DELETE":
            del self.sessions[session.id]
            return Response(204)
        if method != "PUT":
            raise ApiError(405, "ErrorInvalidRequest", f"{method} is not supported on an upload session.")
        m = _CONTENT_RANGE.match(headers.get("content-range", "").strip())
        if m is None:
            raise bad_request("Content-Range must be 'bytes {start}-{end}/{total}'.", "ErrorInvalidRequest")
        start, end, total = (int(g) for g in m.groups())
        if total != session.size or end < start or end >= total or end - start + 1 != len(body):
            raise bad_request("The Content-Range does not match the session's size or the bytes sent.",
                              "ErrorInvalidRequest")
        if start != len(session.received):
            # "You must upload bytes in a file in order" (outlook-large-attachments.md). The status for a
            # range out of order is not documented for Outlook; OneDrive answers a fragment it already
            # has with 416 Requested Range Not Satisfiable (driveitem-createuploadsession.md).
            raise ApiError(416, "ErrorInvalidRange", f"The next expected range starts at {len(session.received)}.")
        session.received.extend(body)
        if len(session.received) < session.size:
            # The answer comes from Outlook's REST endpoint, in its own casing (outlook-large-attachments.md).
            return json_response({"@odata.context": f"{origin}/api/v2.0/$metadata#AttachmentSessions/$entity",
                                  "ExpirationDateTime": _stamp(session.expires),
                                  "nextExpectedRanges": [str(len(session.received))]})
        return self._finish(session, origin)

    def _finish(self, session: UploadSession, origin: str) -> Response:
        del self.sessions[session.id]
        t = self._by_key(session.kind, session.user_id, session.key)
        att: Item = {"@odata.type": FILE, "id": self._new_id(t), "lastModifiedDateTime": now_iso(),
                     "name": session.name, "contentType": session.content_type, "size": session.size,
                     "isInline": session.is_inline, "contentId": session.content_id, "contentLocation": None,
                     "_data": bytes(session.received)}
        self._write(t, [*self._attachments(t), att])
        location = (f"{origin}/v1.0/users('{session.user_id}')/{session.kind}s('{session.client_id}')"
                    f"/attachments('{att['id']}')")
        return Response(201, None, {"location": location})

    # -- control surface ---------------------------------------------------------------------------
    def control_ops(self) -> dict[str, Callable[..., Any]]:
        return {"attachments_state": self.ctl_attachments_state, "attachment_sha256": self.ctl_attachment_sha256,
                "large_attachments": self.ctl_large_attachments, "upload_sessions": self.ctl_upload_sessions}

    def _control_target(self, user: str, kind: str, item_id: str) -> Target:
        if kind not in ("message", "event"):
            raise bad_request("kind must be 'message' or 'event'.")
        user_id, _ = self.tenant.resolve_user(user)
        if kind == "message":
            key, _, item = mailbox(self.tenant, user_id).find(item_id)
            return Target(kind, user_id, key, item_id, item)
        ref = user_calendar(self.tenant, user_id).find(item_id)
        return Target(kind, user_id, ref.key, item_id, ref.item, ref.calendar_id, ref.occurrence)

    @staticmethod
    def _summary(att: Item) -> dict:
        out = render(att, with_bytes=False)
        out["sha256"] = None if att.get("@odata.type") not in (FILE, ITEM) else sha256_of(att)
        return out

    def ctl_attachments_state(self, user: str, kind: str, item_id: str) -> list[dict]:
        """attachments_state(user, kind, item_id) -> [attachment metadata + "sha256"]: every attachment of a
        message or event (kind "message"/"event", any id form), as GET returns them without contentBytes;
        sha256 is of the raw `/$value` content (None for reference attachments)."""
        t = self._control_target(user, kind, item_id)
        return [self._summary(a) for a in self._attachments(t)]

    def ctl_attachment_sha256(self, user: str, kind: str, item_id: str, attachment_id: str) -> dict:
        """attachment_sha256(user, kind, item_id, attachment_id) -> {"sha256", "size", "name", "contentType",
        "@odata.type"}: the hash of the bytes `/$value` returns."""
        att = self._find(self._control_target(user, kind, item_id), attachment_id)
        return {"sha256": sha256_of(att), "size": len(content_of(att)), "name": att["name"],
                "contentType": att.get("contentType"), "@odata.type": att["@odata.type"]}

    def ctl_large_attachments(self, user: str | None = None) -> list[dict]:
        """large_attachments(user=None) -> [{"user", "kind", "itemId", "immutableItemId", "attachmentId",
        "name", "size", "sha256"}]: the seeded file attachments over 3 MB. A seeded user has one on the first
        message with attachments (folders in seed order) and one on the first default-calendar event with
        attachments, when there is such an event; both items also carry an item and a reference attachment.
        itemId is the REST id (what a client sees without Prefer: IdType)."""
        users = [self.tenant.resolve_user(user)[0]] if user else self.tenant.user_ids()
        out = []
        for user_id in users:
            index = self.tenant.user_index(user_id)
            if index is None:
                continue
            for kind, key in zip(("message", "event"), showcase_keys(self.tenant, index), strict=True):
                if key is None:
                    continue
                try:
                    live = self._by_key(kind, user_id, key)
                except ApiError:
                    continue  # deleted since
                item_id = ids.rest_id(key, int(live.item.get("_moves", 0)))
                for att in self._attachments(live):
                    if att.get("@odata.type") == FILE and int(att["size"]) > MAX_POST_BYTES:
                        out.append({"user": user_id, "kind": kind, "itemId": item_id,
                                    "immutableItemId": ids.immutable_id(key), "attachmentId": att["id"],
                                    "name": att["name"], "size": att["size"], "sha256": sha256_of(att)})
        return out

    def ctl_upload_sessions(self) -> list[dict]:
        """upload_sessions() -> [{"id", "kind", "user", "name", "size", "received"}]: open upload sessions."""
        return [{"id": s.id, "kind": s.kind, "user": s.user_id, "name": s.name, "size": s.size,
                 "received": len(s.received)} for s in self.sessions.values()]


def _stamp(moment: datetime) -> str:
    """The seven-digit fractional form Outlook writes (attachment-createuploadsession.md's example)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"

