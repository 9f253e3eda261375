"""The labsync command line: its parser, flags and help text."""

from __future__ import annotations

import argparse

from .. import runner
from ..sources import source_names
from .reads import DEFAULT_MAX_AGE_HOURS
from .writes import DEMO_WAREHOUSE, LAKE_WAREHOUSE

# `labsync --help` opens with this
DESCRIPTION = """\
labsync: sync Datadog Model Lab, Datadog LLM Observability and PostHog LLM analytics into
DuckDB (or a Parquet/Delta lake) and build run-comparison views over them.

Commands: sync, models, status, search, compare, report, emulate, demo. Exit codes: 0
success, 1 sync or model failure (or an unhealthy warehouse for `status`), 2 usage or
configuration error (found before any request), 75 another sync holds the warehouse,
130 interrupted.
"""


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
        prog="labsync",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
