"""Fixtures for LLM Obs emulator tests: emulators and an HTTP helper for ``/api/v2/llm-obs``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from emulator import Emulator

LLM = "/api/v2/llm-obs"
HEADERS = {"DD-API-KEY": "test-api-key", "DD-APPLICATION-KEY": "test-app-key"}


class LlmApi:
    """Tiny HTTP helper for one emulator and one set of credentials."""

    def __init__(self, emu: Emulator, headers: dict[str, str] | None = None) -> None:
        self.emu = emu
        self.base = f"{emu.base_url}{LLM}"
        self.session = requests.Session()
        self.session.headers.update(HEADERS if headers is None else headers)

    def get(self, path: str, params: Any = None) -> requests.Response:
        """GET a path relative to ``/api/v2/llm-obs``."""
        return self.session.get(f"{self.base}{path}", params=params, timeout=30)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Any method on a path relative to ``/api/v2/llm-obs``."""
        return self.session.request(method, f"{self.base}{path}", timeout=30, **kwargs)

    def ok(self, path: str, params: Any = None) -> Any:
        """GET and return the decoded 200 body."""
        response = self.get(path, params)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()

    def send(self, method: str, path: str, body: Any, expect: int) -> Any:
        """Send a JSON body and return the decoded answer (None when empty) after checking the
        status."""
        response = self.request(method, path, json=body)
        assert response.status_code == expect, (response.status_code, response.text)
        return response.json() if response.content else None

    def all_pages(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Follow ``meta.after`` and return every ``data`` item."""
        params = dict(params or {})
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {**params, **({"page[cursor]": cursor} if cursor else {})}
            body = self.ok(path, query)
            items.extend(body["data"])
            cursor = body["meta"]["after"]
            if cursor is None:
                return items

    def all_spans(self, experiment_id: str, limit: int = 7) -> list[dict[str, Any]]:
        """Every span of an experiment through events v3 pages of ``limit``."""
        spans: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"page[limit]": limit}
            if cursor:
                params["page[cursor]"] = cursor
            body = self.ok(f"/v3/experiments/{experiment_id}/events", params)
            spans.extend(body["data"]["attributes"]["spans"])
            cursor = body["meta"]["after"]
            if cursor is None:
                return spans

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call an LLM Obs control endpoint (``/_emulator/llm-obs/...``)."""
        return self.session.request(
            method, f"{self.emu.base_url}/_emulator/llm-obs{path}", timeout=30, **kwargs
        )


def small_emulator(**kwargs: Any) -> Emulator:
    """An emulator with a tiny Model Lab part (these tests only exercise LLM Obs)."""
    return Emulator(projects=1, runs=5, **kwargs)


@pytest.fixture(scope="module")
def lemu() -> Iterator[Emulator]:
    """A shared, read-only emulator with the default LLM Obs sizes (seed 1). Do not mutate it."""
    with small_emulator(seed=1) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def lapi(lemu: Emulator) -> LlmApi:
    """HTTP helper for the shared emulator."""
    return LlmApi(lemu)


@pytest.fixture
def fresh() -> Iterator[Emulator]:
    """A private emulator for tests that mutate state."""
    with small_emulator(seed=3) as emulator:
        yield emulator


@pytest.fixture
def fapi(fresh: Emulator) -> LlmApi:
    """HTTP helper for the private emulator."""
    return LlmApi(fresh)
