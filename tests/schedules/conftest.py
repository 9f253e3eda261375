"""Shared by the schedules/ tests: where the files are, and running run_sync.sh for real."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from emulator import Emulator
from emulator.server import RequestRecord
from tests.conftest import API_KEY, APP_KEY

ROOT = Path(__file__).resolve().parents[2]
SCHEDULES = ROOT / "schedules"
RUN_SYNC = SCHEDULES / "run_sync.sh"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """Smaller than the suite's: these tests start whole `labsync sync` processes."""
    with Emulator(seed=11, projects=2, runs=30, api_key=API_KEY, app_key=APP_KEY) as emu:
        emu.start()
        yield emu


@dataclass
class ScriptPaths:
    """Where one test's run_sync.sh keeps its warehouse, lock and log."""

    warehouse: Path
    lock: Path
    log: Path

    def env(self, **overrides: str) -> dict[str, str]:
        """The environment run_sync.sh gets: the test's (credentials included) plus its paths."""
        return {
            **os.environ,
            # the interpreter running the tests, split on the space by run_sync.sh
            "LABSYNC_BIN": f"{sys.executable} -m pipelines",
            "LABSYNC_WAREHOUSE": str(self.warehouse),
            "LABSYNC_LOCK": str(self.lock),
            "LABSYNC_LOG": str(self.log),
            **overrides,
        }


@pytest.fixture
def paths(tmp_path: Path) -> ScriptPaths:
    return ScriptPaths(
        warehouse=tmp_path / "warehouse" / "labsync.duckdb",
        lock=tmp_path / "locks" / "run_sync.lock",
        log=tmp_path / "logs" / "sync.log",
    )


def run_sync(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RUN_SYNC), *args],
        env=env,
        cwd=cwd or Path("/"),  # the script must find the repository root by itself
        capture_output=True,
        text=True,
        timeout=300,
    )


def start_run_sync(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(RUN_SYNC), *args],
        env=env,
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class RequestGate:
    """Holds the first API request in the emulator until released: the sync making it stays
    inside its lock for as long as a test needs, with no sleeps and no timing assumptions."""

    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def on_request(self, record: RequestRecord) -> None:
        if not self.arrived.is_set():
            self.arrived.set()
            self.released.wait(timeout=120)

    def wait_for_first_request(self) -> None:
        assert self.arrived.wait(timeout=120), "the sync never reached the emulator"


@pytest.fixture
def gate(datadog_env: Emulator) -> Iterator[RequestGate]:
    held = RequestGate()
    datadog_env.on_request(held.on_request)
    try:
        yield held
    finally:
        held.released.set()
        datadog_env.on_request(None)
