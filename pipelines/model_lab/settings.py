"""Datadog Model Lab source settings and constants."""

from __future__ import annotations

API_PREFIX = "/api/v2/model-lab-api"
PROJECTS_PATH = f"{API_PREFIX}/projects"
RUNS_PATH = f"{API_PREFIX}/runs"

PAGE_SIZE = 100  # the API's maximum
DEFAULT_LOOKBACK_S = 600
DEFAULT_HIERARCHY_WORKERS = 4
FILTER_ID_BATCH = 100
YIELD_BATCH_ROWS = 5000  # runs per Arrow table handed to dlt

NON_TERMINAL_STATUSES = frozenset({"pending", "running", "paused", "unresponsive"})

# Per-caller or per-query attributes: not part of a row's identity for change detection.
VOLATILE_ATTRIBUTES = frozenset({"is_pinned", "is_starred", "descendant_match"})
# Query-dependent, meaningless in a warehouse.
DROPPED_ATTRIBUTES = frozenset({"descendant_match"})

ENTITY_PROJECT = "model_lab_project"
ENTITY_RUN = "model_lab_run"
