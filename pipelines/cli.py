"""labsync: sync Datadog Model Lab, Datadog LLM Observability and PostHog LLM analytics into
DuckDB (or a Parquet/Delta lake) and build run-comparison views over them.

Commands: sync, models, status, search, compare, report, emulate, demo. Exit codes: 0
success, 1 sync or model failure (or an unhealthy warehouse for `status`), 2 usage or
configuration error (found before any request), 75 another sync holds the warehouse,
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from . import models, runner
from .common import progress
from .common.config import as_float, config_value, describe_provider_error
from .common.errors import ConfigurationError, LabsyncError
from .sources import source_names
from .warehouse import WarehouseBusy, check_writable, connect, warehouse_path

logger = logging.getLogger("labsync")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUSY, EXIT_INTERRUPTED = 0, 1, 2, 75, 130
DEFAULT_MAX_AGE_HOURS = 26.0  # a daily cron job plus slack
DEMO_WAREHOUSE = Path("warehouse") / "demo.duckdb"
DEMO_POSTHOG_NOW = "2026-11-01T00:00:00+00:00"
LAKE_WAREHOUSE = Path("warehouse") / "lake.duckdb"
DEMO_REPORT = "demo-report.html"  # beside the demo warehouse


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class _CurrentStderr:
    """Whatever `sys.stderr` is at the time of writing: the live progress display swaps it
    for a proxy that prints log lines above the bars."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """labsync's one stderr handler. dlt reuses a handler it finds on its logger and sets its
    own formatter on it: the formatter is fixed here so dlt's lines come out as ours."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(_CurrentStderr())  # type: ignore[arg-type]
        self.formatter = formatter

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        pass


class _RepeatsOnce(logging.Filter):
    """dlt warns once per table and load that a Parquet lake appends instead of merging
    (expected: the lake views keep each row's latest version); say it once a process."""

    said = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("dlt") and str(record.msg).startswith("Falling back to"):
            if self.said:
                return False
            self.said = True
        return True


class _NoTraces(logging.Filter):
    """dlt logs some failures with their exception trace, attached or inside the message (a
    load job that hit a full disk); labsync reports each failure in one line, so below DEBUG
    a trace is cut down to its last line, the exception."""

    TRACE = "Traceback (most recent call last):"

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        message = record.getMessage()
        if self.TRACE in message:
            head, trace = message.split(self.TRACE, 1)
            lines = [line for line in trace.splitlines() if line.strip()]
            record.msg, record.args = head + (lines[-1].strip() if lines else ""), None
        return True


def _setup_logging(level: str, log_format: str = "text") -> None:
    """One handler for labsync's, dlt's (which stops propagation) and Python warnings' lines;
    with json also the root logger's, so urllib3's and other libraries' lines are JSON too."""
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")  # dlt's own chatter
    formatter = (
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    )
    handler = _Handler(formatter)
    handler.addFilter(_RepeatsOnce())
    if level.upper() != "DEBUG":
        handler.addFilter(_NoTraces())
    logging.captureWarnings(True)
    for name in ("labsync", "dlt", "py.warnings", *([""] if log_format == "json" else [])):
        log = logging.getLogger(name)
        log.handlers[:] = [h for h in log.handlers if not isinstance(h, _Handler)]
        log.addHandler(handler)
        log.propagate = name == ""
    labsync = logging.getLogger("labsync")
    labsync.handlers[:] = [handler]
    labsync.setLevel(level.upper())
    logging.getLogger("urllib3").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


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
    _out(f"{verdict} in {result.seconds:.1f}s: {counts}{skipped}")
    _out(
        f"{'source':<10}{'resource':<22}{'rows':>9}{'pages':>8}{'requests':>10}"
        f"{'retries':>9}{'throttled':>11}"
    )
    for source in ran:
        for stats in source.stats.resources.values():
            _out(
                f"{source.name:<10}{stats.name:<22}{stats.rows:>9}{stats.pages:>8}"
                f"{stats.requests:>10}{stats.retries:>9}{stats.throttled:>11}"
            )
    for source in ran:
        if source.status == "succeeded":
            loaded = ", ".join(f"{t}={n}" for t, n in sorted(source.rows_by_table.items()))
            _out(f"{source.name}: succeeded, {source.rows_loaded} rows loaded ({loaded or 'none'})")
        else:
            _out(source.error or f"{source.name}: {source.status}")
    for name in result.skipped:
        _out(f"{name}: skipped (no credentials configured)")
    for note in result.recovered:
        _out(f"recovered after an interrupted sync: {note}")
    audits = "audits failed" if result.audit_failures else ""
    if lake:
        _out(f"raw tables written to the lake {lake}; nothing published")
        _out(f"build the views over it with: labsync models --lake {lake}")
    elif not result.published:
        why = audits or "a source failed to load"
        _out(f"nothing published ({why}): {result.warehouse} keeps its last state")
    elif failed and len(failed) == len(ran):
        _out(f"published {result.warehouse} with no new data (only the sync history changed)")
    else:
        _out(f"published {result.warehouse}" + (" despite failed audits" if audits else ""))


