"""The commands that read a warehouse: status, search, compare, report."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import timedelta
from pathlib import Path

from ..common.config import as_float
from ..common.errors import ConfigurationError
from ..warehouse import warehouse_path
from .console import out
from .exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE

logger = logging.getLogger("labsync")

DEFAULT_MAX_AGE_HOURS = 26.0  # a daily cron job plus slack


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m"


def _history_of(args: argparse.Namespace, warehouse: Path) -> Path:
    """Where the history of `--destination postgres` lives (beside the warehouse path)."""
    if getattr(args, "destination", "duckdb") != "postgres":
        return warehouse
    from .. import postgres

    return postgres.configured().local_anchor(warehouse)


def cmd_status(args: argparse.Namespace) -> int:
    from .. import health

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
        out(json.dumps(payload, indent=2))
    else:
        out(f"{warehouse} (stale after {max_age_h:g}h)")
        if report.running:
            out(f"sync running: {report.running}")
        if report.resources:
            out(f"{'source':<10}{'resource':<22}{'last success':<34}{'age':>9}{'rows':>9}  cursor")
        for r in report.resources:
            flag = " FAILED" if r.failing else " STALE" if r.stale else ""
            out(
                f"{r.source:<10}{r.resource:<22}{r.last_success_at or '-':<34}"
                f"{_age(r.age_s):>9}{r.rows_loaded if r.rows_loaded is not None else '-':>9}  "
                f"{r.cursor or '-'}{flag}"
            )
            if r.last_error:
                out(f"{'':<10}last error at {r.last_error_at}: {r.last_error}")
        for problem in report.problems:
            out(f"UNHEALTHY: {problem}")
        if report.healthy:
            out("healthy")
    return EXIT_OK if report.healthy else EXIT_FAILED


def cmd_compare(args: argparse.Namespace) -> int:
    from .. import compare

    try:
        result = compare.compare(
            warehouse_path(args.warehouse), args.run_ids, args.baseline, args.destination
        )
    except compare.UnknownRuns as exc:
        logger.error("%s", exc)
        return EXIT_USAGE
    out(compare.render(result))
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
    from ..search import parse_filter, parse_order_by

    named = [c.identifier.column for c in parse_filter(args.filter)]
    named += [parse_order_by(item)[0].column for item in args.order_by or []]
    base = ["run_id", "project_id", "run_name", "status", "start_time"]
    return list(dict.fromkeys(c for c in [*base, *named] if c in available))


def cmd_search(args: argparse.Namespace) -> int:
    from ..search import search_runs

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
        out(runs.to_json(orient="records", date_format="iso", date_unit="ms"))
    elif runs.empty:
        out("no run matches")
    else:
        out(runs.to_string(index=False, na_rep="-"))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from datetime import date

    try:
        from ..report import Filters, build_report
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
    out(report.summary())
    return EXIT_OK
