"""LLM Observability sync end to end: emulator over loopback HTTP -> dlt -> DuckDB -> views."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from pipelines.common.errors import ConfigurationError
from pipelines.runner import SyncFailed
from tests.conftest import API_KEY, APP_KEY, query, run_sync

PREFIX = "/api/v2/llm-obs"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LLM = ["llm_obs"]


def ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def js(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def rows(warehouse: Path, sql: str, json_columns: tuple[int, ...] = ()) -> set[tuple[Any, ...]]:
    """Query rows with JSON columns parsed, as hashable tuples (JSON re-encoded sorted)."""
    out = set()
    for row in query(warehouse, sql):
        values = list(row)
        for i in json_columns:
            values[i] = canonical(js(values[i]))
        out.add(tuple(values))
    return out


def canonical(value: Any) -> Any:
    """A JSON value as a hashable, order-independent string (None stays None)."""
    return None if value is None else json.dumps(value, sort_keys=True)


def requests_to(emu: Emulator, suffix: str) -> list[Any]:
    return [r for r in emu.requests if r.path.startswith(PREFIX) and r.path.endswith(suffix)]


def all_experiments(emu: Emulator) -> list[str]:
    return emu.llm_obs.experiment_ids(include_deleted=True)


def status_of(emu: Emulator, experiment_id: str) -> str:
    return emu.llm_obs.get_experiment(experiment_id)["attributes"]["status"]


# what the API serves, as the public views should show it --------------------------------------


def expected_projects(emu: Emulator) -> set[tuple[Any, ...]]:
    out = set()
    for project_id in emu.llm_obs.project_ids():
        a = emu.llm_obs.get_project(project_id)["attributes"]
        out.add((project_id, a["name"], a["description"], ts(a["created_at"]), ts(a["updated_at"])))
    return out


def expected_datasets(emu: Emulator) -> set[tuple[Any, ...]]:
    out = set()
    for dataset_id in emu.llm_obs.dataset_ids():
        dataset = emu.llm_obs.get_dataset(dataset_id)
        a = dataset["attributes"]
        draft = emu.llm_obs.draft_state(dataset_id)["attributes"]
        user = draft["user"] or {}
        out.add(
            (
                dataset_id,
                dataset["project_id"],
                a["name"],
                a["description"],
                a["current_version"],
                canonical(a["metadata"]),
                ts(a["created_at"]),
                ts(a["updated_at"]),
                False,
                user.get("id"),
                user.get("email"),
                ts(draft["drafting_since"]),
            )
        )
    return out


DATASETS_SQL = (
    "select dataset_id, project_id, name, description, current_version, metadata, created_at, "
    "updated_at, is_deleted, draft_locked_by_id, draft_locked_by_email, drafting_since "
    "from analytics.llm_obs_datasets"
)


def expected_records(emu: Emulator, dataset_id: str) -> set[tuple[Any, ...]]:
    out = set()
    for record_id in emu.llm_obs.record_ids(dataset_id):
        r = emu.llm_obs.get_record(dataset_id, record_id)
        out.add(
            (
                record_id,
                dataset_id,
                canonical(r["input"]),
                canonical(r["expected_output"]),
                canonical(r["metadata"]),
                ts(r["created_at"]),
                ts(r["updated_at"]),
                False,
            )
        )
    return out


RECORDS_SQL = (
    "select record_id, dataset_id, input, expected_output, metadata, created_at, updated_at, "
    "is_deleted from analytics.llm_obs_dataset_records"
)


def expected_experiments(emu: Emulator) -> set[tuple[Any, ...]]:
    out = set()
    for experiment_id in all_experiments(emu):
        a = emu.llm_obs.get_experiment(experiment_id)["attributes"]
        out.add(
            (
                experiment_id,
                a["project_id"],
                a["dataset_id"],
                a["dataset_version"],
                a["name"],
                a["experiment"],
                a["status"],
                a["parent_experiment_id"],
                ts(a["created_at"]),
                ts(a["updated_at"]),
                ts(a["deleted_at"]),
                a["deleted_at"] is not None,
            )
        )
    return out


EXPERIMENTS_SQL = (
    "select experiment_id, project_id, dataset_id, dataset_version, name, experiment, status, "
    "parent_experiment_id, created_at, updated_at, deleted_at, is_deleted "
    "from analytics.llm_obs_experiments"
)


def expected_events(emu: Emulator) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    spans_out, metrics_out = set(), set()
    for experiment_id in all_experiments(emu):
        spans, summaries = emu.llm_obs.experiment_events(experiment_id)
        for s in spans:
            meta = s.get("meta") or {}
            spans_out.add(
                (
                    experiment_id,
                    s["span_id"],
                    s["trace_id"],
                    s.get("dataset_record_id"),
                    s["name"],
                    s["status"],
                    EPOCH + timedelta(microseconds=s["start_ns"] // 1000),
                    s["duration"] / 1e6,
                    canonical(meta.get("input")),
                    canonical(meta.get("output")),
                    canonical(meta.get("expected_output")),
                )
            )
            for m in s.get("eval_metrics") or []:
                metrics_out.add(metric_row(experiment_id, m.get("span_id") or s["span_id"], m))
        for m in summaries:
            metrics_out.add(metric_row(experiment_id, None, m))
    return spans_out, metrics_out


def metric_row(experiment_id: str, span_id: str | None, m: dict[str, Any]) -> tuple[Any, ...]:
    return (
        experiment_id,
        span_id,
        m["label"],
        m["metric_type"],
        m.get("score_value"),
        m.get("categorical_value"),
        m.get("boolean_value"),
        m.get("assessment"),
        m.get("reasoning"),
        m.get("metric_source"),
        EPOCH + timedelta(milliseconds=m["timestamp_ms"]),
    )


SPANS_SQL = (
    "select experiment_id, span_id, trace_id, dataset_record_id, name, status, started_at, "
    "duration_ms, input, output, expected_output from analytics.llm_obs_experiment_spans"
)
METRICS_SQL = (
    "select experiment_id, span_id, label, metric_type, score_value, categorical_value, "
    "boolean_value, assessment, reasoning, metric_source, evaluated_at "
    "from analytics.llm_obs_eval_metrics"
)


def expected_queues(emu: Emulator) -> tuple[set[Any], set[Any], set[Any]]:
    queues, schemas, annotations = set(), set(), set()
    for queue_id in emu.llm_obs.queue_ids():
        a = emu.llm_obs.get_queue(queue_id)["attributes"]
        queues.add(
            (
                queue_id,
                a["project_id"],
                a["name"],
                a["description"],
                a["owned_by"],
                ts(a["created_at"]),
                ts(a["modified_at"]),
            )
        )
        for s in a["annotation_schema"]["label_schemas"]:
            schemas.add(
                (
                    queue_id,
                    s.get("id"),
                    s["name"],
                    s["type"],
                    s.get("description"),
                    s.get("is_required"),
                    None if s.get("min") is None else float(s["min"]),
                    None if s.get("max") is None else float(s["max"]),
                    s.get("is_integer"),
                    None if s.get("values") is None else tuple(s["values"]),
                )
            )
        for item in emu.llm_obs.annotated_interactions(queue_id):
            for annotation in item["annotations"]:
                for label, value in annotation["label_values"].items():
                    annotations.add(
                        (
                            queue_id,
                            item["id"],
                            item["type"],
                            item["content_id"],
                            annotation["id"],
                            label,
                            canonical(value),
                            annotation["created_by"],
                            ts(annotation["created_at"]),
                            ts(annotation["modified_at"]),
                        )
                    )
    return queues, schemas, annotations


ANNOTATIONS_SQL = (
    "select queue_id, interaction_id, interaction_type, content_id, annotation_id, label, "
    "value, created_by, created_at, modified_at from analytics.llm_obs_annotations"
)


# tests --------------------------------------------------------------------------------------


def assert_views_match_api(emu: Emulator, warehouse: Path) -> None:
    """Every entity view holds exactly what the API serves (live and soft-deleted rows)."""

    assert rows(
        warehouse,
        "select project_id, name, description, created_at, updated_at "
        "from analytics.llm_obs_projects where not is_deleted",
    ) == expected_projects(emu)
    assert rows(warehouse, DATASETS_SQL, (5,)) == expected_datasets(emu)
    expected = set().union(*(expected_records(emu, d) for d in emu.llm_obs.dataset_ids()))
    assert rows(warehouse, RECORDS_SQL + " where not is_deleted", (2, 3, 4)) == expected
    versions = rows(
        warehouse,
        "select dataset_id, version_number from analytics.llm_obs_dataset_versions "
        "where not is_deleted",
    )
    assert versions == {
        (d, n)
        for d in emu.llm_obs.dataset_ids()
        for n in range(1, emu.llm_obs.get_dataset(d)["attributes"]["current_version"] + 1)
    }

    assert rows(warehouse, EXPERIMENTS_SQL) == expected_experiments(emu)
    spans, metrics = expected_events(emu)
    assert rows(warehouse, SPANS_SQL, (8, 9, 10)) == spans and spans
    assert rows(warehouse, METRICS_SQL) == metrics

    queues, schemas, annotations = expected_queues(emu)
    assert (
        rows(
            warehouse,
            "select queue_id, project_id, name, description, owned_by, created_at, modified_at "
            "from analytics.llm_obs_annotation_queues",
        )
        == queues
    )
    label_rows = query(
        warehouse,
        "select queue_id, label_id, name, type, description, is_required, min, max, "
        "is_integer, allowed_values from analytics.llm_obs_label_schemas",
    )
    assert {(*r[:9], None if r[9] is None else tuple(r[9])) for r in label_rows} == schemas
    assert rows(warehouse, ANNOTATIONS_SQL, (6,)) == annotations and annotations
    interactions = rows(
        warehouse,
        "select queue_id, interaction_id, interaction_type, content_id, is_deleted "
        "from analytics.llm_obs_annotation_interactions",
    )
    assert interactions == {
        (q, i["id"], i["type"], i["content_id"], False)
        for q in emu.llm_obs.queue_ids()
        for i in emu.llm_obs.annotated_interactions(q)
    }


def test_full_sync_exact_rows_per_view(llm_env: Emulator, warehouse: Path) -> None:
    emu = llm_env
    result = run_sync(warehouse, sources=LLM)
    assert result.audit_failures == []
    assert_views_match_api(emu, warehouse)
    # the generated data has one locked dataset, a soft-deleted experiment, summary metrics
    locked = query(
        warehouse,
        "select draft_locked_by_email from analytics.llm_obs_datasets where is_draft_locked",
    )
    assert locked == [(emu.llm_obs.users[2].email,)]
    deleted = query(
        warehouse, "select count(*) from analytics.llm_obs_experiments where is_deleted"
    )
    assert deleted[0][0] == len(all_experiments(emu)) - len(emu.llm_obs.experiment_ids()) > 0
    summaries = query(
        warehouse, "select count(*) from analytics.llm_obs_eval_metrics where span_id is null"
    )[0][0]
    assert summaries == sum(len(emu.llm_obs.experiment_events(e)[1]) for e in all_experiments(emu))
    assert summaries > 0
    assert_public_types(warehouse)

    # scores per experiment and label: count, mean and pass rate of the span-level evaluations
    per_label: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for experiment_id in all_experiments(emu):
        for span in emu.llm_obs.experiment_events(experiment_id)[0]:
            for m in span.get("eval_metrics") or []:
                per_label[(experiment_id, m["label"])].append(m)
    scores = {
        (r[0], r[1]): r[2:]
        for r in query(
            warehouse,
            "select experiment_id, label, n, mean_score, pass_rate "
            "from analytics.llm_obs_experiment_scores where n > 0",
        )
    }
    assert set(scores) == set(per_label)
    for key, metrics_of in per_label.items():
        values = [m["score_value"] for m in metrics_of if m.get("score_value") is not None]
        passed = [m["assessment"] == "pass" for m in metrics_of if m.get("assessment")]
        n, mean, pass_rate = scores[key]
        assert n == len(metrics_of)
        assert mean == (pytest.approx(sum(values) / len(values)) if values else None)
        assert pass_rate == (pytest.approx(sum(passed) / len(passed)) if passed else None)

    # this vendor's rows of the cross-vendor dataset list
    lock_email = {
        d: (emu.llm_obs.draft_state(d)["attributes"]["user"] or {}).get("email")
        for d in emu.llm_obs.dataset_ids()
    }
    assert rows(
        warehouse,
        "select vendor, dataset_id, name, item_count, updated_at, locked_by "
        "from analytics.llm_datasets",
    ) == {
        (
            "datadog_llm_obs",
            d,
            emu.llm_obs.get_dataset(d)["attributes"]["name"],
            len(emu.llm_obs.record_ids(d)),
            ts(emu.llm_obs.get_dataset(d)["attributes"]["updated_at"]),
            lock_email[d],
        )
        for d in emu.llm_obs.dataset_ids()
    }


def assert_public_types(warehouse: Path) -> None:
    types = dict(
        query(
            warehouse,
            "select table_name || '.' || column_name, data_type from information_schema.columns "
            "where table_schema = 'analytics' and table_name like 'llm_obs%'",
        )
    )
    for column in (
        "llm_obs_projects.project_id",
        "llm_obs_datasets.dataset_id",
        "llm_obs_dataset_records.record_id",
        "llm_obs_experiments.experiment_id",
        "llm_obs_experiment_spans.span_id",
        "llm_obs_annotations.annotation_id",
    ):
        assert types[column] == "VARCHAR", column
    for column in (
        "llm_obs_projects.created_at",
        "llm_obs_datasets.drafting_since",
        "llm_obs_dataset_records.updated_at",
        "llm_obs_experiments.deleted_at",
        "llm_obs_experiment_spans.started_at",
        "llm_obs_eval_metrics.evaluated_at",
        "llm_obs_annotations.modified_at",
    ):
        assert types[column] == "TIMESTAMP WITH TIME ZONE", column
    for column in (
        "llm_obs_datasets.metadata",
        "llm_obs_dataset_records.input",
        "llm_obs_dataset_records.expected_output",
        "llm_obs_dataset_records.metadata",
        "llm_obs_experiment_spans.output",
        "llm_obs_annotations.value",
    ):
        assert types[column] == "JSON", column
    assert types["llm_obs_datasets.current_version"] == "BIGINT"
    assert types["llm_obs_experiment_spans.duration_ms"] == "DOUBLE"
    assert types["llm_obs_label_schemas.allowed_values"] == "VARCHAR[]"
    assert types["llm_obs_llm_datasets.item_count"] == "BIGINT"
    raw_columns = query(
        warehouse,
        "select column_name from information_schema.columns where table_schema = 'raw_llm_obs'",
    )
    assert not [c for (c,) in raw_columns if "__v_" in c]


def test_second_sync_reads_only_what_can_change(llm_env: Emulator, warehouse: Path) -> None:
    emu = llm_env
    run_sync(warehouse, sources=LLM, build_models=False)
    emu.clear_requests()
    result = run_sync(warehouse, sources=LLM, build_models=False)
    assert result.rows_loaded == 0
    # no records re-read; events only of the experiments still running
    assert requests_to(emu, "/records") == []
    running = {e for e in emu.llm_obs.experiment_ids() if status_of(emu, e) == "running"}
    assert running
    assert {r.path.split("/")[-2] for r in requests_to(emu, "/events")} == running
    # per sync: one page of projects, of each project's datasets and of its experiments (live
    # and deleted), a versions and draft-state read per dataset, one queue list and one
    # interactions read per queue
    projects = len(emu.llm_obs.project_ids())
    datasets = len(emu.llm_obs.dataset_ids())
    counts = Counter(r.path.rsplit("/", 1)[-1] for r in emu.requests)
    assert counts == {
        "projects": 1,
        "datasets": projects,
        "experiments": 2 * projects,
        "versions": datasets,
        "draft_state": datasets,
        "annotation-queues": 1,
        "annotated-interactions": len(emu.llm_obs.queue_ids()),
        "events": len(running),
    }


def test_changed_dataset_records_reread_and_deletes_flagged(
    llm_env: Emulator, warehouse: Path
) -> None:
    emu = llm_env
    llm = emu.llm_obs
    run_sync(warehouse, sources=LLM, build_models=False)
    dataset_id = llm.dataset_ids()[0]
    untouched = llm.dataset_ids()[1:]
    updated, deleted = llm.record_ids(dataset_id)[:2]
    llm.update_record(dataset_id, updated, input={"question": "changed?"})
    llm.delete_record(dataset_id, deleted)
    (added,) = llm.add_records(dataset_id, [{"input": "new", "expected_output": {"a": 1}}])
    emu.clear_requests()
    run_sync(warehouse, sources=LLM)
    record_reads = {r.path.split("/")[-2] for r in requests_to(emu, "/records")}
    assert record_reads == {dataset_id}
    assert rows(warehouse, RECORDS_SQL + " where not is_deleted", (2, 3, 4)) == expected_records(
        emu, dataset_id
    ).union(*(expected_records(emu, d) for d in untouched))
    gone = query(
        warehouse,
        "select is_deleted, vanished_detected_at is not null, input::varchar "
        "from analytics.llm_obs_dataset_records where record_id = ?",
        [deleted],
    )
    assert gone[0][:2] == (True, True) and gone[0][2] is not None  # kept, flagged
    assert query(
        warehouse,
        "select input from analytics.llm_obs_dataset_records where record_id in (?, ?) "
        "order by record_id = ?",
        [updated, added, added],
    ) == [('{"question":"changed?"}',), ('"new"',)]
    assert query(
        warehouse,
        "select item_count, current_version from analytics.llm_datasets "
        "join analytics.llm_obs_datasets using (dataset_id) where dataset_id = ?",
        [dataset_id],
    ) == [
        (
            len(llm.record_ids(dataset_id)),
            llm.get_dataset(dataset_id)["attributes"]["current_version"],
        )
    ]
    assert rows(warehouse, DATASETS_SQL, (5,)) == expected_datasets(emu)
    newest = query(
        warehouse,
        "select max(version_number) from analytics.llm_obs_dataset_versions where dataset_id = ?",
        [dataset_id],
    )[0][0]
    assert newest == llm.get_dataset(dataset_id)["attributes"]["current_version"]


def test_draft_lock_and_unlock_reflected(llm_env: Emulator, warehouse: Path) -> None:
    emu = llm_env
    llm = emu.llm_obs
    run_sync(warehouse, sources=LLM, build_models=False)
    locked = [d for d in llm.dataset_ids() if llm.draft_state(d)["attributes"]["user"]]
    assert len(locked) == 1
    other = next(d for d in llm.dataset_ids() if d not in locked)
    assert llm.unlock_dataset(locked[0])
    assert llm.lock_dataset(other, user=0)
    result = run_sync(warehouse, sources=LLM)
    assert result.sources["llm_obs"].rows_by_table.get("dataset_draft_states") == 2
    assert rows(warehouse, DATASETS_SQL, (5,)) == expected_datasets(emu)
    assert query(
        warehouse,
        "select dataset_id, locked_by from analytics.llm_datasets where locked_by is not null",
    ) == [(other, llm.users[0].email)]
    assert query(
        warehouse,
        "select is_draft_locked, draft_locked_by_id, drafting_since "
        "from analytics.llm_obs_datasets where dataset_id = ?",
        locked,
    ) == [(False, None, None)]


def test_experiments_incremental(
    llm_env: Emulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = llm_env
    llm = emu.llm_obs
    monkeypatch.setenv("SOURCES__LLM_OBS__EXPERIMENTS_PAGE_LIMIT", "2")
    monkeypatch.setenv("SOURCES__LLM_OBS__EXPERIMENTS_RESCAN_SECONDS", "3600")
    monkeypatch.setenv("SOURCES__LLM_OBS__LOOKBACK_SECONDS", "0")
    run_sync(warehouse, sources=LLM, build_models=False)
    project_id = llm.project_ids()[0]
    live = llm.experiment_ids(project_id)
    old_finished = next(e for e in reversed(live) if status_of(emu, e) == "completed")
    running = next(e for e in live if status_of(emu, e) == "running")
    dataset_id = llm.get_experiment(old_finished)["attributes"]["dataset_id"]

    # a new run is found on the first page; an edit to an old finished one waits for the
    # next full listing; a running one gains spans without its updated_at moving
    new = llm.create_experiment(project_id, dataset_id, "fresh-run")
    llm.add_spans(new, 3)
    llm.update_experiment(old_finished, name="renamed-old")
    llm.add_spans(running, 2)
    emu.clear_requests()
    run_sync(warehouse, sources=LLM, build_models=False)
    listing = [
        r
        for r in requests_to(emu, "/v1/experiments")
        if r.query.get("filter[project_id]") == [project_id]
        and "filter[is_deleted]" not in r.query
        and "filter[id]" not in r.query
    ]
    # pages of 2, newest-created first: [new, newest synced], [older, ...]: the listing stops
    # at the page holding an experiment older than the newest synced one
    assert len(listing) == 2 < math.ceil(len(llm.experiment_ids(project_id)) / 2)
    events_read = Counter(r.path.split("/")[-2] for r in requests_to(emu, "/events"))
    assert new in events_read and running in events_read
    assert old_finished not in events_read  # finished: read once, never again
    counts = dict(
        query(
            warehouse,
            "select experiment_id, count(*) from raw_llm_obs.experiment_spans "
            "where experiment_id in (?, ?) group by 1",
            [new, running],
        )
    )
    assert counts == {new: 3, running: len(llm.experiment_events(running)[0])}
    assert query(
        warehouse,
        "select name from raw_llm_obs.experiments where experiment_id = ?",
        [old_finished],
    ) != [("renamed-old",)]

    # the full listing (due at once here) catches the edit; the finished run's events are
    # read again only because its updated_at moved
    monkeypatch.setenv("SOURCES__LLM_OBS__EXPERIMENTS_RESCAN_SECONDS", "0")
    llm.set_experiment_status(running, "completed")
    emu.clear_requests()
    run_sync(warehouse, sources=LLM)
    assert query(
        warehouse,
        "select name from analytics.llm_obs_experiments where experiment_id = ?",
        [old_finished],
    ) == [("renamed-old",)]
    events_read = Counter(r.path.split("/")[-2] for r in requests_to(emu, "/events"))
    assert events_read[running] == 1 and events_read[old_finished] == 1
    assert rows(warehouse, EXPERIMENTS_SQL) == expected_experiments(emu)
    spans, metrics = expected_events(emu)
    assert rows(warehouse, SPANS_SQL, (8, 9, 10)) == spans
    assert rows(warehouse, METRICS_SQL) == metrics

    # once finished, an experiment's events are not read again
    emu.clear_requests()
    run_sync(warehouse, sources=LLM, build_models=False)
    assert running not in {r.path.split("/")[-2] for r in requests_to(emu, "/events")}


def test_deletes_flagged_never_dropped(llm_env: Emulator, warehouse: Path) -> None:
    emu = llm_env
    llm = emu.llm_obs
    run_sync(warehouse, sources=LLM, build_models=False)
    doomed_project, kept_project = llm.project_ids()
    doomed_datasets = llm.dataset_ids(doomed_project)
    doomed_queues = llm.queue_ids(doomed_project)
    dataset_gone = llm.dataset_ids(kept_project)[0]
    experiment_gone = llm.experiment_ids(kept_project)[0]
    llm.delete_project(doomed_project)  # hard: datasets and queues; experiments soft
    llm.delete_dataset(dataset_gone)
    llm.delete_experiment(experiment_gone)
    run_sync(warehouse, sources=LLM)
    assert query(
        warehouse,
        "select is_deleted from analytics.llm_obs_projects where project_id = ?",
        [doomed_project],
    ) == [(True,)]
    flagged_datasets = {
        r[0]
        for r in query(
            warehouse, "select dataset_id from analytics.llm_obs_datasets where is_deleted"
        )
    }
    assert flagged_datasets == {*doomed_datasets, dataset_gone}
    # their records stay, flagged; the dataset list shows live datasets only
    assert query(
        warehouse,
        "select bool_and(is_deleted), count(*) > 0 from analytics.llm_obs_dataset_records "
        "where dataset_id = ?",
        [dataset_gone],
    ) == [(True, True)]
    listed = {r[0] for r in query(warehouse, "select dataset_id from analytics.llm_datasets")}
    assert listed == set(llm.dataset_ids())
    # soft-deleted ones carry the API's deleted_at; the gone project's are flagged with it
    deleted_experiments = dict(
        query(
            warehouse,
            "select experiment_id, deleted_at from analytics.llm_obs_experiments where is_deleted",
        )
    )
    assert set(deleted_experiments) == set(all_experiments(emu)) - set(llm.experiment_ids())
    assert deleted_experiments[experiment_gone] == ts(
        llm.get_experiment(experiment_gone)["attributes"]["deleted_at"]
    )
    assert query(
        warehouse,
        "select count(*) > 0, bool_and(is_deleted) from analytics.llm_obs_annotations "
        "where queue_id = ?",
        doomed_queues[:1],
    ) == [(True, True)]
    assert rows(
        warehouse, "select queue_id from analytics.llm_obs_annotation_queues where is_deleted"
    ) == {(q,) for q in doomed_queues}
    # the kept project's experiments exactly as served (the gone project's are unreachable)
    kept = {
        e
        for e in all_experiments(emu)
        if llm.get_experiment(e)["attributes"]["project_id"] == kept_project
    }
    assert {r for r in rows(warehouse, EXPERIMENTS_SQL) if r[0] in kept} == {
        r for r in expected_experiments(emu) if r[0] in kept
    }


def test_annotation_changes_and_deletes_by_difference(llm_env: Emulator, warehouse: Path) -> None:
    emu = llm_env
    llm = emu.llm_obs
    run_sync(warehouse, sources=LLM, build_models=False)
    queue_id, other_queue = llm.queue_ids()
    annotated = [i for i in llm.interaction_ids(queue_id) if llm.annotation_ids(queue_id, i)]
    removed_annotation = llm.annotation_ids(queue_id, annotated[0])[0]
    removed_interaction = annotated[1]
    llm.delete_annotation(queue_id, removed_annotation)
    llm.remove_interactions(queue_id, [removed_interaction])
    schema = llm.get_queue(queue_id)["attributes"]["annotation_schema"]["label_schemas"]
    kept_labels, dropped_label = schema[:-1], schema[-1]
    llm.set_label_schemas(queue_id, kept_labels)
    fresh = next(i for i in llm.interaction_ids(queue_id) if not llm.annotation_ids(queue_id, i))
    score = next(s for s in kept_labels if s["type"] == "score")
    llm.add_annotation(queue_id, fresh, {score["name"]: score.get("min", 0)}, user=1)
    emu.clear_requests()
    result = run_sync(warehouse, sources=LLM)
    # both queues were read, only the changed one's answer was loaded again
    assert len(requests_to(emu, "/annotated-interactions")) == 2
    reads = dict(
        query(
            warehouse,
            "select parent_id, count(*) from raw_llm_obs.snapshots "
            "where collection = 'annotated_interactions' group by 1",
        )
    )
    assert reads == {queue_id: 2, other_queue: 1}
    assert result.sources["llm_obs"].rows_by_table["annotation_interactions"] == len(
        llm.interaction_ids(queue_id)
    )
    _, _, annotations = expected_queues(emu)
    assert rows(warehouse, ANNOTATIONS_SQL + " where not is_deleted", (6,)) == annotations
    assert query(
        warehouse,
        "select distinct is_deleted, vanished_detected_at is not null "
        "from analytics.llm_obs_annotations where annotation_id = ?",
        [removed_annotation],
    ) == [(True, True)]
    assert query(
        warehouse,
        "select is_deleted from analytics.llm_obs_annotation_interactions where interaction_id = ?",
        [removed_interaction],
    ) == [(True,)]
    assert query(
        warehouse,
        "select is_deleted from analytics.llm_obs_label_schemas where queue_id = ? and name = ?",
        [queue_id, dropped_label["name"]],
    ) == [(True,)]
    assert query(
        warehouse,
        "select count(*) from analytics.llm_obs_annotations where interaction_id = ?",
        [fresh],
    ) == [(1,)]


def test_faults_end_identical_to_clean_run(
    llm_env: Emulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clean sync equals the API (test above); so must one through faults."""
    emu = llm_env
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "12")
    for kind in ("429", "500", "truncate", "drop", "503"):
        emu.faults.inject(kind, times=1)
    emu.faults.configure("429=0.1,5xx=0.1,truncate=0.05,drop=0.03,seed=5")
    result = run_sync(warehouse, sources=LLM)
    emu.faults.clear()
    assert result.audit_failures == []
    assert_views_match_api(emu, warehouse)
    assert sum(s.retries for s in result.sources["llm_obs"].stats.resources.values()) > 0
    assert [r for r in emu.requests if r.fault]


