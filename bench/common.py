"""Pieces the baseline processes share: the client-credentials token and the stream list."""

from __future__ import annotations

import httpx

from pipelines.sync.streams import MAIL_FOLDERS, MESSAGES, USERS, StreamSpec

# The same endpoints, query options and page sizes graphsync follows, so every party moves the same bytes.
STREAMS: tuple[StreamSpec, ...] = (USERS, MAIL_FOLDERS, MESSAGES)
PER_MAILBOX = 4  # Outlook's concurrent-request limit per app and mailbox; graphsync's default
GLOBAL_CONCURRENCY = 16  # graphsync's GraphClient default
MAILBOXES_AT_ONCE = 8  # graphsync's SyncOptions default
IMMUTABLE_IDS = 'IdType="ImmutableId"'


def client_credentials_token(env: dict[str, str]) -> str:
    """An app-only token from the simulator's token endpoint, as any OAuth client would get one."""
    form = {
        "client_id": env["GRAPH_CLIENT_ID"],
        "client_secret": env["GRAPH_CLIENT_SECRET"],
        "grant_type": "client_credentials",
        "scope": "https://graph.microsoft.com/.default",
    }
    response = httpx.post(env["GRAPH_TOKEN_URL"], data=form, verify=env["GRAPH_CA_BUNDLE"], timeout=30.0)
    response.raise_for_status()
    return str(response.json()["access_token"])


def prefer_header(spec: StreamSpec, page_size: int | None) -> str:
    size = page_size or spec.page_size
    if spec is USERS:
        return f"odata.maxpagesize={size}"
    return f"odata.maxpagesize={size}, {IMMUTABLE_IDS}"
