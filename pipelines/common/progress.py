"""What a running sync shows: the phases as they start and, per resource, rows, pages,
requests, rate and (where the API reports a total) a bar with an ETA.

On a terminal (`live()` around the command) a rich display on stderr, log lines scrolling
above it; otherwise (cron, pipes, `--log-format json`) one INFO line per phase and a plain
line per resource at most every `INTERVAL_S`. `ResourceStats` calls `update()` on every page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from dlt.common.runtime.collector_base import Collector
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from . import memory

if TYPE_CHECKING:
    from .stats import ResourceStats

logger = logging.getLogger("labsync.progress")

INTERVAL_S = 5.0
PHASES = ("extract", "normalize", "load", "models", "audits", "publish")

_lock = threading.Lock()
_display: Progress | None = None
_tasks: dict[int, TaskID] = {}
_source: str | None = None  # the source being extracted, to label its resources
_last_line = time.monotonic()  # when the last plain progress line was logged


def phase(name: str, detail: str = "") -> None:
    """A phase starts: extract/normalize/load (per source), models, audits, publish."""
    global _source, _last_line
    if name == "extract":
        _source = detail or None
    _last_line = time.monotonic()
    logger.info("phase %s%s", name, f" ({detail})" if detail else "")


def label(stats: ResourceStats) -> str:
    return f"{stats.source}/{stats.name}" if stats.source else stats.name


def describe(stats: ResourceStats) -> str:
    """`1200/4000 listed (30%), 1800 rows, 12 pages, 13 requests, 950 rows/s, ETA 3s`."""
    elapsed = max(time.monotonic() - stats.started, 1e-6)
    parts = []
    if stats.total:
        share = min(stats.listed / stats.total, 1.0)
        parts.append(f"{stats.listed}/{stats.total} listed ({share:.0%})")
    parts += [
        f"{stats.rows} rows",
        f"{stats.pages} pages",
        f"{stats.requests} requests",
        f"{stats.rows / elapsed:.0f} rows/s",
    ]
    if stats.retries or stats.throttled:
        parts.append(f"{stats.retries} retries, {stats.throttled} throttled")
    if stats.total and 0 < stats.listed < stats.total:
        parts.append(f"ETA {elapsed * (stats.total - stats.listed) / stats.listed:.0f}s")
    return ", ".join(parts)


def update(stats: ResourceStats) -> None:
    """A page was read: refresh the live display, or log a line at most every INTERVAL_S."""
    if stats.source is None:
        stats.source = _source
    display = _display
    if display is None:
        global _last_line
        now = time.monotonic()
        # each resource at most every INTERVAL_S, and no silence longer than that while any
        # resource makes progress
        if now - stats.last_report < INTERVAL_S and now - _last_line < INTERVAL_S:
            return
        stats.last_report = _last_line = now
        logger.info("%s: %s", label(stats), describe(stats))
        return
    with _lock:
        task = _tasks.get(id(stats))
        if task is None:
            task = _tasks[id(stats)] = display.add_task(label(stats), total=None, detail="")
    counters = f"{stats.rows} rows, {stats.pages} pages, {stats.requests} req"
    if stats.retries or stats.throttled:
        counters += f", {stats.retries} retries"
    elapsed = max(time.monotonic() - stats.started, 1e-6)
    display.update(
        task,
        total=stats.total or None,
        completed=min(stats.listed, stats.total) if stats.total else stats.rows,
        detail=f"{counters}, {stats.rows / elapsed:.0f} rows/s",
    )


@contextmanager
def live(stream: TextIO) -> Iterator[Console | None]:
    """A rich display on `stream` while the block runs, when it is a terminal; yields the
    console log handlers must write through (None: no display, log as usual)."""
    global _display
    if not stream.isatty():
        yield None
        return
    console = Console(file=stream, stderr=True)
    display = Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(bar_width=24),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    with display:
        _display = display
        try:
            yield console
        finally:
            _display = None
            _tasks.clear()


class DltPhases(Collector):
    """dlt's progress hook, used for its step starts only: extract, normalize, load."""

    def update(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def _start(self, step: str) -> None:
        pass

    def _stop(self) -> None:
        pass

    def on_start_trace_step(self, trace: Any, step: str, pipeline: Any) -> None:
        # the one hook between dlt's extract and its load in `run`; an extract of no rows
        # left nothing worth a release (~60 ms)
        if step == "load" and _rows_normalized(trace):
            memory.release()
        if step in PHASES:
            phase(step, pipeline.pipeline_name.removeprefix("labsync_"))


def _rows_normalized(trace: Any) -> int:
    """Data rows the run's normalize step wrote (dlt's own tables aside); 1 when unknown."""
    for step in reversed(getattr(trace, "steps", None) or []):
        if step.step == "normalize":
            counts = getattr(step.step_info, "row_counts", None)
            if counts is None:
                return 1
            return sum(n for table, n in counts.items() if not table.startswith("_dlt"))
    return 1
