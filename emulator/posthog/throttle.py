"""PostHog throttling: DRF sliding-window rate throttles and the query concurrency limit.

* **CRUD** (datasets, items, evaluations, evaluation runs): per personal API key (hashed), like
  ``BurstRateThrottle`` 480/minute + ``SustainedRateThrottle`` 4800/hour. Off unless configured.
* **Query API** (``/query/``): per project, like ``APIQueriesBurstThrottle`` 240/minute +
  ``APIQueriesSustainedThrottle`` 2400/hour, plus at most N queries running at once; a query
  over the limit waits in a queue up to ``queue_seconds`` (30 s in PostHog) and then gets 429.

Each window is DRF's ``SimpleRateThrottle``: a request is allowed when fewer than ``n`` requests
were allowed in the last ``period`` seconds; otherwise the wait is ``period - (now - oldest)``.
The 429 body is drf-exceptions-hog's ``throttled_error`` and the wait appears **only** in
``detail`` ("Request was throttled. Expected available in N seconds.") -- no ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from ..ratelimit import RateLimitSpec, parse_rate_limit
from ..router import Response
from .wire import error_response

DOCUMENTED_CRUD_LIMITS: tuple[RateLimitSpec, ...] = ((480, 60.0), (4800, 3600.0))
DOCUMENTED_QUERY_LIMITS: tuple[RateLimitSpec, ...] = ((240, 60.0), (2400, 3600.0))
DOCUMENTED_QUERY_CONCURRENCY = 3
DEFAULT_QUEUE_SECONDS = 30.0

LimitsInput = RateLimitSpec | str | Sequence[RateLimitSpec] | None
UNSET: object = object()  # "leave this setting as it is" for PostHogThrottle.configure


def parse_limits(value: object) -> tuple[RateLimitSpec, ...]:
    """Normalize limits: None, ``(n, period)``, ``"N/SECONDS[,N/SECONDS]"`` or a list of pairs.

    Raises:
        ValueError: when a limit cannot be understood.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        specs = [parse_rate_limit(part) for part in value.split(",") if part.strip()]
        return tuple(spec for spec in specs if spec is not None)
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        spec = parse_rate_limit(tuple(value))
        return () if spec is None else (spec,)
    if isinstance(value, (tuple, list)):
        out: list[RateLimitSpec] = []
        for item in value:
            spec = parse_rate_limit(item)
            if spec is not None:
                out.append(spec)
        return tuple(out)
    raise ValueError(f"PostHog rate limits must be (n, period), 'N/S,N/S' or a list, not {value!r}")


def throttled_response(wait_seconds: float | None, detail: str | None = None) -> Response:
    """429 with the drf-exceptions-hog body; the wait is only in ``detail``."""
    if detail is None:
        detail = "Request was throttled."
        if wait_seconds is not None:
            wait = math.ceil(wait_seconds)
            unit = "second" if wait == 1 else "seconds"
            detail = f"{detail} Expected available in {wait} {unit}."
    return error_response(429, "throttled_error", "throttled", detail)


class _Windows:
    """Sliding-window histories per identity for a set of ``(n, period)`` limits."""

    def __init__(self, limits: tuple[RateLimitSpec, ...]) -> None:
        self.limits = limits
        self._history: dict[tuple[str, int], deque[float]] = {}

    def check(self, identity: str, now: float) -> float | None:
        """Record the request and return None, or return the longest wait of failing windows.

        Like DRF, every window that allows the request records it, even when another fails.
        """
        waits: list[float] = []
        for index, (limit, period) in enumerate(self.limits):
            history = self._history.setdefault((identity, index), deque())
            while history and history[0] <= now - period:
                history.popleft()
            if len(history) >= limit:
                waits.append(period - (now - history[0]))
            else:
                history.append(now)
        return max(waits) if waits else None


class QueryConcurrencyExceeded(Exception):
    """No query slot became free within the queue time."""


