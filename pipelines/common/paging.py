"""Page iteration for JSON:API `page[number]`/`page[size]` lists (Datadog Model Lab) and DRF
limit/offset lists (PostHog).

The base of `page[number]` is never assumed: the first request carries no page number and
every following one uses the server's `meta.page.next_number`. When `meta.page.total` drops
between two pages, rows were deleted ahead of the reader and the rows at the boundary slid
onto the page just read; that page is read once more so none is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ApiError
from .http import ApiClient
from .stats import ResourceStats

logger = logging.getLogger("labsync.paging")

MAX_PAGES = 1_000_000


@dataclass
class Page:
    """One list page: its rows and the server's paging metadata."""

    data: list[dict[str, Any]]
    number: int | None
    total: int | None


def iter_number_pages(
    client: ApiClient,
    path: str,
    params: Mapping[str, Any],
    *,
    page_size: int,
    stats: ResourceStats,
) -> Iterator[Page]:
    """Yield pages until `next_number` is null/absent or a page comes back empty."""
    base = {**params, "page[size]": page_size}
    number: int | None = None
    previous_number: int | None = None
    previous_total: int | None = None
    reread_for_total: int | None = None
    for _ in range(MAX_PAGES):
        query = base if number is None else {**base, "page[number]": number}
        body = client.get_json(path, query, stats=stats)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ApiError(f"unexpected response for GET {path}: no 'data' list")
        page_meta = (body.get("meta") or {}).get("page") or {}
        total = page_meta.get("total")
        current = page_meta.get("number", number)
        data = body["data"]
        stats.listing(len(data), total if number is None else None)
        yield Page(data=data, number=current, total=total)
        if (
            previous_total is not None
            and total is not None
            and total < previous_total
            and previous_number is not None
            and reread_for_total != total
        ):
            # rows vanished ahead of us: read the previous page again before moving on
            logger.info("%s: total dropped %d -> %d while paging", path, previous_total, total)
            reread_for_total = total
            previous_total = total
            number = previous_number
            continue
        next_number = page_meta.get("next_number")
        if not data or next_number is None:
            return
        if current is not None and next_number <= current:
            raise ApiError(f"GET {path}: server sent next page {next_number} after {current}")
        previous_number, previous_total = current, total
        number = next_number
    raise ApiError(f"GET {path}: more than {MAX_PAGES} pages, giving up")


def iter_offset_pages(
    client: ApiClient,
    path: str,
    params: Mapping[str, Any],
    *,
    page_size: int,
    stats: ResourceStats,
) -> Iterator[Page]:
    """Yield DRF limit/offset pages (`{count, next, results}`) until `next` is null.

    The next offset counts the rows actually served, so a server that caps `limit` is paged
    correctly. When `count` drops by d between two pages, up to d rows slid back across the
    boundary: paging resumes d rows earlier (callers drop the rows they see twice).
    `Page.number` is the page's offset.
    """
    offset = 0
    previous_total: int | None = None
    for _ in range(MAX_PAGES):
        body = client.get_json(path, {**params, "limit": page_size, "offset": offset}, stats=stats)
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise ApiError(f"unexpected response for GET {path}: no 'results' list")
        total = body.get("count") if isinstance(body.get("count"), int) else None
        rows = body["results"]
        stats.listing(len(rows), total if offset == 0 else None)
        yield Page(data=rows, number=offset, total=total)
        if not rows or body.get("next") is None:
            return
        next_offset = offset + len(rows)
        if previous_total is not None and total is not None and total < previous_total:
            logger.info("%s: count dropped %d -> %d while paging", path, previous_total, total)
            next_offset = max(offset - (previous_total - total), 0)
        previous_total = total
        offset = next_offset
    raise ApiError(f"GET {path}: more than {MAX_PAGES} pages, giving up")
