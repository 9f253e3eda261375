"""`labsync compare`: the params that differ between runs and their metric deltas vs a baseline.

Reads the published warehouse read-only (`analytics.model_lab_runs`, `..._run_params`,
`..._run_metrics`, `analytics.metric_directions`). The baseline is `--baseline` or the first
run given. A param set on some runs and missing on others differs (shown as `-`). Metric
deltas compare each run's latest value with the baseline's: delta = value - baseline, change =
delta / |baseline|, and better/worse by the metric's direction (`analytics.metric_directions`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common.errors import ConfigurationError
from .warehouse import connect


class UnknownRuns(ConfigurationError):
    """Run ids that are not in the warehouse (exit code 2)."""


@dataclass(frozen=True)
class RunInfo:
    run_id: int
    project_id: int
    name: str
    status: str
    is_deleted: bool

    @property
    def label(self) -> str:
        deleted = ", deleted" if self.is_deleted else ""
        return (
            f'run {self.run_id} "{self.name}" ({self.status}, project {self.project_id}{deleted})'
        )


@dataclass(frozen=True)
class MetricDelta:
    metric: str
    direction: str
    run_id: int
    value: float | None
    baseline_value: float | None
    delta: float | None
    relative_change: float | None
    is_better: bool | None

    @property
    def verdict(self) -> str:
        if self.is_better is None:
            return "-"
        if self.is_better:
            return "better"
        return "same" if self.delta == 0 else "worse"


@dataclass(frozen=True)
class Comparison:
    baseline: RunInfo
    runs: list[RunInfo]  # baseline first, then the others in the order given
    n_param_keys: int
    differing_params: list[tuple[str, list[str | None]]]  # key, value per run in `runs` order
    metrics: list[MetricDelta]  # per metric, per run other than the baseline


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def metric_delta(
    metric: str, direction: str, run_id: int, value: float | None, baseline: float | None
) -> MetricDelta:
    value, baseline = _number(value), _number(baseline)
    if value is None or baseline is None:
        return MetricDelta(metric, direction, run_id, value, baseline, None, None, None)
    delta = value - baseline
    relative = delta / abs(baseline) if baseline != 0 else None
    better = value < baseline if direction == "min" else value > baseline
    return MetricDelta(metric, direction, run_id, value, baseline, delta, relative, better)


Query = Callable[[str, Sequence[object]], list[tuple[Any, ...]]]


@contextmanager
def reader(warehouse: Path, destination: str = "duckdb") -> Iterator[tuple[str, Query]]:
    """(name, query) over the published warehouse: DuckDB read-only, or Postgres."""
    if destination == "postgres":
        from . import postgres

        target = postgres.target()
        con = target.connect()

        def pg_query(sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
            with con.cursor() as cur:
                cur.execute(sql.replace("?", "%s"), list(params))
                return list(cur.fetchall())

        try:
            yield f"Postgres {target.name}", pg_query
        finally:
            con.close()
        return
    if not warehouse.exists():
        raise ConfigurationError(f"no warehouse at {warehouse}: run `labsync sync` first")
    with connect(warehouse, read_only=True) as duck:
        yield str(warehouse), lambda sql, params: duck.execute(sql, list(params)).fetchall()


def compare(
    warehouse: Path,
    run_ids: Sequence[int],
    baseline: int | None = None,
    destination: str = "duckdb",
) -> Comparison:
    """Compare `run_ids` (and `baseline`, default the first of them) in `warehouse`
    (or in the Postgres warehouse with `destination="postgres"`)."""
    ordered = list(dict.fromkeys([baseline, *run_ids] if baseline is not None else run_ids))
    if len(ordered) < 2:
        raise ConfigurationError("compare needs at least two different runs")
    marks = ", ".join("?" * len(ordered))
    with reader(warehouse, destination) as (name, query):
        exists = query(
            "select count(*) from information_schema.tables "
            "where table_schema = 'analytics' and table_name = 'metric_directions'",
            [],
        )
        if not exists[0][0]:
            raise ConfigurationError(f"{name} has no analytics views: run `labsync models`")
        found = {
            row[0]: RunInfo(*row)
            for row in query(
                "select run_id, project_id, name, status, is_deleted "
                f"from analytics.model_lab_runs where run_id in ({marks})",
                ordered,
            )
        }
        missing = [str(i) for i in ordered if i not in found]
        if missing:
            raise UnknownRuns(f"unknown run id(s) {', '.join(missing)}: not in {name}")
        params = query(
            "select run_id, key, value from analytics.model_lab_run_params "
            f"where run_id in ({marks})",
            ordered,
        )
        metrics = query(
            "select metrics.run_id, metrics.key, metrics.latest, directions.direction "
            "from analytics.model_lab_run_metrics as metrics "
            "left join analytics.metric_directions as directions "
            "on metrics.key = directions.metric "
            f"where metrics.run_id in ({marks})",
            ordered,
        )
    runs = [found[i] for i in ordered]
    values: dict[str, dict[int, str]] = {}
    for run_id, key, value in params:
        values.setdefault(key, {})[run_id] = value
    differing = [
        (key, [by_run.get(i) for i in ordered])
        for key, by_run in sorted(values.items())
        if len({by_run.get(i) for i in ordered}) > 1
    ]
    latest: dict[str, dict[int, float | None]] = {}
    directions: dict[str, str] = {}
    for run_id, key, value, direction in metrics:
        latest.setdefault(key, {})[run_id] = value
        directions[key] = direction or "max"
    base_id = ordered[0]
    deltas = [
        metric_delta(key, directions[key], run.run_id, by_run.get(run.run_id), by_run.get(base_id))
        for key, by_run in sorted(latest.items())
        for run in runs[1:]
    ]
    return Comparison(runs[0], runs, len(values), differing, deltas)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]


def render(comparison: Comparison) -> str:
    """The comparison as plain-text tables."""
    baseline = comparison.baseline
    lines = [f"baseline: {baseline.label}"]
    lines += [f"compared: {run.label}" for run in comparison.runs[1:]]
    lines.append("")
    n_diff, n_keys = len(comparison.differing_params), comparison.n_param_keys
    lines.append(f"params that differ ({n_diff} of {n_keys}):")
    if comparison.differing_params:
        header = ["param", *(str(r.run_id) for r in comparison.runs)]
        header[1] += " (baseline)"
        rows = [
            [key, *("-" if v is None else v for v in run_values)]
            for key, run_values in comparison.differing_params
        ]
        lines += ["  " + line for line in _table(header, rows)]
    else:
        lines.append("  (none)")
    lines.append("")
    lines.append(f"metrics vs baseline {baseline.run_id} (latest values):")
    if comparison.metrics:
        header = ["metric", "better", "run", "value", "baseline", "delta", "change", "verdict"]
        rows = [
            [
                d.metric,
                "lower" if d.direction == "min" else "higher",
                str(d.run_id),
                _fmt(d.value),
                _fmt(d.baseline_value),
                "-" if d.delta is None else f"{d.delta:+.6g}",
                "-" if d.relative_change is None else f"{d.relative_change:+.1%}",
                d.verdict,
            ]
            for d in comparison.metrics
        ]
        lines += ["  " + line for line in _table(header, rows)]
    else:
        lines.append("  (no metrics)")
    return "\n".join(lines)
