"""`search_runs`: MLflow's filter grammar, its errors, and the DataFrame over a real warehouse."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

import pipelines
from pipelines.common.errors import ConfigurationError
from pipelines.search import InvalidFilter, parse_filter, parse_order_by, search_runs
from pipelines.warehouse import connect
from tests.sql.dataset import T0, Dataset, copy_of_hand_made


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return copy_of_hand_made(tmp_path_factory)


def parsed(text: str) -> list[tuple[str, str, tuple[object, ...]]]:
    return [(c.identifier.column, c.operator, c.values) for c in parse_filter(text)]


def test_the_issue_example_parses_into_four_comparisons() -> None:
    text = (
        "metrics.accuracy > 0.9 and params.optimizer = 'adam' and tags.model LIKE 'gpt%' "
        "and attributes.status = 'completed'"
    )
    assert parsed(text) == [
        ("metrics.accuracy", ">", (0.9,)),
        ("params.optimizer", "=", ("adam",)),
        ("tags.model", "LIKE", ("gpt%",)),
        ("status", "=", (("completed",),)),
    ]


def test_grammar_spellings_quoting_lists_and_nulls() -> None:
    assert parsed('metric.`val acc` >= -1.5e-3 AND param."batch size" != "32"') == [
        ("metrics.val acc", ">=", (-1.5e-3,)),
        ("params.batch size", "!=", ("32",)),
    ]
    assert parsed("tags.mlflow.runName ILIKE '%Fold%' and tag.x <> 'y'") == [
        ("tags.mlflow.runName", "ILIKE", ("%Fold%",)),
        ("tags.x", "<>", ("y",)),
    ]
    assert parsed("metrics.eval/rmse < 1 and run_id IN (3, '4') and params.o NOT IN ('a','b')") == [
        ("metrics.eval/rmse", "<", (1.0,)),
        ("run_id", "IN", (3, 4)),
        ("params.o", "NOT IN", ("a", "b")),
    ]
    assert parsed("tags.stage is null and params.lr IS NOT NULL") == [
        ("tags.stage", "IS NULL", ()),
        ("params.lr", "IS NOT NULL", ()),
    ]
    assert parsed("") == [] and parsed("   ") == []


def test_mlflow_status_names_are_synonyms() -> None:
    text = (
        "status = 'FINISHED' and attr.status != 'failed' and run.status IN ('SCHEDULED', 'Killed')"
    )
    assert parsed(text) == [
        ("status", "=", (("completed",),)),
        ("status", "!=", (("failed",),)),
        ("status", "IN", (("pending",), ("killed",))),
    ]
    # MLflow's RUNNING covers every live run; a Model Lab name stands for itself
    assert parsed("attributes.status = 'RUNNING' and status = 'running'") == [
        ("status", "=", (("running", "paused", "unresponsive"),)),
        ("status", "=", (("running",),)),
    ]
    assert parsed("status like 'FIN%' and attributes.created > 0 and user_id = 'ana'") == [
        ("status", "LIKE", ("FIN%",)),  # matched against both names of each status
        ("start_time", ">", (datetime(1970, 1, 1, tzinfo=UTC),)),
        ("user_id", "=", ("ana",)),
    ]


def test_times_take_epoch_milliseconds_or_iso_timestamps() -> None:
    ms = int(T0.timestamp() * 1000)
    assert parsed(f"attributes.start_time > {ms} and end_time <= '2026-03-01T10:00:00'") == [
        ("start_time", ">", (T0,)),
        ("end_time", "<=", (datetime(2026, 3, 1, 10, tzinfo=UTC),)),
    ]


@pytest.mark.parametrize(
    ("text", "token", "message"),
    [
        ("metrics.accuracy > 0.9 or params.x = 'a'", "or", "OR is not supported"),
        ("metricz.accuracy > 1", "metricz.accuracy", "unknown entity 'metricz'"),
        ("attributes.colour = 'red'", "attributes.colour", "unknown attribute 'colour'"),
        ("params.lr = 0.01", "0.01", "quote the value"),
        ("metrics.loss < 'low'", "'low'", "is a number"),
        ("metrics.loss >> 1", ">", "expected a number or a quoted string"),
        ("metrics.loss ~ 1", "~", "expected a comparison operator"),
        ("metrics.loss LIKE 'a%'", "LIKE", "does not take LIKE"),
        ("params.lr > '0.1'", ">", "does not take >"),
        ("metrics.loss IN (1)", "IN", "does not take IN"),
        ("status = 'DONE'", "'DONE'", "unknown status 'DONE'"),
        ("run_id = 'abc'", "'abc'", "integer id"),
        ("start_time > 'yesterday'", "'yesterday'", "ISO timestamp"),
        ("params.x = 'a", "'a", "unterminated quote"),
        ("metrics.a > 1 params.b = 'x'", "params.b", "expected AND"),
        ("params.x = 'a' and", "", "expected an identifier"),
        ("metrics.a", "", "expected a comparison operator"),
        ("params.o IN ('a' 'b')", "'b'", "expected , or )"),
        ("tags.x IS 'y'", "'y'", "expected NULL"),
    ],
)
def test_malformed_filters_name_the_offending_token(text: str, token: str, message: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        parse_filter(text)
    assert caught.value.token == token
    assert message in str(caught.value) and repr(text) in str(caught.value)
    assert isinstance(caught.value, ValueError)  # plain Python callers can catch ValueError


def test_order_by_items() -> None:
    identifier, descending = parse_order_by("metrics.rmse DESC")
    assert (identifier.column, descending) == ("metrics.rmse", True)
    identifier, descending = parse_order_by("start_time")
    assert (identifier.column, descending) == ("start_time", False)
    with pytest.raises(InvalidFilter, match="ASC or DESC"):
        parse_order_by("metrics.rmse downwards")


def test_search_runs_filters_like_mlflow(ds: Dataset) -> None:
    frame = search_runs(
        "metrics.accuracy > 0.86 and params.optimizer = 'adam' and attributes.status = 'FINISHED'",
        warehouse=ds.warehouse,
    )
    # r2 is below 0.86, r3 uses sgd, r4 failed, r5 is deleted (and uses rmsprop)
    assert frame["run_id"].tolist() == [ds["r1"]]
    gpt = search_runs("tags.model LIKE 'gpt%'", warehouse=ds.warehouse)
    assert sorted(gpt["run_id"]) == [ds["r1"], ds["r2"]]
    running = search_runs("attributes.status = 'RUNNING'", warehouse=ds.warehouse)
    assert running["run_id"].tolist() == [ds["r6"]]
    children = search_runs(
        f"parent_run_id = {ds['p']} and metrics.val_loss <= 0.4", warehouse=ds.warehouse
    )
    assert sorted(children["run_id"]) == [ds["c2"], ds["c3"], ds["c4"]]
    assert search_runs("metrics.never_logged > 0", warehouse=ds.warehouse).empty
    in_a = f"project_id = {ds.project_a}"
    untagged = search_runs(f"tags.model IS NULL and {in_a}", warehouse=ds.warehouse)
    assert sorted(untagged["run_id"]) == [ds["r4"], ds["r6"]]  # r5 is deleted
    not_adam = search_runs("params.optimizer NOT IN ('adam')", warehouse=ds.warehouse)
    assert not_adam["run_id"].tolist() == [ds["r3"]]  # runs without the param do not match
    with_f1 = search_runs("metrics.f1 IS NOT NULL and metrics.f1 = 0.8", warehouse=ds.warehouse)
    assert sorted(with_f1["run_id"]) == [ds["r1"], ds["r2"]]


def test_search_runs_orders_limits_and_scopes(ds: Dataset) -> None:
    by_accuracy = search_runs(
        order_by=["metrics.accuracy DESC"], project_ids=[ds.project_a], warehouse=ds.warehouse
    )
    # ties (r1, r3 at 0.90) as in MLflow: the later start first, then run id; runs without
    # accuracy (r6) last
    assert by_accuracy["run_id"].tolist() == [ds["r4"], ds["r3"], ds["r1"], ds["r2"], ds["r6"]]
    assert math.isnan(by_accuracy["metrics.accuracy"].iloc[-1])
    newest_first = search_runs(max_results=3, warehouse=ds.warehouse)  # MLflow: start_time DESC
    assert newest_first["run_id"].tolist() == [ds["c4"], ds["c3"], ds["c2"]]
    with_deleted = search_runs(
        "params.optimizer = 'rmsprop'", include_deleted=True, warehouse=ds.warehouse
    )
    assert with_deleted["run_id"].tolist() == [ds["r5"]]
    assert bool(with_deleted["is_deleted"].iloc[0])
    assert search_runs(project_ids=[], warehouse=ds.warehouse).empty
    with pytest.raises(ValueError, match="max_results"):
        search_runs(max_results=0, warehouse=ds.warehouse)


def test_search_runs_opens_the_file_read_only_and_is_exported(ds: Dataset, tmp_path: Path) -> None:
    assert pipelines.search_runs is search_runs
    # DuckDB refuses a read-write connection to a file this process holds read-only
    with connect(ds.warehouse, read_only=True):
        assert len(search_runs(warehouse=ds.warehouse)) == 10  # every run but the deleted one
    with pytest.raises(ConfigurationError, match="no warehouse"):
        search_runs(warehouse=tmp_path / "missing.duckdb")


def test_mlflow_statuses_user_id_created_and_ties(ds: Dataset, tmp_path: Path) -> None:
    """The four kinds where search_runs disagreed with MLflow 3.x's own search_runs."""
    import shutil

    from pipelines.warehouse import connect as open_warehouse

    copy = tmp_path / ds.warehouse.name
    shutil.copyfile(ds.warehouse, copy)
    with open_warehouse(copy) as con:  # r2 paused, r3 unresponsive; r1's user by tag
        con.execute("update raw_model_lab.runs set status = 'paused' where run_id = ?", [ds["r2"]])
        con.execute(
            "update raw_model_lab.runs set status = 'unresponsive' where run_id = ?", [ds["r3"]]
        )
        con.execute("update raw_model_lab.runs set owner_id = 77 where run_id = ?", [ds["r4"]])
        con.execute(
            "insert into raw_model_lab.run_tags (run_id, _position, key, value, _synced_at) "
            "select run_id, 99, 'mlflow.user', 'ana', _synced_at from raw_model_lab.runs "
            "where run_id = ?",
            [ds["r1"]],
        )

    def ids(text: str, **options: object) -> list[int]:
        return search_runs(text, warehouse=copy, **options)["run_id"].tolist()  # type: ignore[arg-type]

    in_a = f" and project_id = {ds.project_a}"
    live = sorted([ds["r2"], ds["r3"], ds["r6"]])
    assert sorted(ids("attributes.status = 'RUNNING'" + in_a)) == live
    assert sorted(ids("attributes.status LIKE 'RUN%'" + in_a)) == live
    assert sorted(ids("attributes.status IN ('RUNNING')" + in_a)) == live
    assert sorted(ids("attributes.status LIKE 'FIN%'" + in_a)) == [ds["r1"]]
    assert sorted(ids("attributes.status ILIKE 'fin%'" + in_a)) == [ds["r1"]]
    assert sorted(ids("attributes.status != 'RUNNING'" + in_a)) == sorted([ds["r1"], ds["r4"]])
    assert sorted(ids("attributes.status NOT IN ('FINISHED', 'FAILED')" + in_a)) == live
    assert ids("attributes.status = 'paused'") == [ds["r2"]]  # Model Lab's own name
    assert ids("attributes.user_id = 'ana'") == [ds["r1"]]  # the mlflow.user tag
    assert ids("user_id = '77'") == [ds["r4"]]  # else the owner
    assert ids("attributes.user_id LIKE 'an%'") == [ds["r1"]]
    created = ids("attributes.created >= 0", order_by=["created ASC"], max_results=2)
    assert created == ids("start_time >= 0", order_by=["start_time ASC"], max_results=2)
    assert ids(in_a.removeprefix(" and "), order_by=["user_id ASC"])[:2] == [ds["r4"], ds["r1"]]
    # every run of project A has seed 42: ties fall back to start_time DESC, then run id
    assert ids(in_a.removeprefix(" and "), order_by=["params.seed"]) == [
        ds["r4"],
        ds["r3"],
        ds["r2"],
        ds["r1"],
        ds["r6"],
    ]
