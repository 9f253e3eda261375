"""Pure transforms: API objects -> typed Arrow tables, fingerprints."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pyarrow as pa
import pytest

from pipelines.common.arrow import TIMESTAMP
from pipelines.common.errors import SchemaDriftError
from pipelines.llm_obs.helpers import (
    DraftState,
    Snapshot,
    dataset_table,
    draft_state_table,
    event_tables,
    experiment_table,
    fingerprint,
    interaction_tables,
    label_schema_table,
    record_table,
    snapshot_table,
    tombstone_table,
)

AT = datetime(2026, 7, 20, 9, 30, tzinfo=UTC)


def test_fingerprint_ignores_per_caller_fields_and_key_order() -> None:
    a = {"name": "q", "items": [{"id": "1", "can_annotate": True, "x": 1}]}
    b = {"items": [{"x": 1, "id": "1", "can_annotate": False}], "name": "q"}
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint({**a, "name": "r"})


def test_dataset_rows_take_the_project_from_the_path_and_keep_json() -> None:
    table = dataset_table(
        [
            (
                "p1",
                {
                    "id": "d1",
                    "type": "datasets",
                    "attributes": {
                        "name": "golden",
                        "description": None,
                        "metadata": {"team": "search", "n": [1, 2]},
                        "current_version": 3,
                        "created_at": "2026-07-20T09:30:04.928462Z",
                        "updated_at": "2026-07-20T09:31:00.000000123Z",
                    },
                },
            )
        ],
        AT,
    )
    row = table.to_pylist()[0]
    assert row["dataset_id"] == "d1" and row["project_id"] == "p1"
    assert orjson.loads(row["metadata"]) == {"team": "search", "n": [1, 2]}
    assert row["current_version"] == 3
    assert row["updated_at"] == datetime(2026, 7, 20, 9, 31, tzinfo=UTC)
    assert table.schema.field("created_at").type == TIMESTAMP


def test_dataset_version_as_text_is_a_type_change() -> None:
    bad = {"id": "d1", "attributes": {"current_version": "3", "name": "x"}}
    with pytest.raises(SchemaDriftError, match=r"'datasets'.*'current_version'"):
        dataset_table([("p1", bad)], AT)


def test_records_keep_any_json_value_and_reject_a_foreign_dataset() -> None:
    records = [
        {"id": "r1", "dataset_id": "d1", "input": "plain text", "expected_output": None},
        {"id": "r2", "dataset_id": "d1", "input": {"q": 1}, "expected_output": [1, "a"]},
    ]
    table = record_table("p1", "d1", records, AT)
    assert table.column("input").to_pylist() == ['"plain text"', '{"q":1}']
    assert table.column("expected_output").to_pylist() == [None, '[1,"a"]']
    assert table.column("_read_at").to_pylist() == [AT, AT]
    with pytest.raises(SchemaDriftError, match="dataset_id"):
        record_table("p1", "d2", records, AT)


def test_experiments_drop_the_requested_dataset_name_and_pin_author_as_json() -> None:
    table = experiment_table(
        [
            {
                "id": "e1",
                "attributes": {
                    "name": "run-1",
                    "dataset_name": "golden",
                    "author": {"id": "u1", "email": "a@b.c"},
                    "status": "running",
                    "gpu": "a100",  # a field the API added: a new column
                },
            }
        ],
        AT,
    )
    assert "dataset_name" not in table.column_names
    assert orjson.loads(table.column("author")[0].as_py()) == {"id": "u1", "email": "a@b.c"}
    assert table.column("gpu").to_pylist() == ["a100"]


def test_draft_states_unlocked_and_locked() -> None:
    locked = DraftState(
        "p1",
        "d1",
        {
            "drafting_since": "2024-01-15T10:30:00Z",
            "user": {"id": "u10", "email": "jane@example.com", "name": "Jane", "icon": ""},
        },
    )
    unlocked = DraftState("p1", "d2", None)
    rows = draft_state_table([locked, unlocked], AT).to_pylist()
    assert rows[0]["is_locked"] is True and rows[0]["locked_by_email"] == "jane@example.com"
    assert rows[0]["drafting_since"] == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    assert rows[1]["is_locked"] is False
    assert rows[1]["locked_by_id"] is None and rows[1]["drafting_since"] is None
    assert locked.fingerprint() != unlocked.fingerprint()


def test_events_flatten_meta_link_metrics_to_spans_and_dedupe() -> None:
    span = {
        "id": "ev1",
        "span_id": "s1",
        "trace_id": "t1",
        "name": "task",
        "status": "ok",
        "start_ns": 1_700_000_000_123_456_789,
        "duration": 2_500_000.0,
        "meta": {"input": {"q": "hi"}, "output": "hello", "expected_output": {"a": 1}, "x": 5},
        "eval_metrics": [
            {"id": "m1", "label": "accuracy", "metric_type": "score", "score_value": 0.5}
        ],
    }
    summary = {"id": "m9", "label": "accuracy", "metric_type": "score", "score_value": 0.7}
    tables = event_tables("e1", [span, dict(span)], [summary, dict(summary)], AT)
    spans = tables["experiment_spans"].to_pylist()
    assert len(spans) == 1
    assert spans[0]["input"] == '{"q":"hi"}' and spans[0]["output"] == '"hello"'
    assert spans[0]["meta_x"] == 5 and spans[0]["experiment_id"] == "e1"
    metrics = tables["eval_metrics"].to_pylist()
    assert [(m["metric_id"], m["span_id"], m["trace_id"], m["is_summary"]) for m in metrics] == [
        ("m1", "s1", "t1", False),
        ("m9", None, None, True),
    ]


def test_empty_event_tables_have_pinned_types() -> None:
    tables = event_tables("", [], [], AT)
    assert tables["eval_metrics"].schema.field("score_value").type == pa.float64()
    assert tables["experiment_spans"].schema.field("start_ns").type == pa.int64()


def test_interactions_split_into_interactions_and_annotations() -> None:
    items = [
        {
            "id": "i1",
            "type": "trace",
            "content_id": "c1",
            "created_at": "2026-01-01T00:00:00Z",
            "modified_at": "2026-01-02T00:00:00Z",
            "can_annotate": True,
            "annotations": [
                {
                    "id": "a1",
                    "interaction_id": "i1",
                    "label_values": {"quality": 4, "tags": ["x"]},
                    "created_at": "2026-01-01T00:00:00Z",
                    "created_by": "u1",
                    "modified_at": "2026-01-01T00:00:00Z",
                    "modified_by": "u1",
                }
            ],
        },
        {
            "id": "i2",
            "type": "display_block",
            "content_id": "h",
            "can_annotate": True,
            "display_block": [{"type": "markdown", "content": "# hi"}],
            "annotations": [],
        },
    ]
    tables = interaction_tables("q1", items, AT)
    interactions = tables["annotation_interactions"].to_pylist()
    assert [(r["interaction_id"], r["interaction_type"]) for r in interactions] == [
        ("i1", "trace"),
        ("i2", "display_block"),
    ]
    assert interactions[1]["created_at"] is None
    annotations = tables["annotations"].to_pylist()
    assert annotations[0]["queue_id"] == "q1"
    assert orjson.loads(annotations[0]["label_values"]) == {"quality": 4, "tags": ["x"]}


def test_label_schemas_keep_order_and_bounds() -> None:
    schemas = [
        {"name": "quality", "type": "score", "min": 0, "max": 5, "is_integer": True},
        {"name": "topic", "type": "categorical", "values": ["a", "b"], "id": "L2"},
    ]
    rows = label_schema_table("q1", schemas, AT).to_pylist()
    assert [(r["name"], r["_position"], r["min"], r["max"]) for r in rows] == [
        ("quality", 0, 0.0, 5.0),
        ("topic", 1, None, None),
    ]
    assert rows[1]["values"] == '["a","b"]' and rows[1]["label_id"] == "L2"


def test_tombstones_and_snapshots() -> None:
    tombstones = tombstone_table("dataset", {"b", "a"}, {"c"}, AT).to_pylist()
    assert [(t["id"], t["reappeared"]) for t in tombstones] == [
        ("a", False),
        ("b", False),
        ("c", True),
    ]
    snapshots = snapshot_table([Snapshot("dataset_records", "d1", 3, "2")], AT).to_pylist()
    assert snapshots == [
        {
            "collection": "dataset_records",
            "parent_id": "d1",
            "read_at": AT,
            "item_count": 3,
            "detail": "2",
        }
    ]
