"""Mutations through the Python interface and the control API; request log and on_request."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from emulator import Emulator, RequestRecord
from emulator.timeutil import to_us

from .conftest import ML, Api


def first_page_ids(api: Api, **params: Any) -> list[int]:
    return [int(r["id"]) for r in api.ok("/runs", params)["data"]]


def test_update_touch_moves_run_to_front(fresh: Emulator, fapi: Api) -> None:
    ml = fresh.model_lab
    run_id = ml.run_ids()[5]
    before = ml.get_run(run_id)["attributes"]
    wall = time.time()
    ml.update_run(run_id, name="renamé", description="new", status="failed", duration=12.5)
    after = ml.get_run(run_id)["attributes"]
    assert after["name"] == "renamé" and after["status"] == "failed" and after["duration"] == 12.5
    assert after["updated_at"] > before["updated_at"]
    assert abs(to_us(after["updated_at"]) / 1e6 - wall) < 5
    assert first_page_ids(fapi)[0] == run_id
    served = fapi.ok(f"/runs/{run_id}")["data"]
    assert served == ml.get_run(run_id)


def test_update_without_touch_keeps_updated_at(fresh: Emulator, fapi: Api) -> None:
    ml = fresh.model_lab
    run_id = ml.run_ids()[7]
    before = ml.get_run(run_id)["attributes"]
    summaries = [{"key": "loss", "count": 3, "latest": 0.5, "min": 0.4, "max": 0.9, "mean": 0.6}]
    ml.update_run(run_id, touch=False, metric_summaries=summaries, params={"lr": 0.1})
    after = fapi.ok(f"/runs/{run_id}")["data"]["attributes"]
    assert after["updated_at"] == before["updated_at"]
    assert after["metric_summaries"] == summaries
    assert after["params"] == [{"key": "lr", "value": "0.1"}]
    ml.update_run(run_id, touch=False, params=None, owner_id=None, completed_at=None)
    after = fapi.ok(f"/runs/{run_id}")["data"]["attributes"]
    assert after["params"] is None
    assert "owner_id" not in after and "completed_at" not in after


def test_clock_is_strictly_increasing(fresh: Emulator) -> None:
    ml = fresh.model_lab
    stamps = []
    for run_id in ml.run_ids()[:30]:
        ml.update_run(run_id, description="x")
        stamps.append(ml.get_run(run_id)["attributes"]["updated_at"])
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_update_errors_leave_run_unchanged(fresh: Emulator) -> None:
    ml = fresh.model_lab
    run_id = ml.run_ids()[2]
    before = ml.get_run(run_id)
    with pytest.raises(ValueError):
        ml.update_run(run_id, status="failed", params="not-a-list")
    with pytest.raises(ValueError):
        ml.update_run(run_id, created_at="yesterday-ish")
    with pytest.raises(KeyError):
        ml.update_run(run_id, project_id=999)
    with pytest.raises(ValueError):
        ml.update_run(run_id, has_children=True)
    assert ml.get_run(run_id) == before
    with pytest.raises(KeyError):
        ml.update_run(10**7, name="x")


def test_schema_drift_attributes(fresh: Emulator, fapi: Api) -> None:
    ml = fresh.model_lab
    run_id = ml.run_ids()[1]
    ml.update_run(run_id, gpu_hours=3.25, duration="fast")
    attrs = fapi.ok(f"/runs/{run_id}")["data"]["attributes"]
    assert attrs["gpu_hours"] == 3.25 and attrs["duration"] == "fast"
    ml.update_run(run_id, duration=7.0, gpu_hours=None)
    attrs = fapi.ok(f"/runs/{run_id}")["data"]["attributes"]
    assert attrs["duration"] == 7.0 and "gpu_hours" not in attrs
    project_id = ml.project_ids()[0]
    ml.update_project(project_id, region="eu")
    assert fapi.ok(f"/projects/{project_id}")["data"]["attributes"]["region"] == "eu"


def test_insert_run_and_child(fresh: Emulator, fapi: Api) -> None:
    ml = fresh.model_lab
    project_id = ml.project_ids()[0]
    top = max(ml.run_ids())
    new_id = ml.insert_run(project_id, name="brand-new", params={"lr": "0.01"})
    assert new_id == top + 1
    attrs = fapi.ok(f"/runs/{new_id}")["data"]["attributes"]
    assert attrs["created_at"] == attrs["updated_at"]
    assert attrs["status"] == "running" and attrs["has_children"] is False
    assert attrs["project_id"] == project_id
    assert first_page_ids(fapi)[0] == new_id

    parent_before = ml.get_run(new_id)["attributes"]["updated_at"]
    child = ml.insert_run(project_id, parent_run_id=new_id, status="completed", duration=3.0)
    parent = fapi.ok(f"/runs/{new_id}")["data"]["attributes"]
    assert parent["has_children"] is True and parent["updated_at"] > parent_before
    assert ml.children(new_id) == [child]
    listed = fapi.all_pages("/runs", {"filter[parent_run_id]": new_id})
    assert [int(r["id"]) for r in listed] == [child]
    roots = {int(r["id"]) for r in fapi.all_pages("/runs", {"filter[parent_run_id]": "null"})}
    assert new_id in roots and child not in roots
    with pytest.raises(KeyError):
        ml.insert_run(999)
    with pytest.raises(KeyError):
        ml.insert_run(project_id, parent_run_id=10**7)
    assert max(ml.run_ids()) == child


def test_hard_delete(fresh: Emulator, fapi: Api) -> None:
    ml = fresh.model_lab
    project_id = ml.project_ids()[0]
    parent = ml.insert_run(project_id)
    child = ml.insert_run(project_id, parent_run_id=parent)
    total = fapi.ok("/runs")["meta"]["page"]["total"]
    ml.delete_run(child)
    assert fapi.get(f"/runs/{child}").status_code == 404
    assert child not in ml.run_ids()
    assert fapi.ok("/runs")["meta"]["page"]["total"] == total - 1
    assert fapi.ok(f"/runs/{parent}")["data"]["attributes"]["has_children"] is False
    with pytest.raises(KeyError):
        ml.delete_run(child)
    # a deleted id is never reused
    assert ml.insert_run(project_id) == child + 1


def test_soft_delete(fresh: Emulator, fapi: Api) -> None:
    ml = fresh.model_lab
    run_id = next(i for i in ml.run_ids() if "deleted_at" not in ml.get_run(i)["attributes"])
    ml.soft_delete_run(run_id)
    attrs = fapi.ok(f"/runs/{run_id}")["data"]["attributes"]
    assert attrs["deleted_at"] == attrs["updated_at"]
    assert first_page_ids(fapi)[0] == run_id
    assert run_id in ml.run_ids()


def test_project_mutations(fresh: Emulator, fapi: Api) -> None:
    ml = fresh.model_lab
    new_project = ml.insert_project(name="Nouveau projet", tags={"team": "ml"})
    assert new_project == max(ml.project_ids())
    listed = fapi.ok("/projects")["data"]
    assert listed[0]["id"] == str(new_project)
    assert listed[0]["attributes"]["tags"] == [{"key": "team", "value": "ml"}]
    run_id = ml.insert_run(new_project)
    ml.update_project(new_project, description="described")
    newest = fapi.ok("/projects", {"sort": "-updated_at"})["data"][0]
    assert newest["id"] == str(new_project)
    before = ml.get_project(new_project)["attributes"]["updated_at"]
    ml.update_project(new_project, touch=False, name="quiet")
    assert ml.get_project(new_project)["attributes"]["updated_at"] == before
    ml.soft_delete_project(new_project)
    attrs = fapi.ok(f"/projects/{new_project}")["data"]["attributes"]
    assert attrs["deleted_at"] == attrs["updated_at"]
    ml.delete_project(new_project)
    assert fapi.get(f"/projects/{new_project}").status_code == 404
    assert fapi.get(f"/runs/{run_id}").status_code == 404
    assert fapi.ok("/runs", {"filter[project_id]": new_project})["data"] == []
    assert new_project not in ml.project_ids()


def test_delete_project_removes_its_runs(fresh: Emulator, fapi: Api) -> None:
    ml = fresh.model_lab
    project_id = ml.project_ids()[0]
    victims = [int(r["id"]) for r in fapi.all_pages("/runs", {"filter[project_id]": project_id})]
    assert victims
    total = len(ml.run_ids())
    ml.delete_project(project_id)
    assert len(ml.run_ids()) == total - len(victims)
    assert not set(victims) & set(ml.run_ids())
    assert fapi.get("/facet-keys", {"filter[project_id]": project_id}).status_code == 404


def test_request_log(fresh: Emulator, fapi: Api) -> None:
    fresh.clear_requests()
    fapi.get("/runs", {"page[size]": 5, "filter[status]": "completed"})
    fapi.get("/runs/999999999")
    fapi.control("GET", "/health")
    records = fresh.requests
    assert [(r.method, r.path, r.status) for r in records] == [
        ("GET", f"{ML}/runs", 200),
        ("GET", f"{ML}/runs/999999999", 404),
    ]
    assert records[0].query == {"page[size]": ["5"], "filter[status]": ["completed"]}
    assert records[0].fault is None and records[0].started_at <= time.time()
    unauthenticated = requests.get(f"{fresh.base_url}{ML}/runs", timeout=10)
    assert unauthenticated.status_code == 403
    assert fresh.requests[-1].status == 403
    fresh.clear_requests()
    assert fresh.requests == []


def test_on_request_can_mutate_mid_listing(fresh: Emulator, fapi: Api) -> None:
    ml = fresh.model_lab
    ordered = [int(r["id"]) for r in fapi.all_pages("/runs", {"page[size]": 50})]
    moved = ordered[-1]
    seen: list[RequestRecord] = []

    def callback(record: RequestRecord) -> None:
        seen.append(record)
        if record.query.get("page[number]") == ["2"]:
            assert record.status == 0
            ml.update_run(moved, name="moved")

    fresh.on_request(callback)
    listed = [int(r["id"]) for r in fapi.all_pages("/runs", {"page[size]": 50})]
    fresh.on_request(None)
    assert moved not in listed  # it jumped to page 0 after page 0 was read
    # everything after it shifted by one: one row of page 1 is served again on page 2
    assert len(listed) == len(ordered) and len(set(listed)) == len(ordered) - 1
    assert all(r.status == 200 for r in seen)
    count = len(seen)
    fapi.get("/runs")
    assert len(seen) == count


def test_control_api(fresh: Emulator, fapi: Api) -> None:
    health = fapi.control("GET", "/health").json()
    assert health["status"] == "ok"
    assert {"model_lab", "llm_obs", "posthog"} <= set(health["vendors"])
    project_id = fapi.control("GET", "/model-lab/project-ids").json()[0]
    created = fapi.control("POST", "/model-lab/runs", json={"project_id": project_id, "name": "c"})
    assert created.status_code == 201
    run_id = created.json()["id"]
    assert run_id in fapi.control("GET", "/model-lab/run-ids").json()
    child = fapi.control(
        "POST", "/model-lab/runs", json={"project_id": project_id, "parent_run_id": run_id}
    ).json()["id"]
    assert fresh.model_lab.children(run_id) == [child]
    before = fresh.model_lab.get_run(run_id)["attributes"]["updated_at"]
    patched = fapi.control(
        "PATCH", f"/model-lab/runs/{run_id}", json={"description": "quiet", "touch": False}
    )
    assert patched.status_code == 200
    assert patched.json()["data"]["attributes"]["description"] == "quiet"
    assert patched.json()["data"]["attributes"]["updated_at"] == before
    fapi.control("PATCH", f"/model-lab/runs/{run_id}", json={"status": "completed"})
    assert fapi.ok(f"/runs/{run_id}")["data"]["attributes"]["updated_at"] > before
    got = fapi.control("GET", f"/model-lab/runs/{run_id}").json()["data"]
    assert got == fresh.model_lab.get_run(run_id)
    assert fapi.control("DELETE", f"/model-lab/runs/{child}?soft=true").status_code == 204
    assert "deleted_at" in fresh.model_lab.get_run(child)["attributes"]
    assert fapi.control("DELETE", f"/model-lab/runs/{child}").status_code == 204
    assert fapi.get(f"/runs/{child}").status_code == 404
    assert fapi.control("DELETE", f"/model-lab/runs/{child}").status_code == 404

    project = fapi.control("POST", "/model-lab/projects", json={"name": "ctl"}).json()["id"]
    renamed = fapi.control("PATCH", f"/model-lab/projects/{project}", json={"name": "ctl2"})
    assert renamed.json()["data"]["attributes"]["name"] == "ctl2"
    assert fapi.control("DELETE", f"/model-lab/projects/{project}?soft=true").status_code == 204
    assert "deleted_at" in fapi.ok(f"/projects/{project}")["data"]["attributes"]
    assert fapi.control("DELETE", f"/model-lab/projects/{project}").status_code == 204
    assert fapi.get(f"/projects/{project}").status_code == 404

    assert fapi.control("POST", "/model-lab/runs", json={}).status_code == 400
    assert fapi.control("POST", "/model-lab/runs", data=b"{nope").status_code == 400
    missing = fapi.control("POST", "/model-lab/runs", json={"project_id": 999})
    assert missing.status_code == 404
    assert fapi.control("GET", "/nothing-here").status_code == 404

    fresh.clear_requests()
    fapi.get("/runs")
    log = fapi.control("GET", "/requests").json()
    assert [(r["method"], r["path"], r["status"]) for r in log] == [("GET", f"{ML}/runs", 200)]
    assert fapi.control("DELETE", "/requests").status_code == 204
    assert fapi.control("GET", "/requests").json() == []


def test_control_faults_and_rate_limit(fresh: Emulator, fapi: Api) -> None:
    state = fapi.control("PUT", "/faults", json={"inject": "503", "times": 2}).json()
    assert state["pending"] == 2
    assert fapi.get("/runs").status_code == 503
    assert fapi.get("/runs").status_code == 503
    assert fapi.get("/runs").status_code == 200
    assert fapi.control("PUT", "/faults", json={"spec": "500=1.0,seed=1"}).status_code == 200
    assert fresh.faults.spec == "500=1.0,seed=1"
    assert fapi.get("/runs").status_code == 500
    assert fapi.control("GET", "/health").status_code == 200  # control paths are never faulted
    assert fapi.control("PUT", "/faults", json={"clear": True}).json()["spec"] is None
    assert fapi.get("/runs").status_code == 200
    assert fapi.control("PUT", "/faults", json={"spec": "bogus=1"}).status_code == 400
    assert fapi.control("PUT", "/faults", json={"inject": "418"}).status_code == 400

    limited = fapi.control("PUT", "/rate-limit", json={"limit": 3, "period": 60})
    assert limited.json() == {"limit": 3, "period": 60.0}
    assert fresh.rate_limit == (3, 60.0)
    assert fapi.get("/runs").headers["X-RateLimit-Limit"] == "3"
    assert fapi.control("PUT", "/rate-limit", json=None).json() is None
    assert fresh.rate_limit is None
    assert fapi.control("PUT", "/rate-limit", json={"limit": 0}).status_code == 400
