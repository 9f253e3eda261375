"""Datadog LLM Observability source: projects, datasets (versions, draft locks, records),
experiments (spans and eval metrics), annotation queues (label schemas, interactions,
annotations).

No list has a sort or an `updated_after` filter, so each sync lists the cheap parents
completely and loads only what changed against fingerprints kept in the resource state.
Children are re-read only where their parent says something changed: a dataset's records
when its `current_version` or `updated_at` moved, an experiment's events while it runs (once
more when it finishes). Experiments are listed newest-created first down to the newest one
already synced; a full listing every `experiments_rescan_s` seconds catches edits to older
ones, and the `filter[is_deleted]=true` listing brings soft deletes every sync.

Deletes are flagged, never dropped: ids missing from a complete listing go to `tombstones`;
rows missing from the newest complete read of their parent (records, versions, label
schemas, interactions, annotations) are told apart in staging by their `_read_at` against the
`snapshots` table.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.schema.typing import TColumnSchema
from dlt.extract.resource import DltResource

from ..common.arrow import parse_timestamp
from ..common.concurrency import ordered_map
from ..common.datadog import DatadogCredentials
from ..common.dlt_tables import route_table
from ..common.errors import SchemaDriftError
from ..common.http import RetryPolicy
from ..common.stats import SyncStats
from .client import Gone, LlmObsClient, Resource
from .helpers import (
    DraftState,
    Snapshot,
    attributes,
    dataset_table,
    draft_state_table,
    event_tables,
    experiment_table,
    fingerprint,
    interaction_tables,
    label_schema_table,
    project_table,
    queue_table,
    record_table,
    resource_id,
    snapshot_table,
    tombstone_table,
    version_table,
)
from .settings import (
    COLLECTION_EVENTS,
    COLLECTION_INTERACTIONS,
    COLLECTION_LABEL_SCHEMAS,
    COLLECTION_RECORDS,
    COLLECTION_VERSIONS,
    DEFAULT_EXPERIMENTS_RESCAN_S,
    DEFAULT_LOOKBACK_S,
    DEFAULT_WORKERS,
    ENTITY_DATASET,
    ENTITY_EXPERIMENT,
    ENTITY_PROJECT,
    ENTITY_QUEUE,
    FILTER_ID_BATCH,
    TERMINAL_STATUSES,
    YIELD_BATCH_ROWS,
)
from .tracking import EntityTracker, Fingerprints

# table -> (primary key, merge key). Children re-read wholesale keep one row per id and are
# told current or vanished by `_read_at`; events are replaced with their experiment.
TABLE_KEYS: dict[str, tuple[Any, Any]] = {
    "projects": ("project_id", None),
    "datasets": ("dataset_id", None),
    "dataset_versions": (("dataset_id", "version_id"), None),
    "dataset_draft_states": ("dataset_id", None),
    "dataset_records": (("dataset_id", "record_id"), None),
    "experiments": ("experiment_id", None),
    "experiment_spans": (None, "experiment_id"),
    "eval_metrics": (None, "experiment_id"),
    "annotation_queues": ("queue_id", None),
    "label_schemas": (("queue_id", "name"), None),
    "annotation_interactions": (("queue_id", "interaction_id"), None),
    "annotations": (("queue_id", "annotation_id"), None),
    "tombstones": (("entity", "id"), None),
    "snapshots": (("collection", "parent_id", "read_at"), None),
}
TOMBSTONE_COLUMNS: dict[str, TColumnSchema] = {
    "reappeared": {"data_type": "bool", "hard_delete": True}
}


def _to_table(table_name: str, table: Any) -> Any:
    primary_key, merge_key = TABLE_KEYS[table_name]
    columns = TOMBSTONE_COLUMNS if table_name == "tombstones" else None
    return route_table(
        table_name,
        table,
        primary_key=list(primary_key) if isinstance(primary_key, tuple) else primary_key,
        merge_key=merge_key,
        columns=columns,
    )


def _first_sync(state: dict[str, Any]) -> bool:
    """True once per resource: its tables are created empty so the views always build."""
    if state.get("created"):
        return False
    state["created"] = True
    return True


def _tombstones(
    entity: str, vanished: set[str], back: set[str], at: datetime
) -> tuple[str, pa.Table]:
    return "tombstones", tombstone_table(entity, vanished, back, at)


def _batched(items: Iterable[tuple[str, pa.Table]]) -> Iterator[Any]:
    """Route `(table name, Arrow table)` items to dlt as few large tables.

    dlt's bookkeeping costs tens of milliseconds per yielded item, and this source builds
    many small tables (one per dataset, experiment or queue read).
    """
    pending: dict[str, list[pa.Table]] = {}
    rows: dict[str, int] = {}
    for name, table in items:
        pending.setdefault(name, []).append(table)
        rows[name] = rows.get(name, 0) + table.num_rows
        if rows[name] >= YIELD_BATCH_ROWS:
            yield from _merged(name, pending.pop(name))
            rows[name] = 0
    for name, tables in pending.items():
        yield from _merged(name, tables)


def _merged(name: str, tables: list[pa.Table]) -> Iterator[Any]:
    try:
        merged = pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # a new field with different types in two reads: let the drift check name it
        yield from (_to_table(name, table) for table in tables)
        return
    yield _to_table(name, merged)


def _status_is_final(status: Any) -> bool:
    # an experiment without a status cannot be told running: its events are re-read when its
    # `updated_at` moves instead of every sync
    return status is None or status in TERMINAL_STATUSES


@dlt.source(name="llm_obs", max_table_nesting=0)
def llm_obs_source(
    credentials: DatadogCredentials,
    *,
    full_refresh: bool = False,
    reconcile: bool = False,
    lookback_s: float = DEFAULT_LOOKBACK_S,
    experiments_rescan_s: float = DEFAULT_EXPERIMENTS_RESCAN_S,
    workers: int = DEFAULT_WORKERS,
    client: LlmObsClient | None = None,
    policy: RetryPolicy | None = None,
    stats: SyncStats | None = None,
) -> Sequence[DltResource]:
    """Datadog LLM Observability.

    Args:
        credentials: where the API is and the keys to call it with.
        full_refresh: ignore what earlier syncs saw and load every row again (merged).
        reconcile: also re-read every dataset's records and list every experiment.
        lookback_s: experiments created this long before the newest one synced are re-listed.
        experiments_rescan_s: list every experiment (catching edits to old ones) at least
            this often; 0 = every sync.
        workers: concurrent requests for per-dataset, per-experiment and per-queue reads.
        client: a preconfigured client (page sizes); built from `credentials` otherwise.
        policy: retry and timeout settings.
        stats: counters for progress and the sync summary.
    """
    api = client or LlmObsClient(credentials, policy)
    counters = stats or SyncStats()
    synced_at = datetime.now(UTC)
    listed_projects = ProjectListing(api, counters)

    def project_ids() -> list[str]:
        return [resource_id(p, "projects") for p in listed_projects.get()]

    @dlt.resource(name="projects")
    def projects() -> Iterator[Any]:
        yield from _batched(_projects())

    def _projects() -> Iterator[tuple[str, pa.Table]]:
        state = dlt.current.resource_state()
        first = _first_sync(state)
        progress = counters["projects"]
        tracker = EntityTracker(state, full_refresh=full_refresh)
        listing = listed_projects.get()
        changed = [
            p
            for p in listing
            if tracker.changed(resource_id(p, "projects"), fingerprint(attributes(p, "projects")))
        ]
        vanished, back = tracker.finish()
        progress.page_done(len(changed))
        if changed or first:
            yield ("projects", project_table(changed, synced_at))
        if vanished or back or first:
            yield _tombstones(ENTITY_PROJECT, vanished, back, synced_at)
        stamps = [attributes(p, "projects").get("updated_at") for p in listing]
        if any(isinstance(stamp, str) for stamp in stamps):  # shown by `labsync status`
            state["cursor"] = max(stamp for stamp in stamps if isinstance(stamp, str))

    @dlt.resource(name="datasets")
    def datasets() -> Iterator[Any]:
        yield from _batched(_datasets())

    def _datasets() -> Iterator[tuple[str, pa.Table]]:
        state = dlt.current.resource_state()
        first = _first_sync(state)
        progress = counters["datasets"]
        tracker = EntityTracker(state.setdefault("datasets", {}), full_refresh=full_refresh)
        listing: list[tuple[str, Resource]] = []
        fetched = ordered_map(
            lambda project_id: api.datasets(project_id, progress), project_ids(), workers=workers
        )
        for project_id, rows in fetched:
            listing.extend((project_id, row) for row in rows or [])  # None: project deleted
        changed = [
            (project_id, row)
            for project_id, row in listing
            if tracker.changed(
                resource_id(row, "datasets"), fingerprint(attributes(row, "datasets"))
            )
        ]
        vanished, back = tracker.finish()
        progress.page_done(len(changed))
        if changed or first:
            yield ("datasets", dataset_table(changed, synced_at))
        if vanished or back or first:
            yield _tombstones(ENTITY_DATASET, vanished, back, synced_at)
        alive = list(tracker.listed)
        yield from _versions_and_drafts(state, listing, alive, first)
        yield from _records(state, listing, alive, first)

    def _versions_and_drafts(
        state: dict[str, Any], listing: list[tuple[str, Resource]], alive: list[str], first: bool
    ) -> Iterator[tuple[str, pa.Table]]:
        """Versions and the draft lock of every dataset, every sync; loaded when changed."""
        version_progress = counters["dataset_versions"]
        draft_progress = counters["dataset_draft_states"]
        version_fps = Fingerprints(state, "versions", full_refresh=full_refresh)
        draft_fps = Fingerprints(state, "drafts", full_refresh=full_refresh)

        def read(item: tuple[str, str]) -> tuple[list[Resource] | None, DraftState]:
            project_id, dataset_id = item
            versions = api.dataset_versions(project_id, dataset_id, version_progress)
            holder = api.draft_state(project_id, dataset_id, draft_progress)
            return versions, DraftState(project_id, dataset_id, holder)

        items = [(project_id, resource_id(row, "datasets")) for project_id, row in listing]
        drafts: list[DraftState] = []
        snapshots: list[Snapshot] = []
        for (_, dataset_id), (versions, draft) in ordered_map(read, items, workers=workers):
            if versions is not None:
                versions_fp = fingerprint(versions)
                if version_fps.changed(dataset_id, versions_fp):
                    table = version_table(dataset_id, versions, synced_at)
                    version_progress.page_done(table.num_rows)
                    yield ("dataset_versions", table)
                    snapshots.append(Snapshot(COLLECTION_VERSIONS, dataset_id, table.num_rows))
                    version_fps.remember(dataset_id, versions_fp)
            if draft_fps.changed(dataset_id, draft.fingerprint()):
                drafts.append(draft)
                draft_fps.remember(dataset_id, draft.fingerprint())
        version_fps.keep_only(alive)
        draft_fps.keep_only(alive)
        draft_progress.page_done(len(drafts))
        if drafts or first:
            yield ("dataset_draft_states", draft_state_table(drafts, synced_at))
        if first and not snapshots:
            yield ("dataset_versions", version_table("", [], synced_at))
        if snapshots or first:
            yield ("snapshots", snapshot_table(snapshots, synced_at))

    def _records(
        state: dict[str, Any], listing: list[tuple[str, Resource]], alive: list[str], first: bool
    ) -> Iterator[tuple[str, pa.Table]]:
        """Records of the datasets whose `current_version` or `updated_at` moved."""
        progress = counters["dataset_records"]
        markers = Fingerprints(state, "records", full_refresh=full_refresh or reconcile)
        stale: list[tuple[str, str, str]] = []
        for project_id, row in listing:
            dataset_id = resource_id(row, "datasets")
            attrs = attributes(row, "datasets")
            marker = f"{attrs.get('current_version')}|{attrs.get('updated_at')}"
            if markers.changed(dataset_id, marker):
                stale.append((project_id, dataset_id, marker))

        def read(item: tuple[str, str, str]) -> list[Resource] | None:
            project_id, dataset_id, _ = item
            try:
                return [
                    record
                    for page in api.record_pages(project_id, dataset_id, progress)
                    for record in page
                ]
            except Gone:
                return None

        snapshots: list[Snapshot] = []
        for (project_id, dataset_id, marker), records in ordered_map(read, stale, workers=workers):
            if records is None:  # deleted while this sync ran: the next listing flags it
                continue
            table = record_table(project_id, dataset_id, records, synced_at)
            progress.page_done(table.num_rows)
            if table.num_rows:
                yield ("dataset_records", table)
            version = marker.split("|", 1)[0]
            snapshots.append(Snapshot(COLLECTION_RECORDS, dataset_id, table.num_rows, version))
            markers.remember(dataset_id, marker)
        markers.keep_only(alive)
        if first:
            yield ("dataset_records", record_table("", "", [], synced_at))
        if snapshots or first:
            yield ("snapshots", snapshot_table(snapshots, synced_at))

    @dlt.resource(name="experiments")
    def experiments() -> Iterator[Any]:
        yield from _batched(_experiments())

    def _experiments() -> Iterator[tuple[str, pa.Table]]:
        state = dlt.current.resource_state()
        first = _first_sync(state)
        scan = ExperimentScan(state, api, counters, full_refresh, reconcile)
        scan.run(project_ids(), lookback_s, experiments_rescan_s, workers, synced_at)
        counters["experiments"].page_done(len(scan.changed))
        if scan.changed or first:
            yield ("experiments", experiment_table(scan.changed, synced_at))
        if scan.vanished or scan.reappeared or first:
            yield _tombstones(ENTITY_EXPERIMENT, scan.vanished, scan.reappeared, synced_at)
        yield from _events(state, scan.needing_events(), first)

    def _events(
        state: dict[str, Any], wanted: list[Resource], first: bool
    ) -> Iterator[tuple[str, pa.Table]]:
        """Spans and eval metrics of experiments that run, finished or changed since read."""
        progress = counters["experiment_events"]
        markers: dict[str, str] = state.setdefault("events", {})
        # a running experiment's events are re-read every sync but loaded only when changed
        contents = Fingerprints(state, "event_fingerprints", full_refresh=full_refresh)

        def read(experiment: Resource) -> tuple[list[Resource], list[Resource]] | None:
            return api.events(resource_id(experiment, "experiments"), progress)

        snapshots: list[Snapshot] = []
        for experiment, events in ordered_map(read, wanted, workers=workers):
            if events is None:  # deleted while this sync ran
                continue
            experiment_id = resource_id(experiment, "experiments")
            attrs = attributes(experiment, "experiments")
            markers[experiment_id] = _events_marker(attrs)
            content = fingerprint(events)
            if not contents.changed(experiment_id, content):
                progress.page_done(0)
                continue
            contents.remember(experiment_id, content)
            tables = event_tables(experiment_id, events[0], events[1], synced_at)
            for name, table in tables.items():
                if table.num_rows:
                    yield (name, table)
            spans = tables["experiment_spans"].num_rows
            progress.page_done(spans + tables["eval_metrics"].num_rows)
            snapshots.append(Snapshot(COLLECTION_EVENTS, experiment_id, spans, attrs.get("status")))
        contents.keep_only(state.get("running") or {})  # finished runs need no content print
        if first:
            for name, table in event_tables("", [], [], synced_at).items():
                yield (name, table)
        if snapshots or first:
            yield ("snapshots", snapshot_table(snapshots, synced_at))

    @dlt.resource(name="annotation_queues")
    def annotation_queues() -> Iterator[Any]:
        yield from _batched(_annotation_queues())

    def _annotation_queues() -> Iterator[tuple[str, pa.Table]]:
        state = dlt.current.resource_state()
        first = _first_sync(state)
        progress = counters["annotation_queues"]
        tracker = EntityTracker(state.setdefault("queues", {}), full_refresh=full_refresh)
        listing = api.queues(progress)
        changed = [
            q
            for q in listing
            if tracker.changed(
                resource_id(q, "annotation_queues"), fingerprint(attributes(q, "annotation_queues"))
            )
        ]
        vanished, back = tracker.finish()
        progress.page_done(len(changed))
        if changed or first:
            yield ("annotation_queues", queue_table(changed, synced_at))
        if vanished or back or first:
            yield _tombstones(ENTITY_QUEUE, vanished, back, synced_at)
        yield from _queue_children(state, listing, list(tracker.listed), first)

    def _queue_children(
        state: dict[str, Any], listing: list[Resource], alive: list[str], first: bool
    ) -> Iterator[tuple[str, pa.Table]]:
        """Label schemas (embedded in the queue) and interactions with their annotations,
        read for every queue each sync and loaded when a queue's answer changed."""
        schema_progress = counters["label_schemas"]
        progress = counters["annotations"]
        schema_fps = Fingerprints(state, "label_schemas", full_refresh=full_refresh)
        interaction_fps = Fingerprints(state, "interactions", full_refresh=full_refresh)

        def read(queue: Resource) -> tuple[list[Resource] | None, list[Resource] | None]:
            queue_id = resource_id(queue, "annotation_queues")
            embedded = attributes(queue, "annotation_queues").get("annotation_schema")
            if isinstance(embedded, dict):
                schemas = embedded.get("label_schemas") or []
            else:  # not embedded in this answer: ask the queue's own endpoint
                schemas = api.label_schemas(queue_id, schema_progress)
            return schemas, api.interactions(queue_id, progress)

        snapshots: list[Snapshot] = []
        for queue, (schemas, items) in ordered_map(read, listing, workers=workers):
            queue_id = resource_id(queue, "annotation_queues")
            if schemas is not None and schema_fps.changed(queue_id, fingerprint(schemas)):
                table = label_schema_table(queue_id, schemas, synced_at)
                schema_progress.page_done(table.num_rows)
                if table.num_rows:
                    yield ("label_schemas", table)
                snapshots.append(Snapshot(COLLECTION_LABEL_SCHEMAS, queue_id, table.num_rows))
                schema_fps.remember(queue_id, fingerprint(schemas))
            if items is not None and interaction_fps.changed(queue_id, fingerprint(items)):
                tables = interaction_tables(queue_id, items, synced_at)
                for name, table in tables.items():
                    if table.num_rows:
                        yield (name, table)
                count = tables["annotation_interactions"].num_rows
                progress.page_done(count + tables["annotations"].num_rows)
                snapshots.append(Snapshot(COLLECTION_INTERACTIONS, queue_id, count))
                interaction_fps.remember(queue_id, fingerprint(items))
        schema_fps.keep_only(alive)
        interaction_fps.keep_only(alive)
        if first:
            yield ("label_schemas", label_schema_table("", [], synced_at))
            for name, table in interaction_tables("", [], synced_at).items():
                yield (name, table)
        if snapshots or first:
            yield ("snapshots", snapshot_table(snapshots, synced_at))

    return [projects, datasets, experiments, annotation_queues]


class ProjectListing:
    """The projects, listed once per sync for every resource that needs them."""

    def __init__(self, api: LlmObsClient, counters: SyncStats) -> None:
        self._api = api
        self._counters = counters
        self._lock = threading.Lock()
        self._projects: list[Resource] | None = None

    def get(self) -> list[Resource]:
        with self._lock:
            if self._projects is None:
                self._projects = self._api.projects(self._counters["projects"])
            return self._projects


def _events_marker(attrs: dict[str, Any]) -> str:
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
            or markers.get(experiment_id) != _events_marker(attributes(row, "experiments"))
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
