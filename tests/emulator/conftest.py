"""Fixtures for emulator tests: running emulators and a small HTTP helper."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from emulator import Emulator

ML = "/api/v2/model-lab-api"
HEADERS = {"DD-API-KEY": "test-api-key", "DD-APPLICATION-KEY": "test-app-key"}


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``slow`` marker (the project deselects it by default)."""
    config.addinivalue_line("markers", "slow: takes more than ~10 s (deselect with -m 'not slow')")


class Api:
    """Tiny HTTP helper bound to one emulator and one set of credentials."""

    def __init__(self, emu: Emulator, headers: dict[str, str] | None = None) -> None:
        self.emu = emu
        self.base = emu.base_url
        self.session = requests.Session()
        self.session.headers.update(HEADERS if headers is None else headers)

    def get(self, path: str, params: dict[str, Any] | None = None) -> requests.Response:
        """GET a Model Lab path (relative to the API prefix)."""
        return self.session.get(f"{self.base}{ML}{path}", params=params, timeout=30)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Any method on a Model Lab path."""
        return self.session.request(method, f"{self.base}{ML}{path}", timeout=30, **kwargs)

    def ok(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET and return the decoded 200 body."""
        response = self.get(path, params)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    def all_pages(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Follow ``meta.page.next_number`` and return every item."""
        params = dict(params or {})
        params.setdefault("page[size]", 100)
        items: list[dict[str, Any]] = []
        number = 0
        while True:
            body = self.ok(path, {**params, "page[number]": number})
            items.extend(body["data"])
            next_number = body["meta"]["page"]["next_number"]
            if next_number is None:
                return items
            number = next_number

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call a control endpoint (``/_emulator/...``)."""
        return self.session.request(method, f"{self.base}/_emulator{path}", timeout=30, **kwargs)


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    """A shared, read-only emulator (seed 1, 4 projects, 300 runs). Do not mutate it."""
    with Emulator(seed=1, projects=4, runs=300) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def api(emu: Emulator) -> Api:
    """HTTP helper for the shared emulator."""
    return Api(emu)


@pytest.fixture
def fresh() -> Iterator[Emulator]:
    """A private emulator for tests that mutate state."""
    with Emulator(seed=3, projects=4, runs=200) as emulator:
        yield emulator


@pytest.fixture
def fapi(fresh: Emulator) -> Api:
    """HTTP helper for the private emulator."""
    return Api(fresh)
