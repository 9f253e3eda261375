"""The analytics marts over the hand-made warehouse (tests/sql/dataset.py), expected by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from pipelines import models
from pipelines.warehouse import connect
from tests.sql.dataset import Dataset, copy_of_hand_made, rows


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return copy_of_hand_made(tmp_path_factory)


def test_metric_directions_follow_word_rules_and_the_config_wins(ds: Dataset) -> None:
    table = rows(ds.warehouse, "select metric, direction, source from analytics.metric_directions")
    found = {metric: (direction, source) for metric, direction, source in table}
    assert found == {
        "accuracy": ("max", "default"),
        "loss": ("min", "default"),
        "f1": ("max", "default"),
        "bleu": ("max", "default"),
        "my_score": ("min", "config"),  # no rule word: max by default, min from the config
        "unused_metric": ("max", "config"),  # configured but never logged: still listed
        "trainLoss": ("min", "default"),  # camelCase is split into words
        "latency_ms": ("min", "default"),
        "eval/rmse": ("min", "default"),
        "power": ("max", "default"),  # whole words only: "power" does not contain "wer"
        "tokens_per_second": ("max", "default"),
        "val_loss": ("min", "default"),
        "acc": ("max", "default"),
    }


def test_leaderboard_ranks_eligible_runs_and_ties_share_a_rank(ds: Dataset) -> None:
    r1, r2, r3 = ds["r1"], ds["r2"], ds["r3"]
    board = rows(
        ds.warehouse,
        "select metric, direction, rank, run_id, value, n_runs, win_rate "
        "from analytics.leaderboard where project_id = ? order by metric, rank, run_id",
        [ds.project_a],
    )
    # r4 failed, r5 is deleted, r6 is running: none of them is ranked, whatever their values
    assert board == [
        ("accuracy", "max", 1, r1, 0.90, 3, 0.75),  # beats r2, ties r3: (1 + 0.5) / 2
        ("accuracy", "max", 1, r3, 0.90, 3, 0.75),
        ("accuracy", "max", 3, r2, 0.85, 3, 0.0),  # 1, 1, 3: the tie is counted
        ("bleu", "max", 1, r1, 0.30, 1, None),  # alone (r4's 0.5 failed): no win rate
        ("f1", "max", 1, r1, 0.80, 2, 0.5),  # r3 lacks f1: not ranked, not penalised
        ("f1", "max", 1, r2, 0.80, 2, 0.5),
        ("loss", "min", 1, r2, 0.20, 3, 1.0),
        ("loss", "min", 2, r3, 0.25, 3, 0.5),
        ("loss", "min", 3, r1, 0.30, 3, 0.0),
        ("my_score", "min", 1, r2, 1.0, 3, 1.0),  # the config's direction
        ("my_score", "min", 2, r3, 2.0, 3, 0.5),
        ("my_score", "min", 3, r1, 3.0, 3, 0.0),
    ]


def test_run_comparison_best_in_run_project_best_delta_and_rank(ds: Dataset) -> None:
    found = {
        (run_id, metric): rest
        for run_id, metric, *rest in rows(
            ds.warehouse,
            "select run_id, metric, status, latest, best_in_run, project_best, delta_vs_best, "
            "rank_in_project, is_eligible from analytics.run_comparison where project_id = ?",
            [ds.project_a],
        )
    }
    assert found[(ds["r1"], "accuracy")] == ["completed", 0.90, 0.92, 0.90, 0.0, 1, True]
    assert found[(ds["r1"], "loss")][:4] == ["completed", 0.30, 0.28, 0.20]  # best: its min
    assert found[(ds["r1"], "loss")][4] == pytest.approx(0.10)
    assert found[(ds["r2"], "accuracy")][4] == pytest.approx(-0.05)
    # the failed run is compared with the eligible best but not ranked
    r4_accuracy = found[(ds["r4"], "accuracy")]
    assert r4_accuracy[:3] == ["failed", 0.95, 0.95] and r4_accuracy[3] == 0.90
    assert r4_accuracy[4] == pytest.approx(0.05) and r4_accuracy[5:] == [None, False]
    assert found[(ds["r6"], "trainLoss")] == ["running", 1.5, 1.5, None, None, None, False]
    assert not [key for key in found if key[0] == ds["r5"]]  # deleted runs are left out
    assert len(found) == 5 + 4 + 3 + 3 + 5  # r1 r2 r3 r4 r6


def test_project_leaderboard_mean_win_rates(ds: Dataset) -> None:
    board = rows(
        ds.warehouse,
        "select project_id, rank, run_id, mean_win_rate, n_metrics, n_project_metrics "
        "from analytics.project_leaderboard order by project_id, rank",
    )
    a, b = ds.project_a, ds.project_b
    # A: metrics accuracy, loss, f1, my_score (bleu has one eligible value: skipped)
    #   r2: (0 + 1 + 0.5 + 1) / 4; r3: (0.75 + 0.5 + 0.5) / 3 (no f1);
    #   r1: (0.75 + 0 + 0.5 + 0) / 4
    # B: val_loss (c2, c3 tie; c1) and acc (c2 > c3 > c1); c4 failed
    #   c2: (0.75 + 1) / 2; c3: (0.75 + 0.5) / 2; c1: 0
    expected = [
        (a, 1, ds["r2"], 0.625, 4, 4),
        (a, 2, ds["r3"], 1.75 / 3, 3, 4),
        (a, 3, ds["r1"], 0.3125, 4, 4),
        (b, 1, ds["c2"], 0.875, 2, 2),
        (b, 2, ds["c3"], 0.625, 2, 2),
        (b, 3, ds["c1"], 0.0, 2, 2),
    ]
    assert [r[:3] + r[4:] for r in board] == [e[:3] + e[4:] for e in expected]
    assert [r[3] for r in board] == pytest.approx([e[3] for e in expected])


def test_run_param_diff_keeps_only_params_that_differ(ds: Dataset) -> None:
    diff = rows(
        ds.warehouse,
        "select project_id, key, n_distinct, run_id, value from analytics.run_param_diff "
        "order by project_id, key, run_id",
    )
    a, b = ds.project_a, ds.project_b
    r1, r2, r3, r4 = ds["r1"], ds["r2"], ds["r3"], ds["r4"]
    # seed is 42 everywhere and optimizer adam across the sweep: not listed. r5 (deleted) and
    # r6, p (no params at all) are not compared. r3 lacks batch_size: that is a difference.
    assert diff == [
        (a, "batch_size", 2, r1, "32"),
        (a, "batch_size", 2, r2, "32"),
        (a, "batch_size", 2, r3, None),
        (a, "batch_size", 2, r4, "32"),
        (a, "lr", 3, r1, "0.01"),
        (a, "lr", 3, r2, "0.001"),
        (a, "lr", 3, r3, "0.01"),
        (a, "lr", 3, r4, "0.1"),
        (a, "optimizer", 2, r1, "adam"),
        (a, "optimizer", 2, r2, "adam"),
        (a, "optimizer", 2, r3, "sgd"),
        (a, "optimizer", 2, r4, "adam"),
        (b, "lr", 4, ds["c1"], "0.1"),
        (b, "lr", 4, ds["c2"], "0.01"),
        (b, "lr", 4, ds["c3"], "0.001"),
        (b, "lr", 4, ds["c4"], "1.0"),
    ]


def test_sweep_summary_best_child_and_spread(ds: Dataset) -> None:
    summary = rows(
        ds.warehouse,
        "select parent_run_id, n_children, metric, direction, n_children_with_metric, "
        "best_run_id, best_value, worst_value, spread from analytics.sweep_summary order by metric",
    )
    p, c2 = ds["p"], ds["c2"]
    # c4 (failed) has the lowest val_loss but is not eligible; c2 and c3 tie: the lower id wins
    assert [r[:8] for r in summary] == [
        (p, 4, "acc", "max", 3, c2, 0.80, 0.70),
        (p, 4, "val_loss", "min", 3, c2, 0.40, 0.50),
    ]
    assert [r[8] for r in summary] == pytest.approx([0.10, 0.10])


def test_compare_runs_macro_deltas_against_the_baseline(ds: Dataset) -> None:
    found = {
        (run_id, metric): rest
        for run_id, metric, *rest in rows(
            ds.warehouse,
            "select run_id, metric, direction, value, baseline_value, delta, relative_change, "
            "is_better from analytics.compare_runs(?)",
            [ds["r1"]],
        )
    }
    # every other run of the project that is not deleted (r5 is), per metric either reports
    assert {run for run, _ in found} == {ds["r2"], ds["r3"], ds["r4"], ds["r6"]}
    direction, value, base, delta, relative, better = found[(ds["r2"], "accuracy")]
    assert (direction, value, base, better) == ("max", 0.85, 0.90, False)
    assert delta == pytest.approx(-0.05) and relative == pytest.approx(-0.05 / 0.90)
    direction, value, base, delta, relative, better = found[(ds["r2"], "loss")]
    assert (direction, value, base, better) == ("min", 0.20, 0.30, True)  # lower is better
    assert relative == pytest.approx(-1 / 3)
    assert found[(ds["r2"], "f1")][-1] is False  # equal is not better
    assert found[(ds["r2"], "my_score")][-1] is True  # 1.0 < 3.0 and my_score is min
    assert found[(ds["r2"], "bleu")] == ["max", None, 0.30, None, None, None]  # r2 lacks it
    assert found[(ds["r6"], "trainLoss")] == ["min", 1.5, None, None, None, None]
    assert len([k for k in found if k[0] == ds["r6"]]) == 5 + 5  # baseline's + its own
    assert rows(ds.warehouse, "select count(*) from analytics.compare_runs(-1)") == [(0,)]


@pytest.mark.filterwarnings("ignore:The inplace keyword")  # inside DuckDB
def test_runs_wide_has_the_search_runs_shape(ds: Dataset) -> None:
    with connect(ds.warehouse, read_only=True) as con:
        frame = con.execute("select * from analytics.runs_wide order by run_id").df()
    assert list(frame.columns[:9]) == [
        "run_id",
        "project_id",
        "run_name",
        "status",
        "start_time",
        "end_time",
        "parent_run_id",
        "artifact_uri",
        "is_deleted",
    ]
    metrics = sorted(c for c in frame.columns if c.startswith("metrics."))
    assert metrics == sorted(
        "metrics." + k
        for k in [
            "accuracy",
            "loss",
            "f1",
            "my_score",
            "bleu",
            "trainLoss",
            "latency_ms",
            "power",
            "eval/rmse",
            "tokens_per_second",
            "val_loss",
            "acc",
        ]
    )
    assert {"params.optimizer", "params.lr", "tags.model", "tags.mlflow.runName"} <= set(
        frame.columns
    )
    r1 = frame.set_index("run_id").loc[ds["r1"]]
    assert r1["metrics.accuracy"] == 0.90 and r1["params.lr"] == "0.01"
    assert r1["tags.model"] == "gpt-4o" and r1["run_name"] == "run-01"
    assert math.isnan(r1["metrics.val_loss"])  # missing metric: NaN, as in MLflow
    r6 = frame.set_index("run_id").loc[ds["r6"]]
    assert pd.isna(r6["params.lr"])  # missing param: None or NaN, by pandas string dtype
    assert pd.isna(r6["end_time"])  # still running
    assert len(frame) == 11  # every run, the deleted one flagged
    assert frame.set_index("run_id").loc[ds["r5"], "is_deleted"]


def test_every_audit_passes_on_the_hand_made_warehouse(ds: Dataset) -> None:
    with connect(ds.warehouse, read_only=True) as con:
        assert models.run_audits(con) == []


def test_every_audit_run_in_full_passes_on_the_hand_made_warehouse(ds: Dataset) -> None:
    """Also those the runner skips as implied: what their `-- implied by:` claims holds here."""
    with connect(ds.warehouse, read_only=True) as con:
        present = models.existing_relations(con)
        for audit in models.discover_audits():
            if not models.tables_read(audit.sql) - present:  # Model Lab only here
                assert con.execute(audit.sql).fetchall() == [], audit.name
