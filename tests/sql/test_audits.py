"""The audits catch broken rows: in a synced warehouse through `labsync models`, and in marts
replaced by hand-made tables that break one rule each."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from pipelines import models
from pipelines.models import SQL_DIR
from pipelines.warehouse import working_path
from tests.sql.dataset import copy_of_hand_made
from tests.test_cli import labsync

LEADERBOARD_COLUMNS = (
    "project_id bigint, metric varchar, direction varchar, rank bigint, run_id bigint, "
    "run_name varchar, value double, n_runs bigint, win_rate double"
)


def audit(name: str, table: str, columns: str, values: list[tuple[Any, ...]]) -> list[tuple]:
    """Run audit `name` over `analytics.<table>` holding exactly `values`."""
    con = duckdb.connect()
    con.execute("create schema analytics")
    con.execute(f"create table analytics.{table} ({columns})")
    marks = ", ".join("?" * len(values[0]))
    con.executemany(f"insert into analytics.{table} values ({marks})", values)
    return con.execute((SQL_DIR / "audits" / f"{name}.sql").read_text()).fetchall()


def test_labsync_models_names_every_failing_audit_and_exits_1(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ds = copy_of_hand_made(tmp_path_factory)  # its audits pass: see test_marts.py
    with duckdb.connect(str(working_path(ds.warehouse))) as con:
        # a metric summary that contradicts itself (min above max)
        con.execute(
            "update raw_model_lab.run_metrics set min = 5 where run_id = ? and key = 'loss'",
            [ds["r2"]],
        )
        # the same metric twice for one run
        con.execute(
            "insert into raw_model_lab.run_metrics select * from raw_model_lab.run_metrics "
            "where run_id = ? and key = 'accuracy'",
            [ds["r3"]],
        )
        # a run of a project the warehouse has never seen
        con.execute(
            "insert into raw_model_lab.runs select * replace (999 as run_id, 77 as project_id) "
            "from raw_model_lab.runs where run_id = ?",
            [ds["r1"]],
        )
    broken = labsync("models", "--warehouse", str(ds.warehouse), env={})

    assert broken.returncode == 1, broken.stdout + broken.stderr
    failed = {
        line.split()[2].rstrip(":")
        for line in broken.stdout.splitlines()
        if line.startswith("AUDIT FAILED")
    }
    assert failed == {
        "model_lab_run_metrics__consistent",
        "model_lab_run_metrics__unique_key",
        "model_lab_runs__orphans",
        # the doubled metric doubles its rows in the marts built on it
        "leaderboard__unique_key",
        "run_comparison__unique_key",
    }
    assert "(999, 77, None, 'project missing')" in broken.stdout


def test_leaderboard_audit_accepts_shared_ranks_and_catches_skips_and_false_ties() -> None:
    good = [
        (1, "acc", "max", 1, 10, "a", 0.9, 3, 0.75),
        (1, "acc", "max", 1, 11, "b", 0.9, 3, 0.75),
        (1, "acc", "max", 3, 12, "c", 0.8, 3, 0.0),
        (1, "loss", "min", 1, 10, "a", 0.1, 2, 1.0),
        (1, "loss", "min", 2, 11, "b", 0.2, 2, 0.0),
    ]
    assert audit("leaderboard__ranks_consistent", "leaderboard", LEADERBOARD_COLUMNS, good) == []

    def broken_runs(rows: list[tuple[Any, ...]]) -> set[int]:
        found = audit("leaderboard__ranks_consistent", "leaderboard", LEADERBOARD_COLUMNS, rows)
        return {row[3] for row in found}

    # 1, 1, 2: after a tie of two the next rank is 3
    assert broken_runs([*good[:2], (1, "acc", "max", 2, 12, "c", 0.8, 3, 0.0)]) == {12}
    # 1, 3: a rank skipped
    assert broken_runs([good[3], (1, "loss", "min", 3, 11, "b", 0.2, 2, 0.0)]) == {11}
    # ranks starting at 2
    assert broken_runs([(1, "f1", "max", 2, 10, "a", 0.5, 1, None)]) == {10}
    # a shared rank over different values
    false_tie = [
        (1, "acc", "max", 1, 10, "a", 0.9, 2, 0.5),
        (1, "acc", "max", 1, 11, "b", 0.7, 2, 0.5),
    ]
    assert broken_runs(false_tie) == {11}
    # ranked against the direction: lower loss ranked below a higher one
    assert broken_runs([(1, "loss", "min", 1, 10, "a", 0.3, 2, 1.0), good[4]]) == {11}
    # n_runs that does not count the rows
    assert broken_runs([(1, "f1", "max", 1, 10, "a", 0.5, 2, None)]) == {10}


def test_metric_directions_audit_catches_duplicates_and_unknown_directions() -> None:
    columns = "metric varchar, direction varchar, source varchar"
    good = [("loss", "min", "default"), ("acc", "max", "config")]
    assert audit("metric_directions__valid", "metric_directions", columns, good) == []
    duplicate = [*good, ("loss", "max", "config")]
    found = audit("metric_directions__valid", "metric_directions", columns, duplicate)
    assert [row[0] for row in found] == ["loss"]
    found = audit("metric_directions__valid", "metric_directions", columns, [("f1", "up", "x")])
    assert [row[0] for row in found] == ["f1"]


# views with no row key: the sync's own history, one row per sync and resource
UNKEYED_VIEWS = {"sync_runs"}


def test_every_keyed_view_has_a_unique_key_audit_that_catches_a_duplicate(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ds = copy_of_hand_made(tmp_path_factory)
    with duckdb.connect(str(ds.warehouse), read_only=True) as con:
        views = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'analytics'"
            ).fetchall()
        }
    audited = {
        p.name.removesuffix("__unique_key.sql") for p in SQL_DIR.glob("audits/*__unique_key.sql")
    }
    assert views - UNKEYED_VIEWS - audited == set()

    row = ("project", 1, "param", "lr", "0.1", None, None)
    columns = (
        "scope varchar, project_id bigint, facet_type varchar, facet_name varchar, "
        "value varchar, numeric_min double, numeric_max double"
    )
    name = "model_lab_facet_values__unique_key"
    assert audit(name, "model_lab_facet_values", columns, [row]) == []
    assert audit(name, "model_lab_facet_values", columns, [row, row]) == [
        ("project", 1, "param", "lr", "0.1", 2)
    ]


def test_run_param_diff_audit_catches_a_run_twice_under_one_param() -> None:
    columns = "project_id bigint, key varchar, n_distinct bigint, run_id bigint, value varchar"
    good = [(1, "lr", 2, 10, "0.1"), (1, "lr", 2, 11, "0.2"), (1, "bs", 2, 10, "8")]
    name = "run_param_diff__unique_key"
    assert audit(name, "run_param_diff", columns, good) == []
    doubled = [*good, (1, "lr", 2, 11, "0.3")]
    assert audit(name, "run_param_diff", columns, doubled) == [(1, "lr", 1)]


def test_run_child_key_audits_catch_a_duplicate_key_of_current_rows_only(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The params, metrics and tags key audits find suspect runs by summing one bit per key:
    a repeated key among a run's current rows is caught, also past the first 31 keys (a second
    bit group); a repeat in rows staging drops (an older version of the run) is not."""
    ds = copy_of_hand_made(tmp_path_factory)
    r1, r2 = ds["r1"], ds["r2"]
    with duckdb.connect(str(ds.warehouse)) as con:

        def duplicates(table: str) -> list[tuple]:
            sql = (SQL_DIR / "audits" / f"model_lab_{table}__unique_key.sql").read_text()
            return con.execute(sql).fetchall()

        for table in ("run_params", "run_metrics", "run_tags"):
            assert duplicates(table) == []
        # 40 more param keys for r1, so keys fill two bit groups: still no duplicate
        con.execute(
            "insert into raw_model_lab.run_params select p.* replace "
            "(100 + i as _position, 'zz_' || lpad(i::varchar, 2, '0') as key) "
            "from raw_model_lab.run_params as p, range(40) as t(i) "
            "where run_id = ? and key = 'lr'",
            [r1],
        )
        assert duplicates("run_params") == []
        # the 35th of them twice
        con.execute(
            "insert into raw_model_lab.run_params select * replace (200 as _position) "
            "from raw_model_lab.run_params where run_id = ? and key = 'zz_34'",
            [r1],
        )
        assert duplicates("run_params") == [(r1, "zz_34", 2)]
        # a metric and a tag twice
        for table, key in (("run_metrics", "accuracy"), ("run_tags", "model")):
            con.execute(
                f"insert into raw_model_lab.{table} select * replace (99 as _position) "
                f"from raw_model_lab.{table} where run_id = ? and key = ?",
                [r2, key],
            )
            assert duplicates(table) == [(r2, key, 2)]
        # two tags without a key: grouped together, as `group by run_id, key` does
        con.execute(
            "insert into raw_model_lab.run_tags select g.* replace (90 + i as _position, "
            "null as key) from raw_model_lab.run_tags as g, range(2) as t(i) "
            "where run_id = ? and key = 'model'",
            [r1],
        )
        assert sorted(duplicates("run_tags"), key=str) == [(r1, None, 2), (r2, "model", 2)]
        # a repeated param in a version of r2 older than the one in the warehouse: not current
        con.execute(
            "insert into raw_model_lab.run_params select * replace "
            "(_synced_at - interval 1 day as _synced_at) "
            "from raw_model_lab.run_params where run_id = ? and key = 'lr'",
            [r2],
        )
        con.execute(
            "insert into raw_model_lab.run_params select * replace "
            "(_synced_at - interval 1 day as _synced_at, 98 as _position) "
            "from raw_model_lab.run_params where run_id = ? and key = 'lr'",
            [r2],
        )
        assert duplicates("run_params") == [(r1, "zz_34", 2)]


