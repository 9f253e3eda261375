"""Benchmark: constant-cost sync — what a Model Lab sync costs at 30k and at 1,000,000 runs.

Measured side by side in one invocation (Model Lab only, facets and artifacts off), each sync
in its own child process so its CPU seconds and peak RSS are its own (`os.wait4`):
1. at `--small` runs (30k): a full sync, then a sync where nothing changed;
2. at `--large` runs (1M): a full sync (wall, CPU, peak RSS, requests), a sync where nothing
   changed, then an incremental sync after `--changed` of the runs changed (1%).

Goals (issue 13), each printed as met or missed:
- peak RSS of the large full sync <= 500 MiB and at most 100 MiB above the small one;
- a no-change sync at the large size <= 1.5x the CPU of one at the small size, and <= 2 CPU-s;
- incremental requests <= 2 * ceil(changed / 100) + 10.

Usage: python -m bench.scale_bench [--small 30000] [--runs 1000000] [--changed 0.01] [--json F]
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

from bench import bench_parser, goal, parse_bench_args
from bench.sync_bench import CORE_ONLY, HEADERS, ROOT, api_requests, change_runs, start_emulator

logger = logging.getLogger("labsync.bench")


@dataclass
class SyncCost:
    """One `labsync sync` in a child process."""

    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    requests: int


def sync_command(
    base_url: str, warehouse: Path, sync_args: Sequence[str], log_level: str
) -> tuple[list[str], dict[str, str]]:
    """The command and environment of one Model Lab sync (facets and artifacts off)."""
    env = {
        **os.environ,
        **CORE_ONLY,
        "SOURCES__DATADOG__BASE_URL": base_url,
        "SOURCES__DATADOG__API_KEY": HEADERS["DD-API-KEY"],
        "SOURCES__DATADOG__APP_KEY": HEADERS["DD-APPLICATION-KEY"],
    }
    command = [sys.executable, "-m", "pipelines", "--log-level", log_level, "sync"]
    command += ["--warehouse", str(warehouse), "--source", "model_lab", *sync_args]
    return command, env


def measured_sync(base_url: str, warehouse: Path, sync_args: Sequence[str] = ()) -> SyncCost:
    """Run one Model Lab sync in a child process; its own CPU seconds and peak RSS."""
    command, env = sync_command(base_url, warehouse, sync_args, "WARNING")
    requests.delete(f"{base_url}/_emulator/requests", timeout=30)
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"sync exited with {child.returncode}")
    return SyncCost(
        wall_s=round(time.perf_counter() - started, 2),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
        peak_rss_mib=round(usage.ru_maxrss / 1024),  # KiB on Linux
        requests=api_requests(base_url),
    )


def at_scale(runs: int, projects: int, seed: int, changed: float | None) -> dict[str, Any]:
    """Full sync, no-change sync and (with `changed`) an incremental sync at `runs` runs."""
    emulator, base_url = start_emulator(runs, projects, seed)
    figures: dict[str, Any] = {"runs": runs}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            warehouse = Path(tmp) / "bench.duckdb"
            for label in ("full", "no_change"):
                figures[label] = asdict(measured_sync(base_url, warehouse))
                logger.info("%d runs, %s sync: %s", runs, label, figures[label])
            if changed:
                figures["changed_runs"] = change_runs(base_url, changed, seed)
                figures["incremental"] = asdict(measured_sync(base_url, warehouse))
                logger.info("%d runs, incremental sync: %s", runs, figures["incremental"])
            figures["warehouse_mib"] = round(warehouse.stat().st_size / 2**20, 1)
    finally:
        emulator.terminate()
        emulator.wait(timeout=60)
    return figures


def goals(small: dict[str, Any], large: dict[str, Any]) -> list[dict[str, Any]]:
    full_rss, small_rss = large["full"]["peak_rss_mib"], small["full"]["peak_rss_mib"]
    quiet_large, quiet_small = large["no_change"]["cpu_s"], small["no_change"]["cpu_s"]
    changed = large["changed_runs"]
    return [
        goal(f"peak RSS, full sync of {large['runs']:,} runs (MiB)", full_rss, 500),
        goal(f"peak RSS above {small['runs']:,} runs (MiB)", full_rss - small_rss, 100),
        goal("no-change sync CPU, large / small", quiet_large / max(quiet_small, 0.01), 1.5),
        goal(f"no-change sync CPU at {large['runs']:,} runs (s)", quiet_large, 2.0),
        goal(
            f"incremental requests after {changed:,} changed",
            large["incremental"]["requests"],
            2 * math.ceil(changed / 100) + 10,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, runs=1_000_000, projects=20, seed=True)
    parser.add_argument("--small", type=int, default=30_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of runs changed")
    args = parse_bench_args(parser, argv)
    small = at_scale(args.small, args.projects, args.seed, None)
    large = at_scale(args.runs, args.projects, args.seed, args.changed)
    figures = {"small": small, "large": large, "goals": goals(small, large)}
    sys.stdout.write(json.dumps(figures, indent=2) + "\n")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
