"""Pure transforms for PostHog: rows -> typed Arrow tables, fingerprints, query windows, HogQL."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa

from ..common.arrow import TIMESTAMP, Field, build_table, parse_timestamp
from ..common.errors import ApiError, SchemaDriftError
from .settings import EVALUATION_EVENT

DATASET_FIELDS = (
    Field("dataset_id", "text", source="id"),
    Field("name", "text"),
    Field("description", "text"),
    Field("metadata", "json"),
    Field("deleted", "bool"),
    Field("team", "int"),
    Field("created_by", "json"),
    Field("created_at", "timestamp"),
    Field("updated_at", "timestamp"),
)
ITEM_FIELDS = (
    Field("item_id", "text", source="id"),
    Field("dataset_id", "text", source="dataset"),
    Field("input", "json"),
    Field("output", "json"),
    Field("metadata", "json"),
    Field("ref_trace_id", "text"),
    Field("ref_timestamp", "timestamp"),
    Field("ref_source_id", "text"),
    Field("deleted", "bool"),
    Field("team", "int"),
    Field("created_by", "json"),
    Field("created_at", "timestamp"),
    Field("updated_at", "timestamp"),
)
EVALUATION_FIELDS = (
    Field("evaluation_id", "text", source="id"),
    Field("name", "text"),
    Field("description", "text"),
    Field("enabled", "bool"),
    Field("status", "text"),
    Field("status_reason", "text"),
    Field("evaluation_type", "text"),
    Field("evaluation_config", "json"),
    Field("output_type", "text"),
    Field("output_config", "json"),
    Field("conditions", "json"),
    Field("model_configuration", "json"),
    Field("target", "text"),
    Field("target_config", "json"),
    Field("deleted", "bool"),
    Field("created_by", "json"),
    Field("created_at", "timestamp"),
    Field("updated_at", "timestamp"),
)
# Older ("era A") item field names -> today's
LEGACY_ITEM_FIELDS = {"ref_trace_timestamp": "ref_timestamp", "ref_span_id": "ref_source_id"}

_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)


@dataclass
class WarehouseSnapshot:
    """What this source loaded before, read from the warehouse when the sync is built.

    `fingerprints[entity]` maps id -> content fingerprint (present for the entities the
    sync compares in full); `flagged[entity]` holds ids flagged deleted and not loaded since.
    """

    fingerprints: dict[str, dict[str, str]] = field(default_factory=dict)
    flagged: dict[str, set[str]] = field(default_factory=dict)


def row_id(row: Mapping[str, Any], table: str) -> str:
    value = row.get("id")
    if not isinstance(value, str) or not value:
        raise SchemaDriftError(table, "id", "string id", value, value)
    return value


def fingerprint(row: Mapping[str, Any]) -> str:
    """A hash of everything the API says about a row."""
    digest = hashlib.blake2b(orjson.dumps(row, option=orjson.OPT_SORT_KEYS), digest_size=12)
    return digest.hexdigest()


def updated_at(row: Mapping[str, Any], table: str) -> datetime:
    """`updated_at`, or `created_at` where a server left it null (the schema allows it)."""
    value = row.get("updated_at") or row.get("created_at")
    if not isinstance(value, str):
        raise SchemaDriftError(table, "updated_at", "ISO-8601 string", value, row.get("id"))
    try:
        return parse_timestamp(value)
    except ValueError:
        raise SchemaDriftError(
            table, "updated_at", "ISO-8601 timestamp", value, row.get("id")
        ) from None


def _table(
    table: str,
    rows: Sequence[dict[str, Any]],
    fields: Sequence[Field],
    synced_at: datetime,
    *,
    ignore: Sequence[str] = (),
    fingerprints: Sequence[str] | None = None,
) -> pa.Table:
    """Pinned columns, new API fields as extra columns, `_synced_at` and `_fingerprint` (of
    the row as the API served it: the next sync compares against it)."""
    ids = [row_id(r, table) for r in rows]
    built = build_table(
        table,
        rows,
        fields,
        row_ids=ids,
        constants={"_synced_at": (synced_at, TIMESTAMP)},
        ignore=ignore,
    )
    prints = fingerprints if fingerprints is not None else [fingerprint(r) for r in rows]
    return built.append_column("_fingerprint", pa.array(prints, pa.string()))


def dataset_table(rows: Sequence[dict[str, Any]], synced_at: datetime) -> pa.Table:
    return _table("datasets", rows, DATASET_FIELDS, synced_at)


def item_table(rows: Sequence[dict[str, Any]], synced_at: datetime) -> pa.Table:
    normalized = []
    for row in rows:
        legacy = {new: row[old] for old, new in LEGACY_ITEM_FIELDS.items() if old in row}
        normalized.append({**legacy, **row} if legacy else row)
    return _table(
        "dataset_items",
        normalized,
        ITEM_FIELDS,
        synced_at,
        ignore=list(LEGACY_ITEM_FIELDS),
        fingerprints=[fingerprint(r) for r in rows],
    )


def evaluation_table(rows: Sequence[dict[str, Any]], synced_at: datetime) -> pa.Table:
    return _table("evaluations", rows, EVALUATION_FIELDS, synced_at)


def tombstone_table(entity: str, ids: Sequence[str], detected_at: datetime) -> pa.Table:
    """Rows for ids that vanished from the API."""
    return pa.table(
        {
            "entity": pa.array([entity] * len(ids), pa.string()),
            "id": pa.array(list(ids), pa.string()),
            "detected_at": pa.array([detected_at] * len(ids), TIMESTAMP),
        }
    )


# --- evaluation results ($ai_evaluation events) ------------------------------------------


@dataclass(frozen=True)
class EvaluationEvent:
    """One `$ai_evaluation` event as the Query API returned it."""

    uuid: str
    timestamp: datetime
    created_at: datetime | None
    properties: dict[str, Any]


def parse_event(row: Mapping[str, Any]) -> EvaluationEvent:
    """A Query API row (`uuid, timestamp, created_at, properties`) as an event."""
    uuid = row.get("uuid")
    if not isinstance(uuid, str) or not _UUID.match(uuid):
        raise ApiError(f"Query API row without a valid uuid: {uuid!r:.60}")
    try:
        timestamp = parse_timestamp(str(row.get("timestamp")))
    except ValueError:
        raise ApiError(f"event {uuid}: unreadable timestamp {row.get('timestamp')!r:.60}") from None
    created = row.get("created_at")
    try:
        created_at = parse_timestamp(created) if isinstance(created, str) and created else None
    except ValueError:
        created_at = None
    raw = row.get("properties")
    if isinstance(raw, str):
        try:
            properties = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            raise ApiError(f"event {uuid}: properties are not JSON") from None
    else:
        properties = raw if raw is not None else {}
    if not isinstance(properties, dict):
        raise ApiError(f"event {uuid}: properties are not a JSON object")
    return EvaluationEvent(uuid, timestamp, created_at, properties)


def _as_bool(value: Any) -> bool | None:
    """Event properties come from several writers: accept true/false however spelled."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        return {"true": True, "false": False, "1": True, "0": False}.get(value.strip().lower())
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return None
    return None


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _as_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


