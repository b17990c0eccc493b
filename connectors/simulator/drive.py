"""OneDrive for Business: one drive per user, driveItems (folders and files), content download and
upload, sharing links and drive delta. Search, item permissions, delta through an item and the
deprecated recent / sharedWithMe views are in drive_views.py.

Each drive keeps all its items in ONE collection (the root, nested folders and files), so a single
change log feeds `root/delta`. Seeded items are pure functions of their slot and file bytes are
generated on demand from (seed, drive, slot), so a 9 MB file costs nothing until it is downloaded;
uploaded bytes are stored.

Delta follows driveitem-delta.md: removals carry the `deleted` facet (not @removed), links use
`token=`, an evicted token answers 410 with a Location that starts a fresh enumeration. Every write
also stamps the item's ancestors (their eTag/cTag change because their contents did), so an
incremental round reports the parents of changed items, as OneDrive does by design.

Sharing changes follow "Scanning permissions hierarchies" (driveitem-delta.md; scan-guidance.md): a new
sharing link is logged on the item, and on its ancestors as its parent hierarchy, without new eTag/cTag
(neither content nor metadata changed). Delta reports such a sharing-only change only to a caller that
sends `Prefer: deltashowsharingchanges` ("all items that appear in the delta query response due to
permission changes have the `@microsoft.graph.sharedChanged":"True"` OData annotation"), which "requires
you to use `Prefer: deltashowremovedasdeleted` and `Prefer: deltatraversepermissiongaps`"; without it
delta "only includes items with direct changes to their content or metadata and the parent hierarchy of
the changed items" (scan-guidance.md). `Prefer: hierarchicalsharing` (which `shared` facets are returned)
is not modelled.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import quote

import orjson

from connectors.simulator import content, ids
from connectors.simulator.content import iso, mix, person
from connectors.simulator.delta import DeltaSource, decode_token, encode_token, serve
from connectors.simulator.http import ApiError, Request, Response, Router, bad_request, json_response
from connectors.simulator.store import Collapsed, Collection, Item
from connectors.simulator.tenant import Tenant, check_if_match, now_iso, public
from connectors.simulator.views import (
    PageLimits,
    list_response,
    order_key,
    page_size,
    select,
    skiptoken,
    skiptoken_position,
)

DRIVE_TYPE = "business"
QUOTA_TOTAL = 1024**4  # the default OneDrive for Business quota (1 TB)
LIST_LIMITS = PageLimits(200, 1000)  # children/search: 200 per page unless $top / maxpagesize says otherwise
DELTA_LIMITS = PageLimits(200, 1000)
_INVALID_NAME_CHARS = set('"*:<>?/\\|')

# Prefer: deltashowsharingchanges and what it must come with (driveitem-delta.md).
SHOW_SHARING = "deltashowsharingchanges"
SHOW_SHARING_NEEDS = ("deltashowremovedasdeleted", "deltatraversepermissiongaps")
SHARED_CHANGED = "@microsoft.graph.sharedChanged"
_SHARING = "_sharing"  # change-log field: the item's own permissions changed
_SHARING_PARENT = "_sharingParent"  # change-log field: permissions changed on an item below this folder
_SHARING_ONLY = frozenset({_SHARING, _SHARING_PARENT})


# -- seeded layout -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FolderSeed:
    name: str
    parent: int | None  # slot of the parent folder; None for the root


FOLDER_SEEDS = (
    FolderSeed("root", None),
    FolderSeed("Documents", 0),
    FolderSeed("Reports", 1),  # Documents/Reports
    FolderSeed("Photos", 0),
    FolderSeed("Shared", 0),  # shared with two colleagues: feeds their sharedWithMe
)
ROOT_SLOT = 0
SHARED_SLOT = 4


@dataclass(frozen=True)
class FileKind:
    base_size: int
    jitter: int
    folder_slot: int
    name: str  # formatted with {n}


# Sizes span the interesting range for a sync client: tiny, small, medium, multi-MB and >4 MB
# (above the old simple-upload limit, so clients that buffer whole files notice).
FILE_KINDS = (
    FileKind(5, 20, 0, "notes-{n}.txt"),
    FileKind(25_000, 2_000, 1, "Budget {n}.xlsx"),
    FileKind(300_000, 30_000, 2, "Quarterly report {n}.pdf"),
    FileKind(2_000_000, 200_000, 3, "IMG_{n}.jpg"),
    FileKind(9_000_000, 500_000, 4, "Team recording {n}.mp4"),
)

MIME_TYPES = {
    "txt": "text/plain", "csv": "text/csv", "md": "text/markdown", "json": "application/json",
    "pdf": "application/pdf", "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png",
    "mp4": "video/mp4", "zip": "application/zip",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
# Leading bytes of real files of each type, so sniffing tools see plausible content.
MAGIC = {"pdf": b"%PDF-1.7\n", "jpg": b"\xff\xd8\xff\xe0", "jpeg": b"\xff\xd8\xff\xe0", "png": b"\x89PNG\r\n\x1a\n",
         "mp4": b"\x00\x00\x00\x20ftypmp42", "zip": b"PK\x03\x04", "docx": b"PK\x03\x04", "xlsx": b"PK\x03\x04",
         "pptx": b"PK\x03\x04"}
TEXT_TYPES = {"txt", "csv", "md", "json"}


def extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def mime_type(name: str) -> str:
    return MIME_TYPES.get(extension(name), "application/octet-stream")


def generated_bytes(gen_key: str, name: str, size: int) -> bytes:
    """The deterministic content of a file nobody uploaded: text for text types, else noise."""
    if size <= 0:
        return b""
    ext = extension(name)
    if ext in TEXT_TYPES:
        h = content.stable_hash(gen_key)
        line = f"{name}: {content.PARAGRAPHS[h % len(content.PARAGRAPHS)]}\n".encode()
        return (line * (size // len(line) + 1))[:size]
    block = hashlib.shake_256(gen_key.encode()).digest(min(size, 65_536))
    return (MAGIC.get(ext, b"") + block * (size // len(block) + 1))[:size]


# -- quickXorHash (the hash OneDrive for Business reports in file.hashes) -------------------------------
_QX_WIDTH = 160
_QX_MASK = (1 << _QX_WIDTH) - 1


def _fold160(data: bytes) -> bytes:
    """Byte k of the result is the XOR of every data byte at a position congruent to k (mod 160).
    Halving with big-int XORs keeps it O(n) and fast in pure Python, even for multi-MB files."""
    buf = data + bytes(-len(data) % _QX_WIDTH)
    while len(buf) > _QX_WIDTH:
        if (len(buf) // _QX_WIDTH) % 2:
            buf += bytes(_QX_WIDTH)
        half = len(buf) // 2
        buf = (int.from_bytes(buf[:half], "little") ^ int.from_bytes(buf[half:], "little")).to_bytes(half, "little")
    return buf.ljust(_QX_WIDTH, b"\0")


def quick_xor_hash(data: bytes) -> str:
    """Byte i is XORed in at bit (11 * i) mod 160 of a circular 160-bit register; the length is XORed
    into its last 64 bits. Bytes 160 apart share a bit position, so the input is folded first."""
    acc = 0
    for k, byte in enumerate(_fold160(data)):
        if byte:
            shifted = byte << (k * 11) % _QX_WIDTH
            acc ^= (shifted & _QX_MASK) ^ (shifted >> _QX_WIDTH)
    digest = bytearray(acc.to_bytes(20, "little"))
    for i, b in enumerate(len(data).to_bytes(8, "little")):
        digest[12 + i] ^= b
    return base64.b64encode(bytes(digest)).decode()


# -- ids and tags --------------------------------------------------------------------------------------
def item_id(guid: str) -> str:
    """An id shaped like OneDrive for Business ones: "01" + 32 base32 characters."""
    raw = uuid.UUID(guid).bytes + mix(content.stable_hash(guid)).to_bytes(8, "little")[:4]
    return "01" + base64.b32encode(raw).decode()


def e_tag(guid: str, version: int) -> str:
    return f'"{{{guid.upper()}}},{version}"'


def c_tag(guid: str, version: int) -> str:
    return f'"c:{{{guid.upper()}}},{version}"'


def identity(p: content.Person) -> dict:
    return {"user": {"email": p.upn, "id": p.id, "displayName": p.display_name}}


def item_not_found() -> ApiError:
    return ApiError(404, "itemNotFound", "The resource could not be found.")


# -- one drive ---------------------------------------------------------------------------------------
@dataclass
class Drive:
    tenant: Tenant
    user_id: str
    owner: content.Person
    user_index: int | None
    id: str
    items: Collection = field(init=False)
    base_index: dict[str, int] = field(default_factory=dict)  # seeded item id -> slot
    removed: dict[str, Item] = field(default_factory=dict)  # last state of deleted items (deleted facet)
    links: dict[str, list[dict]] = field(default_factory=dict)  # item id -> sharing links created
    _hashes: dict[tuple[str, int], str] = field(default_factory=dict)  # (id, content version) -> hash
    _stats: tuple[int, dict[str, int], dict[str, int]] | None = None

    # -- seeds ---------------------------------------------------------------------------------------
    @property
    def seeded_files(self) -> int:
        return self.tenant.scale.files_per_drive if self.user_index is not None else 0

    def slot_guid(self, slot: int) -> str:
        return ids.guid(self.tenant.seed, "driveItem", self.user_id, slot)

    def seed_item(self, slot: int) -> Item:
        guid = self.slot_guid(slot)
        h = mix(self.tenant.seed, content.stable_hash(self.user_id), slot)
        created = self.tenant.epoch - timedelta(days=30 + h % 600, minutes=slot)
        modified = created + timedelta(days=(h >> 12) % 30, seconds=(h >> 20) % 3600)
        item: Item = {"id": item_id(guid), "createdDateTime": iso(created), "lastModifiedDateTime": iso(modified),
                      "eTag": e_tag(guid, 1), "cTag": c_tag(guid, 1), "createdBy": identity(self.owner),
                      "lastModifiedBy": identity(self.owner),
                      "fileSystemInfo": {"createdDateTime": iso(created), "lastModifiedDateTime": iso(modified)},
                      "_guid": guid, "_v": 1, "_cv": 1, "_gen": f"{self.tenant.seed}/{self.user_id}/{slot}"}
        if slot < len(FOLDER_SEEDS):
            seed = FOLDER_SEEDS[slot]
            item["name"] = seed.name
            item["folder"] = {}
            if seed.parent is None:
                item["root"] = {}
            item["parentReference"] = self.parent_ref(None if seed.parent is None else self.slot_id(seed.parent))
            return item
        j = slot - len(FOLDER_SEEDS)
        kind = FILE_KINDS[j % len(FILE_KINDS)]
        folder_slot = kind.folder_slot if j < len(FILE_KINDS) else (kind.folder_slot + j // len(FILE_KINDS)) % len(
            FOLDER_SEEDS)
        item["name"] = kind.name.format(n=100 + j)
        item["size"] = kind.base_size + h % kind.jitter
        item["file"] = {"mimeType": mime_type(item["name"])}
        item["parentReference"] = self.parent_ref(self.slot_id(folder_slot))
        if folder_slot == SHARED_SLOT and self.tenant.scale.users > 1:  # a colleague edited the shared file
            editor = person(self.tenant.seed, (h >> 8) % self.tenant.scale.users)
            item["lastModifiedBy"] = identity(editor)
        return item

    def slot_id(self, slot: int) -> str:
        return item_id(self.slot_guid(slot))

    def parent_ref(self, parent_id: str | None) -> dict:
        ref = {"driveId": self.id, "driveType": DRIVE_TYPE}
        if parent_id is not None:
            ref["id"] = parent_id
        return ref

    @property
    def root_id(self) -> str:
        return self.slot_id(ROOT_SLOT)

    # -- reading -------------------------------------------------------------------------------------
    def get(self, key: str) -> Item | None:
        return self.items.get(key, self.base_index.get(key))

    def find(self, id_or_alias: str) -> tuple[str, Item]:
        key = self.root_id if id_or_alias.lower() == "root" else id_or_alias
        item = self.get(key)
        if item is None:
            raise item_not_found()
        return key, item

    def parent_of(self, item: Item) -> str | None:
        return item.get("parentReference", {}).get("id")

    def ancestors(self, key: str) -> list[str]:
        """Ids of the folders above an item, nearest first, up to and including the root."""
        chain: list[str] = []
        item = self.get(key)
        parent = self.parent_of(item) if item is not None else None
        while parent is not None and len(chain) < 64:
            chain.append(parent)
            above = self.get(parent)
            parent = self.parent_of(above) if above is not None else None
        return chain

    def children(self, parent_id: str) -> list[tuple[str, Item]]:
        return [(k, v) for k, v in self.items.items() if self.parent_of(v) == parent_id]

    def descendants(self, key: str) -> list[str]:
        """Every item below a folder, deepest first (so removals never orphan a reported child)."""
        out: list[str] = []
        for child_key, child in self.children(key):
            if "folder" in child:
                out.extend(self.descendants(child_key))
            out.append(child_key)
        return out

    def path_of(self, key: str) -> str:
        """The parentReference.path an item's children carry: "/drive/root:/Documents/Reports"."""
        names = []
        current: str | None = key
        while current is not None and current != self.root_id:
            item = self.get(current)
            if item is None:
                break
            names.append(item["name"])
            current = self.parent_of(item)
        return "/drive/root:" + "".join("/" + n for n in reversed(names))

    def stats(self) -> tuple[dict[str, int], dict[str, int]]:
        """(child count per folder, total file bytes below each folder), recomputed after each change."""
        if self._stats is not None and self._stats[0] == len(self.items.log):
            return self._stats[1], self._stats[2]
        counts: dict[str, int] = {}
        sizes: dict[str, int] = {}
        for key, item in self.items.items():
            parent = self.parent_of(item)
            if parent is not None:
                counts[parent] = counts.get(parent, 0) + 1
            if "file" in item:
                for folder in self.ancestors(key):
                    sizes[folder] = sizes.get(folder, 0) + int(item.get("size", 0))
        self._stats = (len(self.items.log), counts, sizes)
        return counts, sizes

    def data(self, key: str, item: Item) -> bytes:
        stored = item.get("_content")
        if stored is not None:
            return stored
        return generated_bytes(item["_gen"], item["name"], int(item.get("size", 0)))

    def file_hash(self, key: str, item: Item) -> str:
        cache_key = (key, int(item.get("_cv", 1)))
        found = self._hashes.get(cache_key)
        if found is None:
            found = self._hashes[cache_key] = quick_xor_hash(self.data(key, item))
        return found

    def web_url(self, key: str) -> str:
        site = content.DOMAIN.split(".")[0]
        personal = self.owner.upn.replace(".", "_").replace("@", "_")
        path = self.path_of(key).removeprefix("/drive/root:")
        return f"https://{site}-my.sharepoint.com/personal/{personal}/Documents{quote(path)}"

    def shared_scope(self, key: str) -> bool:
        shared_id = self.slot_id(SHARED_SLOT)
        return key == shared_id or shared_id in self.ancestors(key)

    def render(self, key: str, item: Item, origin: str | None, *, in_delta: bool = False) -> dict:
        """The driveItem as Graph returns it. `origin` builds the pre-authenticated download URL."""
        out = public(item)
        out["webUrl"] = self.web_url(key)
        ref = dict(out.get("parentReference") or {})
        parent = ref.get("id")
        if parent is not None and not in_delta:  # delta omits parentReference.path (driveitem-delta.md)
            ref["path"] = self.path_of(parent)
        out["parentReference"] = ref
        counts, sizes = self.stats()
        if "folder" in out:
            out["folder"] = {"childCount": counts.get(key, 0)}
            out["size"] = sizes.get(key, 0)
        if "file" in out:
            out["file"] = {**out["file"], "hashes": {"quickXorHash": self.file_hash(key, item)}}
            if origin is not None:
                out["@microsoft.graph.downloadUrl"] = self.download_url(origin, key, item)
        if self.shared_scope(key) and self.tenant.scale.users > 1:
            out["shared"] = {"scope": "users", "owner": identity(self.owner)}
        return out

    def render_deleted(self, change: Collapsed) -> dict:
        """A removal as drive delta reports it: the `deleted` facet; name and cTag omitted (ODfB)."""
        out: dict = {"id": change.key, "deleted": {"state": "deleted"}}
        last = self.removed.get(change.key)
        if last is not None:
            out["parentReference"] = dict(last.get("parentReference") or {})
            out["folder" if "folder" in last else "file"] = {}
        return out

    def download_url(self, origin: str, key: str, item: Item) -> str:
        token = base64.urlsafe_b64encode(orjson.dumps({"u": self.user_id, "k": key, "c": item.get("_cv", 1)}))
        return f"{origin}/_download/{token.decode().rstrip('=')}"

    # -- writing -------------------------------------------------------------------------------------
    def _stamp(self, item: Item, *, content_changed: bool, touch_time: bool = True) -> None:
        item["_v"] = int(item.get("_v", 1)) + 1
        item["eTag"] = e_tag(item["_guid"], item["_v"])
        if content_changed:
            item["_cv"] = int(item.get("_cv", 1)) + 1
            item["cTag"] = c_tag(item["_guid"], item["_cv"])
        if touch_time:
            stamp = now_iso()
            item["lastModifiedDateTime"] = stamp
            item.setdefault("fileSystemInfo", {})["lastModifiedDateTime"] = stamp
            item["lastModifiedBy"] = identity(self.owner)

    def _touch_ancestors(self, folder_id: str | None) -> None:
        """A folder's contents changed: new eTag/cTag on it and every folder above it."""
        chain = [] if folder_id is None else [folder_id, *self.ancestors(folder_id)]
        for key in chain:
            item = self.get(key)
            if item is None:
                continue
            updated = copy.deepcopy(item)
            self._stamp(updated, content_changed=True, touch_time=False)
            self.items.update(key, updated, frozenset({"eTag", "cTag"}))

    def _new_item(self, parent_id: str, name: str, facet: dict) -> Item:
        guid = ids.guid(self.tenant.seed, "driveItem", self.user_id, self.tenant.new_key("di"))
        stamp = now_iso()
        return {"id": item_id(guid), "name": name, "createdDateTime": stamp, "lastModifiedDateTime": stamp,
                "eTag": e_tag(guid, 1), "cTag": c_tag(guid, 1), "createdBy": identity(self.owner),
                "lastModifiedBy": identity(self.owner), "parentReference": self.parent_ref(parent_id),
                "fileSystemInfo": {"createdDateTime": stamp, "lastModifiedDateTime": stamp},
                **facet, "_guid": guid, "_v": 1, "_cv": 1, "_gen": f"{self.tenant.seed}/{self.user_id}/{guid}"}

    def resolve_name(self, parent_id: str, name: str, behavior: str,
                     exclude: str | None = None) -> tuple[str, str | None]:
        """(name to use, id of an item the new one replaces) under @microsoft.graph.conflictBehavior."""
        check_name(name)
        taken = {v["name"].lower(): k for k, v in self.children(parent_id) if k != exclude}
        if name.lower() not in taken:
            return name, None
        if behavior == "replace":
            return name, taken[name.lower()]
        if behavior == "rename":
            stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
            n = 1
            while f"{stem} {n}{dot}{ext}".lower() in taken:
                n += 1
            return f"{stem} {n}{dot}{ext}", None
        raise ApiError(409, "nameAlreadyExists", "The specified item name already exists.")

    def folder_item(self, folder_id: str) -> Item:
        item = self.get(folder_id)
        if item is None:
            raise item_not_found()
        if "folder" not in item:
            raise bad_request("The parent item is not a folder.", "invalidRequest")
        return item

    def create_folder(self, parent_id: str, name: str, behavior: str = "fail") -> tuple[str, Item]:
        self.folder_item(parent_id)
        name, replaced = self.resolve_name(parent_id, name, behavior)
        if replaced is not None:
            self.delete(replaced, touch=False)
        item = self._new_item(parent_id, name, {"folder": {}})
        self.items.put_new(item["id"], item)
        self._touch_ancestors(parent_id)
        return item["id"], item

    def create_file(self, parent_id: str, name: str, *, size: int = 0, data: bytes | None = None,
                    behavior: str = "fail") -> tuple[str, Item]:
        self.folder_item(parent_id)
        name, replaced = self.resolve_name(parent_id, name, behavior)
        if replaced is not None:
            self.delete(replaced, touch=False)
        item = self._new_item(parent_id, name, {"file": {"mimeType": mime_type(name)}})
        item["size"] = len(data) if data is not None else max(0, int(size))
        if data is not None:
            item["_content"] = data
        self.items.put_new(item["id"], item)
        self._touch_ancestors(parent_id)
        return item["id"], item

    def replace_content(self, key: str, data: bytes) -> Item:
        item = self.get(key)
        if item is None:
            raise item_not_found()
        if "folder" in item:
            raise bad_request("Cannot upload content to a folder.", "invalidRequest")
        updated = copy.deepcopy(item)
        updated["_content"] = data
        updated["size"] = len(data)
        self._stamp(updated, content_changed=True)
        self.items.update(key, updated, frozenset({"size", "eTag", "cTag", "file", "lastModifiedDateTime"}))
        self._touch_ancestors(self.parent_of(updated))
        return updated

    def update(self, key: str, fields: dict) -> Item:
        """Rename (`name`), move (`parentReference.id`) and/or describe an item (driveitem-update.md)."""
        item = self.get(key)
        if item is None:
            raise item_not_found()
        if key == self.root_id:
            raise ApiError(403, "accessDenied", "The root folder cannot be renamed or moved.")
        old_parent = self.parent_of(item)
        new_parent = ((fields.get("parentReference") or {}).get("id")) or old_parent
        if new_parent != old_parent:
            self.folder_item(new_parent)
            if new_parent == key or new_parent in self.descendants(key):
                raise bad_request("An item cannot be moved into itself or its descendants.", "invalidRequest")
        name = fields.get("name", item["name"])
        if not isinstance(name, str):
            raise bad_request("The name must be a string.", "invalidRequest")
        if name != item["name"] or new_parent != old_parent:
            name, _ = self.resolve_name(new_parent, name, "fail", exclude=key)
        updated = copy.deepcopy(item)
        updated["name"] = name
        updated["parentReference"] = self.parent_ref(new_parent)
        for writable in ("description", "fileSystemInfo"):
            if writable in fields:
                updated[writable] = {**(updated.get(writable) or {}), **fields[writable]} if isinstance(
                    fields[writable], dict) else fields[writable]
        self._stamp(updated, content_changed=False)
        self.items.update(key, updated, frozenset(fields))
        self._touch_ancestors(old_parent)
        if new_parent != old_parent:
            self._touch_ancestors(new_parent)
        return updated

    def delete(self, key: str, *, touch: bool = True) -> None:
        """Delete an item and everything below it; each gets the deleted facet in the next round."""
        item = self.get(key)
        if item is None:
            raise item_not_found()
        if key == self.root_id:
            raise ApiError(403, "accessDenied", "The root folder cannot be deleted.")
        for child in self.descendants(key) if "folder" in item else []:
            child_item = self.get(child)
            if child_item is not None:
                self.removed[child] = child_item
                self.items.remove(child)
        self.removed[key] = item
        self.items.remove(key)
        if touch:
            self._touch_ancestors(self.parent_of(item))

    def create_link(self, key: str, link_type: str, scope: str) -> tuple[dict, bool]:
        """(permission, created?): an identical existing link is returned as is (driveitem-createlink.md)."""
        existing = self.links.setdefault(key, [])
        for perm in existing:
            if perm["link"]["type"] == link_type and perm["link"]["scope"] == scope:
                return perm, False
        share = ids.opaque("share", self.user_id, key, link_type, scope)
        perm = {"id": ids.guid(self.tenant.seed, "permission", share), "roles": ["write" if link_type == "edit"
                                                                               else "read"],
                "shareId": "s!" + share, "hasPassword": False,
                "link": {"type": link_type, "scope": scope, "preventsDownload": False,
                         "webUrl": f"https://{content.DOMAIN.split('.')[0]}-my.sharepoint.com/:f:/g/personal/"
                                   f"{share[-22:]}"}}
        if link_type == "embed":
            perm["link"]["webHtml"] = f'<iframe src="{perm["link"]["webUrl"]}?embed=1"></iframe>'
        existing.append(perm)
        self.sharing_changed(key)
        return perm, True

    def sharing_changed(self, key: str) -> None:
        """Log a change to an item's permissions: the item and, as its parent hierarchy, its ancestors;
        their eTag/cTag stay as they are."""
        item = self.get(key)
        if item is None:
            raise item_not_found()
        self.items.update(key, item, frozenset({_SHARING}))
        for folder in self.ancestors(key):
            above = self.get(folder)
            if above is not None:
                self.items.update(folder, above, frozenset({_SHARING_PARENT}))

    def permissions(self, key: str) -> list[dict]:
        """The owner, grants inherited from the Shared folder, and the links created on the item."""
        owner = {"id": ids.guid(self.tenant.seed, "permission-owner", self.user_id), "roles": ["owner"],
                 "grantedToV2": identity(self.owner), "shareId": "s!" + ids.opaque("owner", self.user_id)}
        out = [owner]
        shared_id = self.slot_id(SHARED_SLOT)
        if self.shared_scope(key):
            for reader in sharing_partners(self.tenant, self.user_index):
                grant: dict = {"id": ids.guid(self.tenant.seed, "permission-grant", self.user_id, reader.id),
                               "roles": ["read"], "grantedToV2": identity(reader)}
                if key != shared_id:
                    grant["inheritedFrom"] = {"driveId": self.id, "driveType": DRIVE_TYPE, "id": shared_id,
                                              "path": "/drive/root:/Shared"}
                out.append(grant)
        return out + self.links.get(key, [])

    def live_items(self) -> list[tuple[str, Item]]:
        return list(self.items.items())

    def quota_used(self) -> int:
        return sum(int(v.get("size", 0)) for _, v in self.items.items() if "file" in v)


