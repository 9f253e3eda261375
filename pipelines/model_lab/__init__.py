"""Datadog Model Lab source: projects, runs (params, tags, metric summaries), hierarchy, deletes.

Both lists are read newest-updated first and stop at the saved cursor minus a lookback (a
window the previous listing already re-read is not read again); rows are merged on their id
and child rows are replaced with their parent. Runs that are still in progress are re-read by
id: every sync when updated recently, once per `stale_run_recheck_s` otherwise. Children of
changed sweep parents are listed when a new run appeared (it may be a child), on a first sync
and by `reconcile=True`, which also sweeps every id and flags rows that vanished from the API
in the `tombstones` table (history is kept, never dropped).

After them, for the projects and runs that changed in this sync only: facet snapshots
(`facets.py`), project artifact listings and run artifact walks, and, when asked for, artifact
content (`artifacts.py`).
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import numpy as np
import pyarrow as pa
from dlt.extract.resource import DltResource

from ..common.arrow import TableBatches, parse_timestamp
from ..common.concurrency import read_ahead
from ..common.datadog import DatadogCredentials
from ..common.dlt_tables import MERGE, route_table
from ..common.http import RetryPolicy
from ..common.incremental import ChangeTracker, WatchEntries, WatchFiles, WatchSchedule
from ..common.stats import SyncStats
from .artifacts import (
    ContentOptions,
    CreatedCursors,
    DownloadRecord,
    ListedFile,
    download_artifacts,
    download_table,
    list_project_files,
    project_file_table,
    run_artifact_tables,
    walk_runs,
)
from .changes import SyncChanges
from .client import ModelLabClient
from .facets import FacetFetcher, sync_facets
from .helpers import (
    NO_IDS,
    fingerprint,
    id_array,
    missing_ids,
    parent_table,
    project_tables,
    run_tables,
    tombstone_table,
    updated_at,
)
from .settings import (
    ARTIFACT_RUNS_PER_BATCH,
    DEFAULT_ACTIVE_RUN_AGE_S,
    DEFAULT_ARTIFACT_MAX_DEPTH,
    DEFAULT_ARTIFACT_MAX_ENTRIES,
    DEFAULT_ARTIFACT_WORKERS,
    DEFAULT_FACET_WORKERS,
    DEFAULT_HIERARCHY_WORKERS,
    DEFAULT_LOOKBACK_S,
    DEFAULT_STALE_RUN_RECHECK_S,
    ENTITY_PROJECT,
    ENTITY_RUN,
    NON_TERMINAL_STATUSES,
    READ_AHEAD_PAGES,
    YIELD_BATCH_ROWS,
)

# table -> (primary key, merge key). Children are replaced wholesale with their parent (merge
# key); their primary key (parent + position) makes a load job applied twice after a crash
# (dlt re-runs started jobs into a staging table it does not truncate again) land each row once.
TABLE_KEYS: dict[str, tuple[Any, Any]] = {
    "projects": ("project_id", None),
    "project_tags": (["project_id", "_position"], "project_id"),
    "runs": ("run_id", None),
    "run_params": (["run_id", "_position"], "run_id"),
    "run_tags": (["run_id", "_position"], "run_id"),
    "run_metrics": (["run_id", "_position"], "run_id"),
    "run_parents": ("run_id", None),
    "tombstones": (["entity", "id"], None),
    # facet snapshots are replaced per scope (`_snapshot`), run listings per run
    "facet_snapshots": ("_snapshot", None),
    "facet_keys": (["_snapshot", "_position"], "_snapshot"),
    "facet_values": (["_snapshot", "facet_type", "facet_name", "_position"], "_snapshot"),
    "facet_metric_stat_ranges": (["_snapshot", "facet_name", "stat"], "_snapshot"),
    "project_artifacts": (["project_id", "artifact_path"], None),
    "run_artifact_walks": ("run_id", None),
    "run_artifacts": (["run_id", "_position"], "run_id"),
    "artifact_downloads": (["project_id", "artifact_path"], None),
}
# tables whose resource emits each primary key at most once per sync (merged without dlt's
# dedup on DuckDB, see `merge_sql`): `runs` selects each run once per sync
# (`ChangeTracker.select` / `select_refreshed` skip ids already seen), and a run's params, tags
# and metrics come only with its row. Not `run_parents`: a reconcile sweep re-emits edges.
ONCE_PER_KEY_TABLES = frozenset({"runs", "run_params", "run_tags", "run_metrics"})


def _to_table(table_name: str, table: pa.Table) -> Any:
    """Route an Arrow table to `table_name` with its keys, failing on type drift first."""
    primary_key, merge_key = TABLE_KEYS[table_name]
    columns: dict[str, Any] | None = None
    if table_name == "tombstones":
        columns = {"reappeared": {"data_type": "bool", "hard_delete": True}}
    return route_table(
        table_name,
        table,
        primary_key=primary_key,
        merge_key=merge_key,
        columns=columns,
        once_per_key=table_name in ONCE_PER_KEY_TABLES,
    )


def _emit(tables: Mapping[str, pa.Table], include_empty: bool) -> Iterator[Any]:
    for name, table in tables.items():
        if table.num_rows or include_empty:
            yield _to_table(name, table)


@dlt.source(name="model_lab", max_table_nesting=0)
def model_lab_source(
    credentials: DatadogCredentials,
    *,
    full_refresh: bool = False,
    reconcile: bool = False,
    known_ids: Mapping[str, Collection[int]] | None = None,
    tombstoned_ids: Mapping[str, Collection[int]] | None = None,
    lookback_s: float = DEFAULT_LOOKBACK_S,
    active_run_age_s: float = DEFAULT_ACTIVE_RUN_AGE_S,
    stale_run_recheck_s: float = DEFAULT_STALE_RUN_RECHECK_S,
    hierarchy_workers: int = DEFAULT_HIERARCHY_WORKERS,
    policy: RetryPolicy | None = None,
    stats: SyncStats | None = None,
    facet_workers: int = DEFAULT_FACET_WORKERS,
    artifact_workers: int = DEFAULT_ARTIFACT_WORKERS,
    artifact_max_depth: int = DEFAULT_ARTIFACT_MAX_DEPTH,
    artifact_max_entries: int = DEFAULT_ARTIFACT_MAX_ENTRIES,
    content: ContentOptions | None = None,
    known_files: Sequence[ListedFile] = (),
    known_downloads: Mapping[tuple[int, str], DownloadRecord] | None = None,
    run_artifact_walks: bool = True,
    runs_in_progress: Callable[[], WatchEntries] | None = None,
) -> Sequence[DltResource]:
    """Datadog Model Lab projects and runs.

    Args:
        credentials: where the API is and the keys to call it with.
        full_refresh: ignore saved cursors and re-read every row (rows are merged, not dropped).
        reconcile: sweep all ids and flag the ones that vanished from the API.
        known_ids: ids already in the warehouse per entity (needed by `reconcile`).
        tombstoned_ids: ids already flagged per entity (needed by `reconcile`).
        lookback_s: how far before the saved cursor a list is re-read.
        active_run_age_s: runs in progress updated less than this long ago are re-read by id
            every sync.
        stale_run_recheck_s: older runs in progress are re-read once per this interval
            (spread over it; 0 re-reads them every sync).
        hierarchy_workers: concurrent requests when listing the children of sweep parents.
        policy: retry and timeout settings.
        stats: counters for progress and the sync summary.
        facet_workers: concurrent facet requests (per project x key).
        artifact_workers: concurrent artifact listings, run walks and downloads.
        artifact_max_depth: directory levels a run walk descends at most.
        artifact_max_entries: files and directories a run walk lists at most per run.
        content: which artifact files to download, and where (off by default).
        known_files: project artifact files already in the warehouse (needed by `content`).
        known_downloads: the last download of each file (needed by `content`).
        run_artifact_walks: walk changed runs' artifact trees (files still come from the
            project listings without it; only directory rows are missing).
        runs_in_progress: the warehouse's runs in progress (id -> ("", updated_at epoch)),
            re-read when the watch list file is lost.
    """
    client = ModelLabClient(credentials, policy)
    counters = stats or SyncStats()
    synced_at = datetime.now(UTC)
    changed = SyncChanges()  # what `projects` and `runs` selected, for the resources after them
    content_options = content or ContentOptions()
    listed_files: list[ListedFile] = []  # this sync's project listings, for content downloads

    def tracker(
        table: str,
        watch: Any = lambda row: False,
        schedule: WatchSchedule | None = None,
        rebuild_watch: Callable[[], WatchEntries] | None = None,
    ) -> ChangeTracker:
        return ChangeTracker(
            dlt.current.resource_state(),
            updated_at=lambda row: updated_at(row, table),
            fingerprint=fingerprint,
            lookback_s=lookback_s,
            full_refresh=full_refresh,
            watch=watch,
            schedule=schedule,
            now=synced_at,
            watch_files=WatchFiles(Path(dlt.current.pipeline().working_dir) / "watch" / table),
            rebuild_watch=rebuild_watch,
        )

    class Children:
        """Lists the children of sweep parents in a thread pool while the listing goes on.

        With `new_since` (an incremental sync) the parents wait: their children are listed
        only if a run created at or after `new_since` turned up, since only a new run can be
        a new child (adding a child bumps its parent's `updated_at`).

        Finished listings are taken as they complete (`take`), in submission order: holding
        a future per parent and the edges as Python tuples until the end of a first sync
        cost ~70 MiB at 1M runs (~50k parents, ~360k edges), and one table of all edges
        another ~100 MiB while it was built.
        """

        def __init__(self, new_since: datetime | None = None) -> None:
            self.stats = counters["run_parents"]
            self.pool = ThreadPoolExecutor(max_workers=max(hierarchy_workers, 1))
            self.pending: deque[tuple[int, Future[list[int]]]] = deque()
            self.submitted = 0  # parents whose children were (or are being) listed
            self.new_since = new_since
            self.waiting: list[int] = []
            self.new_run = new_since is None

        def add(self, rows: Sequence[dict[str, Any]]) -> None:
            for row in rows:
                if not self.new_run and self._is_new(row):
                    self.new_run = True
                if row["attributes"].get("has_children"):
                    self.waiting.append(int(row["id"]))
            if self.new_run:
                self._submit()

        def _is_new(self, row: dict[str, Any]) -> bool:
            created = row["attributes"].get("created_at")
            assert self.new_since is not None
            return not isinstance(created, str) or parse_timestamp(created) >= self.new_since

        def _submit(self) -> None:
            for parent in self.waiting:
                self.pending.append(
                    (parent, self.pool.submit(client.child_run_ids, parent, self.stats))
                )
            self.submitted += len(self.waiting)
            self.waiting.clear()

        def take(self, *, wait: bool = False) -> pa.Table | None:
            """The edges of the listings finished so far (`wait`: of all), oldest first, as
            one table; None when none finished."""
            children: array[int] = array("q")
            parents: array[int] = array("q")
            try:
                while self.pending and (wait or self.pending[0][1].done()):
                    parent, future = self.pending.popleft()
                    found = future.result()
                    children.extend(found)
                    parents.extend([parent] * len(found))
            except BaseException:
                self.close()
                raise
            if wait:
                self.close()
            if not children and not wait:
                return None
            self.stats.page_done(len(children))
            return parent_table(children, parents, synced_at)

        def close(self) -> None:
            self.pool.shutdown(cancel_futures=True)

    @dlt.resource(name="projects", write_disposition=MERGE)
    @changed.finishes("projects")
    def projects() -> Iterator[Any]:
        progress = counters["projects"]
        changes = tracker("projects")
        selected: list[dict[str, Any]] = []
        for page in client.project_pages("-updated_at", progress):
            rows, reached_end = changes.select(page.data)
            selected.extend(rows)
            progress.page_done(len(rows))
            if reached_end:
                break
        changed.add_projects(selected)
        # projects are few: one table per sync; empty tables on the first sync create them
        first_sync = changes.cursor is None
        if selected or first_sync:  # (building an empty table costs a pandas import)
            yield from _emit(project_tables(selected, synced_at), include_empty=first_sync)
        changes.commit()

    @dlt.resource(name="runs", write_disposition=MERGE)
    @changed.finishes("runs")
    def runs() -> Iterator[Any]:
        progress = counters["runs"]
        changes = tracker(
            "runs",
            watch=lambda row: row["attributes"].get("status") in NON_TERMINAL_STATUSES,
            schedule=WatchSchedule(active_run_age_s, stale_run_recheck_s),
            rebuild_watch=runs_in_progress,
        )
        first_sync = changes.cursor is None
        changed.record_runs = (
            run_artifact_walks and "run_artifacts" in dlt.current.source().selected_resources
        )
        # a run created before the listing's stop point (less a lookback) is not new
        children = Children(
            None if changes.stop_at is None else changes.stop_at - timedelta(seconds=lookback_s)
        )
        batches = TableBatches()

        def collect(rows: list[dict[str, Any]]) -> None:
            children.add(rows)
            changed.add_runs(rows)
            if rows:
                batches.add(run_tables(rows, synced_at), len(rows))
            progress.page_done(len(rows))

        pages = client.run_pages(progress, "-updated_at")
        if changes.stop_at is None:  # read to the end: fetch ahead while a page is processed
            pages = read_ahead(pages, depth=READ_AHEAD_PAGES)
        try:
            for page in pages:
                rows, reached_end = changes.select(page.data)
                collect(rows)
                if batches.rows >= YIELD_BATCH_ROWS:
                    yield from _emit(batches.take(), include_empty=False)
                    edges = children.take()
                    if edges is not None:
                        yield _to_table("run_parents", edges)
                if reached_end:
                    break
            for batch in client.runs_by_id(changes.pending_watch_ids(), progress):
                collect(changes.select_refreshed(batch))
            tables = batches.take()
            if first_sync:  # empty tables on the first sync create them
                tables = {**run_tables([], synced_at), **tables}
            yield from _emit(tables, include_empty=first_sync)
            edges = children.take(wait=True)
            if children.submitted or first_sync:
                yield _to_table("run_parents", edges)
        finally:
            children.close()
        changes.commit()

    @dlt.resource(name="tombstones", write_disposition=MERGE)
    def tombstones() -> Iterator[Any]:
        """Sweep every id; flag vanished ones (confirmed by a second lookup), unflag returns."""
        state = dlt.current.resource_state()
        if not reconcile:
            if not state.get("created"):  # the views join this table, so it must exist
                state["created"] = True
                yield _to_table("tombstones", tombstone_table(ENTITY_RUN, [], [], synced_at))
            return
        state["created"] = True
        progress = counters["tombstones"]
        # sorted int64 arrays, not sets of ints: ~70 MiB a set of 1M run ids
        known = {entity: id_array(ids) for entity, ids in (known_ids or {}).items()}
        flagged = {entity: id_array(ids) for entity, ids in (tombstoned_ids or {}).items()}
        listed_projects: array[int] = array("q")
        for page in client.project_pages("created_at", progress):
            listed_projects.extend(int(r["id"]) for r in page.data)
            progress.page_done(0)
        listed_runs: array[int] = array("q")
        children = Children()  # a sweep re-walks every parent: catches edges a sync missed
        for page in read_ahead(client.run_pages(progress, "created_at"), depth=READ_AHEAD_PAGES):
            listed_runs.extend(int(row["id"]) for row in page.data)
            children.add(page.data)
            progress.page_done(0)
            edges = children.take()
            if edges is not None:
                yield _to_table("run_parents", edges)
        project_ids, run_ids = id_array(listed_projects), id_array(listed_runs)
        del listed_projects, listed_runs
        missing_projects = missing_ids(known, flagged, ENTITY_PROJECT, project_ids)
        alive = client.projects_by_id([str(i) for i in missing_projects], progress)
        vanished_projects = [i for i in missing_projects if str(i) not in alive]
        missing_runs = missing_ids(known, flagged, ENTITY_RUN, run_ids)
        alive_runs = {
            int(row["id"])
            for batch in client.runs_by_id([str(i) for i in missing_runs], progress)
            for row in batch
        }
        vanished_runs = [i for i in missing_runs if i not in alive_runs]
        detected_at = datetime.now(UTC)
        for entity, vanished, seen in (
            (ENTITY_PROJECT, vanished_projects, project_ids),
            (ENTITY_RUN, vanished_runs, run_ids),
        ):
            back = np.intersect1d(flagged.get(entity, NO_IDS), seen, assume_unique=True).tolist()
            table = tombstone_table(entity, vanished, back, detected_at)
            progress.page_done(table.num_rows)
            yield _to_table("tombstones", table)
        yield _to_table("run_parents", children.take(wait=True))

    @dlt.resource(name="facets", write_disposition=MERGE)
    def facets() -> Iterator[Any]:
        """Facet snapshots: org-wide when a project changed, per project for changed projects."""
        yield from changed.wait_for("projects", "runs")
        state = dlt.current.resource_state()
        first_sync = not state.get("created")
        fetcher = FacetFetcher(client, counters["facets"], facet_workers)
        try:
            for tables in sync_facets(
                fetcher,
                project_scope=first_sync or full_refresh or bool(changed.project_ids),
                project_ids=changed.changed_projects(),
                synced_at=synced_at,
            ):
                yield from _emit(tables, include_empty=first_sync)
        finally:
            fetcher.close()
        state["created"] = True

    @dlt.resource(name="project_artifacts", write_disposition=MERGE)
    @changed.finishes("project_artifacts")
    def project_artifacts() -> Iterator[Any]:
        """Each changed project's flat listing; files created since its cursor are loaded."""
        yield from changed.wait_for("projects", "runs")
        state = dlt.current.resource_state()
        first_sync = not state.get("created")
        progress = counters["project_artifacts"]
        cursors = CreatedCursors(state, lookback_s=lookback_s, full_refresh=full_refresh)
        listings = list_project_files(
            client, changed.changed_projects(), progress, workers=artifact_workers
        )
        for project_id, files in listings:
            if files is None:  # the project is gone: its files stay as last listed
                continue
            table = project_file_table(project_id, files, synced_at)
            if content_options.enabled:
                sizes = table.column("file_size").to_pylist()
                paths = table.column("artifact_path").to_pylist()
                listed_files.extend(map(ListedFile, [project_id] * len(paths), paths, sizes))
            new_rows = cursors.new_rows(project_id, table)
            progress.page_done(new_rows.num_rows)
            if new_rows.num_rows:
                yield _to_table("project_artifacts", new_rows)
        if first_sync:
            yield _to_table("project_artifacts", project_file_table(0, [], synced_at))
        cursors.commit()
        state["created"] = True

    @dlt.resource(name="run_artifacts", write_disposition=MERGE)
    def run_artifacts() -> Iterator[Any]:
        """Walk the artifact tree of every run that changed in this sync."""
        yield from changed.wait_for("runs")
        state = dlt.current.resource_state()
        walks = walk_runs(
            client,
            changed.run_projects if run_artifact_walks else {},
            counters["run_artifacts"],
            workers=artifact_workers,
            max_depth=artifact_max_depth,
            max_entries=artifact_max_entries,
            batch_runs=ARTIFACT_RUNS_PER_BATCH,
        )
        for batch in walks:
            yield from _emit(run_artifact_tables(batch, synced_at), include_empty=False)
        if not state.get("created"):
            yield from _emit(run_artifact_tables([], synced_at), include_empty=True)
        state["created"] = True

    @dlt.resource(name="artifact_downloads", write_disposition=MERGE)
    def artifact_downloads() -> Iterator[Any]:
        """Opt-in: download wanted files that are new or changed since their last download."""
        state = dlt.current.resource_state()
        if not state.get("created"):  # the view reads this table, so it must exist
            yield _to_table("artifact_downloads", download_table([]))
            state["created"] = True
        if not content_options.enabled:
            return
        yield from changed.wait_for("project_artifacts")
        files = {(f.project_id, f.artifact_path): f for f in [*known_files, *listed_files]}
        downloads = download_artifacts(
            client,
            [files[key] for key in sorted(files)],
            known_downloads or {},
            content_options,
            counters["artifact_downloads"],
            workers=artifact_workers,
        )
        for rows in downloads:
            if rows:
                yield _to_table("artifact_downloads", download_table(rows))

    return [
        projects,
        runs,
        tombstones,
        facets,
        project_artifacts,
        run_artifacts,
        artifact_downloads,
    ]