def _first(properties: Mapping[str, Any], *keys: str) -> Any:
    return next((properties[k] for k in keys if properties.get(k) is not None), None)


# column -> (arrow type, value from the event's properties); lenient: a value of an
# unexpected type becomes NULL (the raw `properties` column keeps it) instead of failing a sync
RESULT_PROPERTIES: dict[str, tuple[pa.DataType, Any]] = {
    "evaluation_id": (pa.string(), lambda p: _as_text(p.get("$ai_evaluation_id"))),
    "evaluation_name": (pa.string(), lambda p: _as_text(p.get("$ai_evaluation_name"))),
    "evaluation_mode": (pa.string(), lambda p: _as_text(p.get("$ai_evaluation_type"))),
    "runtime": (pa.string(), lambda p: _as_text(p.get("$ai_evaluation_runtime"))),
    "result": (pa.bool_(), lambda p: _as_bool(p.get("$ai_evaluation_result"))),
    "applicable": (pa.bool_(), lambda p: _as_bool(p.get("$ai_evaluation_applicable"))),
    "allows_na": (pa.bool_(), lambda p: _as_bool(p.get("$ai_evaluation_allows_na"))),
    "reasoning": (pa.string(), lambda p: _as_text(p.get("$ai_evaluation_reasoning"))),
    "result_type": (pa.string(), lambda p: _as_text(p.get("$ai_evaluation_result_type"))),
    "target_event_id": (pa.string(), lambda p: _as_text(p.get("$ai_target_event_id"))),
    "target_event_type": (pa.string(), lambda p: _as_text(p.get("$ai_target_event_type"))),
    "trace_id": (pa.string(), lambda p: _as_text(p.get("$ai_trace_id"))),
    "model": (pa.string(), lambda p: _as_text(_first(p, "$ai_evaluation_model", "$ai_model"))),
    "provider": (
        pa.string(),
        lambda p: _as_text(_first(p, "$ai_evaluation_provider", "$ai_provider")),
    ),
    "input_tokens": (pa.int64(), lambda p: _as_int(p.get("$ai_input_tokens"))),
    "output_tokens": (pa.int64(), lambda p: _as_int(p.get("$ai_output_tokens"))),
    "started_at": (TIMESTAMP, lambda p: _as_timestamp(p.get("$ai_evaluation_start_time"))),
}


