"""The report's data: read-only queries over the published `analytics` views, shaped in SQL.

Everything heavy is aggregated in DuckDB (quantiles, counts per period, the top rows of each
leaderboard); only sweeps' children come back row by row, sampled to `MAX_POINTS` a sweep.
Each function returns a pandas DataFrame ready for a chart or a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from ..models import SQL_DIR

TOP_RUNS = 5  # rows shown per leaderboard
TOP_WIN_RATES = 10  # runs shown on each project's win-rate board
MAX_SWEEPS = 3  # sweeps plotted per project: the ones with the most ranked children
MAX_POINTS = 2000  # children plotted per sweep (a deterministic sample beyond that)
MAX_PARAMS = 8  # parallel-coordinates axes per sweep: the most influential params
LATEST_EXPERIMENTS = 4  # experiments compared with their baseline


@dataclass(frozen=True)
class Filters:
    projects: tuple[int, ...] = ()
    metrics: tuple[str, ...] = ()
    since: date | None = None


def views(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = 'analytics'"
    ).fetchall()
    return {name for (name,) in rows}


def df(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None
) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def _since(filters: Filters) -> object:
    """A lower bound every time filter accepts (the epoch when none was given)."""
    return filters.since or date(1970, 1, 1)


# ---- Model Lab -------------------------------------------------------------------------------


def projects(con: duckdb.DuckDBPyConnection, filters: Filters) -> pd.DataFrame:
    """The projects to report: those asked for, else every live project with runs."""
    wanted = list(filters.projects) or None
    return df(
        con,
        """
        select projects.project_id, projects.name
        from analytics.model_lab_projects as projects
        where ($1 is null and not projects.is_deleted and projects.project_id in (
                select distinct project_id from analytics.model_lab_runs))
            or list_contains($1, projects.project_id)
        order by projects.project_id
        """,
        [wanted],
    )


def materialise_leaderboard(con: duckdb.DuckDBPyConnection, project_ids: list[int]) -> None:
    """`analytics.leaderboard` for these projects, computed once into a temp table: the top
    rows and the win-rate board both read it (each would otherwise rank every run again)."""
    con.execute(
        "create or replace temp table report_board as "
        "select * from analytics.leaderboard where list_contains($1, project_id)",
        [project_ids],
    )


def leaderboards(con: duckdb.DuckDBPyConnection, filters: Filters) -> pd.DataFrame:
    """Each (project, metric)'s top rows of the leaderboard, by rank then run id."""
    metrics = list(filters.metrics) or None
    return df(
        con,
        f"""
        with board as (
            select *
            from report_board
            where rank <= {TOP_RUNS} and ($1 is null or list_contains($1, metric))
            qualify row_number() over (partition by project_id, metric order by rank, run_id)
                <= {TOP_RUNS}
        )
        select board.project_id, board.metric, board.direction, board.rank, board.run_id,
            board.run_name, board.value, board.n_runs, board.win_rate, runs.external_url
        from board
        left join analytics.model_lab_runs as runs using (run_id)
        order by board.project_id, board.metric, board.rank, board.run_id
        """,
        [metrics],
    )


