"""Kill a real `labsync sync` when something happens on disk, then check the re-run converges.

A kill point is an event (a load package appearing in one of dlt's folders, load jobs done,
the publishing file appearing, requests served) plus an optional delay after it. The sync
runs in its own process group, as cron starts it, and the whole group gets SIGKILL. The
tests in this folder and `bench/chaos.py` (the long matrix) share this module.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from emulator import Emulator
from pipelines.warehouse import publishing_path, state_dir

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "crash-api-key-4a1d"
APP_KEY = "crash-app-key-9c3e"
POSTHOG_KEY = "phx_crash_key"
# views that record the sync itself, and columns stamped with when a row was read or found
# gone: they differ between any two syncs, crashed or not
VOLATILE_VIEWS = {"sync_runs"}
VOLATILE_COLUMNS = {"synced_at", "vanished_detected_at", "downloaded_at"}

Event = Callable[[Path], bool]  # is it there yet, given the warehouse path


@dataclass(frozen=True)
class KillPoint:
    name: str
    event: Event
    delay_s: float = 0.0


def _packages(warehouse: Path, source: str, folder: str) -> list[Path]:
    path = state_dir(warehouse) / f"labsync_{source}" / folder
    try:
        return [p for p in path.iterdir() if p.is_dir()]
    except FileNotFoundError:
        return []


def package_in(source: str, folder: str) -> Event:
    """A package of `source` is in `folder` (e.g. `load/normalized`)."""
    return lambda warehouse: bool(_packages(warehouse, source, folder))


def extract_started(source: str) -> Event:
    """`source` is extracting: dlt writes into a folder of its own beside `extracted`."""
    return lambda warehouse: any(
        p.name != "extracted" for p in _packages(warehouse, source, "normalize")
    )


def load_jobs_done(source: str, fraction: float) -> Event:
    """At least `fraction` of the load jobs of `source`'s package being loaded are done."""

    def event(warehouse: Path) -> bool:
        for package in _packages(warehouse, source, "load/normalized"):
            try:
                counts = {
                    state: len(os.listdir(package / state))
                    for state in ("new_jobs", "started_jobs", "completed_jobs")
                }
            except FileNotFoundError:
                continue
            total = sum(counts.values())
            if total and counts["completed_jobs"] >= max(1, fraction * total):
                return True
        return False

    return event


def publishing(warehouse: Path) -> bool:
    return publishing_path(warehouse).exists()


def requests_served(emulator: Emulator, count: int) -> Event:
    return lambda _warehouse: len(emulator.requests) >= count


def emulator(seed: int, projects: int = 2, runs: int = 150) -> Emulator:
    """An emulator (not started yet) that takes the keys `sync_env` sends."""
    return Emulator(seed=seed, projects=projects, runs=runs, api_key=API_KEY, app_key=APP_KEY)


def sync_env(emulator: Emulator, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOURCES__", "DD_", "POSTHOG_", "LABSYNC_", "DESTINATION__"))
    }
    return {
        **clean,
        "SOURCES__DATADOG__BASE_URL": emulator.base_url,
        "SOURCES__DATADOG__API_KEY": API_KEY,
        "SOURCES__DATADOG__APP_KEY": APP_KEY,
        "SOURCES__POSTHOG__BASE_URL": emulator.base_url,
        "SOURCES__POSTHOG__PROJECT_ID": str(emulator.posthog.project_id),
        "SOURCES__POSTHOG__API_KEY": POSTHOG_KEY,
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        **(extra or {}),
    }


def sync(
    warehouse: Path, env: Mapping[str, str], args: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", "sync", "--warehouse", str(warehouse), *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=600,
    )


def synced(warehouse: Path, env: Mapping[str, str]) -> Path:
    """`warehouse` after a sync that has to succeed (a reference or a starting point)."""
    done = sync(warehouse, env)
    assert done.returncode == 0, done.stdout + done.stderr
    return warehouse


def synced_after_changes(
    emulator: Emulator, env: Mapping[str, str], base: Path, target: Path
) -> Path:
    """Change every source, then sync a copy of `base` at `target`: what an incremental sync
    from `base` has to end as."""
    change_every_source(emulator)
    return synced(copy_warehouse(base, target), env)


def kill_sync_at(
    point: KillPoint, warehouse: Path, env: Mapping[str, str], args: Sequence[str] = ()
) -> bool:
    """Start a sync and SIGKILL its process group at `point`; False if it finished first."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "sync", "--warehouse", str(warehouse), *args],
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, as cron's
    )
    try:
        while not point.event(warehouse):
            if process.poll() is not None:
                return False
            time.sleep(0.001)
        if point.delay_s:
            time.sleep(point.delay_s)
        if process.poll() is not None:
            return False
        os.killpg(process.pid, signal.SIGKILL)
        return True
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def copy_warehouse(source: Path, target: Path) -> Path:
    """Copy a warehouse folder (published file and its `.labsync` state) to a new place."""
    shutil.copytree(source.parent, target.parent)
    return target.parent / source.name


def fingerprints(database: Path) -> dict[str, tuple[int, str]]:
    """Per `analytics` view: row count and a hash of its sorted rows, doubles rounded.

    Leaves out what differs between any two syncs (`VOLATILE_VIEWS`, `VOLATILE_COLUMNS`).
    """
    result = {}
    with duckdb.connect(str(database), read_only=True) as con:
        views = con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'analytics' order by 1"
        ).fetchall()
        for (view,) in views:
            if view in VOLATILE_VIEWS:
                continue
            columns = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'analytics' and table_name = ? order by ordinal_position",
                [view],
            ).fetchall()
            kept = [
                f'round("{name}", 9)' if kind == "DOUBLE" else f'"{name}"'
                for name, kind in columns
                if name not in VOLATILE_COLUMNS
            ]
            rows = con.execute(f'select {", ".join(kept)} from analytics."{view}"').fetchall()
            digest = hashlib.sha256(
                "\n".join(sorted(repr(row) for row in rows)).encode()
            ).hexdigest()
            result[view] = (len(rows), digest)
    return result


def differences(
    actual: dict[str, tuple[int, str]], expected: dict[str, tuple[int, str]]
) -> list[str]:
    """Views whose content differs, with row counts (empty when all are equal)."""
    return [
        f"{view}: {actual.get(view, (None,))[0]} rows, expected {expected[view][0]}"
        for view in sorted(expected)
        if actual.get(view) != expected[view]
    ] + [f"{view}: unexpected view" for view in sorted(set(actual) - set(expected))]


def change_every_source(emulator: Emulator) -> None:
    """Updates, inserts and deletes in all three vendors, for the incremental kill points."""
    lab = emulator.model_lab
    run_ids = lab.run_ids()
    for run_id in run_ids[:25]:
        lab.update_run(run_id, name=f"changed-{run_id}")
    for _ in range(5):
        lab.insert_run(lab.project_ids()[0])
    for run_id in run_ids[-3:]:
        lab.soft_delete_run(run_id)
    posthog = emulator.posthog
    for item_id in posthog.item_ids()[:5]:
        posthog.update_item(item_id, metadata={"changed": True})
    posthog.soft_delete_item(posthog.item_ids()[-1])
    llm = emulator.llm_obs
    dataset_id = llm.dataset_ids()[0]
    llm.update_dataset(dataset_id, description="changed")
