"""Model Lab rows to Arrow tables: child lists flattened in Arrow, type drift named."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pipelines.common.errors import SchemaDriftError
from pipelines.model_lab.helpers import run_tables

SYNCED_AT = datetime(2026, 11, 23, tzinfo=UTC)


def run(run_id: int, **attributes: Any) -> dict[str, Any]:
    base = {"project_id": 7, "name": f"run {run_id}", "updated_at": "2026-11-20T10:00:00Z"}
    return {"id": str(run_id), "type": "runs", "attributes": {**base, **attributes}}


def metric(key: str, **values: Any) -> dict[str, Any]:
    return {"key": key, "count": 3, "first_step": 0, "last_step": 2, "latest": 0.5, **values}


def test_child_lists_keep_parents_positions_and_unknown_keys() -> None:
    runs = [
        run(1, params=[{"key": "lr", "value": "0.1"}, {"key": "bs", "value": "32"}], tags=[]),
        run(2, params=None, metric_summaries=[metric("loss", mean=0.4)]),
        run(3, params=[{"key": "lr", "value": "0.2", "source": {"from": "sweep"}}]),
        run(4, metric_summaries=[metric("acc"), metric("loss", unit="nats")]),
    ]
    tables = run_tables(runs, SYNCED_AT)
    params = tables["run_params"]
    assert params.column("run_id").to_pylist() == [1, 1, 3]
    assert params.column("_position").to_pylist() == [0, 1, 0]
    assert params.column("value").to_pylist() == ["0.1", "32", "0.2"]
    # an object inside an item becomes JSON text as the API sent it
    assert params.column("source").to_pylist() == [None, None, '{"from":"sweep"}']
    metrics = tables["run_metrics"]
    assert metrics.column("run_id").to_pylist() == [2, 4, 4]
    assert metrics.column("_position").to_pylist() == [0, 0, 1]
    assert metrics.column("count").type.bit_width == 64
    assert metrics.column("mean").to_pylist() == [0.4, None, None]
    assert metrics.column("unit").to_pylist() == [None, None, "nats"]
    assert tables["run_tags"].num_rows == 0
    assert tables["runs"].column("run_id").to_pylist() == [1, 2, 3, 4]
    assert set(tables["runs"].column("_synced_at").to_pylist()) == {SYNCED_AT}


@pytest.mark.parametrize(
    ("attributes", "table", "field"),
    [
        ({"metric_summaries": [metric("loss", count=1.5)]}, "run_metrics", "count"),
        ({"metric_summaries": [metric("loss", count=True)]}, "run_metrics", "count"),
        ({"metric_summaries": [metric("loss", latest="high")]}, "run_metrics", "latest"),
        ({"params": [{"key": "lr", "value": 0.1}]}, "run_params", "value"),
        ({"params": [None]}, "run_params", "params"),
        ({"params": ["lr=0.1"]}, "run_params", "params"),
        ({"params": "lr=0.1"}, "runs", "params"),
        ({"project_id": 7.5}, "runs", "project_id"),
        ({"has_children": 1}, "runs", "has_children"),
    ],
)
def test_type_drift_names_table_and_field(
    attributes: dict[str, Any], table: str, field: str
) -> None:
    # the drifted row sits among good ones: the batch must still fail, naming the run
    runs = [run(1, metric_summaries=[metric("acc")]), run(2, **attributes), run(3)]
    with pytest.raises(SchemaDriftError) as raised:
        run_tables(runs, SYNCED_AT)
    assert f"'{table}'" in str(raised.value)
    assert f"'{field}'" in str(raised.value)
    assert "(row id 2)" in str(raised.value)
