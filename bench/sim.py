"""A tenant simulator in a child process, driven over its HTTP control surface."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

STARTUP_TIMEOUT_S = 60.0


@dataclass
class SimProcess:
    users: int
    messages_per_mailbox: int
    env: dict[str, str] = field(default_factory=dict)  # GRAPH_* settings and SIM_ORIGIN
    _proc: subprocess.Popen[str] | None = None
    _state_dir: tempfile.TemporaryDirectory[str] | None = None
    _http: httpx.Client | None = None

    @property
    def origin(self) -> str:
        return self.env["SIM_ORIGIN"]

    @property
    def ca_path(self) -> str:
        return self.env["GRAPH_CA_BUNDLE"]

    @property
    def messages(self) -> int:
        return self.users * self.messages_per_mailbox

    def start(self) -> SimProcess:
        self._state_dir = tempfile.TemporaryDirectory(prefix="graphsync-bench-sim-")
        cmd = [sys.executable, "-m", "bench.simserver", "--users", str(self.users),
               "--messages", str(self.messages_per_mailbox), "--state-dir", self._state_dir.name]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=_repo_root())
        self.env = _read_announcement(self._proc)
        self._http = httpx.Client(base_url=self.origin, verify=self.ca_path, timeout=120.0)
        self._wait_listening()
        return self

    def _wait_listening(self) -> None:
        # The announcement comes once the port is bound, a moment before uvicorn starts accepting.
        assert self._http is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                self._http.post("/_sim/control/journal_mark", json={}).raise_for_status()
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._state_dir is not None:
            self._state_dir.cleanup()

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def control(self, op: str, **kwargs: Any) -> Any:
        assert self._http is not None, "simulator not started"
        response = self._http.post(f"/_sim/control/{op}", json=kwargs)
        response.raise_for_status()
        return response.json()["result"]

    def journal_mark(self) -> int:
        return int(self.control("journal_mark"))

    def journal(self, since: int) -> list[dict[str, Any]]:
        assert self._http is not None, "simulator not started"
        # Token requests too: they are HTTP requests, and journal_mark counts them.
        response = self._http.get("/_sim/journal", params={"since": since, "grants": "1"})
        response.raise_for_status()
        return list(response.json()["value"])

    def requests_since(self, mark: int) -> int:
        """Graph requests the simulator answered after `mark` (the journal holds the last 200,000)."""
        return self.journal_mark() - mark


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _read_announcement(proc: subprocess.Popen[str]) -> dict[str, str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    env: dict[str, str] = {}
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"simulator exited before it was ready (exit code {proc.poll()})")
        line = line.strip()
        if line == "READY":
            return env
        key, sep, value = line.partition("=")
        if sep:
            env[key] = value
    raise RuntimeError("simulator did not become ready in time")


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of a measured child: ours plus `extra` (GRAPH_* and the like)."""
    return {**os.environ, **extra}