def win_rates(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """`analytics.project_leaderboard`'s top runs, by its own SQL over the materialised board."""
    sql = (SQL_DIR / "marts" / "model_lab" / "project_leaderboard.sql").read_text("utf-8")
    over_board = sql.replace("analytics.leaderboard", "report_board")
    return df(
        con,
        f"""
        select project_id, rank, run_id, run_name, mean_win_rate, n_metrics, n_project_metrics
        from ({over_board.strip().rstrip(";")})
        where rank <= {TOP_WIN_RATES}
        qualify row_number() over (partition by project_id order by rank, run_id)
            <= {TOP_WIN_RATES}
        order by project_id, rank, run_id
        """,
    )


def distributions(
    con: duckdb.DuckDBPyConnection, chosen: dict[int, str], filters: Filters
) -> pd.DataFrame:
    """Box-plot statistics of each project's chosen metric (latest value) by run status."""
    pairs = pd.DataFrame({"project_id": list(chosen), "metric": list(chosen.values())})
    con.register("report_chosen", pairs)
    try:
        return df(
            con,
            """
            select runs.project_id, runs.status, count(*) as n,
                min(metrics.latest) as low,
                quantile_cont(metrics.latest, 0.25) as q1,
                quantile_cont(metrics.latest, 0.5) as median,
                quantile_cont(metrics.latest, 0.75) as q3,
                max(metrics.latest) as high
            from report_chosen as chosen
            join analytics.model_lab_runs as runs on runs.project_id = chosen.project_id
            join analytics.model_lab_run_metrics as metrics
                on metrics.run_id = runs.run_id and metrics.key = chosen.metric
            where not runs.is_deleted and metrics.latest is not null
                and isfinite(metrics.latest) and runs.created_at >= $1
            group by all
            order by runs.project_id, n desc, runs.status
            """,
            [_since(filters)],
        )
    finally:
        con.unregister("report_chosen")


def run_counts(
    con: duckdb.DuckDBPyConnection, project_ids: list[int], filters: Filters
) -> tuple[pd.DataFrame, str]:
    """Runs created per period and project; the period (day, week, month) fits the span."""
    span = con.execute(
        """
        select date_diff('day', min(created_at), max(created_at))
        from analytics.model_lab_runs
        where list_contains($1, project_id) and created_at >= $2
        """,
        [project_ids, _since(filters)],
    ).fetchone()
    days = span[0] if span and span[0] is not None else 0
    period = "day" if days <= 120 else "week" if days <= 3 * 365 else "month"
    counts = df(
        con,
        f"""
        select cast(date_trunc('{period}', runs.created_at) as date) as period,
            projects.name as project, count(*) as runs
        from analytics.model_lab_runs as runs
        join analytics.model_lab_projects as projects using (project_id)
        where list_contains($1, runs.project_id) and runs.created_at >= $2
        group by all
        order by period, project
        """,
        [project_ids, _since(filters)],
    )
    return counts, period


def sweeps(con: duckdb.DuckDBPyConnection, chosen: dict[int, str]) -> pd.DataFrame:
    """Per project, the `MAX_SWEEPS` sweeps (live parents) with the most children ranked on its
    main metric, from the materialised board (`analytics.sweep_summary` would rank every run
    again)."""
    pairs = pd.DataFrame({"project_id": list(chosen), "metric": list(chosen.values())})
    con.register("report_chosen", pairs)
    try:
        return df(
            con,
            f"""
            with children as (
                select board.project_id, runs.parent_run_id, board.metric,
                    any_value(board.direction) as direction, count(*) as n_children_with_metric
                from report_board as board
                join report_chosen as chosen
                    on chosen.project_id = board.project_id and chosen.metric = board.metric
                join analytics.model_lab_runs as runs on runs.run_id = board.run_id
                where runs.parent_run_id is not null
                group by all
                having count(*) >= 3
            )
            select children.*, parents.name as parent_name
            from children
            join analytics.model_lab_runs as parents on parents.run_id = children.parent_run_id
            where not parents.is_deleted
            qualify row_number() over (
                partition by children.project_id
                order by children.n_children_with_metric desc, children.parent_run_id
            ) <= {MAX_SWEEPS}
            order by children.project_id, children.n_children_with_metric desc,
                children.parent_run_id
            """,
        )
    finally:
        con.unregister("report_chosen")


def sweep_children(con: duckdb.DuckDBPyConnection, chosen_sweeps: pd.DataFrame) -> pd.DataFrame:
    """Ranked children of the chosen sweeps (sampled), long format: one row per param."""
    if chosen_sweeps.empty:
        return pd.DataFrame(
            columns=["parent_run_id", "run_id", "value", "key", "param", "param_double"]
        )
    sweeps_df = chosen_sweeps[["parent_run_id", "metric"]]
    con.register("report_sweeps", sweeps_df)
    try:
        return df(
            con,
            f"""
            with children as (
                select runs.parent_run_id, runs.run_id, metrics.latest as value
                from report_sweeps as sweeps
                join analytics.model_lab_runs as runs
                    on runs.parent_run_id = sweeps.parent_run_id
                join analytics.model_lab_run_metrics as metrics
                    on metrics.run_id = runs.run_id and metrics.key = sweeps.metric
                where not runs.is_deleted and runs.status = 'completed'
                    and metrics.latest is not null and isfinite(metrics.latest)
                qualify row_number() over (
                    partition by runs.parent_run_id order by hash(runs.run_id)
                ) <= {MAX_POINTS}
            )
            select children.*, params.key, params.value as param,
                params.value_double as param_double
            from children
            join analytics.model_lab_run_params as params using (run_id)
            order by children.parent_run_id, children.run_id, params.key
            """,
        )
    finally:
        con.unregister("report_sweeps")


def influence(values: pd.Series, param: pd.Series) -> float:
    """How strongly a param goes with the metric, 0..1: |Spearman ρ| for numbers, the
    correlation ratio η for categories. 0 when the param never varies."""
    known = param.notna() & values.notna()
    values, param = values[known], param[known]
    if param.nunique() < 2 or len(values) < 3 or values.nunique() < 2:
        return 0.0
    numeric = pd.to_numeric(param, errors="coerce")
    if numeric.notna().all():
        rho = values.rank().corr(numeric.rank())
        return 0.0 if np.isnan(rho) else abs(float(rho))
    grand = values.mean()
    groups = values.groupby(param.astype(str))
    between = float((groups.count() * (groups.mean() - grand) ** 2).sum())
    total = float(((values - grand) ** 2).sum())
    return float(np.sqrt(between / total)) if total > 0 else 0.0


# ---- LLM Observability -----------------------------------------------------------------------


def experiment_scores(con: duckdb.DuckDBPyConnection, filters: Filters) -> pd.DataFrame:
    """One numeric value per (experiment, label): mean score, else true rate, else summary."""
    scores = df(
        con,
        """
        select experiments.experiment_id, experiments.name as experiment,
            experiments.parent_experiment_id, experiments.created_at,
            experiments.dataset_id, coalesce(datasets.name, experiments.dataset_id) as dataset,
            scores.label,
            coalesce(scores.mean_score, scores.true_rate, scores.summary_score) as value
        from analytics.llm_obs_experiment_scores as scores
        join analytics.llm_obs_experiments as experiments using (experiment_id)
        left join analytics.llm_obs_datasets as datasets
            on datasets.dataset_id = experiments.dataset_id
        where not experiments.is_deleted and experiments.created_at >= $1
            and coalesce(scores.mean_score, scores.true_rate, scores.summary_score) is not null
        order by experiments.created_at, scores.label
        """,
        [_since(filters)],
    )
    # the same dataset name in two projects: tell them apart by id
    names = scores.drop_duplicates("dataset_id")["dataset"]
    clashing = set(names[names.duplicated()])
    if clashing:
        scores["dataset"] = [
            f"{name} ({ds_id[:8]})" if name in clashing else name
            for name, ds_id in zip(scores["dataset"], scores["dataset_id"], strict=True)
        ]
    return scores


def against_baseline(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame) -> pd.DataFrame:
    """The latest experiments that have a baseline (their parent), label by label."""
    with_parent = scores.dropna(subset=["parent_experiment_id"])
    latest = (
        with_parent.drop_duplicates("experiment_id")
        .sort_values("created_at", ascending=False)
        .head(LATEST_EXPERIMENTS)
    )
    if latest.empty:
        return pd.DataFrame(columns=["experiment", "baseline", "label", "value", "baseline_value"])
    parents = df(
        con,
        """
        select experiments.experiment_id as parent_experiment_id,
            experiments.name as baseline, scores.label,
            coalesce(scores.mean_score, scores.true_rate, scores.summary_score) as baseline_value
        from analytics.llm_obs_experiment_scores as scores
        join analytics.llm_obs_experiments as experiments using (experiment_id)
        where list_contains($1, experiments.experiment_id)
        """,
        [list(latest["parent_experiment_id"])],
    )
    rows = scores[scores["experiment_id"].isin(latest["experiment_id"])]
    merged = rows.merge(parents, on=["parent_experiment_id", "label"], how="inner")
    merged["delta"] = merged["value"] - merged["baseline_value"]
    return merged.sort_values(["created_at", "label"], ascending=[False, True])[
        ["experiment", "baseline", "dataset", "label", "value", "baseline_value", "delta"]
    ]


def annotation_progress(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return df(
        con,
        """
        with interactions as (
            select queue_id, interaction_id
            from analytics.llm_obs_annotation_interactions
            where not is_deleted
        ),
        annotated as (
            select queue_id, interaction_id, count(*) as annotations
            from analytics.llm_obs_annotations
            where not is_deleted
            group by all
        )
        select queues.name as queue, count(interactions.interaction_id) as interactions,
            count(annotated.interaction_id) as annotated,
            count(interactions.interaction_id) - count(annotated.interaction_id) as pending,
            coalesce(sum(annotated.annotations), 0)::bigint as annotations
        from analytics.llm_obs_annotation_queues as queues
        left join interactions on interactions.queue_id = queues.queue_id
        left join annotated
            on annotated.queue_id = interactions.queue_id
            and annotated.interaction_id = interactions.interaction_id
        where not queues.is_deleted
        group by queues.queue_id, queues.name
        order by queues.name
        """,
    )


# ---- PostHog ---------------------------------------------------------------------------------


def pass_rates(con: duckdb.DuckDBPyConnection, filters: Filters) -> pd.DataFrame:
    return df(
        con,
        """
        select rates.day, coalesce(evaluations.name, rates.evaluation_id) as evaluation,
            rates.pass_rate, rates.n_pass, rates.n_fail
        from analytics.posthog_evaluation_pass_rates as rates
        left join analytics.posthog_evaluations as evaluations using (evaluation_id)
        where rates.pass_rate is not null and rates.day >= $1
        order by rates.day, evaluation
        """,
        [_since(filters)],
    )


def posthog_dataset_sizes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return df(
        con,
        "select name as dataset, item_count as items from analytics.posthog_llm_datasets "
        "order by item_count desc, name",
    )


# ---- Cross-vendor ----------------------------------------------------------------------------


def datasets_and_pass_rates(con: duckdb.DuckDBPyConnection, available: set[str]) -> pd.DataFrame:
    """`analytics.llm_datasets`, each LLM Obs dataset with its latest experiment's pass rate,
    and each PostHog evaluation (which scores events, not datasets) with its overall rate."""
    parts = [
        """
        select vendor, 'dataset' as kind, name, item_count as items,
            null::double as pass_rate, null::bigint as judged, updated_at, locked_by,
            dataset_id
        from analytics.llm_datasets
        """
    ]
    if "llm_obs_experiment_scores" in available:
        parts[0] = """
        with latest as (
            select experiments.dataset_id,
                sum(scores.n_pass) as n_pass, sum(scores.n_pass + scores.n_fail) as judged
            from analytics.llm_obs_experiments as experiments
            join analytics.llm_obs_experiment_scores as scores using (experiment_id)
            where not experiments.is_deleted
            group by experiments.dataset_id, experiments.experiment_id, experiments.created_at
            qualify row_number() over (
                partition by experiments.dataset_id order by experiments.created_at desc
            ) = 1
        )
        select datasets.vendor, 'dataset' as kind, datasets.name, datasets.item_count as items,
            latest.n_pass / nullif(latest.judged, 0) as pass_rate, latest.judged::bigint as judged,
            datasets.updated_at, datasets.locked_by, datasets.dataset_id
        from analytics.llm_datasets as datasets
        left join latest
            on datasets.vendor = 'datadog_llm_obs' and latest.dataset_id = datasets.dataset_id
        """
    if "posthog_evaluation_pass_rates" in available:
        parts.append(
            """
            select 'posthog' as vendor, 'evaluation' as kind,
                coalesce(any_value(evaluations.name), rates.evaluation_id) as name,
                null::bigint as items,
                sum(rates.n_pass) / nullif(sum(rates.n_pass + rates.n_fail), 0) as pass_rate,
                sum(rates.n_pass + rates.n_fail)::bigint as judged,
                any_value(evaluations.updated_at) as updated_at, null as locked_by,
                rates.evaluation_id as dataset_id
            from analytics.posthog_evaluation_pass_rates as rates
            left join analytics.posthog_evaluations as evaluations using (evaluation_id)
            group by rates.evaluation_id
            """
        )
    union = " union all by name ".join(f"({part})" for part in parts)
    return df(con, f"select * from ({union}) order by vendor, kind, name")


# ---- Sync health -----------------------------------------------------------------------------


def freshness(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return df(
        con,
        """
        select source, resource,
            max(finished_at) filter (where status = 'succeeded') as last_success,
            round(date_diff('second', max(finished_at) filter (where status = 'succeeded'),
                now()) / 3600.0, 1) as age_hours,
            arg_max(status, finished_at) as last_status,
            arg_max(rows_loaded, finished_at) as last_rows,
            count(*) as syncs
        from analytics.sync_runs
        group by all
        order by source, resource
        """,
    )


def sync_volume(con: duckdb.DuckDBPyConnection, filters: Filters) -> pd.DataFrame:
    return df(
        con,
        """
        select min(started_at) as started_at, sync_id, source,
            sum(rows_loaded)::bigint as rows_loaded, sum(requests)::bigint as requests
        from analytics.sync_runs
        where started_at >= $1
        group by sync_id, source
        order by started_at, source
        """,
        [_since(filters)],
    )


def last_errors(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return df(
        con,
        """
        select source, resource, finished_at as error_at, error
        from analytics.sync_runs
        where error is not null
        qualify row_number() over (partition by source, resource order by finished_at desc) = 1
        order by error_at desc
        """,
    )