def check_name(name: str) -> None:
    if not name or not name.strip() or any(c in _INVALID_NAME_CHARS for c in name):
        raise bad_request(f"The provided name '{name}' is not valid.", "invalidRequest")


def sharing_partners(tenant: Tenant, owner_index: int | None) -> list[content.Person]:
    """Who a seeded user's Shared folder is shared with: the next two users (none for new users)."""
    users = tenant.scale.users
    if owner_index is None or users < 2:
        return []
    indexes = dict.fromkeys((owner_index + k) % users for k in (1, 2) if (owner_index + k) % users != owner_index)
    return [person(tenant.seed, i) for i in indexes]


def sharing_owners(tenant: Tenant, reader_index: int | None) -> list[int]:
    """The seeded users whose Shared folder a user can see (the inverse of sharing_partners)."""
    users = tenant.scale.users
    if reader_index is None or users < 2:
        return []
    return list(dict.fromkeys((reader_index - k) % users for k in (1, 2) if (reader_index - k) % users != reader_index))


def build_drive(tenant: Tenant, user_id: str) -> Drive:
    drive = Drive(tenant, user_id, tenant.person(user_id), tenant.user_index(user_id), ids.opaque("drive", user_id))
    count = len(FOLDER_SEEDS) + drive.seeded_files
    drive.items = Collection(f"drive/{user_id}", tenant.clock, base_count=count,
                             base_key=drive.slot_id, base_item=drive.seed_item)
    drive.base_index = {drive.slot_id(i): i for i in range(count)}
    return drive


