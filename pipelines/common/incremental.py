"""Change tracking for lists sorted by `updated_at` descending.

Why not `dlt.sources.incremental`: rows that must be re-read whatever their cursor (runs
still in progress) would be filtered out by it, and rows inside the lookback window would
be loaded again on every sync. This tracker keeps, in the resource state, the cursor plus a
fingerprint of each row in the lookback window and of each row still being watched, so a
re-read row is emitted only when its content changed. The state is written only after the
listing finished; dlt commits it together with the loaded rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from .arrow import parse_timestamp

TRow = dict[str, Any]


class ChangeTracker:
    """Selects new or changed rows from newest-first pages and records what it saw."""

    def __init__(
        self,
        state: dict[str, Any],
        *,
        updated_at: Callable[[TRow], datetime],
        fingerprint: Callable[[TRow], str],
        lookback_s: float,
        full_refresh: bool,
        watch: Callable[[TRow], bool] = lambda row: False,
    ) -> None:
        self._state = state
        self._updated_at = updated_at
        self._fingerprint = fingerprint
        self._watch = watch
        self._lookback = timedelta(seconds=lookback_s)
        saved = None if full_refresh else state.get("cursor")
        self.cursor: datetime | None = parse_timestamp(saved) if saved else None
        self.stop_at = self.cursor - self._lookback if self.cursor else None
        self._old_window: dict[str, str] = {} if full_refresh else dict(state.get("window", {}))
        self._old_watch: dict[str, str] = {} if full_refresh else dict(state.get("watch", {}))
        self._max_seen = self.cursor
        self._seen: set[str] = set()
        # id -> (updated_at, fingerprint, still watched) for rows that may go into the state
        self._tracked: dict[str, tuple[datetime, str, bool]] = {}

    def select(self, page: Iterable[TRow]) -> tuple[list[TRow], bool]:
        """Rows of `page` to load, and whether the listing reached rows older than the cursor."""
        selected: list[TRow] = []
        reached_end = False
        for row in page:
            ts = self._updated_at(row)
            if self.stop_at is not None and ts < self.stop_at:
                reached_end = True
                continue
            row_id = str(row["id"])
            if row_id in self._seen:  # a row that slid onto the next page while paging
                continue
            self._seen.add(row_id)
            if self._max_seen is None or ts > self._max_seen:
                self._max_seen = ts
            if self._is_unchanged(
                row, ts, self._old_window.get(row_id) or self._old_watch.get(row_id)
            ):
                continue
            selected.append(row)
        return selected, reached_end

    def pending_watch_ids(self) -> list[str]:
        """Watched ids the listing did not reach: re-read them by id."""
        return [row_id for row_id in self._old_watch if row_id not in self._seen]

    def select_refreshed(self, rows: Iterable[TRow]) -> list[TRow]:
        """Of rows re-read by id, those whose content changed."""
        selected = []
        for row in rows:
            row_id = str(row["id"])
            if row_id in self._seen:
                continue
            self._seen.add(row_id)
            if not self._is_unchanged(row, self._updated_at(row), self._old_watch.get(row_id)):
                selected.append(row)
        return selected

    def _is_unchanged(self, row: TRow, ts: datetime, previous: str | None) -> bool:
        watched = self._watch(row)
        assert self._max_seen is not None
        if previous is None and not watched and ts < self._max_seen - self._lookback:
            return False  # never fingerprinted and outside the new window: nothing to compare
        fingerprint = self._fingerprint(row)
        self._tracked[str(row["id"])] = (ts, fingerprint, watched)
        return previous == fingerprint

    def commit(self) -> None:
        """Write the new cursor and fingerprints into the resource state."""
        if self._max_seen is None:
            return
        threshold = self._max_seen - self._lookback
        self._state["cursor"] = self._max_seen.isoformat()
        self._state["window"] = {
            row_id: fp for row_id, (ts, fp, _) in self._tracked.items() if ts >= threshold
        }
        self._state["watch"] = {
            row_id: fp for row_id, (_, fp, watched) in self._tracked.items() if watched
        }
