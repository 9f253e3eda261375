"""HTTP access to the Datadog Model Lab API: list pages, runs by id, children of a run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..common.datadog import AUTH_HINT, DatadogCredentials
from ..common.errors import ApiError
from ..common.http import RetryPolicy
from ..common.paging import Page, iter_number_pages
from ..common.stats import ResourceStats
from .settings import (
    ARTIFACT_CONTENT_PATH,
    DOWNLOAD_CHUNK_BYTES,
    FILTER_ID_BATCH,
    PAGE_SIZE,
    PROJECT_FACET_KEYS_PATH,
    PROJECT_FACET_VALUES_PATH,
    PROJECTS_PATH,
    RUN_FACET_KEYS_PATH,
    RUN_FACET_VALUES_PATH,
    RUNS_PATH,
)
from .streaming import DownloadedFile, StreamingApiClient


class ModelLabClient:
    """Thin endpoint helpers over a shared, retrying `ApiClient`."""

    def __init__(
        self,
        credentials: DatadogCredentials,
        policy: RetryPolicy | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.api = StreamingApiClient(
            credentials.base_url,
            credentials.headers(),
            policy=policy,
            vendor="Datadog Model Lab",
            auth_hint=AUTH_HINT,
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

    # facets and artifacts: single documents; None when the project or run is gone (404)

    def _document(self, path: str, params: dict[str, Any] | None, stats: ResourceStats) -> Any:
        try:
            body = self.api.get_json(path, params, stats=stats)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        data = body.get("data") if isinstance(body, dict) else None
        attributes = data.get("attributes") if isinstance(data, dict) else None
        if not isinstance(attributes, dict):
            raise ApiError(f"unexpected response for GET {path}: no 'data.attributes' object")
        return attributes

    def project_facet_keys(self, stats: ResourceStats) -> dict[str, Any]:
        return self._document(PROJECT_FACET_KEYS_PATH, None, stats) or {}

    def project_facet_values(self, facet_name: str, stats: ResourceStats) -> dict[str, Any] | None:
        params = {"facet_type": "tag", "facet_name": facet_name}
        return self._document(PROJECT_FACET_VALUES_PATH, params, stats)

    def run_facet_keys(self, project_id: int, stats: ResourceStats) -> dict[str, Any] | None:
        return self._document(RUN_FACET_KEYS_PATH, {"filter[project_id]": project_id}, stats)

    def run_facet_values(
        self, project_id: int, facet_type: str, facet_name: str, stats: ResourceStats
    ) -> dict[str, Any] | None:
        params = {
            "filter[project_id]": project_id,
            "facet_type": facet_type,
            "facet_name": facet_name,
        }
        return self._document(RUN_FACET_VALUES_PATH, params, stats)

    def run_artifact_level(
        self, run_id: int, path: str, stats: ResourceStats
    ) -> dict[str, Any] | None:
        """One directory level of a run's artifacts (`path` "" is the run's artifact root)."""
        params = {"path": path} if path else None
        return self._document(f"{RUNS_PATH}/{run_id}/artifacts", params, stats)

    def project_artifacts(self, project_id: int, stats: ResourceStats) -> list[Any] | None:
        """Every file under a project's artifact root (flat and unpaginated)."""
        attributes = self._document(f"{PROJECTS_PATH}/{project_id}/artifacts", None, stats)
        if attributes is None:
            return None
        files = attributes.get("files")
        if not isinstance(files, list):
            raise ApiError(f"unexpected artifact listing for project {project_id}: no 'files'")
        return files

    def download_artifact(
        self, project_id: int, artifact_path: str, destination: Path, stats: ResourceStats
    ) -> DownloadedFile:
        """Stream one artifact file to `destination` (never whole in memory)."""
        params = {"project_id": str(project_id), "artifact_path": artifact_path}
        return self.api.download(
            ARTIFACT_CONTENT_PATH,
            params,
            destination,
            stats=stats,
            chunk_bytes=DOWNLOAD_CHUNK_BYTES,
        )
