"""kill -9 at chosen moments of a full and an incremental sync of all three sources.

After each kill the published file is whole (the previous state or the new one, never a
mix), `labsync status` is unhealthy, and one re-run exits 0 with every `analytics` view equal
to a sync that was never interrupted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from emulator import Emulator
from pipelines import health
from tests.crash import harness
from tests.crash.harness import KillPoint

Fingerprints = dict[str, tuple[int, str]]


@dataclass
class World:
    """An emulator, the environment pointing at it, and the views a clean sync gives."""

    emulator: Emulator
    env: dict[str, str]
    reference: Fingerprints
    base: Path | None = None  # incremental: a warehouse synced before the changes
    before: Fingerprints = field(default_factory=dict)  # ... and its views


@pytest.fixture(scope="module")
def full_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with harness.emulator(seed=23).start() as emulator:
        env = harness.sync_env(emulator)
        clean = harness.synced(tmp_path_factory.mktemp("clean") / "w" / "labsync.duckdb", env)
        yield World(emulator, env, harness.fingerprints(clean))


@pytest.fixture(scope="module")
def incremental_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with harness.emulator(seed=23).start() as emulator:
        env = harness.sync_env(emulator)
        base = harness.synced(tmp_path_factory.mktemp("base") / "w" / "labsync.duckdb", env)
        clean = tmp_path_factory.mktemp("clean") / "w" / "x"
        reference = harness.fingerprints(harness.synced_after_changes(emulator, env, base, clean))
        before = harness.fingerprints(base)
        assert reference != before  # the changes reach the views
        yield World(emulator, env, reference, base, before)


PointFactory = Callable[[Emulator], KillPoint]

FULL_SYNC_POINTS: dict[str, PointFactory] = {
    "mid-extract": lambda emu: KillPoint(
        "mid-extract", harness.requests_served(emu, len(emu.requests) + 15)
    ),
    "model_lab extracted": lambda _: KillPoint(
        "model_lab extracted", harness.package_in("model_lab", "normalize/extracted")
    ),
    "model_lab normalized +0": lambda _: KillPoint(
        "model_lab normalized +0", harness.package_in("model_lab", "load/normalized")
    ),
    "model_lab half the load jobs": lambda _: KillPoint(
        "model_lab half the load jobs", harness.load_jobs_done("model_lab", 0.5)
    ),
    "model_lab loaded": lambda _: KillPoint(
        "model_lab loaded", harness.package_in("model_lab", "load/loaded")
    ),
    "posthog normalized +0": lambda _: KillPoint(
        "posthog normalized +0", harness.package_in("posthog", "load/normalized")
    ),
    "publishing": lambda _: KillPoint("publishing", harness.publishing),
}

INCREMENTAL_POINTS: dict[str, PointFactory] = {
    "model_lab extracted": FULL_SYNC_POINTS["model_lab extracted"],
    "model_lab normalized +0": FULL_SYNC_POINTS["model_lab normalized +0"],
    "model_lab normalized +50ms": lambda _: KillPoint(
        "model_lab normalized +50ms", harness.package_in("model_lab", "load/normalized"), 0.05
    ),
    "llm_obs normalized +0": lambda _: KillPoint(
        "llm_obs normalized +0", harness.package_in("llm_obs", "load/normalized")
    ),
    "publishing": FULL_SYNC_POINTS["publishing"],
}


def assert_recovers(world: World, point: KillPoint, warehouse: Path) -> None:
    assert harness.kill_sync_at(point, warehouse, world.env), f"finished before {point.name}"
    if warehouse.exists():  # whole, and one of the two states
        assert harness.fingerprints(warehouse) in (world.before, world.reference)
    report = health.check(warehouse, timedelta(hours=1))
    assert not report.healthy
    assert any("killed" in problem for problem in report.problems), report.problems

    rerun = harness.sync(warehouse, world.env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Traceback" not in rerun.stderr
    assert harness.differences(harness.fingerprints(warehouse), world.reference) == []
    assert health.check(warehouse, timedelta(hours=1)).healthy


@pytest.mark.parametrize("name", FULL_SYNC_POINTS)
def test_full_sync_killed_converges(full_world: World, name: str, tmp_path: Path) -> None:
    point = FULL_SYNC_POINTS[name](full_world.emulator)
    assert_recovers(full_world, point, tmp_path / "w" / "labsync.duckdb")


@pytest.mark.parametrize("name", INCREMENTAL_POINTS)
def test_incremental_sync_killed_converges(
    incremental_world: World, name: str, tmp_path: Path
) -> None:
    assert incremental_world.base is not None
    warehouse = harness.copy_warehouse(incremental_world.base, tmp_path / "w" / "x")
    point = INCREMENTAL_POINTS[name](incremental_world.emulator)
    assert_recovers(incremental_world, point, warehouse)
