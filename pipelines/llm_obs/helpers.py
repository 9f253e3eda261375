"""Pure transforms from LLM Observability API objects to typed Arrow tables, and fingerprints.

Ids are strings throughout. Objects and free-form values (`input`, `metadata`, ...) are JSON
text in the raw tables; staging casts them to DuckDB `JSON`. Rows of child collections carry
`_read_at`, the time their parent's collection was read (see `snapshot_table`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from ..common.arrow import TIMESTAMP, Field, build_table
from ..common.errors import SchemaDriftError
from .settings import VOLATILE_FIELDS

Resource = dict[str, Any]

PROJECT_FIELDS = (
    Field("project_id", "text", source="id"),
    Field("name", "text"),
    Field("description", "text"),
    Field("created_at", "timestamp"),
    Field("updated_at", "timestamp"),
)
DATASET_FIELDS = (
    Field("dataset_id", "text", source="id"),
    Field("project_id", "text"),
    Field("name", "text"),
    Field("description", "text"),
    Field("metadata", "json"),
    Field("current_version", "int"),
    Field("created_at", "timestamp"),
    Field("updated_at", "timestamp"),
)
VERSION_FIELDS = (
    Field("version_id", "text", source="id"),
    Field("dataset_id", "text"),
    Field("version_number", "int"),
    Field("last_used", "timestamp"),
)
DRAFT_STATE_FIELDS = (
    Field("dataset_id", "text"),
    Field("project_id", "text"),
    Field("is_locked", "bool"),
    Field("locked_by_id", "text"),
    Field("locked_by_email", "text"),
    Field("locked_by_handle", "text"),
    Field("locked_by_name", "text"),
    Field("drafting_since", "timestamp"),
)
RECORD_FIELDS = (
    Field("record_id", "text", source="id"),
    Field("dataset_id", "text"),
    Field("project_id", "text"),
    Field("input", "json"),
    Field("expected_output", "json"),
    Field("metadata", "json"),
    Field("created_at", "timestamp"),
    Field("updated_at", "timestamp"),
)
EXPERIMENT_FIELDS = (
    Field("experiment_id", "text", source="id"),
    Field("project_id", "text"),
    Field("dataset_id", "text"),
    Field("dataset_version", "int"),
    Field("name", "text"),
    Field("experiment", "text"),
    Field("description", "text"),
    Field("status", "text"),
    Field("error", "text"),
    Field("parent_experiment_id", "text"),
    Field("config", "json"),
    Field("metadata", "json"),
    Field("aggregate_data", "json"),
    Field("run_count", "int"),
    Field("author", "json"),
    Field("created_at", "timestamp"),
    Field("updated_at", "timestamp"),
    Field("deleted_at", "timestamp"),
)
SPAN_FIELDS = (
    Field("experiment_id", "text"),
    Field("_position", "int"),
    Field("span_id", "text"),
    Field("event_id", "text", source="id"),
    Field("trace_id", "text"),
    Field("parent_id", "text"),
    Field("name", "text"),
    Field("status", "text"),
    Field("start_ns", "int"),
    Field("duration", "float"),
    Field("dataset_record_id", "text"),
    Field("tags", "json"),
    Field("metrics", "json"),
    Field("input", "json"),
    Field("output", "json"),
    Field("expected_output", "json"),
    Field("error", "json"),
)
EVAL_METRIC_FIELDS = (
    Field("experiment_id", "text"),
    Field("_position", "int"),
    Field("is_summary", "bool"),
    Field("metric_id", "text", source="id"),
    Field("span_id", "text"),
    Field("trace_id", "text"),
    Field("label", "text"),
    Field("metric_type", "text"),
    Field("score_value", "float"),
    Field("categorical_value", "text"),
    Field("boolean_value", "bool"),
    Field("json_value", "json"),
    Field("assessment", "text"),
    Field("reasoning", "text"),
    Field("metric_source", "text"),
    Field("eval_source_type", "text"),
    Field("timestamp_ms", "int"),
    Field("tags", "json"),
    Field("metadata", "json"),
)
QUEUE_FIELDS = (
    Field("queue_id", "text", source="id"),
    Field("project_id", "text"),
    Field("name", "text"),
    Field("description", "text"),
    Field("owned_by", "text"),
    Field("created_at", "timestamp"),
    Field("created_by", "text"),
    Field("modified_at", "timestamp"),
    Field("modified_by", "text"),
    Field("can_manage_access", "bool"),
    Field("restrict_to_assignees", "bool"),
    Field("restrict_to_reviewers", "bool"),
    Field("reviewer_emails", "json"),
)
LABEL_SCHEMA_FIELDS = (
    Field("queue_id", "text"),
    Field("_position", "int"),
    Field("label_id", "text", source="id"),
    Field("name", "text"),
    Field("type", "text"),
    Field("description", "text"),
    Field("is_required", "bool"),
    Field("has_assessment", "bool"),
    Field("has_reasoning", "bool"),
    Field("is_assessment", "bool"),
    Field("is_integer", "bool"),
    Field("min", "float"),
    Field("max", "float"),
    Field("values", "json"),
)
INTERACTION_FIELDS = (
    Field("queue_id", "text"),
    Field("interaction_id", "text", source="id"),
    Field("interaction_type", "text", source="type"),
    Field("content_id", "text"),
    Field("created_at", "timestamp"),
    Field("modified_at", "timestamp"),
    Field("can_annotate", "bool"),
    Field("display_block", "json"),
)
ANNOTATION_FIELDS = (
    Field("queue_id", "text"),
    Field("annotation_id", "text", source="id"),
    Field("interaction_id", "text"),
    Field("label_values", "json"),
    Field("created_at", "timestamp"),
    Field("created_by", "text"),
    Field("modified_at", "timestamp"),
    Field("modified_by", "text"),
)

# span `meta` keys that become columns of their own; other keys keep a `meta_` prefix
SPAN_META_COLUMNS = frozenset({"input", "output", "expected_output", "error"})


# identities and fingerprints ----------------------------------------------------------------


def resource_id(resource: Mapping[str, Any], table: str) -> str:
    """The string id of an API object; a missing or non-scalar id is a contract break."""
    raw = resource.get("id")
    if isinstance(raw, bool) or not isinstance(raw, str | int) or raw == "":
        raise SchemaDriftError(table, "id", "non-empty string", raw, raw)
    return str(raw)


def attributes(resource: Mapping[str, Any], table: str) -> dict[str, Any]:
    attrs = resource.get("attributes")
    if not isinstance(attrs, dict):
        raise SchemaDriftError(table, "attributes", "object", attrs, resource.get("id"))
    return attrs


def fingerprint(value: Any) -> str:
    """A short hash of a JSON value with per-caller fields (`can_annotate`, ...) left out."""
    digest = hashlib.blake2b(
        orjson.dumps(_without_volatile(value), option=orjson.OPT_SORT_KEYS), digest_size=8
    )
    return digest.hexdigest()


def _without_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_volatile(v) for k, v in value.items() if k not in VOLATILE_FIELDS}
    if isinstance(value, list):
        return [_without_volatile(v) for v in value]
    return value


def _stamp(column: str, at: datetime) -> dict[str, tuple[Any, pa.DataType]]:
    return {column: (at, TIMESTAMP)}


def _flatten(
    resources: Sequence[Resource], table: str, **constants: str
) -> tuple[list[str], list[dict[str, Any]]]:
    """JSON:API resources -> (ids, rows of their attributes plus `id` and `constants`)."""
    ids = [resource_id(r, table) for r in resources]
    rows = [
        {**attributes(r, table), **constants, "id": row_id}
        for r, row_id in zip(resources, ids, strict=True)
    ]
    return ids, rows


# tables -----------------------------------------------------------------------------------


def project_table(resources: Sequence[Resource], synced_at: datetime) -> pa.Table:
    ids, rows = _flatten(resources, "projects")
    return build_table(
        "projects", rows, PROJECT_FIELDS, row_ids=ids, constants=_stamp("_synced_at", synced_at)
    )


def dataset_table(datasets: Sequence[tuple[str, Resource]], synced_at: datetime) -> pa.Table:
    """`datasets` = (project id, dataset resource): the project comes from the request path."""
    ids = [resource_id(d, "datasets") for _, d in datasets]
    rows = [
        {**attributes(d, "datasets"), "project_id": project_id, "id": row_id}
        for (project_id, d), row_id in zip(datasets, ids, strict=True)
    ]
    return build_table(
        "datasets", rows, DATASET_FIELDS, row_ids=ids, constants=_stamp("_synced_at", synced_at)
    )


def version_table(dataset_id: str, versions: Sequence[Resource], read_at: datetime) -> pa.Table:
    ids, rows = _flatten(versions, "dataset_versions")
    for row in rows:
        row.setdefault("dataset_id", dataset_id)
        if row["dataset_id"] != dataset_id:
            raise SchemaDriftError(
                "dataset_versions", "dataset_id", dataset_id, row["dataset_id"], row["id"]
            )
    return build_table(
        "dataset_versions",
        rows,
        VERSION_FIELDS,
        row_ids=ids,
        constants=_stamp("_read_at", read_at),
    )


@dataclass(frozen=True)
class DraftState:
    """A dataset's draft lock as read in one sync (`holder` None = unlocked)."""

    project_id: str
    dataset_id: str
    holder: Mapping[str, Any] | None

    def fingerprint(self) -> str:
        return fingerprint(dict(self.holder) if self.holder else None)


