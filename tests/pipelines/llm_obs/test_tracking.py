"""What the LLM Obs source remembers between syncs."""

from __future__ import annotations

from typing import Any

from pipelines.llm_obs.tracking import EntityTracker, Fingerprints


def test_entity_tracker_changes_vanishes_and_returns() -> None:
    state: dict[str, Any] = {}
    first = EntityTracker(state, full_refresh=False)
    assert first.first_sync
    assert first.changed("a", "1") and first.changed("b", "1")
    assert not first.changed("a", "1")  # listed twice in one sync: once
    assert first.finish() == (set(), set())

    second = EntityTracker(state, full_refresh=False)
    assert not second.first_sync
    assert not second.changed("a", "1")
    assert second.changed("c", "1")
    assert second.finish() == ({"b"}, set())
    assert state["vanished"] == ["b"]

    third = EntityTracker(state, full_refresh=False)
    for row_id in ("a", "c"):
        third.changed(row_id, "1")
    assert third.changed("b", "1")  # back: loaded again even with the same content
    assert third.finish() == (set(), {"b"})
    assert state["vanished"] == []


def test_entity_tracker_full_refresh_reloads_but_still_sees_vanished() -> None:
    state: dict[str, Any] = {"fingerprints": {"a": "1", "b": "1"}, "vanished": []}
    tracker = EntityTracker(state, full_refresh=True)
    assert tracker.changed("a", "1")
    assert tracker.finish() == ({"b"}, set())


def test_fingerprints_forget_gone_parents() -> None:
    state: dict[str, Any] = {}
    fps = Fingerprints(state, "drafts", full_refresh=False)
    assert fps.changed("d1", "x")
    fps.remember("d1", "x")
    fps.remember("d2", "y")
    assert not fps.changed("d1", "x") and fps.changed("d1", "z")
    fps.keep_only(["d2"])
    assert state == {"drafts": {"d2": "y"}}
    assert Fingerprints(state, "drafts", full_refresh=True).changed("d2", "y")
