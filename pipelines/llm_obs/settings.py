"""Datadog LLM Observability source settings and constants."""

from __future__ import annotations

API_PREFIX = "/api/v2/llm-obs"
PROJECTS_PATH = f"{API_PREFIX}/v1/projects"
EXPERIMENTS_PATH = f"{API_PREFIX}/v1/experiments"
QUEUES_PATH = f"{API_PREFIX}/v1/annotation-queues"


def datasets_path(project_id: str) -> str:
    return f"{API_PREFIX}/v1/{project_id}/datasets"


def dataset_path(project_id: str, dataset_id: str) -> str:
    return f"{datasets_path(project_id)}/{dataset_id}"


def events_path(experiment_id: str) -> str:
    return f"{API_PREFIX}/v3/experiments/{experiment_id}/events"


def queue_path(queue_id: str) -> str:
    return f"{QUEUES_PATH}/{queue_id}"


# `page[limit]` defaults and maxima are undocumented for projects, datasets and records:
# 100 is a size every server accepts. Experiments and events document 5000.
DEFAULT_PAGE_LIMIT = 100
DEFAULT_RECORDS_PAGE_LIMIT = 100
DEFAULT_EXPERIMENTS_PAGE_LIMIT = 5000
DEFAULT_EVENTS_PAGE_LIMIT = 5000
DEFAULT_WORKERS = 4
DEFAULT_LOOKBACK_S = 600
# a sync lists experiments only down to the newest-created it already has; every this many
# seconds it lists them all instead, which catches edits to older experiments
DEFAULT_EXPERIMENTS_RESCAN_S = 3600
# experiment ids per `filter[id]` re-read (the parameter repeats; URLs stay short)
FILTER_ID_BATCH = 50
# rows per Arrow table handed to dlt (its per-item cost favours few large tables)
YIELD_BATCH_ROWS = 20_000

# experiments in these statuses have final events; anything else is re-read every sync
TERMINAL_STATUSES = frozenset({"completed", "failed", "interrupted"})

# Per-caller or per-query fields: not part of a row's identity for change detection.
VOLATILE_FIELDS = frozenset({"can_annotate", "dataset_name"})

# tombstone entities
ENTITY_PROJECT = "project"
ENTITY_DATASET = "dataset"
ENTITY_EXPERIMENT = "experiment"
ENTITY_QUEUE = "annotation_queue"

# child collections re-read wholesale per parent; a row missing from the newest read of its
# parent has vanished (see the `snapshots` table)
COLLECTION_RECORDS = "dataset_records"
COLLECTION_VERSIONS = "dataset_versions"
COLLECTION_EVENTS = "experiment_events"
COLLECTION_LABEL_SCHEMAS = "label_schemas"
COLLECTION_INTERACTIONS = "annotated_interactions"
