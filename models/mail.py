"""Users and mail (Graph v1.0 user, mailFolder, message, attachment, outlookCategory)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.base import BIGINT, BOOLEAN, JSON, TIMESTAMPTZ, GraphTable, graph_field, graph_key, scope_key
from models.calendar import AttachmentColumns


class User(GraphTable, table=True):
    __tablename__ = "users"

    id: str = graph_key()
    display_name: str | None = graph_field()
    given_name: str | None = graph_field()
    surname: str | None = graph_field()
    user_principal_name: str | None = graph_field()
    mail: str | None = graph_field()
    mail_nickname: str | None = graph_field()
    job_title: str | None = graph_field()
    department: str | None = graph_field()
    company_name: str | None = graph_field()
    office_location: str | None = graph_field()
    employee_id: str | None = graph_field()
    mobile_phone: str | None = graph_field()
    business_phones: Any = graph_field(JSON)
    preferred_language: str | None = graph_field()
    usage_location: str | None = graph_field()
    user_type: str | None = graph_field()
    account_enabled: bool | None = graph_field(BOOLEAN)
    city: str | None = graph_field()
    country: str | None = graph_field()
    other_mails: Any = graph_field(JSON)
    proxy_addresses: Any = graph_field(JSON)
    created_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    on_premises_sync_enabled: bool | None = graph_field(BOOLEAN)


class MailFolder(GraphTable, table=True):
    __tablename__ = "mail_folders"

    user_id: str = scope_key()
    id: str = graph_key()
    display_name: str | None = graph_field()
    parent_folder_id: str | None = graph_field()
    child_folder_count: int | None = graph_field(BIGINT)
    total_item_count: int | None = graph_field(BIGINT)
    unread_item_count: int | None = graph_field(BIGINT)
    size_in_bytes: int | None = graph_field(BIGINT)
    is_hidden: bool | None = graph_field(BOOLEAN)


class Message(GraphTable, table=True):
    """One live row per message, in the folder it lives in now (``parent_folder_id``)."""

    __tablename__ = "messages"

    user_id: str = scope_key()
    id: str = graph_key()
    parent_folder_id: str | None = graph_field()
    subject: str | None = graph_field()
    body_preview: str | None = graph_field()
    body_content: str | None = graph_field(path="body.content", long_text=True)
    body_content_type: str | None = graph_field(path="body.contentType")
    from_address: str | None = graph_field(path="from.emailAddress.address")
    from_name: str | None = graph_field(path="from.emailAddress.name")
    sender_address: str | None = graph_field(path="sender.emailAddress.address")
    sender_name: str | None = graph_field(path="sender.emailAddress.name")
    to_recipients: Any = graph_field(JSON)
    cc_recipients: Any = graph_field(JSON)
    bcc_recipients: Any = graph_field(JSON)
    reply_to: Any = graph_field(JSON)
    received_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    sent_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    created_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    last_modified_date_time: datetime | None = graph_field(TIMESTAMPTZ)
    is_read: bool | None = graph_field(BOOLEAN)
    is_draft: bool | None = graph_field(BOOLEAN)
    has_attachments: bool | None = graph_field(BOOLEAN)
    importance: str | None = graph_field()
    inference_classification: str | None = graph_field()
    flag_status: str | None = graph_field(path="flag.flagStatus")
    categories: Any = graph_field(JSON)
    conversation_id: str | None = graph_field()
    internet_message_id: str | None = graph_field()
    is_delivery_receipt_requested: bool | None = graph_field(BOOLEAN)
    is_read_receipt_requested: bool | None = graph_field(BOOLEAN)
    change_key: str | None = graph_field()
    web_link: str | None = graph_field()


class MessageAttachment(AttachmentColumns, table=True):
    """Attachment metadata of a message (opt-in); its bytes go to GRAPHSYNC_FILES_DIR, never here."""

    __tablename__ = "message_attachments"

    user_id: str = scope_key()
    message_id: str = scope_key()
    id: str = graph_key()


class Category(GraphTable, table=True):
    """A user's Outlook master category (outlookCategory)."""

    __tablename__ = "categories"

    user_id: str = scope_key()
    id: str = graph_key()
    display_name: str | None = graph_field()
    color: str | None = graph_field()
