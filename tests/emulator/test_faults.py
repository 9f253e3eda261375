"""Fault injection and rate limiting, observed with plain ``requests``."""

from __future__ import annotations

import math
import time

import pytest
import requests

from emulator import Emulator
from emulator.faults import FaultInjector, parse_fault_spec
from emulator.ratelimit import RateLimiter, parse_rate_limit

from .conftest import ML, Api

RATE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Period",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Name",
)


def test_injected_429(fresh: Emulator, fapi: Api) -> None:
    fresh.faults.inject("429")
    response = fapi.get("/runs")
    assert response.status_code == 429
    assert response.json() == {"errors": ["Too many requests"]}
    assert all(h in response.headers for h in RATE_HEADERS)
    assert response.headers["X-RateLimit-Reset"] == "1"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert fresh.requests[-1].fault == "429" and fresh.requests[-1].status == 429
    assert fapi.get("/runs").status_code == 200


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_injected_5xx(fresh: Emulator, fapi: Api, kind: str) -> None:
    fresh.faults.inject(kind, times=2)
    for _ in range(2):
        response = fapi.get("/projects")
        assert response.status_code == int(kind)
        (error,) = response.json()["errors"]
        assert error["title"] and error["detail"]
    assert fapi.get("/projects").status_code == 200


def test_slow(fresh: Emulator, fapi: Api) -> None:
    fresh.faults.inject("slow", seconds=0.3)
    started = time.perf_counter()
    response = fapi.get("/runs")
    assert response.status_code == 200 and response.json()["data"]
    assert time.perf_counter() - started >= 0.3
    assert fresh.requests[-1].fault == "slow"
    with pytest.raises(requests.Timeout):
        fresh.faults.inject("slow", seconds=1.0)
        fapi.session.get(f"{fresh.base_url}{ML}/runs", timeout=0.2)


def test_truncate(fresh: Emulator, fapi: Api) -> None:
    fresh.faults.inject("truncate")
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        fapi.get("/runs", {"page[size]": 100})
    assert fresh.requests[-1].fault == "truncate"
    assert fapi.get("/runs").status_code == 200  # the session recovers on a new connection


def test_truncate_streamed_artifact(fresh: Emulator, fapi: Api) -> None:
    project_id = fresh.model_lab.project_ids()[0]
    files = fapi.ok(f"/projects/{project_id}/artifacts")["data"]["attributes"]["files"]
    big = max(files, key=lambda f: f["file_size"])
    params = {"project_id": str(project_id), "artifact_path": big["artifact_path"]}
    fresh.faults.inject("truncate", path_pattern="/artifacts/content")
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        fapi.get("/artifacts/content", params)
    assert len(fapi.get("/artifacts/content", params).content) == big["file_size"]


def test_drop(fresh: Emulator, fapi: Api) -> None:
    fresh.faults.inject("drop")
    with pytest.raises(requests.ConnectionError):
        fapi.get("/runs")
    assert fresh.requests[-1].fault == "drop" and fresh.requests[-1].status == 0
    assert fapi.get("/runs").status_code == 200


def test_path_pattern_and_order(fresh: Emulator, fapi: Api) -> None:
    fresh.faults.inject("500", times=1, path_pattern=r"/projects$")
    fresh.faults.inject("502", times=1)
    assert fresh.faults.pending() == 2
    assert fapi.get("/runs").status_code == 502  # the /projects fault does not match
    assert fapi.get("/runs").status_code == 200
    assert fapi.get("/projects").status_code == 500
    assert fresh.faults.pending() == 0
    with pytest.raises(ValueError):
        fresh.faults.inject("418")
    with pytest.raises(ValueError):
        fresh.faults.inject("500", times=0)


def test_random_faults_are_deterministic_per_seed() -> None:
    spec = "429=0.1,5xx=0.15,slow=0.05,truncate=0.05,drop=0.05,seed=7,slow_seconds=0"
    runs = []
    for _ in range(2):
        injector = FaultInjector(spec)
        runs.append([injector.decide(f"{ML}/runs") for _ in range(400)])
    assert runs[0] == runs[1]
    kinds = [f.kind if f else None for f in runs[0]]
    assert {"429", "500", "502", "503", "slow", "truncate", "drop", None} == set(kinds)
    assert 0.3 < sum(k is not None for k in kinds) / len(kinds) < 0.6
    other = FaultInjector(spec.replace("seed=7", "seed=8"))
    assert [other.decide("/x") for _ in range(400)] != runs[0]


