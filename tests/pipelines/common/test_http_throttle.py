"""ApiClient over a real loopback server: POST bodies, waits read from 429 bodies, throttle
budgets that keep throttling alone from failing a request, and the client-side rate cap."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from urllib3 import BaseHTTPResponse

from pipelines.common.errors import ApiError, ConfigurationError
from pipelines.common.http import ApiClient, RetryPolicy, _RateWindow
from pipelines.common.stats import ResourceStats

Answer = tuple[int, dict[str, Any]]


class Script:
    """Answers served in order (the last one repeats); records what was asked."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers
        self.seen: list[tuple[str, str, bytes]] = []

    def next(self, method: str, path: str, body: bytes) -> Answer:
        self.seen.append((method, path, body))
        index = min(len(self.seen) - 1, len(self.answers) - 1)
        return self.answers[index]


@pytest.fixture
def serve() -> Iterator[Callable[[list[Answer]], tuple[str, Script]]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answers: list[Answer]) -> tuple[str, Script]:
        script = Script(answers)

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = script.next(self.command, self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", script

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


THROTTLED = (429, {"type": "throttled_error", "detail": "Expected available in 0.01 seconds."})
FAST = RetryPolicy(max_attempts=2, backoff_factor_s=0.001, max_delay_s=0.05)


def wait_from_body(response: BaseHTTPResponse) -> float | None:
    return 0.01 if b"Expected available" in response.data else None


def test_post_json_sends_the_body_and_parses_the_answer(serve: Any) -> None:
    base, script = serve([(200, {"results": [[1]]})])
    client = ApiClient(base, {"Authorization": "Bearer k"}, policy=FAST)
    answer = client.post_json(
        "/query/", {"query": {"kind": "HogQLQuery"}}, stats=ResourceStats("q")
    )
    assert answer == {"results": [[1]]}
    method, path, body = script.seen[0]
    assert (method, path, json.loads(body)) == (
        "POST",
        "/query/",
        {"query": {"kind": "HogQLQuery"}},
    )


def test_throttle_budget_keeps_429s_from_using_up_attempts(serve: Any) -> None:
    base, _ = serve([THROTTLED] * 5 + [(200, {"ok": True})])
    stats = ResourceStats("r")
    policy = RetryPolicy(
        max_attempts=2, backoff_factor_s=0.001, max_delay_s=0.05, throttle_budget_s=10.0
    )
    client = ApiClient(base, {}, policy=policy, throttle_wait=wait_from_body)
    assert client.get_json("/x", stats=stats) == {"ok": True}
    assert (stats.requests, stats.throttled, stats.retries) == (6, 5, 5)


def test_without_a_budget_429s_count_as_attempts(serve: Any) -> None:
    base, _ = serve([THROTTLED] * 5 + [(200, {"ok": True})])
    client = ApiClient(base, {}, policy=FAST, throttle_wait=wait_from_body)
    with pytest.raises(ApiError, match="still failing after 2 attempts: HTTP 429"):
        client.get_json("/x", stats=ResourceStats("r"))


def test_exhausted_throttle_budget_fails_naming_the_throttling(serve: Any) -> None:
    base, _ = serve([THROTTLED])
    policy = RetryPolicy(
        max_attempts=2, backoff_factor_s=0.001, max_delay_s=0.05, throttle_budget_s=0.05
    )
    client = ApiClient(base, {}, policy=policy, throttle_wait=wait_from_body)
    with pytest.raises(ApiError, match=r"throttled: HTTP 429"):
        client.get_json("/x", stats=ResourceStats("r"))


def test_errors_never_carry_the_post_body(serve: Any) -> None:
    base, _ = serve([(400, {"detail": "bad query"})])
    client = ApiClient(base, {}, policy=FAST)
    with pytest.raises(ApiError) as caught:
        client.post_json("/query/", {"query": "SELECT secret_marker"}, stats=ResourceStats("q"))
    assert "bad query" in str(caught.value) and "secret_marker" not in str(caught.value)
    assert caught.value.status == 400


def test_rate_window_admits_the_limit_then_waits() -> None:
    window = _RateWindow(3, 0.2)
    assert [window.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert window.acquire() > 0.0  # the 4th request waited for the oldest to leave the window


@pytest.mark.parametrize("base_url", ["http://", "http://api.example.com:port"])
def test_a_base_url_without_a_usable_host_is_a_configuration_error(base_url: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid Datadog base URL"):
        ApiClient(base_url, {}, vendor="Datadog")
