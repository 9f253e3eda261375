"""What the model runner adds for the marts: config tables, pinned pivots, macros, rebuilds."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines import models, runner
from pipelines.common.errors import ConfigurationError
from tests.sql.dataset import datadog_env, hand_made_warehouse, rows, summary
from tests.test_cli import labsync


def write(folder: Path, name: str, sql: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.sql").write_text(sql)


def test_direction_overrides_are_validated_and_normalised() -> None:
    assert models.metric_direction_overrides({"a": "MIN", "b/c": " max "}) == {
        "a": "min",
        "b/c": "max",
    }
    assert models.metric_direction_overrides('{"x": "min"}') == {"x": "min"}  # env var: JSON
    assert models.metric_direction_overrides('x = "max"') == {"x": "max"}  # or TOML
    with pytest.raises(ConfigurationError, match=r"metric 'wer_bad' has direction 'lower'"):
        models.metric_direction_overrides({"ok": "min", "wer_bad": "lower"})
    with pytest.raises(ConfigurationError, match=r"metric 'n' has direction 1"):
        models.metric_direction_overrides({"n": 1})
    with pytest.raises(ConfigurationError, match="JSON object or TOML table"):
        models.metric_direction_overrides("min, please")
    with pytest.raises(ConfigurationError, match="must be a table"):
        models.metric_direction_overrides('["min"]')


def test_bad_direction_config_fails_before_any_view_is_replaced(tmp_path: Path) -> None:
    write(tmp_path / "marts", "one", "with a as (select 1 as x) select * from a")
    con = duckdb.connect()
    with pytest.raises(ConfigurationError, match="'loss'"):
        models.build(con, tmp_path, metric_directions={"loss": "down"})
    assert models.existing_relations(con) == set()

    built = models.build(con, tmp_path, metric_directions={"loss": "min"})
    assert [m.name for m in built] == ["one"]
    assert con.execute(f"select * from {models.DIRECTIONS_TABLE}").fetchall() == [("loss", "min")]


def test_dynamic_pivot_gets_its_columns_pinned_from_the_data() -> None:
    con = duckdb.connect()
    con.execute(
        "create table cells as select * from (values (1, 'b', 2.0), (1, 'a', 1.0), "
        "(2, 'it''s', 3.0), (2, null, 9.0)) as t(id, k, v)"
    )
    sql = (
        "with source as (select * from cells), "
        "wide as (pivot source on k using first(v) group by id) select * from wide"
    )
    pinned = models.pin_dynamic_pivots(con, sql)
    assert "IN ('a', 'b', 'it''s')" in pinned  # sorted, quoted, NULL left out
    con.execute(f"create view wide as {pinned}")  # a dynamic pivot could not be a view
    assert [c[0] for c in con.execute("describe wide").fetchall()] == ["id", "a", "b", "it's"]
    assert con.execute("select * from wide order by id").fetchall() == [
        (1, 1.0, 2.0, None),
        (2, None, None, 3.0),
    ]
    plain = "with a as (select 1 as x) select * from a"
    assert models.pin_dynamic_pivots(con, plain) == plain  # nothing to pin: unchanged
    unpivot = "with u as (unpivot cells on k, v into name n value x) select * from u"
    assert models.pin_dynamic_pivots(con, unpivot) == unpivot
    with pytest.raises(models.ModelError, match=r"several columns \(id, k\)"):
        models.pin_dynamic_pivots(con, "select * from (pivot cells on id, k using first(v))")


def test_dynamic_pivot_without_values_keeps_its_group_by_columns() -> None:
    con = duckdb.connect()
    con.execute("create table cells (id integer, k varchar, v double)")
    con.execute("insert into cells values (1, null, 1.0)")
    sql = "with w as (pivot cells on k using first(v) group by id) select * from w"
    con.execute(f"create view w as {models.pin_dynamic_pivots(con, sql)}")
    assert con.execute("select * from w").fetchall() == [(1,)]
    with pytest.raises(models.ModelError, match="no values and no group by"):
        no_group = "with w as (pivot cells on k using first(v)) select * from w"
        models.pin_dynamic_pivots(con, no_group)


def test_macros_take_named_parameters_and_skip_missing_sources(tmp_path: Path) -> None:
    write(tmp_path / "marts", "items", "with s as (select * from raw_x.items) select * from s")
    write(
        tmp_path / "macros",
        "items_above",
        "-- items above a floor\nwith items as (select * from analytics.items)\n"
        "select id, $floor as floor from items where id > $floor",
    )
    write(tmp_path / "macros", "needs_y", "select * from raw_y.items where id = $id")
    con = duckdb.connect()
    con.execute("create schema raw_x; create table raw_x.items as select range as id from range(5)")

    built = models.build(con, tmp_path, metric_directions={})

    assert sorted(m.qualified for m in built) == ["analytics.items", "analytics.items_above"]
    assert con.execute("select * from analytics.items_above(2) order by id").fetchall() == [
        (3, 2),
        (4, 2),
    ]
    positional = models.Model("analytics", "bad", tmp_path / "bad.sql", "select ? as x")
    with pytest.raises(models.ModelError, match="named parameters"):
        models.macro_sql(positional)


def test_a_cte_named_after_the_view_it_reads_still_orders_the_build(tmp_path: Path) -> None:
    # the import-CTE convention `base as (select * from analytics.base)`; "a_top" sorts first
    top = "with base as (select * from analytics.base)\nselect * from base"
    write(tmp_path / "marts", "a_top", top)
    write(tmp_path / "marts", "base", "with s as (select 2 as x)\nselect * from s")
    con = duckdb.connect()
    built = [m.name for m in models.build(con, tmp_path, metric_directions={})]
    assert built == ["base", "a_top"]
    assert con.execute("select * from analytics.a_top").fetchall() == [(2,)]


def test_new_keys_become_columns_and_directions_follow_the_config(tmp_path: Path) -> None:
    with hand_made_warehouse(tmp_path) as (ds, emu):
        emu.model_lab.insert_run(
            ds.project_a,
            name="late",
            status="completed",
            metric_summaries=[summary("brand_new_score", 0.5)],
            params=[{"key": "brand_new_param", "value": "x"}],
            tags=[{"key": "brand_new_tag", "value": "y"}],
        )
        with datadog_env(emu, overrides=None):  # the my_score override is gone from the config
            runner.sync(ds.warehouse, sources=["model_lab"])
    columns = {r[0] for r in rows(ds.warehouse, "describe analytics.runs_wide")}
    assert {"metrics.brand_new_score", "params.brand_new_param", "tags.brand_new_tag"} <= columns
    my_score = "select * from analytics.metric_directions where metric = 'my_score'"
    assert rows(ds.warehouse, my_score) == [("my_score", "max", "default")]
    assert rows(
        ds.warehouse,
        "select run_id from analytics.leaderboard where metric = 'my_score' order by rank",
    ) == [(ds["r1"],), (ds["r3"],), (ds["r2"],)]  # 3.0 > 2.0 > 1.0 now that higher is better


def test_labsync_models_exits_2_naming_a_bad_direction(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()
    done = labsync(
        "models",
        "--warehouse",
        str(warehouse),
        env={"MODELS__METRIC_DIRECTIONS": '{"val_f1": "best"}'},
    )
    assert done.returncode == 2, done.stderr
    assert "val_f1" in done.stderr and "'best'" in done.stderr