def test_implied_audits_are_skipped_on_the_views_and_run_on_a_table_standing_in(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ds = copy_of_hand_made(tmp_path_factory)
    with duckdb.connect(str(ds.warehouse)) as con:
        assert models.run_audits(con) == []
        # a table in place of the view: its key audit runs and finds the planted duplicate
        con.execute("create table keep as select * from analytics.run_param_diff")
        con.execute("drop view analytics.run_param_diff")
        con.execute(
            "create table analytics.run_param_diff as select * from keep "
            "union all (select * from keep limit 1)"
        )
        failed = {f.name for f in models.run_audits(con)}
    assert failed == {"run_param_diff__unique_key"}


def test_implied_by_names_audits_that_are_run() -> None:
    audits = {a.name: a for a in models.discover_audits()}
    implied = {name for name, a in audits.items() if a.implied_by is not None}
    assert {
        "leaderboard__ranks_consistent",
        "leaderboard__unique_key",
        "run_comparison__unique_key",
        "project_leaderboard__unique_key",
        "run_param_diff__unique_key",
        "runs_wide__unique_key",
        "sweep_summary__unique_key",
    } <= implied
    for name in implied:
        premises = set(audits[name].implied_by or ())
        # each premise exists and is run itself, so it has passed when the runner checks
        assert premises <= audits.keys() - implied, name
