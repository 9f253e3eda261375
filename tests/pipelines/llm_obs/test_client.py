"""The client's handling of answers the emulator does not give but the API reference allows:
the undefined "unlocked" draft state (§D.8), a parent deleted mid-sync, a looping cursor.
A canned-answer server on loopback stands in for those."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pipelines.common.datadog import DatadogCredentials
from pipelines.common.errors import ApiError
from pipelines.common.http import RetryPolicy
from pipelines.common.stats import ResourceStats
from pipelines.llm_obs.client import LlmObsClient

# path -> (status, body or None); a list of answers is served in turn
Answers = dict[str, Any]


class CannedServer:
    def __init__(self) -> None:
        self.answers: Answers = {}
        self.queries: list[tuple[str, dict[str, list[str]]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                outer.queries.append((url.path, parse_qs(url.query)))
                answer = outer.answers.get(url.path, (404, {"errors": [{"detail": "nope"}]}))
                if isinstance(answer, list):
                    answer = answer.pop(0) if len(answer) > 1 else answer[0]
                status, body = answer
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.api+json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def canned() -> Iterator[CannedServer]:
    server = CannedServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def client_for(server: CannedServer) -> LlmObsClient:
    credentials = DatadogCredentials(server.base_url, "api-key", "app-key")
    return LlmObsClient(credentials, RetryPolicy(max_attempts=2, backoff_factor_s=0.01))


DRAFT = "/api/v2/llm-obs/v1/p1/datasets/d1/draft_state"


@pytest.mark.parametrize(
    "answer",
    [
        (404, {"errors": [{"title": "Generic Error", "detail": "no draft"}]}),
        (204, None),
        (200, {"data": None}),
        (200, {"data": {"id": "d1", "type": "draft_state_data", "attributes": {}}}),
        (
            200,
            {
                "data": {
                    "id": "d1",
                    "type": "draft_state_data",
                    "attributes": {"drafting_since": None, "user": None},
                }
            },
        ),
    ],
)
def test_every_unlocked_shape_reads_as_unlocked(canned: CannedServer, answer: Any) -> None:
    canned.answers[DRAFT] = answer
    assert client_for(canned).draft_state("p1", "d1", ResourceStats("t")) is None


def test_a_lock_reads_with_its_holder(canned: CannedServer) -> None:
    attributes = {"drafting_since": "2024-01-15T10:30:00Z", "user": {"id": "u1", "email": "a@b"}}
    canned.answers[DRAFT] = (200, {"data": {"id": "d1", "attributes": attributes}})
    assert client_for(canned).draft_state("p1", "d1", ResourceStats("t")) == attributes


def test_other_errors_are_not_taken_for_unlocked(canned: CannedServer) -> None:
    canned.answers[DRAFT] = (403, {"errors": [{"detail": "Forbidden"}]})
    with pytest.raises(ApiError, match="403"):
        client_for(canned).draft_state("p1", "d1", ResourceStats("t"))


def test_cursor_pages_follow_meta_after_and_stop_on_a_repeated_cursor(
    canned: CannedServer,
) -> None:
    path = "/api/v2/llm-obs/v1/projects"
    canned.answers[path] = [
        (200, {"data": [{"id": "a"}], "meta": {"after": "c1"}}),
        (200, {"data": [{"id": "b"}], "meta": {"after": "c2"}}),
        (200, {"data": [{"id": "c"}], "meta": {"after": None}}),
    ]
    client = client_for(canned)
    assert [p["id"] for p in client.projects(ResourceStats("t"))] == ["a", "b", "c"]
    cursors = [q.get("page[cursor]") for p, q in canned.queries if p == path]
    assert cursors == [None, ["c1"], ["c2"]]
    canned.answers[path] = [
        (200, {"data": [{"id": "a"}], "meta": {"after": "same"}}),
        (200, {"data": [{"id": "b"}], "meta": {"after": "same"}}),
    ]
    with pytest.raises(ApiError, match="same page cursor twice"):
        client.projects(ResourceStats("t"))


def test_a_parent_deleted_mid_sync_is_skipped_not_fatal(canned: CannedServer) -> None:
    client = client_for(canned)  # every unknown path answers 404
    stats = ResourceStats("t")
    assert client.datasets("gone", stats) is None
    assert client.dataset_versions("gone", "d", stats) is None
    assert client.events("gone", stats) is None
    assert client.interactions("gone", stats) is None
    assert list(client.experiment_pages("gone", stats)) == []


def test_experiment_ids_are_sent_as_repeated_keys(canned: CannedServer) -> None:
    path = "/api/v2/llm-obs/v1/experiments"
    canned.answers[path] = (200, {"data": [{"id": "e1"}, {"id": "other"}], "meta": {}})
    found = client_for(canned).experiments_by_id("p1", ["e1", "e2"], ResourceStats("t"))
    assert [r["id"] for r in found] == ["e1"]  # rows not asked for are ignored
    ((_, sent),) = [(p, q) for p, q in canned.queries if p == path]
    assert sent["filter[id]"] == ["e1", "e2"] and sent["filter[project_id]"] == ["p1"]
