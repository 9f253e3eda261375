"""An emulator with the default (small) LLM Observability data and a near-empty Model Lab."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator import Emulator
from tests.conftest import API_KEY, APP_KEY


@pytest.fixture
def llm_emulator() -> Iterator[Emulator]:
    with Emulator(seed=5, projects=1, runs=5, api_key=API_KEY, app_key=APP_KEY) as emu:
        emu.start()
        yield emu


@pytest.fixture
def llm_env(llm_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.setenv("SOURCES__DATADOG__BASE_URL", llm_emulator.base_url)
    monkeypatch.setenv("SOURCES__DATADOG__API_KEY", API_KEY)
    monkeypatch.setenv("SOURCES__DATADOG__APP_KEY", APP_KEY)
    return llm_emulator
