"""DRF limit/offset paging against a real loopback server whose rows change mid-listing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pipelines.common.errors import ApiError
from pipelines.common.http import ApiClient, RetryPolicy
from pipelines.common.paging import iter_offset_pages
from pipelines.common.stats import ResourceStats


class Listing:
    """A DRF list over `rows`; `on_request(n)` may mutate the rows before request n answers."""

    def __init__(self, rows: list[str], cap: int | None = None) -> None:
        self.rows = rows
        self.cap = cap
        self.requests: list[dict[str, list[str]]] = []
        self.on_request = lambda n: None

    def answer(self, query: dict[str, list[str]]) -> dict[str, Any]:
        self.requests.append(query)
        self.on_request(len(self.requests))
        limit = int(query["limit"][0])
        if self.cap:
            limit = min(limit, self.cap)
        offset = int(query.get("offset", ["0"])[0])
        page = self.rows[offset : offset + limit]
        more = offset + limit < len(self.rows)
        return {
            "count": len(self.rows),
            "next": f"http://x/?limit={limit}&offset={offset + limit}" if more else None,
            "previous": None,
            "results": [{"id": r} for r in page],
        }


@pytest.fixture
def listing() -> Iterator[tuple[str, Listing]]:
    state = Listing([f"r{i:02d}" for i in range(25)])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            payload = state.answer(parse_qs(urlsplit(self.path).query))
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()


def read_ids(base: str, page_size: int = 10, params: dict[str, Any] | None = None) -> list[str]:
    client = ApiClient(base, {}, policy=RetryPolicy(max_attempts=1))
    pages = iter_offset_pages(
        client, "/items/", params or {}, page_size=page_size, stats=ResourceStats("t")
    )
    return [row["id"] for page in pages for row in page.data]


def test_reads_every_page_keeping_params(listing: tuple[str, Listing]) -> None:
    base, state = listing
    assert read_ids(base, params={"order_by": "-updated_at"}) == state.rows
    assert [q["offset"] for q in state.requests] == [["0"], ["10"], ["20"]]
    assert all(q["order_by"] == ["-updated_at"] for q in state.requests)


def test_a_server_capping_the_limit_is_paged_by_rows_served(listing: tuple[str, Listing]) -> None:
    base, state = listing
    state.cap = 4
    assert read_ids(base, page_size=10) == state.rows
    assert len(state.requests) == 7


def test_rows_deleted_behind_the_reader_are_not_skipped(listing: tuple[str, Listing]) -> None:
    base, state = listing
    original = list(state.rows)

    def delete_two_read_rows(n: int) -> None:
        if n == 2:  # before page 2 answers, two rows of page 1 vanish: the rest slide back
            del state.rows[0:2]

    state.on_request = delete_two_read_rows
    seen = read_ids(base)
    assert set(seen) == set(original)  # nothing skipped (r10, r11 slid onto page 1)
    assert len(state.requests) == 4  # page 2 was followed by a re-read two rows earlier


def test_a_non_list_answer_is_an_error(listing: tuple[str, Listing]) -> None:
    base, state = listing
    state.answer = lambda query: {"detail": "nope"}  # type: ignore[method-assign]
    with pytest.raises(ApiError, match="no 'results' list"):
        read_ids(base)
