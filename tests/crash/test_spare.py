"""kill -9 while a sync brings the spare up to date, the state a kill between its last two
steps leaves, and a reader holding the spare: the published file stays whole, one re-run
converges, and no file a reader may hold is ever written.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from pipelines import health
from pipelines.warehouse import publishing_path, spare_path
from tests.crash import harness
from tests.crash.harness import KillPoint

Fingerprints = dict[str, tuple[int, str]]


@dataclass
class World:
    env: dict[str, str]
    base: Path  # synced, then synced again with nothing changed: it has a spare
    reference: Fingerprints


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with harness.emulator(seed=29).start() as emulator:
        env = harness.sync_env(emulator)
        base = harness.synced(tmp_path_factory.mktemp("base") / "w" / "labsync.duckdb", env)
        harness.synced(base, env)
        assert spare_path(base).exists()
        yield World(env, base, harness.fingerprints(base))


def converges(world: World, warehouse: Path) -> None:
    rerun = harness.sync(warehouse, world.env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Traceback" not in rerun.stderr
    assert harness.differences(harness.fingerprints(warehouse), world.reference) == []
    assert health.check(warehouse, timedelta(hours=1)).healthy
    spare = spare_path(warehouse)
    assert spare.exists() and not os.path.samefile(spare, warehouse)


def file_digest(fd: int) -> str:
    """Hash of the file behind `fd` (read through it: the file it was opened on)."""
    digest = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, 1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.parametrize("delay_s", [0.0, 0.05])
def test_kill_while_the_spare_is_brought_up_to_date(
    world: World, delay_s: float, tmp_path: Path
) -> None:
    warehouse = harness.copy_warehouse(world.base, tmp_path / "w" / "x")
    point = KillPoint(f"publishing +{delay_s}", harness.publishing, delay_s)
    assert harness.kill_sync_at(point, warehouse, world.env), "finished before publishing"
    assert harness.fingerprints(warehouse) == world.reference  # whole, as it was
    report = health.check(warehouse, timedelta(hours=1))
    assert any("killed" in problem for problem in report.problems), report.problems
    converges(world, warehouse)


def test_kill_between_keeping_the_spare_and_the_rename(world: World, tmp_path: Path) -> None:
    """The spare is then a second name of the published file: it must not be written."""
    warehouse = harness.copy_warehouse(world.base, tmp_path / "w" / "x")
    spare = spare_path(warehouse)
    os.replace(spare, publishing_path(warehouse))  # taken and brought up to date ...
    os.link(warehouse, spare)  # ... the published file linked as the next spare: killed
    fd = os.open(warehouse, os.O_RDONLY)  # what a reader of the published file has
    try:
        before = file_digest(fd)
        converges(world, warehouse)
        assert file_digest(fd) == before
    finally:
        os.close(fd)


READER = """
import duckdb, sys
con = duckdb.connect(sys.argv[1], read_only=True)
query = "select count(*), max(finished_at)::varchar from raw_labsync.sync_runs"
print(con.execute(query).fetchone(), flush=True)
sys.stdin.readline()
print(con.execute(query).fetchone(), flush=True)
"""


def test_a_reader_holding_the_spare_keeps_its_file(world: World, tmp_path: Path) -> None:
    warehouse = harness.copy_warehouse(world.base, tmp_path / "w" / "x")
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(warehouse)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdin and reader.stdout
    try:
        seen = reader.stdout.readline()
        fd = os.open(warehouse, os.O_RDONLY)
        try:
            before = file_digest(fd)
            harness.synced(warehouse, world.env)  # the reader's file becomes the spare
            harness.synced(warehouse, world.env)  # locked by the reader: copied instead
            assert file_digest(fd) == before
        finally:
            os.close(fd)
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline() == seen
    finally:
        reader.kill()
        reader.wait()
    converges(world, warehouse)
