"""The one place that builds dlt pipelines: destination, dataset, load, then the SQL models."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
from dlt.pipeline.exceptions import PipelineStepFailed

from . import models
from .common.config import as_float, as_int, retry_policy
from .common.datadog import resolve_credentials
from .common.errors import LabsyncError
from .common.stats import SyncStats
from .model_lab import model_lab_source
from .model_lab.settings import (
    DEFAULT_HIERARCHY_WORKERS,
    DEFAULT_LOOKBACK_S,
    ENTITY_PROJECT,
    ENTITY_RUN,
)
from .warehouse import connect, state_dir, table_exists

logger = logging.getLogger("labsync")

SOURCES = ("model_lab",)
LOADER_FILE_FORMAT = "parquet"  # 5-7x faster than insert_values on DuckDB (dlt notes §3)


class SyncFailed(LabsyncError):
    """The sync stopped; nothing it had not fully loaded reached the warehouse."""


@dataclass
class SyncResult:
    """What a sync did, per resource and in total."""

    warehouse: Path
    seconds: float
    rows_by_table: dict[str, int]
    stats: SyncStats
    audit_failures: list[models.AuditFailure] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return sum(self.rows_by_table.values())


def raw_dataset(source: str) -> str:
    return f"raw_{source}"


def make_pipeline(source: str, warehouse: Path) -> dlt.Pipeline:
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    return dlt.pipeline(
        pipeline_name=f"labsync_{source}",
        destination=dlt.destinations.duckdb(str(warehouse)),
        dataset_name=raw_dataset(source),
        pipelines_dir=str(state_dir(warehouse)),
    )


def _ids_in_warehouse(warehouse: Path) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """Ids already loaded and ids already flagged deleted, for reconciliation."""
    known: dict[str, set[int]] = {ENTITY_PROJECT: set(), ENTITY_RUN: set()}
    flagged: dict[str, set[int]] = {ENTITY_PROJECT: set(), ENTITY_RUN: set()}
    if not warehouse.exists():
        return known, flagged
    dataset = raw_dataset("model_lab")
    with connect(warehouse, read_only=True) as con:
        for entity, table, column in (
            (ENTITY_PROJECT, "projects", "project_id"),
            (ENTITY_RUN, "runs", "run_id"),
        ):
            if table_exists(con, dataset, table):
                ids = con.execute(f"select {column} from {dataset}.{table}").fetchnumpy()[column]
                known[entity] = set(ids.tolist())
        if table_exists(con, dataset, "tombstones"):
            for entity, row_id in con.execute(
                f"select entity, id from {dataset}.tombstones"
            ).fetchall():
                flagged.setdefault(entity, set()).add(row_id)
    return known, flagged


def _root_cause(exc: BaseException) -> BaseException:
    """The first labsync error in the chain dlt wrapped, else the innermost exception."""
    while not isinstance(exc, LabsyncError):
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return exc


def sync(
    warehouse: Path,
    *,
    full_refresh: bool = False,
    reconcile: bool = False,
    build_models: bool = True,
    stats: SyncStats | None = None,
    source_factory: Callable[..., Any] = model_lab_source,
) -> SyncResult:
    """Sync Model Lab into `warehouse`, then build the views. Raises `LabsyncError`."""
    started = time.monotonic()
    credentials = resolve_credentials()  # configuration errors surface before any request
    lookback_s = as_float("sources.model_lab.lookback_seconds", DEFAULT_LOOKBACK_S)
    workers = as_int("sources.model_lab.hierarchy_workers", DEFAULT_HIERARCHY_WORKERS, minimum=1)
    policy = retry_policy(pacing_reserve=workers + 1)
    counters = stats or SyncStats()
    pipeline = make_pipeline("model_lab", warehouse)
    rows: dict[str, int] = {}
    try:
        if pipeline.has_pending_data:
            # a previous run extracted but did not load: finish that first, then extract anew
            logger.info("loading data left pending by an interrupted sync")
            pipeline.load()
        known, flagged = _ids_in_warehouse(warehouse) if reconcile else ({}, {})
        source = source_factory(
            credentials,
            full_refresh=full_refresh,
            reconcile=reconcile,
            known_ids=known,
            tombstoned_ids=flagged,
            lookback_s=lookback_s,
            hierarchy_workers=workers,
            policy=policy,
            stats=counters,
        )
        pipeline.run(source, loader_file_format=LOADER_FILE_FORMAT)
        normalize_info = pipeline.last_trace.last_normalize_info
        if normalize_info is not None:
            rows = {
                table: count
                for table, count in normalize_info.row_counts.items()
                if not table.startswith("_dlt")
            }
    except PipelineStepFailed as exc:
        cause = _root_cause(exc)
        message = (
            str(cause) if isinstance(cause, LabsyncError) else f"{type(cause).__name__}: {cause}"
        )
        raise SyncFailed(f"sync failed at step '{exc.step}': {message}") from None
    result = SyncResult(warehouse, time.monotonic() - started, rows, counters)
    if build_models:
        result.audit_failures = build_models_in(warehouse)
    result.seconds = time.monotonic() - started
    return result


def build_models_in(warehouse: Path) -> list[models.AuditFailure]:
    with connect(warehouse) as con:
        models.build(con)
        return models.run_audits(con)


def table_counts(warehouse: Path, schema: str = "analytics") -> Mapping[str, int]:
    with connect(warehouse, read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = ? "
                "order by 1",
                [schema],
            ).fetchall()
        ]
        return {n: con.execute(f"select count(*) from {schema}.{n}").fetchone()[0] for n in names}
