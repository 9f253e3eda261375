"""HTTP access to the Datadog Model Lab API: list pages, runs by id, children of a run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ..common.datadog import DatadogCredentials
from ..common.errors import ApiError
from ..common.http import ApiClient, RetryPolicy
from ..common.paging import Page, iter_number_pages
from ..common.stats import ResourceStats
from .settings import FILTER_ID_BATCH, PAGE_SIZE, PROJECTS_PATH, RUNS_PATH


class ModelLabClient:
    """Thin endpoint helpers over a shared, retrying `ApiClient`."""

    def __init__(
        self,
        credentials: DatadogCredentials,
        policy: RetryPolicy | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.api = ApiClient(
            credentials.base_url, credentials.headers(), policy=policy, vendor="Datadog Model Lab"
        )
        self.page_size = page_size

    def project_pages(self, sort: str, stats: ResourceStats) -> Iterator[Page]:
        return iter_number_pages(
            self.api, PROJECTS_PATH, {"sort": sort}, page_size=self.page_size, stats=stats
        )

    def run_pages(
        self, stats: ResourceStats, sort: str, filters: dict[str, Any] | None = None
    ) -> Iterator[Page]:
        params = {"sort": sort, **(filters or {})}
        return iter_number_pages(self.api, RUNS_PATH, params, page_size=self.page_size, stats=stats)

    def runs_by_id(self, run_ids: Sequence[str], stats: ResourceStats) -> Iterator[list[dict]]:
        """Re-read runs by id, `FILTER_ID_BATCH` per request; vanished ids are simply absent."""
        for start in range(0, len(run_ids), FILTER_ID_BATCH):
            batch = ",".join(run_ids[start : start + FILTER_ID_BATCH])
            for page in self.run_pages(stats, "-updated_at", {"filter[id]": batch}):
                yield page.data

    def projects_by_id(self, project_ids: Sequence[str], stats: ResourceStats) -> set[str]:
        """Ids among `project_ids` that the API still serves (there is no project id filter)."""
        alive = set()
        for project_id in project_ids:
            try:
                self.api.get_json(f"{PROJECTS_PATH}/{project_id}", stats=stats)
                alive.add(project_id)
            except ApiError as exc:  # only a 404 means gone; anything else must surface
                if exc.status != 404:
                    raise
        return alive

    def child_run_ids(self, parent_run_id: int, stats: ResourceStats) -> list[int]:
        filters = {"filter[parent_run_id]": str(parent_run_id)}
        return [
            int(row["id"])
            for page in self.run_pages(stats, "created_at", filters)
            for row in page.data
        ]