def test_rate_limit_paces_the_sync(llm_env: Emulator, warehouse: Path) -> None:
    emu = llm_env
    emu.rate_limit = (10, 1)
    result = run_sync(warehouse, sources=LLM)
    stats = result.sources["llm_obs"].stats.resources.values()
    assert sum(s.requests for s in stats) > 10
    assert sum(s.throttled for s in stats) <= 2  # X-RateLimit-Remaining pacing avoids 429s
    assert_views_match_api(emu, warehouse)


def test_reruns_and_full_refresh_leave_no_duplicates(llm_env: Emulator, warehouse: Path) -> None:
    run_sync(warehouse, sources=LLM, build_models=False)
    result = run_sync(warehouse, sources=LLM, full_refresh=True)
    assert result.audit_failures == []
    assert result.sources["llm_obs"].rows_by_table["dataset_records"] > 0  # re-read all
    assert_views_match_api(llm_env, warehouse)
    for table, key in (
        ("projects", "project_id"),
        ("datasets", "dataset_id"),
        ("dataset_records", "dataset_id, record_id"),
        ("experiments", "experiment_id"),
        ("annotations", "queue_id, annotation_id"),
    ):
        dupes = query(
            warehouse, f"select {key} from raw_llm_obs.{table} group by all having count(*) > 1"
        )
        assert dupes == [], table
    spans = query(
        warehouse,
        "select experiment_id, span_id from analytics.llm_obs_experiment_spans "
        "group by all having count(*) > 1",
    )
    assert spans == []


