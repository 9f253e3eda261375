"""Benchmark: full Model Lab sync vs the fetch floor, then an incremental sync after 1% changes.

Everything runs side by side in one invocation against one emulator process:
1. fetch floor: GET and JSON-parse every runs page (100 per page) and the projects pages,
   one after another on one connection with the sync's own transport (urllib3, orjson);
   the target is a full sync within 3x of it. Also reported: the hierarchy floor, the same
   for each sweep parent's `filter[parent_run_id]` listing, which the sync also requests;
2. full sync: `labsync sync --source model_lab` in a child process (wall time, runs/s, peak
   RSS), projects and runs only: facets and artifact walks are measured by facets_bench.py;
3. incremental: 1% of runs updated through the emulator's control API, then a second sync
   (wall time and the requests it made).

Usage: python -m bench.sync_bench [--runs 100000] [--projects 20] [--seed 1] [--json FILE]
"""

from __future__ import annotations

import logging
import math
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import requests
import urllib3

from bench import bench_parser, goal, parse_bench_args, write_figures

logger = logging.getLogger("labsync.bench")

ROOT = Path(__file__).resolve().parent.parent
HEADERS = {"DD-API-KEY": "bench-api-key", "DD-APPLICATION-KEY": "bench-app-key"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(runs: int, projects: int, seed: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            str(port),
            "--runs",
            str(runs),
            "--projects",
            str(projects),
            "--seed",
            str(seed),
        ],
        cwd=ROOT,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base_url}/_emulator/health", timeout=1).ok:
                return process, base_url
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("emulator did not start")


ML_API = "/api/v2/model-lab-api"


def fetch_floor(base_url: str) -> tuple[float, int, int, list[str]]:
    """Seconds, rows and requests to only GET and parse every list page, one after another
    over one keep-alive connection with the sync's own transport (urllib3 and orjson); and
    the ids of the runs with children, for `hierarchy_floor`."""
    pool = urllib3.connection_from_url(base_url)
    rows = calls = 0
    parents: list[str] = []
    started = time.perf_counter()
    for path in ("projects", "runs"):
        for data in _pages(pool, f"{ML_API}/{path}", {"sort": "-updated_at"}):
            calls += 1
            rows += len(data)
            if path == "runs":
                parents += [r["id"] for r in data if r["attributes"].get("has_children")]
    return time.perf_counter() - started, rows, calls, parents


def hierarchy_floor(base_url: str, parents: list[str]) -> tuple[float, int]:
    """Seconds and requests to only GET and parse the children listing of every parent run
    (the sync's `filter[parent_run_id]` pages), one after another."""
    pool = urllib3.connection_from_url(base_url)
    calls = 0
    started = time.perf_counter()
    for parent in parents:
        filters = {"sort": "created_at", "filter[parent_run_id]": parent}
        calls += sum(1 for _ in _pages(pool, f"{ML_API}/runs", filters))
    return time.perf_counter() - started, calls


def _pages(
    pool: urllib3.HTTPConnectionPool, path: str, params: Mapping[str, Any]
) -> Iterator[list[dict[str, Any]]]:
    """The `data` of each page of a listing, 100 rows a page, following `next_number`."""
    number: int | None = None
    while True:
        query = {**params, "page[size]": 100}
        if number is not None:
            query["page[number]"] = number
        response = pool.urlopen("GET", f"{path}?{urlencode(query)}", headers=HEADERS)
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        body = orjson.loads(response.data)
        yield body["data"]
        number = body["meta"]["page"].get("next_number")
        if number is None or not body["data"]:
            return


# what the floors bound: the project and run listings and the sweep hierarchy (no facets or
# artifacts: facets_bench.py measures those)
CORE_ONLY = {"SOURCES__MODEL_LAB__FACETS": "false", "SOURCES__MODEL_LAB__ARTIFACTS": "false"}


