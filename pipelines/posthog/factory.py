"""How the runner builds the PostHog source for one sync: settings, credentials, warehouse."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from dlt.extract.source import DltSource

from ..common.arrow import parse_timestamp
from ..common.config import as_float, as_int, config_value, retry_policy
from ..common.errors import ConfigurationError
from ..sources import SourceSpec, SyncContext
from . import posthog_source
from .credentials import posthog_configured, resolve_credentials
from .helpers import WarehouseSnapshot
from .settings import (
    DEFAULT_LOOKBACK_S,
    DEFAULT_PAGE_SIZE,
    DEFAULT_QUERY_PAGE_SIZE,
    DEFAULT_RESULTS_LOOKBACK_S,
    DEFAULT_RESULTS_START,
    DEFAULT_RESULTS_WINDOW_HOURS,
    ENTITY_DATASET,
    ENTITY_DATASET_ITEM,
    ENTITY_EVALUATION,
    MAX_QUERY_CONCURRENCY,
    THROTTLE_BUDGET_S,
    ResultsOptions,
)

# entity -> (raw table, id column)
RAW_TABLES = {
    ENTITY_DATASET: ("datasets", "dataset_id"),
    ENTITY_DATASET_ITEM: ("dataset_items", "item_id"),
    ENTITY_EVALUATION: ("evaluations", "evaluation_id"),
}
MAX_QUERY_PAGE_SIZE = 50_000  # the Query API's own cap per query


def warehouse_snapshot(ctx: SyncContext) -> WarehouseSnapshot:
    """Fingerprints of datasets and items always (items are compared every sync; datasets are
    few and tell which datasets items may point at), of evaluations with `--reconcile`; and
    the ids flagged deleted and not loaded since."""
    snapshot = WarehouseSnapshot()
    loaded_at: dict[str, dict[str, datetime]] = {}
    for entity, (table, id_column) in RAW_TABLES.items():
        if entity == ENTITY_EVALUATION and not ctx.reconcile:
            continue
        rows = ctx.loaded_rows(table, [id_column, "_fingerprint", "_synced_at"])
        snapshot.fingerprints[entity] = {row_id: print_ for row_id, print_, _ in rows}
        loaded_at[entity] = {row_id: synced for row_id, _, synced in rows}
    for entity, row_id, detected_at in ctx.loaded_rows(
        "tombstones", ["entity", "id", "detected_at"]
    ):
        if entity not in loaded_at:
            continue
        synced = loaded_at[entity].get(row_id)
        # still deleted: never loaded (a dataset items pointed at) or not loaded again since
        if synced is None or detected_at > synced:
            snapshot.flagged.setdefault(entity, set()).add(row_id)
    return snapshot


def _results_start() -> datetime:
    raw = config_value("sources.posthog.results_start_date", DEFAULT_RESULTS_START)
    try:
        return parse_timestamp(str(raw).strip())
    except ValueError:
        raise ConfigurationError(
            "sources.posthog.results_start_date (SOURCES__POSTHOG__RESULTS_START_DATE) must be "
            f"an ISO-8601 date or timestamp, got {raw!r}"
        ) from None


def results_options() -> ResultsOptions:
    page_size = as_int("sources.posthog.query_page_size", DEFAULT_QUERY_PAGE_SIZE, minimum=1)
    if page_size > MAX_QUERY_PAGE_SIZE:
        raise ConfigurationError(
            f"sources.posthog.query_page_size must be <= {MAX_QUERY_PAGE_SIZE} (the Query API "
            f"returns at most that many rows per query), got {page_size}"
        )
    concurrency = as_int("sources.posthog.query_concurrency", MAX_QUERY_CONCURRENCY, minimum=1)
    if concurrency > MAX_QUERY_CONCURRENCY:
        raise ConfigurationError(
            f"sources.posthog.query_concurrency must be <= {MAX_QUERY_CONCURRENCY} (PostHog runs "
            f"at most {MAX_QUERY_CONCURRENCY} queries per project at once), got {concurrency}"
        )
    return ResultsOptions(
        start=_results_start(),
        lookback_s=as_float("sources.posthog.results_lookback_seconds", DEFAULT_RESULTS_LOOKBACK_S),
        window_hours=as_float(
            "sources.posthog.results_window_hours", DEFAULT_RESULTS_WINDOW_HOURS, minimum=0.01
        ),
        page_size=page_size,
        concurrency=concurrency,
    )


def build_source(ctx: SyncContext) -> DltSource:
    credentials = resolve_credentials()  # configuration errors surface before any request
    lookback_s = as_float("sources.posthog.lookback_seconds", DEFAULT_LOOKBACK_S)
    page_size = as_int("sources.posthog.page_size", DEFAULT_PAGE_SIZE, minimum=1)
    results = results_options()
    policy = replace(
        retry_policy(pacing_reserve=results.concurrency + 1), throttle_budget_s=THROTTLE_BUDGET_S
    )
    return posthog_source(
        credentials,
        full_refresh=ctx.full_refresh,
        reconcile=ctx.reconcile,
        snapshot=warehouse_snapshot(ctx),
        lookback_s=lookback_s,
        page_size=page_size,
        results=results,
        policy=policy,
        stats=ctx.stats,
    )


SPEC = SourceSpec(
    name="posthog",
    is_configured=posthog_configured,
    build=build_source,
    description="PostHog LLM analytics: datasets, dataset items, evaluations, evaluation results",
)
