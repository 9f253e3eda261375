"""The store's Python helpers (``emu.llm_obs``) and its version / timestamp semantics."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.llm_obs import LLMObsSizes, LLMObsStore
from emulator.llm_obs.data import (
    ExperimentQuery,
    contains,
    content_hash,
    validate_label_schemas,
)

SMALL = LLMObsSizes(projects=2, datasets=2, records=6, experiments=4, spans=6, queues=2)


@pytest.fixture
def store() -> LLMObsStore:
    return LLMObsStore(seed=7, sizes=SMALL)


def dataset_of(store: LLMObsStore) -> tuple[str, str]:
    project_id = store.project_ids()[0]
    return project_id, store.dataset_ids(project_id)[0]


def attrs(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["attributes"]


def test_record_helpers_version_every_write(store: LLMObsStore) -> None:
    _, dataset_id = dataset_of(store)
    start = attrs(store.get_dataset(dataset_id))
    (new_id,) = store.add_records(dataset_id, [{"input": "x", "expected_output": "y"}])
    store.update_record(dataset_id, new_id, expected_output="z")
    store.delete_record(dataset_id, new_id)
    end = attrs(store.get_dataset(dataset_id))
    version = start["current_version"]
    assert end["current_version"] == version + 3
    assert end["updated_at"] > start["updated_at"]
    assert new_id not in store.record_ids(dataset_id)
    assert new_id in store.record_ids(dataset_id, version=version + 1)
    project_id = store.get_dataset(dataset_id)["project_id"]
    at_v2 = {r["id"]: r for r in store.list_records(project_id, dataset_id, version + 2)}
    assert at_v2[new_id]["expected_output"] == "z"
    at_v1 = {r["id"]: r for r in store.list_records(project_id, dataset_id, version + 1)}
    assert at_v1[new_id]["expected_output"] == "y"
    with pytest.raises(KeyError):
        store.delete_record(dataset_id, new_id)
    with pytest.raises(ValueError, match="unknown record field"):
        store.update_record(dataset_id, store.record_ids(dataset_id)[0], tags=["x"])


def test_in_place_write_keeps_version_but_not_history(store: LLMObsStore) -> None:
    project_id, dataset_id = dataset_of(store)
    version = attrs(store.get_dataset(dataset_id))["current_version"]
    assert version == 2
    record_id = store.record_ids(dataset_id, version=1)[0]  # unchanged since version 1
    before = store.get_record(dataset_id, record_id)
    store.update_record(dataset_id, record_id, new_version=False, input="in place")
    assert attrs(store.get_dataset(dataset_id))["current_version"] == version
    assert store.get_record(dataset_id, record_id)["input"] == "in place"
    old = {r["id"]: r for r in store.list_records(project_id, dataset_id, 1)}
    assert old[record_id]["input"] == before["input"] != "in place"


def test_restore_version(store: LLMObsStore) -> None:
    project_id, dataset_id = dataset_of(store)
    v1 = store.record_ids(dataset_id, version=1)
    store.add_records(dataset_id, [{"input": "a"}, {"input": "b"}])
    new_version = store.restore_version(dataset_id, 1)
    assert new_version == attrs(store.get_dataset(dataset_id))["current_version"]
    assert sorted(store.record_ids(dataset_id)) == sorted(v1)
    restored = {r["id"]: r for r in store.list_records(project_id, dataset_id)}
    original = {r["id"]: r for r in store.list_records(project_id, dataset_id, 1)}
    assert {k: v["input"] for k, v in restored.items()} == {
        k: v["input"] for k, v in original.items()
    }
    with pytest.raises(ValueError, match="between 0 and"):
        store.restore_version(dataset_id, new_version + 1)


def test_touch_false_keeps_timestamps(store: LLMObsStore) -> None:
    project_id, dataset_id = dataset_of(store)
    experiment_id = store.experiment_ids(project_id)[0]
    queue_id = store.queue_ids()[0]
    stamps = (
        attrs(store.get_project(project_id))["updated_at"],
        attrs(store.get_dataset(dataset_id))["updated_at"],
        attrs(store.get_experiment(experiment_id))["updated_at"],
        attrs(store.get_queue(queue_id))["modified_at"],
    )
    store.update_project(project_id, touch=False, description="quiet")
    store.update_dataset(dataset_id, touch=False, name="quiet-name")
    store.update_experiment(experiment_id, touch=False, description="quiet")
    store.update_queue(queue_id, touch=False, description="quiet")
    assert stamps == (
        attrs(store.get_project(project_id))["updated_at"],
        attrs(store.get_dataset(dataset_id))["updated_at"],
        attrs(store.get_experiment(experiment_id))["updated_at"],
        attrs(store.get_queue(queue_id))["modified_at"],
    )
    assert attrs(store.get_dataset(dataset_id))["name"] == "quiet-name"
    store.update_project(project_id, description="loud")
    assert attrs(store.get_project(project_id))["updated_at"] > stamps[0]


def test_mutation_timestamps_increase_past_generated_data(store: LLMObsStore) -> None:
    newest = max(
        attrs(store.get_experiment(e))["updated_at"]
        for e in store.experiment_ids(include_deleted=True)
    )
    project_id, created = store.create_project("later")
    assert created
    first = attrs(store.get_project(project_id))["created_at"]
    again, created_again = store.create_project("later")
    assert (again, created_again) == (project_id, False)
    other, _ = store.create_project("even-later")
    assert first > newest
    assert attrs(store.get_project(other))["created_at"] > first
    assert store.project_ids()[0] == other


def test_experiment_status_spans_and_summary(store: LLMObsStore) -> None:
    project_id = store.project_ids()[0]
    running = next(
        e
        for e in store.experiment_ids(project_id)
        if attrs(store.get_experiment(e))["status"] == "running"
    )
    before = store.get_experiment(running)
    spans_before = len(store.span_ids(running))
    new_ids = store.add_spans(running, 3)
    assert len(store.span_ids(running)) == spans_before + 3
    assert store.span_ids(running)[-3:] == new_ids  # newest spans page last
    after_spans = store.get_experiment(running)
    assert attrs(after_spans)["updated_at"] == attrs(before)["updated_at"]
    aggregate = attrs(after_spans)["aggregate_data"]
    assert aggregate["span_count"] == spans_before + 3
    assert store.experiment_events(running)[1] == []
    store.set_experiment_status(running, "failed", error="boom")
    done = attrs(store.get_experiment(running))
    assert done["status"] == "failed" and done["error"] == "boom"
    assert done["updated_at"] > attrs(before)["updated_at"]
    summary = store.experiment_events(running)[1]
    labels = {m["label"] for m in summary}
    assert {"mean_correctness", "exact_match_rate", "error_rate"} <= labels
    with pytest.raises(ValueError, match="status must be one of"):
        store.set_experiment_status(running, "paused")


def test_delete_experiment_is_soft_and_idempotent(store: LLMObsStore) -> None:
    project_id = store.project_ids()[0]
    experiment_id = store.experiment_ids(project_id)[0]
    store.delete_experiment(experiment_id)
    deleted_at = attrs(store.get_experiment(experiment_id))["deleted_at"]
    store.delete_experiment(experiment_id)
    assert attrs(store.get_experiment(experiment_id))["deleted_at"] == deleted_at
    assert experiment_id not in store.experiment_ids(project_id)
    assert experiment_id in store.experiment_ids(project_id, include_deleted=True)
    tombs = store.list_experiments(ExperimentQuery(project_id=project_id, is_deleted=True))
    assert experiment_id in [t["id"] for t in tombs]


def test_lock_helpers(store: LLMObsStore) -> None:
    _, dataset_id = dataset_of(store)
    assert store.lock_dataset(dataset_id, 1)
    assert store.lock_dataset(dataset_id, store.users[1].id)  # holder again: still True
    assert not store.lock_dataset(dataset_id, 0)
    assert not store.unlock_dataset(dataset_id, 0)
    assert attrs(store.draft_state(dataset_id))["user"]["id"] == store.users[1].id
    assert store.unlock_dataset(dataset_id)
    assert attrs(store.draft_state(dataset_id)) == {"drafting_since": None, "user": None}
    assert not store.unlock_dataset(dataset_id)
    with pytest.raises(KeyError):
        store.lock_dataset(dataset_id, "no-such-user")


def test_annotation_helpers(store: LLMObsStore) -> None:
    queue_id = store.queue_ids()[0]
    interaction_id = store.interaction_ids(queue_id)[-1]
    modified = store.annotated_interaction(queue_id, interaction_id)["modified_at"]
    annotation_id = store.add_annotation(
        queue_id, interaction_id, {"quality": 3, "notes": "ok"}, user=3
    )
    item = store.annotated_interaction(queue_id, interaction_id)
    mine = next(a for a in item["annotations"] if a["id"] == annotation_id)
    assert mine["label_values"] == {"quality": 3, "notes": "ok"}
    assert mine["created_by"] == store.users[3].id
    assert item["modified_at"] > modified
    assert store.add_annotation(queue_id, interaction_id, {"quality": 4}, user=3) == annotation_id
    with pytest.raises(ValueError, match="unknown label"):
        store.add_annotation(queue_id, interaction_id, {"nope": 1})
    with pytest.raises(ValueError, match="between 1"):
        store.add_annotation(queue_id, interaction_id, {"quality": 0})
    with pytest.raises(ValueError, match="integer"):
        store.add_annotation(queue_id, interaction_id, {"quality": 2.5})
    with pytest.raises(ValueError, match="one of"):
        store.add_annotation(queue_id, interaction_id, {"category": "weather"})
    with pytest.raises(ValueError, match="boolean"):
        store.add_annotation(queue_id, interaction_id, {"needs_followup": "yes"})
    store.delete_annotation(queue_id, annotation_id)
    assert annotation_id not in store.annotation_ids(queue_id, interaction_id)
    with pytest.raises(KeyError):
        store.delete_annotation(queue_id, annotation_id)


def test_interaction_helpers(store: LLMObsStore) -> None:
    queue_id = store.queue_ids()[1]
    blocks = [{"type": "text", "content": "hi"}]
    (item, existed), (again, existed_again) = store.add_interactions(
        queue_id,
        [
            {"type": "display_block", "display_block": blocks},
            {"type": "display_block", "display_block": blocks},
        ],
    )
    assert (existed, existed_again) == (False, True) and again is item
    assert item.content_id == content_hash(blocks)
    with pytest.raises(ValueError, match="type must be one of"):
        store.add_interactions(queue_id, [{"type": "video"}])
    with pytest.raises(ValueError, match="content_id"):
        store.add_interactions(queue_id, [{"type": "trace"}])
    assert store.remove_interactions(queue_id, [item.id, "unknown"]) == 1


def test_push_events_keeps_orphan_metrics(store: LLMObsStore) -> None:
    experiment_id = store.experiment_ids()[0]
    metric = {
        "label": "m",
        "metric_type": "categorical",
        "categorical_value": "x",
        "span_id": "42",
        "timestamp_ms": 5,
    }
    store.push_events(experiment_id, metrics=[metric])
    assert "42" not in store.span_ids(experiment_id)
    span = {
        "span_id": "42",
        "trace_id": "t",
        "name": "n",
        "status": "ok",
        "start_ns": 10**18,
        "duration": 5,
        "dataset_id": "d",
        "project_id": "p",
    }
    store.push_events(experiment_id, spans=[span])
    spans, _ = store.experiment_events(experiment_id)
    pushed = next(s for s in spans if s["span_id"] == "42")
    assert [(m["label"], m["categorical_value"]) for m in pushed["eval_metrics"]] == [("m", "x")]


def test_project_delete_cascade(store: LLMObsStore) -> None:
    project_id = store.project_ids()[0]
    datasets = store.dataset_ids(project_id)
    experiments = store.experiment_ids(project_id)
    store.delete_project(project_id)
    assert project_id not in store.project_ids()
    assert not set(datasets) & set(store.dataset_ids())
    assert store.queue_ids(project_id) == []
    assert store.experiment_ids(project_id) == []
    assert set(experiments) <= set(store.experiment_ids(project_id, include_deleted=True))


def test_create_dataset_and_queue_validation(store: LLMObsStore) -> None:
    project_id = store.project_ids()[0]
    name = attrs(store.get_dataset(store.dataset_ids(project_id)[0]))["name"]
    with pytest.raises(ValueError, match="already exists"):
        store.create_dataset(project_id, name)
    with pytest.raises(KeyError):
        store.create_dataset("nope", "x")
    with pytest.raises(ValueError, match="values"):
        store.create_queue(project_id, "q", label_schemas=[{"name": "c", "type": "categorical"}])


@pytest.mark.parametrize(
    ("schemas", "message"),
    [
        ("nope", "must be a list"),
        ([{"name": "a b", "type": "text"}], "name must match"),
        ([{"name": "a", "type": "text"}, {"name": "a", "type": "text"}], "not unique"),
        ([{"name": "a", "type": "stars"}], "type must be one of"),
        ([{"name": "a", "type": "categorical", "values": ["x", "x"]}], "unique value"),
        ([{"name": "a", "type": "boolean", "is_assessment": True}], "requires has_assessment"),
    ],
)
def test_label_schema_validation(schemas: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_label_schemas(schemas)


def test_label_schema_ids_are_kept_or_assigned() -> None:
    out = validate_label_schemas(
        [{"name": "a", "type": "text", "id": "given"}, {"name": "b", "type": "text"}]
    )
    assert out[0]["id"] == "given" and out[1]["id"] and out[1]["id"] != "given"


@pytest.mark.parametrize(
    ("container", "wanted", "expected"),
    [
        ({"a": 1, "b": 2}, {"a": 1}, True),
        ({"a": 1}, {"a": 2}, False),
        ({"a": {"b": [1, 2, 3]}}, {"a": {"b": [3]}}, True),
        ({"a": [1]}, {"a": 1}, False),
        ({"a": True}, {"a": 1}, False),
        ({"a": 1.0}, {"a": 1}, True),
        ({}, {}, True),
    ],
)
def test_metadata_containment(container: Any, wanted: Any, expected: bool) -> None:
    assert contains(container, wanted) is expected
