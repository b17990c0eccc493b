"""`graphsync simulator serve` runs on its own and prints settings ready for .env."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from connectors.simulator.grants import read_claims


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, dict[str, str], int]:
    """`graphsync simulator serve` on a free port, and the KEY=value settings it printed."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "simulator", "serve", "--port", str(port),
                             "--scale", "tiny", "--state-dir", str(tmp_path), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    settings: dict[str, str] = {}
    assert proc.stdout is not None
    while "GRAPH_AUTH" not in settings:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "simulator exited"
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            settings[key] = value
    return proc, settings, port


def _app_token(http: httpx.Client, settings: dict[str, str], port: int) -> dict:
    return http.post(settings["GRAPH_TOKEN_URL"], data={
        "client_id": settings["GRAPH_CLIENT_ID"], "client_secret": settings["GRAPH_CLIENT_SECRET"],
        "grant_type": "client_credentials", "scope": f"https://127.0.0.1:{port}/.default"}).json()


def test_serve_prints_env_lines_and_answers(tmp_path: Path) -> None:
    proc, settings, port = _serve(tmp_path)
    try:
        assert set(settings) == {"GRAPH_TENANT_ID", "GRAPH_CLIENT_ID", "GRAPH_CLIENT_SECRET", "GRAPH_TOKEN_URL",
                                 "GRAPH_API_URL", "GRAPH_CA_BUNDLE", "GRAPH_AUTH"}
        assert settings["GRAPH_API_URL"] == f"https://127.0.0.1:{port}/v1.0"
        with httpx.Client(verify=settings["GRAPH_CA_BUNDLE"]) as http:
            token = _app_token(http, settings, port)
            users = http.get(settings["GRAPH_API_URL"] + "/users",
                             headers={"Authorization": f"Bearer {token['access_token']}"})
        assert users.status_code == 200 and len(users.json()["value"]) == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal so the exit status reports it.
        assert proc.wait(15) in (0, -signal.SIGTERM)


def test_serve_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "pipelines.cli", "simulator", "serve", "--port", str(port),
                              "--state-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert run.stderr.strip().startswith("graphsync: error: cannot serve on 127.0.0.1:")
    assert "Traceback" not in run.stderr


def test_serve_deny_withholds_permissions_from_tokens(tmp_path: Path) -> None:
    proc, settings, port = _serve(tmp_path, "--deny", "Chat.Read.All,Files.Read.All")
    try:
        with httpx.Client(verify=settings["GRAPH_CA_BUNDLE"]) as http:
            token = _app_token(http, settings, port)
            roles = read_claims(token["access_token"])["roles"]
            assert "Chat.Read.All" not in roles and "Files.Read.All" not in roles and "Mail.Read" in roles
            auth = {"Authorization": f"Bearer {token['access_token']}"}
            users = http.get(settings["GRAPH_API_URL"] + "/users", headers=auth).json()["value"]
            # Chat.ReadBasic.All and Chat.ReadWrite.All still list chats; getAllMessages needs Chat.Read.All
            # or Chat.ReadWrite.All, so deny the latter too through the control API.
            http.post(f"https://127.0.0.1:{port}/_sim/control/set_denied",
                      json={"permissions": ["Chat.Read.All", "Chat.ReadWrite.All", "Files.Read.All",
                                            "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All"]})
            token = _app_token(http, settings, port)
            auth = {"Authorization": f"Bearer {token['access_token']}"}
            drive = http.get(f"{settings['GRAPH_API_URL']}/users/{users[0]['id']}/drive", headers=auth)
            chats = http.get(f"{settings['GRAPH_API_URL']}/users/{users[0]['id']}/chats/getAllMessages",
                             headers=auth)
        assert drive.status_code == 403 and drive.json()["error"]["code"] == "accessDenied"
        assert chats.status_code == 403 and chats.json()["error"]["code"] == "Forbidden"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) in (0, -signal.SIGTERM)
