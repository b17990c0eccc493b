"""Dagster resources: they own all I/O with Graph and the warehouse, so tests can swap them."""

from __future__ import annotations

import os

import dagster as dg

from connectors.settings import GraphSettings, load_settings
from warehouse import Warehouse


class GraphResource(dg.ConfigurableResource):
    """Microsoft Graph connection. Unset fields come from the GRAPH_* variables and `.env` at run time, so
    the client secret never enters run config, the UI or metadata."""

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
            ("GRAPH_CA_BUNDLE", self.ca_bundle)) if value}
        return load_settings({**os.environ, **overrides}, dotenv_path=self.env_file)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse; opened only for short locked writes and reads."""

    path: str | None = None  # default: GRAPHSYNC_DB, else ./graphsync.duckdb
    lock_timeout_s: float = 60.0

    def warehouse(self) -> Warehouse:
        return Warehouse(self.path or os.environ.get("GRAPHSYNC_DB", "./graphsync.duckdb"), self.lock_timeout_s)
