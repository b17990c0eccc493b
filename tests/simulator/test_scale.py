"""A million-message tenant is generated lazily and deterministically."""

from __future__ import annotations

import resource
import time

from connectors.simulator import content
from connectors.simulator.app import GraphApp
from connectors.simulator.http import Request
from connectors.simulator.mail import mailbox
from connectors.simulator.tenant import Tenant, TenantConfig


def _get(app: GraphApp, path: str, query: dict[str, str] | None = None) -> dict:
    token = next(iter(app.tokens.tokens), None)
    if token is None:
        app.tokens.token(app.tenant.config.tenant_id, (
            f"client_id={app.tenant.config.client_id}&client_secret={app.tenant.config.client_secret}"
            "&grant_type=client_credentials&scope=https://x/.default").encode(), None)
        token = next(iter(app.tokens.tokens))
    req = Request("GET", path, query or {}, {"prefer": 'IdType="ImmutableId"'}, b"", "https://sim/v1.0")
    req.principal = app.tokens.authenticate(f"Bearer {token}")
    segments, args = app._canonical(req)
    response = app._dispatch(req, segments, args)
    assert response.status == 200, response.body
    return response.body


def test_million_message_tenant_is_lazy() -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    app = GraphApp(Tenant(TenantConfig(scale=content.SCALES["huge"])))
    user = app.tenant.user_ids()[-1]
    folder = _get(app, f"/users/{user}/mailFolders/inbox")
    assert folder["totalItemCount"] == content.folder_counts(2000)["inbox"]
    assert sum(len(c) for c in mailbox(app.tenant, user).messages.values()) == 2000
    assert len(app.tenant.user_ids()) == 500  # 500 mailboxes x 2,000 = 1,000,000 messages
    page = _get(app, f"/users/{user}/mailFolders/inbox/messages/delta", {"$top": "50"})
    assert len(page["value"]) == 50
    assert time.perf_counter() - started < 30
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mb < 200, f"a lazily generated tenant must not materialise its messages ({grown_mb:.0f} MB)"


def test_same_seed_same_tenant() -> None:
    a = GraphApp(Tenant(TenantConfig(seed=7, scale=content.SCALES["small"])))
    b = GraphApp(Tenant(TenantConfig(seed=7, scale=content.SCALES["small"])))
    c = GraphApp(Tenant(TenantConfig(seed=8, scale=content.SCALES["small"])))
    user_a = a.tenant.user_ids()[2]
    assert user_a == b.tenant.user_ids()[2] != c.tenant.user_ids()[2]
    first_a = _get(a, f"/users/{user_a}/mailFolders/inbox/messages", {"$top": "5"})["value"]
    first_b = _get(b, f"/users/{user_a}/mailFolders/inbox/messages", {"$top": "5"})["value"]
    assert first_a == first_b
    assert all("<html>" in m["body"]["content"] for m in first_a)
