"""Writes through the real API change state realistically: timestamps, versions, deletes, locks,
annotations."""

from __future__ import annotations

from typing import Any

import pytest

from emulator import Emulator

from .conftest import LlmApi


def body(kind: str, attributes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"data": {"type": kind, "attributes": attributes, **extra}}


def dataset_attrs(api: LlmApi, project_id: str, dataset_id: str) -> dict[str, Any]:
    found = api.ok(f"/v1/{project_id}/datasets", {"filter[id]": dataset_id})["data"]
    assert len(found) == 1
    return found[0]["attributes"]


def experiment_attrs(api: LlmApi, project_id: str, experiment_id: str, **params: Any) -> Any:
    found = api.ok(
        "/v1/experiments",
        {"filter[project_id]": project_id, "filter[id]": experiment_id, **params},
    )["data"]
    return found[0]["attributes"] if found else None


# projects ------------------------------------------------------------------------------------


def test_project_create_update_and_name_conflict(fapi: LlmApi) -> None:
    created = fapi.send("POST", "/v1/projects", body("projects", {"name": "new-app"}), 201)
    project = created["data"]
    assert project["attributes"]["description"] is None
    again = fapi.send("POST", "/v1/projects", body("projects", {"name": "new-app"}), 200)
    assert again["data"] == project
    patched = fapi.send(
        "PATCH",
        f"/v1/projects/{project['id']}",
        body("projects", {"description": "now described"}),
        200,
    )["data"]["attributes"]
    assert patched["description"] == "now described"
    assert patched["updated_at"] > project["attributes"]["updated_at"]
    assert patched["created_at"] == project["attributes"]["created_at"]
    assert fapi.ok("/v1/projects")["data"][0]["id"] == project["id"]  # newest created first


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"data": {"type": "datasets", "attributes": {"name": "x"}}}, "data.type"),
        ({"data": {"type": "projects", "attributes": {}}}, "data.attributes.name"),
        (
            {"data": {"type": "projects", "attributes": {"name": "x", "description": 3}}},
            "description",
        ),
        ({"nodata": True}, "data must be an object"),
    ],
)
def test_project_create_bad_bodies(fapi: LlmApi, payload: Any, detail: str) -> None:
    response = fapi.request("POST", "/v1/projects", json=payload)
    assert response.status_code == 400
    assert detail in response.json()["errors"][0]["detail"]