class PostHogThrottle:
    """Throttles for the PostHog routes (all off by default).

    Args:
        crud: Per-key limits for the REST resources (e.g. ``DOCUMENTED_CRUD_LIMITS``).
        query: Per-project limits for the Query API.
        query_concurrency: Queries allowed to run at once per project (None = unlimited).
        queue_seconds: How long a query waits for a slot before 429.
        clock: Time source in seconds (monotonic).
    """

    def __init__(
        self,
        crud: LimitsInput = None,
        query: LimitsInput = None,
        query_concurrency: int | None = None,
        queue_seconds: float = DEFAULT_QUEUE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._slots = threading.Condition(self._lock)
        self._clock = clock
        self._crud = _Windows(parse_limits(crud))
        self._query = _Windows(parse_limits(query))
        self._concurrency: int | None = None
        self._running: dict[str, int] = {}
        self.queue_seconds = queue_seconds
        self.query_seconds = 0.0
        self.query_gate: threading.Event | None = None
        self.configure(query_concurrency=query_concurrency)

    def configure(
        self,
        crud: LimitsInput | object = UNSET,
        query: LimitsInput | object = UNSET,
        query_concurrency: int | object | None = UNSET,
        queue_seconds: float | None = None,
    ) -> None:
        """Change some limits (omitted ones stay) and reset their counters."""
        with self._lock:
            if crud is not UNSET:
                self._crud = _Windows(parse_limits(crud))
            if query is not UNSET:
                self._query = _Windows(parse_limits(query))
            if query_concurrency is not UNSET:
                if query_concurrency is not None and (
                    not isinstance(query_concurrency, int) or query_concurrency < 1
                ):
                    raise ValueError("query_concurrency must be a positive integer or None")
                self._concurrency = query_concurrency
                self._slots.notify_all()
            if queue_seconds is not None:
                if queue_seconds < 0:
                    raise ValueError("queue_seconds must be >= 0")
                self.queue_seconds = queue_seconds

    @property
    def crud_limits(self) -> tuple[RateLimitSpec, ...]:
        """Active per-key REST limits."""
        return self._crud.limits

    @property
    def query_limits(self) -> tuple[RateLimitSpec, ...]:
        """Active per-project Query API limits."""
        return self._query.limits

    @property
    def query_concurrency(self) -> int | None:
        """Queries allowed at once per project (None = unlimited)."""
        return self._concurrency

    def running_queries(self, project: str = "") -> int:
        """Queries currently holding a slot (for one project, or all when empty)."""
        with self._lock:
            if project:
                return self._running.get(project, 0)
            return sum(self._running.values())

    def check(self, bucket: str, identity: str) -> Response | None:
        """Count a request in ``bucket`` (``crud`` / ``query``); 429 response when over."""
        windows = self._query if bucket == "query" else self._crud
        with self._lock:
            if not windows.limits:
                return None
            wait = windows.check(identity, self._clock())
        return None if wait is None else throttled_response(wait)

    @contextmanager
    def query_slot(self, project: str, task_id: str) -> Iterator[None]:
        """Hold one of the project's query slots while the query runs.

        Raises:
            QueryConcurrencyExceeded: no slot became free within ``queue_seconds``.
        """
        deadline = time.monotonic() + self.queue_seconds
        with self._slots:
            while self._concurrency is not None and self._running.get(project, 0) >= (
                self._concurrency
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise QueryConcurrencyExceeded(
                        f"Exceeded maximum concurrency limit: {self._concurrency} for key: "
                        f"api:query:per-org:{project} and task: {task_id}"
                    )
                self._slots.wait(remaining)
            self._running[project] = self._running.get(project, 0) + 1
        try:
            gate = self.query_gate
            if gate is not None:
                gate.wait(timeout=60)  # tests hold queries open; the timeout is a safety net
            if self.query_seconds > 0:
                time.sleep(self.query_seconds)
            yield
        finally:
            with self._slots:
                self._running[project] -= 1
                self._slots.notify_all()
