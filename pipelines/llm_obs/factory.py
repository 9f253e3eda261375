"""How the runner builds the LLM Observability source for one sync: settings, credentials."""

from __future__ import annotations

from dlt.extract.source import DltSource

from ..common.config import as_float, as_int, retry_policy
from ..common.datadog import datadog_configured, resolve_credentials
from ..sources import SourceSpec, SyncContext
from . import llm_obs_source
from .client import LlmObsClient
from .settings import (
    DEFAULT_EVENTS_PAGE_LIMIT,
    DEFAULT_EXPERIMENTS_PAGE_LIMIT,
    DEFAULT_EXPERIMENTS_RESCAN_S,
    DEFAULT_LOOKBACK_S,
    DEFAULT_PAGE_LIMIT,
    DEFAULT_RECORDS_PAGE_LIMIT,
    DEFAULT_WORKERS,
)

SECTION = "sources.llm_obs"


def build_source(ctx: SyncContext) -> DltSource:
    credentials = resolve_credentials()  # configuration errors surface before any request
    workers = as_int(f"{SECTION}.workers", DEFAULT_WORKERS, minimum=1)
    policy = retry_policy(pacing_reserve=workers + 1)
    client = LlmObsClient(
        credentials,
        policy,
        page_limit=as_int(f"{SECTION}.page_limit", DEFAULT_PAGE_LIMIT, minimum=1),
        records_page_limit=as_int(
            f"{SECTION}.records_page_limit", DEFAULT_RECORDS_PAGE_LIMIT, minimum=1
        ),
        experiments_page_limit=as_int(
            f"{SECTION}.experiments_page_limit", DEFAULT_EXPERIMENTS_PAGE_LIMIT, minimum=1
        ),
        events_page_limit=as_int(
            f"{SECTION}.events_page_limit", DEFAULT_EVENTS_PAGE_LIMIT, minimum=1
        ),
    )
    return llm_obs_source(
        credentials,
        full_refresh=ctx.full_refresh,
        reconcile=ctx.reconcile,
        lookback_s=as_float(f"{SECTION}.lookback_seconds", DEFAULT_LOOKBACK_S),
        experiments_rescan_s=as_float(
            f"{SECTION}.experiments_rescan_seconds", DEFAULT_EXPERIMENTS_RESCAN_S
        ),
        workers=workers,
        client=client,
        policy=policy,
        stats=ctx.stats,
    )


SPEC = SourceSpec(
    name="llm_obs",
    is_configured=datadog_configured,
    build=build_source,
    description="Datadog LLM Observability: projects, datasets, records, experiments, "
    "spans, eval metrics, annotation queues",
)
