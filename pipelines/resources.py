"""Dagster resources: they own all I/O with Graph and the warehouse, so tests can swap them."""

from __future__ import annotations

import os

import dagster as dg

from connectors.settings import GraphSettings, load_settings
from warehouse import Warehouse


class GraphResource(dg.ConfigurableResource):
    """Microsoft Graph connection. Unset fields come from the GRAPH_* variables and `.env` at run time, so
    the client secret never enters run config, the UI or metadata.

    `auth` is the auth mode: `app` (client credentials, tenant-wide) or `delegated` (the accounts
    signed in with `graphsync login`, each syncing its own data; partitions are their user ids).
    Unset: GRAPH_AUTH, else `app` when a client secret is set. A deployment may pass
    `auth=dg.EnvVar("GRAPH_AUTH")`."""

    auth: str | None = None
    token_cache: str | None = None  # delegated sign-ins; default GRAPHSYNC_TOKEN_CACHE
    tenant_id: str | None = None
    client_id: str | None = None
    token_url: str | None = None
    api_url: str | None = None
    ca_bundle: str | None = None
    env_file: str = ".env"

    def settings(self) -> GraphSettings:
        overrides = {name: value for name, value in (
            ("GRAPH_TENANT_ID", self.tenant_id), ("GRAPH_CLIENT_ID", self.client_id),
            ("GRAPH_TOKEN_URL", self.token_url), ("GRAPH_API_URL", self.api_url),
            ("GRAPH_CA_BUNDLE", self.ca_bundle), ("GRAPH_AUTH", self.auth),
            ("GRAPHSYNC_TOKEN_CACHE", self.token_cache)) if value}
        return load_settings({**os.environ, **overrides}, dotenv_path=self.env_file, require_secret=False)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse; opened only for short locked writes and reads."""

    path: str | None = None  # default: GRAPHSYNC_DB, else ./graphsync.duckdb
    lock_timeout_s: float = 60.0

    def warehouse(self) -> Warehouse:
        return Warehouse(self.path or os.environ.get("GRAPHSYNC_DB", "./graphsync.duckdb"), self.lock_timeout_s)