def test_type_change_fails_loudly_and_new_fields_become_columns(
    llm_env: Emulator, warehouse: Path
) -> None:
    emu = llm_env
    llm = emu.llm_obs
    run_sync(warehouse, sources=LLM, build_models=False)
    raw = "select * from raw_llm_obs.experiments order by experiment_id"
    before = query(warehouse, raw)
    experiment_id = llm.experiment_ids()[0]
    llm.update_experiment(experiment_id, run_count="three")
    with pytest.raises(SyncFailed, match=r"'experiments'.*'run_count'"):
        run_sync(warehouse, sources=LLM, build_models=False)
    assert query(warehouse, raw) == before  # nothing of the failed sync was loaded
    llm.update_experiment(experiment_id, run_count=3)
    running = next(e for e in llm.experiment_ids() if status_of(emu, e) == "running")
    llm.push_events(
        running,
        spans=[
            {
                "span_id": "pushed-1",
                "trace_id": "trace-1",
                "name": "task",
                "status": "ok",
                "start_ns": 1_800_000_000_000_000_000,
                "duration": 1.5e6,
                "meta": {"input": "q", "output": "a", "latency_class": "fast"},
            }
        ],
    )
    run_sync(warehouse, sources=LLM, build_models=False)
    assert query(
        warehouse,
        "select meta_latency_class, duration from raw_llm_obs.experiment_spans "
        "where span_id = 'pushed-1'",
    ) == [("fast", 1.5e6)]
    assert query(
        warehouse,
        "select run_count from raw_llm_obs.experiments where experiment_id = ?",
        [experiment_id],
    ) == [(3,)]


