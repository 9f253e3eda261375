"""ChangeTracker: early stop, lookback fingerprints, watched rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipelines.common.arrow import parse_timestamp
from pipelines.common.incremental import ChangeTracker


def row(row_id: int, ts: str, status: str = "completed", name: str = "r") -> dict[str, Any]:
    return {"id": str(row_id), "updated_at": ts, "status": status, "name": name}


def tracker(state: dict[str, Any], full_refresh: bool = False) -> ChangeTracker:
    def updated(r: dict[str, Any]) -> datetime:
        return parse_timestamp(r["updated_at"])

    return ChangeTracker(
        state,
        updated_at=updated,
        fingerprint=lambda r: f"{r['status']}|{r['name']}",
        lookback_s=60,
        full_refresh=full_refresh,
        watch=lambda r: r["status"] == "running",
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
    assert set(state["watch"]) == {"2"}


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
    assert state["watch"] == {}  # completed runs are no longer watched


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
