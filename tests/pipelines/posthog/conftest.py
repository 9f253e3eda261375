"""PostHog fixtures: a small emulator on loopback, the source's settings, warehouse snapshots."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from tests.conftest import query

KEY = "phx_test_posthog_key_7c41a9"
PROJECT_ID = 17
# small pages so every listing and every query window takes several requests
SETTINGS = {
    "SOURCES__POSTHOG__PAGE_SIZE": "5",
    "SOURCES__POSTHOG__QUERY_PAGE_SIZE": "8",
    "SOURCES__POSTHOG__RESULTS_LOOKBACK_SECONDS": "600",
    "SOURCES__POSTHOG__LOOKBACK_SECONDS": "600",
}


def anchor() -> datetime:
    """Yesterday midnight UTC: generated data is in the past, and two emulators built in one
    test generate the same data."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1)


def make_emulator(**overrides: Any) -> Emulator:
    options: dict[str, Any] = {
        "seed": 5,
        "projects": 1,
        "runs": 5,
        "posthog_project_id": PROJECT_ID,
        "posthog_api_key": KEY,
        "posthog_datasets": 3,
        "posthog_items_per_dataset": (4, 9),
        "posthog_evaluations": 4,
        "posthog_evaluation_events": 60,
        "posthog_event_days": 3,
        "posthog_now": anchor(),
    }
    options.update(overrides)
    return Emulator(**options)


@pytest.fixture(autouse=True)
def no_posthog_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer PostHog settings leak into the tests."""
    for name in list(os.environ):
        if name.startswith("POSTHOG_"):
            monkeypatch.delenv(name, raising=False)


def point_at(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__POSTHOG__BASE_URL", emu.base_url)
    monkeypatch.setenv("SOURCES__POSTHOG__API_KEY", KEY)
    monkeypatch.setenv("SOURCES__POSTHOG__PROJECT_ID", str(PROJECT_ID))
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def posthog(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A small PostHog emulator the source is pointed at."""
    with make_emulator() as emu:
        point_at(emu, monkeypatch)
        yield emu


@pytest.fixture
def posthog_factory(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Emulator]]:
    """Start more emulators (same data unless overridden); each call re-points the source."""
    started: list[Emulator] = []

    def start(**overrides: Any) -> Emulator:
        emu = make_emulator(**overrides).start()
        started.append(emu)
        point_at(emu, monkeypatch)
        return emu

    yield start
    for emu in started:
        emu.stop()


# public views minus the columns that record when labsync saw a row
VIEW_COLUMNS = {
    "posthog_datasets": "dataset_id, name, description, metadata::varchar, created_at, "
    "updated_at, is_deleted",
    "posthog_dataset_items": "item_id, dataset_id, input::varchar, output::varchar, "
    "metadata::varchar, ref_trace_id, ref_timestamp, ref_source_id, created_at, updated_at, "
    "is_deleted",
    "posthog_evaluations": "evaluation_id, name, description, enabled, evaluation_type, "
    "output_type, evaluation_config::varchar, output_config::varchar, conditions::varchar, "
    "model_configuration::varchar, created_at, updated_at, is_deleted",
    "posthog_evaluation_results": "event_id, evaluation_id, evaluated_at, result, applicable, "
    "reasoning, target_event_id, trace_id, model, provider, runtime",
    "posthog_evaluation_pass_rates": "*",
    "posthog_llm_datasets": "*",
}


def snapshot(warehouse: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {
        view: query(warehouse, f"select {columns} from analytics.{view} order by all")
        for view, columns in VIEW_COLUMNS.items()
    }
