"""Wire format of every LLM Obs read endpoint: envelopes, field sets, types, errors and auth."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
import requests

from emulator import Emulator

from .conftest import HEADERS, LLM, LlmApi

ISO_US = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def first_project(lemu: Emulator) -> str:
    return lemu.llm_obs.project_ids()[-1]  # the first created project


def test_json_api_content_type_and_project_shape(lapi: LlmApi) -> None:
    response = lapi.get("/v1/projects")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/vnd.api+json"
    body = response.json()
    assert set(body) == {"data", "meta"}
    assert body["meta"] == {"after": None}
    for project in body["data"]:
        assert project["type"] == "projects"
        assert set(project["attributes"]) == {"name", "description", "created_at", "updated_at"}
        assert ISO_US.match(project["attributes"]["created_at"])
    assert None in [p["attributes"]["description"] for p in body["data"]]  # nullable, emitted


def test_dataset_shape_has_no_project_id(lapi: LlmApi, lemu: Emulator) -> None:
    body = lapi.ok(f"/v1/{first_project(lemu)}/datasets")
    assert len(body["data"]) == 3
    for dataset in body["data"]:
        assert dataset["type"] == "datasets"
        assert set(dataset["attributes"]) == {
            "name",
            "description",
            "metadata",
            "current_version",
            "created_at",
            "updated_at",
        }
        assert isinstance(dataset["attributes"]["current_version"], int)
    assert None in [d["attributes"]["metadata"] for d in body["data"]]


def test_records_are_flat_objects(lapi: LlmApi, lemu: Emulator) -> None:
    project_id = first_project(lemu)
    dataset_id = lemu.llm_obs.dataset_ids(project_id)[0]
    body = lapi.ok(f"/v1/{project_id}/datasets/{dataset_id}/records")
    assert body["data"], "records listed"
    for record in body["data"]:
        assert set(record) == {
            "id",
            "dataset_id",
            "input",
            "expected_output",
            "metadata",
            "created_at",
            "updated_at",
        }
        assert record["dataset_id"] == dataset_id
    kinds = {type(r["input"]).__name__ for r in body["data"]}
    assert kinds == {"dict", "str"}, "inputs are objects and plain strings"
    assert None in [r["expected_output"] for r in body["data"]]


def test_versions_and_last_used(lapi: LlmApi, lemu: Emulator) -> None:
    project_id = first_project(lemu)
    dataset_id = lemu.llm_obs.dataset_ids(project_id)[-1]  # first created: has version 2
    body = lapi.ok(f"/v1/{project_id}/datasets/{dataset_id}/versions")
    assert set(body) == {"data"}
    numbers = [v["attributes"]["version_number"] for v in body["data"]]
    assert numbers == [2, 1]
    by_number = {v["attributes"]["version_number"]: v for v in body["data"]}
    assert by_number[2]["attributes"]["last_used"] is None
    assert ISO_US.match(by_number[1]["attributes"]["last_used"])
    assert all(v["type"] == "dataset_version" for v in body["data"])
    assert all(v["attributes"]["dataset_id"] == dataset_id for v in body["data"])


def test_draft_state_locked_and_unlocked(lapi: LlmApi, lemu: Emulator) -> None:
    project_id = first_project(lemu)
    created_order = lemu.llm_obs.dataset_ids(project_id)[::-1]
    locked = lapi.ok(f"/v1/{project_id}/datasets/{created_order[1]}/draft_state")
    assert locked["data"]["id"] == created_order[1]
    assert locked["data"]["type"] == "draft_state_data"
    assert locked["data"]["attributes"]["user"] == lemu.llm_obs.users[2].to_wire()
    assert ISO_US.match(locked["data"]["attributes"]["drafting_since"])
    unlocked = lapi.ok(f"/v1/{project_id}/datasets/{created_order[0]}/draft_state")
    assert unlocked["data"]["attributes"] == {"drafting_since": None, "user": None}


def test_experiment_shape(lapi: LlmApi, lemu: Emulator) -> None:
    body = lapi.ok("/v1/experiments", {"filter[project_id]": first_project(lemu)})
    assert len(body["data"]) == 4
    expected = {
        "name",
        "experiment",
        "description",
        "project_id",
        "dataset_id",
        "dataset_version",
        "parent_experiment_id",
        "status",
        "error",
        "config",
        "metadata",
        "aggregate_data",
        "run_count",
        "created_at",
        "updated_at",
        "deleted_at",
    }
    for experiment in body["data"]:
        assert experiment["type"] == "experiments"
        assert set(experiment["attributes"]) == expected
        assert experiment["attributes"]["deleted_at"] is None
    statuses = {e["attributes"]["status"] for e in body["data"]}
    assert statuses == {"completed", "running", "failed", "interrupted"}
    failed = next(e for e in body["data"] if e["attributes"]["status"] == "failed")
    assert failed["attributes"]["error"]
    aggregate = body["data"][0]["attributes"]["aggregate_data"]
    assert set(aggregate) == {
        "span_count",
        "error_rate",
        "total_tokens",
        "estimated_total_cost",
        "evals",
    }


def test_events_v3_spans_and_metrics(lapi: LlmApi, lemu: Emulator) -> None:
    completed = next(
        e
        for e in lemu.llm_obs.experiment_ids()
        if lemu.llm_obs.get_experiment(e)["attributes"]["status"] == "completed"
    )
    body = lapi.ok(f"/v3/experiments/{completed}/events")
    assert body["meta"] == {"after": None}
    data = body["data"]
    assert data["id"] == completed and data["type"] == "experiment_events"
    spans, summary = data["attributes"]["spans"], data["attributes"]["summary_metrics"]
    assert len(spans) == 20
    types = {m["metric_type"] for s in spans for m in s["eval_metrics"]}
    assert {"score", "categorical", "boolean"} <= types
    for span in spans:
        assert isinstance(span["start_ns"], int) and isinstance(span["duration"], float)
        assert span["status"] in ("ok", "error")
        for metric in span["eval_metrics"]:
            assert metric["span_id"] == span["span_id"]
            assert metric["metric_source"] == "custom"
            assert f"{metric['metric_type']}_value" in metric
    assert summary and all(m["metric_source"] == "summary" for m in summary)
    running = next(
        e
        for e in lemu.llm_obs.experiment_ids()
        if lemu.llm_obs.get_experiment(e)["attributes"]["status"] == "running"
    )
    assert (
        lapi.ok(f"/v3/experiments/{running}/events")["data"]["attributes"]["summary_metrics"] == []
    )


def test_deprecated_event_endpoints(lapi: LlmApi, lemu: Emulator) -> None:
    experiment_id = lemu.llm_obs.experiment_ids()[0]
    v2 = lapi.ok(f"/v2/experiments/{experiment_id}/events")
    v3 = lapi.ok(f"/v3/experiments/{experiment_id}/events")
    assert v2["data"] == v3["data"]
    assert "meta" not in v2
    v1 = lapi.ok(f"/v1/experiments/{experiment_id}/events")
    assert [s["id"] for s in v1["data"]] == [
        s["span_id"] for s in v2["data"]["attributes"]["spans"]
    ]
    assert {s["type"] for s in v1["data"]} == {"experiments"}


def test_queue_shape_and_label_schema(lapi: LlmApi, lemu: Emulator) -> None:
    body = lapi.ok("/v1/annotation-queues")
    assert set(body) == {"data"} and len(body["data"]) == 2
    for queue in body["data"]:
        attrs = queue["attributes"]
        assert queue["type"] == "queues"
        for key in ("can_manage_access", "restrict_to_assignees", "restrict_to_reviewers"):
            assert isinstance(attrs[key], bool)
        assert attrs["can_manage_access"] is False  # the caller does not own generated queues
        assert "reviewer_emails" not in attrs
        schema = lapi.ok(f"/v1/annotation-queues/{queue['id']}/label-schema")
        assert schema["data"] == {
            "id": queue["id"],
            "type": "queues",
            "attributes": {"annotation_schema": attrs["annotation_schema"]},
        }
    types = {
        s["type"]
        for q in body["data"]
        for s in q["attributes"]["annotation_schema"]["label_schemas"]
    }
    assert types == {"score", "categorical", "boolean", "text"}


def test_annotated_interactions_shape(lapi: LlmApi, lemu: Emulator) -> None:
    queue_id = lemu.llm_obs.queue_ids()[0]
    body = lapi.ok(f"/v1/annotation-queues/{queue_id}/annotated-interactions")
    assert body["data"]["id"] == queue_id and body["data"]["type"] == "annotated_interactions"
    items = body["data"]["attributes"]["annotated_interactions"]
    assert [i["type"] for i in items] == [
        "trace",
        "trace",
        "experiment_trace",
        "session",
        "display_block",
        "trace",
    ]
    block = next(i for i in items if i["type"] == "display_block")
    assert "created_at" not in block and "modified_at" not in block and block["display_block"]
    traces = [i for i in items if i["type"] != "display_block"]
    assert all(ISO_US.match(i["created_at"]) and ISO_US.match(i["modified_at"]) for i in traces)
    annotated = [i for i in items if i["annotations"]]
    assert len(annotated) == 4
    names = {s["name"] for s in lemu.llm_obs.label_schema(queue_id)}
    for item in annotated:
        for annotation in item["annotations"]:
            assert annotation["interaction_id"] == item["id"]
            assert set(annotation["label_values"]) <= names
            assert set(annotation) == {
                "id",
                "interaction_id",
                "label_values",
                "created_at",
                "created_by",
                "modified_at",
                "modified_by",
            }
    assert any(len(i["annotations"]) == 2 for i in items)


def test_single_interaction_pages_events(lapi: LlmApi, lemu: Emulator) -> None:
    queue_id = lemu.llm_obs.queue_ids()[0]
    interaction_id = lemu.llm_obs.interaction_ids(queue_id)[0]
    path = f"/v1/annotation-queues/{queue_id}/annotated-interactions/{interaction_id}"
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        attrs = lapi.ok(path, params)["data"]["attributes"]
        assert attrs["interaction_type"] == "trace"
        assert attrs["annotated_interaction"]["id"] == interaction_id
        assert len(attrs["events"]) <= 2
        seen.extend(e["id"] for e in attrs["events"])
        cursor = attrs.get("next_cursor")
        if cursor is None:
            break
    everything = lapi.ok(path, {"limit": 1000})["data"]["attributes"]
    assert "next_cursor" not in everything
    assert seen == [e["id"] for e in everything["events"]] and len(seen) >= 3
    assert lapi.get(path, {"limit": 0}).status_code == 400


def test_interactions_by_content_ids(lapi: LlmApi, lemu: Emulator) -> None:
    queue_id = lemu.llm_obs.queue_ids()[0]
    items = lapi.ok(f"/v1/annotation-queues/{queue_id}/annotated-interactions")["data"]
    content_ids = [i["content_id"] for i in items["attributes"]["annotated_interactions"][:3]]
    repeated = lapi.ok("/v1/annotated-interactions", [("contentIds", c) for c in content_ids])
    attrs = repeated["data"]["attributes"]
    assert repeated["data"]["type"] == "annotated_interactions_by_trace"
    assert attrs["total_count"] == 3
    assert {i["content_id"] for i in attrs["annotated_interactions"]} == set(content_ids)
    assert all(i["queue_id"] == queue_id for i in attrs["annotated_interactions"])
    comma = lapi.ok("/v1/annotated-interactions", {"contentIds": ",".join(content_ids)})
    assert comma["data"]["attributes"] == attrs
    paged = lapi.ok(
        "/v1/annotated-interactions",
        [*[("contentIds", c) for c in content_ids], ("offset", 1), ("limit", 1)],
    )["data"]["attributes"]
    assert paged["total_count"] == 3 and len(paged["annotated_interactions"]) == 1
    assert lapi.get("/v1/annotated-interactions").status_code == 400


def test_export_csv(lapi: LlmApi, lemu: Emulator) -> None:
    project_id = first_project(lemu)
    dataset_id = lemu.llm_obs.dataset_ids(project_id)[-1]
    response = lapi.get(
        f"/v1/{project_id}/datasets/{dataset_id}/export", {"format": "csv", "version": 1}
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["id"] for r in rows] == lemu.llm_obs.record_ids(dataset_id, version=1)
    assert (
        lapi.get(f"/v1/{project_id}/datasets/{dataset_id}/export", {"format": "json"}).status_code
        == 400
    )


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/v1/00000000-0000-0000-0000-000000000000/datasets", "project not found"),
        ("/v3/experiments/nope/events", "experiment not found"),
        ("/v1/annotation-queues/nope/label-schema", "queue not found"),
        ("/v1/annotation-queues/nope/annotated-interactions", "queue not found"),
    ],
)
def test_not_found_bodies(lapi: LlmApi, path: str, detail: str) -> None:
    response = lapi.get(path)
    assert response.status_code == 404
    assert response.json() == {"errors": [{"title": "Generic Error", "detail": detail}]}


def test_dataset_of_another_project_is_not_found(lapi: LlmApi, lemu: Emulator) -> None:
    first, second = lemu.llm_obs.project_ids()[-1], lemu.llm_obs.project_ids()[0]
    dataset_id = lemu.llm_obs.dataset_ids(first)[0]
    response = lapi.get(f"/v1/{second}/datasets/{dataset_id}/records")
    assert response.status_code == 404
    assert response.json()["errors"][0]["detail"] == "dataset not found"


def test_unknown_path_and_method(lapi: LlmApi) -> None:
    assert lapi.get("/v1/nothing/here/at/all").status_code == 404
    response = lapi.request("DELETE", "/v1/projects")
    assert response.status_code == 405


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"DD-API-KEY": "k"},
        {"DD-APPLICATION-KEY": "k"},
        {"DD-API-KEY": "", "DD-APPLICATION-KEY": "k"},
    ],
)
def test_both_keys_are_required(lemu: Emulator, headers: dict[str, str]) -> None:
    response = requests.get(f"{lemu.base_url}{LLM}/v1/projects", headers=headers, timeout=10)
    assert response.status_code == 403
    assert response.json()["errors"][0]["title"] == "Forbidden"


def test_expected_keys_are_enforced() -> None:
    with Emulator(projects=1, runs=1, api_key="right-api", app_key="right-app") as emu:
        url = f"{emu.base_url}{LLM}/v1/projects"
        wrong = requests.get(url, headers={**HEADERS}, timeout=10)
        assert wrong.status_code == 403
        assert "right-" not in wrong.text and "test-app-key" not in wrong.text
        good = {"DD-API-KEY": "right-api", "DD-APPLICATION-KEY": "right-app"}
        assert requests.get(url, headers=good, timeout=10).status_code == 200