def draft_state_table(states: Sequence[DraftState], observed_at: datetime) -> pa.Table:
    rows = []
    for state in states:
        holder = state.holder or {}
        user = holder.get("user") or {}
        if not isinstance(user, dict):
            raise SchemaDriftError("dataset_draft_states", "user", "object", user, state.dataset_id)
        rows.append(
            {
                "dataset_id": state.dataset_id,
                "project_id": state.project_id,
                "is_locked": state.holder is not None,
                "locked_by_id": user.get("id"),
                "locked_by_email": user.get("email"),
                "locked_by_handle": user.get("handle"),
                "locked_by_name": user.get("name"),
                "drafting_since": holder.get("drafting_since"),
            }
        )
    return build_table(
        "dataset_draft_states",
        rows,
        DRAFT_STATE_FIELDS,
        row_ids=[s.dataset_id for s in states],
        constants=_stamp("_observed_at", observed_at),
        extras=False,
    )


def record_table(
    project_id: str, dataset_id: str, records: Sequence[Resource], read_at: datetime
) -> pa.Table:
    """Records are flat objects (not JSON:API); each names its dataset."""
    ids = [resource_id(r, "dataset_records") for r in records]
    rows = []
    for record, row_id in zip(records, ids, strict=True):
        row = {**record, "project_id": project_id}
        row.setdefault("dataset_id", dataset_id)
        if row["dataset_id"] != dataset_id:
            raise SchemaDriftError(
                "dataset_records", "dataset_id", dataset_id, row["dataset_id"], row_id
            )
        rows.append(row)
    return build_table(
        "dataset_records", rows, RECORD_FIELDS, row_ids=ids, constants=_stamp("_read_at", read_at)
    )


