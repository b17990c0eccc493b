"""Dagster resources: they own all I/O with Graph and the warehouse, so tests can swap them."""

from __future__ import annotations

import os

import dagster as dg

from connectors.settings import GraphSettings, load_settings
from warehouse import Warehouse

# Setting -> the variable it comes from (connectors/settings.py reads the same names).
GRAPH_VARIABLES = {
    "auth": "GRAPH_AUTH", "tenant_id": "GRAPH_TENANT_ID", "client_id": "GRAPH_CLIENT_ID",
    "client_secret": "GRAPH_CLIENT_SECRET", "token_url": "GRAPH_TOKEN_URL", "api_url": "GRAPH_API_URL",
    "ca_bundle": "GRAPH_CA_BUNDLE", "token_cache": "GRAPHSYNC_TOKEN_CACHE",
}
WAREHOUSE_VARIABLE = "GRAPHSYNC_DB"


class GraphResource(dg.ConfigurableResource):
    """Microsoft Graph connection. Unset fields come from the GRAPH_* variables and `.env` at run time.

    `auth` is the auth mode: `app` (client credentials, tenant-wide) or `delegated` (the accounts
    signed in with `graphsync login`, each syncing its own data; partitions are their user ids).
    Unset: GRAPH_AUTH, else `app` when a client secret is set. Pass `client_secret` only as
    `dg.EnvVar("GRAPH_CLIENT_SECRET")`: Dagster shows an EnvVar's name, never its value."""

    auth: str | None = None
    token_cache: str | None = None  # delegated sign-ins; default GRAPHSYNC_TOKEN_CACHE
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    token_url: str | None = None
    api_url: str | None = None
    ca_bundle: str | None = None
    env_file: str = ".env"

    def settings(self) -> GraphSettings:
        overrides = {variable: value for name, variable in GRAPH_VARIABLES.items() if (value := getattr(self, name))}
        return load_settings({**os.environ, **overrides}, dotenv_path=self.env_file, require_secret=False)


def graph_from_environment() -> GraphResource:
    """The deployment's Graph resource: GRAPH_AUTH, and every other GRAPH_* variable set when the code
    location loads (`dagster dev` loads `.env` from its working folder), as a `dg.EnvVar`, so Dagster
    lists the variables it uses and shows none of their values. Variables set only later are still
    read from `.env` when a run starts. GRAPH_CLIENT_SECRET is not required: delegated mode has none,
    and an EnvVar that is not set fails every run."""
    given = {name: dg.EnvVar(variable) for name, variable in GRAPH_VARIABLES.items() if variable in os.environ}
    return GraphResource(**{**given, "auth": dg.EnvVar(GRAPH_VARIABLES["auth"])})


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse; opened only for short locked writes and reads."""

    path: str | None = None  # default: GRAPHSYNC_DB, else ./graphsync.duckdb
    lock_timeout_s: float = 60.0

    def warehouse(self, lock_timeout_s: float | None = None) -> Warehouse:
        """The warehouse; `lock_timeout_s` (default the resource's) bounds the wait for a writer."""
        path = self.path or os.environ.get(WAREHOUSE_VARIABLE, "./graphsync.duckdb")
        return Warehouse(path, self.lock_timeout_s if lock_timeout_s is None else lock_timeout_s)


def warehouse_from_environment() -> WarehouseResource:
    """The deployment's warehouse: GRAPHSYNC_DB as a `dg.EnvVar` when set, else ./graphsync.duckdb."""
    return WarehouseResource(path=dg.EnvVar(WAREHOUSE_VARIABLE) if WAREHOUSE_VARIABLE in os.environ else None)
