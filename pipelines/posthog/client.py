"""HTTP access to PostHog: the LLM analytics list endpoints and the Query API.

PostHog states a 429's wait only in the body (`"detail": "Request was throttled. Expected
available in N seconds."`), so the shared client is given a hook that reads it. A 401 or a
403 for a missing scope becomes an error that says which setting or scope to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from urllib3 import BaseHTTPResponse

from ..common.errors import ApiError
from ..common.http import ApiClient, RetryPolicy
from ..common.paging import Page, iter_offset_pages
from ..common.stats import ResourceStats
from .credentials import API_KEY_ENV, PosthogCredentials
from .settings import (
    CRUD_RATE_LIMITS,
    DATASET_ITEMS_PATH,
    DATASETS_PATH,
    DEFAULT_PAGE_SIZE,
    EVALUATIONS_PATH,
    ID_FILTER_BATCH,
    QUERY_PATH,
    QUERY_RATE_LIMITS,
    REQUIRED_SCOPES,
)

_EXPECTED_IN = re.compile(r"available in (\d+(?:\.\d+)?) second", re.IGNORECASE)
_SCOPE = re.compile(r"scope '([^']+)'")


def throttle_wait(response: BaseHTTPResponse) -> float | None:
    """Seconds to wait from a PostHog 429 body's `detail`, if it says."""
    try:
        body = orjson.loads(response.data)
    except orjson.JSONDecodeError:
        return None
    detail = body.get("detail") if isinstance(body, dict) else None
    match = _EXPECTED_IN.search(detail) if isinstance(detail, str) else None
    return float(match.group(1)) if match else None


def explain(exc: ApiError, what: str) -> ApiError:
    """A clearer error for the statuses a user can fix: a bad key or a missing scope."""
    if exc.status == 401:
        return ApiError(
            f"PostHog rejected the API key while reading {what} (HTTP 401): check "
            f"SOURCES__POSTHOG__API_KEY / {API_KEY_ENV} holds a valid personal API key",
            status=401,
            url=exc.url,
        )
    if exc.status == 403:
        match = _SCOPE.search(str(exc))
        if match:
            return ApiError(
                f"the PostHog API key is missing the scope '{match.group(1)}' needed to read "
                f"{what} (HTTP 403); give the key the scopes {', '.join(REQUIRED_SCOPES)}",
                status=403,
                url=exc.url,
            )
        return ApiError(
            f"PostHog refused access to {what} (HTTP 403): {exc}; check that the key may read "
            "this project and has the scopes " + ", ".join(REQUIRED_SCOPES),
            status=403,
            url=exc.url,
        )
    return exc


@dataclass(frozen=True)
class QueryResult:
    """One Query API answer: rows as dicts keyed by column name."""

    rows: list[dict[str, Any]]
    has_more: bool | None


class PosthogClient:
    """Endpoint helpers over two retrying clients: CRUD lists and the Query API have
    separate rate limits."""

    def __init__(
        self,
        credentials: PosthogCredentials,
        policy: RetryPolicy | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        self.api, self.query_api = (
            ApiClient(
                credentials.base_url,
                credentials.headers(),
                policy=policy,
                vendor="PostHog",
                throttle_wait=throttle_wait,
                rate_limits=limits,
            )
            for limits in (CRUD_RATE_LIMITS, QUERY_RATE_LIMITS)
        )
        self.project_id = credentials.project_id
        self.page_size = page_size

    def _path(self, template: str) -> str:
        return template.format(project_id=self.project_id)

    def _pages(
        self, template: str, params: dict[str, Any], what: str, stats: ResourceStats
    ) -> Iterator[Page]:
        pages = iter_offset_pages(
            self.api, self._path(template), params, page_size=self.page_size, stats=stats
        )
        try:
            yield from pages
        except ApiError as exc:
            raise explain(exc, what) from exc

    def dataset_pages(self, order_by: str, stats: ResourceStats) -> Iterator[Page]:
        return self._pages(DATASETS_PATH, {"order_by": order_by}, "datasets", stats)

    def evaluation_pages(self, order_by: str, stats: ResourceStats) -> Iterator[Page]:
        return self._pages(EVALUATIONS_PATH, {"order_by": order_by}, "evaluations", stats)

    def item_pages(self, stats: ResourceStats) -> Iterator[Page]:
        """Every item of the project, newest created first (the only order the API has)."""
        return self._pages(DATASET_ITEMS_PATH, {}, "dataset items", stats)

    def _by_id(
        self, template: str, ids: Sequence[str], what: str, stats: ResourceStats
    ) -> dict[str, dict[str, Any]]:
        wanted = set(ids)
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), ID_FILTER_BATCH):
            batch = ",".join(ids[start : start + ID_FILTER_BATCH])
            for page in self._pages(template, {"id__in": batch}, what, stats):
                found.update((row["id"], row) for row in page.data if row.get("id") in wanted)
        return found

    def datasets_by_id(self, ids: Sequence[str], stats: ResourceStats) -> dict[str, dict[str, Any]]:
        """The datasets among `ids` the API still serves (soft-deleted ones are hidden)."""
        return self._by_id(DATASETS_PATH, ids, "datasets", stats)

    def alive_datasets(self, ids: Sequence[str], stats: ResourceStats) -> set[str]:
        return set(self.datasets_by_id(ids, stats))

    def alive_evaluations(self, ids: Sequence[str], stats: ResourceStats) -> set[str]:
        return set(self._by_id(EVALUATIONS_PATH, ids, "evaluations", stats))

    def alive_items(self, ids: Sequence[str], stats: ResourceStats) -> set[str]:
        """Items have no id filter: each is retrieved; only a 404 means gone."""
        alive = set()
        for item_id in ids:
            try:
                self.api.get_json(f"{self._path(DATASET_ITEMS_PATH)}{item_id}/", stats=stats)
                alive.add(item_id)
            except ApiError as exc:
                if exc.status != 404:
                    raise explain(exc, "dataset items") from exc
        return alive

    def query(self, sql: str, stats: ResourceStats) -> QueryResult:
        """Run one HogQL query; `force_blocking` so a cached answer never hides new events."""
        body = {"query": {"kind": "HogQLQuery", "query": sql}, "refresh": "force_blocking"}
        try:
            answer = self.query_api.post_json(self._path(QUERY_PATH), body, stats=stats)
        except ApiError as exc:
            raise explain(exc, "evaluation results (Query API)") from exc
        if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
            raise ApiError("unexpected Query API answer: no 'results' list")
        columns = answer.get("columns")
        rows = answer["results"]
        if not isinstance(columns, list) or any(
            not isinstance(row, list) or len(row) != len(columns) for row in rows
        ):
            raise ApiError("unexpected Query API answer: rows do not match 'columns'")
        has_more = answer.get("hasMore")
        return QueryResult(
            rows=[dict(zip(columns, row, strict=True)) for row in rows],
            has_more=has_more if isinstance(has_more, bool) else None,
        )
