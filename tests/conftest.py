"""Shared fixtures: an emulator on loopback, a temporary warehouse, environment isolation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from emulator import Emulator
from pipelines import runner

API_KEY = "test-api-key-5f3b9c"
APP_KEY = "test-app-key-8d21e7"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer credentials leak in; retries are fast so fault tests stay quick."""
    for name in list(os.environ):
        if name.startswith(("SOURCES__", "DD_", "POSTHOG_", "LABSYNC_", "DESTINATION__")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.01")
    # random fault tests fail ~25% of requests; threads make the order vary, so give every
    # request enough attempts that a run of failures never exhausts them (0.25^12 ≈ 6e-8)
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "12")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_RETRY_DELAY", "1")
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "10")
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "WARNING")
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(seed=11, projects=4, runs=400, api_key=API_KEY, app_key=APP_KEY) as emu:
        emu.start()
        yield emu


@pytest.fixture
def datadog_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.setenv("SOURCES__DATADOG__BASE_URL", emulator.base_url)
    monkeypatch.setenv("SOURCES__DATADOG__API_KEY", API_KEY)
    monkeypatch.setenv("SOURCES__DATADOG__APP_KEY", APP_KEY)
    return emulator


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse" / "labsync.duckdb"


def run_sync(warehouse: Path, **options: Any) -> runner.SyncResult:
    return runner.sync(warehouse, **options)


def sync_model_lab(warehouse: Path, **options: Any) -> runner.SyncResult:
    """Model Lab only: the Datadog keys would otherwise also sync LLM Observability."""
    return runner.sync(warehouse, sources=["model_lab"], **options)


def query(warehouse: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
