"""Pure transforms from Model Lab JSON:API resources to typed Arrow tables."""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..common.arrow import TIMESTAMP, Field, build_table, infer_struct, parse_timestamp, repeat
from ..common.errors import SchemaDriftError
from .settings import DROPPED_ATTRIBUTES, VOLATILE_ATTRIBUTES

PROJECT_FIELDS = (
    Field("project_id", "int", source="id"),
    Field("name", "text"),
    Field("description", "text"),
    Field("owner_id", "text"),
    Field("artifact_storage_location", "text"),
    Field("external_url", "text"),
    Field("is_starred", "bool"),
    Field("created_at", "timestamp"),
    Field("updated_at", "timestamp"),
    Field("deleted_at", "timestamp"),
)
RUN_FIELDS = (
    Field("run_id", "int", source="id"),
    Field("project_id", "int"),
    Field("name", "text"),
    Field("description", "text"),
    Field("status", "text"),
    Field("owner_id", "text"),
    Field("created_at", "timestamp"),
    Field("updated_at", "timestamp"),
    Field("started_at", "timestamp"),
    Field("completed_at", "timestamp"),
    Field("duration", "float"),
    Field("has_children", "bool"),
    Field("is_pinned", "bool"),
    Field("external_url", "text"),
    Field("mlflow_artifact_location", "text"),
    Field("deleted_at", "timestamp"),
)
KEY_VALUE_FIELDS = (Field("key", "text"), Field("value", "text"))
METRIC_FIELDS = (
    Field("key", "text"),
    Field("count", "int"),
    Field("first_step", "int"),
    Field("last_step", "int"),
    Field("latest", "float"),
    Field("min", "float"),
    Field("max", "float"),
    Field("mean", "float"),
    Field("stddev", "float"),
)
PARENT_FIELDS = (Field("run_id", "int"), Field("parent_run_id", "int"))

# attribute holding a list -> (child table, its fields); children carry the parent id + position
PROJECT_CHILDREN = {"tags": ("project_tags", KEY_VALUE_FIELDS)}
RUN_CHILDREN = {
    "params": ("run_params", KEY_VALUE_FIELDS),
    "tags": ("run_tags", KEY_VALUE_FIELDS),
    "metric_summaries": ("run_metrics", METRIC_FIELDS),
}


def resource_id(resource: dict[str, Any], table: str) -> int:
    """The numeric id of a JSON:API resource (sent as a string)."""
    raw = resource.get("id")
    try:
        return int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SchemaDriftError(table, "id", "numeric string", raw, raw) from None


def attributes(resource: dict[str, Any], table: str) -> dict[str, Any]:
    attrs = resource.get("attributes")
    if not isinstance(attrs, dict):
        raise SchemaDriftError(table, "attributes", "object", attrs, resource.get("id"))
    return attrs


def updated_at(resource: dict[str, Any], table: str) -> datetime:
    value = attributes(resource, table).get("updated_at")
    if not isinstance(value, str):
        raise SchemaDriftError(table, "updated_at", "ISO-8601 string", value, resource.get("id"))
    try:
        return parse_timestamp(value)
    except ValueError:
        raise SchemaDriftError(
            table, "updated_at", "ISO-8601 timestamp", value, resource.get("id")
        ) from None


def fingerprint(resource: dict[str, Any]) -> str:
    """A hash of a resource's content, ignoring per-caller and per-query attributes."""
    attrs = {
        k: v for k, v in resource.get("attributes", {}).items() if k not in VOLATILE_ATTRIBUTES
    }
    digest = hashlib.blake2b(orjson.dumps(attrs, option=orjson.OPT_SORT_KEYS), digest_size=12)
    return digest.hexdigest()


def to_tables(
    resources: Sequence[dict[str, Any]],
    *,
    table: str,
    id_column: str,
    fields: Sequence[Field],
    children: dict[str, tuple[str, Sequence[Field]]],
    synced_at: datetime,
) -> dict[str, pa.Table]:
    """Split resources into a root table and one table per child list, all stamped `_synced_at`.

    `_synced_at` ties a child row to the version of its parent it came from: a parent whose
    list became empty leaves old child rows behind, which staging drops by this stamp.
    One Arrow inference over all attributes gives the root columns and, flattened, the child
    lists; a child list it cannot type is split row by row instead.
    """
    ids = [resource_id(r, table) for r in resources]
    rows = [attributes(r, table) for r in resources]
    inferred = infer_struct(rows)
    stamp = {"_synced_at": (synced_at, TIMESTAMP)}
    root_fields = [f for f in fields if f.key != "id"]
    root = build_table(
        table,
        rows,
        root_fields,
        row_ids=ids,
        constants=stamp,
        ignore=set(children) | DROPPED_ATTRIBUTES,
        inferred=inferred,
    )
    id_array = pa.array(ids, pa.int64())
    tables = {table: root.add_column(0, id_column, id_array)}
    for attribute, (child_table, child_fields) in children.items():
        split = _split_inferred(rows, inferred, attribute, id_array)
        if split is None:
            split = _split_rows(rows, ids, table, attribute, child_table)
        items, parent_ids, positions, inferred_items = split
        built = build_table(
            child_table,
            items,
            child_fields,
            row_ids=parent_ids,
            constants=stamp,
            inferred=inferred_items,
        )
        built = built.add_column(0, "_position", pa.array(positions, pa.int64()))
        tables[child_table] = built.add_column(0, id_column, pa.array(parent_ids, pa.int64()))
    return tables


