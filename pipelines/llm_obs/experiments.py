"""Which experiments a sync loads, which vanished, and whose events it reads.

The experiments list is newest-created first with no sort and no `updated_after` filter: a
sync lists each project only down to the newest experiment it already has (new runs cost one
page), re-reads running ones by id, lists the soft-deleted ones completely, and every
`experiments_rescan_s` lists everything to catch edits to older runs and runs that vanished.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..common.arrow import parse_timestamp
from ..common.concurrency import ordered_map
from ..common.errors import SchemaDriftError
from ..common.stats import SyncStats
from .client import LlmObsClient, Resource
from .helpers import attributes, fingerprint, resource_id
from .settings import FILTER_ID_BATCH, TERMINAL_STATUSES


def _status_is_final(status: Any) -> bool:
    # an experiment without a status cannot be told running: its events are re-read when its
    # `updated_at` moves instead of every sync
    return status is None or status in TERMINAL_STATUSES


def events_marker(attrs: dict[str, Any]) -> str:
    return f"{attrs.get('status')}|{attrs.get('updated_at')}"


class ExperimentScan:
    """One sync's look at the experiments: what to load, what vanished, whose events to read.

    State: `created_cursor` (newest `created_at` seen), `full_scan_at`, `seen` and `deleted`
    (id -> [fingerprint, project id] of experiments in the default and the soft-deleted
    listing), `running` (id -> project id of those not finished), `vanished` (ids flagged
    gone) and, kept by the events reader, `events` (id -> status|updated_at when read).
    """

    def __init__(
        self,
        state: dict[str, Any],
        api: LlmObsClient,
        counters: SyncStats,
        full_refresh: bool,
        reconcile: bool,
    ) -> None:
        self.state = state
        self.api = api
        self.progress = counters["experiments"]
        self.full_refresh = full_refresh
        self.reconcile = reconcile
        self._changed: dict[str, Resource] = {}
        self.vanished: set[str] = set()
        self.reappeared: set[str] = set()
        self.alive: dict[str, Resource] = {}  # experiments seen in the default listing
        self.deleted: dict[str, Resource] = {}  # soft-deleted ones seen this sync
        self._flagged: set[str] = set(state.get("vanished") or [])
        self._project_ids: list[str] = []

    def _full_scan_due(self, rescan_s: float, now: datetime) -> bool:
        last = self.state.get("full_scan_at")
        if self.full_refresh or self.reconcile or last is None:
            return True
        return now - parse_timestamp(last) >= timedelta(seconds=rescan_s)

    def _consider(
        self,
        row: Resource,
        project_id: str,
        before: dict[str, list[str]],
        after: dict[str, list[str]],
    ) -> str:
        """Record a listed experiment in `after`; load it when `before` had another version."""
        experiment_id = resource_id(row, "experiments")
        new = fingerprint(attributes(row, "experiments"))
        old = before.get(experiment_id)
        if self.full_refresh or old is None or old[0] != new or experiment_id in self._flagged:
            self._changed[experiment_id] = row  # a later answer (e.g. deleted) wins
        after[experiment_id] = [new, project_id]
        return experiment_id

    @property
    def changed(self) -> list[Resource]:
        return list(self._changed.values())

    def run(
        self,
        project_ids: list[str],
        lookback_s: float,
        rescan_s: float,
        workers: int,
        now: datetime,
    ) -> None:
        self._project_ids = project_ids
        full = self._full_scan_due(rescan_s, now)
        old_seen: dict[str, list[str]] = dict(self.state.get("seen") or {})
        old_deleted: dict[str, list[str]] = dict(self.state.get("deleted") or {})
        running: dict[str, str] = dict(self.state.get("running") or {})
        cursor = self.state.get("created_cursor")
        newest = parse_timestamp(cursor) if cursor else None
        stop_at = None if full or newest is None else newest - timedelta(seconds=lookback_s)

        def list_project(project_id: str) -> list[list[Resource]]:
            pages = []
            for page in self.api.experiment_pages(project_id, self.progress):
                pages.append(page)
                if stop_at is not None and any(_created_at(r) < stop_at for r in page):
                    break  # older rows follow: they are caught by the next full listing
            return pages

        # 1. the default listing, newest-created first: down to the cursor, or all of it
        seen: dict[str, list[str]] = {} if full else dict(old_seen)
        for project_id, pages in ordered_map(list_project, project_ids, workers=workers):
            for row in (r for page in pages for r in page):
                experiment_id = self._consider(row, project_id, old_seen, seen)
                self.alive[experiment_id] = row
                created = _created_at(row)
                newest = created if newest is None or created > newest else newest

        # 2. soft-deleted experiments: a complete listing every sync
        deleted: dict[str, list[str]] = {}
        for project_id in project_ids:
            for page in self.api.experiment_pages(project_id, self.progress, deleted=True):
                for row in page:
                    experiment_id = self._consider(row, project_id, old_deleted, deleted)
                    self.deleted[experiment_id] = row
                    self.alive.pop(experiment_id, None)
                    seen.pop(experiment_id, None)

        # 3. what the listing did not reach and must not miss: running and restored ones
        unresolved = {
            experiment_id: project_id
            for experiment_id, project_id in (
                *running.items(),
                *((k, v[1]) for k, v in old_deleted.items()),
            )
            if experiment_id not in self.alive and experiment_id not in deleted
        }
        # 4. a full listing also shows which experiments vanished altogether
        if full:
            for experiment_id, (_, project_id) in old_seen.items():
                if experiment_id not in self.alive and experiment_id not in deleted:
                    unresolved[experiment_id] = project_id
        found = self._by_id(unresolved, deleted=False)
        for experiment_id, (row, project_id) in found.items():
            self._consider(row, project_id, old_seen, seen)
            self.alive[experiment_id] = row
        still_missing = {k: v for k, v in unresolved.items() if k not in found}
        for experiment_id, (row, project_id) in self._by_id(still_missing, deleted=True).items():
            self._consider(row, project_id, old_deleted, deleted)
            self.deleted[experiment_id] = row
            still_missing.pop(experiment_id)
        # looked up by id within its project and not there: gone (hard delete or project)
        self.vanished = set(still_missing) - self._flagged
        self.reappeared = self._flagged & (set(self.alive) | set(deleted))

        # 5. the state for the next sync
        for experiment_id in set(running) - set(self.alive):
            del running[experiment_id]
        for experiment_id, row in self.alive.items():
            if _status_is_final(attributes(row, "experiments").get("status")):
                running.pop(experiment_id, None)
            else:
                running[experiment_id] = seen[experiment_id][1]
        for experiment_id in still_missing:
            seen.pop(experiment_id, None)
        self.state["seen"] = seen
        self.state["deleted"] = deleted
        self.state["running"] = running
        self.state["vanished"] = sorted((self._flagged - self.reappeared) | self.vanished)
        if full:
            self.state["full_scan_at"] = now.isoformat()
        if newest is not None:
            self.state["created_cursor"] = self.state["cursor"] = newest.isoformat()
        # events already read stay in the warehouse; vanished experiments are not read again
        events: dict[str, str] = self.state.setdefault("events", {})
        for experiment_id in [e for e in events if e in still_missing]:
            del events[experiment_id]

    def _by_id(self, wanted: dict[str, str], *, deleted: bool) -> dict[str, tuple[Resource, str]]:
        """Look experiments up by id within their project (`filter[project_id]` is required).

        A server that honours only one `filter[id]` value is caught: ids a batch did not
        return are asked for one by one.
        """
        by_project: dict[str, list[str]] = {}
        for experiment_id, project_id in sorted(wanted.items()):
            by_project.setdefault(project_id, []).append(experiment_id)
        found: dict[str, tuple[Resource, str]] = {}
        for project_id, ids in by_project.items():
            if project_id not in self._project_ids:
                continue  # the project itself is gone
            for start in range(0, len(ids), FILTER_ID_BATCH):
                batch = ids[start : start + FILTER_ID_BATCH]
                rows = self.api.experiments_by_id(project_id, batch, self.progress, deleted=deleted)
                returned = {resource_id(r, "experiments"): r for r in rows}
                if len(batch) > 1:
                    for experiment_id in [i for i in batch if i not in returned]:
                        for row in self.api.experiments_by_id(
                            project_id, [experiment_id], self.progress, deleted=deleted
                        ):
                            returned[resource_id(row, "experiments")] = row
                for experiment_id, row in returned.items():
                    found[experiment_id] = (row, project_id)
        return found

    def needing_events(self) -> list[Resource]:
        """Experiments whose events must be read: live ones that run, or whose status or
        `updated_at` moved since their events were read; soft-deleted ones never read (their
        results stay available, flagged deleted)."""
        markers: dict[str, str] = self.state.get("events") or {}
        live = [
            row
            for experiment_id, row in self.alive.items()
            if self.full_refresh
            or not _status_is_final(attributes(row, "experiments").get("status"))
            or markers.get(experiment_id) != events_marker(attributes(row, "experiments"))
        ]
        deleted = [
            row
            for experiment_id, row in self.deleted.items()
            if experiment_id not in markers or self.full_refresh
        ]
        return live + deleted


def _created_at(row: Resource) -> datetime:
    """When an experiment was created: the order of its list, so it must be a timestamp."""
    value = attributes(row, "experiments").get("created_at")
    try:
        return parse_timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SchemaDriftError(
            "experiments", "created_at", "ISO-8601 timestamp", value, row.get("id")
        ) from None
