"""HTTP access to the Datadog LLM Observability API: cursor-paged lists and per-parent reads.

Every list pages with `page[cursor]` = the previous page's `meta.after` until that is null or
absent. A parent deleted between two requests answers 404: the readers below return None (or
raise `Gone` mid-listing) so the sync skips it instead of failing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..common.datadog import AUTH_HINT, DatadogCredentials
from ..common.errors import ApiError
from ..common.http import ApiClient, RetryPolicy
from ..common.stats import ResourceStats, SyncStats
from .settings import (
    DEFAULT_EVENTS_PAGE_LIMIT,
    DEFAULT_EXPERIMENTS_PAGE_LIMIT,
    DEFAULT_PAGE_LIMIT,
    DEFAULT_RECORDS_PAGE_LIMIT,
    EXPERIMENTS_PATH,
    PROJECTS_PATH,
    QUEUES_PATH,
    dataset_path,
    datasets_path,
    events_path,
    queue_path,
)

MAX_PAGES = 1_000_000
Resource = dict[str, Any]


class Gone(Exception):
    """The parent of a listing answered 404: it was deleted while the sync ran."""


def _is_absent(exc: ApiError) -> bool:
    return exc.status == 404


def _list_of(body: Any, path: str) -> list[Resource]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise ApiError(f"unexpected response for GET {path}: no 'data' list")
    return data


def _next_cursor(body: Mapping[str, Any]) -> str | None:
    meta = body.get("meta")
    after = meta.get("after") if isinstance(meta, dict) else None
    return str(after) if after not in (None, "") else None


class LlmObsClient:
    """Thin endpoint helpers over a shared, retrying `ApiClient`."""

    def __init__(
        self,
        credentials: DatadogCredentials,
        policy: RetryPolicy | None = None,
        *,
        page_limit: int = DEFAULT_PAGE_LIMIT,
        records_page_limit: int = DEFAULT_RECORDS_PAGE_LIMIT,
        experiments_page_limit: int = DEFAULT_EXPERIMENTS_PAGE_LIMIT,
        events_page_limit: int = DEFAULT_EVENTS_PAGE_LIMIT,
    ) -> None:
        self.api = ApiClient(
            credentials.base_url,
            credentials.headers(),
            policy=policy,
            vendor="Datadog LLM Observability",
            auth_hint=AUTH_HINT,
        )
        self.page_limit = page_limit
        self.records_page_limit = records_page_limit
        self.experiments_page_limit = experiments_page_limit
        self.events_page_limit = events_page_limit

    # paging ---------------------------------------------------------------------------------

    def _bodies(
        self, path: str, params: Mapping[str, Any], limit: int, stats: ResourceStats
    ) -> Iterator[dict[str, Any]]:
        """Each page's body; raises `Gone` when the first page answers 404."""
        cursor: str | None = None
        used: set[str] = set()
        for _ in range(MAX_PAGES):
            query = {**params, "page[limit]": limit}
            if cursor is not None:
                query["page[cursor]"] = cursor
            try:
                body = self.api.get_json(path, query, stats=stats)
            except ApiError as exc:
                if _is_absent(exc):
                    raise Gone(path) from exc
                raise
            if not isinstance(body, dict):
                raise ApiError(f"unexpected response for GET {path}: not a JSON object")
            yield body
            cursor = _next_cursor(body)
            if cursor is None:
                return
            if cursor in used:  # a server bug would otherwise page forever
                raise ApiError(f"GET {path}: the server sent the same page cursor twice")
            used.add(cursor)
        raise ApiError(f"GET {path}: more than {MAX_PAGES} pages, giving up")

    def pages(
        self, path: str, params: Mapping[str, Any], limit: int, stats: ResourceStats
    ) -> Iterator[list[Resource]]:
        for body in self._bodies(path, params, limit, stats):
            yield _list_of(body, path)

    def _all(
        self, path: str, params: Mapping[str, Any], limit: int, stats: ResourceStats
    ) -> list[Resource] | None:
        """Every row of a listing, or None when its parent is gone."""
        try:
            return [row for page in self.pages(path, params, limit, stats) for row in page]
        except Gone:
            return None

    def _get(
        self, path: str, stats: ResourceStats, params: Mapping[str, Any] | None = None
    ) -> Any | None:
        try:
            return self.api.get_json(path, params, stats=stats)
        except ApiError as exc:
            if _is_absent(exc):
                return None
            raise

    # projects and datasets ------------------------------------------------------------------

    def projects(self, stats: ResourceStats) -> list[Resource]:
        return self._all(PROJECTS_PATH, {}, self.page_limit, stats) or []

    def datasets(self, project_id: str, stats: ResourceStats) -> list[Resource] | None:
        return self._all(datasets_path(project_id), {}, self.page_limit, stats)

    def dataset_versions(
        self, project_id: str, dataset_id: str, stats: ResourceStats
    ) -> list[Resource] | None:
        path = f"{dataset_path(project_id, dataset_id)}/versions"
        body = self._get(path, stats)
        return None if body is None else _list_of(body, path)

    def draft_state(
        self, project_id: str, dataset_id: str, stats: ResourceStats
    ) -> dict[str, Any] | None:
        """The lock holder's draft state, or None when nobody holds the lock.

        The API models no "unlocked" answer (reference §D.8): a 404, a 204, `data: null` and
        a draft state without a user all mean unlocked.
        """
        path = f"{dataset_path(project_id, dataset_id)}/draft_state"
        try:
            body = self.api.get_json(path, stats=stats)
        except ApiError as exc:
            if exc.status in (204, 404):
                return None
            raise
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            return None
        attributes = data.get("attributes")
        if not isinstance(attributes, dict):
            return None
        user = attributes.get("user")
        if not isinstance(user, dict) or not user.get("id"):
            return None
        return attributes

    def record_pages(
        self, project_id: str, dataset_id: str, stats: ResourceStats
    ) -> Iterator[list[Resource]]:
        """Pages of the current version's records; raises `Gone` if the dataset vanished."""
        path = f"{dataset_path(project_id, dataset_id)}/records"
        return self.pages(path, {}, self.records_page_limit, stats)

    # experiments ----------------------------------------------------------------------------

    def experiment_pages(
        self, project_id: str, stats: ResourceStats, *, deleted: bool = False
    ) -> Iterator[list[Resource]]:
        """Experiments of a project, newest-created first (soft-deleted ones only if `deleted`).

        A project that vanished yields nothing.
        """
        params: dict[str, Any] = {"filter[project_id]": project_id, "include[user_data]": "true"}
        if deleted:
            params["filter[is_deleted]"] = "true"
        try:
            yield from self.pages(EXPERIMENTS_PATH, params, self.experiments_page_limit, stats)
        except Gone:
            return

    def experiments_by_id(
        self, project_id: str, ids: Sequence[str], stats: ResourceStats, *, deleted: bool = False
    ) -> list[Resource]:
        """The experiments among `ids` the API still lists (`filter[id]` repeated)."""
        params: dict[str, Any] = {
            "filter[project_id]": project_id,
            "filter[id]": list(ids),
            "include[user_data]": "true",
        }
        if deleted:
            params["filter[is_deleted]"] = "true"
        rows = self._all(EXPERIMENTS_PATH, params, self.experiments_page_limit, stats) or []
        wanted = set(ids)
        return [row for row in rows if str(row.get("id")) in wanted]

    def events(
        self, experiment_id: str, stats: ResourceStats
    ) -> tuple[list[Resource], list[Resource]] | None:
        """(spans, summary metrics) of an experiment, or None when it vanished."""
        path = events_path(experiment_id)
        spans: list[Resource] = []
        summaries: list[Resource] = []
        try:
            for body in self._bodies(path, {}, self.events_page_limit, stats):
                data = body.get("data")
                attributes = data.get("attributes") if isinstance(data, dict) else None
                if not isinstance(attributes, dict):
                    raise ApiError(f"unexpected response for GET {path}: no 'data.attributes'")
                spans.extend(attributes.get("spans") or [])
                summaries.extend(attributes.get("summary_metrics") or [])
        except Gone:
            return None
        return spans, summaries

    # annotation queues ----------------------------------------------------------------------

    def queues(self, stats: ResourceStats) -> list[Resource]:
        """Every annotation queue of the organisation (the list is not paginated)."""
        return _list_of(self.api.get_json(QUEUES_PATH, stats=stats), QUEUES_PATH)

    def label_schemas(self, queue_id: str, stats: ResourceStats) -> list[Resource] | None:
        body = self._get(f"{queue_path(queue_id)}/label-schema", stats)
        if body is None:
            return None
        attributes = (body.get("data") or {}).get("attributes") or {}
        return (attributes.get("annotation_schema") or {}).get("label_schemas") or []

    def interactions(self, queue_id: str, stats: ResourceStats) -> list[Resource] | None:
        """Every interaction of a queue with its annotations, or None when the queue vanished."""
        path = f"{queue_path(queue_id)}/annotated-interactions"
        body = self._get(path, stats)
        if body is None:
            return None
        data = body.get("data") if isinstance(body, dict) else None
        attributes = data.get("attributes") if isinstance(data, dict) else None
        items = attributes.get("annotated_interactions") if isinstance(attributes, dict) else None
        if not isinstance(items, list):
            raise ApiError(f"unexpected response for GET {path}: no annotated_interactions list")
        return items


class ProjectListing:
    """The projects, listed once per sync for every resource that needs them."""

    def __init__(self, api: LlmObsClient, counters: SyncStats) -> None:
        self._api = api
        self._counters = counters
        self._lock = threading.Lock()
        self._projects: list[Resource] | None = None

    def get(self) -> list[Resource]:
        with self._lock:
            if self._projects is None:
                self._projects = self._api.projects(self._counters["projects"])
            return self._projects
