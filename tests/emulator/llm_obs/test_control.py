"""``/_emulator/llm-obs/`` control endpoints (no auth, not logged)."""

from __future__ import annotations

from emulator import Emulator

from .conftest import LlmApi


def test_state_lists_everything(lapi: LlmApi, lemu: Emulator) -> None:
    lemu.clear_requests()
    state = lapi.control("GET", "/state").json()
    store = lemu.llm_obs
    assert state["project_ids"] == store.project_ids()
    assert [d["id"] for d in state["datasets"]] == store.dataset_ids()
    locked = [d for d in state["datasets"] if d["locked_by"]]
    assert [d["locked_by"] for d in locked] == [store.users[2].id]
    assert sum(1 for e in state["experiments"] if e["deleted"]) == 1
    assert {e["status"] for e in state["experiments"]} == {
        "completed",
        "running",
        "failed",
        "interrupted",
    }
    assert [q["id"] for q in state["queues"]] == store.queue_ids()
    assert lemu.requests == []  # control calls are not logged


def test_users(lapi: LlmApi, lemu: Emulator) -> None:
    users = lapi.control("GET", "/users").json()
    assert users == [u.to_wire() for u in lemu.llm_obs.users]


def test_patch_experiment_without_touch_and_add_spans(fapi: LlmApi, fresh: Emulator) -> None:
    store = fresh.llm_obs
    experiment_id = next(
        e
        for e in store.experiment_ids()
        if store.get_experiment(e)["attributes"]["status"] == "running"
    )
    before = store.get_experiment(experiment_id)["attributes"]
    response = fapi.control(
        "PATCH", f"/experiments/{experiment_id}", json={"description": "quiet", "touch": False}
    )
    assert response.status_code == 200
    after = response.json()["data"]["attributes"]
    assert after["description"] == "quiet" and after["updated_at"] == before["updated_at"]
    added = fapi.control("POST", f"/experiments/{experiment_id}/spans", json={"count": 2})
    assert added.status_code == 201
    assert store.span_ids(experiment_id)[-2:] == added.json()["span_ids"]
    assert (
        fapi.control("POST", f"/experiments/{experiment_id}/spans", json={"count": 0}).status_code
        == 400
    )
    assert fapi.control("DELETE", f"/experiments/{experiment_id}").status_code == 204
    assert experiment_id not in store.experiment_ids()


def test_lock_as_another_user(fapi: LlmApi, fresh: Emulator) -> None:
    store = fresh.llm_obs
    dataset_id = store.dataset_ids()[0]
    locked = fapi.control("PUT", f"/datasets/{dataset_id}/lock", json={"user": 1})
    assert locked.json() == {"locked": True}
    assert store.draft_state(dataset_id)["attributes"]["user"]["id"] == store.users[1].id
    assert fapi.control("DELETE", f"/datasets/{dataset_id}/lock").status_code == 204
    assert store.draft_state(dataset_id)["attributes"]["user"] is None


def test_annotate_as_a_user(fapi: LlmApi, fresh: Emulator) -> None:
    store = fresh.llm_obs
    queue_id = store.queue_ids()[0]
    interaction_id = store.interaction_ids(queue_id)[2]
    response = fapi.control(
        "POST",
        f"/queues/{queue_id}/annotations",
        json={"interaction_id": interaction_id, "values": {"quality": 2}, "user": 3},
    )
    assert response.status_code == 201
    annotation_id = response.json()["id"]
    item = store.annotated_interaction(queue_id, interaction_id)
    (mine,) = [a for a in item["annotations"] if a["id"] == annotation_id]
    assert mine["created_by"] == store.users[3].id and mine["label_values"] == {"quality": 2}


def test_control_errors(fapi: LlmApi) -> None:
    missing = fapi.control("PATCH", "/experiments/nope", json={"description": "x"})
    assert missing.status_code == 404 and missing.json() == {"error": "experiment not found"}
    bad = fapi.control("POST", "/queues/nope/annotations", json={"values": {}})
    assert bad.status_code == 400 and "interaction_id" in bad.json()["error"]
    assert fapi.control("PATCH", "/experiments/x", data=b"[1]").status_code == 400
