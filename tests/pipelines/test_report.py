"""`labsync report` on a Model-Lab-only warehouse: sections, filters, bad input, `sync --report`."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from emulator import Emulator
from pipelines import cli
from pipelines.report import Filters, build_report, queries
from tests.conftest import API_KEY, APP_KEY

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def datadog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with Emulator(seed=11, projects=4, runs=400, api_key=API_KEY, app_key=APP_KEY) as emu:
        emu.start()
        yield {
            "SOURCES__DATADOG__BASE_URL": emu.base_url,
            "SOURCES__DATADOG__API_KEY": API_KEY,
            "SOURCES__DATADOG__APP_KEY": APP_KEY,
        }


@pytest.fixture(scope="module")
def model_lab_only(tmp_path_factory: pytest.TempPathFactory, datadog: dict[str, str]) -> Path:
    """A warehouse `labsync sync --source model_lab --report` made (the report beside it)."""
    warehouse = tmp_path_factory.mktemp("model-lab-only") / "labsync.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in datadog.items():
            patch.setenv(name, value)
        patch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.01")
        code = cli.main(
            ["sync", "--source", "model_lab", "--warehouse", str(warehouse), "--report",
             str(warehouse.with_name("report.html"))]
        )  # fmt: skip
    assert code == 0
    return warehouse


def labsync(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "LABSYNC_"))}
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sections(html: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', html, flags=re.S))


def test_sync_report_writes_the_page_after_publishing(model_lab_only: Path) -> None:
    html = model_lab_only.with_name("report.html").read_text(encoding="utf-8")
    found = sections(html)
    assert list(found) == ["model-lab", "llm-obs", "posthog", "cross-vendor", "sync-health"]
    assert "data-leaderboard" in found["model-lab"]
    # the sources this warehouse never synced: one line each, no chart
    for anchor, view in (
        ("llm-obs", "llm_obs_experiments"),
        ("posthog", "posthog_evaluation_pass_rates"),
        ("cross-vendor", "llm_datasets"),
    ):
        assert f"not synced into this warehouse (no analytics.{view})" in found[anchor]
        assert "figure" not in found[anchor]
    assert 'data-chart="sync-volume"' in found["sync-health"]


def test_the_report_never_writes_to_the_warehouse(model_lab_only: Path, tmp_path: Path) -> None:
    before = hashlib.sha256(model_lab_only.read_bytes()).hexdigest()
    build_report(model_lab_only, tmp_path / "r.html")
    assert hashlib.sha256(model_lab_only.read_bytes()).hexdigest() == before
    assert not model_lab_only.with_name(model_lab_only.name + ".wal").exists()


def test_project_and_metric_filters(model_lab_only: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(model_lab_only), read_only=True) as con:
        project_id, metric = con.execute(
            "select project_id, metric from analytics.leaderboard "
            "group by all order by count(*) desc, 1, 2 limit 1"
        ).fetchone()  # type: ignore[misc]
    report = build_report(
        model_lab_only, tmp_path / "r.html", Filters(projects=(project_id,), metrics=(metric,))
    )
    html = report.path.read_text(encoding="utf-8")
    assert re.findall(r'<h3 id="project-(\d+)"', html) == [str(project_id)]
    assert set(re.findall(r'data-metric="([^"]+)"', html)) == {metric}
    assert "by run status" in html and f": {metric} by run status" in html


def test_since_limits_the_time_series(model_lab_only: Path, tmp_path: Path) -> None:
    later = build_report(
        model_lab_only, tmp_path / "r.html", Filters(since=pd.Timestamp("2100-01-01").date())
    )
    html = later.path.read_text(encoding="utf-8")
    assert "run-counts" not in later.charts and "sync-volume" not in later.charts
    assert "data-leaderboard" in html  # leaderboards are all-time rankings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--warehouse", "{tmp}/missing.duckdb"], "no warehouse at"),
        (["--warehouse", "{tmp}/junk.duckdb"], "cannot open"),
        (["--warehouse", "{tmp}/bare.duckdb"], "has no analytics views"),
        (["--warehouse", "{ml}", "--project", "987654"], "no Model Lab project 987654"),
        (["--warehouse", "{ml}", "--metric", "no_such_metric"], "no metric 'no_such_metric'"),
        (["--warehouse", "{ml}", "--since", "yesterday"], "--since 'yesterday' is not a date"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_file(
    model_lab_only: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "junk.duckdb").write_text("not a database")
    duckdb.connect(str(tmp_path / "bare.duckdb")).execute("create table t (a int)").close()
    out = tmp_path / "out" / "report.html"
    out.parent.mkdir()
    out.write_text("the previous report")
    filled = [a.format(tmp=tmp_path, ml=model_lab_only) for a in args]
    done = labsync("report", *filled, "--out", str(out))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert out.read_text() == "the previous report"  # untouched, and no temp file beside it
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]


def test_a_report_failing_after_a_good_sync_exits_1_and_keeps_the_publish(
    datadog: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in datadog.items():
        monkeypatch.setenv(name, value)
    warehouse = tmp_path / "w.duckdb"
    blocked = tmp_path / "a-directory"
    (blocked / "inside").mkdir(parents=True)  # the report cannot replace a directory
    code = cli.main(
        ["sync", "--source", "model_lab", "--warehouse", str(warehouse), "--report", str(blocked)]
    )
    assert code == 1
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from analytics.model_lab_runs").fetchone()[0] > 0  # type: ignore[index]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".a-directory")) == []


def test_influence_reads_numbers_by_rank_and_categories_by_group_means() -> None:
    values = pd.Series([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert queries.influence(values, pd.Series(["1", "2", "3", "4", "5", "60"])) == pytest.approx(
        1.0
    )
    assert queries.influence(values, pd.Series(["6", "5", "4", "3", "2", "1"])) == pytest.approx(
        1.0
    )
    assert queries.influence(values, pd.Series(["a"] * 6)) == 0.0  # never varies
    split = pd.Series(["adam", "adam", "adam", "sgd", "sgd", "sgd"])
    mixed = pd.Series(["adam", "sgd", "adam", "sgd", "adam", "sgd"])
    assert queries.influence(values, split) > 0.8 > queries.influence(values, mixed)


def test_sweeps_picked_from_the_board_match_sweep_summary(model_lab_only: Path) -> None:
    with duckdb.connect(str(model_lab_only), read_only=True) as con:
        ids = [
            p for (p,) in con.sql("select project_id from analytics.model_lab_projects").fetchall()
        ]
        queries.materialise_leaderboard(con, ids)
        chosen = {
            int(p): str(m)
            for p, m in con.execute(
                "select project_id, arg_max(metric, n_runs) from analytics.leaderboard group by 1"
            ).fetchall()
        }
        picked = queries.sweeps(con, chosen)
        con.register(
            "pairs", pd.DataFrame({"project_id": list(chosen), "metric": list(chosen.values())})
        )
        expected = con.execute(
            """
            select summary.project_id, summary.parent_run_id, summary.n_children_with_metric
            from analytics.sweep_summary as summary
            join pairs using (project_id, metric)
            where summary.n_children_with_metric >= 3
            qualify row_number() over (
                partition by summary.project_id
                order by summary.n_children_with_metric desc, summary.parent_run_id
            ) <= $1
            order by 1, 3 desc, 2
            """,
            [queries.MAX_SWEEPS],
        ).fetchall()
    assert expected  # the emulator's sweeps are there to pick from
    columns = ["project_id", "parent_run_id", "n_children_with_metric"]
    assert [tuple(r) for r in picked[columns].itertuples(index=False)] == expected