# -- HTTP ------------------------------------------------------------------------------------------
PREFIXES = ("/drives/{drive}", "/users/{user}/drive")


class DriveArea:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.drives: dict[str, Drive] = {}  # user id -> drive, built on first use

    def register(self, r: Router) -> None:
        r.add("GET", "/drives/{drive}", self.get_drive)
        r.add("GET", "/users/{user}/drive", self.get_drive)
        r.add("GET", "/users/{user}/drives", self.list_drives)
        for p in PREFIXES:
            r.add("GET", f"{p}/root", self.get_root)
            r.add("GET", f"{p}/root/children", self.list_children)
            r.add("POST", f"{p}/root/children", self.create_child)
            r.add("GET", f"{p}/root/delta", self.delta)
            r.add("PUT", f"{p}/root:/{{filename}}/content", self.upload_by_path)
            r.add("GET", f"{p}/items/{{item}}", self.get_item)
            r.add("PATCH", f"{p}/items/{{item}}", self.update_item)
            r.add("DELETE", f"{p}/items/{{item}}", self.delete_item)
            r.add("GET", f"{p}/items/{{item}}/children", self.list_children)
            r.add("POST", f"{p}/items/{{item}}/children", self.create_child)
            r.add("GET", f"{p}/items/{{item}}/content", self.download_redirect)
            r.add("PUT", f"{p}/items/{{item}}/content", self.upload)
            r.add("PUT", f"{p}/items/{{item}}/{{filename}}/content", self.upload_by_path)
            r.add("POST", f"{p}/items/{{item}}/createLink", self.create_link)

    # -- lookup ----------------------------------------------------------------------------------------
    def drive_of(self, user_id: str) -> Drive:
        drive = self.drives.get(user_id)
        if drive is None:
            drive = self.drives[user_id] = build_drive(self.tenant, user_id)
        return drive

    def drive(self, req: Request) -> Drive:
        if "user" in req.params:
            return self.drive_of(req.params["user"])
        parts = ids.unopaque(req.params["drive"])
        if not parts or len(parts) != 2 or parts[0] != "drive":
            raise ApiError(404, "itemNotFound", "The drive could not be found.")
        try:
            user_id, _ = self.tenant.resolve_user(parts[1])
        except ApiError:
            raise ApiError(404, "itemNotFound", "The drive could not be found.") from None
        return self.drive_of(user_id)

    def user_drive(self, user: str) -> Drive:
        user_id, _ = self.tenant.resolve_user(user)
        return self.drive_of(user_id)

    @staticmethod
    def origin(req: Request) -> str:
        return req.base_url.rsplit("/", 1)[0]  # base_url is "{origin}/v1.0"

    def render(self, req: Request, drive: Drive, key: str, item: Item) -> dict:
        return drive.render(key, item, self.origin(req))

    # -- drives ----------------------------------------------------------------------------------------
    def drive_object(self, drive: Drive) -> dict:
        used = drive.quota_used()
        root = drive.get(drive.root_id) or {}
        return {"id": drive.id, "driveType": DRIVE_TYPE, "name": "OneDrive", "description": "",
                "createdDateTime": iso(self.tenant.epoch - timedelta(days=1000)),
                "lastModifiedDateTime": root.get("lastModifiedDateTime"), "webUrl": drive.web_url(drive.root_id),
                "createdBy": {"user": {"displayName": "System Account"}}, "owner": identity(drive.owner),
                "quota": {"deleted": 0, "remaining": QUOTA_TOTAL - used, "state": "normal", "total": QUOTA_TOTAL,
                          "used": used}}

    def get_drive(self, req: Request) -> Response:
        return json_response(select(self.drive_object(self.drive(req)), req))

    def list_drives(self, req: Request) -> Response:
        return page_list(req, [self.drive_object(self.drive(req))], LIST_LIMITS)

    # -- items -----------------------------------------------------------------------------------------
    def _item_param(self, req: Request) -> str:
        return req.params.get("item", "root")

    def get_root(self, req: Request) -> Response:
        return self._get(req, "root")

    def get_item(self, req: Request) -> Response:
        return self._get(req, self._item_param(req))

    def _get(self, req: Request, item_ref: str) -> Response:
        drive = self.drive(req)
        key, item = drive.find(item_ref)
        out = self.render(req, drive, key, item)
        if "children" in req.query.get("$expand", "") and "folder" in item:
            out["children"] = [self.render(req, drive, k, v) for k, v in drive.children(key)]
        return json_response(select(out, req))

    def list_children(self, req: Request) -> Response:
        drive = self.drive(req)
        key, item = drive.find(self._item_param(req))
        if "folder" not in item:
            return page_list(req, [], LIST_LIMITS)  # a file has no children
        return page_list(req, [self.render(req, drive, k, v) for k, v in drive.children(key)], LIST_LIMITS)

    def create_child(self, req: Request) -> Response:
        drive = self.drive(req)
        parent, _ = drive.find(self._item_param(req))
        body = req.json()
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str):
            raise bad_request("The name property is required.", "invalidRequest")
        if "folder" not in body:
            raise bad_request("Only folders can be created this way; upload content to create a file.",
                              "invalidRequest")
        behavior = str(body.get("@microsoft.graph.conflictBehavior", "fail")).lower()
        if behavior not in ("fail", "rename", "replace"):
            raise bad_request(f"Invalid conflictBehavior '{behavior}'.", "invalidRequest")
        key, item = drive.create_folder(parent, name, behavior)
        return json_response(self.render(req, drive, key, item), 201)

    def update_item(self, req: Request) -> Response:
        drive = self.drive(req)
        key, item = drive.find(self._item_param(req))
        check_if_match(req.headers, item, drive=True)
        body = req.json()
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.", "invalidRequest")
        updated = drive.update(key, body)
        return json_response(self.render(req, drive, key, updated))

    def delete_item(self, req: Request) -> Response:
        drive = self.drive(req)
        key, item = drive.find(self._item_param(req))
        check_if_match(req.headers, item, drive=True)
        drive.delete(key)
        return Response(204)

    # -- content ---------------------------------------------------------------------------------------
    def download_redirect(self, req: Request) -> Response:
        """302 to a pre-authenticated URL, the same as @microsoft.graph.downloadUrl (driveitem-get-content.md)."""
        drive = self.drive(req)
        key, item = drive.find(self._item_param(req))
        if "file" not in item:
            raise bad_request("Only files can be downloaded.", "invalidRequest")
        wanted = req.headers.get("if-none-match", "").strip()
        if wanted and wanted in (item.get("eTag"), item.get("cTag")):
            return Response(304)
        return Response(302, None, {"location": drive.download_url(self.origin(req), key, item)})

    def download(self, token: str) -> Response:
        """The pre-authenticated download endpoint (`/_download/{token}`): no bearer token needed."""
        try:
            state = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            user_id, key = state["u"], state["k"]
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            raise item_not_found() from None
        drive = self.drives.get(user_id)
        item = drive.get(key) if drive is not None else None
        if drive is None or item is None:
            raise item_not_found()
        return Response(200, drive.data(key, item), {"content-type": item["file"]["mimeType"]})

    def upload(self, req: Request) -> Response:
        """Replace the content of an existing file: 200 with the driveItem (driveitem-put-content.md)."""
        drive = self.drive(req)
        key, item = drive.find(self._item_param(req))
        check_if_match(req.headers, item, drive=True)
        updated = drive.replace_content(key, req.body)
        return json_response(self.render(req, drive, key, updated))

    def upload_by_path(self, req: Request) -> Response:
        """PUT .../items/{parent-id}:/{filename}:/content (or root:/{filename}:/content): 201 for a new
        file, 200 when a file of that name is replaced."""
        drive = self.drive(req)
        parent_ref = req.params.get("item", "root:")
        filename = req.params["filename"]
        if not parent_ref.endswith(":") or not filename.endswith(":"):
            raise bad_request("Unsupported path-based address; use items/{parent-id}:/{filename}:/content.",
                              "invalidRequest")
        parent, _ = drive.find(parent_ref[:-1])
        name = filename[:-1]
        existing = next((k for k, v in drive.children(parent) if v["name"].lower() == name.lower()), None)
        if existing is not None:
            current = drive.get(existing)
            assert current is not None
            check_if_match(req.headers, current, drive=True)
            if "folder" in current:
                raise ApiError(409, "nameAlreadyExists", "The specified item name already exists.")
            return json_response(self.render(req, drive, existing, drive.replace_content(existing, req.body)))
        key, item = drive.create_file(parent, name, data=req.body)
        return json_response(self.render(req, drive, key, item), 201)

    # -- sharing ---------------------------------------------------------------------------------------
    def create_link(self, req: Request) -> Response:
        drive = self.drive(req)
        key, _ = drive.find(self._item_param(req))
        body = req.action_params()
        link_type = body.get("type") if isinstance(body, dict) else None
        if link_type not in ("view", "edit", "embed"):
            raise bad_request("The type property must be one of view, edit or embed.", "invalidRequest")
        scope = body.get("scope") or "organization"  # the organisation's default link kind
        if scope not in ("anonymous", "organization", "users"):
            raise bad_request("The scope property must be one of anonymous, organization or users.",
                              "invalidRequest")
        perm, created = drive.create_link(key, link_type, scope)
        return json_response(perm, 201 if created else 200)

    # -- delta -----------------------------------------------------------------------------------------
    def delta(self, req: Request) -> Response:
        drive = self.drive(req)
        token = req.params.get("token") or req.query.get("token") or None
        show_sharing = shows_sharing_changes(req)
        options: dict = {}
        if token in (None, "latest") and req.query.get("$select"):
            options["select"] = req.query["$select"]
        src = DeltaSource(
            drive.items, req.path, render_full=lambda k, v: None,
            render_removed=drive.render_deleted, render_partial=None,
            default_page=DELTA_LIMITS.default, max_page=DELTA_LIMITS.maximum, token_style="drive",
            expired=lambda r, t: self._resync(drive, r, t), options=options,
            reports=None if show_sharing else _not_sharing_only,
        )
        origin = self.origin(req)

        def full(key: str, item: Item) -> dict:
            return _project(drive.render(key, item, origin, in_delta=True), src.options.get("select"))

        def changed(key: str, item: Item, fields: frozenset[str]) -> dict:
            out = full(key, item)
            if show_sharing and _SHARING in fields:
                out[SHARED_CHANGED] = "True"
            return out

        src.render_full, src.render_partial = full, changed
        size = page_size(req, DELTA_LIMITS) if ("$top" in req.query or "odata.maxpagesize" in req.prefer) else None
        response = serve(req, src, self.tenant.chains, self.tenant.config.knobs, token, size)
        if size is not None and "odata.maxpagesize" in req.prefer:
            response.headers["preference-applied"] = f"odata.maxpagesize={size}"
        return response

    def _resync(self, drive: Drive, req: Request, token: str) -> ApiError:
        """410 Gone with a Location holding a nextLink that starts a fresh enumeration. The code is the
        one observed in the wild (OneDrive/onedrive-api-docs#1356); the documented specific code is the
        inner code."""
        old = decode_token(token)
        chains = self.tenant.chains
        cid = chains.start(drive.items.name)
        fresh = {"p": "full", "i": 0, "n": 0, "b": drive.items.clock.value, "o": old.get("o") or {},
                 "s": old.get("s"), "c": cid, "g": chains.issue(cid)}
        return ApiError(410, "resyncRequired",
                        "Resync required. Replace any local items with the server's version (including deletes) "
                        "if you're sure that the service was up to date with your local changes when you last "
                        "sync'd. Upload any local changes that the server doesn't know about.",
                        headers={"location": req.link(req.path, token=encode_token(fresh))},
                        inner_code="resyncChangesApplyDifferences")

    # -- control surface -------------------------------------------------------------------------------
    def control_ops(self) -> dict[str, Callable[..., object]]:
        return {"create_file": self.ctl_create_file, "update_item": self.ctl_update_item,
                "delete_item": self.ctl_delete_item, "move_item": self.ctl_move_item,
                "drive_state": self.ctl_drive_state}

    def ctl_create_file(self, user: str, name: str, size: int, parent: str | None = None) -> dict:
        """A file appears in the user's drive (as if synced from a laptop); content is generated."""
        drive = self.user_drive(user)
        key, item = drive.create_file(parent or drive.root_id, name, size=size)
        return drive.render(key, item, None)

    def ctl_update_item(self, user: str, item_id: str, fields: dict) -> dict:
        drive = self.user_drive(user)
        return drive.render(item_id, drive.update(item_id, fields), None)

    def ctl_delete_item(self, user: str, item_id: str) -> None:
        self.user_drive(user).delete(item_id)

    def ctl_move_item(self, user: str, item_id: str, parent_id: str) -> dict:
        drive = self.user_drive(user)
        return drive.render(item_id, drive.update(item_id, {"parentReference": {"id": parent_id}}), None)

    def ctl_drive_state(self, user: str) -> dict:
        """The drive and every live item (rendered as GET returns them, without download URLs)."""
        drive = self.user_drive(user)
        return {"drive": self.drive_object(drive),
                "items": {k: drive.render(k, v, None) for k, v in drive.live_items()}}


