"""Shared fixtures: a real simulator over HTTPS and an authenticated client for it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.simulator import content
from connectors.simulator.server import Simulator
from connectors.simulator.tenant import TenantConfig


def start_simulator(state_dir: Path, scale: str = "tiny", **config: object) -> Simulator:
    return Simulator(TenantConfig(scale=content.SCALES[scale], **config), state_dir=state_dir).start()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    """A fresh tiny tenant for one test."""
    simulator = start_simulator(tmp_path / "sim")
    yield simulator
    simulator.stop()


class GraphTestClient:
    """A thin authenticated httpx client for asserting on raw Graph responses."""

    def __init__(self, simulator: Simulator, delegated_user: str | None = None) -> None:
        self.sim = simulator
        ep = simulator.endpoints
        self.http = httpx.Client(verify=str(ep.ca_path), timeout=30)
        self.api = ep.api_url
        self.token = self._app_token()

    def _app_token(self) -> str:
        ep = self.sim.endpoints
        r = self.http.post(ep.token_url, data={"client_id": ep.client_id, "client_secret": ep.client_secret,
                                               "grant_type": "client_credentials", "scope": f"{ep.origin}/.default"})
        r.raise_for_status()
        return r.json()["access_token"]

    def request(self, method: str, path_or_url: str, **kwargs: object) -> httpx.Response:
        url = path_or_url if path_or_url.startswith("https://") else self.api + path_or_url
        headers = {"Authorization": f"Bearer {self.token}", **(kwargs.pop("headers", None) or {})}  # type: ignore[arg-type]
        return self.http.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]

    def get(self, path_or_url: str, **kwargs: object) -> httpx.Response:
        return self.request("GET", path_or_url, **kwargs)

    def post(self, path_or_url: str, **kwargs: object) -> httpx.Response:
        return self.request("POST", path_or_url, **kwargs)

    def patch(self, path_or_url: str, **kwargs: object) -> httpx.Response:
        return self.request("PATCH", path_or_url, **kwargs)

    def delete(self, path_or_url: str, **kwargs: object) -> httpx.Response:
        return self.request("DELETE", path_or_url, **kwargs)

    def put(self, path_or_url: str, **kwargs: object) -> httpx.Response:
        return self.request("PUT", path_or_url, **kwargs)

    def follow(self, path_or_url: str, headers: dict[str, str] | None = None) -> tuple[list[dict], str, int]:
        """Follow nextLinks to the end: (all items, the final deltaLink or "", pages)."""
        items: list[dict] = []
        url, pages = path_or_url, 0
        while True:
            r = self.get(url, headers=headers)
            assert r.status_code == 200, r.text
            body = r.json()
            pages += 1
            items.extend(body["value"])
            if "@odata.nextLink" in body:
                url = body["@odata.nextLink"]
                continue
            return items, body.get("@odata.deltaLink", ""), pages

    def first_user(self) -> str:
        return self.get("/users").json()["value"][0]["id"]


@pytest.fixture
def graph(sim: Simulator) -> Iterator[GraphTestClient]:
    client = GraphTestClient(sim)
    yield client
    client.http.close()


@pytest.fixture(autouse=True, scope="session")
def _no_global_ca_override() -> None:
    """REQUESTS_CA_BUNDLE is set machine-wide and would override verify= in requests-based code."""
    os.environ.pop("REQUESTS_CA_BUNDLE", None)
    os.environ.pop("CURL_CA_BUNDLE", None)
