"""PostHog LLM analytics source settings and constants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DEFAULT_BASE_URL = "https://us.posthog.com"
# capture-only hosts (what the SDKs' POSTHOG_HOST often points at) -> their private API host
INGESTION_HOSTS = {
    "us.i.posthog.com": "us.posthog.com",
    "eu.i.posthog.com": "eu.posthog.com",
}

# The canonical prefix for the CRUD endpoints; the Query API lives under /api/projects/.
ENVIRONMENT_PREFIX = "/api/environments/{project_id}"
DATASETS_PATH = f"{ENVIRONMENT_PREFIX}/datasets/"
DATASET_ITEMS_PATH = f"{ENVIRONMENT_PREFIX}/dataset_items/"
EVALUATIONS_PATH = f"{ENVIRONMENT_PREFIX}/evaluations/"
QUERY_PATH = "/api/projects/{project_id}/query/"

YIELD_BATCH_ROWS = 5000  # rows per Arrow table handed to dlt
DEFAULT_PAGE_SIZE = 100  # DRF's default page; era-B servers accept more (`page_size`)
DEFAULT_LOOKBACK_S = 600.0
ID_FILTER_BATCH = 100  # ids per `id__in` request when confirming vanished rows

# Evaluation results ($ai_evaluation events) through the Query API
EVALUATION_EVENT = "$ai_evaluation"
DEFAULT_RESULTS_START = "2023-01-01T00:00:00Z"  # before PostHog had LLM evaluations
DEFAULT_RESULTS_LOOKBACK_S = 6 * 3600.0  # ingestion lag: events arrive up to hours late
DEFAULT_RESULTS_WINDOW_HOURS = 24.0  # one query window (keeps each query well under 10 s)
DEFAULT_QUERY_PAGE_SIZE = 5000  # rows per query (the API allows up to 50,000)
MAX_QUERY_CONCURRENCY = 3  # the Query API runs at most 3 queries per project at once

# Published rate limits: CRUD endpoints 480/min + 4800/h; the Query API 240/min + 2400/h.
CRUD_RATE_LIMITS = ((480, 60.0), (4800, 3600.0))
QUERY_RATE_LIMITS = ((240, 60.0), (2400, 3600.0))
# Throttling never fails a sync on its own: 429s are retried for up to this long per request
# (longer than the hourly windows), not counted against `request_max_attempts`.
THROTTLE_BUDGET_S = 3900.0

ENTITY_DATASET = "posthog_dataset"
ENTITY_DATASET_ITEM = "posthog_dataset_item"
ENTITY_EVALUATION = "posthog_evaluation"

# the scopes a key needs for this source, named in errors
REQUIRED_SCOPES = ("dataset:read", "evaluation:read", "query:read")


@dataclass(frozen=True)
class ResultsOptions:
    """How evaluation results are read from the Query API."""

    start: datetime  # the first sync looks no further back than this
    lookback_s: float = DEFAULT_RESULTS_LOOKBACK_S
    window_hours: float = DEFAULT_RESULTS_WINDOW_HOURS
    page_size: int = DEFAULT_QUERY_PAGE_SIZE
    concurrency: int = MAX_QUERY_CONCURRENCY
