"""Model Lab facets end to end: emulator over loopback HTTP -> dlt -> DuckDB -> analytics views."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from emulator.model_lab.data import ModelLabStore
from pipelines import runner
from pipelines.model_lab.settings import RUN_ATTRIBUTE_FACETS
from tests.conftest import API_KEY, APP_KEY, query

FACET_PATHS = ("/project-facet-keys", "/project-facet-values", "/facet-keys", "/facet-values")
# facet-keys attribute -> the facet_type its keys are asked for with (and shown as)
KEY_TYPES = {"metrics": "metric", "parameters": "parameter", "tags": "tag"}


@pytest.fixture
def small_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """2 projects, 60 runs: every facet and artifact request of a full sync stays cheap."""
    with Emulator(seed=5, projects=2, runs=60, api_key=API_KEY, app_key=APP_KEY) as emu:
        emu.start()
        monkeypatch.setenv("SOURCES__DATADOG__BASE_URL", emu.base_url)
        monkeypatch.setenv("SOURCES__DATADOG__API_KEY", API_KEY)
        monkeypatch.setenv("SOURCES__DATADOG__APP_KEY", APP_KEY)
        yield emu


def sync(warehouse: Path, **options: Any) -> runner.SyncResult:
    return runner.sync(warehouse, sources=["model_lab"], **options)


def requests_to(emu: Emulator, *suffixes: str) -> list[Any]:
    return [r for r in emu.requests if r.path.endswith(suffixes)]


def expected_facets(
    store: ModelLabStore, project_ids: list[int] | None = None, project_scope: bool = True
) -> dict[str, list[tuple[Any, ...]]]:
    """The rows the views must hold, straight from what the emulator serves."""
    keys: list[tuple[Any, ...]] = []
    values: list[tuple[Any, ...]] = []
    ranges: list[tuple[Any, ...]] = []
    if project_scope:
        project_keys = store.project_facet_keys()
        for attribute, facet_type in KEY_TYPES.items():
            keys += [("project", None, facet_type, n) for n in project_keys[attribute] or []]
        for name in project_keys["tags"]:
            served = store.project_facet_values(name)["values"]
            values += [("project", None, "tag", name, v, None, None) for v in served]
    for project_id in store.project_ids() if project_ids is None else project_ids:
        run_keys = store.run_facet_keys(project_id)
        wanted = [(KEY_TYPES[a], n) for a in KEY_TYPES for n in run_keys[a]]
        keys += [("run", project_id, t, n) for t, n in wanted]
        for facet_type, name in [*wanted, *(("attribute", a) for a in RUN_ATTRIBUTE_FACETS)]:
            served = store.run_facet_values(project_id, facet_type, name)
            numeric = served.get("numeric_range")
            low, high = (numeric["min"], numeric["max"]) if numeric else (None, None)
            # a range without listed values (metrics, durations) is one row with value NULL
            for value in served["values"] or ([None] if numeric else []):
                values.append(("run", project_id, facet_type, name, value, low, high))
            ranges += [
                (project_id, name, r["stat"], r["min"], r["max"])
                for r in served.get("metric_stat_ranges", [])
            ]
    return {
        "keys": sorted(keys, key=repr),
        "values": sorted(values, key=repr),
        "ranges": sorted(ranges, key=repr),
    }


def loaded_facets(warehouse: Path, project_ids: list[int] | None = None) -> dict[str, list[Any]]:
    where = (
        "" if project_ids is None else f"where project_id in ({','.join(map(str, project_ids))})"
    )
    return {
        "keys": sorted(
            query(
                warehouse,
                "select scope, project_id, facet_type, facet_name "
                f"from analytics.model_lab_facet_keys {where}",
            ),
            key=repr,
        ),
        "values": sorted(
            query(
                warehouse,
                "select scope, project_id, facet_type, facet_name, value, numeric_min, numeric_max "
                f"from analytics.model_lab_facet_values {where}",
            ),
            key=repr,
        ),
        "ranges": sorted(
            query(
                warehouse,
                "select project_id, facet_name, stat, min, max "
                f"from analytics.model_lab_metric_stat_ranges {where}",
            ),
            key=repr,
        ),
    }


def synced_at_by_project(warehouse: Path) -> dict[Any, Any]:
    """When each scope's snapshot was taken (project_id None: the org-wide project facets)."""
    return dict(
        query(warehouse, "select project_id, _synced_at from raw_model_lab.facet_snapshots")
    )


def test_facet_rows_match_the_api_exactly(small_emulator: Emulator, warehouse: Path) -> None:
    result = sync(warehouse)
    expected = expected_facets(small_emulator.model_lab)
    assert loaded_facets(warehouse) == expected
    assert expected["keys"] and expected["ranges"]
    assert {v[2] for v in expected["values"]} == {"tag", "parameter", "attribute", "metric"}
    # one snapshot time, the sync's, on every row of every view
    stamps = query(
        warehouse,
        "select distinct synced_at from analytics.model_lab_facet_keys union "
        "select distinct synced_at from analytics.model_lab_facet_values union "
        "select distinct synced_at from analytics.model_lab_metric_stat_ranges",
    )
    assert len(stamps) == 1
    assert result.audit_failures == []
    # fan-out: one keys request per project and one values request per project x key
    n_projects = len(small_emulator.model_lab.project_ids())
    assert len(requests_to(small_emulator, "/facet-keys")) == n_projects
    per_key = [k for k in expected["keys"] if k[0] == "run"]
    assert len(requests_to(small_emulator, "/facet-values")) == len(per_key) + n_projects * len(
        RUN_ATTRIBUTE_FACETS
    )