def run_sync(
    base_url: str,
    warehouse: Path,
    sync_args: Sequence[str] = ("--source", "model_lab"),
    extra_env: Mapping[str, str] | None = None,
) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `labsync sync [sync_args]` in a child process."""
    env = {
        **os.environ,
        **(extra_env or {}),
        "SOURCES__DATADOG__BASE_URL": base_url,
        "SOURCES__DATADOG__API_KEY": HEADERS["DD-API-KEY"],
        "SOURCES__DATADOG__APP_KEY": HEADERS["DD-APPLICATION-KEY"],
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines",
            "--log-level",
            "WARNING",
            "sync",
            "--warehouse",
            str(warehouse),
            *sync_args,
        ],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all children so far: the sync is the largest
    return seconds, max(peak, before) / 1024


def change_runs(base_url: str, fraction: float, seed: int) -> int:
    run_ids = requests.get(f"{base_url}/_emulator/model-lab/run-ids", timeout=60).json()
    chosen = random.Random(seed).sample(run_ids, max(1, int(len(run_ids) * fraction)))
    session = requests.Session()
    for run_id in chosen:
        session.patch(
            f"{base_url}/_emulator/model-lab/runs/{run_id}", json={"description": "bench edit"}
        ).raise_for_status()
    return len(chosen)


def api_requests(base_url: str) -> int:
    log = requests.get(f"{base_url}/_emulator/requests", timeout=60).json()
    return sum(1 for r in log if r["path"].startswith("/api/"))


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, runs=100_000, projects=20, seed=True)
    args = parse_bench_args(parser, argv)

    build_started = time.perf_counter()
    emulator, base_url = start_emulator(args.runs, args.projects, args.seed)
    logger.info("emulator up with %d runs in %.1fs", args.runs, time.perf_counter() - build_started)
    try:
        floor_s, floor_rows, floor_calls, parents = fetch_floor(base_url)
        logger.info(
            "fetch floor: %.1fs for %d rows in %d requests", floor_s, floor_rows, floor_calls
        )
        walks_s, walk_calls = hierarchy_floor(base_url, parents)
        logger.info("hierarchy floor: %.1fs in %d requests", walks_s, walk_calls)
        with tempfile.TemporaryDirectory() as tmp:
            warehouse = Path(tmp) / "bench.duckdb"
            requests.delete(f"{base_url}/_emulator/requests", timeout=10)
            full_s, peak_mib = run_sync(base_url, warehouse, extra_env=CORE_ONLY)
            full_requests = api_requests(base_url)
            logger.info("full sync: %.1fs, %d requests", full_s, full_requests)
            changed = change_runs(base_url, 0.01, args.seed)
            requests.delete(f"{base_url}/_emulator/requests", timeout=10)
            incr_s, _ = run_sync(base_url, warehouse, extra_env=CORE_ONLY)
            incr_requests = api_requests(base_url)
            size_mib = warehouse.stat().st_size / 2**20
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)

    figures = {
        "runs": args.runs,
        "fetch_floor_s": round(floor_s, 2),
        "fetch_floor_requests": floor_calls,
        "full_sync_s": round(full_s, 2),
        "full_sync_runs_per_s": round(args.runs / full_s),
        "full_sync_requests": full_requests,
        "full_vs_floor": round(full_s / floor_s, 2),
        # every page the sync requests: the lists plus each sweep parent's children listing
        "hierarchy_floor_s": round(walks_s, 2),
        "hierarchy_floor_requests": walk_calls,
        "full_vs_all_pages_floor": round(full_s / (floor_s + walks_s), 2),
        "peak_rss_mib": round(peak_mib),
        "warehouse_mib": round(size_mib, 1),
        "incremental_changed_runs": changed,
        "incremental_s": round(incr_s, 2),
        "incremental_requests": incr_requests,
    }
    figures["goals"] = [
        goal(f"full sync / list-fetch floor at {args.runs:,} runs", full_s / floor_s, 1.5),
        goal(
            f"incremental requests after {changed:,} changed",
            incr_requests,
            2 * math.ceil(changed / 100) + 10,
        ),
    ]
    write_figures(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
