"""The long kill matrix: kill -9 a sync of all three sources at 30+ points, re-run, compare.

Facets and artifact listings are on (the defaults). Each point kills a full sync and an
incremental sync (updates, inserts and deletes in every vendor) once; a point converges when
one re-run exits 0 and every `analytics` view equals that of a sync never interrupted.
Prints one line per point and `converged N/M`; exits 1 unless all converged.

    python -m bench.chaos [--runs 600]
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

from bench import bench_parser, parse_bench_args
from emulator import Emulator
from tests.crash import harness
from tests.crash.harness import KillPoint

logger = logging.getLogger("bench.chaos")

SOURCES = ("model_lab", "llm_obs", "posthog")


def kill_points(emulator: Emulator) -> list[KillPoint]:
    served = len(emulator.requests)
    points = [
        KillPoint(f"after {n} requests", harness.requests_served(emulator, served + n))
        for n in (5, 40, 150)
    ]
    for source in SOURCES:
        points += [
            KillPoint(f"{source} extracting", harness.extract_started(source)),
            KillPoint(f"{source} extracted", harness.package_in(source, "normalize/extracted")),
        ]
        for delay in (0.0, 0.02, 0.1, 0.3):
            points.append(
                KillPoint(
                    f"{source} normalized +{delay * 1000:.0f}ms",
                    harness.package_in(source, "load/normalized"),
                    delay,
                )
            )
        points += [
            KillPoint(f"{source} {share:.0%} load jobs", harness.load_jobs_done(source, share))
            for share in (0.25, 0.75)
        ]
        points.append(KillPoint(f"{source} loaded", harness.package_in(source, "load/loaded")))
    points += [
        KillPoint(f"publishing +{delay * 1000:.0f}ms", harness.publishing, delay)
        for delay in (0.0, 0.01, 0.05)
    ]
    return points


def run_matrix(
    emulator: Emulator, env: dict[str, str], base: Path | None, reference: dict, root: Path
) -> tuple[int, int]:
    converged = tried = 0
    for index, point in enumerate(kill_points(emulator)):
        target = root / f"case-{index}" / "w" / "labsync.duckdb"
        if base is not None:
            target = harness.copy_warehouse(base, target)
        if not harness.kill_sync_at(point, target, env):
            logger.info("%-32s finished before the kill point (not counted)", point.name)
            continue
        tried += 1
        rerun = harness.sync(target, env)
        diff = harness.differences(harness.fingerprints(target), reference)
        ok = rerun.returncode == 0 and not diff
        converged += ok
        outcome = "converged" if ok else f"DIVERGED (exit {rerun.returncode}) {diff[:3]}"
        logger.info("%-32s %s", point.name, outcome)
    return converged, tried


def main() -> int:
    args = parse_bench_args(bench_parser(__doc__, runs=600, projects=3), None)
    started = time.monotonic()
    totals = [0, 0]
    with (
        tempfile.TemporaryDirectory() as tmp,
        harness.emulator(seed=31, projects=args.projects, runs=args.runs) as emulator,
    ):
        emulator.start()
        root = Path(tmp)
        env = harness.sync_env(emulator)
        clean = harness.synced(root / "clean-full" / "w" / "labsync.duckdb", env)
        logger.info("full sync kills (%d runs):", args.runs)
        result = run_matrix(emulator, env, None, harness.fingerprints(clean), root / "full")
        totals = [totals[0] + result[0], totals[1] + result[1]]
        after = root / "clean-incremental" / "w" / "x"
        after = harness.synced_after_changes(emulator, env, clean, after)
        logger.info("incremental sync kills:")
        result = run_matrix(emulator, env, clean, harness.fingerprints(after), root / "incr")
        totals = [totals[0] + result[0], totals[1] + result[1]]
    logger.info(
        "converged %d/%d kill points in %.0f s", totals[0], totals[1], time.monotonic() - started
    )
    return 0 if totals[0] == totals[1] else 1


if __name__ == "__main__":
    sys.exit(main())
