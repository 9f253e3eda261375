"""Benchmark: where a full Model Lab sync's memory peaks — RSS over time with phase markers.

Starts an emulator at `--runs`, runs one full sync (Model Lab only, facets and artifacts off)
in a child process at `--log-level INFO`, samples the child's RSS from `/proc/<pid>/status`
every `--interval` seconds, and prints each phase the sync logged with the RSS at its start
and the highest RSS seen while it lasted; then the peak (`os.wait4`) and where it sat.

Usage: python -m bench.memory_bench [--runs 300000] [--projects 20] [--interval 0.2]
       [--sync-args "..."] [--json FILE]
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from bench import bench_parser, parse_bench_args
from bench.scale_bench import sync_command
from bench.sync_bench import ROOT, start_emulator

logger = logging.getLogger("labsync.bench")

_PHASE = re.compile(r"phase (\w+)")


@dataclass
class Phase:
    name: str
    started_s: float
    rss_at_start_mib: float
    peak_mib: float = 0.0
    cpu_at_start_s: float = 0.0  # the child's CPU seconds when the phase began
    cpu_s: float = 0.0  # CPU seconds it took (to the next phase's start or the end)


@dataclass
class Profile:
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mib: float = 0.0
    phases: list[Phase] = field(default_factory=list)
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MiB)
    returncode: int = 0  # the sync's exit status (figures are kept when it failed)


def rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of `pid` so far (its threads included)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile_sync(base_url: str, warehouse: Path, sync_args: list[str], interval: float) -> Profile:
    command, env = sync_command(base_url, warehouse, sync_args, "INFO")
    profile = Profile()
    started = time.perf_counter()
    child = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lock = threading.Lock()
    current: list[float] = [0.0, 0.0]  # RSS (MiB), CPU seconds at the last sample

    def read_phases(stream: IO[str]) -> None:
        for line in stream:
            found = _PHASE.search(line)
            if found:
                with lock:
                    profile.phases.append(
                        Phase(
                            found.group(1),
                            time.perf_counter() - started,
                            rss_at_start_mib=current[0],
                            cpu_at_start_s=current[1],
                        )
                    )
            elif "Traceback" in line or "error" in line.lower():
                logger.info("sync: %s", line.rstrip())

    assert child.stderr is not None
    reader = threading.Thread(target=read_phases, args=(child.stderr,), daemon=True)
    reader.start()
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)  # not poll(): it would reap
        if pid:
            break
        mib, cpu = rss_mib(child.pid), cpu_seconds(child.pid)
        if mib is not None:
            with lock:
                current[0], current[1] = mib, cpu if cpu is not None else current[1]
                profile.samples.append((round(time.perf_counter() - started, 2), round(mib, 1)))
                if profile.phases:
                    profile.phases[-1].peak_mib = max(profile.phases[-1].peak_mib, mib)
        time.sleep(interval)
    child.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=10)
    profile.returncode = child.returncode
    profile.wall_s = round(time.perf_counter() - started, 2)
    profile.cpu_s = round(usage.ru_utime + usage.ru_stime, 2)
    profile.peak_rss_mib = round(usage.ru_maxrss / 1024)
    ends = [p.cpu_at_start_s for p in profile.phases[1:]] + [profile.cpu_s]
    for phase, end in zip(profile.phases, ends, strict=True):
        phase.cpu_s = round(end - phase.cpu_at_start_s, 1)
    return profile


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, runs=300_000, projects=20, seed=True)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between samples")
    parser.add_argument("--sync-args", default="", help="extra `labsync sync` arguments")
    parser.add_argument("--base-url", help="an emulator already running (skips starting one)")
    args = parse_bench_args(parser, argv)
    emulator = None
    base_url = args.base_url
    if not base_url:
        emulator, base_url = start_emulator(args.runs, args.projects, args.seed)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            profile = profile_sync(
                base_url, Path(tmp) / "bench.duckdb", shlex.split(args.sync_args), args.interval
            )
    finally:
        if emulator:
            emulator.terminate()
            emulator.wait(timeout=60)
    if profile.returncode != 0:
        logger.error("the sync exited with %d", profile.returncode)
    for phase in profile.phases:
        logger.info(
            "%7.1fs  %-10s start %6.0f MiB  peak %6.0f MiB  %6.1f CPU-s",
            phase.started_s,
            phase.name,
            phase.rss_at_start_mib,
            phase.peak_mib,
            phase.cpu_s,
        )
    logger.info(
        "peak RSS %d MiB, %.1f s wall, %.1f CPU-s",
        profile.peak_rss_mib,
        profile.wall_s,
        profile.cpu_s,
    )
    if args.json:
        args.json.write_text(json.dumps(asdict(profile), indent=2) + "\n")
    return 1 if profile.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