def _report_audits(failures: list[models.AuditFailure]) -> int:
    for failure in failures:
        _out(f"AUDIT FAILED {failure.name}: {failure.rows} rows, e.g. {failure.sample}")
    return EXIT_FAILED if failures else EXIT_OK


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
    code = _report_audits(result.audit_failures)
    if args.report and result.published:
        code = max(code, _write_report_after_sync(result.warehouse, Path(args.report)))
    return code


def _write_report_after_sync(warehouse: Path, out: Path) -> int:
    """`sync --report`: the sync is published whatever happens here; a failure is exit 1."""
    try:
        from .report import build_report

        report = build_report(warehouse, out.resolve())
    except Exception as exc:  # the published warehouse stays as it is
        logger.error(
            "sync published, but the report failed: %s",
            exc,
            exc_info=logger.isEnabledFor(logging.DEBUG),
        )
        return EXIT_FAILED
    _out(report.summary())
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from datetime import date

    try:
        from .report import Filters, build_report
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"labsync report needs {exc.name}: pip install 'labsync[report]'"
        ) from None

    since = None
    if args.since:
        try:
            since = date.fromisoformat(args.since)
        except ValueError:
            raise ConfigurationError(f"--since {args.since!r} is not a date (YYYY-MM-DD)") from None
    filters = Filters(tuple(args.project or ()), tuple(args.metric or ()), since)
    report = build_report(warehouse_path(args.warehouse), Path(args.out).resolve(), filters)
    _out(report.summary())
    return EXIT_OK


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m"


def _history_of(args: argparse.Namespace, warehouse: Path) -> Path:
    """Where the history of `--destination postgres` lives (beside the warehouse path)."""
    if getattr(args, "destination", "duckdb") != "postgres":
        return warehouse
    from . import postgres

    return postgres.configured().local_anchor(warehouse)


