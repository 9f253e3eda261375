"""`labsync report`: one self-contained HTML page over the published `analytics` views.

The warehouse is opened read-only (a sync publishing meanwhile replaces the file; this reader
keeps the state it opened). Data is shaped in SQL (`queries`), drawn with plotly (`charts`) and
laid out in one page (`html`) written to a temp file beside `out`, then renamed over it.
A section whose source was never synced is one line saying so.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import duckdb
import pandas as pd

from ..common.errors import ConfigurationError
from ..warehouse import connect
from . import charts, queries
from .html import Page, integer, note, number, percent, table
from .queries import Filters

logger = logging.getLogger("labsync.report")
Connection = duckdb.DuckDBPyConnection

MEMORY_LIMIT = "1GB"  # DuckDB's share; the rest is plotly.js and the page text (a few MB)

__all__ = ["Filters", "Report", "ReportError", "build_report"]


class ReportError(ConfigurationError):
    """The warehouse or the options cannot make a report (exit code 2)."""


@dataclass(frozen=True)
class Report:
    path: Path
    bytes: int
    seconds: float
    charts: list[str]

    def summary(self) -> str:
        return (
            f"report: {self.path} ({self.bytes / 1e6:.1f} MB, {len(self.charts)} charts, "
            f"{self.seconds:.1f}s)"
        )


def build_report(warehouse: Path, out: Path, filters: Filters | None = None) -> Report:
    """Write the report for `warehouse` to `out` (atomically) and say what it holds."""
    started = time.perf_counter()
    filters = filters or Filters()
    if not warehouse.is_file():
        raise ReportError(f"no warehouse at {warehouse}")
    try:
        con = connect(warehouse, read_only=True)
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ReportError(f"cannot open {warehouse} as a DuckDB warehouse: {first}") from None
    scratch = tempfile.TemporaryDirectory(prefix="labsync-report-")
    try:
        # bounded memory: DuckDB spills past MEMORY_LIMIT (the published file stays read-only)
        con.execute("set enable_progress_bar = false")
        con.execute(f"set memory_limit = '{MEMORY_LIMIT}'")
        con.execute(f"set temp_directory = '{scratch.name}'")
        available = queries.views(con)
        if not available:
            raise ReportError(
                f"{warehouse} has no analytics views: run `labsync sync` or `labsync models` first"
            )
        _check_filters(con, available, filters, warehouse)
        generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        page = Page(
            "labsync report",
            f"{escape(str(warehouse))} · generated {generated}{_describe(filters)}",
        )
        for section in SECTIONS:
            _fill(section, con, page, available, filters)
        text = page.render()
    finally:
        con.close()
        scratch.cleanup()
    size = _write_atomically(out, text)
    seconds = time.perf_counter() - started
    logger.debug(
        "report: %d charts, %.1f MB in %.1f s -> %s", len(page.charts), size / 1e6, seconds, out
    )
    return Report(out, size, seconds, page.charts)


def _check_filters(
    con: duckdb.DuckDBPyConnection, available: set[str], filters: Filters, warehouse: Path
) -> None:
    if filters.projects:
        if "model_lab_projects" not in available:
            raise ReportError(f"--project: {warehouse} has no Model Lab data")
        known = {
            p
            for (p,) in con.execute(
                "select project_id from analytics.model_lab_projects"
            ).fetchall()
        }
        missing = [p for p in filters.projects if p not in known]
        if missing:
            raise ReportError(
                f"no Model Lab project {', '.join(map(str, missing))} in {warehouse} "
                f"(known: {_few(sorted(known))})"
            )
    if filters.metrics:
        if "metric_directions" not in available:
            raise ReportError(f"--metric: {warehouse} has no Model Lab metrics")
        known_metrics = {
            m for (m,) in con.execute("select metric from analytics.metric_directions").fetchall()
        }
        unknown = [m for m in filters.metrics if m not in known_metrics]
        if unknown:
            raise ReportError(
                f"no metric {', '.join(map(repr, unknown))} in {warehouse} "
                f"(known: {_few(sorted(known_metrics))})"
            )


def _few(items: list[object], limit: int = 12) -> str:
    shown = ", ".join(map(str, items[:limit]))
    return shown + (f", … {len(items) - limit} more" if len(items) > limit else "") or "none"


def _describe(filters: Filters) -> str:
    parts = []
    if filters.projects:
        parts.append("projects " + ", ".join(map(str, filters.projects)))
    if filters.metrics:
        parts.append("metrics " + ", ".join(filters.metrics))
    if filters.since:
        parts.append(f"time series since {filters.since.isoformat()}")
    return escape(" · " + " · ".join(parts)) if parts else ""


def _write_atomically(out: Path, text: str) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, staged = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(staged, 0o644)
        os.replace(staged, out)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise
    return out.stat().st_size


Fill = Callable[[Connection, Page, list[str], set[str], Filters], None]


@dataclass(frozen=True)
class Section:
    """One section of the page: where it links, the views it reads, and what fills it. When a
    view is absent, it is one line instead: "<what> not synced into this warehouse"."""

    anchor: str
    title: str
    needed: tuple[str, ...]
    what: str
    fill: Fill


def _fill(
    section: Section, con: Connection, page: Page, available: set[str], filters: Filters
) -> None:
    parts = page.section(section.anchor, section.title)
    absent = [v for v in section.needed if v not in available]
    if absent:
        parts.append(
            note(f"{section.what} not synced into this warehouse (no analytics.{absent[0]}).")
        )
        return
    section.fill(con, page, parts, available, filters)


# ---- sections --------------------------------------------------------------------------------


def _model_lab(
    con: Connection, page: Page, parts: list[str], available: set[str], filters: Filters
) -> None:
    projects = queries.projects(con, filters)
    if projects.empty:
        parts.append(note("Model Lab: no runs synced yet."))
        return
    ids = [int(p) for p in projects["project_id"]]
    queries.materialise_leaderboard(con, ids)
    boards = queries.leaderboards(con, filters)
    wins = queries.win_rates(con)
    chosen = _main_metrics(boards, filters)
    directions = dict(zip(boards["metric"], boards["direction"], strict=True))
    stats = queries.distributions(con, chosen, filters) if chosen else pd.DataFrame()
    sweeps = queries.sweeps(con, chosen) if chosen else pd.DataFrame()
    children = queries.sweep_children(con, sweeps) if chosen else pd.DataFrame()
    counts, period = queries.run_counts(con, ids, filters)

    if not counts.empty:
        parts.append(page.chart(charts.run_counts(counts, period), "run-counts"))
    for project_id, name in zip(ids, projects["name"], strict=True):
        label = f"{name} ({project_id})"
        parts.append(f'<h3 id="project-{project_id}">Project {escape(label)}</h3>')
        board = boards[boards["project_id"] == project_id]
        if board.empty:
            parts.append(note(f"{label}: no ranked runs (completed, with metrics) yet."))
            continue
        parts.append(f"<h4>Leaderboards (top {queries.TOP_RUNS} runs per metric)</h4>")
        parts.append(
            '<div class="grid">'
            + "".join(
                _leaderboard(project_id, metric, rows)
                for metric, rows in board.groupby("metric", sort=True)
            )
            + "</div>"
        )
        figures = []
        win = wins[wins["project_id"] == project_id]
        if not win.empty:
            figures.append(page.chart(charts.win_rate_board(win, label), "win-rates"))
        metric = chosen[project_id]
        of_project = stats[stats["project_id"] == project_id]
        if not of_project.empty:
            figures.append(
                page.chart(
                    charts.distribution(of_project, label, metric, directions[metric]),
                    "distribution",
                )
            )
        parts.append('<div class="charts">' + "".join(figures) + "</div>")
        parts.append(_sweeps(page, sweeps, children, project_id, label))


def _main_metrics(boards: pd.DataFrame, filters: Filters) -> dict[int, str]:
    """Each project's metric for its charts: the first `--metric` it has, else the one with the
    most ranked runs (then by name)."""
    chosen: dict[int, str] = {}
    for project_id, board in boards.groupby("project_id", sort=True):
        metrics = (
            board.drop_duplicates("metric")
            .sort_values(["n_runs", "metric"], ascending=[False, True])["metric"]
            .tolist()
        )
        preferred = [m for m in filters.metrics if m in metrics]
        chosen[int(project_id)] = (preferred or metrics)[0]  # type: ignore[call-overload]
    return chosen


def _leaderboard(project_id: int, metric: str, rows: pd.DataFrame) -> str:
    direction = rows["direction"].iloc[0]
    arrow = "↓ lower is better" if direction == "min" else "↑ higher is better"
    n_runs = int(rows["n_runs"].iloc[0])
    return (
        f"<div><h4>{escape(metric)} <small>({arrow}; {n_runs:,} ranked runs)</small></h4>"
        + table(
            rows,
            {
                "rank": "rank",
                "run_name": "run",
                "run_id": "run id",
                "value": metric,
                "win_rate": "win rate",
            },
            {"rank": integer, "run_id": str, "value": number(6), "win_rate": percent},
            links={"run_name": "external_url"},
            attrs=f'data-leaderboard="{project_id}" data-metric="{escape(metric)}"',
            row_attrs=lambda r: f'data-run-id="{r["run_id"]}" data-value="{r["value"]!r}"',
        )
        + "</div>"
    )


def _sweeps(
    page: Page, sweeps: pd.DataFrame, children: pd.DataFrame, project_id: int, label: str
) -> str:
    mine = sweeps[sweeps["project_id"] == project_id] if not sweeps.empty else sweeps
    if mine.empty:
        return note(f"{label}: no sweep (parent run with 3+ ranked children) on this metric.")
    html = [f"<h4>Sweeps: the {len(mine)} with the most ranked children</h4>"]
    for sweep in mine.itertuples():
        runs = children[children["parent_run_id"] == sweep.parent_run_id]
        title = f"{sweep.parent_name} ({sweep.parent_run_id})"
        wide = runs.pivot(index="run_id", columns="key", values="param")
        per_run = runs.drop_duplicates("run_id").set_index("run_id")["value"].reindex(wide.index)
        strengths = {key: queries.influence(per_run, wide[key]) for key in wide.columns}
        varying = sorted((k for k, s in strengths.items() if s > 0), key=lambda k: -strengths[k])
        if not varying:
            html.append(note(f"Sweep {title}: no param varies with {sweep.metric}."))
            continue
        params = varying[: queries.MAX_PARAMS]
        top = params[0]
        html.append('<div class="charts">')
        html.append(
            page.chart(
                charts.sweep_parallel(
                    runs[runs["key"].isin(params)], params, title, sweep.metric, sweep.direction
                ),
                "sweep-parallel",
            )
        )
        html.append(
            page.chart(
                charts.sweep_scatter(
                    runs, top, strengths[top], title, sweep.metric, sweep.direction
                ),
                "sweep-scatter",
            )
        )
        html.append("</div>")
    return "".join(html)


def _llm_obs(
    con: Connection, page: Page, parts: list[str], available: set[str], filters: Filters
) -> None:
    scores = queries.experiment_scores(con, filters)
    if scores.empty:
        parts.append(note("No scored experiments in this period."))
    else:
        parts.append(page.chart(charts.experiment_scores(scores), "experiment-scores"))
        compared = queries.against_baseline(con, scores)
        if compared.empty:
            parts.append(note("No recent experiment has a baseline (parent experiment)."))
        else:
            parts.append(page.chart(charts.against_baseline(compared), "against-baseline"))
            parts.append(
                table(
                    compared,
                    {
                        "experiment": "experiment",
                        "baseline": "baseline",
                        "dataset": "dataset",
                        "label": "label",
                        "value": "score",
                        "baseline_value": "baseline score",
                        "delta": "Δ vs baseline",
                    },
                    {"value": number(), "baseline_value": number(), "delta": number(3)},
                )
            )
    if "llm_obs_annotation_queues" in available and "llm_obs_annotations" in available:
        progress = queries.annotation_progress(con)
        if progress.empty:
            parts.append(note("No annotation queues."))
        else:
            parts.append(page.chart(charts.annotation_progress(progress), "annotation-progress"))
    else:
        parts.append(note("Annotation queues not synced into this warehouse."))


def _posthog(
    con: Connection, page: Page, parts: list[str], available: set[str], filters: Filters
) -> None:
    rates = queries.pass_rates(con, filters)
    parts.append(
        page.chart(charts.pass_rates(rates), "pass-rates")
        if not rates.empty
        else note("No evaluation results in this period.")
    )
    sizes = queries.posthog_dataset_sizes(con)
    parts.append(
        page.chart(charts.dataset_sizes(sizes), "dataset-sizes")
        if not sizes.empty
        else note("No PostHog datasets.")
    )


def _cross_vendor(
    con: Connection, page: Page, parts: list[str], available: set[str], filters: Filters
) -> None:
    rows = queries.datasets_and_pass_rates(con, available)
    parts.append(
        "<p>Every evaluation dataset (<code>analytics.llm_datasets</code>) with the pass rate of "
        "its latest LLM Observability experiment, and every PostHog evaluation (which scores "
        "events, not datasets) with its pass rate over all its results.</p>"
    )
    parts.append(
        table(
            rows,
            {
                "vendor": "vendor",
                "kind": "kind",
                "name": "name",
                "items": "items",
                "pass_rate": "pass rate",
                "judged": "results judged",
                "updated_at": "updated",
                "locked_by": "draft locked by",
            },
            {"items": integer, "pass_rate": percent, "judged": integer},
            attrs='id="cross-vendor-table"',
            scroll=True,
        )
    )


def _sync_health(
    con: Connection, page: Page, parts: list[str], available: set[str], filters: Filters
) -> None:
    fresh = queries.freshness(con)
    if fresh.empty:
        parts.append(note("No sync recorded."))
        return
    parts.append("<h3>Freshness per resource</h3>")
    parts.append(
        table(
            fresh,
            {
                "source": "source",
                "resource": "resource",
                "last_success": "last success",
                "age_hours": "age (hours)",
                "last_status": "last status",
                "last_rows": "rows last sync",
                "syncs": "syncs recorded",
            },
            {"age_hours": number(4), "last_rows": integer, "syncs": integer},
            scroll=True,
        )
    )
    volume = queries.sync_volume(con, filters)
    if not volume.empty:
        parts.append(page.chart(charts.sync_volume(volume), "sync-volume"))
    errors = queries.last_errors(con)
    parts.append("<h3>Last errors</h3>")
    parts.append(
        table(
            errors, {"source": "source", "resource": "resource", "error_at": "at", "error": "error"}
        )
        if not errors.empty
        else "<p>No sync has recorded an error.</p>"
    )


# the page, top to bottom
SECTIONS = (
    Section(
        "model-lab",
        "Model Lab",
        ("model_lab_projects", "model_lab_runs", "leaderboard", "project_leaderboard"),
        "Model Lab",
        _model_lab,
    ),
    Section(
        "llm-obs",
        "LLM Observability",
        ("llm_obs_experiments", "llm_obs_experiment_scores", "llm_obs_datasets"),
        "LLM Observability",
        _llm_obs,
    ),
    Section(
        "posthog",
        "PostHog LLM analytics",
        ("posthog_evaluation_pass_rates", "posthog_evaluations", "posthog_llm_datasets"),
        "PostHog",
        _posthog,
    ),
    Section(
        "cross-vendor",
        "Cross-vendor datasets and pass rates",
        ("llm_datasets",),
        "No LLM vendor was",
        _cross_vendor,
    ),
    Section("sync-health", "Sync health", ("sync_runs",), "Sync history was", _sync_health),
)
