"""The commands that write a warehouse: sync, models, demo; and what they print."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

from .. import models, runner
from ..common.config import config_value
from ..common.errors import ConfigurationError
from ..warehouse import check_writable, connect, warehouse_path
from .console import out
from .exits import EXIT_FAILED, EXIT_OK

logger = logging.getLogger("labsync")

DEMO_WAREHOUSE = Path("warehouse") / "demo.duckdb"
DEMO_POSTHOG_NOW = "2026-11-01T00:00:00+00:00"
LAKE_WAREHOUSE = Path("warehouse") / "lake.duckdb"
DEMO_REPORT = "demo-report.html"  # beside the demo warehouse


def _lake_url(args: argparse.Namespace) -> str | None:
    if args.destination in ("duckdb", "postgres"):
        if args.bucket_url:
            raise ConfigurationError("--bucket-url needs --destination filesystem")
        return None
    url = args.bucket_url or config_value("destination.filesystem.bucket_url")
    if not url:
        raise ConfigurationError(
            "--destination filesystem needs --bucket-url URL "
            "(or DESTINATION__FILESYSTEM__BUCKET_URL)"
        )
    return str(url)


def _artifact_options(args: argparse.Namespace, warehouse: Path) -> dict[str, object]:
    """Model Lab artifact content flags, for the source (it validates them)."""
    options: dict[str, object] = {
        "artifacts_content": args.artifacts_content,
        "artifacts_dir": str(warehouse.parent / "artifacts"),
    }
    if args.artifacts_include:
        options["artifacts_include"] = list(args.artifacts_include)
    if args.artifacts_max_bytes is not None:
        options["artifacts_max_bytes"] = args.artifacts_max_bytes
    return options


def _local_folder(url: str) -> Path | None:
    """The folder of a lake URL on this machine (a path or file://), else None."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return Path(parts.path if parts.scheme else url).expanduser().resolve()
    return None


def cmd_sync(args: argparse.Namespace) -> int:
    warehouse = warehouse_path(args.warehouse)
    lake = _lake_url(args)
    lake_folder = _local_folder(lake) if lake else None
    check_writable(warehouse, *([lake_folder] if lake_folder else []))
    try:
        result = runner.sync(
            warehouse,
            sources=args.source,
            full_refresh=args.full_refresh,
            reconcile=args.reconcile,
            build_models=not args.no_models,
            lake=lake,
            table_format=args.table_format,
            destination="postgres" if args.destination == "postgres" else "duckdb",
            options=_artifact_options(args, warehouse),
            publish_on_audit_failure=args.publish_on_audit_failure,
        )
    except runner.SyncFailed as exc:
        _print_sync_summary(exc.result, lake)
        raise
    _print_sync_summary(result, lake)
    code = report_audits(result.audit_failures)
    if args.report and result.published:
        code = max(code, _write_report_after_sync(result.warehouse, Path(args.report)))
    return code


def _write_report_after_sync(warehouse: Path, path: Path) -> int:
    """`sync --report`: the sync is published whatever happens here; a failure is exit 1."""
    try:
        from ..report import build_report

        report = build_report(warehouse, path.resolve())
    except Exception as exc:  # the published warehouse stays as it is
        logger.error(
            "sync published, but the report failed: %s",
            exc,
            exc_info=logger.isEnabledFor(logging.DEBUG),
        )
        return EXIT_FAILED
    out(report.summary())
    return EXIT_OK


def _print_sync_summary(result: runner.SyncResult, lake: str | None = None) -> None:
    """What happened, without overstatement: per source, and what was published where."""
    ran = list(result.sources.values())
    failed = [s.name for s in ran if s.status != "succeeded"]
    if not failed:
        verdict = "sync finished"
    elif len(failed) == len(ran):
        verdict = "sync FAILED"
    else:
        verdict = "sync finished with failures"
    counts = f"{len(ran) - len(failed)} of {len(ran)} sources succeeded"
    skipped = f", {len(result.skipped)} skipped" if result.skipped else ""
    out(f"{verdict} in {result.seconds:.1f}s: {counts}{skipped}")
    out(
        f"{'source':<10}{'resource':<22}{'rows':>9}{'pages':>8}{'requests':>10}"
        f"{'retries':>9}{'throttled':>11}"
    )
    for source in ran:
        for stats in source.stats.resources.values():
            out(
                f"{source.name:<10}{stats.name:<22}{stats.rows:>9}{stats.pages:>8}"
                f"{stats.requests:>10}{stats.retries:>9}{stats.throttled:>11}"
            )
    for source in ran:
        if source.status == "succeeded":
            loaded = ", ".join(f"{t}={n}" for t, n in sorted(source.rows_by_table.items()))
            out(f"{source.name}: succeeded, {source.rows_loaded} rows loaded ({loaded or 'none'})")
        else:
            out(source.error or f"{source.name}: {source.status}")
    for name in result.skipped:
        out(f"{name}: skipped (no credentials configured)")
    for note in result.recovered:
        out(f"recovered after an interrupted sync: {note}")
    audits = "audits failed" if result.audit_failures else ""
    if lake:
        out(f"raw tables written to the lake {lake}; nothing published")
        out(f"build the views over it with: labsync models --lake {lake}")
    elif not result.published:
        why = audits or "a source failed to load"
        out(f"nothing published ({why}): {result.warehouse} keeps its last state")
    elif failed and len(failed) == len(ran):
        out(f"published {result.warehouse} with no new data (only the sync history changed)")
    else:
        out(f"published {result.warehouse}" + (" despite failed audits" if audits else ""))


def report_audits(failures: list[models.AuditFailure]) -> int:
    for failure in failures:
        out(f"AUDIT FAILED {failure.name}: {failure.rows} rows, e.g. {failure.sample}")
    return EXIT_FAILED if failures else EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    if args.lake or args.engine == "spark":
        warehouse = warehouse_path(args.warehouse or LAKE_WAREHOUSE)
    else:
        warehouse = warehouse_path(args.warehouse)
        if not warehouse.exists():
            raise ConfigurationError(f"no warehouse at {warehouse}: run `labsync sync` first")
    if args.engine == "spark":
        if args.spark_master:
            os.environ["LABSYNC_SPARK_MASTER"] = args.spark_master
        failures = runner.build_models_in(warehouse, lake=args.lake, engine="spark")
        out(f"built the views in Spark over {args.lake}")
        return report_audits(failures)
    check_writable(warehouse)
    failures = runner.build_models_in(
        warehouse, lake=args.lake, publish_on_audit_failure=args.publish_on_audit_failure
    )
    if failures and not args.publish_on_audit_failure:
        out(f"built the views; audits failed: {warehouse} NOT published (kept its last state)")
    else:
        out(f"built the views and published {warehouse}")
    return report_audits(failures)


def cmd_demo(args: argparse.Namespace) -> int:
    from emulator import Emulator

    warehouse = warehouse_path(args.warehouse or DEMO_WAREHOUSE)
    check_writable(warehouse)
    # PostHog's emulated data is anchored to an hour (default: the current one, so its ids
    # change hourly); a fixed anchor keeps a re-run of the demo an incremental sync of the
    # same data instead of a different workspace on top of the last one
    with Emulator(
        seed=args.seed, projects=args.projects, runs=args.runs, posthog_now=DEMO_POSTHOG_NOW
    ) as emu:
        emu.start()
        logger.info("emulator serving %d runs at %s", args.runs, emu.base_url)
        os.environ["SOURCES__DATADOG__BASE_URL"] = emu.base_url
        os.environ.setdefault("SOURCES__DATADOG__API_KEY", "demo-api-key")
        os.environ.setdefault("SOURCES__DATADOG__APP_KEY", "demo-app-key")
        os.environ["SOURCES__POSTHOG__BASE_URL"] = emu.base_url
        os.environ["SOURCES__POSTHOG__PROJECT_ID"] = str(emu.posthog.project_id)
        os.environ.setdefault("SOURCES__POSTHOG__API_KEY", "phx_demo_key")
        result = runner.sync(warehouse)
    _print_sync_summary(result)
    out()
    out("analytics views:")
    for name, count in runner.table_counts(warehouse).items():
        out(f"  analytics.{name:<28}{count:>9} rows")
    _print_best_runs(warehouse)
    code = report_audits(result.audit_failures)
    return max(code, _write_report_after_sync(warehouse, warehouse.with_name(DEMO_REPORT)))


def _print_best_runs(warehouse: Path) -> None:
    with connect(warehouse, read_only=True) as con:
        project = con.execute(
            """
            select runs.project_id, any_value(projects.name), count(*) as n
            from analytics.model_lab_runs as runs
            join analytics.model_lab_projects as projects using (project_id)
            where not runs.is_deleted and runs.status = 'completed'
            group by runs.project_id order by n desc, runs.project_id limit 1
            """
        ).fetchone()
        if project is None:
            return
        project_id, project_name, _ = project
        metric = con.execute(
            """
            select metrics.key from analytics.model_lab_run_metrics as metrics
            join analytics.model_lab_runs as runs using (run_id)
            where runs.project_id = ? group by metrics.key order by count(*) desc, 1 limit 1
            """,
            [project_id],
        ).fetchone()
        if metric is None:
            return
        key = metric[0]
        # lower is better for losses and errors; higher for everything else
        lower_is_better = any(w in key for w in ("loss", "error", "rmse", "latency", "perplexity"))
        order = "asc" if lower_is_better else "desc"
        best = con.execute(
            f"""
            select runs.run_id, runs.name, metrics.latest
            from analytics.model_lab_run_metrics as metrics
            join analytics.model_lab_runs as runs using (run_id)
            where runs.project_id = ? and metrics.key = ? and not runs.is_deleted
                and runs.status = 'completed' and metrics.latest is not null
            order by metrics.latest {order}, runs.run_id limit 5
            """,
            [project_id, key],
        ).fetchall()
    out()
    out(f"best runs of project {project_id} '{project_name}' by {key} ({order}):")
    for rank, (run_id, name, value) in enumerate(best, start=1):
        out(f"  {rank}. run {run_id:<8} {name:<40} {key}={value:.4f}")