def cmd_status(args: argparse.Namespace) -> int:
    from . import health

    warehouse = _history_of(args, warehouse_path(args.warehouse))
    max_age_h = args.max_age_hours
    if max_age_h is None:
        max_age_h = as_float("labsync.max_age_hours", DEFAULT_MAX_AGE_HOURS, minimum=0.0)
    report = health.check(warehouse, timedelta(hours=max_age_h))
    if args.json:
        payload = {
            "warehouse": str(warehouse),
            "max_age_hours": max_age_h,
            "healthy": report.healthy,
            "problems": report.problems,
            "running": report.running,
            "stale": any(r.stale for r in report.resources) or not report.resources,
            "resources": [{**vars(r), "problem": r.problem} for r in report.resources],
        }
        _out(json.dumps(payload, indent=2))
    else:
        _out(f"{warehouse} (stale after {max_age_h:g}h)")
        if report.running:
            _out(f"sync running: {report.running}")
        if report.resources:
            _out(f"{'source':<10}{'resource':<22}{'last success':<34}{'age':>9}{'rows':>9}  cursor")
        for r in report.resources:
            flag = " FAILED" if r.failing else " STALE" if r.stale else ""
            _out(
                f"{r.source:<10}{r.resource:<22}{r.last_success_at or '-':<34}"
                f"{_age(r.age_s):>9}{r.rows_loaded if r.rows_loaded is not None else '-':>9}  "
                f"{r.cursor or '-'}{flag}"
            )
            if r.last_error:
                _out(f"{'':<10}last error at {r.last_error_at}: {r.last_error}")
        for problem in report.problems:
            _out(f"UNHEALTHY: {problem}")
        if report.healthy:
            _out("healthy")
    return EXIT_OK if report.healthy else EXIT_FAILED


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
        _out(f"built the views in Spark over {args.lake}")
        return _report_audits(failures)
    check_writable(warehouse)
    failures = runner.build_models_in(
        warehouse, lake=args.lake, publish_on_audit_failure=args.publish_on_audit_failure
    )
    if failures and not args.publish_on_audit_failure:
        _out(f"built the views; audits failed: {warehouse} NOT published (kept its last state)")
    else:
        _out(f"built the views and published {warehouse}")
    return _report_audits(failures)


def cmd_compare(args: argparse.Namespace) -> int:
    from . import compare

    try:
        result = compare.compare(
            warehouse_path(args.warehouse), args.run_ids, args.baseline, args.destination
        )
    except compare.UnknownRuns as exc:
        logger.error("%s", exc)
        return EXIT_USAGE
    _out(compare.render(result))
    return EXIT_OK


def _search_columns(args: argparse.Namespace, available: list[str]) -> list[str]:
    """--columns, else for a table the attributes and every key the filter or order names."""
    if args.columns:
        wanted = [c.strip() for item in args.columns for c in item.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in available]
        if unknown:
            raise ConfigurationError(
                f"unknown column {', '.join(unknown)}; runs have "
                f"{', '.join(available[:12])}{', ...' if len(available) > 12 else ''}"
            )
        return wanted
    if args.format != "table":
        return available
    from .search import parse_filter, parse_order_by

    named = [c.identifier.column for c in parse_filter(args.filter)]
    named += [parse_order_by(item)[0].column for item in args.order_by or []]
    base = ["run_id", "project_id", "run_name", "status", "start_time"]
    return list(dict.fromkeys(c for c in [*base, *named] if c in available))


def cmd_search(args: argparse.Namespace) -> int:
    from .search import search_runs

    runs = search_runs(
        args.filter,
        order_by=args.order_by,
        max_results=args.max_results,
        warehouse=args.warehouse,
        project_ids=args.project_id,
        include_deleted=args.include_deleted,
        destination=args.destination,
    )
    runs = runs[_search_columns(args, list(runs.columns))]
    if args.format == "csv":
        sys.stdout.write(runs.to_csv(index=False))
    elif args.format == "json":
        _out(runs.to_json(orient="records", date_format="iso", date_unit="ms"))
    elif runs.empty:
        _out("no run matches")
    else:
        _out(runs.to_string(index=False, na_rep="-"))
    return EXIT_OK


def cmd_emulate(args: argparse.Namespace, extra: list[str]) -> int:
    from emulator.cli import main as emulator_main

    return emulator_main(extra)


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
    _out()
    _out("analytics views:")
    for name, count in runner.table_counts(warehouse).items():
        _out(f"  analytics.{name:<28}{count:>9} rows")
    _print_best_runs(warehouse)
    code = _report_audits(result.audit_failures)
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
    _out()
    _out(f"best runs of project {project_id} '{project_name}' by {key} ({order}):")
    for rank, (run_id, name, value) in enumerate(best, start=1):
        _out(f"  {rank}. run {run_id:<8} {name:<40} {key}={value:.4f}")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _publish_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--publish-on-audit-failure",
        action="store_true",
        help="publish even when an audit fails (default: keep the last good published file)",
    )


