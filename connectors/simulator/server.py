"""Run the simulator over HTTPS on loopback, in a background thread (tests, demo) or in the
foreground (`graphsync simulator serve`).

TLS comes from a throwaway CA (trustme) written to a PEM file; clients trust that file and nothing
else, exactly as they would trust a corporate CA in front of the real Graph.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
import uvicorn

from connectors.simulator.app import API_ROOT, GraphApp
from connectors.simulator.faults import FaultInjector
from connectors.simulator.tenant import Tenant, TenantConfig


@dataclass
class Endpoints:
    """What a client needs to reach the simulator: the settings of INTERFACE.md, as values."""

    origin: str
    ca_path: Path
    tenant_id: str
    client_id: str
    client_secret: str

    @property
    def token_url(self) -> str:
        return f"{self.origin}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def api_url(self) -> str:
        return f"{self.origin}{API_ROOT}"

    @property
    def authority(self) -> str:
        return f"{self.origin}/{self.tenant_id}"

    def env(self) -> dict[str, str]:
        return {
            "GRAPH_TENANT_ID": self.tenant_id,
            "GRAPH_CLIENT_ID": self.client_id,
            "GRAPH_CLIENT_SECRET": self.client_secret,
            "GRAPH_TOKEN_URL": self.token_url,
            "GRAPH_API_URL": self.api_url,
            "GRAPH_CA_BUNDLE": str(self.ca_path),
            "GRAPH_AUTH": "app",
        }


def write_tls_material(state_dir: Path) -> tuple[Path, Path]:
    """(CA certificate PEM, server key+certificate PEM) for 127.0.0.1 and localhost."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="graphsync tenant simulator")
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    ca_path = state_dir / "simulator-ca.pem"
    server_pem = state_dir / "simulator-server.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    return ca_path, server_pem


@dataclass
class Simulator:
    """A running simulator. Use as a context manager, or call start()/stop()."""

    config: TenantConfig = field(default_factory=TenantConfig)
    state_dir: Path = field(default_factory=lambda: Path(".graphsync/simulator"))
    port: int = 0
    host: str = "127.0.0.1"
    denied: frozenset[str] | list[str] | tuple[str, ...] = frozenset()  # permissions withheld from tokens
    app: GraphApp = field(init=False)
    endpoints: Endpoints = field(init=False)
    _server: uvicorn.Server | None = field(init=False, default=None)
    _thread: threading.Thread | None = field(init=False, default=None)
    _loop: asyncio.AbstractEventLoop | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        tenant = Tenant(self.config)
        self.app = GraphApp(tenant, FaultInjector(self.config.seed), denied=frozenset(self.denied))

    @property
    def tenant(self) -> Tenant:
        return self.app.tenant

    def _prepare(self) -> tuple[uvicorn.Server, socket.socket]:
        ca_path, server_pem = write_tls_material(Path(self.state_dir))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        # Listen now: clients told the address (serve prints it before uvicorn starts) queue in the
        # backlog instead of being refused.
        sock.listen(1024)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, ssl_certfile=str(server_pem), ssl_keyfile=str(server_pem),
                                log_level="critical", access_log=False, lifespan="off",
                                timeout_keep_alive=30, backlog=1024, timeout_graceful_shutdown=1)
        cfg = self.config
        self.endpoints = Endpoints(f"https://{self.host}:{self.port}", ca_path, cfg.tenant_id, cfg.client_id,
                                   cfg.client_secret)
        # The dropped-connection fault raises inside the app on purpose; keep it out of the logs.
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        return uvicorn.Server(config), sock

    def start(self) -> Simulator:
        server, sock = self._prepare()
        self._server = server
        started = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            try:
                loop.run_until_complete(server.serve(sockets=[sock]))
            finally:
                # Closed here, not left to the garbage collector: a loop collected in a cycle may find its
                # self-pipe already closed and report "Invalid file descriptor: -1" in whatever test runs then.
                loop.close()

        self._thread = threading.Thread(target=run, name="graph-simulator", daemon=True)
        self._thread.start()
        started.wait(10)
        while not server.started:
            threading.Event().wait(0.01)
        return self

    def serve_forever(self, on_ready: Callable[[Endpoints], None] | None = None) -> None:
        """Serve in this thread until interrupted (Ctrl-C / SIGTERM)."""
        server, sock = self._prepare()
        if on_ready is not None:
            on_ready(self.endpoints)
        server.run(sockets=[sock])

    def stop(self) -> None:
        # Clients may keep idle keep-alive connections open; a simulator has no work worth draining.
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def control(self, op: str, **kwargs: Any) -> Any:
        """Run a control operation on the server's thread (the tenant is not thread-safe)."""
        if self._loop is None:
            return self.app.control.call(op, **kwargs)

        async def invoke() -> Any:
            return self.app.control.call(op, **kwargs)

        return asyncio.run_coroutine_threadsafe(invoke(), self._loop).result(30)
