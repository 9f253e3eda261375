"""Model Lab facets: the keys and values the API offers for filtering, kept as snapshots.

A snapshot is what one scope offers at sync time: the org-wide project facets (`_snapshot`
"project") or one project's run facets (`_snapshot` "run:<project_id>"). Rows are merged on
`_snapshot`, so a refreshed snapshot replaces the previous one; `facet_snapshots` records when
each was taken and staging keeps only rows stamped with that time (a snapshot that became
empty leaves no stale rows behind). Values are fetched per project x key with a bounded
thread pool that shares the client, so its rate-limit pacing applies to every request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from ..common.arrow import TIMESTAMP, Field, build_table
from ..common.errors import ApiError, SchemaDriftError
from ..common.stats import ResourceStats
from .client import ModelLabClient
from .settings import FACET_KEY_TYPES, FACET_PROJECTS_PER_BATCH, RUN_ATTRIBUTE_FACETS

logger = logging.getLogger("labsync")

SCOPE_PROJECT = "project"
SCOPE_RUN = "run"

SNAPSHOT_FIELDS = (
    Field("_snapshot", "text"),
    Field("scope", "text"),
    Field("project_id", "int"),
    Field("key_count", "int"),
    Field("value_count", "int"),
)
KEY_FIELDS = (
    Field("_snapshot", "text"),
    Field("scope", "text"),
    Field("project_id", "int"),
    Field("facet_type", "text"),
    Field("facet_name", "text"),
    Field("_position", "int"),
)
VALUE_FIELDS = (
    Field("_snapshot", "text"),
    Field("scope", "text"),
    Field("project_id", "int"),
    Field("facet_type", "text"),
    Field("facet_name", "text"),
    Field("value", "text"),
    Field("numeric_min", "float"),
    Field("numeric_max", "float"),
    Field("_position", "int"),
)
STAT_RANGE_FIELDS = (
    Field("_snapshot", "text"),
    Field("project_id", "int"),
    Field("facet_name", "text"),
    Field("stat", "text"),
    Field("min", "float"),
    Field("max", "float"),
)


@dataclass
class FacetSnapshot:
    """Every key of one scope and the values the API gave for them."""

    scope: str
    project_id: int | None
    keys: list[tuple[str, str]] = field(default_factory=list)  # (facet_type, facet_name)
    # (facet_type, facet_name, attributes of the facet-values response)
    values: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def snapshot_id(self) -> str:
        return SCOPE_PROJECT if self.scope == SCOPE_PROJECT else f"{SCOPE_RUN}:{self.project_id}"


def parse_facet_keys(
    attributes: dict[str, Any], table: str, owner: object
) -> list[tuple[str, str]]:
    """(facet_type, facet_name) pairs of a facet-keys response, in the API's order."""
    keys: list[tuple[str, str]] = []
    for attribute, facet_type in FACET_KEY_TYPES.items():
        names = attributes.get(attribute)
        if names is None:  # the API sends `metrics: null` for project facet keys
            continue
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SchemaDriftError(table, attribute, "list of strings", names, owner)
        keys.extend((facet_type, name) for name in names)
    return keys


class FacetFetcher:
    """Fetches facet snapshots with at most `workers` requests in flight."""

    def __init__(self, client: ModelLabClient, stats: ResourceStats, workers: int) -> None:
        self.client = client
        self.stats = stats
        self.pool = ThreadPoolExecutor(max_workers=max(workers, 1))
        self._unsupported_attributes: set[str] = set()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def project_snapshot(self) -> FacetSnapshot:
        """Org-wide project facet keys, and the values of every tag key."""
        attributes = self.client.project_facet_keys(self.stats)
        snapshot = FacetSnapshot(
            SCOPE_PROJECT, None, parse_facet_keys(attributes, "facet_keys", "project")
        )
        # the project facet-values endpoint only takes facet_type=tag
        names = [name for facet_type, name in snapshot.keys if facet_type == "tag"]
        futures = [
            (name, self.pool.submit(self.client.project_facet_values, name, self.stats))
            for name in names
        ]
        for name, future in futures:
            values = future.result()
            if values is not None:
                snapshot.values.append(("tag", name, values))
        self.stats.page_done(len(snapshot.keys))
        return snapshot

    def run_snapshots(self, project_ids: Sequence[int]) -> Iterator[FacetSnapshot]:
        """Run facets of each project (keys, then values of every key of every type).

        Projects that are gone (404) are skipped: their last snapshot stays.
        """
        for start in range(0, len(project_ids), FACET_PROJECTS_PER_BATCH):
            batch = project_ids[start : start + FACET_PROJECTS_PER_BATCH]
            key_futures = [
                (project_id, self.pool.submit(self.client.run_facet_keys, project_id, self.stats))
                for project_id in batch
            ]
            pending: list[tuple[FacetSnapshot, list[tuple[str, str, Future[Any]]]]] = []
            for project_id, future in key_futures:
                attributes = future.result()
                if attributes is None:
                    logger.info("facets: project %d is gone; keeping its last snapshot", project_id)
                    continue
                snapshot = FacetSnapshot(
                    SCOPE_RUN, project_id, parse_facet_keys(attributes, "facet_keys", project_id)
                )
                wanted = [*snapshot.keys, *(("attribute", n) for n in RUN_ATTRIBUTE_FACETS)]
                value_futures = [
                    (
                        facet_type,
                        name,
                        self.pool.submit(self._run_values, project_id, facet_type, name),
                    )
                    for facet_type, name in wanted
                ]
                pending.append((snapshot, value_futures))
            for snapshot, value_futures in pending:
                for facet_type, name, value_future in value_futures:
                    values = value_future.result()
                    if values is not None:
                        snapshot.values.append((facet_type, name, values))
                self.stats.page_done(len(snapshot.keys))
                yield snapshot

    def _run_values(self, project_id: int, facet_type: str, name: str) -> dict[str, Any] | None:
        try:
            return self.client.run_facet_values(project_id, facet_type, name, self.stats)
        except ApiError as exc:
            # attribute names are ours, not the API's: one it does not know is skipped, once
            if facet_type == "attribute" and exc.status == 400:
                if name not in self._unsupported_attributes:
                    self._unsupported_attributes.add(name)
                    logger.warning("facets: the API has no run attribute facet %r: %s", name, exc)
                return None
            raise