def _read_destination_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--destination",
        choices=["duckdb", "postgres"],
        default="duckdb",
        help="postgres: read the Postgres warehouse of DESTINATION__POSTGRES__CREDENTIALS",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labsync", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    parser.add_argument(
        "--log-format", default="text", choices=["text", "json"], help="json: one object per line"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    sync = commands.add_parser("sync", help="sync sources into the warehouse, then build views")
    sync.add_argument(
        "--source",
        action="append",
        choices=source_names(),
        help="sync only this source (repeatable); default: every configured source",
    )
    sync.add_argument(
        "--warehouse", help="DuckDB file (default: $LABSYNC_WAREHOUSE or warehouse/labsync.duckdb)"
    )
    sync.add_argument("--full-refresh", action="store_true", help="ignore cursors, re-read all")
    sync.add_argument("--reconcile", action="store_true", help="flag rows deleted in the API")
    sync.add_argument("--no-models", action="store_true", help="skip building the SQL views")
    _publish_flag(sync)
    sync.add_argument(
        "--artifacts-content",
        action="store_true",
        help="also download Model Lab artifact files into <warehouse dir>/artifacts/",
    )
    sync.add_argument(
        "--artifacts-include",
        action="append",
        metavar="GLOB",
        help="download only files whose path or name matches (repeatable; e.g. '*.json')",
    )
    sync.add_argument(
        "--artifacts-max-bytes",
        type=int,
        metavar="N",
        help="skip artifact files larger than N bytes",
    )
    sync.add_argument(
        "--destination",
        choices=["duckdb", "filesystem", "postgres"],
        default="duckdb",
        help="filesystem: raw tables as Parquet in --bucket-url (a folder or s3://...); "
        "postgres: tables and views in the Postgres of DESTINATION__POSTGRES__CREDENTIALS",
    )
    sync.add_argument("--bucket-url", help="lake folder or bucket for --destination filesystem")
    sync.add_argument(
        "--report", metavar="PATH", help="after a successful publish, write the HTML report here"
    )
    sync.add_argument(
        "--table-format",
        choices=list(runner.TABLE_FORMATS),
        default="parquet",
        help="delta: --destination filesystem writes Delta tables, merged on primary keys",
    )

    build = commands.add_parser("models", help="build the SQL views and run the audits")
    build.add_argument("--warehouse")
    build.add_argument(
        "--lake",
        metavar="URL",
        help=f"build the views over this Parquet/Delta lake (into {LAKE_WAREHOUSE} by default)",
    )
    build.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        default="duckdb",
        help="spark: build the views over --lake in Spark SQL (docs/engines.md)",
    )
    build.add_argument(
        "--spark-master", help="Spark master URL (default: $LABSYNC_SPARK_MASTER or local[2])"
    )
    _publish_flag(build)

    status = commands.add_parser("status", help="last sync per resource; exit 1 when stale")
    status.add_argument("--warehouse")
    _read_destination_flag(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--max-age-hours",
        type=float,
        help=f"stale after this many hours (default: [labsync] max_age_hours or "
        f"{DEFAULT_MAX_AGE_HOURS:g})",
    )

    search = commands.add_parser(
        "search",
        help="runs matching an MLflow search_runs filter",
        description='Runs matching an MLflow search_runs filter, e.g. "metrics.accuracy > 0.9 '
        "and params.optimizer = 'adam' and attributes.status = 'FINISHED'\".",
    )
    search.add_argument("filter", nargs="?", default="", metavar="FILTER", help="MLflow filter")
    search.add_argument(
        "--order-by",
        action="append",
        metavar="KEY [ASC|DESC]",
        help="e.g. 'metrics.rmse ASC' (repeatable); default start_time DESC; ties by start_time "
        "DESC, then run_id",
    )
    search.add_argument(
        "--max-results", type=_positive_int, default=1000, metavar="N", help="default 1000"
    )
    search.add_argument(
        "--columns",
        action="append",
        metavar="COL,...",
        help="columns to show, e.g. run_id,metrics.accuracy (default for a table: the attributes "
        "and the keys the filter and order name; csv and json: every column)",
    )
    search.add_argument("--format", choices=["table", "csv", "json"], default="table")
    search.add_argument(
        "--project-id", type=int, action="append", help="only this project (repeatable)"
    )
    search.add_argument("--include-deleted", action="store_true", help="also deleted runs")
    search.add_argument("--warehouse")
    _read_destination_flag(search)

    compare = commands.add_parser(
        "compare", help="params that differ and metric deltas between runs"
    )
    compare.add_argument("run_ids", metavar="RUN_ID", type=int, nargs="+")
    compare.add_argument("--baseline", metavar="RUN_ID", type=int, help="default: the first run")
    compare.add_argument("--warehouse")
    _read_destination_flag(compare)

    report = commands.add_parser(
        "report", help="one self-contained HTML page of charts over the analytics views"
    )
    report.add_argument("--warehouse")
    report.add_argument("--out", default="report.html", help="default: report.html")
    report.add_argument(
        "--project", action="append", type=int, metavar="ID", help="Model Lab project (repeatable)"
    )
    report.add_argument("--metric", action="append", metavar="KEY", help="metric (repeatable)")
    report.add_argument("--since", metavar="DATE", help="time series from this day (YYYY-MM-DD)")

    commands.add_parser(
        "emulate", help="serve the vendor API emulator (see --help)", add_help=False
    )

    demo = commands.add_parser("demo", help="emulator -> DuckDB -> views -> summary")
    demo.add_argument("--warehouse", help=f"DuckDB file (default: {DEMO_WAREHOUSE})")
    demo.add_argument("--runs", type=int, default=3000)
    demo.add_argument("--projects", type=int, default=6)
    demo.add_argument("--seed", type=int, default=7)
    return parser


