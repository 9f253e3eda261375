"""`labsync status`: is the warehouse healthy, and if not, why (one line per problem)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from . import history, recovery
from .warehouse import lock_holder, state_dir


@dataclass
class Health:
    warehouse: Path
    resources: list[history.ResourceStatus]
    running: str | None = None  # the sync holding the lock right now
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def check(warehouse: Path, max_age: timedelta) -> Health:
    """Every reason not to trust the published file: stale or failed resources, a failed
    audit or publish, a killed sync and what it left pending, loads not yet published."""
    records = history.read(warehouse)
    report = Health(warehouse, history.status(records, max_age))
    if not records:
        report.problems.append(f"no sync recorded for {warehouse}")
    report.problems += [r.problem for r in report.resources if r.problem]
    holder = lock_holder(warehouse)
    if holder and holder.alive:
        report.running = holder.description
        return report  # its packages and its unpublished loads are work in progress
    if holder:
        report.problems.append(f"a sync was killed before it finished: {holder.description}")
    for pipeline_dir in sorted(state_dir(warehouse).glob("labsync_*")):
        for work in recovery.pending_work(pipeline_dir):
            source = pipeline_dir.name.removeprefix("labsync_")
            report.problems.append(f"{source}: {work} (the next sync finishes or discards it)")
    unpublished = _last_load_not_published(warehouse, records)
    if unpublished:
        report.problems.append(unpublished)
    return report


def _last_load_not_published(warehouse: Path, records: list[history.SyncRunRecord]) -> str | None:
    if not any(r.source == history.LABSYNC_SOURCE for r in records):
        return None  # a lake (its loads are its publishing) or history from before publishes
    loads = [
        r.finished_at
        for r in records
        if r.status == "succeeded" and r.rows_loaded and r.source != history.LABSYNC_SOURCE
    ]
    if not loads:
        return None
    last_load = datetime.fromisoformat(max(loads))
    published = _published_at(warehouse, records)
    if published is None:
        return f"rows were loaded at {last_load.isoformat()} but {warehouse} was never published"
    if published < last_load - timedelta(seconds=1):
        return (
            f"{warehouse.name} (published {published.isoformat(timespec='seconds')}) is older "
            f"than the last load ({last_load.isoformat(timespec='seconds')}): not yet published"
        )
    return None


def _published_at(warehouse: Path, records: list[history.SyncRunRecord]) -> datetime | None:
    """When the published file was written; for Postgres (whose views live on the server
    and whose local anchor is only history) when the last publish succeeded."""
    if warehouse.exists():
        return datetime.fromtimestamp(os.stat(warehouse).st_mtime, UTC)
    publishes = [
        r.finished_at
        for r in records
        if r.source == history.LABSYNC_SOURCE
        and r.resource == "publish"
        and r.status == "succeeded"
    ]
    return datetime.fromisoformat(max(publishes)) if publishes else None
