"""How the runner builds the Model Lab source for one sync: settings, credentials, reconcile."""

from __future__ import annotations

from dlt.extract.source import DltSource

from ..common.config import as_float, as_int, retry_policy
from ..common.datadog import datadog_configured, resolve_credentials
from ..sources import SourceSpec, SyncContext
from . import model_lab_source
from .settings import DEFAULT_HIERARCHY_WORKERS, DEFAULT_LOOKBACK_S, ENTITY_PROJECT, ENTITY_RUN


def _ids_in_warehouse(ctx: SyncContext) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """Ids already loaded and ids already flagged deleted, for reconciliation."""
    known = {
        ENTITY_PROJECT: {r[0] for r in ctx.loaded_rows("projects", ["project_id"])},
        ENTITY_RUN: {r[0] for r in ctx.loaded_rows("runs", ["run_id"])},
    }
    flagged: dict[str, set[int]] = {ENTITY_PROJECT: set(), ENTITY_RUN: set()}
    for entity, row_id in ctx.loaded_rows("tombstones", ["entity", "id"]):
        flagged.setdefault(entity, set()).add(row_id)
    return known, flagged


def build_source(ctx: SyncContext) -> DltSource:
    credentials = resolve_credentials()  # configuration errors surface before any request
    lookback_s = as_float("sources.model_lab.lookback_seconds", DEFAULT_LOOKBACK_S)
    workers = as_int("sources.model_lab.hierarchy_workers", DEFAULT_HIERARCHY_WORKERS, minimum=1)
    known, flagged = _ids_in_warehouse(ctx) if ctx.reconcile else ({}, {})
    return model_lab_source(
        credentials,
        full_refresh=ctx.full_refresh,
        reconcile=ctx.reconcile,
        known_ids=known,
        tombstoned_ids=flagged,
        lookback_s=lookback_s,
        hierarchy_workers=workers,
        policy=retry_policy(pacing_reserve=workers + 1),
        stats=ctx.stats,
    )


SPEC = SourceSpec(
    name="model_lab",
    is_configured=datadog_configured,
    build=build_source,
    description="Datadog Model Lab: projects, runs, params, tags, metric summaries",
)
