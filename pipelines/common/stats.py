"""Thread-safe per-resource counters shown as progress and stored in the sync summary."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

logger = logging.getLogger("labsync")

PROGRESS_INTERVAL_S = 5.0


@dataclass
class ResourceStats:
    """What one resource did during a sync."""

    name: str
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    pages: int = 0
    rows: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _last_log: float = field(default_factory=time.monotonic, repr=False)

    def add(self, *, requests: int = 0, retries: int = 0, throttled: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.throttled += throttled

    def page_done(self, rows: int) -> None:
        """Count a page and its emitted rows; log progress at most every few seconds."""
        with self._lock:
            self.pages += 1
            self.rows += rows
            now = time.monotonic()
            if now - self._last_log < PROGRESS_INTERVAL_S:
                return
            self._last_log = now
        logger.info("%s: %s", self.name, self.describe())

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