# -- helpers ---------------------------------------------------------------------------------------
def shows_sharing_changes(req: Request) -> bool:
    """Whether a delta request prefers deltashowsharingchanges; 400 without the preferences it needs
    (the message Graph answers, OneDrive/onedrive-api-docs#1298)."""
    prefer = req.prefer
    if SHOW_SHARING not in prefer:
        return False
    if not all(p in prefer for p in SHOW_SHARING_NEEDS):
        raise bad_request("Must also prefer deltashowremovedasdeleted and deltatraversepermissiongaps when "
                          "preferring deltashowsharingchanges for a user request.", "invalidRequest")
    return True


def _not_sharing_only(change: Collapsed) -> bool:
    """A change delta reports without deltashowsharingchanges: anything but a sharing-only update."""
    return change.state != "partial" or not change.fields <= _SHARING_ONLY


def _project(out: dict, select_option: str | None) -> dict:
    if not select_option:
        return out
    wanted = {f.strip() for f in select_option.split(",")} | {"id", "deleted"}
    return {k: v for k, v in out.items() if k in wanted}


def page_list(req: Request, objects: list[dict], limits: PageLimits,
              extra_query: dict[str, str] | None = None) -> Response:
    """Drive lists page with an opaque $skiptoken (not $skip), after $orderby."""
    ordering = order_key(req.query.get("$orderby"))
    if ordering is not None:
        objects = sorted(objects, key=ordering[0], reverse=ordering[1])
    size = page_size(req, limits)
    start = skiptoken_position(req.query.get("$skiptoken"), "invalidRequest")
    chunk = objects[start : start + size]
    next_query = None
    if start + size < len(objects):
        token = skiptoken(start + size)
        next_query = {**{k: v for k, v in req.query.items() if k != "$skiptoken"}, **(extra_query or {}),
                      "$skiptoken": token}
    return list_response(req, [select(o, req) for o in chunk], next_query, len(objects))