COMMANDS = {
    "sync": cmd_sync,
    "models": cmd_models,
    "status": cmd_status,
    "search": cmd_search,
    "compare": cmd_compare,
    "report": cmd_report,
    "demo": cmd_demo,
}


def _failure(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one line an operator sees for an error that ends a command."""
    from dlt.common.configuration.exceptions import ConfigProviderException

    from .search import InvalidFilter

    if isinstance(exc, ConfigurationError):
        return EXIT_USAGE, f"configuration error: {exc}"
    if isinstance(exc, ConfigProviderException):
        return EXIT_USAGE, f"configuration error: {describe_provider_error(exc)}"
    if isinstance(exc, InvalidFilter):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, runner.SyncFailed):  # each source's error is already logged above
        return EXIT_FAILED, f"sync failed: {', '.join(s.name for s in exc.result.failed)}"
    if isinstance(exc, WarehouseBusy):
        return EXIT_BUSY, str(exc)
    if isinstance(exc, LabsyncError):
        return EXIT_FAILED, str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    if isinstance(exc, OSError):  # names the path: "[Errno 28] No space left on device: '...'"
        return EXIT_FAILED, f"{type(exc).__name__}: {exc}"
    return EXIT_FAILED, f"unexpected error: {type(exc).__name__}: {exc}"


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    if extra and args.command != "emulate":
        build_parser().error(f"unrecognized arguments: {' '.join(extra)}")
    _setup_logging(args.log_level, args.log_format)
    try:
        if args.command == "emulate":
            return cmd_emulate(args, extra)
        with ExitStack() as stack:
            if args.command in ("sync", "demo") and args.log_format == "text":
                stack.enter_context(progress.live(sys.stderr))
            return COMMANDS[args.command](args)
    except (Exception, KeyboardInterrupt) as exc:
        code, message = _failure(exc)
        # the traceback only when asked for: --log-level DEBUG
        debug = logger.isEnabledFor(logging.DEBUG)
        level = logging.WARNING if code == EXIT_BUSY else logging.ERROR
        logger.log(level, "%s", message, exc_info=exc if debug else None)
        if code == EXIT_FAILED and not isinstance(exc, LabsyncError) and not debug:
            logger.error("run with --log-level DEBUG for the traceback")
        return code


if __name__ == "__main__":
    sys.exit(main())
