"""Typed Arrow tables: pinned fields, extra columns, loud type drift."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from pipelines.common.arrow import (
    TIMESTAMP,
    Field,
    TableBatches,
    build_table,
    check_extra_types,
    parse_timestamp,
    repeat,
)
from pipelines.common.errors import SchemaDriftError

FIELDS = (Field("n", "int"), Field("x", "float"), Field("at", "timestamp"), Field("ok", "bool"))


def test_pinned_types_and_extras() -> None:
    rows = [
        {"n": 1, "x": 2, "at": "2026-01-02T03:04:05.123456Z", "ok": True, "new": "a"},
        {"n": None, "x": 1.5, "at": None, "ok": None, "meta": {"k": [1, 2]}},
    ]
    table = build_table("t", rows, FIELDS, row_ids=[1, 2])
    assert table.schema.field("n").type == pa.int64()
    assert table.schema.field("x").type == pa.float64()
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert table.column("x").to_pylist() == [2.0, 1.5]
    assert table.column("new").to_pylist() == ["a", None]
    assert table.column("meta").to_pylist() == [None, '{"k":[1,2]}']


@pytest.mark.parametrize(
    ("field", "value"),
    [("n", 1.5), ("n", "1"), ("n", True), ("x", "0.1"), ("ok", "yes"), ("at", "yesterday")],
)
def test_type_change_names_table_and_field(field: str, value: object) -> None:
    row = {"n": 1, "x": 1.0, "at": "2026-01-02T03:04:05Z", "ok": False, field: value}
    with pytest.raises(SchemaDriftError) as raised:
        build_table("runs", [row], FIELDS, row_ids=[42])
    assert "'runs'" in str(raised.value)
    assert f"'{field}'" in str(raised.value)
    assert "42" in str(raised.value)


def test_extra_column_with_mixed_types_fails() -> None:
    with pytest.raises(SchemaDriftError, match="'surprise'"):
        build_table("runs", [{"surprise": 1}, {"surprise": "one"}], (), row_ids=[1, 2])


def test_extra_column_type_change_against_warehouse_schema() -> None:
    table = pa.table({"surprise": pa.array(["one"])})
    with pytest.raises(SchemaDriftError, match="'surprise'"):
        check_extra_types("runs", table, lambda column: "bigint")
    check_extra_types("runs", table, lambda column: None)  # new column: fine


def test_parse_timestamp_offsets_and_nanoseconds() -> None:
    assert parse_timestamp("2026-07-20T09:30:04.928462123Z") == datetime(
        2026, 7, 20, 9, 30, 4, 928462, tzinfo=UTC
    )
    assert parse_timestamp("2026-07-20T11:30:04+02:00") == datetime(
        2026, 7, 20, 9, 30, 4, tzinfo=UTC
    )
    # 10:00:00.500Z is later than 10:00:00Z although '.' sorts before 'Z' as a string
    assert parse_timestamp("2024-03-25T10:00:00.500Z") > parse_timestamp("2024-03-25T10:00:00Z")


def test_table_batches_join_pages_with_different_extra_columns() -> None:
    batches = TableBatches()
    batches.add({"runs": pa.table({"id": [1], "gpu": pa.array([None], pa.null())})}, rows=1)
    batches.add({"runs": pa.table({"id": [2], "gpu": [2], "zone": ["eu"]})}, rows=1)
    batches.add({"runs": pa.table({"id": [3], "gpu": [0.5]})}, rows=1)
    assert batches.rows == 3
    runs = batches.take()["runs"]
    assert runs.column("gpu").to_pylist() == [None, 2.0, 0.5]
    assert runs.column("zone").to_pylist() == [None, "eu", None]
    assert batches.rows == 0
    assert batches.take() == {}


def test_table_batches_name_a_column_whose_type_changed_between_pages() -> None:
    batches = TableBatches()
    batches.add({"runs": pa.table({"id": [1], "gpu": [2]})}, rows=1)
    batches.add({"runs": pa.table({"id": [2], "gpu": ["two"]})}, rows=1)
    with pytest.raises(SchemaDriftError, match="table 'runs', field 'gpu'"):
        batches.take()


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 12, 6, 5, 4, 3, 123456, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # before the epoch
        datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=2))),  # another zone
    ],
)
def test_repeat_equals_a_repeated_scalar(value: datetime) -> None:
    for count in (0, 1, 3):
        assert repeat(value, TIMESTAMP, count).equals(pa.repeat(pa.scalar(value, TIMESTAMP), count))
    assert repeat("x", pa.string(), 2).to_pylist() == ["x", "x"]


def test_repeat_of_a_timestamp_does_not_import_pandas() -> None:
    script = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from pipelines.common.arrow import TIMESTAMP, repeat\n"
        "repeat(datetime.now(UTC), TIMESTAMP, 5)\n"
        "print('pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