def test_random_faults_over_http(fresh: Emulator, fapi: Api) -> None:
    fresh.faults.configure("503=0.5,seed=1")
    statuses = [fapi.get("/projects").status_code for _ in range(40)]
    fresh.faults.clear()
    assert set(statuses) == {200, 503}
    faulted = [r.fault for r in fresh.requests[-40:]]
    assert [s == 503 for s in statuses] == [f == "503" for f in faulted]


@pytest.mark.parametrize(
    "spec",
    ["500=2", "teapot=0.1", "429", "429=-0.1", "seed=x", "429=0.6,500=0.6"],
)
def test_bad_fault_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_fault_spec(spec)


def test_fault_spec_grammar() -> None:
    probs, seed, slow = parse_fault_spec(" 429=0.05, 5xx=0.3 ,seed=9,slow_seconds=1.5 ")
    assert seed == 9 and slow == 1.5
    assert probs["429"] == 0.05 and math.isclose(probs["500"], 0.1)
    assert parse_fault_spec("none") == ({}, 0, 0.5)


def test_faults_from_constructor() -> None:
    with Emulator(seed=1, projects=3, runs=20, faults="500=1.0") as emu:
        assert Api(emu).get("/runs").status_code == 500


def test_rate_limit_enforced_with_headers() -> None:
    period = 2
    with Emulator(seed=1, projects=3, runs=20, rate_limit=(4, period)) as emu:
        api = Api(emu)
        # start at the beginning of a window so the 5 requests fall into the same one
        time.sleep(period - time.time() % period + 0.02)
        responses = [api.get("/runs") for _ in range(7)]
        statuses = [r.status_code for r in responses]
        assert statuses == [200, 200, 200, 200, 429, 429, 429]
        remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in responses]
        assert remaining == [3, 2, 1, 0, 0, 0, 0]
        for response in responses:
            assert response.headers["X-RateLimit-Limit"] == "4"
            assert response.headers["X-RateLimit-Period"] == "2"
            assert response.headers["X-RateLimit-Name"] == "model_lab_api"
            assert 1 <= int(response.headers["X-RateLimit-Reset"]) <= period
        assert responses[4].json() == {"errors": ["Too many requests"]}
        assert ["Retry-After" in r.headers for r in responses[4:]] == [False, True, False]
        assert api.control("GET", "/health").status_code == 200  # never limited
        time.sleep(int(responses[-1].headers["X-RateLimit-Reset"]) + 0.05)
        assert api.get("/runs").status_code == 200


def test_rate_limit_runtime_changes(fresh: Emulator, fapi: Api) -> None:
    assert not any(h in fapi.get("/runs").headers for h in RATE_HEADERS)
    fresh.rate_limit = "1000/60"
    assert fresh.rate_limit == (1000, 60.0)
    response = fapi.get("/runs")
    assert response.headers["X-RateLimit-Limit"] == "1000"
    assert response.headers["X-RateLimit-Period"] == "60"
    forbidden = requests.get(f"{fresh.base_url}{ML}/runs", timeout=10)
    assert forbidden.status_code == 403 and "X-RateLimit-Remaining" in forbidden.headers
    fresh.rate_limit = None
    assert "X-RateLimit-Limit" not in fapi.get("/runs").headers


def test_rate_limiter_windows_are_calendar_aligned() -> None:
    now = [100.5]
    limiter = RateLimiter((2, 10), clock=lambda: now[0])
    assert [limiter.acquire("x").allowed for _ in range(3)] == [True, True, False]
    assert limiter.peek("x")["X-RateLimit-Reset"] == "10"
    now[0] = 109.99
    assert not limiter.acquire("x").allowed
    assert limiter.peek("x")["X-RateLimit-Reset"] == "1"
    now[0] = 110.0
    assert limiter.acquire("x").allowed


@pytest.mark.parametrize("value", ["10", "a/b", "0/1", "5/0", (0, 1), 3])
def test_bad_rate_limits(value: object) -> None:
    with pytest.raises(ValueError):
        parse_rate_limit(value)
