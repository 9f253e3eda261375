"""PostHog LLM analytics source: datasets, dataset items, evaluations, evaluation results.

Datasets and evaluations are listed newest-updated first and stop at the saved cursor minus a
lookback. Dataset items cannot be sorted or filtered by `updated_at`, so every sync lists them
all and loads only the ones whose content differs from the warehouse (`_fingerprint`).
Evaluation results are `$ai_evaluation` events read through the Query API in time windows,
oldest first with a `(timestamp, uuid)` keyset, re-reading a lookback for ingestion lag and
merged on the event uuid. Deleted rows are hidden by the API: `reconcile=True` compares ids and
flags the vanished ones in `tombstones` (rows are kept, never dropped).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from ..common.arrow import parse_timestamp
from ..common.dlt_tables import MERGE, route_table
from ..common.errors import ApiError
from ..common.http import RetryPolicy
from ..common.incremental import ChangeTracker
from ..common.paging import Page
from ..common.stats import ResourceStats, SyncStats
from .client import PosthogClient
from .credentials import PosthogCredentials
from .helpers import (
    EvaluationEvent,
    RecentEvents,
    WarehouseSnapshot,
    dataset_table,
    evaluation_results_query,
    evaluation_table,
    fingerprint,
    item_table,
    parse_event,
    query_windows,
    result_table,
    row_id,
    tombstone_table,
    updated_at,
    window_floor,
)
from .settings import (
    DEFAULT_LOOKBACK_S,
    DEFAULT_PAGE_SIZE,
    DEFAULT_RESULTS_START,
    ENTITY_DATASET,
    ENTITY_DATASET_ITEM,
    ENTITY_EVALUATION,
    YIELD_BATCH_ROWS,
    ResultsOptions,
)

logger = logging.getLogger("labsync.posthog")

TABLE_KEYS: dict[str, str | list[str]] = {
    "datasets": "dataset_id",
    "dataset_items": "item_id",
    "evaluations": "evaluation_id",
    "evaluation_results": "event_id",
    "tombstones": ["entity", "id"],
}
MAX_QUERY_PAGES = 100_000  # per window: a guard against a server that never stops paging

Row = dict[str, Any]


def _to_table(table_name: str, table: pa.Table) -> Any:
    return route_table(table_name, table, primary_key=TABLE_KEYS[table_name])


@dlt.source(name="posthog", max_table_nesting=0)
def posthog_source(
    credentials: PosthogCredentials,
    *,
    full_refresh: bool = False,
    reconcile: bool = False,
    snapshot: WarehouseSnapshot | None = None,
    lookback_s: float = DEFAULT_LOOKBACK_S,
    page_size: int = DEFAULT_PAGE_SIZE,
    results: ResultsOptions | None = None,
    policy: RetryPolicy | None = None,
    stats: SyncStats | None = None,
) -> Sequence[DltResource]:
    """PostHog LLM analytics of one project.

    Args:
        credentials: where PostHog is, the project, and the personal API key.
        full_refresh: ignore saved cursors and re-read every row (rows are merged, not dropped).
        reconcile: list every id and flag the ones that vanished from the API.
        snapshot: what the warehouse holds (item fingerprints; with `reconcile`, every id).
        lookback_s: how far before the saved cursor the dataset/evaluation lists are re-read.
        page_size: rows per list request.
        results: how evaluation results are read from the Query API.
        policy: retry and timeout settings.
        stats: counters for progress and the sync summary.
    """
    client = PosthogClient(credentials, policy, page_size)
    counters = stats or SyncStats()
    known = snapshot or WarehouseSnapshot()
    options = results or ResultsOptions(start=parse_timestamp(DEFAULT_RESULTS_START))
    synced_at = datetime.now(UTC)
    listed_ids: dict[str, set[str]] = {}  # ids each listing returned in this sync

    def flag_vanished(
        entity: str,
        known_ids: set[str],
        seen: set[str],
        alive: Callable[[Sequence[str], ResourceStats], set[str]],
        progress: ResourceStats,
    ) -> Iterator[Any]:
        """Flag ids the warehouse has but the listing did not return, once the API confirms."""
        missing = sorted(known_ids - seen - known.flagged.get(entity, set()))
        if not missing:
            return
        still_there = alive(missing, progress)  # a row skipped by paging drift is not gone
        gone = [i for i in missing if i not in still_there]
        if gone:
            logger.info("%s: %d vanished from the API, flagging them deleted", entity, len(gone))
            yield _to_table("tombstones", tombstone_table(entity, gone, datetime.now(UTC)))

    def listed(
        table: str,
        entity: str,
        pages: Callable[[str, ResourceStats], Iterator[Page]],
        to_arrow: Callable[[Sequence[Row], datetime], pa.Table],
        alive: Callable[[Sequence[str], ResourceStats], set[str]],
    ) -> Iterator[Any]:
        """Datasets and evaluations: newest-updated first, stopping at the cursor's lookback.

        With `reconcile` the listing goes to the end: rows the warehouse lacks, holds in another
        version or has flagged deleted are loaded too, and vanished ids are flagged.
        """
        progress = counters[table]
        changes = ChangeTracker(
            dlt.current.resource_state(),
            updated_at=lambda row: updated_at(row, table),
            fingerprint=fingerprint,
            lookback_s=lookback_s,
            full_refresh=full_refresh,
        )
        first_sync = changes.cursor is None
        in_warehouse = known.fingerprints.get(entity, {})
        flagged = known.flagged.get(entity, set())
        chosen: dict[str, Row] = {}
        seen = listed_ids.setdefault(entity, set())
        for page in pages("-updated_at", progress):
            before = len(chosen)
            rows, reached_end = changes.select(page.data)
            for row in rows:
                chosen.setdefault(row_id(row, table), row)
            for row in page.data:
                rid = row_id(row, table)
                seen.add(rid)
                if (
                    reconcile
                    and rid not in chosen
                    and (rid in flagged or in_warehouse.get(rid) != fingerprint(row))
                ):
                    chosen[rid] = row
            progress.page_done(len(chosen) - before)
            if reached_end and not reconcile:
                break
        if chosen or first_sync:  # an empty table on the first sync creates it for the views
            yield _to_table(table, to_arrow(list(chosen.values()), synced_at))
        if first_sync:
            yield _to_table("tombstones", tombstone_table(entity, [], synced_at))
        if reconcile:
            yield from flag_vanished(entity, set(in_warehouse), seen, alive, progress)
        changes.commit()

    @dlt.resource(name="datasets", write_disposition=MERGE)
    def datasets() -> Iterator[Any]:
        yield from listed(
            "datasets", ENTITY_DATASET, client.dataset_pages, dataset_table, client.alive_datasets
        )

    @dlt.resource(name="evaluations", write_disposition=MERGE)
    def evaluations() -> Iterator[Any]:
        yield from listed(
            "evaluations",
            ENTITY_EVALUATION,
            client.evaluation_pages,
            evaluation_table,
            client.alive_evaluations,
        )

    @dlt.resource(name="dataset_items", write_disposition=MERGE)
    def dataset_items() -> Iterator[Any]:
        """Every item is listed (the API cannot sort or filter them by `updated_at`); only the
        ones whose content differs from the warehouse are loaded."""
        progress = counters["dataset_items"]
        state = dlt.current.resource_state()
        first_sync = not state.get("created")
        in_warehouse = known.fingerprints.get(ENTITY_DATASET_ITEM, {})
        compare_with = {} if full_refresh else in_warehouse
        flagged = known.flagged.get(ENTITY_DATASET_ITEM, set())
        seen: set[str] = set()
        buffer: list[Row] = []
        newest: datetime | None = None
        referenced: set[str] = set()  # datasets the items point at
        for page in client.item_pages(progress):
            before = len(buffer)
            for row in page.data:
                rid = row_id(row, "dataset_items")
                if rid in seen:  # pushed onto the next page by an item created meanwhile
                    continue
                seen.add(rid)
                if isinstance(row.get("dataset"), str):
                    referenced.add(row["dataset"])
                changed_at = updated_at(row, "dataset_items")
                newest = changed_at if newest is None else max(newest, changed_at)
                if rid in flagged or compare_with.get(rid) != fingerprint(row):
                    buffer.append(row)
            progress.page_done(len(buffer) - before)
            if len(buffer) >= YIELD_BATCH_ROWS:
                yield _to_table("dataset_items", item_table(buffer, synced_at))
                buffer = []
        if buffer or first_sync:
            yield _to_table("dataset_items", item_table(buffer, synced_at))
        if first_sync:
            yield _to_table("tombstones", tombstone_table(ENTITY_DATASET_ITEM, [], synced_at))
        yield from unknown_datasets(referenced, progress)
        if reconcile:
            yield from flag_vanished(
                ENTITY_DATASET_ITEM, set(in_warehouse), seen, client.alive_items, progress
            )
        state["created"] = True
        if newest is not None:  # informational (`labsync status`): the newest change seen
            state["cursor"] = newest.isoformat()

    def unknown_datasets(referenced: set[str], progress: ResourceStats) -> Iterator[Any]:
        """Datasets that items point at but the warehouse lacks: the API still lists items of
        soft-deleted datasets, and a dataset may be created after the datasets listing ran.
        Live ones are loaded, vanished ones flagged, so no item is left without its dataset
        (usually no request at all: every referenced dataset is known). dlt starts resources
        in order, so the datasets listing of this sync has already run; were it not, a dataset
        would only be loaded twice (and merged)."""
        unknown = sorted(
            referenced
            - set(known.fingerprints.get(ENTITY_DATASET, {}))
            - known.flagged.get(ENTITY_DATASET, set())
            - listed_ids.get(ENTITY_DATASET, set())
        )
        if not unknown:
            return
        found = client.datasets_by_id(unknown, progress)
        if found:
            yield _to_table("datasets", dataset_table(list(found.values()), synced_at))
        gone = [i for i in unknown if i not in found]
        if gone:
            logger.info("dataset_items: %d items point at deleted datasets", len(gone))
            yield _to_table("tombstones", tombstone_table(ENTITY_DATASET, gone, datetime.now(UTC)))

    def read_window(window: tuple[datetime, datetime], progress: ResourceStats) -> list[Any]:
        """Every event of one window, paging with the `(timestamp, uuid)` keyset."""
        start, end = window
        events: list[EvaluationEvent] = []
        after: tuple[datetime, str] | None = None
        for _ in range(MAX_QUERY_PAGES):
            sql = evaluation_results_query(start, end, after, options.page_size)
            answer = client.query(sql, progress)
            page = [parse_event(row) for row in answer.rows]
            events.extend(page)
            # a full page may have more behind it whatever `hasMore` says
            if not page or (len(page) < options.page_size and answer.has_more is not True):
                return events
            last = (page[-1].timestamp, page[-1].uuid)
            if after is not None and (last == after or last[0] < after[0]):
                raise ApiError(f"Query API paging did not advance past {after[0].isoformat()}")
            after = last
        raise ApiError(f"more than {MAX_QUERY_PAGES} query pages in window {start}..{end}")

    def read_windows(
        windows: list[tuple[datetime, datetime]], progress: ResourceStats
    ) -> Iterator[list[EvaluationEvent]]:
        """Windows in order, up to `options.concurrency` queries in flight."""
        if not windows:
            return
        pool = ThreadPoolExecutor(max_workers=options.concurrency)
        try:
            upcoming = iter(windows)
            pending: deque[Future[list[EvaluationEvent]]] = deque(
                pool.submit(read_window, w, progress) for w in islice(upcoming, options.concurrency)
            )
            while pending:
                events = pending.popleft().result()
                following = next(upcoming, None)
                if following is not None:
                    pending.append(pool.submit(read_window, following, progress))
                yield events
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    @dlt.resource(name="evaluation_results", write_disposition=MERGE)
    def evaluation_results() -> Iterator[Any]:
        """`$ai_evaluation` events from the saved cursor minus the ingestion-lag lookback."""
        progress = counters["evaluation_results"]
        state = dlt.current.resource_state()
        first_sync = not state.get("created")
        end = datetime.now(UTC)
        lookback = timedelta(seconds=options.lookback_s)
        saved = None if full_refresh else state.get("cursor")
        # events already loaded from the lookback zone: read again but not loaded again
        saved_recent = {} if full_refresh else state.get("recent", {})
        loaded_recently = {uuid for uuids in saved_recent.values() for uuid in uuids}
        if saved:
            start: datetime | None = parse_timestamp(saved) - lookback
        else:
            # first sync: one query finds the oldest event, so empty years cost no queries
            probe = client.query(evaluation_results_query(options.start, end, None, 1), progress)
            oldest = parse_event(probe.rows[0]).timestamp if probe.rows else None
            start = window_floor(oldest, options.window_hours) if oldest else None
            start = max(start, options.start) if start else None
        windows = query_windows(start, end, options.window_hours) if start else []
        logger.info("evaluation_results: %d query windows from %s", len(windows), start)
        keep_from = end - lookback  # the next sync reads again from here
        recent = RecentEvents(saved_recent, keep_from)
        emitted = False
        for events in read_windows(windows, progress):
            fresh = [e for e in events if e.uuid not in loaded_recently]
            recent.add(events)
            progress.page_done(len(fresh))
            if fresh:
                emitted = True
                yield _to_table("evaluation_results", result_table(fresh, synced_at))
        if first_sync and not emitted:
            yield _to_table("evaluation_results", result_table([], synced_at))
        state["created"] = True
        state["cursor"] = end.isoformat()
        state["recent"] = recent.buckets

    return [datasets, dataset_items, evaluations, evaluation_results]
