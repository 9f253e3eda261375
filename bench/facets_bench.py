"""Benchmark: what facets and artifact listings add to a Model Lab sync.

Against one emulator process (default 100,000 runs, 20 projects), side by side:
1. baseline: a full sync with facets and artifact listings switched off;
2. full: a full sync with them on (the default), requests per resource from the sync history;
3. incremental: 1% of runs changed, then a sync;
4. unchanged: a sync with nothing changed (no facet or artifact request is expected).

Usage: python -m bench.facets_bench [--runs 100000] [--projects 20] [--seed 1] [--json FILE]
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import bench_parser, parse_bench_args, write_figures
from bench.sync_bench import CORE_ONLY, change_runs, run_sync, start_emulator
from pipelines import history

logger = logging.getLogger("labsync.bench")

EXTRA_RESOURCES = ("facets", "project_artifacts", "run_artifacts")


def last_sync_requests(warehouse: Path) -> dict[str, int]:
    """Requests per Model Lab resource in the warehouse's latest sync."""
    records = [r for r in history.read(warehouse) if r.source == "model_lab"]
    latest = records[-1].sync_id
    return {r.resource: r.requests for r in records if r.sync_id == latest}


def timed_sync(base_url: str, warehouse: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    seconds, peak_mib = run_sync(base_url, warehouse, extra_env=env)
    per_resource = last_sync_requests(warehouse)
    extra = sum(per_resource.get(name, 0) for name in EXTRA_RESOURCES)
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(peak_mib),
        "requests": sum(per_resource.values()),
        "facet_and_artifact_requests": extra,
        "requests_by_resource": per_resource,
    }


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, runs=100_000, projects=20, seed=True)
    args = parse_bench_args(parser, argv)

    emulator, base_url = start_emulator(args.runs, args.projects, args.seed)
    figures: dict[str, Any] = {"runs": args.runs, "projects": args.projects}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            figures["baseline_full"] = timed_sync(base_url, Path(tmp) / "base.duckdb", CORE_ONLY)
            logger.info("baseline full sync: %s", figures["baseline_full"])
            warehouse = Path(tmp) / "bench.duckdb"
            figures["full"] = timed_sync(base_url, warehouse)
            logger.info("full sync with facets and artifacts: %s", figures["full"])
            started = time.perf_counter()
            figures["changed_runs"] = change_runs(base_url, 0.01, args.seed)
            logger.info("changed runs in %.1fs", time.perf_counter() - started)
            figures["incremental"] = timed_sync(base_url, warehouse)
            logger.info("incremental sync: %s", figures["incremental"])
            figures["unchanged"] = timed_sync(base_url, warehouse)
            logger.info("sync with nothing changed: %s", figures["unchanged"])
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    full, base = figures["full"], figures["baseline_full"]
    figures["extra_seconds_full"] = round(full["seconds"] - base["seconds"], 2)
    figures["extra_requests_full"] = full["requests"] - base["requests"]
    write_figures(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
