"""How PostHog's error answers are read: the 429 wait in the body, scope and key errors."""

from __future__ import annotations

import orjson
from urllib3 import HTTPResponse

from pipelines.common.errors import ApiError
from pipelines.posthog.client import explain, throttle_wait


def response(status: int, body: object) -> HTTPResponse:
    return HTTPResponse(body=body if isinstance(body, bytes) else orjson.dumps(body), status=status)


def test_throttle_wait_is_read_from_the_detail() -> None:
    throttled = {
        "type": "throttled_error",
        "code": "throttled",
        "detail": "Request was throttled. Expected available in 37 seconds.",
        "attr": None,
    }
    assert throttle_wait(response(429, throttled)) == 37.0
    assert (
        throttle_wait(response(429, {**throttled, "detail": "Expected available in 1.5 second."}))
        == 1.5
    )
    concurrency = {**throttled, "detail": "Exceeded maximum concurrency limit: 3 for key: x"}
    assert throttle_wait(response(429, concurrency)) is None
    assert throttle_wait(response(429, b"<html>busy</html>")) is None


def test_scope_and_key_errors_say_what_to_fix() -> None:
    missing = ApiError(
        "PostHog answered 403 for GET /api/environments/1/datasets/?limit=100: "
        "API key missing required scope 'dataset:read'",
        status=403,
    )
    assert str(explain(missing, "datasets")).startswith(
        "the PostHog API key is missing the scope 'dataset:read' needed to read datasets"
    )
    other = ApiError("PostHog answered 403 for GET /x: You don't have access", status=403)
    assert "dataset:read, evaluation:read, query:read" in str(explain(other, "datasets"))
    rejected = explain(ApiError("PostHog answered 401 for GET /x", status=401), "evaluations")
    assert "rejected the API key" in str(rejected) and rejected.status == 401
    server = ApiError("PostHog answered 400 for POST /query/: bad", status=400)
    assert explain(server, "evaluation results") is server
