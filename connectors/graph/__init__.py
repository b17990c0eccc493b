"""Async Microsoft Graph client (httpx + MSAL) used by the sync and write-back pipelines."""

from connectors.graph.auth import ClientCredentialsProvider, MsalHttpAdapter, TokenProvider
from connectors.graph.client import ClientStats, GraphClient
from connectors.graph.errors import (
    AuthError,
    GraphClientError,
    GraphError,
    GraphUnreachable,
    OutcomeUnknown,
    SyncStateLost,
)

__all__ = [
    "AuthError",
    "ClientCredentialsProvider",
    "ClientStats",
    "GraphClient",
    "GraphClientError",
    "GraphError",
    "GraphUnreachable",
    "MsalHttpAdapter",
    "OutcomeUnknown",
    "SyncStateLost",
    "TokenProvider",
]
