"""Model Lab sync end to end: emulator over loopback HTTP -> dlt -> DuckDB -> analytics views."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from pipelines.model_lab.settings import NON_TERMINAL_STATUSES, PAGE_SIZE
from pipelines.runner import SyncFailed
from pipelines.warehouse import state_dir
from tests.conftest import query
from tests.conftest import sync_model_lab as run_sync

RUNS = "/api/v2/model-lab-api/runs"
PROJECTS = "/api/v2/model-lab-api/projects"


def api_requests(emu: Emulator, path: str, **query_has: str) -> list[Any]:
    return [
        r
        for r in emu.requests
        if r.path == path and all(r.query.get(k) == [v] for k, v in query_has.items())
    ]


def listing_requests(emu: Emulator) -> list[Any]:
    """Runs list requests of the incremental listing (not re-reads by id, not children)."""
    return [
        r
        for r in api_requests(emu, RUNS)
        if "filter[id]" not in r.query and "filter[parent_run_id]" not in r.query
    ]


def reread_ids(emu: Emulator) -> list[int]:
    """Run ids re-read by id (`filter[id]`) since the request log was cleared."""
    return [
        int(i)
        for r in api_requests(emu, RUNS)
        for i in r.query.get("filter[id]", [""])[0].split(",")
        if i
    ]


def core_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Projects and runs only: what the request bound of an incremental sync is about."""
    monkeypatch.setenv("SOURCES__MODEL_LAB__FACETS", "false")
    monkeypatch.setenv("SOURCES__MODEL_LAB__ARTIFACTS", "false")


def attrs(emu: Emulator, run_id: int) -> dict[str, Any]:
    return emu.model_lab.get_run(run_id)["attributes"]


def non_terminal_ids(emu: Emulator) -> list[int]:
    return [i for i in emu.model_lab.run_ids() if attrs(emu, i)["status"] in NON_TERMINAL_STATUSES]


def later_page_run(emu: Emulator, page: int = 2) -> int:
    """A run that sits on page `page` of the newest-first listing."""
    ordered = sorted(
        emu.model_lab.run_ids(), key=lambda i: (attrs(emu, i)["updated_at"], i), reverse=True
    )
    return ordered[page * PAGE_SIZE + 5]


