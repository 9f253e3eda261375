"""Benchmark: build every SQL model and run the audits on a synthetic 1,000,000-run warehouse.

The warehouse is generated directly in DuckDB with the raw table shapes the Model Lab sync
produces (`raw_model_lab.*`), so no API or dlt is involved: this measures the models only.
Shape per run: ~8 metric summaries (of 12 keys), ~10 params (of 15), 5 tags; one run in 50 is a
sweep parent with 30 children; ~80% of runs `completed`.

Measured, in one invocation (wall and CPU seconds; the machine has 2 cores):
1. build: `models.build()` (views, pinned pivots, config table, macros);
2. audits: `models.run_audits()` (then each audit alone, in full, including those the runner
   skips as implied by the views' SQL and audits that passed);
3. queries: each heavy mart fully materialised (`create temp table as select *`), plus the
   typical reads (one project's leaderboard for one metric, `compare_runs`, `search_runs`).

Usage: python -m bench.models_bench [--runs 1000000] [--projects 20] [--keep PATH] [--json FILE]
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import duckdb

from bench import bench_parser, goal, parse_bench_args
from pipelines import models
from pipelines.search import search_runs

logger = logging.getLogger("labsync.bench")

METRIC_KEYS = [
    "loss",
    "val_loss",
    "accuracy",
    "val_accuracy",
    "f1",
    "precision",
    "recall",
    "latency_ms",
    "perplexity",
    "tokens_per_second",
    "learning_rate",
    "total_flos",
]
PARAM_KEYS = [
    "learning_rate",
    "batch_size",
    "optimizer",
    "dropout",
    "weight_decay",
    "epochs",
    "seed",
    "model_name",
    "warmup_ratio",
    "lora_r",
    "lora_alpha",
    "max_seq_length",
    "augmentation",
    "use_bf16",
    "gradient_accumulation_steps",
]
TAG_KEYS = ["mlflow.runName", "mlflow.user", "mlflow.source.type", "dataset", "stage"]
HEAVY_MARTS = [
    "metric_directions",
    "run_comparison",
    "leaderboard",
    "project_leaderboard",
    "runs_wide",
    "run_param_diff",
    "sweep_summary",
]
SWEEP_BLOCK = 50  # run ids 50k+1 .. 50k+50 share a project; the first is a parent of the next 30
SWEEP_CHILDREN = 30


def generate(con: duckdb.DuckDBPyConnection, runs: int, projects: int) -> None:
    """The raw tables of a Model Lab sync, with `runs` runs over `projects` projects."""
    synced = "timestamptz '2026-01-01 00:00:00+00'"
    con.execute("create schema raw_model_lab")
    con.execute(
        f"""
        create table raw_model_lab.projects as
        select
            p::bigint as project_id, 'project-' || p as name, '' as description,
            null::varchar as owner_id, 'mlflow-artifacts:///' || p as artifact_storage_location,
            null::varchar as external_url, false as is_starred,
            {synced} - interval 400 day as created_at, {synced} as updated_at,
            null::timestamptz as deleted_at, {synced} as _synced_at
        from range(1, {projects} + 1) as t(p)
        """
    )
    con.execute(
        """
        create table raw_model_lab.project_tags as
        select project_id, 0::bigint as _position, 'team' as key, 'ml' as value, _synced_at
        from raw_model_lab.projects
        """
    )
    con.execute(
        f"""
        create table raw_model_lab.runs as
        with ids as (select r::bigint as run_id from range(1, {runs} + 1) as t(r))
        select
            run_id,
            1 + ((run_id - 1) // {SWEEP_BLOCK}) % {projects} as project_id,
            'run-' || run_id as name,
            '' as description,
            case
                when hash(run_id, 's') % 100 < 80 then 'completed'
                when hash(run_id, 's') % 100 < 88 then 'failed'
                when hash(run_id, 's') % 100 < 93 then 'killed'
                when hash(run_id, 's') % 100 < 97 then 'running'
                else 'pending'
            end as status,
            null::varchar as owner_id,
            {synced} - to_seconds(({runs} - run_id) * 30) as created_at,
            {synced} - to_seconds(({runs} - run_id) * 30) as updated_at,
            {synced} - to_seconds(({runs} - run_id) * 30) as started_at,
            null::timestamptz as completed_at,
            (hash(run_id, 'd') % 7200)::double as duration,
            (run_id - 1) % {SWEEP_BLOCK} = 0 as has_children,
            false as is_pinned,
            null::varchar as external_url,
            'mlflow-artifacts:///' || run_id as mlflow_artifact_location,
            case when hash(run_id, 'x') % 200 = 0 then {synced} end as deleted_at,
            {synced} as _synced_at
        from ids
        """
    )
    con.execute(
        f"""
        create table raw_model_lab.run_parents as
        select run_id, run_id - (run_id - 1) % {SWEEP_BLOCK} as parent_run_id, _synced_at
        from raw_model_lab.runs
        where (run_id - 1) % {SWEEP_BLOCK} between 1 and {SWEEP_CHILDREN}
        """
    )
    con.execute(
        f"""
        create table raw_model_lab.run_metrics as
        with pairs as (
            select runs.run_id, keys.position, keys.key, runs._synced_at,
                (hash(runs.run_id, keys.key) % 1000000) / 1000000.0 as u
            from raw_model_lab.runs
            cross join (select unnest({METRIC_KEYS}) as key,
                               generate_subscripts({METRIC_KEYS}, 1) as position) as keys
            where hash(runs.run_id, keys.key, 'has') % 3 <> 0
        )
        select run_id, position::bigint as _position, key, 100::bigint as count,
            0::bigint as first_step, 99::bigint as last_step,
            u as latest, u * 0.5 as min, u * 1.5 + 0.01 as max, u as mean, u * 0.1 as stddev,
            _synced_at
        from pairs
        """
    )
    con.execute(
        f"""
        create table raw_model_lab.run_params as
        select runs.run_id, keys.position::bigint as _position, keys.key,
            (hash(runs.run_id, keys.key) % 8)::varchar as value, runs._synced_at
        from raw_model_lab.runs
        cross join (select unnest({PARAM_KEYS}) as key,
                           generate_subscripts({PARAM_KEYS}, 1) as position) as keys
        where hash(runs.run_id, keys.key, 'has') % 3 <> 0
        """
    )
    con.execute(
        f"""
        create table raw_model_lab.run_tags as
        select runs.run_id, keys.position::bigint as _position, keys.key,
            case keys.key when 'mlflow.runName' then runs.name
                else (hash(runs.run_id, keys.key) % 5)::varchar end as value,
            runs._synced_at
        from raw_model_lab.runs
        cross join (select unnest({TAG_KEYS}) as key,
                           generate_subscripts({TAG_KEYS}, 1) as position) as keys
        """
    )
    con.execute(
        "create table raw_model_lab.tombstones (entity varchar, id bigint, "
        "detected_at timestamptz, reappeared boolean)"
    )


def timed(label: str, figures: dict[str, Any], action: Callable[[], object]) -> object:
    """Run `action`, recording wall seconds and the process's CPU seconds (DuckDB's threads
    included): on a shared machine the CPU figure is the steadier one."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    figures[label] = {
        "wall_s": round(time.perf_counter() - wall, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
    }
    logger.info(
        "%-42s wall %7.3f s  cpu %7.3f s", label, figures[label]["wall_s"], figures[label]["cpu_s"]
    )
    return result


