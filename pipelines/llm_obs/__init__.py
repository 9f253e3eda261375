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

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.schema.typing import TColumnSchema
from dlt.extract.resource import DltResource

from ..common.concurrency import ordered_map
from ..common.datadog import DatadogCredentials
from ..common.dlt_tables import route_table
from ..common.http import RetryPolicy
from ..common.stats import SyncStats
from .client import Gone, LlmObsClient, ProjectListing, Resource
from .experiments import ExperimentScan, events_marker
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
    YIELD_BATCH_ROWS,
)
from .tracking import EntityTracker, Fingerprints

# table -> (primary key, merge key). Children re-read wholesale keep one row per id and are
# told current or vanished by `_read_at`; events are replaced with their experiment (merge
# key), keyed by position so a load job applied twice after a crash lands each row once.
TABLE_KEYS: dict[str, tuple[Any, Any]] = {
    "projects": ("project_id", None),
    "datasets": ("dataset_id", None),
    "dataset_versions": (("dataset_id", "version_id"), None),
    "dataset_draft_states": ("dataset_id", None),
    "dataset_records": (("dataset_id", "record_id"), None),
    "experiments": ("experiment_id", None),
    "experiment_spans": (("experiment_id", "_position"), "experiment_id"),
    "eval_metrics": (("experiment_id", "_position"), "experiment_id"),
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
            markers[experiment_id] = events_marker(attrs)
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
