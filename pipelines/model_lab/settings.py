"""Datadog Model Lab source settings and constants."""

from __future__ import annotations

API_PREFIX = "/api/v2/model-lab-api"
PROJECTS_PATH = f"{API_PREFIX}/projects"
RUNS_PATH = f"{API_PREFIX}/runs"

PAGE_SIZE = 100  # the API's maximum
DEFAULT_LOOKBACK_S = 600
# runs in progress: re-read by id every sync when updated within this age, else once per
# DEFAULT_STALE_RUN_RECHECK_S (spread over that interval)
DEFAULT_ACTIVE_RUN_AGE_S = 86_400
DEFAULT_STALE_RUN_RECHECK_S = 86_400
DEFAULT_HIERARCHY_WORKERS = 4
FILTER_ID_BATCH = 100
YIELD_BATCH_ROWS = 5000  # runs per Arrow table handed to dlt
READ_AHEAD_PAGES = 8  # list pages fetched ahead of processing when a listing is read whole

NON_TERMINAL_STATUSES = frozenset({"pending", "running", "paused", "unresponsive"})

# Per-caller or per-query attributes: not part of a row's identity for change detection.
VOLATILE_ATTRIBUTES = frozenset({"is_pinned", "is_starred", "descendant_match"})
# Query-dependent, meaningless in a warehouse.
DROPPED_ATTRIBUTES = frozenset({"descendant_match"})

ENTITY_PROJECT = "model_lab_project"
ENTITY_RUN = "model_lab_run"

# Facets and artifacts (snapshots and listings refreshed for changed projects and runs)
PROJECT_FACET_KEYS_PATH = f"{API_PREFIX}/project-facet-keys"
PROJECT_FACET_VALUES_PATH = f"{API_PREFIX}/project-facet-values"
RUN_FACET_KEYS_PATH = f"{API_PREFIX}/facet-keys"
RUN_FACET_VALUES_PATH = f"{API_PREFIX}/facet-values"
ARTIFACT_CONTENT_PATH = f"{API_PREFIX}/artifacts/content"
DEFAULT_FACET_WORKERS = 4
DEFAULT_ARTIFACT_WORKERS = 4
# facet-keys lists metric, parameter and tag keys only; attribute facets are the run
# attributes the API filters on, so they are asked for by name
RUN_ATTRIBUTE_FACETS = ("name", "status", "owner_id", "duration")
# facet-keys attribute -> the facet_type a facet-values request takes for those keys
FACET_KEY_TYPES = {"metrics": "metric", "parameters": "parameter", "tags": "tag"}
FACET_PROJECTS_PER_BATCH = 50  # projects whose facets are fetched before a table is yielded
DEFAULT_ARTIFACT_MAX_DEPTH = 32  # directory levels below a run's artifact root
DEFAULT_ARTIFACT_MAX_ENTRIES = 10_000  # listed files and directories per run
ARTIFACT_RUNS_PER_BATCH = 2_000  # run walks per Arrow table handed to dlt
DOWNLOAD_CHUNK_BYTES = 1 << 20
