"""SeenIds: the compact set of ids a listing saw, and the tracker's memory on a long listing."""

from __future__ import annotations

import random
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipelines.common.incremental import ChangeTracker, SeenIds, watch_entries

EDGES = [
    "0",
    "1",
    "-1",
    str(2**63 - 1),
    str(-(2**63)),
    str(2**63 - 2),
    str(-(2**63) + 1),
]
# not the canonical decimal form of an int64: kept apart from the numbers they resemble
OTHERS = ["007", "-0", "+7", " 7", "7_0", str(2**63), str(-(2**63) - 1), "", "abc", "٣", "1e3"]


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SeenIds, "MERGE_AT", 3)  # merge into the array every few ids


@pytest.mark.usefixtures("small_batches")
def test_ids_at_the_int64_edges_and_lookalikes_are_each_seen_once() -> None:
    seen = SeenIds()
    ids = EDGES + OTHERS + ["7"]
    assert seen.add_many(ids) == [True] * len(ids)
    assert len(seen) == len(ids)
    assert seen.add_many(list(reversed(ids))) == [False] * len(ids)
    assert seen.contains_many(ids) == [True] * len(ids)
    assert seen.contains_many(["8", "07", "-2", str(2**63 - 3), "x"]) == [False] * 5
    assert "7" in seen and "0007" not in seen and 7 not in seen


@pytest.mark.usefixtures("small_batches")
def test_duplicates_within_and_across_batches_are_new_only_the_first_time() -> None:
    seen = SeenIds()
    assert seen.add_many(["5", "5", "3", "5"]) == [True, False, True, False]
    assert seen.add_many(["3", "9", "1", "9", "2"]) == [False, True, True, False, True]
    assert len(seen) == 5


@pytest.mark.usefixtures("small_batches")
def test_matches_a_plain_set_on_random_pages() -> None:
    randomness = random.Random(13)
    pool = [str(randomness.randint(-(2**63), 2**63 - 1)) for _ in range(400)]
    pool += [str(n) for n in range(-50, 50)] + EDGES + OTHERS
    seen, model = SeenIds(), set[str]()
    for _ in range(60):
        page = randomness.choices(pool, k=randomness.randint(0, 25))
        expected = []
        for row_id in page:
            expected.append(row_id not in model)
            model.add(row_id)
        assert seen.add_many(page) == expected
        probe = randomness.choices(pool, k=20)
        assert seen.contains_many(probe) == [p in model for p in probe]
    assert len(seen) == len(model)


def _tracker(state: dict[str, Any]) -> ChangeTracker:
    return ChangeTracker(
        state,
        updated_at=lambda row: row["ts"],
        fingerprint=lambda row: row["name"],
        lookback_s=60,
        full_refresh=False,
        watch=lambda row: False,
    )


@pytest.mark.usefixtures("small_batches")
def test_a_row_sliding_onto_later_pages_is_selected_once() -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [{"id": str(n), "ts": base - timedelta(minutes=n), "name": "r"} for n in range(20)]
    pages = [rows[0:5], [*rows[4:10], rows[1]], rows[9:15], rows[14:20] + rows[0:3]]
    changes = _tracker({})
    selected = [row["id"] for page in pages for row in changes.select(page)[0]]
    assert selected == [str(n) for n in range(20)]
    refreshed = changes.select_refreshed([rows[3], {"id": "20", "ts": base, "name": "r"}])
    assert [row["id"] for row in refreshed] == ["20"]


def test_a_full_listing_keeps_a_few_bytes_per_id() -> None:
    """A full listing of 200k runs: the tracker's memory once it ends (a set of id strings
    held ~80 bytes an id, ~100 MiB at 1M runs; the array holds 8, plus one batch)."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    changes = _tracker({})
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for start in range(0, 200_000, 1_000):
            page = [
                {"id": str(n), "ts": base - timedelta(seconds=n), "name": "r"}
                for n in range(start, start + 1_000)
            ]
            assert len(changes.select(page)[0]) == 1_000
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 200_000 * 8 + SeenIds.MERGE_AT * 80 + 2**20, f"{held:,} bytes held"


@pytest.mark.usefixtures("small_batches")
def test_rows_still_watched_are_kept_in_columns() -> None:
    """A full listing keeps the id, fingerprint and time of every run in progress for the
    watch list (~110k at 1M runs): ~165 bytes a row as columns, ~290 as a dict of tuples."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    state: dict[str, Any] = {}
    changes = ChangeTracker(
        state,
        updated_at=lambda row: row["ts"],
        fingerprint=lambda row: f"{row['n']:024x}",
        lookback_s=60,
        full_refresh=False,
        watch=lambda row: True,
    )
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for start in range(0, 50_000, 1_000):
            page = [
                {"id": str(n), "n": n, "ts": base - timedelta(seconds=n)}
                for n in range(start, start + 1_000)
            ]
            changes.select(page)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 50_000 * 210, f"{held / 50_000:.0f} bytes a row"
    changes.commit()
    assert len(watch_entries(state)) == 50_000
    assert watch_entries(state)["49999"] == (
        f"{49_999:024x}",
        (base - timedelta(seconds=49_999)).timestamp(),
    )
    assert list(state["window"]) == [str(n) for n in range(61)]  # within the 60 s lookback
