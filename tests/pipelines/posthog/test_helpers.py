"""Pure PostHog transforms: typed tables, fingerprints, event parsing, windows, HogQL text."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pyarrow as pa
import pytest

from pipelines.common.errors import ApiError, SchemaDriftError
from pipelines.posthog.helpers import (
    dataset_table,
    evaluation_results_query,
    evaluation_table,
    fingerprint,
    item_table,
    parse_event,
    query_windows,
    result_table,
    updated_at,
    window_floor,
)

SYNCED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
UUID_A = "0192f0c1-2d3e-7a4b-8c5d-6e7f80910a1b"


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_dataset_table_types_json_and_fingerprint() -> None:
    row = {
        "id": "d1",
        "name": "golden",
        "description": None,
        "metadata": {"owner": "ml", "tags": ["a"]},
        "deleted": False,
        "team": 7,
        "created_by": {"id": 1, "email": "a@b.c"},
        "created_at": "2026-11-01T10:00:00.123456Z",
        "updated_at": "2026-11-02T10:00:00Z",
    }
    table = dataset_table([row], SYNCED)
    assert table.schema.field("dataset_id").type == pa.string()
    assert table.schema.field("description").type == pa.string()  # all-null stays typed
    assert table.schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    got = table.to_pylist()[0]
    assert orjson.loads(got["metadata"]) == {"owner": "ml", "tags": ["a"]}
    assert got["created_at"] == datetime(2026, 11, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert got["_fingerprint"] == fingerprint(row)
    assert got["_synced_at"] == SYNCED


def test_new_api_fields_become_columns_and_types_are_pinned() -> None:
    row = {"id": "e1", "name": "judge", "enabled": True, "created_at": "2026-11-01T00:00:00Z"}
    table = evaluation_table([{**row, "status": "active", "new_field": {"x": 1}}], SYNCED)
    assert orjson.loads(table.column("new_field")[0].as_py()) == {"x": 1}
    with pytest.raises(SchemaDriftError, match="table 'evaluations', field 'enabled'"):
        evaluation_table([{**row, "enabled": "yes"}], SYNCED)


def test_items_from_the_older_api_map_to_todays_names() -> None:
    row = {
        "id": "i1",
        "dataset": "d1",
        "input": "plain string",
        "ref_trace_timestamp": "2026-11-01T00:00:00Z",
        "ref_span_id": "span-9",
        "created_at": "2026-11-01T00:00:00Z",
    }
    got = item_table([row], SYNCED).to_pylist()[0]
    assert got["ref_timestamp"] == ts("2026-11-01T00:00:00")
    assert got["ref_source_id"] == "span-9"
    assert got["input"] == '"plain string"'  # any JSON value is kept as JSON text
    assert "ref_span_id" not in got
    assert got["_fingerprint"] == fingerprint(row)  # of the row as the API served it


def test_fingerprint_sees_any_change_and_ignores_key_order() -> None:
    a = {"id": "x", "input": {"q": 1, "r": 2}}
    assert fingerprint(a) == fingerprint({"input": {"r": 2, "q": 1}, "id": "x"})
    assert fingerprint(a) != fingerprint({"id": "x", "input": {"q": 1, "r": 3}})


def test_updated_at_falls_back_to_created_at() -> None:
    row = {"id": "x", "updated_at": None, "created_at": "2026-11-01T00:00:00Z"}
    assert updated_at(row, "datasets") == ts("2026-11-01T00:00:00")
    with pytest.raises(SchemaDriftError, match="updated_at"):
        updated_at({"id": "x", "updated_at": 5}, "datasets")


def test_parse_event_and_result_columns() -> None:
    properties = {
        "$ai_evaluation_id": "e1",
        "$ai_evaluation_result": "false",  # older writers: booleans as text
        "$ai_evaluation_applicable": True,
        "$ai_evaluation_reasoning": "off topic",
        "$ai_evaluation_runtime": "llm_judge",
        "$ai_model": "gpt-x",
        "$ai_evaluation_model": "judge-1",
        "$ai_provider": "openai",
        "$ai_input_tokens": "12",
        "$ai_target_event_id": "t1",
        "$ai_trace_id": "tr1",
    }
    event = parse_event(
        {
            "uuid": UUID_A,
            "timestamp": "2026-11-01T10:00:00.000001Z",
            "created_at": "2026-11-01 10:00:05.5",
            "properties": orjson.dumps(properties).decode(),
        }
    )
    assert event.timestamp == datetime(2026, 11, 1, 10, 0, 0, 1, tzinfo=UTC)
    row = result_table([event], SYNCED).to_pylist()[0]
    assert row["event_id"] == UUID_A
    assert (row["result"], row["applicable"], row["model"], row["provider"]) == (
        False,
        True,
        "judge-1",
        "openai",
    )
    assert (row["input_tokens"], row["output_tokens"]) == (12, None)
    assert row["created_at"] == datetime(2026, 11, 1, 10, 0, 5, 500000, tzinfo=UTC)
    assert orjson.loads(row["properties"]) == properties


def test_malformed_events_are_clear_errors() -> None:
    with pytest.raises(ApiError, match="valid uuid"):
        parse_event({"uuid": "nope", "timestamp": "2026-11-01T00:00:00Z", "properties": "{}"})
    with pytest.raises(ApiError, match="not JSON"):
        parse_event({"uuid": UUID_A, "timestamp": "2026-11-01T00:00:00Z", "properties": "{"})


def test_query_text_has_the_documented_shape() -> None:
    sql = evaluation_results_query(
        ts("2026-11-01T00:00:00"),
        ts("2026-11-02T00:00:00"),
        (datetime(2026, 11, 1, 5, 6, 7, 89, tzinfo=UTC), UUID_A.upper()),
        500,
    )
    assert sql == (
        "SELECT uuid, timestamp, created_at, properties FROM events\n"
        "WHERE event = '$ai_evaluation'\n"
        "  AND timestamp >= toDateTime64('2026-11-01 00:00:00.000000', 6, 'UTC')\n"
        "  AND timestamp < toDateTime64('2026-11-02 00:00:00.000000', 6, 'UTC')\n"
        "  AND (timestamp > toDateTime64('2026-11-01 05:06:07.000089', 6, 'UTC') OR "
        "(timestamp = toDateTime64('2026-11-01 05:06:07.000089', 6, 'UTC') "
        f"AND uuid > '{UUID_A}'))\n"
        "ORDER BY timestamp, uuid\n"
        "LIMIT 500"
    )
    with pytest.raises(ApiError, match="malformed event uuid"):
        evaluation_results_query(SYNCED, SYNCED, (SYNCED, "x' OR 1=1 --"), 5)


def test_windows_cut_at_utc_midnight() -> None:
    start, end = ts("2026-11-01T13:00:00"), ts("2026-11-03T02:30:00")
    assert query_windows(start, end, 24) == [
        (start, ts("2026-11-02T00:00:00")),
        (ts("2026-11-02T00:00:00"), ts("2026-11-03T00:00:00")),
        (ts("2026-11-03T00:00:00"), end),
    ]
    assert query_windows(end, end, 24) == []
    assert window_floor(start, 24) == ts("2026-11-01T00:00:00")
    assert window_floor(start, 6) == ts("2026-11-01T12:00:00")