def test_invalid_json_body(fapi: LlmApi) -> None:
    response = fapi.request(
        "POST", "/v1/projects", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["errors"][0]["detail"]


def test_project_delete_cascades(fapi: LlmApi, fresh: Emulator) -> None:
    store = fresh.llm_obs
    project_id = store.project_ids()[-1]
    dataset_id = store.dataset_ids(project_id)[0]
    experiments = store.experiment_ids(project_id)
    queues = store.queue_ids(project_id)
    assert queues
    fapi.send(
        "POST",
        "/v1/projects/delete",
        body("projects", {"project_ids": [project_id, "unknown-id"]}),
        204,
    )
    assert project_id not in [p["id"] for p in fapi.ok("/v1/projects")["data"]]
    assert fapi.get(f"/v1/{project_id}/datasets/{dataset_id}/records").status_code == 404
    deleted = fapi.ok(
        "/v1/experiments", {"filter[project_id]": project_id, "filter[is_deleted]": "true"}
    )["data"]
    assert set(experiments) <= {e["id"] for e in deleted}
    assert fapi.ok("/v1/annotation-queues", {"projectId": project_id})["data"] == []


# datasets and records ------------------------------------------------------------------------


def test_record_writes_bump_version_and_updated_at(fapi: LlmApi, fresh: Emulator) -> None:
    project_id = fresh.llm_obs.project_ids()[0]
    created = fapi.send(
        "POST",
        f"/v1/{project_id}/datasets",
        body("datasets", {"name": "fresh-set", "metadata": {"k": "v"}}),
        201,
    )["data"]
    dataset_id = created["id"]
    assert created["attributes"]["current_version"] == 0
    base = f"/v1/{project_id}/datasets/{dataset_id}"
    appended = fapi.send(
        "POST",
        f"{base}/records",
        body(
            "records",
            {"records": [{"input": {"q": f"q{i}"}, "expected_output": i} for i in range(3)]},
        ),
        201,
    )
    records = appended["data"][0]["records"]
    assert len(records) == 3 and {r["dataset_id"] for r in records} == {dataset_id}
    after_insert = dataset_attrs(fapi, project_id, dataset_id)
    assert after_insert["current_version"] == 1
    assert after_insert["updated_at"] > created["attributes"]["updated_at"]

    target = records[0]
    updated = fapi.send(
        "PATCH",
        f"{base}/records",
        body("records", {"records": [{"id": target["id"], "expected_output": "changed"}]}),
        200,
    )["data"][0]["records"][0]
    assert updated["expected_output"] == "changed" and updated["input"] == target["input"]
    assert updated["updated_at"] > target["updated_at"]
    after_update = dataset_attrs(fapi, project_id, dataset_id)
    assert after_update["current_version"] == 2
    assert after_update["updated_at"] > after_insert["updated_at"]
    old = {r["id"]: r for r in fapi.all_pages(f"{base}/records", {"filter[version]": 1})}
    assert old[target["id"]]["expected_output"] == 0  # history unchanged

    fapi.send(
        "POST", f"{base}/records/delete", body("records", {"record_ids": [records[1]["id"]]}), 204
    )
    assert dataset_attrs(fapi, project_id, dataset_id)["current_version"] == 3
    current = [r["id"] for r in fapi.all_pages(f"{base}/records")]
    assert records[1]["id"] not in current and len(current) == 2
    at_two = [r["id"] for r in fapi.all_pages(f"{base}/records", {"filter[version]": 2})]
    assert records[1]["id"] in at_two

    versions = fapi.ok(f"{base}/versions")["data"]
    assert [v["attributes"]["version_number"] for v in versions] == [3, 2, 1]


def test_batch_update_in_place_and_new_version(fapi: LlmApi, fresh: Emulator) -> None:
    store = fresh.llm_obs
    project_id = store.project_ids()[0]
    dataset_id = store.dataset_ids(project_id)[0]
    base = f"/v1/{project_id}/datasets/{dataset_id}"
    before = dataset_attrs(fapi, project_id, dataset_id)
    live = store.record_ids(dataset_id)
    payload = body(
        "datasets",
        {
            "insert_records": [{"input": "brand new", "metadata": {"src": "batch"}}],
            "update_records": [{"id": live[0], "input": "edited"}],
            "delete_records": [live[1]],
            "create_new_version": False,
        },
        id=dataset_id,
    )
    answer = fapi.send("POST", f"{base}/batch_update", payload, 200)["data"][0]["records"]
    assert [r["input"] for r in answer] == ["brand new", "edited"]
    in_place = dataset_attrs(fapi, project_id, dataset_id)
    assert in_place["current_version"] == before["current_version"]
    assert in_place["updated_at"] > before["updated_at"]
    payload["data"]["attributes"] = {"delete_records": [live[2]]}
    fapi.send("POST", f"{base}/batch_update", payload, 200)
    assert (
        dataset_attrs(fapi, project_id, dataset_id)["current_version"]
        == before["current_version"] + 1
    )


def test_batch_update_errors(fapi: LlmApi, fresh: Emulator) -> None:
    store = fresh.llm_obs
    project_id = store.project_ids()[0]
    dataset_id = store.dataset_ids(project_id)[0]
    base = f"/v1/{project_id}/datasets/{dataset_id}"
    version = store.get_dataset(dataset_id)["attributes"]["current_version"]
    wrong_id = body("datasets", {"delete_records": []}, id="another")
    assert fapi.request("POST", f"{base}/batch_update", json=wrong_id).status_code == 400
    missing = body("datasets", {"update_records": [{"id": "nope", "input": 1}]}, id=dataset_id)
    response = fapi.request("POST", f"{base}/batch_update", json=missing)
    assert response.status_code == 404 and "nope" in response.json()["errors"][0]["detail"]
    no_input = body("datasets", {"insert_records": [{"expected_output": 1}]}, id=dataset_id)
    response = fapi.request("POST", f"{base}/batch_update", json=no_input)
    assert response.status_code == 400
    assert "insert_records[0].input" in response.json()["errors"][0]["detail"]
    huge = body("datasets", {"delete_records": ["x"] * 10_001}, id=dataset_id)
    assert fapi.request("POST", f"{base}/batch_update", json=huge).status_code == 413
    gone = body("records", {"record_ids": ["not-a-record"]})
    assert fapi.request("POST", f"{base}/records/delete", json=gone).status_code == 404
    assert store.get_dataset(dataset_id)["attributes"]["current_version"] == version


def test_dataset_patch_delete_clone_restore(fapi: LlmApi, fresh: Emulator) -> None:
    store = fresh.llm_obs
    project_id = store.project_ids()[0]
    dataset_id = store.dataset_ids(project_id)[-1]  # version 2
    base = f"/v1/{project_id}/datasets/{dataset_id}"
    before = dataset_attrs(fapi, project_id, dataset_id)
    patched = fapi.send("PATCH", base, body("datasets", {"description": "renamed"}), 200)["data"]
    assert patched["attributes"]["updated_at"] > before["updated_at"]
    assert patched["attributes"]["current_version"] == before["current_version"]

    clone = fapi.send(
        "POST", f"{base}/clone", body("datasets", {"name": "copy"}, id=dataset_id), 200
    )
    clone_id = clone["data"]["id"]
    assert clone["data"]["attributes"]["current_version"] == 1
    copied = fapi.all_pages(f"/v1/{project_id}/datasets/{clone_id}/records")
    original = fapi.all_pages(f"{base}/records")
    assert sorted(map(str, (r["input"] for r in copied))) == sorted(
        map(str, (r["input"] for r in original))
    )

    restore = body("datasets", {"dataset_version": 1}, id=dataset_id)
    restored = fapi.send("POST", f"{base}/restore", restore, 200)["data"]["attributes"]
    assert restored["current_version"] == 3
    v1 = [r["id"] for r in fapi.all_pages(f"{base}/records", {"filter[version]": 1})]
    assert sorted(r["id"] for r in fapi.all_pages(f"{base}/records")) == sorted(v1)
    bad = body("datasets", {"dataset_version": 9}, id=dataset_id)
    assert fapi.request("POST", f"{base}/restore", json=bad).status_code == 400

    experiment_id = next(
        e
        for e in store.experiment_ids(project_id)
        if store.get_experiment(e)["attributes"]["dataset_id"] == dataset_id
    )
    fapi.send(
        "POST",
        f"/v1/{project_id}/datasets/delete",
        body("datasets", {"dataset_ids": [dataset_id]}),
        204,
    )
    assert dataset_id not in [d["id"] for d in fapi.all_pages(f"/v1/{project_id}/datasets")]
    kept = experiment_attrs(fapi, project_id, experiment_id, **{"include[dataset_names]": "true"})
    assert kept["dataset_id"] == dataset_id and kept["dataset_name"] is None
    again = fapi.request(
        "POST",
        f"/v1/{project_id}/datasets/delete",
        json=body("datasets", {"dataset_ids": [dataset_id]}),
    )
    assert again.status_code == 404


# draft lock -------------------------------------------------------------------------------------


def test_lock_and_unlock(fapi: LlmApi, fresh: Emulator) -> None:
    store = fresh.llm_obs
    project_id = store.project_ids()[-1]
    free, held = store.dataset_ids(project_id)[::-1][:2]
    path = f"/v1/{project_id}/datasets/{free}/draft_state"
    locked = fapi.send("PATCH", f"{path}/lock", None, 200)["data"]["attributes"]
    assert locked["user"]["id"] not in {u.id for u in store.users}  # the caller
    assert fapi.ok(path)["data"]["attributes"] == locked
    assert fapi.send("PATCH", f"{path}/lock", None, 200)["data"]["attributes"] == locked
    unlocked = fapi.send("PATCH", f"{path}/unlock", None, 200)["data"]["attributes"]
    assert unlocked == {"drafting_since": None, "user": None}
    assert fapi.send("PATCH", f"{path}/unlock", None, 200)["data"]["attributes"] == unlocked

    other = f"/v1/{project_id}/datasets/{held}/draft_state"
    holder = store.users[2].to_wire()
    assert fapi.send("PATCH", f"{other}/lock", None, 200)["data"]["attributes"]["user"] == holder
    assert fapi.send("PATCH", f"{other}/unlock", None, 200)["data"]["attributes"]["user"] == holder
    before = dataset_attrs(fapi, project_id, held)["updated_at"]
    store.unlock_dataset(held)
    assert fapi.ok(other)["data"]["attributes"]["user"] is None
    assert dataset_attrs(fapi, project_id, held)["updated_at"] == before  # locks touch nothing


# experiments ------------------------------------------------------------------------------------


def test_experiment_lifecycle(fapi: LlmApi, fresh: Emulator) -> None:
    store = fresh.llm_obs
    project_id = store.project_ids()[0]
    dataset_id = store.dataset_ids(project_id)[0]
    attrs = {"name": "nightly", "project_id": project_id, "dataset_id": dataset_id}
    created = fapi.send(
        "POST", "/v1/experiments", body("experiments", {**attrs, "metadata": {"a": 1}}), 201
    )
    experiment = created["data"]
    assert experiment["attributes"]["status"] == "running"
    assert experiment["attributes"]["experiment"] == "nightly"
    version = store.get_dataset(dataset_id)["attributes"]["current_version"]
    assert experiment["attributes"]["dataset_version"] == version
    versions = fapi.ok(f"/v1/{project_id}/datasets/{dataset_id}/versions")["data"]
    used = next(v for v in versions if v["attributes"]["version_number"] == version)
    assert used["attributes"]["last_used"] == experiment["attributes"]["created_at"]

    second = fapi.send(
        "POST", "/v1/experiments", body("experiments", {**attrs, "ensure_unique": True}), 201
    )["data"]["attributes"]
    assert second["name"] == "nightly-1" and second["experiment"] == "nightly"

    experiment_id = experiment["id"]
    span = {
        "span_id": "777",
        "trace_id": "ab" * 16,
        "name": "task",
        "start_ns": 1_750_000_000_000_000_000,
        "duration": 1_000_000,
        "status": "ok",
        "dataset_id": dataset_id,
        "project_id": project_id,
        "tags": ["dataset_record_id:r-1"],
        "meta": {"input": "hi", "output": "hello"},
    }
    early_metric = {
        "label": "late",
        "metric_type": "boolean",
        "boolean_value": True,
        "span_id": "778",
        "timestamp_ms": 1,
    }
    metric = {
        "label": "accuracy",
        "metric_type": "score",
        "score_value": 0.5,
        "span_id": "777",
        "timestamp_ms": 1_750_000_000_000,
        "assessment": "fail",
    }
    events = {
        "data": {
            "type": "events",
            "attributes": {"spans": [span], "metrics": [metric, early_metric]},
        }
    }
    response = fapi.request("POST", f"/v1/experiments/{experiment_id}/events", json=events)
    assert response.status_code == 202 and response.content == b""
    spans = fapi.all_spans(experiment_id)
    assert [s["span_id"] for s in spans] == ["777"]
    assert spans[0]["dataset_record_id"] == "r-1"
    assert [(m["label"], m["score_value"]) for m in spans[0]["eval_metrics"]] == [("accuracy", 0.5)]
    late_span = {**span, "span_id": "778", "start_ns": span["start_ns"] + 1}
    fapi.send(
        "POST",
        f"/v1/experiments/{experiment_id}/events",
        {"data": {"type": "events", "attributes": {"spans": [late_span]}}},
        202,
    )
    spans = fapi.all_spans(experiment_id)
    assert [m["label"] for m in spans[1]["eval_metrics"]] == ["late"]
    still = experiment_attrs(fapi, project_id, experiment_id)
    assert still["updated_at"] == experiment["attributes"]["updated_at"]  # events do not touch it
    assert still["aggregate_data"]["span_count"] == 2

    done = fapi.send(
        "PATCH",
        f"/v1/experiments/{experiment_id}",
        body("experiments", {"status": "completed"}),
        200,
    )["data"]["attributes"]
    assert done["status"] == "completed"
    assert done["updated_at"] > experiment["attributes"]["updated_at"]
    summary = fapi.ok(f"/v3/experiments/{experiment_id}/events")["data"]["attributes"][
        "summary_metrics"
    ]
    assert {m["label"] for m in summary} == {"mean_accuracy", "late_rate", "error_rate"}

    bad = fapi.request(
        "PATCH", f"/v1/experiments/{experiment_id}", json=body("experiments", {"status": "done"})
    )
    assert bad.status_code == 400 and "status" in bad.json()["errors"][0]["detail"]

    fapi.send(
        "POST",
        "/v1/experiments/delete",
        body("experiments", {"experiment_ids": [experiment_id]}),
        204,
    )
    assert experiment_attrs(fapi, project_id, experiment_id) is None
    tomb = experiment_attrs(fapi, project_id, experiment_id, **{"filter[is_deleted]": "true"})
    assert tomb["deleted_at"] == tomb["updated_at"] and tomb["updated_at"] > done["updated_at"]


@pytest.mark.parametrize(
    ("attributes", "status", "detail"),
    [
        ({"name": "x", "project_id": "P"}, 400, "dataset_id"),
        ({"name": "x", "project_id": "P", "dataset_id": "nope"}, 404, "dataset not found"),
        ({"name": "x", "project_id": "nope", "dataset_id": "D"}, 404, "project not found"),
        (
            {"name": "x", "project_id": "P", "dataset_id": "D", "dataset_version": 99},
            400,
            "dataset_version",
        ),
        ({"name": "x", "project_id": "P", "dataset_id": "D", "run_count": "2"}, 400, "run_count"),
    ],
)
def test_experiment_create_errors(
    fapi: LlmApi, fresh: Emulator, attributes: dict[str, Any], status: int, detail: str
) -> None:
    project_id = fresh.llm_obs.project_ids()[0]
    dataset_id = fresh.llm_obs.dataset_ids(project_id)[0]
    values = {
        k: {"P": project_id, "D": dataset_id}.get(v, v) if isinstance(v, str) else v
        for k, v in attributes.items()
    }
    response = fapi.request("POST", "/v1/experiments", json=body("experiments", values))
    assert response.status_code == status
    assert detail in response.json()["errors"][0]["detail"]


def test_push_events_validation(fapi: LlmApi, fresh: Emulator) -> None:
    experiment_id = fresh.llm_obs.experiment_ids()[0]
    path = f"/v1/experiments/{experiment_id}/events"
    bad_span = {"data": {"type": "events", "attributes": {"spans": [{"span_id": "1"}]}}}
    response = fapi.request("POST", path, json=bad_span)
    assert (
        response.status_code == 400
        and "spans[0].trace_id" in response.json()["errors"][0]["detail"]
    )
    bad_metric = {
        "data": {
            "type": "events",
            "attributes": {
                "metrics": [{"label": "a", "metric_type": "odd", "span_id": "1", "timestamp_ms": 1}]
            },
        }
    }
    assert fapi.request("POST", path, json=bad_metric).status_code == 400
    assert (
        fapi.request(
            "POST",
            "/v1/experiments/nope/events",
            json={"data": {"type": "events", "attributes": {}}},
        ).status_code
        == 404
    )


# annotation queues ------------------------------------------------------------------------------


def test_queue_create_update_and_label_schema(fapi: LlmApi, fresh: Emulator) -> None:
    project_id = fresh.llm_obs.project_ids()[0]
    schema = {"label_schemas": [{"name": "ok", "type": "boolean"}]}
    created = fapi.send(
        "POST",
        "/v1/annotation-queues",
        body(
            "queues",
            {
                "name": "mine",
                "project_id": project_id,
                "annotation_schema": schema,
                "reviewer_emails": ["a@example.com"],
                "restrict_to_reviewers": True,
            },
        ),
        201,
    )["data"]
    attrs = created["attributes"]
    assert attrs["can_manage_access"] is True and attrs["reviewer_emails"] == ["a@example.com"]
    assert attrs["owned_by"] == attrs["created_by"] == attrs["modified_by"]
    label_id = attrs["annotation_schema"]["label_schemas"][0]["id"]
    assert label_id
    queue_id = created["id"]
    patched = fapi.send(
        "PATCH", f"/v1/annotation-queues/{queue_id}", body("queues", {"description": "d"}), 200
    )["data"]["attributes"]
    assert patched["modified_at"] > attrs["modified_at"] and patched["description"] == "d"
    new_schema = {
        "label_schemas": [
            {"name": "ok", "type": "boolean", "id": label_id},
            {"name": "score", "type": "score", "min": 0, "max": 10},
        ]
    }
    put = fapi.send(
        "PUT",
        f"/v1/annotation-queues/{queue_id}/label-schema",
        body("queues", {"annotation_schema": new_schema}),
        200,
    )["data"]["attributes"]["annotation_schema"]["label_schemas"]
    assert [s["name"] for s in put] == ["ok", "score"] and put[0]["id"] == label_id and put[1]["id"]
    queue = fapi.ok("/v1/annotation-queues", {"queueIds": queue_id})["data"][0]["attributes"]
    assert queue["modified_at"] > patched["modified_at"]
    invalid = {"label_schemas": [{"name": "bad name!", "type": "text"}]}
    response = fapi.request(
        "PUT",
        f"/v1/annotation-queues/{queue_id}/label-schema",
        json=body("queues", {"annotation_schema": invalid}),
    )
    assert response.status_code == 400 and "name" in response.json()["errors"][0]["detail"]
    assert fapi.request("DELETE", f"/v1/annotation-queues/{queue_id}").status_code == 204
    assert fapi.get(f"/v1/annotation-queues/{queue_id}/label-schema").status_code == 404


def test_interactions_and_annotations(fapi: LlmApi, fresh: Emulator) -> None:
    store = fresh.llm_obs
    queue_id = store.queue_ids()[0]
    base = f"/v1/annotation-queues/{queue_id}"
    blocks = [{"type": "markdown", "content": "# hello"}]
    items = [
        {"type": "trace", "content_id": "f" * 32},
        {"type": "display_block", "display_block": blocks},
    ]
    added = fapi.send(
        "POST", f"{base}/interactions", body("interactions", {"interactions": items}), 201
    )
    out = added["data"]["attributes"]["interactions"]
    assert [i["already_existed"] for i in out] == [False, False]
    assert "created_at" in out[0] and out[1]["display_block"] == blocks
    again = fapi.send(
        "POST", f"{base}/interactions", body("interactions", {"interactions": items}), 201
    )
    assert [i["already_existed"] for i in again["data"]["attributes"]["interactions"]] == [
        True,
        True,
    ]
    assert [i["id"] for i in again["data"]["attributes"]["interactions"]] == [i["id"] for i in out]
    trace_id = out[0]["id"]

    schemas = {s["name"]: s for s in store.label_schema(queue_id)}
    upsert = {
        "annotations": [
            {
                "interaction_id": trace_id,
                "label_values": [{"label_schema_id": schemas["quality"]["id"], "value": 4}],
            },
            {
                "interaction_id": trace_id,
                "label_values": [{"label_schema_id": schemas["quality"]["id"], "value": 9}],
            },
            {
                "interaction_id": "unknown",
                "label_values": [{"label_schema_id": schemas["quality"]["id"], "value": 1}],
            },
        ]
    }
    answer = fapi.send("POST", f"{base}/annotations", body("annotations", upsert), 200)["data"]
    saved, errors = answer["attributes"]["annotations"], answer["attributes"]["errors"]
    assert len(saved) == 1 and saved[0]["label_values"][0]["value"] == 4
    assert saved[0]["label_values"][0]["name_when_saved"] == "quality"
    assert [e["interaction_id"] for e in errors] == [trace_id, "unknown"]
    assert "between" in errors[0]["error"]

    listed = fapi.ok(f"{base}/annotated-interactions")["data"]["attributes"][
        "annotated_interactions"
    ]
    item = next(i for i in listed if i["id"] == trace_id)
    first = item["annotations"][0]
    assert first["label_values"] == {"quality": 4}
    assert item["modified_at"] >= first["modified_at"] > item["created_at"]

    category = {"label_schema_id": schemas["category"]["id"], "value": "billing"}
    second = {"annotations": [{"interaction_id": trace_id, "label_values": [category]}]}
    fapi.send("POST", f"{base}/annotations", body("annotations", second), 200)
    item = next(
        i
        for i in fapi.ok(f"{base}/annotated-interactions")["data"]["attributes"][
            "annotated_interactions"
        ]
        if i["id"] == trace_id
    )
    (annotation,) = item["annotations"]  # same caller: the annotation is updated, not added
    assert annotation["id"] == first["id"] and annotation["created_at"] == first["created_at"]
    assert annotation["modified_at"] > first["modified_at"]
    assert annotation["label_values"] == {"quality": 4, "category": "billing"}

    deleted = fapi.send(
        "POST",
        f"{base}/annotations/delete",
        body("annotations", {"annotation_ids": [annotation["id"], "missing"]}),
        200,
    )["data"]["attributes"]
    assert deleted["annotation_ids"] == [annotation["id"]]
    assert deleted["errors"] == [{"annotation_id": "missing", "error": "annotation not found"}]

    fapi.send(
        "POST",
        f"{base}/interactions/delete",
        body("interactions", {"interaction_ids": [trace_id]}),
        204,
    )
    assert trace_id not in store.interaction_ids(queue_id)
    empty = fapi.request(
        "POST", f"{base}/interactions/delete", json=body("interactions", {"interaction_ids": []})
    )
    assert empty.status_code == 400
