"""OneDrive / SharePoint files (Graph v1.0 drive, driveItem, permission)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.base import BIGINT, BOOLEAN, JSON, TIMESTAMPTZ, GraphTable, graph_facet, graph_field, graph_key, scope_key


class Drive(GraphTable, table=True):
    # Drive ids are tenant-wide (/drives/{id}); the owner is a column, not part of the key.
    __tablename__ = "drives"

    id: str = graph_key()
    name: str | None = graph_field()
    description: str | None = graph_field()
    drive_type: str | None = graph_field()
    web_url: str | None = graph_field()
    owner_user_id: str | None = graph_field(path="owner.user.id")
    owner_user_name: str | None = graph_field(path="owner.user.displayName")
    owner_group_id: str | None = graph_field(path="owner.group.id")
    quota_total: int | None = graph_field(BIGINT, path="quota.total")
    quota_used: int | None = graph_field(BIGINT, path="quota.used")
    quota_remaining: int | None = graph_field(BIGINT, path="quota.remaining")
    quota_state: str | None = graph_field(path="quota.state")
    created_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    last_modified_date_time: datetime | None = graph_field(TIMESTAMPTZ)


class DriveItem(GraphTable, table=True):
    __tablename__ = "drive_items"

    drive_id: str = scope_key()
    id: str = graph_key()
    name: str | None = graph_field()
    size: int | None = graph_field(BIGINT)
    web_url: str | None = graph_field()
    description: str | None = graph_field()
    e_tag: str | None = graph_field()
    c_tag: str | None = graph_field()
    parent_id: str | None = graph_field(path="parentReference.id")
    parent_path: str | None = graph_field(path="parentReference.path")
    is_folder: bool | None = graph_facet("folder")
    folder_child_count: int | None = graph_field(BIGINT, path="folder.childCount")
    file_mime_type: str | None = graph_field(path="file.mimeType")
    file_quick_xor_hash: str | None = graph_field(path="file.hashes.quickXorHash")
    file_sha256_hash: str | None = graph_field(path="file.hashes.sha256Hash")
    is_root: bool | None = graph_facet("root")
    package_type: str | None = graph_field(path="package.type")
    created_by_user_id: str | None = graph_field(path="createdBy.user.id")
    created_by_user_name: str | None = graph_field(path="createdBy.user.displayName")
    last_modified_by_user_id: str | None = graph_field(path="lastModifiedBy.user.id")
    last_modified_by_user_name: str | None = graph_field(path="lastModifiedBy.user.displayName")
    created_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    last_modified_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    file_system_created_date_time: datetime | None = graph_field(TIMESTAMPTZ, path="fileSystemInfo.createdDateTime")
    file_system_last_modified_date_time: datetime | None = graph_field(
        TIMESTAMPTZ, path="fileSystemInfo.lastModifiedDateTime"
    )
    shared_scope: str | None = graph_field(path="shared.scope")
    special_folder_name: str | None = graph_field(path="specialFolder.name")
    remote_item: Any = graph_field(JSON)


class DriveItemPermission(GraphTable, table=True):
    # Permission ids repeat across items (inherited sharing), so the item is part of the key.
    __tablename__ = "drive_item_permissions"

    drive_id: str = scope_key()
    item_id: str = scope_key()
    id: str = graph_key()
    roles: Any = graph_field(JSON)
    link_type: str | None = graph_field(path="link.type")
    link_scope: str | None = graph_field(path="link.scope")
    link_web_url: str | None = graph_field(path="link.webUrl")
    granted_to_user_id: str | None = graph_field(path="grantedToV2.user.id")
    granted_to_user_name: str | None = graph_field(path="grantedToV2.user.displayName")
    granted_to_identities: Any = graph_field(JSON, path="grantedToIdentitiesV2")
    inherited_from_id: str | None = graph_field(path="inheritedFrom.id")
    share_id: str | None = graph_field()
    has_password: bool | None = graph_field(BOOLEAN)
    expiration_date_time: datetime | None = graph_field(TIMESTAMPTZ)
