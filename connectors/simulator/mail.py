"""Outlook mail: mail folders, messages (lists, delta per folder, CRUD and actions), master categories,
and sendMail. Attachments are in attachments.py and attachment_routes.py.

Message ids: each message has an internal key; the client sees `immutable_id(key)` when it sends
`Prefer: IdType="ImmutableId"` and otherwise a REST id that changes on every move
(concepts/outlook-immutable-id.md). Moves report @removed in the source folder's delta and the item
in the target folder's delta.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from connectors.simulator import content, ids
from connectors.simulator.attachments import attachments_of, stored_attachments
from connectors.simulator.delta import DeltaSource, serve_page, sync_state_not_found
from connectors.simulator.http import ApiError, Request, Response, Router, bad_request, json_response, not_found
from connectors.simulator.store import Collapsed, Collection, Item
from connectors.simulator.tenant import Tenant, check_if_match, now_iso, patch_item, public
from connectors.simulator.views import outlook_limits, page_collection, page_items, select

ROOT = "msgfolderroot"


@dataclass
class Mailbox:
    tenant: Tenant
    user_id: str
    owner: content.Person
    folders: Collection
    messages: dict[str, Collection] = field(default_factory=dict)  # folder id -> its messages
    location: dict[str, str] = field(default_factory=dict)  # message key -> folder id, when not seeded there
    recoverable: dict[str, Item] = field(default_factory=dict)  # deleted messages (key -> item)
    categories: Collection | None = None

    # -- folders -------------------------------------------------------------------------------
    def folder_id(self, id_or_name: str) -> str:
        """Folder id for an id or a well-known name ("inbox", "SentItems"...)."""
        lowered = id_or_name.lower()
        if lowered == ROOT:
            return content.folder_id(self.user_id, ROOT)
        if lowered in content.WELL_KNOWN:
            return content.folder_id(self.user_id, lowered)
        if self.folders.get(id_or_name) is not None or id_or_name in self.messages:
            return id_or_name
        raise ApiError(404, "ErrorItemNotFound", "The specified folder could not be found in the store.")

    def folder(self, folder_id: str) -> Item:
        base = next((i for i, f in enumerate(content.FOLDERS) if content.folder_id(self.user_id, f.key) == folder_id),
                    None)
        item = self.folders.get(folder_id, base)
        if item is None:
            raise ApiError(404, "ErrorItemNotFound", "The specified folder could not be found in the store.")
        return item

    def render_folder(self, key: str, item: Item) -> dict:
        out = public(item)
        coll = self.messages.get(key)
        total = len(coll) if coll is not None else 0
        out["totalItemCount"] = total
        out["unreadItemCount"] = total * 3 // 10  # the seeded read ratio; not tracked per write
        out["childFolderCount"] = sum(1 for _, f in self.folders.items() if f.get("parentFolderId") == key)
        return out

    def create_folder(self, parent_id: str, display_name: str, is_hidden: bool = False) -> Item:
        if any(f.get("displayName", "").lower() == display_name.lower() and f.get("parentFolderId") == parent_id
               for _, f in self.folders.items()):
            raise ApiError(409, "ErrorFolderExists", "A folder with the specified name already exists.")
        key = ids.opaque("folder", self.user_id, self.tenant.new_key("f"))
        item = {"@odata.type": "#microsoft.graph.mailFolder", "id": key, "displayName": display_name,
                "parentFolderId": parent_id, "isHidden": is_hidden}
        self.folders.put_new(key, item)
        self.messages[key] = Collection(f"messages/{self.user_id}/{key}", self.tenant.clock)
        return item

    def delete_folder(self, folder_id: str) -> None:
        self.folder(folder_id)
        for child_key, child in list(self.folders.items()):
            if child.get("parentFolderId") == folder_id:
                self.delete_folder(child_key)
        self.folders.remove(folder_id)
        for key, _ in list(self.messages[folder_id].items()):
            self.messages[folder_id].remove(key)
        self.tenant.chains.evict(f"messages/{self.user_id}/{folder_id}")

    # -- messages ------------------------------------------------------------------------------
    def find(self, message_id: str) -> tuple[str, str, Item]:
        """(key, folder id, item) for a client-supplied id; stale REST ids are not found."""
        parsed = ids.parse_item_id(message_id)
        if parsed is None:
            raise ApiError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
        key, moves = parsed
        folder_id, base_index = self._where(key)
        coll = self.messages.get(folder_id)
        item = coll.get(key, base_index) if coll is not None else None
        if item is None or (moves is not None and moves != item.get("_moves", 0)):
            raise not_found()
        return key, folder_id, item

    def _where(self, key: str) -> tuple[str, int | None]:
        if key in self.location:
            return self.location[key], None
        parts = key.split(".")  # m.<user index>.<folder key>.<index>
        if len(parts) == 4 and parts[3].isdigit():
            return content.folder_id(self.user_id, parts[2]), int(parts[3])
        raise not_found()

    def render_message(self, key: str, item: Item, immutable: bool) -> dict:
        out = public(item)
        out["id"] = ids.immutable_id(key) if immutable else ids.rest_id(key, item.get("_moves", 0))
        return out

    def create_message(self, folder_id: str, fields: dict, *, draft: bool = True) -> tuple[str, Item]:
        key = self.tenant.new_key(f"m.{self.user_id}")
        stamp = now_iso()
        item = {
            "@odata.type": "#microsoft.graph.message", "createdDateTime": stamp, "lastModifiedDateTime": stamp,
            "receivedDateTime": stamp, "sentDateTime": None if draft else stamp, "hasAttachments": False,
            "internetMessageId": f"<{self.tenant.new_key('imid')}@{content.DOMAIN}>", "subject": "",
            "bodyPreview": "", "importance": "normal", "conversationId": ids.opaque("conv", key),
            "isRead": True, "isDraft": draft, "inferenceClassification": "focused",
            "body": {"contentType": "text", "content": ""}, "toRecipients": [], "ccRecipients": [],
            "bccRecipients": [], "replyTo": [], "categories": [], "flag": {"flagStatus": "notFlagged"},
            "from": self.owner.recipient(), "sender": self.owner.recipient(),
            **{k: copy.deepcopy(v) for k, v in fields.items() if k not in ("id", "@odata.type")},
        }
        item["bodyPreview"] = str(item.get("body", {}).get("content", ""))[:255]
        item["parentFolderId"] = folder_id
        if "_attachments" in item:
            item["_attachments"] = stored_attachments(item["_attachments"], "att", key)
            item["hasAttachments"] = bool(item["_attachments"])
        self.tenant.stamp(item, key)
        self.messages[folder_id].put_new(key, item)
        self.location[key] = folder_id
        return key, item

    def update_message(self, key: str, fields: dict) -> Item:
        folder_id, base_index = self._where(key)
        coll = self.messages[folder_id]
        item = coll.get(key, base_index)
        if item is None:
            raise not_found()
        return patch_item(self.tenant, coll, key, item, fields)

    def move_message(self, key: str, dest_folder_id: str) -> Item:
        folder_id, base_index = self._where(key)
        source = self.messages[folder_id]
        item = source.get(key, base_index)
        if item is None:
            raise not_found()
        if folder_id == dest_folder_id:
            return item
        self.folder(dest_folder_id)
        old_rest_id = ids.rest_id(key, item.get("_moves", 0))
        source.remove(key, "deleted", public_id=old_rest_id)
        moved = copy.deepcopy(item)
        moved["_moves"] = item.get("_moves", 0) + 1
        moved["parentFolderId"] = dest_folder_id
        self.tenant.stamp(moved, key)
        self.messages[dest_folder_id].put_new(key, moved)
        self.location[key] = dest_folder_id
        return moved

    def delete_message(self, key: str, *, soft: bool = False) -> None:
        """Remove a message. `soft` keeps it restorable (@removed reason "changed")."""
        folder_id, base_index = self._where(key)
        coll = self.messages[folder_id]
        item = coll.get(key, base_index)
        if item is None:
            raise not_found()
        coll.remove(key, "changed" if soft else "deleted", public_id=ids.rest_id(key, item.get("_moves", 0)))
        self.recoverable[key] = item
        self.location[key] = folder_id

    def restore_message(self, key: str) -> Item:
        item = self.recoverable.pop(key, None)
        if item is None:
            raise not_found()
        folder_id = item["parentFolderId"]
        self.messages[folder_id].put_new(key, item)
        self.location[key] = folder_id
        return item

    def deliver(self, message: Item, sender: content.Person) -> None:
        """Drop a copy of a sent message into the Inbox of every recipient in this tenant."""
        recipients = [r for field_name in ("toRecipients", "ccRecipients", "bccRecipients")
                      for r in message.get(field_name) or []]
        for r in recipients:
            address = (r.get("emailAddress") or {}).get("address", "")
            try:
                user_id, _ = self.tenant.resolve_user(address)
            except ApiError:
                continue  # external recipient
            target = mailbox(self.tenant, user_id)
            fields = {k: v for k, v in message.items() if not k.startswith("_") and k not in (
                "parentFolderId", "isDraft", "isRead", "@odata.etag", "changeKey")}
            if message.get("_attachments") is not None:  # the recipient's copy carries the attachments
                fields["_attachments"] = message["_attachments"]
            fields.update({"from": sender.recipient(), "sender": sender.recipient(), "isRead": False})
            target.create_message(target.folder_id("inbox"), fields, draft=False)

    def send(self, key: str) -> None:
        self.move_message(key, self.folder_id("sentitems"))
        sent = self.update_message(key, {"isDraft": False, "sentDateTime": now_iso()})
        self.deliver(sent, self.owner)


def mailbox(tenant: Tenant, user_id: str) -> Mailbox:
    """The mailbox of a user, built on first use."""
    box = tenant.mailboxes.get(user_id)
    if box is not None:
        return box
    owner = tenant.person(user_id)
    user_index = tenant.user_index(user_id)
    per_mailbox = tenant.scale.messages_per_mailbox if user_index is not None else 0
    folders = Collection(
        f"mailFolders/{user_id}", tenant.clock, base_count=len(content.FOLDERS),
        base_key=lambda i: content.folder_id(user_id, content.FOLDERS[i].key),
        base_item=lambda i: _seed_folder(user_id, content.FOLDERS[i]),
    )
    box = Mailbox(tenant, user_id, owner, folders)
    counts = content.folder_counts(per_mailbox)
    users = tenant.scale.users
    for f in content.FOLDERS:
        fid = content.folder_id(user_id, f.key)
        box.messages[fid] = Collection(
            f"messages/{user_id}/{fid}", tenant.clock, base_count=counts[f.key] if user_index is not None else 0,
            base_key=lambda i, fk=f.key: content.message_key(user_index, fk, i),
            base_item=lambda i, fk=f.key: content.message_object(tenant.seed, owner, fk, i, users, tenant.epoch),
        )
    box.categories = Collection(
        f"categories/{user_id}", tenant.clock, base_count=len(content.CATEGORY_PRESETS),
        base_key=lambda i: ids.guid(tenant.seed, "category", user_id, i),
        base_item=lambda i: {"id": ids.guid(tenant.seed, "category", user_id, i),
                             "displayName": content.CATEGORY_PRESETS[i][0], "color": content.CATEGORY_PRESETS[i][1]},
    )
    tenant.mailboxes[user_id] = box
    return box


def _seed_folder(user_id: str, f: content.FolderSeed) -> Item:
    parent = content.folder_id(user_id, f.parent or ROOT)
    return {"@odata.type": "#microsoft.graph.mailFolder", "id": content.folder_id(user_id, f.key),
            "displayName": f.display_name, "parentFolderId": parent, "isHidden": False}


# -- HTTP ------------------------------------------------------------------------------------------
class MailArea:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    def register(self, r: Router) -> None:
        u = "/users/{user}"
        r.add("GET", f"{u}/mailFolders", self.list_folders)
        r.add("POST", f"{u}/mailFolders", self.create_folder)
        r.add("GET", f"{u}/mailFolders/delta", self.folders_delta)
        r.add("GET", f"{u}/mailFolders/{{folder}}", self.get_folder)
        r.add("PATCH", f"{u}/mailFolders/{{folder}}", self.update_folder)
        r.add("DELETE", f"{u}/mailFolders/{{folder}}", self.delete_folder)
        r.add("GET", f"{u}/mailFolders/{{folder}}/childFolders", self.list_child_folders)
        r.add("POST", f"{u}/mailFolders/{{folder}}/childFolders", self.create_child_folder)
        r.add("GET", f"{u}/mailFolders/{{folder}}/messages", self.list_folder_messages)
        r.add("POST", f"{u}/mailFolders/{{folder}}/messages", self.create_message_in_folder)
        r.add("GET", f"{u}/mailFolders/{{folder}}/messages/delta", self.messages_delta)
        r.add("GET", f"{u}/messages", self.list_messages)
        r.add("POST", f"{u}/messages", self.create_draft)
        r.add("GET", f"{u}/messages/{{message}}", self.get_message)
        r.add("PATCH", f"{u}/messages/{{message}}", self.update_message)
        r.add("DELETE", f"{u}/messages/{{message}}", self.delete_message)
        for action in ("send", "forward", "reply", "replyAll"):
            r.add("POST", f"{u}/messages/{{message}}/{action}", self.send_action(action))
        for action in ("createForward", "createReply", "createReplyAll"):
            r.add("POST", f"{u}/messages/{{message}}/{action}", self.create_response_draft(action))
        r.add("POST", f"{u}/messages/{{message}}/move", self.move_message)
        r.add("POST", f"{u}/messages/{{message}}/copy", self.copy_message)
        r.add("POST", f"{u}/sendMail", self.send_mail)
        r.add("GET", f"{u}/outlook/masterCategories", self.list_categories)
        r.add("POST", f"{u}/outlook/masterCategories", self.create_category)
        r.add("GET", f"{u}/outlook/masterCategories/{{category}}", self.get_category)
        r.add("PATCH", f"{u}/outlook/masterCategories/{{category}}", self.update_category)
        r.add("DELETE", f"{u}/outlook/masterCategories/{{category}}", self.delete_category)

    def box(self, req: Request) -> Mailbox:
        return mailbox(self.tenant, req.params["user"])

    # -- folders -------------------------------------------------------------------------------
    def list_folders(self, req: Request) -> Response:
        box = self.box(req)
        root = content.folder_id(box.user_id, ROOT)
        top = (box.render_folder(k, v) for k, v in box.folders.items() if v.get("parentFolderId") == root)
        return page_items(req, top, outlook_limits())

    def list_child_folders(self, req: Request) -> Response:
        box = self.box(req)
        parent = box.folder_id(req.params["folder"])
        children = (box.render_folder(k, v) for k, v in box.folders.items() if v.get("parentFolderId") == parent)
        return page_items(req, children, outlook_limits())

    def get_folder(self, req: Request) -> Response:
        box = self.box(req)
        fid = box.folder_id(req.params["folder"])
        return json_response(select(box.render_folder(fid, box.folder(fid)), req))

    def create_folder(self, req: Request) -> Response:
        return self._create_folder(req, content.folder_id(req.params["user"], ROOT))

    def create_child_folder(self, req: Request) -> Response:
        return self._create_folder(req, self.box(req).folder_id(req.params["folder"]))

    def _create_folder(self, req: Request, parent: str) -> Response:
        body = req.json()
        name = body.get("displayName")
        if not isinstance(name, str) or not name.strip():
            raise bad_request("The folder displayName is required.", "ErrorInvalidRequest")
        box = self.box(req)
        item = box.create_folder(parent, name, bool(body.get("isHidden", False)))
        return json_response(box.render_folder(item["id"], item), 201)

    def update_folder(self, req: Request) -> Response:
        box = self.box(req)
        fid = box.folder_id(req.params["folder"])
        fields = {k: v for k, v in req.json().items() if k in ("displayName",)}
        item = patch_item(self.tenant, box.folders, fid, box.folder(fid), fields, stamp=False)
        return json_response(box.render_folder(fid, item))

    def delete_folder(self, req: Request) -> Response:
        box = self.box(req)
        box.delete_folder(box.folder_id(req.params["folder"]))
        return Response(204)

    def folders_delta(self, req: Request) -> Response:
        box = self.box(req)
        src = DeltaSource(
            box.folders, req.path,
            render_full=lambda k, v: select(box.render_folder(k, v), req),
            render_removed=lambda c: {"id": c.key, "@removed": {"reason": c.reason}},
            render_partial=None, default_page=10, max_page=1000, expired=sync_state_not_found,
        )
        return serve_page(req, self.tenant, src)

    # -- messages ------------------------------------------------------------------------------
    def list_folder_messages(self, req: Request) -> Response:
        box = self.box(req)
        coll = box.messages[box.folder_id(req.params["folder"])]
        return page_collection(req, coll, outlook_limits(), self._renderer(req, box))

    def list_messages(self, req: Request) -> Response:
        box = self.box(req)
        render = self._renderer(req, box)
        everything = (render(k, v) for coll in box.messages.values() for k, v in coll.items())
        return page_items(req, everything, outlook_limits())

    def _renderer(self, req: Request, box: Mailbox):
        immutable = req.immutable_ids
        return lambda k, v: box.render_message(k, v, immutable)

    def messages_delta(self, req: Request) -> Response:
        box = self.box(req)
        fid = box.folder_id(req.params["folder"])
        immutable = req.immutable_ids
        token = req.query.get("$deltatoken") or req.query.get("$skiptoken")
        options = {} if token else _message_delta_options(req)
        src = DeltaSource(
            box.messages[fid], req.path, render_full=None,  # type: ignore[arg-type]
            render_removed=lambda c: _removed_message(c, immutable),
            render_partial=lambda k, v, f: _partial(box.render_message(k, v, immutable), f),
            default_page=10, max_page=1000, expired=sync_state_not_found, options=options,
        )

        def render_full(key: str, item: Item) -> dict | None:
            out = box.render_message(key, item, immutable)
            if not _passes_delta_filter(out, src.options):
                return None
            return _project(out, src.options.get("select"))

        src.render_full = render_full
        return serve_page(req, self.tenant, src)

    def get_message(self, req: Request) -> Response:
        box = self.box(req)
        key, _, item = box.find(req.params["message"])
        return json_response(select(box.render_message(key, item, req.immutable_ids), req))

    def create_draft(self, req: Request) -> Response:
        box = self.box(req)
        key, item = box.create_message(box.folder_id("drafts"), _message_fields(req.json()))
        return json_response(box.render_message(key, item, req.immutable_ids), 201)

    def create_message_in_folder(self, req: Request) -> Response:
        box = self.box(req)
        key, item = box.create_message(box.folder_id(req.params["folder"]), _message_fields(req.json()))
        return json_response(box.render_message(key, item, req.immutable_ids), 201)

    def update_message(self, req: Request) -> Response:
        box = self.box(req)
        key, _, item = box.find(req.params["message"])
        check_if_match(req.headers, item)
        fields = _message_fields(req.json())
        if not item.get("isDraft"):
            locked = set(fields) & {"subject", "body", "toRecipients", "ccRecipients", "bccRecipients", "from"}
            if locked:
                raise ApiError(400, "ErrorInvalidPropertyUpdateSentMessage",
                               "Update operation is not supported for this property on a sent message: "
                               + ", ".join(sorted(locked)))
        if "_attachments" in fields:  # attachments sent in a PATCH body are parsed like POSTed ones
            fields["_attachments"] = stored_attachments(fields["_attachments"], "att", key, self.tenant.new_key)
        updated = box.update_message(key, fields)
        return json_response(box.render_message(key, updated, req.immutable_ids))

    def delete_message(self, req: Request) -> Response:
        box = self.box(req)
        key, _, item = box.find(req.params["message"])
        check_if_match(req.headers, item)
        box.delete_message(key)
        return Response(204)

    def move_message(self, req: Request) -> Response:
        box = self.box(req)
        key, _, _ = box.find(req.params["message"])
        dest = req.action_params().get("destinationId")
        if not dest:
            raise bad_request("destinationId is required.", "ErrorInvalidRequest")
        moved = box.move_message(key, box.folder_id(dest))
        return json_response(box.render_message(key, moved, req.immutable_ids), 201)

    def copy_message(self, req: Request) -> Response:
        box = self.box(req)
        original, _, item = box.find(req.params["message"])
        dest = req.action_params().get("destinationId")
        if not dest:
            raise bad_request("destinationId is required.", "ErrorInvalidRequest")
        fields = {**public(item), "_attachments": attachments_of(self.tenant, "message", original, item)}
        key, copied = box.create_message(box.folder_id(dest), fields, draft=bool(item.get("isDraft")))
        return json_response(box.render_message(key, copied, req.immutable_ids), 201)

    def send_action(self, action: str):
        def handle(req: Request) -> Response:
            box = self.box(req)
            key, _, item = box.find(req.params["message"])
            if action == "send":
                if not item.get("isDraft"):
                    raise bad_request("Only a draft message can be sent.", "ErrorInvalidOperation")
                box.send(key)
                return Response(202)
            draft_key = self._response_draft(box, item, action, req.action_params())
            box.send(draft_key)
            return Response(202)

        return handle

    def create_response_draft(self, action: str):
        kind = action.removeprefix("create")
        kind = kind[0].lower() + kind[1:]

        def handle(req: Request) -> Response:
            box = self.box(req)
            _, _, item = box.find(req.params["message"])
            key = self._response_draft(box, item, kind, req.action_params())
            draft = box.messages[box.folder_id("drafts")].overlay[key]
            return json_response(box.render_message(key, draft, req.immutable_ids), 201)

        return handle

    def _response_draft(self, box: Mailbox, original: Item, kind: str, body: dict) -> str:
        prefix = {"forward": "FW: ", "reply": "RE: ", "replyAll": "RE: "}[kind]
        sender = original.get("from")
        if kind == "forward":
            to = body.get("toRecipients") or (body.get("message") or {}).get("toRecipients") or []
            if not to:
                raise bad_request("At least one recipient is required.", "ErrorInvalidRecipients")
        elif kind == "reply":
            to = [sender] if sender else []
        else:
            to = ([sender] if sender else []) + [r for r in original.get("toRecipients", [])
                                                  if r != box.owner.recipient()]
        comment = body.get("comment", "")
        fields = {"subject": prefix + str(original.get("subject", "")), "toRecipients": to,
                  "body": {"contentType": "html", "content": f"<p>{comment}</p><hr>"
                           + str((original.get("body") or {}).get("content", ""))},
                  "conversationId": original.get("conversationId")}
        fields.update(_message_fields(body.get("message") or {}))
        key, _ = box.create_message(box.folder_id("drafts"), fields)
        return key

    def send_mail(self, req: Request) -> Response:
        box = self.box(req)
        body = req.action_params()
        message = body.get("message")
        if not isinstance(message, dict):
            raise bad_request("Empty Payload. JSON content expected.", "ErrorInvalidRequest")
        if not any(message.get(f) for f in ("toRecipients", "ccRecipients", "bccRecipients")):
            raise bad_request("At least one recipient is required, but none were found.", "ErrorInvalidRecipients")
        fields = {**_message_fields(message), "sentDateTime": now_iso()}
        if body.get("saveToSentItems", True) not in (False, "false"):
            _, saved = box.create_message(box.folder_id("sentitems"), fields, draft=False)
            box.deliver(saved, box.owner)
        else:
            box.deliver({**fields, "isDraft": False}, box.owner)
        return Response(202)

    # -- categories ----------------------------------------------------------------------------
    def _categories(self, req: Request) -> Collection:
        coll = self.box(req).categories
        assert coll is not None
        return coll

    def _category(self, req: Request) -> tuple[str, Item]:
        coll = self._categories(req)
        key = req.params["category"]
        for k, v in coll.items():
            if k == key:
                return k, v
        raise not_found()

    def list_categories(self, req: Request) -> Response:
        return page_items(req, (public(v) for _, v in self._categories(req).items()), outlook_limits(100, 1000))

    def get_category(self, req: Request) -> Response:
        return json_response(select(public(self._category(req)[1]), req))

    def create_category(self, req: Request) -> Response:
        body = req.json()
        name = body.get("displayName")
        if not name:
            raise bad_request("displayName is required.", "ErrorInvalidRequest")
        coll = self._categories(req)
        if any(v.get("displayName", "").lower() == str(name).lower() for _, v in coll.items()):
            raise ApiError(409, "ErrorDuplicateCategory", "A category with the same name already exists.")
        key = ids.guid(self.tenant.seed, self.tenant.new_key("category"))
        item = {"id": key, "displayName": name, "color": body.get("color", "none")}
        coll.put_new(key, item)
        return json_response(item, 201)

    def update_category(self, req: Request) -> Response:
        key, item = self._category(req)
        body = req.json()
        if "displayName" in body and body["displayName"] != item["displayName"]:
            raise bad_request("The displayName of a category cannot be changed.", "ErrorInvalidRequest")
        updated = patch_item(self.tenant, self._categories(req), key, item,
                             {k: v for k, v in body.items() if k == "color"}, stamp=False)
        return json_response(public(updated))

    def delete_category(self, req: Request) -> Response:
        key, _ = self._category(req)
        self._categories(req).remove(key)
        return Response(204)


# -- helpers ---------------------------------------------------------------------------------------
_MESSAGE_WRITABLE = {"subject", "body", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "from",
                     "sender", "importance", "isRead", "categories", "flag", "internetMessageId",
                     "isDeliveryReceiptRequested", "isReadReceiptRequested", "inferenceClassification",
                     "internetMessageHeaders", "singleValueExtendedProperties", "conversationId"}


def _message_fields(body: dict) -> dict:
    unknown = set(body) - _MESSAGE_WRITABLE - {"@odata.type", "id", "attachments"}
    if unknown:
        raise bad_request(f"Property '{sorted(unknown)[0]}' does not exist on type 'microsoft.graph.message'.",
                          "RequestBodyRead")
    fields = {k: v for k, v in body.items() if k in _MESSAGE_WRITABLE}
    if "attachments" in body:
        fields["_attachments"] = body["attachments"]
        fields["hasAttachments"] = bool(body["attachments"])
    return fields


def _message_delta_options(req: Request) -> dict:
    """Query options of a first delta call; the tokens carry them afterwards."""
    options: dict = {}
    if "$select" in req.query:
        options["select"] = req.query["$select"]
    flt = req.query.get("$filter")
    if flt:
        parts = flt.split()
        if len(parts) != 3 or parts[0] != "receivedDateTime" or parts[1] not in ("ge", "gt"):
            raise bad_request("Only receivedDateTime ge|gt filters are supported on message delta.",
                              "ErrorInvalidUrlQueryFilter")
        options["filter"] = [parts[1], parts[2]]
    change_type = req.query.get("changeType")
    if change_type:
        if change_type not in ("created", "updated", "deleted"):
            raise bad_request(f"Invalid changeType '{change_type}'.", "ErrorInvalidParameter")
        options["changeType"] = change_type
    return options


def _passes_delta_filter(message: dict, options: dict) -> bool:
    flt = options.get("filter")
    if not flt:
        return True
    op, value = flt
    received = message.get("receivedDateTime") or ""
    return received >= value if op == "ge" else received > value


def _project(out: dict, select_option: str | None) -> dict:
    if not select_option:
        return out
    wanted = {f.strip() for f in select_option.split(",")} | {"id", "@odata.type", "@odata.etag"}
    return {k: v for k, v in out.items() if k in wanted}


def _partial(full: dict, fields: frozenset[str]) -> dict:
    """An updated message as delta reports it: its id plus the properties that changed."""
    keep = set(fields) | {"id", "@odata.type", "@odata.etag"}
    return {k: v for k, v in full.items() if k in keep}


def _removed_message(change: Collapsed, immutable: bool) -> dict:
    mid = ids.immutable_id(change.key) if immutable or change.public_id is None else change.public_id
    return {"@odata.type": "#microsoft.graph.message", "id": mid, "@removed": {"reason": change.reason}}
