"""`labsync compare` over the hand-made warehouse: differing params, metric deltas, usage errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from pipelines import cli, compare
from tests.sql.dataset import Dataset, copy_of_hand_made
from tests.test_cli import labsync


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return copy_of_hand_made(tmp_path_factory)


def test_compare_lists_differing_params_and_deltas_by_direction(ds: Dataset) -> None:
    result = compare.compare(ds.warehouse, [ds["r2"], ds["r3"]], baseline=ds["r1"])

    assert [run.run_id for run in result.runs] == [ds["r1"], ds["r2"], ds["r3"]]
    # seed is 42 on all three; r3 lacks batch_size
    assert result.n_param_keys == 4
    assert result.differing_params == [
        ("batch_size", ["32", "32", None]),
        ("lr", ["0.01", "0.001", "0.01"]),
        ("optimizer", ["adam", "adam", "sgd"]),
    ]
    deltas = {(d.metric, d.run_id): d for d in result.metrics}
    loss = deltas[("loss", ds["r2"])]
    assert (loss.direction, loss.value, loss.baseline_value, loss.verdict) == (
        "min",
        0.20,
        0.30,
        "better",
    )
    assert loss.delta == pytest.approx(-0.10) and loss.relative_change == pytest.approx(-1 / 3)
    accuracy = deltas[("accuracy", ds["r3"])]
    assert (accuracy.delta, accuracy.is_better, accuracy.verdict) == (0.0, False, "same")
    assert deltas[("accuracy", ds["r2"])].verdict == "worse"
    assert deltas[("my_score", ds["r3"])].verdict == "better"  # 2.0 < 3.0, configured min
    f1 = deltas[("f1", ds["r3"])]  # r3 has no f1
    assert (f1.value, f1.baseline_value, f1.delta, f1.verdict) == (None, 0.80, None, "-")
    assert len(result.metrics) == 5 * 2  # accuracy, bleu, f1, loss, my_score for r2 and r3


def test_labsync_compare_prints_tables(ds: Dataset) -> None:
    done = labsync(
        "compare",
        str(ds["c1"]),
        str(ds["c2"]),
        "--baseline",
        str(ds["c2"]),
        "--warehouse",
        str(ds.warehouse),
        env={},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f'baseline: run {ds["c2"]} "run-12" (completed, project {ds.project_b})'
    assert "params that differ (1 of 2):" in lines  # optimizer is adam on both
    assert any(line.split() == ["lr", "0.01", "0.1"] for line in lines)
    # c1 vs baseline c2: val_loss 0.5 vs 0.4 (lower is better) -> worse by +25%
    val_loss = next(line.split() for line in lines if line.strip().startswith("val_loss"))
    assert val_loss == ["val_loss", "lower", str(ds["c1"]), "0.5", "0.4", "+0.1", "+25.0%", "worse"]


@pytest.fixture
def restore_labsync_logger() -> Iterator[None]:
    """`cli.main` configures the `labsync` logger; later tests get it back as it was."""
    log = logging.getLogger("labsync")
    saved = (list(log.handlers), log.level, log.propagate)
    yield
    log.handlers[:], log.level, log.propagate = saved[0], saved[1], saved[2]


@pytest.mark.usefixtures("restore_labsync_logger")
def test_labsync_compare_usage_errors_exit_2(
    ds: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--warehouse", str(ds.warehouse)]
    assert cli.main(["compare", str(ds["r1"]), "424242", *where]) == 2
    out, err = capsys.readouterr()
    assert "unknown run id(s) 424242" in err and out == ""
    assert cli.main(["compare", str(ds["r1"]), *where]) == 2
    assert "at least two different runs" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        cli.main(["compare", "r1", *where])
    assert usage.value.code == 2 and "invalid int value" in capsys.readouterr().err
