"""PostHog sync end to end: emulator over loopback HTTP -> dlt -> DuckDB -> analytics views."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from pipelines import runner
from pipelines.cli import main
from pipelines.common.arrow import parse_timestamp
from pipelines.runner import SyncFailed
from tests.conftest import query, run_sync

from .conftest import KEY, PROJECT_ID, snapshot

ENV = f"/api/environments/{PROJECT_ID}"
QUERY_PATH = f"/api/projects/{PROJECT_ID}/query/"
PAGE_SIZE = 5
# Views read the raw tables, so after the first build later syncs skip rebuilding them
# (`build_models=False`) unless a test checks the audits: it keeps these tests fast.


def ts(value: str | None) -> datetime | None:
    return parse_timestamp(value) if value else None


def js(value: Any) -> Any:
    return None if value is None else json.loads(value)


def requests_to(emu: Emulator, path: str) -> list[Any]:
    return [r for r in emu.requests if r.path.rstrip("/") == path.rstrip("/")]


def loaded(result: runner.SyncResult) -> dict[str, int]:
    return {t: n for t, n in result.sources["posthog"].rows_by_table.items() if n}


def expected_result(event: dict[str, Any]) -> tuple[Any, ...]:
    p = event["properties"]
    applicable = p.get("$ai_evaluation_applicable")
    if applicable is None:
        applicable = p.get("$ai_evaluation_result") is not None
    return (
        event["uuid"],
        p["$ai_evaluation_id"],
        ts(event["timestamp"]),
        p.get("$ai_evaluation_result") if applicable else None,
        applicable,
        p.get("$ai_evaluation_reasoning"),
        p.get("$ai_target_event_id"),
        p.get("$ai_trace_id"),
        p.get("$ai_evaluation_model") or p.get("$ai_model"),
        p.get("$ai_evaluation_provider") or p.get("$ai_provider"),
        p.get("$ai_evaluation_runtime"),
    )


def test_full_sync_exact_rows_per_view(posthog: Emulator, warehouse: Path) -> None:
    store = posthog.posthog
    relevance = store.evaluation_ids()[1]  # the generated evaluation that allows N/A
    assert store.get_evaluation(relevance)["output_config"] == {"allows_na": True}
    store.add_evaluation_event(relevance, applicable=False)
    result = run_sync(warehouse, sources=["posthog"])
    assert result.audit_failures == []

    datasets = query(
        warehouse,
        "select dataset_id, name, description, metadata, created_at, updated_at, is_deleted "
        "from analytics.posthog_datasets order by dataset_id",
    )
    assert [(*r[:3], js(r[3]), *r[4:]) for r in datasets] == [
        (d["id"], d["name"], d["description"], d["metadata"], ts(d["created_at"]),
         ts(d["updated_at"]), False)
        for d in sorted((store.get_dataset(i) for i in store.dataset_ids()), key=lambda d: d["id"])
    ]  # fmt: skip

    items = query(
        warehouse,
        "select item_id, dataset_id, input, output, metadata, ref_trace_id, ref_timestamp, "
        "ref_source_id, created_at, updated_at, is_deleted "
        "from analytics.posthog_dataset_items order by item_id",
    )
    assert [(r[0], r[1], js(r[2]), js(r[3]), js(r[4]), *r[5:]) for r in items] == [
        (i["id"], i["dataset"], i["input"], i["output"], i["metadata"], i["ref_trace_id"],
         ts(i["ref_timestamp"]), i["ref_source_id"], ts(i["created_at"]), ts(i["updated_at"]),
         False)
        for i in sorted((store.get_item(i) for i in store.item_ids()), key=lambda i: i["id"])
    ]  # fmt: skip
    assert len(items) > 2 * PAGE_SIZE  # several pages were read

    evaluations = query(
        warehouse,
        "select evaluation_id, name, description, enabled, evaluation_type, output_type, "
        "evaluation_config, output_config, conditions, model_configuration, created_at, "
        "updated_at, is_deleted from analytics.posthog_evaluations order by evaluation_id",
    )
    assert [(*r[:6], *map(js, r[6:10]), *r[10:]) for r in evaluations] == [
        (e["id"], e["name"], e["description"], e["enabled"], e["evaluation_type"],
         e["output_type"], e["evaluation_config"], e["output_config"], e["conditions"],
         e["model_configuration"], ts(e["created_at"]), ts(e["updated_at"]), False)
        for e in sorted(
            (store.get_evaluation(i) for i in store.evaluation_ids()), key=lambda e: e["id"]
        )
    ]  # fmt: skip

    events = store.evaluation_events()
    results = query(
        warehouse,
        "select event_id, evaluation_id, evaluated_at, result, applicable, reasoning, "
        "target_event_id, trace_id, model, provider, runtime "
        "from analytics.posthog_evaluation_results order by event_id",
    )
    assert results == sorted(expected_result(e) for e in events)
    assert any(r[4] is False and r[3] is None for r in results)  # a "not applicable" verdict
    assert any(r[10] is None for r in results)  # events of the older writer

    rates: dict[tuple[str, date], Counter[str]] = defaultdict(Counter)
    for row in map(expected_result, events):
        day = row[2].astimezone(UTC).date()
        outcome = "na" if not row[4] else ("pass" if row[3] else "fail")
        rates[(row[1], day)].update(["n", outcome])
    pass_rates = "select * from analytics.posthog_evaluation_pass_rates order by all"
    assert query(warehouse, pass_rates) == [
        (evaluation_id, day, c["n"], c["pass"], c["fail"], c["na"],
         c["pass"] / (c["pass"] + c["fail"]) if c["pass"] + c["fail"] else None)
        for (evaluation_id, day), c in sorted(rates.items())
    ]  # fmt: skip

    item_counts = Counter(store.get_item(i)["dataset"] for i in store.item_ids())
    llm_datasets = query(
        warehouse,
        "select vendor, dataset_id, name, item_count, updated_at, locked_by "
        "from analytics.llm_datasets where vendor = 'posthog' order by dataset_id",
    )
    expected = []
    for dataset_id in sorted(store.dataset_ids()):
        d = store.get_dataset(dataset_id)
        newest = max(
            [ts(d["updated_at"])]
            + [ts(store.get_item(i)["updated_at"]) for i in store.item_ids(dataset_id)]
        )
        expected.append(("posthog", dataset_id, d["name"], item_counts[dataset_id], newest, None))
    assert llm_datasets == expected

    assert_public_view_types(warehouse)


def assert_public_view_types(warehouse: Path) -> None:
    types = dict(
        query(
            warehouse,
            "select table_name || '.' || column_name, data_type from information_schema.columns "
            "where table_schema = 'analytics' and table_name like 'posthog%'",
        )
    )
    for column in (
        "posthog_datasets.updated_at",
        "posthog_dataset_items.ref_timestamp",
        "posthog_evaluations.created_at",
        "posthog_evaluation_results.evaluated_at",
    ):
        assert types[column] == "TIMESTAMP WITH TIME ZONE", column
    for column in ("posthog_dataset_items.input", "posthog_evaluations.conditions"):
        assert types[column] == "JSON", column
    assert types["posthog_evaluation_results.result"] == "BOOLEAN"
    assert types["posthog_evaluation_pass_rates.day"] == "DATE"
    assert types["posthog_evaluation_pass_rates.n"] == "BIGINT"
    assert types["posthog_evaluation_pass_rates.pass_rate"] == "DOUBLE"
    assert types["posthog_llm_datasets.item_count"] == "BIGINT"
    raw = query(
        warehouse,
        "select column_name from information_schema.columns where table_schema = 'raw_posthog'",
    )
    assert not [c for (c,) in raw if "__v_" in c]


def test_unchanged_sync_reads_one_page_each_and_loads_nothing(
    posthog: Emulator, warehouse: Path
) -> None:
    store = posthog.posthog
    run_sync(warehouse, sources=["posthog"])
    posthog.clear_requests()
    result = run_sync(warehouse, sources=["posthog"], build_models=False)
    assert loaded(result) == {}
    assert len(requests_to(posthog, f"{ENV}/datasets/")) == 1
    assert len(requests_to(posthog, f"{ENV}/evaluations/")) == 1
    # items cannot be filtered by updated_at: every page is read, nothing is loaded
    items_pages = math.ceil(len(store.item_ids()) / PAGE_SIZE)
    assert len(requests_to(posthog, f"{ENV}/dataset_items/")) == items_pages > 1
    # results: only the window from the cursor minus the lookback up to now
    assert 1 <= len(requests_to(posthog, QUERY_PATH)) <= 2


def test_changes_are_loaded_and_nothing_else(posthog: Emulator, warehouse: Path) -> None:
    store = posthog.posthog
    first = run_sync(warehouse, sources=["posthog"])
    first_queries = len(requests_to(posthog, QUERY_PATH))
    dataset_id = store.dataset_ids()[0]
    store.update_dataset(dataset_id, description="refreshed")
    evaluation_id = store.evaluation_ids()[1]
    store.update_evaluation(evaluation_id, enabled=False)
    new_dataset = store.add_dataset("fresh", metadata={"k": 1})
    new_item = store.add_item(new_dataset, input={"q": "hi"}, output="hello")
    # the oldest item sits on the last page; one edit bumps updated_at, one does not
    oldest, second_oldest = store.item_ids()[:2]
    store.update_item(oldest, output={"answer": "edited"})
    store.update_item(second_oldest, metadata={"fixed": True}, touch=False)
    new_event = store.add_evaluation_event(evaluation_id, result=True)
    late_event = store.add_late_evaluation_event(evaluation_id, age_seconds=300, result=False)
    posthog.clear_requests()

    result = run_sync(warehouse, sources=["posthog"], build_models=False)
    assert loaded(result) == {
        "datasets": 2,
        "evaluations": 1,
        "dataset_items": 3,
        "evaluation_results": 2,
    }
    assert len(requests_to(posthog, QUERY_PATH)) < first_queries
    assert query(
        warehouse,
        "select description from analytics.posthog_datasets where dataset_id = ?",
        [dataset_id],
    ) == [("refreshed",)]
    assert query(
        warehouse,
        "select enabled from analytics.posthog_evaluations where evaluation_id = ?",
        [evaluation_id],
    ) == [(False,)]
    items = query(
        warehouse,
        "select item_id, output, metadata from analytics.posthog_dataset_items "
        "where item_id in (?, ?, ?) order by item_id",
        [oldest, second_oldest, new_item],
    )
    assert [(i, js(o), js(m)) for i, o, m in items] == sorted(
        (i, store.get_item(i)["output"], store.get_item(i)["metadata"])
        for i in (oldest, second_oldest, new_item)
    )
    assert store.get_item(oldest)["output"] == {"answer": "edited"}
    assert store.get_item(second_oldest)["metadata"] == {"fixed": True}
    assert query(
        warehouse,
        "select event_id, result from analytics.posthog_evaluation_results "
        "where event_id in (?, ?) order by result",
        [new_event, late_event],
    ) == sorted([(late_event, False), (new_event, True)], key=lambda r: r[1])
    assert (
        query(warehouse, "select count(*) from analytics.posthog_evaluation_results")[0][0]
        == first.sources["posthog"].rows_by_table["evaluation_results"] + 2
    )


def test_results_only_new_windows_are_queried(posthog: Emulator, warehouse: Path) -> None:
    """An event ingested later than the lookback sits in a window the sync no longer reads;
    `--full-refresh` reads every window again and finds it."""
    store = posthog.posthog
    run_sync(warehouse, sources=["posthog"])
    evaluation_id = store.evaluation_ids()[0]
    too_late = store.add_late_evaluation_event(evaluation_id, age_seconds=2 * 86400)
    in_time = store.add_late_evaluation_event(evaluation_id, age_seconds=120)
    run_sync(warehouse, sources=["posthog"], build_models=False)
    found = {
        r[0] for r in query(warehouse, "select event_id from analytics.posthog_evaluation_results")
    }
    assert in_time in found and too_late not in found
    run_sync(warehouse, sources=["posthog"], build_models=False, full_refresh=True)
    found = {
        r[0] for r in query(warehouse, "select event_id from analytics.posthog_evaluation_results")
    }
    assert too_late in found
    assert query(warehouse, "select count(*) from analytics.posthog_evaluation_results")[0][
        0
    ] == len(store.evaluation_events())


def test_deletes_are_flagged_after_reconcile_and_undone_by_restores(
    posthog: Emulator, warehouse: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    store = posthog.posthog
    run_sync(warehouse, sources=["posthog"])
    dataset_id = store.dataset_ids()[0]
    item_id = store.item_ids(store.dataset_ids()[1])[0]
    evaluation_id = store.evaluation_ids()[0]
    store.soft_delete_dataset(dataset_id)
    store.soft_delete_item(item_id)
    store.soft_delete_evaluation(evaluation_id)

    def deleted() -> set[str]:
        return {
            r[0]
            for r in query(
                warehouse,
                "select dataset_id from analytics.posthog_datasets where is_deleted union all "
                "select item_id from analytics.posthog_dataset_items where is_deleted union all "
                "select evaluation_id from analytics.posthog_evaluations where is_deleted",
            )
        }

    run_sync(warehouse, sources=["posthog"], build_models=False)
    assert deleted() == set()  # deletes are invisible to a plain sync
    result = run_sync(warehouse, sources=["posthog"], reconcile=True)
    items_of_deleted_dataset = set(store.item_ids(dataset_id))
    assert deleted() == {dataset_id, item_id, evaluation_id} | items_of_deleted_dataset
    assert result.audit_failures == []
    detected = query(
        warehouse,
        "select vanished_detected_at from analytics.posthog_datasets where dataset_id = ?",
        [dataset_id],
    )[0][0]
    assert detected is not None
    # a second reconcile keeps the first detection time
    run_sync(warehouse, sources=["posthog"], build_models=False, reconcile=True)
    assert query(
        warehouse,
        "select vanished_detected_at from analytics.posthog_datasets where dataset_id = ?",
        [dataset_id],
    ) == [(detected,)]
    # flagged rows stay in the views
    assert query(warehouse, "select count(*) from analytics.posthog_datasets")[0][0] == 3

    store.restore_dataset(dataset_id)
    store.restore_item(item_id)
    store.restore_evaluation(evaluation_id)
    run_sync(warehouse, sources=["posthog"], build_models=False)
    assert deleted() == set()
    # the key is only ever a request header: not in logs, tables, state or load packages
    assert KEY not in caplog.text
    files = [path for path in warehouse.parent.rglob("*") if path.is_file()]
    assert files and not [path for path in files if KEY.encode() in path.read_bytes()]


def test_items_of_a_dataset_deleted_before_the_first_sync(
    posthog: Emulator, warehouse: Path
) -> None:
    """The API lists items of soft-deleted datasets; their dataset is found gone and flagged."""
    store = posthog.posthog
    gone = store.dataset_ids()[2]
    store.soft_delete_dataset(gone)
    result = run_sync(warehouse, sources=["posthog"])
    assert result.audit_failures == []
    rows = query(
        warehouse,
        "select distinct dataset_is_deleted, is_deleted from analytics.posthog_dataset_items "
        "where dataset_id = ?",
        [gone],
    )
    assert rows == [(True, True)]
    assert gone not in {r[1] for r in query(warehouse, "select * from analytics.llm_datasets")}
    # known gone: the next sync asks nothing more about it
    posthog.clear_requests()
    run_sync(warehouse, sources=["posthog"], build_models=False)
    assert not [r for r in requests_to(posthog, f"{ENV}/datasets/") if "id__in" in r.query]


def test_faults_and_throttling_give_the_same_warehouse(
    posthog_factory: Any, tmp_path: Path
) -> None:
    clean, faulty = tmp_path / "clean" / "w.duckdb", tmp_path / "faulty" / "w.duckdb"
    posthog_factory()
    run_sync(clean, sources=["posthog"])
    emu = posthog_factory(
        faults="429=0.1,5xx=0.1,truncate=0.05,seed=5",
        posthog_query_rate_limit="6/1",
        posthog_query_concurrency=1,
    )
    emu.posthog.throttle.configure(queue_seconds=0.05)
    result = run_sync(faulty, sources=["posthog"])
    stats = result.sources["posthog"].stats.resources
    assert sum(s.throttled for s in stats.values()) > 0
    assert sum(s.retries for s in stats.values()) > 0
    # PostHog's own 429s (wait only in the body) were met, not just the injected ones
    assert any(r.status == 429 and r.fault is None for r in emu.requests)
    assert snapshot(faulty) == snapshot(clean)


def test_missing_scope_is_a_clear_error(
    posthog: Emulator, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    posthog.posthog.auth.scopes = ["dataset:read", "evaluation:read"]
    with pytest.raises(SyncFailed, match="missing the scope 'query:read'") as caught:
        run_sync(warehouse, sources=["posthog"], build_models=False)
    assert KEY not in str(caught.value)
    code = main(["sync", "--source", "posthog", "--warehouse", str(warehouse), "--no-models"])
    err = capsys.readouterr().err
    assert code == 1
    assert "missing the scope 'query:read'" in err and KEY not in err


def test_rejected_key_is_a_clear_error(
    posthog: Emulator, warehouse: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SOURCES__POSTHOG__API_KEY", "phx_wrong_key_31")
    with pytest.raises(SyncFailed, match="PostHog rejected the API key") as caught:
        run_sync(warehouse, sources=["posthog"], build_models=False)
    assert "phx_wrong_key_31" not in str(caught.value)


def test_missing_settings_fail_before_any_request(
    posthog: Emulator, warehouse: Path, monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SOURCES__POSTHOG__PROJECT_ID")
    code = main(["sync", "--source", "posthog", "--warehouse", str(warehouse)])
    assert code == 2
    assert "SOURCES__POSTHOG__PROJECT_ID, POSTHOG_PROJECT_ID" in capsys.readouterr().err
    assert posthog.requests == []


def test_plain_sync_runs_posthog_alone_and_skips_unconfigured_sources(
    posthog: Emulator, warehouse: Path
) -> None:
    chosen, skipped = runner.select_sources(None)
    assert [s.name for s in chosen] == ["posthog"] and "model_lab" in skipped
    result = run_sync(warehouse, build_models=False)
    assert set(result.sources) == {"posthog"} and "model_lab" in result.skipped


def test_new_fields_become_columns_and_type_changes_fail(
    posthog: Emulator, warehouse: Path
) -> None:
    store = posthog.posthog
    run_sync(warehouse, sources=["posthog"], build_models=False)
    dataset_id = store.dataset_ids()[0]
    store.update_dataset(dataset_id, archived=False, owner_team={"id": 3})
    run_sync(warehouse, sources=["posthog"], build_models=False)
    assert query(
        warehouse,
        "select archived, owner_team from raw_posthog.datasets where dataset_id = ?",
        [dataset_id],
    ) == [(False, '{"id":3}')]
    evaluation_id = store.evaluation_ids()[0]
    store.update_evaluation(evaluation_id, enabled="sometimes")
    with pytest.raises(SyncFailed, match="table 'evaluations', field 'enabled'"):
        run_sync(warehouse, sources=["posthog"], build_models=False)
