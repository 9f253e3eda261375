"""Benchmark: the emulator's Model Lab store at scale (what the sync benchmarks stand on).

Measured, in one invocation: the time to generate the store, the bytes its run columns hold
per run, and the time to render a 100-run page (as JSON) deep into the default listing and
into one project's listing. The emulator must stay well below the sync's own cost per page,
or the sync benchmarks would measure the emulator.

Usage: python -m bench.emulator_bench [--runs 1000000] [--projects 50] [--json FILE]
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import orjson

from bench import bench_parser, parse_bench_args
from emulator.model_lab.data import ModelLabStore, RunQuery

logger = logging.getLogger("labsync.bench")
PAGE = 100


def page_render_ms(store: ModelLabStore, query: RunQuery, pages: int) -> float:
    """Mean milliseconds to list and serialise one page, over `pages` pages deep in the listing."""
    total, _ = store.list_runs(query, 0, PAGE)  # warms the sort cache
    step = max(total // (pages + 1) // PAGE * PAGE, PAGE)
    started = time.perf_counter()
    for number in range(1, pages + 1):
        orjson.dumps(store.list_runs(query, number * step, PAGE)[1])
    return (time.perf_counter() - started) / pages * 1000


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, runs=1_000_000, projects=50)
    args = parse_bench_args(parser, argv)

    started = time.perf_counter()
    store = ModelLabStore(seed=1, projects=args.projects, runs=args.runs)
    figures: dict[str, Any] = {
        "runs": args.runs,
        "generate s": round(time.perf_counter() - started, 2),
        "run column bytes per run": round(store.columns_nbytes() / args.runs, 1),
        "page ms (all runs)": round(page_render_ms(store, RunQuery(), 20), 2),
        "page ms (one project)": round(page_render_ms(store, RunQuery(project_id=3), 10), 2),
    }
    for name, value in figures.items():
        logger.info("%-28s %s", name, value)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
