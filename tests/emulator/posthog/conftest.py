"""Fixtures for the PostHog emulator tests: emulators with a fixed anchor and an HTTP helper."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from emulator import Emulator

ANCHOR = "2026-11-02T00:00:00Z"
KEY = "phx_test_key_1f2e3d"
ENV = "/api/environments/1"
PROJ = "/api/projects/1"


class PhApi:
    """Tiny HTTP helper for one emulator, one key and one path prefix."""

    def __init__(self, emu: Emulator, key: str | None = KEY, prefix: str = ENV) -> None:
        self.emu = emu
        self.prefix = prefix
        self.session = requests.Session()
        if key is not None:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def url(self, path: str) -> str:
        """Absolute URL of a path under the prefix."""
        return f"{self.emu.base_url}{self.prefix}{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Any method on a path under the prefix."""
        return self.session.request(method, self.url(path), timeout=30, **kwargs)

    def get(self, path: str, params: dict[str, Any] | None = None) -> requests.Response:
        """GET a path under the prefix."""
        return self.request("GET", path, params=params)

    def ok(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET and return the decoded 200 body."""
        response = self.get(path, params)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    def all_pages(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Follow ``next`` links and return every result."""
        body = self.ok(path, params)
        rows = list(body["results"])
        while body["next"] is not None:
            response = self.session.get(body["next"], timeout=30)
            assert response.status_code == 200, response.text
            body = response.json()
            rows.extend(body["results"])
        return rows

    def query(self, hogql: str, **extra: Any) -> requests.Response:
        """POST a HogQL query."""
        body = {"query": {"kind": "HogQLQuery", "query": hogql}, **extra}
        return self.request("POST", "/query/", json=body)


@pytest.fixture(scope="module")
def ph() -> Iterator[Emulator]:
    """A shared, read-only emulator (seed 1, default PostHog sizes, fixed anchor)."""
    with Emulator(seed=1, projects=1, runs=5, posthog_now=ANCHOR) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def api(ph: Emulator) -> PhApi:
    """HTTP helper for the shared emulator."""
    return PhApi(ph)


@pytest.fixture
def fresh() -> Iterator[Emulator]:
    """A private emulator for tests that mutate state."""
    with Emulator(seed=5, projects=1, runs=5, posthog_now=ANCHOR) as emulator:
        yield emulator


@pytest.fixture
def fapi(fresh: Emulator) -> PhApi:
    """HTTP helper for the private emulator."""
    return PhApi(fresh)
