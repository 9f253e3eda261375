"""The deterministic generator: documented default layout, sizes, seeds."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest

from emulator.llm_obs import LLMObsSizes, LLMObsStore
from emulator.llm_obs.data import ExperimentQuery


def snapshot(store: LLMObsStore) -> bytes:
    """Everything the API can serve, in one byte string."""
    out: list[Any] = [
        store.list_projects(),
        store.list_queues(),
        [u.to_wire() for u in store.users],
    ]
    for project_id in store.project_ids():
        out.append(store.list_datasets(project_id))
        for dataset_id in store.dataset_ids(project_id):
            version = store.get_dataset(dataset_id)["attributes"]["current_version"]
            out += [store.list_records(project_id, dataset_id, v) for v in range(version + 1)]
            out += [store.list_versions(project_id, dataset_id), store.draft_state(dataset_id)]
        for deleted in (False, True):
            query = ExperimentQuery(project_id=project_id, is_deleted=deleted)
            out.append(store.list_experiments(query))
    out += [store.experiment_events(e) for e in store.experiment_ids(include_deleted=True)]
    out += [store.annotated_interactions(q) for q in store.queue_ids()]
    return orjson.dumps(out)


def attrs(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["attributes"]


def test_same_seed_same_data_other_seed_other_data() -> None:
    assert snapshot(LLMObsStore(seed=4)) == snapshot(LLMObsStore(seed=4))
    assert snapshot(LLMObsStore(seed=4)) != snapshot(LLMObsStore(seed=5))


def test_default_layout_matches_the_readme() -> None:
    store = LLMObsStore(seed=1)
    assert LLMObsSizes() == LLMObsSizes(2, 3, 24, 4, 20, 2, 6)
    projects = store.project_ids()[::-1]  # creation order
    assert len(projects) == 2
    versions, sizes = [], []
    for project_id in projects:
        datasets = store.dataset_ids(project_id)[::-1]
        assert len(datasets) == 3
        for index, dataset_id in enumerate(datasets):
            dataset = attrs(store.get_dataset(dataset_id))
            versions.append(dataset["current_version"])
            sizes.append(len(store.record_ids(dataset_id)))
            assert (dataset["metadata"] is None) == (index == 2)
            listed = store.list_versions(project_id, dataset_id)
            last_used = {attrs(v)["version_number"]: attrs(v)["last_used"] for v in listed}
            assert last_used[1] is not None
            assert last_used.get(2) is None
    assert versions == [2, 2, 1, 2, 2, 1]
    assert sizes == [25, 25, 24, 25, 25, 24]

    live = store.experiment_ids()
    assert len(live) == 8 and len(store.experiment_ids(include_deleted=True)) == 9
    spans = Counter()
    for experiment_id in live:
        experiment = attrs(store.get_experiment(experiment_id))
        spans[experiment["status"]] += len(store.span_ids(experiment_id))
        assert experiment["dataset_version"] == 1
        summary = store.experiment_events(experiment_id)[1]
        assert bool(summary) == (experiment["status"] != "running")
    assert spans == {"completed": 40, "running": 20, "failed": 12, "interrupted": 20}
    (deleted,) = set(store.experiment_ids(include_deleted=True)) - set(live)
    gone = attrs(store.get_experiment(deleted))
    assert gone["project_id"] == projects[0] and gone["status"] == "completed"
    for project_id in projects:
        created = store.experiment_ids(project_id, include_deleted=True)[::-1]
        parents = [attrs(store.get_experiment(e))["parent_experiment_id"] for e in created]
        assert parents == [None] + [created[0]] * (len(created) - 1)

    queues = store.queue_ids()
    assert [store.get_queue(q)["attributes"]["project_id"] for q in queues] == projects
    for queue_id in queues:
        items = store.annotated_interactions(queue_id)
        assert len(items) == 6
        assert sum(1 for i in items if i["annotations"]) == 4
    second = attrs(store.get_queue(queues[1]))
    assert second["restrict_to_reviewers"] and len(second["reviewer_emails"]) == 2

    locked = [d for d in store.dataset_ids() if attrs(store.draft_state(d))["user"] is not None]
    assert locked == [store.dataset_ids(projects[0])[::-1][1]]
    assert attrs(store.draft_state(locked[0]))["user"]["name"] == "Mei Chen"


def test_experiment_trace_interactions_point_at_experiment_spans() -> None:
    store = LLMObsStore(seed=2)
    traces = {
        s["trace_id"]
        for e in store.experiment_ids(include_deleted=True)
        for s in store.experiment_events(e)[0]
    }
    found = [
        item
        for queue_id in store.queue_ids()
        for item in store.annotated_interactions(queue_id)
        if item["type"] == "experiment_trace"
    ]
    assert len(found) == 2
    assert all(item["content_id"] in traces for item in found)


def test_sizes_scale() -> None:
    sizes = LLMObsSizes(
        projects=3, datasets=2, records=40, experiments=5, spans=9, queues=4, interactions=3
    )
    store = LLMObsStore(seed=3, sizes=sizes)
    assert len(store.project_ids()) == 3
    assert len(store.dataset_ids()) == 6
    assert len(store.experiment_ids()) == 15
    assert len(store.queue_ids()) == 4
    assert all(len(store.interaction_ids(q)) == 3 for q in store.queue_ids())
    completed = [
        e for e in store.experiment_ids() if attrs(store.get_experiment(e))["status"] == "completed"
    ]
    assert {len(store.span_ids(e)) for e in completed} == {9}


def test_empty_sizes() -> None:
    store = LLMObsStore(seed=1, sizes=LLMObsSizes(projects=0))
    assert store.project_ids() == [] and store.queue_ids() == [] and store.experiment_ids() == []
    bare = LLMObsStore(seed=1, sizes=LLMObsSizes(datasets=0, records=0, queues=0))
    assert len(bare.project_ids()) == 2 and bare.dataset_ids() == []
    assert bare.experiment_ids() == []  # experiments need a dataset


@pytest.mark.parametrize("bad", [{"projects": -1}, {"records": 1.5}])
def test_invalid_sizes(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="non-negative integer"):
        LLMObsSizes(**bad)


def test_generated_names_and_timestamps_are_unique() -> None:
    store = LLMObsStore(seed=8, sizes=LLMObsSizes(projects=8, datasets=7))
    names = [attrs(p)["name"] for p in store.list_projects()]
    assert len(set(names)) == 8
    for project_id in store.project_ids():
        datasets = store.list_datasets(project_id)
        assert len({attrs(d)["name"] for d in datasets}) == 7
        assert len({attrs(d)["created_at"] for d in datasets}) == 7