def experiment_table(resources: Sequence[Resource], synced_at: datetime) -> pa.Table:
    ids, rows = _flatten(resources, "experiments")
    return build_table(
        "experiments",
        rows,
        EXPERIMENT_FIELDS,
        row_ids=ids,
        constants=_stamp("_synced_at", synced_at),
        ignore={"dataset_name"},  # only present on request; the dataset view has the name
    )


def _span_row(experiment_id: str, span: Resource, position: int) -> dict[str, Any]:
    if not isinstance(span, dict):
        raise SchemaDriftError("experiment_spans", "spans", "object", span, experiment_id)
    row = {k: v for k, v in span.items() if k not in ("meta", "eval_metrics")}
    meta = span.get("meta") or {}
    if not isinstance(meta, dict):
        raise SchemaDriftError("experiment_spans", "meta", "object", meta, span.get("span_id"))
    for key, value in meta.items():
        row[key if key in SPAN_META_COLUMNS else f"meta_{key}"] = value
    row["experiment_id"] = experiment_id
    row["_position"] = position
    if row.get("span_id") is None:
        row["span_id"] = row.get("id")
    return row


def event_tables(
    experiment_id: str,
    spans: Sequence[Resource],
    summary_metrics: Sequence[Resource],
    read_at: datetime,
) -> dict[str, pa.Table]:
    """Spans and their eval metrics, plus experiment-level summary metrics.

    A span seen twice (e.g. across pages of a running experiment) is kept once, last wins;
    summary metrics that repeat on every page are kept once.
    """
    by_span: dict[str, Resource] = {}
    for span in spans:
        key = str(span.get("span_id") or span.get("id")) if isinstance(span, dict) else ""
        by_span.pop(key, None)
        by_span[key] = span
    span_rows = [_span_row(experiment_id, s, i) for i, s in enumerate(by_span.values())]
    metric_rows: list[dict[str, Any]] = []
    for span, row in zip(by_span.values(), span_rows, strict=True):
        for metric in span.get("eval_metrics") or []:
            if not isinstance(metric, dict):
                raise SchemaDriftError(
                    "eval_metrics", "eval_metrics", "object", metric, row["span_id"]
                )
            metric_rows.append(
                {
                    **metric,
                    "span_id": metric.get("span_id") or row["span_id"],
                    "trace_id": metric.get("trace_id") or row.get("trace_id"),
                    "is_summary": False,
                }
            )
    seen: set[bytes] = set()
    for metric in summary_metrics:
        if not isinstance(metric, dict):
            raise SchemaDriftError(
                "eval_metrics", "summary_metrics", "object", metric, experiment_id
            )
        key = orjson.dumps(metric.get("id") or metric, option=orjson.OPT_SORT_KEYS)
        if key in seen:
            continue
        seen.add(key)
        metric_rows.append({**metric, "is_summary": True})
    for position, metric in enumerate(metric_rows):
        metric["experiment_id"] = experiment_id
        metric["_position"] = position
    stamp = _stamp("_read_at", read_at)
    return {
        "experiment_spans": build_table(
            "experiment_spans",
            span_rows,
            SPAN_FIELDS,
            row_ids=[r["span_id"] for r in span_rows],
            constants=stamp,
        ),
        "eval_metrics": build_table(
            "eval_metrics",
            metric_rows,
            EVAL_METRIC_FIELDS,
            row_ids=[r.get("id") or r.get("label") for r in metric_rows],
            constants=stamp,
        ),
    }


