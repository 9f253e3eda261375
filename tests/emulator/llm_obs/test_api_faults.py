"""The server-wide fault injection, rate limit and request log apply to the LLM Obs API group."""

from __future__ import annotations

import pytest
import requests

from emulator import Emulator

from .conftest import LLM, LlmApi

RATE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Period",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Name",
)


def test_request_log_records_llm_obs_calls(fresh: Emulator, fapi: LlmApi) -> None:
    fresh.clear_requests()
    fapi.get("/v1/projects", {"page[limit]": 1})
    fapi.control("GET", "/state")  # control calls are not logged
    (record,) = fresh.requests
    assert record.path == f"{LLM}/v1/projects" and record.status == 200
    assert record.query == {"page[limit]": ["1"]}


def test_health_lists_the_vendor(fapi: LlmApi) -> None:
    health = fapi.session.get(f"{fapi.emu.base_url}/_emulator/health", timeout=10).json()
    assert "llm_obs" in health["vendors"]


def test_injected_429_has_rate_headers(fresh: Emulator, fapi: LlmApi) -> None:
    fresh.faults.inject("429", path_pattern="/llm-obs/")
    response = fapi.get("/v1/projects")
    assert response.status_code == 429
    assert response.json() == {"errors": ["Too many requests"]}
    assert all(h in response.headers for h in RATE_HEADERS)
    assert response.headers["X-RateLimit-Name"] == "llm_obs_api"
    assert fresh.requests[-1].fault == "429"
    assert fapi.get("/v1/projects").status_code == 200


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_injected_5xx(fresh: Emulator, fapi: LlmApi, kind: str) -> None:
    experiment_id = fresh.llm_obs.experiment_ids()[0]
    fresh.faults.inject(kind, times=2, path_pattern="/events$")
    assert fapi.get("/v1/projects").status_code == 200  # pattern does not match
    for _ in range(2):
        response = fapi.get(f"/v3/experiments/{experiment_id}/events")
        assert response.status_code == int(kind)
        assert response.json()["errors"][0]["title"]
    assert fapi.get(f"/v3/experiments/{experiment_id}/events").status_code == 200


def test_injected_fault_hits_writes_before_they_apply(fresh: Emulator, fapi: LlmApi) -> None:
    before = fresh.llm_obs.project_ids()
    fresh.faults.inject("503")
    payload = {"data": {"type": "projects", "attributes": {"name": "never-created"}}}
    assert fapi.request("POST", "/v1/projects", json=payload).status_code == 503
    assert fresh.llm_obs.project_ids() == before


def test_truncate_and_drop(fresh: Emulator, fapi: LlmApi) -> None:
    project_id = fresh.llm_obs.project_ids()[0]
    dataset_id = fresh.llm_obs.dataset_ids(project_id)[0]
    path = f"/v1/{project_id}/datasets/{dataset_id}/records"
    fresh.faults.inject("truncate")
    with pytest.raises(
        (requests.exceptions.ChunkedEncodingError, requests.exceptions.JSONDecodeError)
    ):
        fapi.get(path).json()
    fresh.faults.inject("drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        fapi.get(path)
    assert [r.fault for r in fresh.requests[-2:]] == ["truncate", "drop"]
    assert fapi.get(path).status_code == 200


def test_slow_fault_still_answers(fresh: Emulator, fapi: LlmApi) -> None:
    fresh.faults.inject("slow", seconds=0.05)
    response = fapi.get("/v1/annotation-queues")
    assert response.status_code == 200 and response.json()["data"]
    assert fresh.requests[-1].fault == "slow"


def test_random_faults_reach_llm_obs_paths(fresh: Emulator, fapi: LlmApi) -> None:
    fresh.faults.configure("500=0.5,seed=4")
    statuses = [fapi.get("/v1/projects").status_code for _ in range(40)]
    assert set(statuses) == {200, 500}
    fresh.faults.configure(None)
    assert fapi.get("/v1/projects").status_code == 200


def test_rate_limit_applies_and_is_shared_with_model_lab(fresh: Emulator, fapi: LlmApi) -> None:
    fresh.rate_limit = (3, 3600)  # a window long enough not to roll over during the test
    first = fapi.get("/v1/projects")
    assert first.status_code == 200
    assert first.headers["X-RateLimit-Name"] == "llm_obs_api"
    assert first.headers["X-RateLimit-Limit"] == "3"
    assert first.headers["X-RateLimit-Remaining"] == "2"
    model_lab = fapi.session.get(f"{fresh.base_url}/api/v2/model-lab-api/projects", timeout=10)
    assert model_lab.status_code == 200 and model_lab.headers["X-RateLimit-Remaining"] == "1"
    assert fapi.get("/v1/annotation-queues").status_code == 200
    limited = fapi.get("/v1/projects")
    assert limited.status_code == 429
    assert limited.json() == {"errors": ["Too many requests"]}
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) >= 1
    fresh.rate_limit = None
    assert "X-RateLimit-Limit" not in fapi.get("/v1/projects").headers


def test_forbidden_requests_are_not_counted(fresh: Emulator, fapi: LlmApi) -> None:
    fresh.rate_limit = (1, 3600)
    denied = requests.get(f"{fresh.base_url}{LLM}/v1/projects", timeout=10)
    assert denied.status_code == 403
    assert fapi.get("/v1/projects").status_code == 200