def test_missing_credentials_name_the_variable(
    llm_emulator: Emulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__DATADOG__BASE_URL", llm_emulator.base_url)
    monkeypatch.setenv("SOURCES__DATADOG__APP_KEY", APP_KEY)
    with pytest.raises(ConfigurationError, match="SOURCES__DATADOG__API_KEY"):
        run_sync(warehouse, sources=LLM)
    assert llm_emulator.requests == []
    monkeypatch.setenv("SOURCES__LLM_OBS__WORKERS", "none")
    monkeypatch.setenv("SOURCES__DATADOG__API_KEY", API_KEY)
    with pytest.raises(ConfigurationError, match=r"sources\.llm_obs\.workers"):
        run_sync(warehouse, sources=LLM)


def test_plain_sync_runs_every_datadog_source(llm_env: Emulator, warehouse: Path) -> None:
    result = run_sync(warehouse)
    assert {"model_lab", "llm_obs"} <= set(result.sources)
    assert result.audit_failures == []
    vendors = query(warehouse, "select distinct vendor from analytics.llm_datasets")
    assert vendors == [("datadog_llm_obs",)]
    history = query(
        warehouse,
        "select distinct resource from analytics.sync_runs where source = 'llm_obs' order by 1",
    )
    assert ("dataset_records",) in history and ("experiment_events",) in history
