"""The ``/_emulator/posthog/`` control API (for out-of-process use)."""

from __future__ import annotations

from typing import Any

import requests

from emulator import Emulator

from .conftest import PhApi


def _control(emu: Emulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{emu.base_url}/_emulator/posthog{path}", timeout=10, **kwargs)


def test_rows_crud(fresh: Emulator, fapi: PhApi) -> None:
    listed = _control(fresh, "GET", "/datasets").json()
    assert [r["id"] for r in listed] == fresh.posthog.dataset_ids()
    created = _control(fresh, "POST", "/datasets", json={"name": "from control"})
    assert created.status_code == 201
    dataset = created.json()["id"]
    item = _control(fresh, "POST", "/dataset_items", json={"dataset": dataset, "input": "x"})
    assert item.status_code == 201 and fapi.ok(f"/dataset_items/{item.json()['id']}/")
    evaluation = _control(fresh, "POST", "/evaluations", json={"name": "c", "enabled": False})
    assert fapi.ok(f"/evaluations/{evaluation.json()['id']}/")["enabled"] is False
    before = _control(fresh, "GET", f"/datasets/{dataset}").json()
    quiet = _control(fresh, "PATCH", f"/datasets/{dataset}", json={"name": "n", "touch": False})
    assert quiet.json()["name"] == "n" and quiet.json()["updated_at"] == before["updated_at"]
    assert _control(fresh, "DELETE", f"/datasets/{dataset}").status_code == 204
    assert fapi.get(f"/datasets/{dataset}/").status_code == 404
    assert _control(fresh, "GET", f"/datasets/{dataset}").json()["deleted"] is True
    assert _control(fresh, "GET", "/datasets/nope").status_code == 404
    assert _control(fresh, "POST", "/dataset_items", json={"input": 1}).status_code == 400


def test_events(fresh: Emulator) -> None:
    evaluation = fresh.posthog.evaluation_ids()[0]
    added = _control(
        fresh,
        "POST",
        "/evaluation-events",
        json={"evaluation_id": evaluation, "timestamp": "2026-11-20T00:00:00Z", "result": True},
    )
    assert added.status_code == 201
    window = _control(
        fresh,
        "GET",
        "/evaluation-events",
        params={"start": "2026-11-20T00:00:00Z", "end": "2026-11-20T00:00:01Z"},
    ).json()
    assert [e["uuid"] for e in window] == [added.json()["uuid"]]
    assert window[0]["properties"]["$ai_evaluation_result"] is True
    bad = _control(fresh, "POST", "/evaluation-events", json={"evaluation_id": evaluation, "x": 1})
    assert bad.status_code == 400 and "unknown fields: x" in bad.json()["error"]
    generations = _control(fresh, "GET", "/generation-events").json()
    assert generations == fresh.posthog.generation_events()


def test_throttle_and_scopes(fresh: Emulator, fapi: PhApi) -> None:
    settings = _control(
        fresh, "PUT", "/throttle", json={"rate_limit": "1/60", "query_concurrency": 3}
    ).json()
    assert settings["rate_limit"] == [[1, 60.0]] and settings["query_concurrency"] == 3
    assert fapi.get("/datasets/").status_code == 200
    assert fapi.get("/datasets/").status_code == 429
    off = _control(fresh, "PUT", "/throttle", json={"rate_limit": None}).json()
    assert off["rate_limit"] == [] and off["query_concurrency"] == 3
    assert fapi.get("/datasets/").status_code == 200
    assert _control(fresh, "PUT", "/throttle", json={"rate_limit": "x"}).status_code == 400
    scoped = _control(fresh, "PUT", "/scopes", json={"scopes": ["evaluation:read"]})
    assert scoped.json() == {"scopes": ["evaluation:read"]}
    assert fapi.get("/datasets/").status_code == 403
    assert _control(fresh, "PUT", "/scopes", json={"scopes": None}).json() == {"scopes": None}
    assert fapi.get("/datasets/").status_code == 200
    assert _control(fresh, "PUT", "/scopes", json={"scopes": "all"}).status_code == 400


def test_control_calls_skip_auth_and_the_log(fresh: Emulator) -> None:
    fresh.clear_requests()
    fresh.faults.inject("500")
    assert _control(fresh, "GET", "/evaluations").status_code == 200
    assert fresh.requests == [] and fresh.faults.pending() == 1
