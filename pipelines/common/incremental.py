"""Change tracking for lists sorted by `updated_at` descending.

Why not `dlt.sources.incremental`: rows that must be re-read whatever their cursor (runs
still in progress) would be filtered out by it, and rows inside the lookback window would
be loaded again on every sync. This tracker keeps, in the resource state, the cursor plus a
fingerprint of each row in the lookback window and of each row still being watched, so a
re-read row is emitted only when its content changed. The state is written only after the
listing finished; dlt commits it together with the loaded rows.

The lookback re-reads rows up to `lookback_s` older than the cursor, for rows that became
visible late. A listing that started at `listed_at` saw every row stamped before
`listed_at - lookback_s`, so the next listing stops there (but never above the cursor):
a window already re-read by a later listing is not read again.

Watched rows the listing did not reach are re-read by id. With a `WatchSchedule`, only those
updated recently are re-read every sync; older ones are re-read once per `stale_every_s`,
spread evenly over that interval by a hash of their id.

With a `WatchFiles` folder the watch list (~100k runs in progress at 1M runs) lives in a file
beside the pipeline, named by its content hash, and the state holds only that name: dlt
copies, hashes, compresses and stores the whole state on every sync, which made a sync where
nothing changed cost seconds at that size. The file is written before the state naming it is
committed, so the state and its watch list still advance together with the load.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from .arrow import parse_timestamp

TRow = dict[str, Any]
WatchEntries = dict[str, tuple[str, float | None]]  # id -> (fingerprint, updated_at epoch)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchSchedule:
    """When watched rows the listing did not reach are re-read by id.

    recent_s: rows updated less than this long ago are re-read every sync.
    stale_every_s: older rows are re-read once per this interval (0: every sync).
    """

    recent_s: float
    stale_every_s: float


class WatchList:
    """The saved watch list as columns: decoded without an object per entry, and scheduled
    with numpy (~100k runs in progress at 1M runs: a quiet sync must not loop over them)."""

    def __init__(
        self, ids: Sequence[str], fingerprints: Sequence[str], updated: Sequence[float | None]
    ) -> None:
        if not len(ids) == len(fingerprints) == len(updated):
            raise ValueError("watch list columns differ in length")
        self.ids, self.fingerprints, self.updated = ids, fingerprints, updated
        self._index: dict[str, int] | None = None

    @classmethod
    def of(cls, entries: Mapping[str, tuple[str, float | None]]) -> WatchList:
        return cls(
            list(entries), [e[0] for e in entries.values()], [e[1] for e in entries.values()]
        )

    def _position(self, row_id: str) -> int | None:
        if self._index is None:
            self._index = {row_id: i for i, row_id in enumerate(self.ids)}
        return self._index.get(row_id)

    def get(self, row_id: str) -> tuple[str, float | None] | None:
        i = self._position(row_id)
        return None if i is None else (self.fingerprints[i], self.updated[i])

    def __contains__(self, row_id: object) -> bool:
        return isinstance(row_id, str) and self._position(row_id) is not None

    def __len__(self) -> int:
        return len(self.ids)

    def items(self) -> Iterator[tuple[str, tuple[str, float | None]]]:
        return zip(self.ids, zip(self.fingerprints, self.updated, strict=True), strict=True)

    def due(self, schedule: WatchSchedule | None, now: float, last: float | None) -> list[str]:
        """The ids `schedule` wants re-read in a sync at epoch `now`, the previous committed
        sync having run at `last`: all of them without a schedule, after a pause of an interval
        or more, or without a `last`; else those updated recently (or when unknown), and each
        older one once per interval, at a phase of its own (a slice of them per sync)."""
        if schedule is None or last is None or schedule.stale_every_s <= 0:
            return list(self.ids)
        every = schedule.stale_every_s
        if now - last >= every:
            return list(self.ids)
        updated = np.array(self.updated, dtype=np.float64)  # None (unknown): NaN, always due
        due = np.isnan(updated) | (now - updated < schedule.recent_s)
        crc = np.fromiter((zlib.crc32(i.encode()) for i in self.ids), np.float64, len(self.ids))
        phase = crc / 2**32 * every
        due |= np.floor_divide(now - phase, every) > np.floor_divide(last - phase, every)
        return [self.ids[i] for i in np.flatnonzero(due)]


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class SeenIds:
    """The ids a listing has seen in one sync, compactly: a full listing sees every row.

    An id in canonical decimal form (the Model Lab's "2387") is kept as an int64: first in a
    small set, merged in batches into one sorted numpy array (8 bytes an id; a set of id
    strings held ~100 MiB at 1M runs, left behind in Python's heap after the listing). Any
    other id ("007", a UUID, beyond int64) stays a string in a set of its own.
    """

    MERGE_AT = 65_536  # recent ids held as Python ints before they go into the array

    def __init__(self) -> None:
        self._sorted = np.empty(0, np.int64)
        self._recent: set[int] = set()
        self._other: set[str] = set()

    def __len__(self) -> int:
        return self._sorted.size + len(self._recent) + len(self._other)

    def __contains__(self, row_id: object) -> bool:
        return isinstance(row_id, str) and self.contains_many([row_id])[0]

    def contains_many(self, ids: Sequence[str]) -> list[bool]:
        """Whether each of `ids` was seen (one array search for the lot)."""
        numbers = [_as_int64(row_id) for row_id in ids]
        in_sorted = self._in_sorted(numbers)
        return [
            row_id in self._other if number is None else next(in_sorted) or number in self._recent
            for row_id, number in zip(ids, numbers, strict=True)
        ]

    def add_many(self, ids: Sequence[str]) -> list[bool]:
        """Add `ids` in order; whether each was new (a repeat within `ids` is not)."""
        numbers = [_as_int64(row_id) for row_id in ids]
        in_sorted = self._in_sorted(numbers)
        new = []
        for row_id, number in zip(ids, numbers, strict=True):
            if number is None:
                fresh = row_id not in self._other
                self._other.add(row_id)
            else:
                fresh = not next(in_sorted) and number not in self._recent
                if fresh:
                    self._recent.add(number)
            new.append(fresh)
        if len(self._recent) >= self.MERGE_AT:
            self._merge()
        return new

    def _in_sorted(self, numbers: Sequence[int | None]) -> Iterator[bool]:
        """For each number of `numbers` (not None), whether the sorted array holds it."""
        wanted = np.fromiter((n for n in numbers if n is not None), np.int64)
        if not self._sorted.size or not wanted.size:
            return iter([False] * wanted.size)
        at = np.minimum(np.searchsorted(self._sorted, wanted), self._sorted.size - 1)
        return iter((self._sorted[at] == wanted).tolist())

    def _merge(self) -> None:
        # the recent ids are not in the array (add_many checked): insert them in place, O(n)
        recent = np.fromiter(self._recent, np.int64, len(self._recent))
        recent.sort()
        self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, recent), recent)
        self._recent.clear()


def _as_int64(row_id: str) -> int | None:
    """`row_id` as an int64 when it is one's canonical decimal form, else None."""
    if not row_id or len(row_id) > 20:
        return None
    try:
        number = int(row_id)
    except ValueError:
        return None
    # "007", "+7", " 7", "7_0" are other ids than "7"
    if str(number) != row_id or not INT64_MIN <= number <= INT64_MAX:
        return None
    return number


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
        schedule: WatchSchedule | None = None,
        now: datetime | None = None,
        watch_files: WatchFiles | None = None,
        rebuild_watch: Callable[[], WatchEntries] | None = None,
    ) -> None:
        self._state = state
        self._updated_at = updated_at
        self._fingerprint = fingerprint
        self._watch = watch
        self._schedule = schedule
        self._now = now or datetime.now(UTC)
        self._watch_files = watch_files
        self._rebuild_watch = rebuild_watch
        self._lookback = timedelta(seconds=lookback_s)
        saved = None if full_refresh else state.get("cursor")
        self.cursor: datetime | None = parse_timestamp(saved) if saved else None
        listed = state.get("listed_at")
        self._last_listed: datetime | None = parse_timestamp(listed) if listed else None
        self.stop_at = self.cursor - self._lookback if self.cursor else None
        if self.cursor and self._last_listed:  # the last listing saw what was older
            covered = min(self._last_listed - self._lookback, self.cursor)
            self.stop_at = max(self.cursor - self._lookback, covered)
        self._old_window: dict[str, str] = {} if full_refresh else dict(state.get("window", {}))
        # id -> (fingerprint, updated_at as epoch seconds or None when an older state lacks it)
        self._old_watch = WatchList([], [], [])
        self._watch_read_from: str | None = None  # the watch file `_old_watch` came from
        if not full_refresh:
            watched = self._read_watch(state)
            if watched is None:  # its file is gone: only a full listing finds what it held
                self.stop_at = None
            self._old_watch = watched or self._old_watch
        self._max_seen = self.cursor
        self._seen = SeenIds()
        self._pending: list[str] | None = None
        # rows that may go into the state (each id once: `_seen` lets a row through once), as
        # columns: a dict of tuples of a datetime took ~140 bytes more a row (~110k at 1M runs)
        self._tracked_ids: list[str] = []
        self._tracked_fingerprints: list[str] = []
        self._tracked_at = array("d")  # updated_at, epoch seconds
        self._tracked_watched = bytearray()  # 1: still watched

    def _read_watch(self, state: Mapping[str, Any]) -> WatchList | None:
        name = state.get("watch_file")
        if not name:
            return WatchList.of(watch_entries(state))
        packed = self._watch_files.read(name) if self._watch_files else None
        try:
            columns = orjson.loads(packed or b"null")
            watched = WatchList(columns["ids"], columns["fingerprints"], columns["updated"])
        except (ValueError, KeyError, TypeError):  # ValueError: bad JSON or lengths
            problem = "missing" if packed is None else "unreadable"
            where = self._watch_files.folder / name if self._watch_files else name
            if self._rebuild_watch is None:
                logger.warning("the watch list %s is %s: listing every row again", where, problem)
                return None
            # the rows still watched when they were last loaded: re-read (and loaded) once
            rebuilt = self._rebuild_watch()
            logger.warning(
                "the watch list %s is %s: re-reading the %d rows the warehouse holds as watched",
                where,
                problem,
                len(rebuilt),
            )
            return WatchList.of(rebuilt)
        self._watch_read_from = name
        return watched

    def select(self, page: Iterable[TRow]) -> tuple[list[TRow], bool]:
        """Rows of `page` to load, and whether the listing reached rows older than the cursor."""
        selected: list[TRow] = []
        reached_end = False
        listed: list[tuple[TRow, datetime, str]] = []
        for row in page:
            ts = self._updated_at(row)
            if self.stop_at is not None and ts < self.stop_at:
                reached_end = True
                continue
            listed.append((row, ts, str(row["id"])))
        new = self._seen.add_many([row_id for _, _, row_id in listed])
        for (row, ts, row_id), fresh in zip(listed, new, strict=True):
            if not fresh:  # a row that slid onto the next page while paging
                continue
            if self._max_seen is None or ts > self._max_seen:
                self._max_seen = ts
            previous = self._old_window.get(row_id)
            if previous is None and (entry := self._old_watch.get(row_id)):
                previous = entry[0]
            if self._is_unchanged(row, ts, previous):
                continue
            selected.append(row)
        return selected, reached_end

    def pending_watch_ids(self) -> list[str]:
        """Watched ids the listing did not reach and the schedule wants now: re-read them."""
        schedule, now = self._schedule, self._now.timestamp()
        last = self._last_listed.timestamp() if self._last_listed else None
        due = self._old_watch.due(schedule, now, last)
        listed = self._seen.contains_many(due)
        self._pending = [row_id for row_id, seen in zip(due, listed, strict=True) if not seen]
        return self._pending

    def select_refreshed(self, rows: Iterable[TRow]) -> list[TRow]:
        """Of rows re-read by id, those whose content changed."""
        selected = []
        rows = list(rows)
        new = self._seen.add_many([str(row["id"]) for row in rows])
        for row, fresh in zip(rows, new, strict=True):
            if not fresh:
                continue
            row_id = str(row["id"])
            entry = self._old_watch.get(row_id)
            previous = entry[0] if entry else None
            if not self._is_unchanged(row, self._updated_at(row), previous):
                selected.append(row)
        return selected

    def _is_unchanged(self, row: TRow, ts: datetime, previous: str | None) -> bool:
        watched = self._watch(row)
        assert self._max_seen is not None
        if previous is None and not watched and ts < self._max_seen - self._lookback:
            return False  # never fingerprinted and outside the new window: nothing to compare
        fingerprint = self._fingerprint(row)
        self._tracked_ids.append(str(row["id"]))
        self._tracked_fingerprints.append(fingerprint)
        self._tracked_at.append(ts.timestamp())
        self._tracked_watched.append(watched)
        return previous == fingerprint

    def commit(self) -> None:
        """Write the new cursor, the listing time and the fingerprints into the resource state."""
        if self._max_seen is None:
            return
        threshold = (self._max_seen - self._lookback).timestamp()
        self._state["cursor"] = self._max_seen.isoformat()
        self._state["listed_at"] = self._now.isoformat()
        tracked = zip(
            self._tracked_ids,
            self._tracked_fingerprints,
            self._tracked_at,
            self._tracked_watched,
            strict=True,
        )
        window: dict[str, str] = {}
        watched: WatchEntries = {}
        for row_id, fp, at, still_watched in tracked:
            if at >= threshold:
                window[row_id] = fp
            if still_watched:
                watched[row_id] = (fp, at)
        self._state["window"] = window
        asked = set(self._pending or ())
        previous = self._state.get("watch_file")
        # the old watch list's rows this sync listed or re-read (asked: re-read, maybe gone)
        old_ids = self._old_watch.ids
        reached = {
            row_id
            for row_id, seen in zip(old_ids, self._seen.contains_many(old_ids), strict=True)
            if seen or row_id in asked
        }
        if self._watch_read_from and not self._watch_changed(watched, reached):
            return  # the same watch list: its file stays, nothing to pack
        # watched rows neither listed nor due for a re-read keep their entry
        kept = {row_id: entry for row_id, entry in self._old_watch.items() if row_id not in reached}
        watch = sorted((kept | watched).items())
        if self._watch_files is None:
            # one JSON string, not a dict: dlt copies, encodes and hashes the whole state
            # several times per run, and a dict of ~100k watched runs made that seconds
            self._state["watch"] = orjson.dumps(dict(watch)).decode()
            return
        # columns, not a dict of pairs: a third of the time to decode
        ids, entries = zip(*watch, strict=True) if watch else ((), ())
        fingerprints, updated = zip(*entries, strict=True) if entries else ((), ())
        packed = orjson.dumps({"ids": ids, "fingerprints": fingerprints, "updated": updated})
        self._state["watch_file"] = self._watch_files.write(packed)
        self._state.pop("watch", None)
        # the committed state still names `previous` until this sync's load lands
        self._watch_files.prune(keep={previous, self._state["watch_file"]})

    def _watch_changed(self, watched: WatchEntries, reached: set[str]) -> bool:
        """Whether this sync's rows change the saved watch list: an entry added or changed,
        or a listed or re-read row (`reached`, of the old list) no longer watched (finished,
        or gone)."""
        old = self._old_watch
        if any(old.get(row_id) != entry for row_id, entry in watched.items()):
            return True
        return any(row_id not in watched for row_id in reached)


class WatchFiles:
    """Watch lists as files named by their content hash, in one folder per resource."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def read(self, name: str) -> bytes | None:
        try:
            return (self.folder / name).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, packed: bytes) -> str:
        """Store `packed` (durably, before a state names it); its file name."""
        name = f"{hashlib.blake2b(packed, digest_size=16).hexdigest()}.json"
        path = self.folder / name
        if path.exists():  # the same watch list as a sync before
            return name
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with open(partial, "wb") as handle:
            handle.write(packed)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return name

    def prune(self, keep: set[str | None]) -> None:
        for path in self.folder.glob("*"):
            if path.name not in keep:
                path.unlink(missing_ok=True)


def watch_entries(state: Mapping[str, Any]) -> WatchEntries:
    """The watch list saved in the state itself: id -> (fingerprint, updated_at epoch or None)."""
    saved = state.get("watch") or {}
    if isinstance(saved, str):  # packed (see `commit`); a dict in states before that
        saved = orjson.loads(saved)
    return {row_id: _watched(value) for row_id, value in saved.items()}


def _watched(value: Any) -> tuple[str, float | None]:
    """A saved watch entry: `[fingerprint, updated epoch]`, or a bare fingerprint (older state)."""
    if isinstance(value, list | tuple):
        return str(value[0]), float(value[1]) if value[1] is not None else None
    return str(value), None
