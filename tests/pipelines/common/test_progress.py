"""Plain progress lines (cron, pipes): rows, pages, requests, rate, share of the API's total
and an ETA; phases as they start; no silence while a resource makes progress."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from pipelines.common import progress
from pipelines.common.stats import ResourceStats


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def lines() -> Iterator[list[str]]:
    log = logging.getLogger("labsync.progress")
    handler, level = Lines(), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield handler.lines
    log.removeHandler(handler)
    log.setLevel(level)


def test_a_line_names_the_share_of_the_total_and_an_eta(
    lines: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    progress.phase("extract", "model_lab")
    assert lines == ["phase extract (model_lab)"]
    monkeypatch.setattr(progress, "INTERVAL_S", 0.0)
    stats = ResourceStats("runs")
    stats.add(requests=1)
    stats.listing(50, total=200)
    stats.page_done(50)
    last = lines[-1]
    assert last.startswith("model_lab/runs: 50/200 listed (25%), 50 rows, 1 pages, 1 requests")
    assert "rows/s" in last and "ETA " in last


def test_lines_are_rate_limited(lines: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "INTERVAL_S", 3600.0)
    progress.phase("extract", "posthog")  # resets the silence timer
    stats = ResourceStats("datasets")
    for _ in range(100):
        stats.page_done(10)
    assert lines == ["phase extract (posthog)"]
    assert stats.rows == 1000 and stats.pages == 100