def snapshot(warehouse: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every analytics view's rows, minus sync timestamps, in a stable order."""
    views = {
        "model_lab_projects": "project_id, name, description, owner_id, "
        "artifact_storage_location, external_url, is_starred, created_at, updated_at, "
        "deleted_at, is_deleted",
        "model_lab_project_tags": "*",
        "model_lab_runs": "run_id, project_id, parent_run_id, name, description, status, "
        "owner_id, created_at, updated_at, started_at, completed_at, duration_s, has_children, "
        "is_pinned, external_url, mlflow_artifact_location, deleted_at, is_deleted",
        "model_lab_run_params": "*",
        "model_lab_run_tags": "*",
        "model_lab_run_metrics": "*",
    }
    return {
        view: query(warehouse, f"select {cols} from analytics.{view} order by all")
        for view, cols in views.items()
    }


def test_full_sync_exact_rows_and_values(datadog_env: Emulator, warehouse: Path) -> None:
    emu = datadog_env
    ml = emu.model_lab
    result = run_sync(warehouse)
    run_ids = ml.run_ids()
    assert query(warehouse, "select count(*) from analytics.model_lab_runs")[0][0] == len(run_ids)
    assert query(warehouse, "select count(*) from analytics.model_lab_projects")[0][0] == len(
        ml.project_ids()
    )
    expected_params = sum(len(attrs(emu, i)["params"] or []) for i in run_ids)
    expected_tags = sum(len(attrs(emu, i)["tags"]) for i in run_ids)
    expected_metrics = sum(len(attrs(emu, i)["metric_summaries"]) for i in run_ids)
    counts = dict(
        query(
            warehouse,
            "select 'params', count(*) from analytics.model_lab_run_params union all "
            "select 'tags', count(*) from analytics.model_lab_run_tags union all "
            "select 'metrics', count(*) from analytics.model_lab_run_metrics",
        )
    )
    assert counts == {"params": expected_params, "tags": expected_tags, "metrics": expected_metrics}
    assert result.audit_failures == []

    # every value of one run with params, metrics and a parent, as the API serves it
    parent = next(i for i in run_ids if attrs(emu, i)["has_children"])
    child = ml.children(parent)[0]
    a = attrs(emu, child)
    row = query(
        warehouse,
        "select name, status, project_id, parent_run_id, strftime(updated_at, "
        "'%Y-%m-%dT%H:%M:%S.%fZ'), mlflow_artifact_location, is_deleted "
        "from analytics.model_lab_runs where run_id = ?",
        [child],
    )[0]
    assert row == (
        a["name"],
        a["status"],
        a["project_id"],
        parent,
        a["updated_at"],
        a["mlflow_artifact_location"],
        False,
    )
    params = query(
        warehouse,
        "select key, value, value_double from analytics.model_lab_run_params where run_id = ?",
        [child],
    )
    assert sorted((k, v) for k, v, _ in params) == sorted(
        (p["key"], p["value"]) for p in a["params"] or []
    )
    for _, value, value_double in params:
        try:
            assert value_double == float(value)
        except ValueError:
            assert value_double is None
    metrics = query(
        warehouse,
        "select key, count, latest, min, max, mean from analytics.model_lab_run_metrics "
        "where run_id = ? order by key",
        [child],
    )
    assert metrics == sorted(
        (m["key"], m["count"], m.get("latest"), m.get("min"), m.get("max"), m.get("mean"))
        for m in a["metric_summaries"]
    )
    # the hierarchy: every child of every parent points at it
    edges = set(
        query(
            warehouse,
            "select run_id, parent_run_id from analytics.model_lab_runs "
            "where parent_run_id is not null",
        )
    )
    expected_edges = {
        (c, p) for p in run_ids if attrs(emu, p)["has_children"] for c in ml.children(p)
    }
    assert edges == expected_edges and expected_edges
    # soft-deleted rows from the generator are flagged
    soft = {i for i in run_ids if attrs(emu, i).get("deleted_at")}
    flagged = {
        r[0]
        for r in query(warehouse, "select run_id from analytics.model_lab_runs where is_deleted")
    }
    assert flagged == soft and soft


def test_public_view_types(datadog_env: Emulator, warehouse: Path) -> None:
    run_sync(warehouse)
    types = dict(
        query(
            warehouse,
            "select table_name || '.' || column_name, data_type from information_schema.columns "
            "where table_schema = 'analytics'",
        )
    )
    for column in (
        "model_lab_runs.run_id",
        "model_lab_runs.project_id",
        "model_lab_runs.parent_run_id",
        "model_lab_projects.project_id",
        "model_lab_run_metrics.count",
        "model_lab_run_params.run_id",
    ):
        assert types[column] == "BIGINT", column
    for column in (
        "model_lab_runs.created_at",
        "model_lab_runs.updated_at",
        "model_lab_runs.started_at",
        "model_lab_runs.completed_at",
        "model_lab_runs.deleted_at",
        "model_lab_projects.created_at",
    ):
        assert types[column] == "TIMESTAMP WITH TIME ZONE", column
    assert types["model_lab_run_params.value_double"] == "DOUBLE"
    assert types["model_lab_runs.duration_s"] == "DOUBLE"
    assert types["model_lab_runs.is_deleted"] == "BOOLEAN"
    # no dlt variant columns anywhere in the raw dataset
    raw_columns = query(
        warehouse,
        "select column_name from information_schema.columns where table_schema = 'raw_model_lab'",
    )
    assert not [c for (c,) in raw_columns if "__v_" in c]


def test_second_sync_without_changes(datadog_env: Emulator, warehouse: Path) -> None:
    emu = datadog_env
    run_sync(warehouse)
    emu.clear_requests()
    result = run_sync(warehouse)
    assert result.rows_loaded == 0
    assert len(api_requests(emu, PROJECTS)) == 1
    assert len(listing_requests(emu)) == 1
    # runs in progress are all months old: re-read on the slow schedule (a day, spread over
    # it), so seconds later hardly any is due; no hierarchy walks
    assert len(reread_ids(emu)) < len(non_terminal_ids(emu)) / 10
    assert len(api_requests(emu, RUNS)) <= 2
    assert not [r for r in api_requests(emu, RUNS) if "filter[parent_run_id]" in r.query]


def test_updates_cost_pages_proportional_to_changes(datadog_env: Emulator, warehouse: Path) -> None:
    emu = datadog_env
    ml = emu.model_lab
    run_sync(warehouse)
    changed = ml.run_ids()[10:160]  # 150 runs
    for run_id in changed:
        ml.update_run(run_id, name=f"renamed-{run_id}")
    emu.clear_requests()
    result = run_sync(warehouse)
    assert len(listing_requests(emu)) <= math.ceil(len(changed) / PAGE_SIZE) + 1
    assert result.sources["model_lab"].rows_by_table["runs"] == len(changed)
    names = dict(query(warehouse, "select run_id, name from analytics.model_lab_runs"))
    assert all(names[i] == f"renamed-{i}" for i in changed)
    assert query(warehouse, "select count(*) from analytics.model_lab_runs")[0][0] == len(
        ml.run_ids()
    )


@pytest.mark.parametrize("changed", [1, 150, 250])
def test_incremental_requests_bounded_by_the_changes(
    datadog_env: Emulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch, changed: int
) -> None:
    """At most 2 * ceil(changed / 100) + 10 requests; then a sync with no change reads one
    page: the listing that loaded the changes started more than a lookback after them, so it
    saw all of them and the window is not read again."""
    emu = datadog_env
    ml = emu.model_lab
    core_only(monkeypatch)
    monkeypatch.setenv("SOURCES__MODEL_LAB__LOOKBACK_SECONDS", "1")
    run_sync(warehouse)
    chosen = ml.run_ids()[-changed:]  # parents among them; no new run: no child listing
    for run_id in chosen:
        ml.update_run(run_id, description=f"edited {run_id}")
    time.sleep(1.1)
    emu.clear_requests()
    result = run_sync(warehouse)
    assert result.sources["model_lab"].rows_by_table["runs"] == changed
    assert len(emu.requests) <= 2 * math.ceil(changed / PAGE_SIZE) + 10
    assert len(listing_requests(emu)) <= math.ceil(changed / PAGE_SIZE) + 1
    assert not [r for r in api_requests(emu, RUNS) if "filter[parent_run_id]" in r.query]
    emu.clear_requests()
    assert run_sync(warehouse).rows_loaded == 0
    assert len(listing_requests(emu)) == 1 and len(api_requests(emu, PROJECTS)) == 1
    assert len(emu.requests) <= 3  # a due slice of old runs in progress is rare seconds later


def test_new_child_lists_the_children_of_changed_parents(
    datadog_env: Emulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = datadog_env
    ml = emu.model_lab
    core_only(monkeypatch)
    run_sync(warehouse)
    parent = next(i for i in ml.run_ids() if attrs(emu, i)["has_children"])
    child = ml.insert_run(attrs(emu, parent)["project_id"], parent_run_id=parent)
    emu.clear_requests()
    run_sync(warehouse)
    walks = [r for r in api_requests(emu, RUNS) if "filter[parent_run_id]" in r.query]
    assert [r.query["filter[parent_run_id]"] for r in walks] == [[str(parent)]]
    assert query(
        warehouse, "select parent_run_id from analytics.model_lab_runs where run_id = ?", [child]
    ) == [(parent,)]


def test_child_rows_replaced_with_their_run(datadog_env: Emulator, warehouse: Path) -> None:
    emu = datadog_env
    ml = emu.model_lab
    run_sync(warehouse)
    with_params = next(i for i in ml.run_ids() if attrs(emu, i)["params"])
    ml.update_run(with_params, params=None, tags=[{"key": "only", "value": "tag"}])
    run_sync(warehouse)
    assert (
        query(
            warehouse,
            "select count(*) from analytics.model_lab_run_params where run_id = ?",
            [with_params],
        )[0][0]
        == 0
    )
    assert query(
        warehouse,
        "select key, value from analytics.model_lab_run_tags where run_id = ?",
        [with_params],
    ) == [("only", "tag")]


def test_running_run_reread_without_updated_at_change(
    datadog_env: Emulator, warehouse: Path
) -> None:
    emu = datadog_env
    running = next(i for i in non_terminal_ids(emu))
    emu.model_lab.update_run(running, description="still going")  # updated now: recent
    run_sync(warehouse)
    summaries = attrs(emu, running)["metric_summaries"]
    bumped = [{**m, "count": m["count"] + 7} for m in summaries] or [
        {"key": "loss", "count": 1, "latest": 0.5, "min": 0.5, "max": 0.5, "mean": 0.5}
    ]
    emu.model_lab.update_run(running, touch=False, metric_summaries=bumped)
    result = run_sync(warehouse)
    assert result.sources["model_lab"].rows_by_table.get("runs") == 1
    counts = dict(
        query(
            warehouse,
            "select key, count from analytics.model_lab_run_metrics where run_id = ?",
            [running],
        )
    )
    assert counts == {m["key"]: m["count"] for m in bumped}


def test_lost_watch_list_is_rebuilt_from_the_warehouse(
    datadog_env: Emulator,
    warehouse: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without its watch file a sync re-reads the runs the warehouse holds as in progress (a
    change that did not move `updated_at` is still caught), not the whole listing."""
    emu = datadog_env
    core_only(monkeypatch)
    monkeypatch.setenv("SOURCES__MODEL_LAB__STALE_RUN_RECHECK_SECONDS", "0")  # all due
    run_sync(warehouse)
    folder = state_dir(warehouse) / "labsync_model_lab" / "watch" / "runs"
    files = list(folder.iterdir())
    assert len(files) == 1
    files[0].unlink()
    running = non_terminal_ids(emu)
    emu.model_lab.update_run(running[0], touch=False, status="completed")
    emu.clear_requests()
    with caplog.at_level(logging.WARNING):
        run_sync(warehouse)
    assert "re-reading the" in caplog.text
    assert sorted(reread_ids(emu)) == sorted(running)
    assert len(listing_requests(emu)) <= 2  # the listing still stops at its cursor
    assert query(
        warehouse, "select status from analytics.model_lab_runs where run_id = ?", [running[0]]
    ) == [("completed",)]
    emu.clear_requests()
    result = run_sync(warehouse)  # the watch list is whole again, with fingerprints
    assert sorted(reread_ids(emu)) == sorted(running[1:])
    assert result.rows_loaded == 0


def test_old_run_in_progress_caught_within_the_slow_schedule(
    datadog_env: Emulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A months-old run in progress that finishes without `updated_at` moving is seen within
    `stale_run_recheck_seconds`; syncs in between re-read only a slice of such runs."""
    emu = datadog_env
    core_only(monkeypatch)
    monkeypatch.setenv("SOURCES__MODEL_LAB__STALE_RUN_RECHECK_SECONDS", "6")
    old = [i for i in non_terminal_ids(emu) if attrs(emu, i)["updated_at"] < "2026-07"]
    assert len(old) > 20
    started = time.monotonic()
    run_sync(warehouse)
    victim = old[0]
    emu.model_lab.update_run(victim, touch=False, status="completed")
    emu.clear_requests()
    run_sync(warehouse)  # seconds later: a slice of the old runs is due, not all
    if time.monotonic() - started < 5:  # a loaded machine can take the whole interval
        assert len(reread_ids(emu)) < len(old)
    time.sleep(max(0.0, 6.5 - (time.monotonic() - started)))
    run_sync(warehouse)  # one interval after the first sync: every old run was due
    assert query(
        warehouse, "select status from analytics.model_lab_runs where run_id = ?", [victim]
    ) == [("completed",)]


def test_soft_delete_sets_is_deleted(datadog_env: Emulator, warehouse: Path) -> None:
    emu = datadog_env
    run_sync(warehouse)
    run_id = next(i for i in emu.model_lab.run_ids() if not attrs(emu, i).get("deleted_at"))
    project_id = next(
        p
        for p in emu.model_lab.project_ids()
        if not emu.model_lab.get_project(p)["attributes"].get("deleted_at")
    )
    emu.model_lab.soft_delete_run(run_id)
    emu.model_lab.soft_delete_project(project_id)
    run_sync(warehouse)
    assert query(
        warehouse,
        "select is_deleted, deleted_at is not null from analytics.model_lab_runs where run_id = ?",
        [run_id],
    ) == [(True, True)]
    assert query(
        warehouse,
        "select is_deleted from analytics.model_lab_projects where project_id = ?",
        [project_id],
    ) == [(True,)]


def test_hard_delete_flagged_by_reconcile(datadog_env: Emulator, warehouse: Path) -> None:
    emu = datadog_env
    ml = emu.model_lab
    run_sync(warehouse)
    victim = next(i for i in ml.run_ids() if attrs(emu, i)["params"])
    n_params = len(attrs(emu, victim)["params"])
    ml.delete_run(victim)
    run_sync(warehouse)  # a plain sync cannot see a hard delete
    assert query(
        warehouse, "select is_deleted from analytics.model_lab_runs where run_id = ?", [victim]
    ) == [(False,)]
    run_sync(warehouse, reconcile=True)
    flagged = query(
        warehouse,
        "select is_deleted, vanished_detected_at from analytics.model_lab_runs where run_id = ?",
        [victim],
    )
    assert flagged[0][0] is True and flagged[0][1] is not None
    # history is kept: the run and its params are still there
    assert (
        query(
            warehouse,
            "select count(*) from analytics.model_lab_run_params where run_id = ?",
            [victim],
        )[0][0]
        == n_params
    )
    flagged_ids = {
        r[0]
        for r in query(
            warehouse,
            "select run_id from analytics.model_lab_runs where vanished_detected_at is not null",
        )
    }
    assert flagged_ids == {victim}
    # a second reconcile keeps the first detection time
    run_sync(warehouse, reconcile=True)
    assert (
        query(
            warehouse,
            "select vanished_detected_at from analytics.model_lab_runs where run_id = ?",
            [victim],
        )[0][0]
        == flagged[0][1]
    )


def test_idempotent_reruns_leave_no_duplicates(datadog_env: Emulator, warehouse: Path) -> None:
    run_sync(warehouse)
    first = snapshot(warehouse)
    run_sync(warehouse, full_refresh=True)
    run_sync(warehouse, full_refresh=True)
    run_sync(warehouse)
    assert snapshot(warehouse) == first
    for table, key in (("projects", "project_id"), ("runs", "run_id"), ("run_parents", "run_id")):
        dupes = query(
            warehouse, f"select {key} from raw_model_lab.{table} group by {key} having count(*) > 1"
        )
        assert dupes == [], table
    for table in ("run_params", "run_tags", "run_metrics"):
        dupes = query(
            warehouse,
            f"select run_id, key from raw_model_lab.{table} "
            "group by run_id, key having count(*) > 1",
        )
        assert dupes == [], table


def test_update_during_paging_is_caught_next_sync(datadog_env: Emulator, warehouse: Path) -> None:
    emu = datadog_env
    moved = later_page_run(emu, page=3)

    def move_when_page_two(request: Any) -> None:
        if request.path == RUNS and request.query.get("page[number]") == ["2"]:
            emu.on_request(None)
            emu.model_lab.update_run(moved, name="moved-to-front")

    emu.on_request(move_when_page_two)
    run_sync(warehouse)
    run_sync(warehouse)
    assert query(
        warehouse, "select name from analytics.model_lab_runs where run_id = ?", [moved]
    ) == [("moved-to-front",)]
    assert query(warehouse, "select count(*) from analytics.model_lab_runs")[0][0] == len(
        emu.model_lab.run_ids()
    )


def test_delete_during_paging_loses_no_row(datadog_env: Emulator, warehouse: Path) -> None:
    emu = datadog_env
    ordered = sorted(
        emu.model_lab.run_ids(), key=lambda i: (attrs(emu, i)["updated_at"], i), reverse=True
    )
    victims = ordered[:3]  # on page 0, already read when page 2 is requested

    def delete_when_page_two(request: Any) -> None:
        if request.path == RUNS and request.query.get("page[number]") == ["2"]:
            emu.on_request(None)
            for victim in victims:
                emu.model_lab.delete_run(victim)

    emu.on_request(delete_when_page_two)
    run_sync(warehouse)
    loaded = {r[0] for r in query(warehouse, "select run_id from analytics.model_lab_runs")}
    assert set(emu.model_lab.run_ids()) <= loaded


def test_faults_end_identical_to_clean_run(
    datadog_env: Emulator, warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = datadog_env
    run_sync(warehouse)
    clean = snapshot(warehouse)
    faulty = tmp_path / "faulty.duckdb"
    emu.clear_requests()
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "12")
    for kind in ("429", "500", "503", "truncate", "drop", "502"):
        emu.faults.inject(kind, times=1)
    # a random 429 costs its 1 s reset (~1,400 requests here): rarer than the other faults
    emu.faults.configure("429=0.01,5xx=0.05,truncate=0.03,drop=0.02,seed=3")
    result = run_sync(faulty)
    emu.faults.clear()
    assert snapshot(faulty) == clean
    stats = result.sources["model_lab"].stats
    assert stats["runs"].retries + stats["projects"].retries > 0
    assert [r for r in emu.requests if r.fault]


def test_rate_limit_headers_pace_the_sync(
    datadog_env: Emulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = datadog_env
    # projects and runs only: facets and run walks would make this ~1,400 requests at 12/s
    monkeypatch.setenv("SOURCES__MODEL_LAB__FACETS", "false")
    monkeypatch.setenv("SOURCES__MODEL_LAB__RUN_ARTIFACT_WALKS", "false")
    emu.rate_limit = (12, 1)
    result = run_sync(warehouse)
    throttled = sum(s.throttled for s in result.sources["model_lab"].stats.resources.values())
    requests = sum(s.requests for s in result.sources["model_lab"].stats.resources.values())
    assert requests > 12
    assert throttled <= 1  # pacing from X-RateLimit-Remaining avoids the 429s
    assert query(warehouse, "select count(*) from analytics.model_lab_runs")[0][0] == len(
        emu.model_lab.run_ids()
    )


def test_type_change_fails_loudly_and_keeps_warehouse(
    datadog_env: Emulator, warehouse: Path
) -> None:
    emu = datadog_env
    run_sync(warehouse)
    before = snapshot(warehouse)
    run_id = emu.model_lab.run_ids()[0]
    emu.model_lab.update_run(run_id, duration="fast")
    with pytest.raises(SyncFailed, match=r"'runs'.*'duration'"):
        run_sync(warehouse)
    assert snapshot(warehouse) == before
    # once the API is fixed the next sync loads the run
    emu.model_lab.update_run(run_id, duration=12.5)
    run_sync(warehouse)
    assert query(
        warehouse, "select duration_s from analytics.model_lab_runs where run_id = ?", [run_id]
    ) == [(12.5,)]


def test_new_api_field_lands_as_new_column(datadog_env: Emulator, warehouse: Path) -> None:
    emu = datadog_env
    run_sync(warehouse)
    run_id = emu.model_lab.run_ids()[0]
    emu.model_lab.update_run(run_id, gpu_hours=3.25)
    run_sync(warehouse)
    assert query(
        warehouse, "select gpu_hours from raw_model_lab.runs where run_id = ?", [run_id]
    ) == [(3.25,)]
