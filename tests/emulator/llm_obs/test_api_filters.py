"""Every list filter: projects, datasets, records (``filter[version]``), experiments (all of
§B.3) and annotation queues (``projectId`` / ``queueIds``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator import Emulator

from .conftest import LlmApi


def ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["data"]]


def experiments(lapi: LlmApi, params: Any) -> list[dict[str, Any]]:
    return lapi.ok("/v1/experiments", params)["data"]


def test_project_filters(lapi: LlmApi, lemu: Emulator) -> None:
    newest, oldest = lemu.llm_obs.project_ids()
    assert ids(lapi.ok("/v1/projects", {"filter[id]": oldest})) == [oldest]
    assert ids(lapi.ok("/v1/projects", {"filter[id]": f"{oldest},{newest}"})) == [newest, oldest]
    assert ids(lapi.ok("/v1/projects", [("filter[id]", oldest), ("filter[id]", newest)])) == [
        newest,
        oldest,
    ]
    name = lemu.llm_obs.get_project(oldest)["attributes"]["name"]
    assert ids(lapi.ok("/v1/projects", {"filter[name]": name})) == [oldest]
    assert lapi.ok("/v1/projects", {"filter[name]": name[:-1]})["data"] == []


def test_dataset_filters(lapi: LlmApi, lemu: Emulator) -> None:
    project_id = lemu.llm_obs.project_ids()[0]
    datasets = lemu.llm_obs.dataset_ids(project_id)
    path = f"/v1/{project_id}/datasets"
    assert ids(lapi.ok(path, {"filter[id]": datasets[1]})) == [datasets[1]]
    name = lemu.llm_obs.get_dataset(datasets[2])["attributes"]["name"]
    assert ids(lapi.ok(path, {"filter[name]": name})) == [datasets[2]]
    assert ids(lapi.ok(path, {"filter[name]": name, "filter[id]": datasets[0]})) == []


def test_records_filter_version(lapi: LlmApi, lemu: Emulator) -> None:
    project_id = lemu.llm_obs.project_ids()[0]
    dataset_id = lemu.llm_obs.dataset_ids(project_id)[-1]  # first created: version 2
    path = f"/v1/{project_id}/datasets/{dataset_id}/records"
    v1 = {r["id"]: r for r in lapi.all_pages(path, {"filter[version]": 1})}
    v2 = {r["id"]: r for r in lapi.all_pages(path, {"filter[version]": 2})}
    current = {r["id"]: r for r in lapi.all_pages(path)}
    assert current == v2
    assert len(v1) == 24 and len(v2) == 25
    assert len(set(v1) - set(v2)) == 1  # deleted in version 2
    assert len(set(v2) - set(v1)) == 2  # inserted in version 2
    changed = [i for i in set(v1) & set(v2) if v1[i] != v2[i]]
    assert len(changed) == 2
    for record_id in changed:
        assert v2[record_id]["updated_at"] > v1[record_id]["updated_at"]
        assert v2[record_id]["created_at"] == v1[record_id]["created_at"]
    assert lapi.ok(path, {"filter[version]": 0})["data"] == []
    for bad in ("3", "-1", "two"):
        response = lapi.get(path, {"filter[version]": bad})
        assert response.status_code == 400
        assert "filter[version]" in response.json()["errors"][0]["detail"]


def test_experiments_need_project_or_dataset(lapi: LlmApi, lemu: Emulator) -> None:
    response = lapi.get("/v1/experiments")
    assert response.status_code == 400
    assert "filter[project_id]" in response.json()["errors"][0]["detail"]
    dataset_id = lemu.llm_obs.get_experiment(lemu.llm_obs.experiment_ids()[0])["attributes"][
        "dataset_id"
    ]
    by_dataset = experiments(lapi, {"filter[dataset_id]": dataset_id})
    assert by_dataset and all(e["attributes"]["dataset_id"] == dataset_id for e in by_dataset)


def test_experiments_by_project(lapi: LlmApi, lemu: Emulator) -> None:
    for project_id in lemu.llm_obs.project_ids():
        found = experiments(lapi, {"filter[project_id]": project_id})
        assert [e["id"] for e in found] == lemu.llm_obs.experiment_ids(project_id)
        assert {e["attributes"]["project_id"] for e in found} == {project_id}
    assert experiments(lapi, {"filter[project_id]": "unknown"}) == []


def test_experiments_filter_id_repeated_and_comma(lapi: LlmApi, lemu: Emulator) -> None:
    project_id = lemu.llm_obs.project_ids()[0]
    wanted = lemu.llm_obs.experiment_ids(project_id)[:2]
    repeated = [("filter[project_id]", project_id), *[("filter[id]", i) for i in wanted]]
    assert [e["id"] for e in experiments(lapi, repeated)] == wanted
    comma = {"filter[project_id]": project_id, "filter[id]": ",".join(wanted)}
    assert [e["id"] for e in experiments(lapi, comma)] == wanted


def test_experiments_filter_name_and_logical_experiment(lapi: LlmApi, lemu: Emulator) -> None:
    project_id = lemu.llm_obs.project_ids()[0]
    everything = experiments(lapi, {"filter[project_id]": project_id})
    target = everything[0]["attributes"]
    by_name = experiments(lapi, {"filter[project_id]": project_id, "filter[name]": target["name"]})
    assert [e["id"] for e in by_name] == [everything[0]["id"]]
    logical = target["experiment"]
    sharing = [e["id"] for e in everything if e["attributes"]["experiment"] == logical]
    assert len(sharing) == 2  # runs share logical names in pairs
    found = experiments(lapi, {"filter[project_id]": project_id, "filter[experiment]": logical})
    assert [e["id"] for e in found] == sharing


def test_experiments_filter_metadata_containment(lapi: LlmApi, lemu: Emulator) -> None:
    project_id = lemu.llm_obs.project_ids()[0]
    everything = experiments(lapi, {"filter[project_id]": project_id})
    one = everything[0]["attributes"]["metadata"]

    def matching(wanted: dict[str, Any]) -> list[str]:
        params = {"filter[project_id]": project_id, "filter[metadata]": json.dumps(wanted)}
        return [e["id"] for e in experiments(lapi, params)]

    assert matching({"commit": one["commit"], "branch": one["branch"]}) == [everything[0]["id"]]
    main = [e["id"] for e in everything if e["attributes"]["metadata"]["branch"] == "main"]
    assert matching({"branch": "main"}) == main and 0 < len(main) < len(everything)
    nightly = [e["id"] for e in everything if "nightly" in e["attributes"]["metadata"]["tags"]]
    assert matching({"tags": ["nightly"]}) == nightly and nightly
    assert matching({}) == [e["id"] for e in everything]
    assert matching({"branch": "nope"}) == []
    for bad in ("{not json", "[1, 2]"):
        response = lapi.get(
            "/v1/experiments", {"filter[project_id]": project_id, "filter[metadata]": bad}
        )
        assert response.status_code == 400
        assert "filter[metadata]" in response.json()["errors"][0]["detail"]


def test_experiments_filter_parent(lapi: LlmApi, lemu: Emulator) -> None:
    project_id = lemu.llm_obs.project_ids()[0]
    baseline = lemu.llm_obs.experiment_ids(project_id)[-1]  # first created
    children = experiments(
        lapi, {"filter[project_id]": project_id, "filter[parent_experiment_id]": baseline}
    )
    assert len(children) == 3
    assert {e["attributes"]["parent_experiment_id"] for e in children} == {baseline}
    other = lemu.llm_obs.experiment_ids(project_id)[0]
    both = experiments(
        lapi,
        [
            ("filter[project_id]", project_id),
            ("filter[parent_experiment_id]", baseline),
            ("filter[parent_experiment_id]", other),
        ],
    )
    assert [e["id"] for e in both] == [e["id"] for e in children]


def test_experiments_filter_is_deleted(lapi: LlmApi, lemu: Emulator) -> None:
    first_project = lemu.llm_obs.project_ids()[-1]
    live = experiments(lapi, {"filter[project_id]": first_project})
    deleted = experiments(lapi, {"filter[project_id]": first_project, "filter[is_deleted]": "true"})
    assert len(live) == 4 and len(deleted) == 1
    assert deleted[0]["attributes"]["deleted_at"] is not None
    assert deleted[0]["attributes"]["updated_at"] == deleted[0]["attributes"]["deleted_at"]
    explicit = experiments(
        lapi, {"filter[project_id]": first_project, "filter[is_deleted]": "false"}
    )
    assert explicit == live
    response = lapi.get(
        "/v1/experiments", {"filter[project_id]": first_project, "filter[is_deleted]": "maybe"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("param", "field"),
    [("include[user_data]", "author"), ("include[dataset_names]", "dataset_name")],
)
def test_experiments_includes(lapi: LlmApi, lemu: Emulator, param: str, field: str) -> None:
    project_id = lemu.llm_obs.project_ids()[0]
    without = experiments(lapi, {"filter[project_id]": project_id})
    assert all(field not in e["attributes"] for e in without)
    with_it = experiments(lapi, {"filter[project_id]": project_id, param: "true"})
    assert all(field in e["attributes"] for e in with_it)
    if field == "author":
        emails = {u.email for u in lemu.llm_obs.users}
        assert all(e["attributes"]["author"]["email"] in emails for e in with_it)
    else:
        names = {
            lemu.llm_obs.get_dataset(d)["attributes"]["name"]
            for d in lemu.llm_obs.dataset_ids(project_id)
        }
        assert {e["attributes"]["dataset_name"] for e in with_it} <= names


def test_queue_filters(lapi: LlmApi, lemu: Emulator) -> None:
    queues = lemu.llm_obs.queue_ids()
    every = ids(lapi.ok("/v1/annotation-queues"))
    assert every == queues
    for project_id in lemu.llm_obs.project_ids():
        found = lapi.ok("/v1/annotation-queues", {"projectId": project_id})["data"]
        assert [q["id"] for q in found] == lemu.llm_obs.queue_ids(project_id)
        assert {q["attributes"]["project_id"] for q in found} <= {project_id}
    assert ids(lapi.ok("/v1/annotation-queues", [("queueIds", queues[1])])) == [queues[1]]
    assert ids(lapi.ok("/v1/annotation-queues", [("queueIds", q) for q in queues])) == queues
    assert ids(lapi.ok("/v1/annotation-queues", {"queueIds": ",".join(queues)})) == queues
    response = lapi.get(
        "/v1/annotation-queues", {"projectId": lemu.llm_obs.project_ids()[0], "queueIds": queues[0]}
    )
    assert response.status_code == 400
    assert "mutually exclusive" in response.json()["errors"][0]["detail"]