# child items (dicts), their parent ids, their positions in the parent's list, and the items'
# inferred struct when there is one
ChildSplit = tuple[Sequence[dict[str, Any]], list[int], Any, pa.StructArray | None]


def _split_inferred(
    rows: Sequence[dict[str, Any]], inferred: pa.StructArray | None, attribute: str, ids: pa.Array
) -> ChildSplit | None:
    """The child list `attribute` flattened in Arrow; None when its type is not a list of
    objects (the row-by-row split then finds what is wrong, or that every list is empty)."""
    if inferred is None or inferred.type.get_field_index(attribute) < 0:
        return None
    lists = inferred.field(attribute)
    if not pa.types.is_list(lists.type) or not pa.types.is_struct(lists.type.value_type):
        return None
    items = lists.flatten()
    if items.null_count:  # a null item in a list: not an object
        return None
    parents = pc.list_parent_indices(lists).to_numpy()
    lengths = pc.list_value_length(lists).fill_null(0).to_numpy()
    starts = np.cumsum(lengths) - lengths
    positions = np.arange(len(items)) - starts[parents]
    parent_ids = ids.take(pa.array(parents)).to_pylist()
    # the dicts are read only if a column needs the row-by-row path (type drift, JSON text)
    return _LazyItems(rows, attribute, len(items)), parent_ids, positions, items


class _LazyItems(Sequence[dict[str, Any]]):
    """The child items of `rows` as the API sent them, gathered only when first read."""

    def __init__(self, rows: Sequence[dict[str, Any]], attribute: str, count: int) -> None:
        self._rows, self._attribute, self._count = rows, attribute, count
        self._items: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        if self._items is None:  # same order as Arrow's flatten: row by row, item by item
            self._items = [item for row in self._rows for item in row.get(self._attribute) or ()]
        return self._items[index]


def _split_rows(
    rows: Sequence[dict[str, Any]], ids: Sequence[int], table: str, attribute: str, child: str
) -> ChildSplit:
    items: list[dict[str, Any]] = []
    parent_ids: list[int] = []
    positions: list[int] = []
    for row_id, row in zip(ids, rows, strict=True):
        value = row.get(attribute)
        if not value:
            continue
        if not isinstance(value, list):
            raise SchemaDriftError(table, attribute, "list", value, row_id)
        items.extend(value)
        parent_ids.extend([row_id] * len(value))
        positions.extend(range(len(value)))
    for item, row_id in zip(items, parent_ids, strict=True):
        if not isinstance(item, dict):
            raise SchemaDriftError(child, attribute, "object", item, row_id)
    return items, parent_ids, positions, None


def project_tables(resources: Sequence[dict[str, Any]], synced_at: datetime) -> dict[str, pa.Table]:
    return to_tables(
        resources,
        table="projects",
        id_column="project_id",
        fields=PROJECT_FIELDS,
        children=PROJECT_CHILDREN,
        synced_at=synced_at,
    )


def run_tables(resources: Sequence[dict[str, Any]], synced_at: datetime) -> dict[str, pa.Table]:
    return to_tables(
        resources,
        table="runs",
        id_column="run_id",
        fields=RUN_FIELDS,
        children=RUN_CHILDREN,
        synced_at=synced_at,
    )


def parent_table(children: array[int], parents: array[int], synced_at: datetime) -> pa.Table:
    """Hierarchy edges (child run, its parent, both `array("q")`) as a table, without a
    Python object per edge (a first sync at 1M runs has ~360k)."""
    return pa.table(
        {
            field.name: pa.Array.from_buffers(pa.int64(), len(ids), [None, pa.py_buffer(ids)])
            for field, ids in zip(PARENT_FIELDS, (children, parents), strict=True)
        }
        | {"_synced_at": repeat(synced_at, TIMESTAMP, len(children))}
    )


def tombstone_table(
    entity: str, vanished: Sequence[int], reappeared: Sequence[int], detected_at: datetime
) -> pa.Table:
    """Rows for ids that vanished from the API (flagged) or came back (flag removed)."""
    ids = [*vanished, *reappeared]
    return pa.table(
        {
            "entity": pa.array([entity] * len(ids), pa.string()),
            "id": pa.array(ids, pa.int64()),
            "detected_at": pa.array([detected_at] * len(ids), TIMESTAMP),
            "reappeared": pa.array([False] * len(vanished) + [True] * len(reappeared), pa.bool_()),
        }
    )


NO_IDS = np.empty(0, np.int64)


def id_array(ids: Iterable[int]) -> np.ndarray:
    """`ids` as a sorted int64 array without repeats: 8 bytes an id, where a set of ints takes
    ~70 (reconciling 1M runs held three such sets through the whole sync)."""
    if isinstance(ids, np.ndarray):
        return np.unique(ids.astype(np.int64, copy=False))
    return np.unique(np.fromiter(ids, np.int64))


def missing_ids(
    known: Mapping[str, np.ndarray],
    flagged: Mapping[str, np.ndarray],
    entity: str,
    listed: np.ndarray,
) -> list[int]:
    """Ids of `entity` the warehouse holds, not listed now and not already flagged, ascending."""
    missing = np.setdiff1d(known.get(entity, NO_IDS), listed, assume_unique=True)
    return np.setdiff1d(missing, flagged.get(entity, NO_IDS), assume_unique=True).tolist()
