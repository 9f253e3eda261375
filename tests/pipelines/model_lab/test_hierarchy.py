"""The sweep hierarchy is emitted in pieces as children listings finish: every edge lands once."""

from __future__ import annotations

from pathlib import Path

import pytest

import pipelines.model_lab
from emulator import Emulator
from tests.conftest import query
from tests.conftest import sync_model_lab as run_sync


def test_edges_taken_while_listing_land_once(
    datadog_env: Emulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # batches of 50 runs: finished children listings are taken (and `run_parents` emitted)
    # many times during the listing of 400 runs, not once at its end
    monkeypatch.setattr(pipelines.model_lab, "YIELD_BATCH_ROWS", 50)
    monkeypatch.setenv("SOURCES__MODEL_LAB__FACETS", "false")
    monkeypatch.setenv("SOURCES__MODEL_LAB__ARTIFACTS", "false")
    ml = datadog_env.model_lab
    result = run_sync(warehouse)
    expected = {
        (child, parent)
        for parent in ml.run_ids()
        if ml.get_run(parent)["attributes"]["has_children"]
        for child in ml.children(parent)
    }
    raw = query(warehouse, "select run_id, parent_run_id from raw_model_lab.run_parents")
    assert expected and sorted(raw) == sorted(expected)  # no edge missing, none twice
    assert result.sources["model_lab"].stats.resources["run_parents"].rows == len(expected)