def queue_table(resources: Sequence[Resource], synced_at: datetime) -> pa.Table:
    ids, rows = _flatten(resources, "annotation_queues")
    return build_table(
        "annotation_queues",
        rows,
        QUEUE_FIELDS,
        row_ids=ids,
        constants=_stamp("_synced_at", synced_at),
        ignore={"annotation_schema"},  # its own table, label_schemas
    )


def label_schema_table(queue_id: str, schemas: Sequence[Resource], read_at: datetime) -> pa.Table:
    rows = []
    for position, schema in enumerate(schemas):
        if not isinstance(schema, dict):
            raise SchemaDriftError("label_schemas", "label_schemas", "object", schema, queue_id)
        # the id is optional in the API: the name is unique within the queue
        rows.append({**schema, "queue_id": queue_id, "_position": position})
    return build_table(
        "label_schemas",
        rows,
        LABEL_SCHEMA_FIELDS,
        row_ids=[r.get("name") for r in rows],
        constants=_stamp("_read_at", read_at),
    )


def interaction_tables(
    queue_id: str, items: Sequence[Resource], read_at: datetime
) -> dict[str, pa.Table]:
    """A queue's interactions and, one row each, the annotations embedded in them."""
    interactions: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            raise SchemaDriftError(
                "annotation_interactions", "annotated_interactions", "object", item, queue_id
            )
        interaction_id = resource_id(item, "annotation_interactions")
        interactions.append(
            {**{k: v for k, v in item.items() if k != "annotations"}, "queue_id": queue_id}
        )
        for annotation in item.get("annotations") or []:
            if not isinstance(annotation, dict):
                raise SchemaDriftError(
                    "annotations", "annotations", "object", annotation, interaction_id
                )
            row = {**annotation, "queue_id": queue_id}
            row.setdefault("interaction_id", interaction_id)
            annotations.append(row)
    stamp = _stamp("_read_at", read_at)
    return {
        "annotation_interactions": build_table(
            "annotation_interactions",
            interactions,
            INTERACTION_FIELDS,
            row_ids=[r["id"] for r in interactions],
            constants=stamp,
        ),
        "annotations": build_table(
            "annotations",
            annotations,
            ANNOTATION_FIELDS,
            row_ids=[resource_id(r, "annotations") for r in annotations],
            constants=stamp,
        ),
    }


def tombstone_table(
    entity: str, vanished: Iterable[str], reappeared: Iterable[str], detected_at: datetime
) -> pa.Table:
    """Rows for ids that vanished from the API (flagged) or came back (flag removed)."""
    gone, back = sorted(vanished), sorted(reappeared)
    ids = [*gone, *back]
    return pa.table(
        {
            "entity": pa.array([entity] * len(ids), pa.string()),
            "id": pa.array(ids, pa.string()),
            "detected_at": pa.array([detected_at] * len(ids), TIMESTAMP),
            "reappeared": pa.array([False] * len(gone) + [True] * len(back), pa.bool_()),
        }
    )


@dataclass(frozen=True)
class Snapshot:
    """One complete read of a parent's child collection."""

    collection: str
    parent_id: str
    item_count: int
    detail: str | None = None


def snapshot_table(snapshots: Sequence[Snapshot], read_at: datetime) -> pa.Table:
    """The reads that rows' `_read_at` refer to: a child row older than its parent's newest
    read vanished from the API at the first read after its own."""
    return pa.table(
        {
            "collection": pa.array([s.collection for s in snapshots], pa.string()),
            "parent_id": pa.array([s.parent_id for s in snapshots], pa.string()),
            "read_at": pa.array([read_at] * len(snapshots), TIMESTAMP),
            "item_count": pa.array([s.item_count for s in snapshots], pa.int64()),
            "detail": pa.array([s.detail for s in snapshots], pa.string()),
        }
    )
