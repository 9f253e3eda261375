"""ChangeTracker: early stop, lookback fingerprints, watched rows and their re-read schedule."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.common.arrow import parse_timestamp
from pipelines.common.incremental import (
    ChangeTracker,
    WatchEntries,
    WatchFiles,
    WatchSchedule,
    watch_entries,
)


def row(row_id: int, ts: str, status: str = "completed", name: str = "r") -> dict[str, Any]:
    return {"id": str(row_id), "updated_at": ts, "status": status, "name": name}


def tracker(
    state: dict[str, Any],
    full_refresh: bool = False,
    now: str = "2026-01-01T10:00:40Z",
    schedule: WatchSchedule | None = None,
    watch_files: WatchFiles | None = None,
    rebuild_watch: Callable[[], WatchEntries] | None = None,
) -> ChangeTracker:
    def updated(r: dict[str, Any]) -> datetime:
        return parse_timestamp(r["updated_at"])

    return ChangeTracker(
        state,
        updated_at=updated,
        fingerprint=lambda r: f"{r['status']}|{r['name']}",
        lookback_s=60,
        full_refresh=full_refresh,
        watch=lambda r: r["status"] == "running",
        schedule=schedule,
        now=parse_timestamp(now),
        watch_files=watch_files,
        rebuild_watch=rebuild_watch,
    )


PAGE = [
    row(3, "2026-01-01T10:00:30Z"),
    row(2, "2026-01-01T10:00:00Z", status="running"),
    row(1, "2026-01-01T09:00:00Z"),
]


def test_first_sync_selects_everything_and_saves_cursor() -> None:
    state: dict[str, Any] = {}
    changes = tracker(state)
    selected, reached_end = changes.select(PAGE)
    assert [r["id"] for r in selected] == ["3", "2", "1"]
    assert not reached_end
    changes.commit()
    assert parse_timestamp(state["cursor"]) == parse_timestamp("2026-01-01T10:00:30Z")
    assert set(state["window"]) == {"3", "2"}  # within 60 s of the cursor
    assert set(watch_entries(state)) == {"2"}
    assert parse_timestamp(state["listed_at"]) == parse_timestamp("2026-01-01T10:00:40Z")


def test_second_sync_skips_unchanged_and_stops_early() -> None:
    state: dict[str, Any] = {}
    first = tracker(state)
    first.select(PAGE)
    first.commit()
    second = tracker(state)
    selected, reached_end = second.select(PAGE)
    assert selected == []
    assert reached_end  # row 1 is older than cursor - lookback
    assert second.pending_watch_ids() == []  # row 2 was re-read by the listing itself


def test_change_inside_window_and_watched_row_refresh() -> None:
    state: dict[str, Any] = {}
    first = tracker(state)
    first.select(PAGE)
    first.commit()
    changed = [row(3, "2026-01-01T10:00:30Z", name="renamed")]
    second = tracker(state)
    selected, _ = second.select(changed)
    assert [r["name"] for r in selected] == ["renamed"]
    # row 2 (running) was not listed this time: it must be re-read by id
    assert second.pending_watch_ids() == ["2"]
    refreshed = second.select_refreshed([row(2, "2026-01-01T10:00:00Z", status="completed")])
    assert [r["status"] for r in refreshed] == ["completed"]
    second.commit()
    assert watch_entries(state) == {}  # completed runs are no longer watched


def test_full_refresh_ignores_state() -> None:
    state: dict[str, Any] = {}
    first = tracker(state)
    first.select(PAGE)
    first.commit()
    selected, _ = tracker(state, full_refresh=True).select(PAGE)
    assert len(selected) == 3


def test_duplicate_row_from_page_drift_is_selected_once() -> None:
    changes = tracker({})
    first, _ = changes.select(PAGE[:2])
    second, _ = changes.select(PAGE[1:])
    assert [r["id"] for r in first + second] == ["3", "2", "1"]


def test_cursor_far_in_future_selects_nothing() -> None:
    state = {"cursor": "2999-01-01T00:00:00+00:00"}
    selected, reached_end = tracker(state).select(PAGE)
    assert selected == [] and reached_end


def test_window_already_reread_by_a_later_listing_is_not_read_again() -> None:
    state: dict[str, Any] = {}
    first = tracker(state, now="2026-01-01T10:00:31Z")  # listed right after the last change
    first.select(PAGE)
    first.commit()
    second = tracker(state, now="2026-01-01T10:05:00Z")
    # the first listing may have missed rows that became visible late: re-read the window
    # (what the first listing saw, stamped before its start less the lookback, is not needed)
    assert second.stop_at == parse_timestamp("2026-01-01T09:59:31Z")
    second.select(PAGE)
    second.commit()
    # the second listing ran long after the window: it saw every row in it
    third = tracker(state, now="2026-01-01T10:10:00Z")
    assert third.stop_at == parse_timestamp("2026-01-01T10:00:30Z")  # the cursor itself
    selected, reached_end = third.select(PAGE)
    assert selected == [] and reached_end


def reread(sync: ChangeTracker, stamps: dict[str, str]) -> list[str]:
    """The ids the schedule wants now, served back unchanged."""
    due = sync.pending_watch_ids()
    assert sync.select_refreshed([row(int(i), stamps[i], status="running") for i in due]) == []
    return due


def watched_state(*stamps: str) -> dict[str, Any]:
    """State after a sync that watched one running row per stamp (ids 1..n)."""
    state: dict[str, Any] = {}
    first = tracker(state, now="2026-01-01T10:00:40Z")
    first.select([row(i, ts, status="running") for i, ts in enumerate(stamps, start=1)])
    first.pending_watch_ids()
    first.commit()
    return state


def test_recent_watched_rows_are_reread_every_sync_and_old_ones_on_a_slower_schedule() -> None:
    old = "2025-06-01T00:00:00Z"
    state = watched_state("2026-01-01T10:00:30Z", *[old] * 200)
    stamps = {str(i): old for i in range(2, 202)} | {"1": "2026-01-01T10:00:30Z"}
    hourly = WatchSchedule(recent_s=86_400, stale_every_s=3_600)
    # five minutes later (the listing reaches none of them): the recent row and a slice
    later = tracker(state, now="2026-01-01T10:05:40Z", schedule=hourly)
    later.select([])
    due = reread(later, stamps)
    assert "1" in due
    assert 2 <= len(due) < 60  # about 5/60 of the 200 old rows
    later.commit()
    assert len(watch_entries(state)) == 201  # rows not due keep their entry
    # every old row is re-read once per interval (the recent one every sync)
    seen: list[str] = list(due)
    for minute in range(10, 61, 5):  # up to one interval after the first sync
        sync = tracker(
            state, now=f"2026-01-01T{10 + minute // 60}:{minute % 60:02d}:40Z", schedule=hourly
        )
        sync.select([])
        picked = reread(sync, stamps)
        seen += [i for i in picked if i != "1"]
        sync.commit()
    assert sorted(seen, key=int) == [str(i) for i in range(1, 202)]  # each exactly once


def test_watched_row_due_but_gone_is_dropped_and_a_long_pause_rereads_all() -> None:
    state = watched_state("2025-06-01T00:00:00Z", "2025-06-02T00:00:00Z")
    daily = WatchSchedule(recent_s=3_600, stale_every_s=86_400)
    sync = tracker(state, now="2026-01-03T00:00:00Z", schedule=daily)  # two days later
    sync.select([])
    assert sorted(sync.pending_watch_ids()) == ["1", "2"]
    refreshed = sync.select_refreshed([row(2, "2025-06-02T00:00:00Z", status="completed")])
    assert [r["id"] for r in refreshed] == ["2"]
    sync.commit()
    assert watch_entries(state) == {}  # 1 vanished, 2 completed


def test_watch_state_without_timestamps_is_reread() -> None:
    state = {"cursor": "2026-01-01T10:00:30+00:00", "watch": {"7": "running|r"}}
    daily = WatchSchedule(recent_s=3_600, stale_every_s=86_400)
    sync = tracker(state, schedule=daily)
    assert sync.pending_watch_ids() == ["7"]
    assert sync.select_refreshed([row(7, "2025-01-01T00:00:00Z", status="running")]) == []
    sync.commit()
    assert watch_entries(state)["7"][0] == "running|r"


def first_sync_into_files(tmp_path: Path) -> tuple[dict[str, Any], WatchFiles]:
    files = WatchFiles(tmp_path / "watch")
    state: dict[str, Any] = {}
    first = tracker(state, watch_files=files)
    first.select([*PAGE, row(4, "2026-01-01T09:30:00Z", status="running")])
    first.commit()
    return state, files


def test_watch_list_lives_in_a_file_the_state_names(tmp_path: Path) -> None:
    state, files = first_sync_into_files(tmp_path)
    assert "watch" not in state  # only the name travels with dlt's state
    assert [p.name for p in files.folder.iterdir()] == [state["watch_file"]]
    later = tracker(state, now="2026-01-01T10:05:00Z", watch_files=files)
    later.select([])
    assert sorted(later.pending_watch_ids()) == ["2", "4"]


def test_unchanged_watch_list_keeps_its_file(tmp_path: Path) -> None:
    state, files = first_sync_into_files(tmp_path)
    name = state["watch_file"]
    written = (files.folder / name).stat().st_mtime_ns
    quiet = tracker(state, now="2026-01-01T10:05:00Z", watch_files=files)
    quiet.select([])
    rows = {
        "2": row(2, "2026-01-01T10:00:00Z", "running"),
        "4": row(4, "2026-01-01T09:30:00Z", "running"),
    }
    assert quiet.select_refreshed([rows[i] for i in quiet.pending_watch_ids()]) == []
    quiet.commit()
    assert state["watch_file"] == name
    assert (files.folder / name).stat().st_mtime_ns == written


def test_changed_watch_list_keeps_the_committed_file_until_the_next_sync(tmp_path: Path) -> None:
    state, files = first_sync_into_files(tmp_path)
    first_name = state["watch_file"]
    # a sync whose load never lands: its state is dropped, its new file must not matter
    lost_state = copy.deepcopy(state)
    lost = tracker(lost_state, now="2026-01-01T10:05:00Z", watch_files=files)
    lost.select([row(4, "2026-01-01T10:04:00Z", status="completed")])
    lost.commit()
    assert lost_state["watch_file"] != first_name
    assert (files.folder / first_name).exists()  # the committed state still names it
    retry = tracker(state, now="2026-01-01T10:06:00Z", watch_files=files)
    retry.select([row(4, "2026-01-01T10:04:00Z", status="completed")])
    assert retry.pending_watch_ids() == ["2"]  # the committed list, 4 listed as completed
    retry.commit()
    names = {p.name for p in files.folder.iterdir()}
    assert names == {first_name, state["watch_file"]}  # the previous and the new one


@pytest.mark.parametrize("damage", ["missing", "unreadable"])
def test_lost_watch_file_lists_everything_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    state, files = first_sync_into_files(tmp_path)
    path = files.folder / state["watch_file"]
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:-20])
    with caplog.at_level(logging.WARNING):
        recovering = tracker(state, now="2026-01-01T10:05:00Z", watch_files=files)
    assert f"is {damage}" in caplog.text
    assert recovering.stop_at is None
    page = [*PAGE[:2], row(4, "2026-01-01T09:30:00Z", status="completed"), PAGE[2]]
    selected, reached_end = recovering.select(page)
    assert not reached_end
    # the run the lost file watched is found by the listing (3 and 2: unchanged in the window)
    assert [r["id"] for r in selected] == ["4", "1"]


def test_lost_watch_file_rebuilt_by_the_caller_keeps_the_listing_short(tmp_path: Path) -> None:
    state, files = first_sync_into_files(tmp_path)
    (files.folder / state["watch_file"]).unlink()
    rebuilt: WatchEntries = {"2": ("", parse_timestamp("2026-01-01T10:00:00Z").timestamp())}
    later = tracker(
        state, now="2026-01-01T10:05:00Z", watch_files=files, rebuild_watch=lambda: rebuilt
    )
    assert later.stop_at is not None
    later.select([])
    assert later.pending_watch_ids() == ["2"]
    # no fingerprint to compare with: the re-read row is loaded once
    assert len(later.select_refreshed([row(2, "2026-01-01T10:00:00Z", status="running")])) == 1