def result_table(events: Sequence[EvaluationEvent], synced_at: datetime) -> pa.Table:
    """One row per event; the full `properties` are kept as JSON next to the typed columns."""
    columns: dict[str, pa.Array] = {
        "event_id": pa.array([e.uuid for e in events], pa.string()),
        "timestamp": pa.array([e.timestamp for e in events], TIMESTAMP),
        "created_at": pa.array([e.created_at for e in events], TIMESTAMP),
    }
    for name, (arrow_type, read) in RESULT_PROPERTIES.items():
        columns[name] = pa.array([read(e.properties) for e in events], arrow_type)
    columns["properties"] = pa.array(
        [orjson.dumps(e.properties, option=orjson.OPT_SORT_KEYS).decode() for e in events],
        pa.string(),
    )
    columns["_synced_at"] = pa.array([synced_at] * len(events), TIMESTAMP)
    return pa.table(columns)


class RecentEvents:
    """Uuids of events the next sync reads again (timestamp >= `keep_from`), by UTC hour.

    Kept in the resource state so a re-read event is not loaded twice; hour buckets keep
    that state small (one uuid string per event) and easy to prune.
    """

    def __init__(self, saved: Mapping[str, Sequence[str]], keep_from: datetime) -> None:
        self._keep_from = keep_from
        self.buckets: dict[str, list[str]] = {
            hour: list(uuids)
            for hour, uuids in saved.items()
            if parse_timestamp(hour) + timedelta(hours=1) > keep_from
        }
        self._members = {uuid for uuids in self.buckets.values() for uuid in uuids}

    def add(self, events: Sequence[EvaluationEvent]) -> None:
        for event in events:
            if event.timestamp < self._keep_from or event.uuid in self._members:
                continue
            self._members.add(event.uuid)
            hour = event.timestamp.replace(minute=0, second=0, microsecond=0).isoformat()
            self.buckets.setdefault(hour, []).append(event.uuid)


def hogql_timestamp(value: datetime) -> str:
    """A HogQL DateTime64(6) literal in UTC."""
    text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"toDateTime64('{text}', 6, 'UTC')"


def evaluation_results_query(
    start: datetime, end: datetime, after: tuple[datetime, str] | None, limit: int
) -> str:
    """`$ai_evaluation` events in [start, end), after the keyset `after`, oldest first."""
    conditions = [
        f"event = '{EVALUATION_EVENT}'",
        f"timestamp >= {hogql_timestamp(start)}",
        f"timestamp < {hogql_timestamp(end)}",
    ]
    if after is not None:
        last_ts, last_uuid = after
        if not _UUID.match(last_uuid):  # it goes into the SQL text: only a uuid may
            raise ApiError(f"refusing to page after a malformed event uuid {last_uuid!r:.60}")
        ts = hogql_timestamp(last_ts)
        conditions.append(
            f"(timestamp > {ts} OR (timestamp = {ts} AND uuid > '{last_uuid.lower()}'))"
        )
    where = "\n  AND ".join(conditions)
    return (
        "SELECT uuid, timestamp, created_at, properties FROM events\n"
        f"WHERE {where}\n"
        "ORDER BY timestamp, uuid\n"
        f"LIMIT {int(limit)}"
    )


def query_windows(start: datetime, end: datetime, hours: float) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at multiples of `hours` since the epoch (24 h -> at UTC midnights)."""
    size = timedelta(hours=hours)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    windows = []
    lower = start
    while lower < end:
        boundary = epoch + size * ((lower - epoch) // size + 1)
        upper = min(boundary, end)
        windows.append((lower, upper))
        lower = upper
    return windows


def window_floor(moment: datetime, hours: float) -> datetime:
    """The window boundary at or before `moment`."""
    size = timedelta(hours=hours)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + size * ((moment - epoch) // size)
