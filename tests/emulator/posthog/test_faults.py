"""The emulator's fault injection applies to PostHog routes exactly as to Datadog's."""

from __future__ import annotations

import pytest
import requests

from emulator import Emulator

from .conftest import ANCHOR, ENV, PhApi
from .test_hogql import shape


def test_injected_faults_on_posthog_paths(fresh: Emulator, fapi: PhApi) -> None:
    fresh.faults.inject("503", times=2, path_pattern="/dataset_items")
    for _ in range(2):
        failed = fapi.get("/dataset_items/")
        assert failed.status_code == 503
        assert failed.json()["type"] == "server_error"  # PostHog's error shape, not Datadog's
    assert fapi.get("/dataset_items/").status_code == 200
    fresh.faults.inject("429", path_pattern="/query/$")
    throttled = fapi.query(shape(limit=1))
    assert throttled.status_code == 429
    assert "X-RateLimit-Limit" not in throttled.headers  # PostHog sends no rate-limit headers
    assert throttled.json()["code"] == "throttled"
    assert "Expected available in 1 second" in throttled.json()["detail"]
    assert fresh.requests[-1].fault == "429" and fresh.requests[-1].path == f"{ENV}/query/"


def test_truncate_and_drop(fresh: Emulator, fapi: PhApi) -> None:
    fresh.faults.inject("truncate", path_pattern="/datasets")
    with pytest.raises(requests.exceptions.RequestException):
        fapi.get("/datasets/").json()
    fresh.faults.inject("drop", path_pattern="/evaluations")
    with pytest.raises(requests.exceptions.ConnectionError):
        PhApi(fresh).get("/evaluations/")
    assert PhApi(fresh).get("/evaluations/").status_code == 200


def test_random_faults_from_spec() -> None:
    with Emulator(faults="500=1.0,seed=3", posthog_now=ANCHOR, runs=5) as emu:
        api = PhApi(emu)
        assert {api.get("/datasets/").status_code for _ in range(3)} == {500}
        emu.faults.configure(None)
        assert api.get("/datasets/").status_code == 200


def test_requests_are_logged_without_the_key(fresh: Emulator, fapi: PhApi) -> None:
    fresh.clear_requests()
    fapi.get("/datasets/", {"limit": 1})
    (record,) = fresh.requests
    assert (record.method, record.path, record.status) == ("GET", f"{ENV}/datasets/", 200)
    assert "phx_" not in repr(record)
