"""Benchmark: what the audits cost in memory and time under each DuckDB memory cap.

Generates `models_bench`'s synthetic warehouse (`--runs`, default 1,000,000) once and builds
the views, then for each `--limits` x `--threads` setting runs `models.run_audits` in a child
process of its own: the RSS when the audits start, the peak (`ru_maxrss`), wall and CPU
seconds. In a sync the audits run on the connection of the views (`runner._build`), after the
load; the peak they add to the process is what this measures.

Usage: python -m bench.audits_memory_bench [--runs 1000000] [--limits 256MB,128MB,96MB]
       [--threads 2,1] [--keep PATH] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from bench import bench_parser, parse_bench_args
from bench.memory_bench import rss_mib
from bench.models_bench import generate
from bench.sync_bench import ROOT
from pipelines import models

logger = logging.getLogger("labsync.bench")


def audits_in_child(path: Path, limit: str, threads: int) -> dict[str, Any]:
    """Run the audits in a fresh process with `limit` and `threads`; its figures."""
    command = [sys.executable, "-m", "bench.audits_memory_bench", "--child", str(path)]
    command += ["--limits", limit, "--threads", str(threads)]
    output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    return dict(json.loads(output.stdout.strip().splitlines()[-1]))


def peak_mib() -> float:
    """This process's peak RSS: VmHWM, reset by exec (`ru_maxrss` keeps the forking parent's
    peak, the generated warehouse's here)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(path: Path, limit: str, threads: int) -> dict[str, Any]:
    with duckdb.connect(str(path)) as con:
        con.execute("set memory_limit = ?", [limit])
        con.execute("set preserve_insertion_order = false")
        con.execute(f"set threads = {threads}")
        start = rss_mib(os.getpid()) or 0.0
        wall, cpu = time.perf_counter(), time.process_time()
        failures = models.run_audits(con)
        return {
            "limit": limit,
            "threads": threads,
            "rss_at_start_mib": round(start),
            "peak_mib": round(peak_mib()),
            "wall_s": round(time.perf_counter() - wall, 2),
            "cpu_s": round(time.process_time() - cpu, 2),
            "failures": [f.name for f in failures],
        }


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, runs=1_000_000, projects=20)
    parser.add_argument("--limits", default="256MB,128MB,96MB", help="memory caps to try")
    parser.add_argument("--threads", default="2,1", help="DuckDB thread counts to try")
    parser.add_argument("--keep", type=Path, help="the warehouse (reused when it exists)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parse_bench_args(parser, argv)
    logging.getLogger("labsync.models").setLevel(logging.WARNING)
    if args.child:
        figures = child(args.child, args.limits, int(args.threads))
        sys.stdout.write(json.dumps(figures) + "\n")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "audits.duckdb"
        if not path.exists():
            with duckdb.connect(str(path)) as con:
                generate(con, args.runs, args.projects)
                models.build(con, metric_directions={})
                con.execute("checkpoint")
        results = [
            audits_in_child(path, limit, int(threads))
            for limit in args.limits.split(",")
            for threads in args.threads.split(",")
        ]
    for r in results:
        logger.info(
            "memory_limit %-6s threads %d: start %4d MiB, peak %4d MiB (+%d), %.2f s, %.2f CPU-s",
            r["limit"],
            r["threads"],
            r["rss_at_start_mib"],
            r["peak_mib"],
            r["peak_mib"] - r["rss_at_start_mib"],
            r["wall_s"],
            r["cpu_s"],
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
