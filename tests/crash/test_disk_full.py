"""A full disk during load, model build or publish: the published file stays as it was.

The sync runs under a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored), so its writes past the
limit fail with EFBIG as they would with ENOSPC on a full disk.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator import Emulator
from tests.crash import harness


def limited_sync(warehouse: Path, env: dict[str, str], limit: int) -> subprocess.CompletedProcess:
    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "pipelines", "sync", "--warehouse", str(warehouse)],
        cwd=harness.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=limit_file_size,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, Path, dict]]:
    with harness.emulator(seed=29).start() as emulator:
        env = harness.sync_env(emulator)
        base = harness.synced(tmp_path_factory.mktemp("base") / "w" / "labsync.duckdb", env)
        clean = tmp_path_factory.mktemp("clean") / "w" / "x"
        clean = harness.synced_after_changes(emulator, env, base, clean)
        yield emulator, base, {"env": env, "reference": harness.fingerprints(clean)}


@pytest.mark.parametrize(
    ("limit", "where"),
    [
        # loads into the working copy fail, then building the views
        (200_000, "working.duckdb"),
        # the working copy has room; the new published copy does not
        (None, ".labsync.duckdb.publishing"),
    ],
    ids=["load", "publish"],
)
def test_full_disk_keeps_the_published_file_and_the_next_sync_converges(
    world: tuple[Emulator, Path, dict], tmp_path: Path, limit: int | None, where: str
) -> None:
    _, base, given = world
    warehouse = harness.copy_warehouse(base, tmp_path / "w" / "x")
    before = harness.fingerprints(warehouse)
    size = warehouse.stat().st_size

    full = limited_sync(warehouse, given["env"], limit or size // 2)
    assert full.returncode == 1, full.stdout + full.stderr
    error = [line for line in full.stderr.splitlines() if "cannot write" in line]
    assert error and where in error[0] and "published file is unchanged" in error[0]
    assert "Traceback" not in full.stderr  # one line per failure, no trace without DEBUG
    assert harness.fingerprints(warehouse) == before  # whole, and the previous state

    again = harness.sync(warehouse, given["env"])
    assert again.returncode == 0, again.stderr
    assert harness.differences(harness.fingerprints(warehouse), given["reference"]) == []