def row_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    found = con.execute(f"select count(*) from {table}").fetchone()
    return int(found[0]) if found else 0


def time_each_audit(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """CPU seconds of each audit run alone and in full, slowest first, and which of them the
    runner skips as implied (by the views' SQL and audits that passed: no failure here)."""
    cpu_s = {}
    implied = []
    present, built_views = models.existing_relations(con), models.views(con)
    for audit in models.discover_audits():
        read = models.tables_read(audit.sql)
        if read - present:
            continue  # an audit of a source the synthetic warehouse does not have
        if audit.implied_by is not None and read <= built_views:
            implied.append(audit.name)
        started = time.process_time()
        con.execute(audit.sql).fetchall()
        cpu_s[audit.name] = round(time.process_time() - started, 3)
    slowest = dict(sorted(cpu_s.items(), key=lambda item: -item[1]))
    for name, seconds in slowest.items():
        skipped = " (implied: not run by the runner)" if name in implied else ""
        logger.info("audit %-42s cpu %7.3f s%s", name, seconds, skipped)
    return {"cpu_s run alone": slowest, "implied, not run": sorted(implied)}


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, runs=1_000_000, projects=20)
    parser.add_argument("--keep", type=Path, help="write the warehouse here and keep it")
    args = parse_bench_args(parser, argv)
    logging.getLogger("labsync.models").setLevel(logging.WARNING)

    scratch = Path(tempfile.mkdtemp(prefix="labsync-models-bench-"))
    path = args.keep or scratch / "bench.duckdb"
    path.unlink(missing_ok=True)
    figures: dict[str, Any] = {"runs": args.runs, "projects": args.projects}
    try:
        con = duckdb.connect(str(path))
        timed("generate raw tables", figures, lambda: generate(con, args.runs, args.projects))
        con.execute("checkpoint")
        for table in ("run_metrics", "run_params", "run_tags", "run_parents"):
            figures[f"raw {table} rows"] = row_count(con, f"raw_model_lab.{table}")

        timed("build all models", figures, lambda: models.build(con, metric_directions={}))
        failures = cast(
            list[models.AuditFailure],
            timed("run all audits", figures, lambda: models.run_audits(con)),
        )
        figures["audit failures"] = [f.name for f in failures]
        figures["audits"] = time_each_audit(con)
        figures["goals"] = [
            goal(
                f"build all models at {args.runs:,} runs (CPU s)",
                figures["build all models"]["cpu_s"],
                2.5,
            ),
            goal(
                f"run all audits at {args.runs:,} runs (CPU s)",
                figures["run all audits"]["cpu_s"],
                3.0,
            ),
        ]
        for mart in HEAVY_MARTS:
            timed(
                f"materialise analytics.{mart}",
                figures,
                lambda mart=mart: con.execute(
                    f"create or replace temp table bench_out as select * from analytics.{mart}"
                ),
            )
            figures[f"analytics.{mart} rows"] = row_count(con, "bench_out")
        timed(
            "one project's accuracy leaderboard",
            figures,
            lambda: con.execute(
                "select * from analytics.leaderboard where project_id = 3 "
                "and metric = 'accuracy' order by rank"
            ).fetchall(),
        )
        timed(
            "compare_runs(baseline)",
            figures,
            lambda: con.execute("select * from analytics.compare_runs(101)").fetchall(),
        )
        con.close()
        timed(
            "search_runs(filter, order_by, 1000)",
            figures,
            lambda: search_runs(
                "metrics.accuracy > 0.5 and params.optimizer = '3' "
                "and attributes.status = 'FINISHED'",
                order_by=["metrics.accuracy DESC"],
                max_results=1000,
                warehouse=path,
            ),
        )
        figures["warehouse MiB"] = round(path.stat().st_size / 2**20, 1)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    sys.stdout.write(json.dumps(figures, indent=2) + "\n")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
