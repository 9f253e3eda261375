"""Thread-safe per-resource counters shown as progress and stored in the sync summary."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from . import progress

logger = logging.getLogger("labsync")


@dataclass
class ResourceStats:
    """What one resource did during a sync."""

    name: str
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    pages: int = 0
    rows: int = 0
    # items the API listed so far, of `total` it announced (Model Lab's meta.page.total,
    # PostHog's count): the progress bar and its ETA; None when the API gives no total
    listed: int = 0
    total: int | None = None
    source: str | None = None
    started: float = field(default_factory=time.monotonic, repr=False)
    last_report: float = field(default_factory=time.monotonic, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, requests: int = 0, retries: int = 0, throttled: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.throttled += throttled
        if requests:  # a heartbeat for resources that emit rows only at the end (artifact walks)
            progress.update(self)

    def listing(self, items: int, total: int | None = None) -> None:
        """A list page of `items`; `total` once per listing, when the API announces one."""
        with self._lock:
            self.listed += items
            if total is not None:
                self.total = (self.total or 0) + total

    def page_done(self, rows: int) -> None:
        """Count a page and its emitted rows, and show progress."""
        with self._lock:
            self.pages += 1
            self.rows += rows
        progress.update(self)

    def describe(self) -> str:
        return (
            f"{self.rows} rows, {self.pages} pages, {self.requests} requests, "
            f"{self.retries} retries, {self.throttled} throttled"
        )


class SyncStats:
    """All resource counters of one sync, created on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.resources: dict[str, ResourceStats] = {}

    def __getitem__(self, name: str) -> ResourceStats:
        with self._lock:
            if name not in self.resources:
                self.resources[name] = ResourceStats(name)
            return self.resources[name]