def test_only_changed_projects_are_refreshed(small_emulator: Emulator, warehouse: Path) -> None:
    emu = small_emulator
    store = emu.model_lab
    sync(warehouse, build_models=False)
    emu.clear_requests()
    sync(warehouse, build_models=False)
    assert requests_to(emu, *FACET_PATHS) == []  # nothing changed: no facet call at all

    changed_project, other_project = store.project_ids()
    run_id = next(
        i
        for i in store.run_ids()
        if store.get_run(i)["attributes"]["project_id"] == changed_project
    )
    summaries = store.get_run(run_id)["attributes"]["metric_summaries"]
    new_metric = {"key": "brand_new_metric", "count": 3, "latest": 0.25, "min": 0.1, "max": 0.3}
    store.update_run(run_id, metric_summaries=[*summaries, new_metric])
    before = synced_at_by_project(warehouse)
    emu.clear_requests()
    sync(warehouse)
    # a run changed: its project's run facets were refetched; no project row changed
    asked = {r.query.get("filter[project_id]", [None])[0] for r in requests_to(emu, *FACET_PATHS)}
    assert asked == {str(changed_project)}
    assert requests_to(emu, "/project-facet-keys", "/project-facet-values") == []
    assert ("run", changed_project, "metric", "brand_new_metric") in loaded_facets(warehouse)[
        "keys"
    ]
    after = synced_at_by_project(warehouse)
    assert after[other_project] == before[other_project] and after[None] == before[None]
    assert after[changed_project] > before[changed_project]
    assert loaded_facets(warehouse) == expected_facets(store)


def test_project_change_refreshes_project_facets(small_emulator: Emulator, warehouse: Path) -> None:
    emu = small_emulator
    store = emu.model_lab
    sync(warehouse, build_models=False)
    project_id = store.project_ids()[1]
    store.update_project(project_id, tags=[{"key": "stage", "value": "canary"}])
    emu.clear_requests()
    sync(warehouse)
    assert len(requests_to(emu, "/project-facet-keys")) == 1
    loaded = loaded_facets(warehouse)
    assert ("project", None, "tag", "stage") in loaded["keys"]
    assert ("project", None, "tag", "stage", "canary", None, None) in loaded["values"]
    assert loaded == expected_facets(store)


def test_vanished_keys_leave_the_snapshot(small_emulator: Emulator, warehouse: Path) -> None:
    """A snapshot is replaced, not merged: keys and values the API dropped disappear."""
    emu = small_emulator
    store = emu.model_lab
    project_id = store.insert_project(name="tiny")
    run_id = store.insert_run(
        project_id,
        params=[{"key": "lr", "value": "0.1"}],
        tags=[{"key": "owner", "value": "ana"}],
        metric_summaries=[{"key": "loss", "count": 1, "latest": 0.5, "min": 0.5, "max": 0.5}],
    )
    sync(warehouse, build_models=False)
    store.update_run(run_id, params=None, tags=[], metric_summaries=[])
    sync(warehouse)
    loaded = loaded_facets(warehouse, [project_id])
    assert loaded == expected_facets(store, [project_id], project_scope=False)
    assert not [k for k in loaded["keys"] if k[2] in ("parameter", "metric", "tag")]
    assert loaded["ranges"] == []


def test_full_refresh_refetches_every_snapshot(small_emulator: Emulator, warehouse: Path) -> None:
    emu = small_emulator
    sync(warehouse, build_models=False)
    before = synced_at_by_project(warehouse)
    emu.clear_requests()
    sync(warehouse, full_refresh=True)
    after = synced_at_by_project(warehouse)
    assert set(after) == set(before) and all(after[k] > before[k] for k in before)
    assert len(requests_to(emu, "/facet-keys")) == len(emu.model_lab.project_ids())
    assert loaded_facets(warehouse) == expected_facets(emu.model_lab)


def test_faults_end_with_the_same_facets(
    small_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = small_emulator
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "12")
    for kind in ("500", "503", "truncate", "drop"):
        emu.faults.inject(kind, times=2, path_pattern="/facet-values$")
    emu.faults.inject("429", times=1, path_pattern="/facet-keys$")
    emu.faults.configure("429=0.02,5xx=0.05,truncate=0.03,drop=0.03,seed=5")
    result = sync(tmp_path / "faulty.duckdb")
    emu.faults.clear()
    assert loaded_facets(tmp_path / "faulty.duckdb") == expected_facets(emu.model_lab)
    assert result.sources["model_lab"].stats["facets"].retries > 0


def test_rate_limit_paces_the_fan_out(
    small_emulator: Emulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = small_emulator
    monkeypatch.setenv("SOURCES__MODEL_LAB__RUN_ARTIFACT_WALKS", "false")  # facets only
    emu.rate_limit = (40, 1)
    result = sync(warehouse)
    stats = result.sources["model_lab"].stats
    assert stats["facets"].requests > 40
    assert sum(s.throttled for s in stats.resources.values()) <= 1
    assert loaded_facets(warehouse) == expected_facets(emu.model_lab)
