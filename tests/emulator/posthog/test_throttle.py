"""PostHog throttles: sliding windows per key / project, query concurrency, the 429 body."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
import requests

from emulator import Emulator
from emulator.posthog.throttle import (
    DOCUMENTED_CRUD_LIMITS,
    PostHogThrottle,
    QueryConcurrencyExceeded,
    parse_limits,
)

from .conftest import ANCHOR, PhApi
from .test_hogql import shape

DETAIL = re.compile(r"^Request was throttled\. Expected available in (\d+) seconds?\.$")


class FakeClock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limited() -> Iterator[Emulator]:
    """REST limited to 3 requests per minute per key; queries to 2 per minute."""
    with Emulator(
        posthog_now=ANCHOR,
        posthog_rate_limit="3/60",
        posthog_query_rate_limit=(2, 60),
        runs=5,
    ) as emu:
        yield emu


def test_429_body_and_no_retry_after(limited: Emulator) -> None:
    api = PhApi(limited)
    for _ in range(3):
        assert api.get("/datasets/").status_code == 200
    response = api.get("/evaluations/")
    assert response.status_code == 429
    body = response.json()
    assert (body["type"], body["code"], body["attr"]) == ("throttled_error", "throttled", None)
    match = DETAIL.match(body["detail"])
    assert match is not None and 1 <= int(match.group(1)) <= 60
    assert "Retry-After" not in response.headers
    assert not any(h.lower().startswith("x-ratelimit") for h in response.headers)


def test_limit_is_per_key_and_separate_for_queries(limited: Emulator) -> None:
    first, second = PhApi(limited, key="phx_one"), PhApi(limited, key="phx_two")
    for _ in range(3):
        first.get("/datasets/")
    assert first.get("/datasets/").status_code == 429
    assert second.get("/datasets/").status_code == 200  # another key has its own budget
    # the query budget is per project and does not count REST calls
    assert first.query(shape(limit=1)).status_code == 200
    assert second.query(shape(limit=1)).status_code == 200
    third = first.query(shape(limit=1))
    assert third.status_code == 429 and DETAIL.match(third.json()["detail"])


def test_unauthenticated_requests_are_not_counted(limited: Emulator) -> None:
    for _ in range(5):
        assert PhApi(limited, key=None).get("/datasets/").status_code == 401
    assert PhApi(limited).get("/datasets/").status_code == 200


def test_datadog_rate_limit_does_not_touch_posthog() -> None:
    with Emulator(rate_limit=(1, 60), posthog_now=ANCHOR, runs=5) as emu:
        api = PhApi(emu)
        for _ in range(3):
            response = api.get("/datasets/")
            assert response.status_code == 200
            assert "X-RateLimit-Limit" not in response.headers
        headers = {"DD-API-KEY": "k", "DD-APPLICATION-KEY": "a"}
        url = f"{emu.base_url}/api/v2/model-lab-api/projects"
        assert requests.get(url, headers=headers, timeout=10).status_code == 200
        assert requests.get(url, headers=headers, timeout=10).status_code == 429


def test_sliding_window_waits() -> None:
    clock = FakeClock()
    throttle = PostHogThrottle(crud=((2, 60.0), (3, 3600.0)), clock=clock)
    assert throttle.check("crud", "k") is None
    clock.now += 10
    assert throttle.check("crud", "k") is None
    clock.now += 5
    denied = throttle.check("crud", "k")
    assert denied is not None and denied.status == 429
    assert b"Expected available in 45 seconds." in denied.body  # 60 - (15 since the oldest)
    # Like DRF, the hourly window recorded the denied request (it allowed it), so once the
    # minute window has room the hour is full: wait = 3600 - (60 - 0).
    clock.now += 45
    hourly = throttle.check("crud", "k")
    assert hourly is not None and b"Expected available in 3540 seconds." in hourly.body
    clock.now = 1000.0 + 3600 + 0.5
    assert throttle.check("crud", "k") is None
    single = PostHogThrottle(crud=(1, 1.0), clock=clock)
    single.check("crud", "x")
    clock.now += 0.25
    one = single.check("crud", "x")
    assert one is not None and b"Expected available in 1 second." in one.body


def test_parse_limits() -> None:
    assert parse_limits(None) == ()
    assert parse_limits("480/60,4800/3600") == DOCUMENTED_CRUD_LIMITS
    assert parse_limits((5, 1)) == ((5, 1.0),)
    assert parse_limits([(5, 1), "10/60"]) == ((5, 1.0), (10, 60.0))
    for bad in ("fast", "0/60", {"n": 1}):
        with pytest.raises(ValueError):
            parse_limits(bad)


def test_query_concurrency_queues_then_429(fresh: Emulator) -> None:
    throttle = fresh.posthog.throttle
    throttle.configure(query_concurrency=1, queue_seconds=0.05)
    gate = threading.Event()
    throttle.query_gate = gate
    holder: dict[str, requests.Response] = {}

    def run() -> None:
        holder["first"] = PhApi(fresh).query(shape(limit=2))

    worker = threading.Thread(target=run)
    worker.start()
    try:
        for _ in range(500):  # wait until the first query holds the only slot
            if throttle.running_queries() == 1:
                break
            threading.Event().wait(0.01)
        assert throttle.running_queries() == 1
        second = PhApi(fresh).query(shape(limit=2))
        assert second.status_code == 429
        body = second.json()
        assert body["type"] == "throttled_error" and body["code"] == "throttled"
        assert body["detail"].startswith("Exceeded maximum concurrency limit: 1 for key:")
        assert "Retry-After" not in second.headers
    finally:
        gate.set()
        worker.join(timeout=10)
        throttle.query_gate = None
    assert holder["first"].status_code == 200
    assert throttle.running_queries() == 0
    assert PhApi(fresh).query(shape(limit=2)).status_code == 200


def test_query_slot_waits_for_a_free_slot() -> None:
    throttle = PostHogThrottle(query_concurrency=1, queue_seconds=5)
    release = threading.Event()
    entered = threading.Event()

    def hold() -> None:
        with throttle.query_slot("1", "a"):
            entered.set()
            release.wait(5)

    worker = threading.Thread(target=hold)
    worker.start()
    entered.wait(5)
    threading.Timer(0.05, release.set).start()
    with throttle.query_slot("1", "b"):  # queues until the holder leaves, then runs
        assert throttle.running_queries("1") == 1
    worker.join(5)
    throttle.configure(queue_seconds=0)
    with (
        throttle.query_slot("1", "c"),
        pytest.raises(QueryConcurrencyExceeded),
        throttle.query_slot("1", "d"),
    ):
        pass
    with pytest.raises(ValueError, match="positive integer"):
        throttle.configure(query_concurrency=0)