def _number(value: Any, table: str, column: str, owner: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaDriftError(table, column, "number", value, owner)
    return float(value)


def facet_tables(snapshots: Sequence[FacetSnapshot], synced_at: datetime) -> dict[str, pa.Table]:
    """Rows of `facet_snapshots`, `facet_keys`, `facet_values`, `facet_metric_stat_ranges`."""
    snapshot_rows: list[dict[str, Any]] = []
    key_rows: list[dict[str, Any]] = []
    value_rows: list[dict[str, Any]] = []
    stat_rows: list[dict[str, Any]] = []
    for snapshot in snapshots:
        scope: dict[str, Any] = {
            "_snapshot": snapshot.snapshot_id,
            "scope": snapshot.scope,
            "project_id": snapshot.project_id,
        }
        for position, (facet_type, name) in enumerate(snapshot.keys):
            key_rows.append(
                {**scope, "facet_type": facet_type, "facet_name": name, "_position": position}
            )
        n_values = 0
        for facet_type, name, attributes in snapshot.values:
            owner = f"{snapshot.snapshot_id}/{facet_type}:{name}"
            values = attributes.get("values") or []
            if not isinstance(values, list):
                raise SchemaDriftError("facet_values", "values", "list", values, owner)
            numeric = attributes.get("numeric_range") or {}
            if not isinstance(numeric, dict):
                raise SchemaDriftError("facet_values", "numeric_range", "object", numeric, owner)
            low = _number(numeric.get("min"), "facet_values", "numeric_min", owner)
            high = _number(numeric.get("max"), "facet_values", "numeric_max", owner)
            common = {**scope, "facet_type": facet_type, "facet_name": name}
            # a numeric facet may come with a range and no listed values: one row carries it
            listed: list[Any] = values or ([None] if numeric else [])
            for position, value in enumerate(listed):
                value_rows.append(
                    {
                        **common,
                        "value": value,
                        "numeric_min": low,
                        "numeric_max": high,
                        "_position": position,
                    }
                )
            n_values += len(listed)
            ranges = attributes.get("metric_stat_ranges") or []
            if not isinstance(ranges, list):
                raise SchemaDriftError(
                    "facet_metric_stat_ranges", "metric_stat_ranges", "list", ranges, owner
                )
            for item in ranges:
                if not isinstance(item, dict):
                    raise SchemaDriftError(
                        "facet_metric_stat_ranges", "metric_stat_ranges", "object", item, owner
                    )
                stat_rows.append(
                    {
                        "_snapshot": snapshot.snapshot_id,
                        "project_id": snapshot.project_id,
                        "facet_name": name,
                        "stat": item.get("stat"),
                        "min": item.get("min"),
                        "max": item.get("max"),
                    }
                )
        snapshot_rows.append({**scope, "key_count": len(snapshot.keys), "value_count": n_values})
    stamp = {"_synced_at": (synced_at, TIMESTAMP)}

    def table(name: str, rows: list[dict[str, Any]], fields: Sequence[Field]) -> pa.Table:
        owners = [row.get("_snapshot") for row in rows]
        return build_table(name, rows, fields, row_ids=owners, constants=stamp, extras=False)

    return {
        "facet_snapshots": table("facet_snapshots", snapshot_rows, SNAPSHOT_FIELDS),
        "facet_keys": table("facet_keys", key_rows, KEY_FIELDS),
        "facet_values": table("facet_values", value_rows, VALUE_FIELDS),
        "facet_metric_stat_ranges": table("facet_metric_stat_ranges", stat_rows, STAT_RANGE_FIELDS),
    }


def sync_facets(
    fetcher: FacetFetcher, *, project_scope: bool, project_ids: Sequence[int], synced_at: datetime
) -> Iterator[dict[str, pa.Table]]:
    """Tables for the project-scope snapshot (when asked) and each project's run snapshot."""
    batch: list[FacetSnapshot] = []
    if project_scope:
        batch.append(fetcher.project_snapshot())
    for snapshot in fetcher.run_snapshots(project_ids):
        batch.append(snapshot)
        if len(batch) >= FACET_PROJECTS_PER_BATCH:
            yield facet_tables(batch, synced_at)
            batch = []
    yield facet_tables(batch, synced_at)
