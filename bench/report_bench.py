"""Benchmark: `labsync report` over a synthetic 1,000,000-run warehouse (target ≤ 30 s).

The warehouse is `models_bench`'s (raw Model Lab tables generated in DuckDB, the views built
over them; no API involved). The report then runs as its own process, `labsync report`, so its
wall time and peak RSS are the command's alone (the generator's memory is not counted).
The warehouse has Model Lab only: the other sections are one line each, as for any warehouse
that never synced them; Model Lab is where the volume is.

Usage: python -m bench.report_bench [--runs 1000000] [--projects 20] [--json FILE]
"""

from __future__ import annotations

import logging
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from bench import bench_parser, parse_bench_args, write_figures
from bench.models_bench import generate, timed
from pipelines import models

logger = logging.getLogger("labsync.bench")

TARGET_S = 30.0


def main(argv: list[str] | None = None) -> int:
    args = parse_bench_args(bench_parser(__doc__, runs=1_000_000, projects=20), argv)
    logging.getLogger("labsync.models").setLevel(logging.WARNING)
    scratch = Path(tempfile.mkdtemp(prefix="labsync-report-bench-"))
    warehouse, out = scratch / "bench.duckdb", scratch / "report.html"
    figures: dict[str, Any] = {"runs": args.runs, "projects": args.projects}
    try:
        con = duckdb.connect(str(warehouse))
        timed("generate raw tables", figures, lambda: generate(con, args.runs, args.projects))
        timed("build all models", figures, lambda: models.build(con, metric_directions={}))
        con.execute("checkpoint")
        con.close()

        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pipelines", "report", "--warehouse", str(warehouse),
             "--out", str(out)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            return done.returncode
        charts = re.search(r"(\d+) charts", done.stdout)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        figures.update(
            {
                "report wall_s (process)": round(wall, 2),
                # CPU seconds (DuckDB's threads included): steadier than wall on a shared machine
                "report cpu_s (process)": round(children.ru_utime + children.ru_stime, 2),
                "report peak RSS MiB": round(children.ru_maxrss / 1024, 1),
                "report MB": round(out.stat().st_size / 1e6, 2),
                "report charts": int(charts.group(1)) if charts else None,
                "target_s": TARGET_S,
                "met": wall <= TARGET_S,
            }
        )
        logger.info(
            "report: %.1f s (%s the %.0f s target), %.1f s CPU, peak RSS %.0f MiB, %.1f MB, "
            "%s charts",
            wall,
            "met" if wall <= TARGET_S else "MISSED",
            TARGET_S,
            figures["report cpu_s (process)"],
            figures["report peak RSS MiB"],
            figures["report MB"],
            figures["report charts"],
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_figures(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
