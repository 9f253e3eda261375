"""Fixed-window, calendar-aligned rate limiting with Datadog-style headers.

A limit of ``N`` requests per ``period`` seconds counts API requests in windows aligned on the Unix
epoch (``floor(now / period)``), like Datadog's documented behaviour. Every API response carries
``X-RateLimit-Limit``, ``-Period``, ``-Remaining``, ``-Reset`` and ``-Name``.

``X-RateLimit-Reset`` is the whole number of seconds (at least 1) until the window ends. Every
other 429 answer (deterministically: the 2nd, 4th, ...) also carries ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

RateLimitSpec = tuple[int, float]

INJECTED_DEFAULT_LIMIT = 1000
INJECTED_DEFAULT_PERIOD = 10.0


def parse_rate_limit(value: object) -> RateLimitSpec | None:
    """Normalize a rate limit given as ``(n, period)``, ``"N/SECONDS"`` or None.

    Raises:
        ValueError: when the value cannot be understood or is not positive.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("", "none", "off"):
            return None
        limit_text, sep, period_text = text.partition("/")
        if not sep:
            raise ValueError(f"rate limit {value!r} must look like N/SECONDS")
        try:
            limit, period = int(limit_text), float(period_text)
        except ValueError:
            raise ValueError(f"rate limit {value!r} must look like N/SECONDS") from None
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        limit, period = int(value[0]), float(value[1])
    else:
        raise ValueError(f"rate limit must be (n, period), 'N/SECONDS' or None, not {value!r}")
    if limit < 1 or period <= 0:
        raise ValueError("rate limit needs n >= 1 and period > 0")
    return limit, period


def _format_period(period: float) -> str:
    return str(int(period)) if float(period).is_integer() else repr(period)


@dataclass(frozen=True)
class RateDecision:
    """Outcome of counting one request."""

    allowed: bool
    headers: dict[str, str]


class RateLimiter:
    """Thread-safe fixed-window limiter; ``spec`` None disables limiting (no headers)."""

    def __init__(
        self, spec: RateLimitSpec | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._spec: RateLimitSpec | None = None
        self._window = -1
        self._count = 0
        self._rejections = 0
        self._exempt: set[str] = set()
        self.configure(spec)

    def exempt(self, name: str) -> None:
        """Never limit, nor add headers to, the API named ``name`` (it throttles itself)."""
        with self._lock:
            self._exempt.add(name)

    @property
    def spec(self) -> RateLimitSpec | None:
        """Current ``(limit, period)`` or None."""
        return self._spec

    def configure(self, spec: RateLimitSpec | None) -> None:
        """Replace the limit (None disables it) and reset the counters."""
        with self._lock:
            self._spec = spec
            self._window = -1
            self._count = 0
            self._rejections = 0

    def _headers(self, name: str, remaining: int, now: float) -> dict[str, str]:
        assert self._spec is not None
        limit, period = self._spec
        window_end = (math.floor(now / period) + 1) * period
        reset = max(1, math.ceil(window_end - now))
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Period": _format_period(period),
            "X-RateLimit-Remaining": str(max(0, remaining)),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Name": name,
        }

    def _roll(self, now: float) -> None:
        assert self._spec is not None
        window = math.floor(now / self._spec[1])
        if window != self._window:
            self._window = window
            self._count = 0

    def acquire(self, name: str) -> RateDecision:
        """Count one request; ``allowed`` False means answer 429 with ``headers``."""
        with self._lock:
            if self._spec is None or name in self._exempt:
                return RateDecision(True, {})
            now = self._clock()
            self._roll(now)
            limit = self._spec[0]
            if self._count < limit:
                self._count += 1
                return RateDecision(True, self._headers(name, limit - self._count, now))
            self._rejections += 1
            headers = self._headers(name, 0, now)
            if self._rejections % 2 == 0:
                headers["Retry-After"] = headers["X-RateLimit-Reset"]
            return RateDecision(False, headers)

    def peek(self, name: str) -> dict[str, str]:
        """Headers describing the current window without counting a request."""
        with self._lock:
            if self._spec is None or name in self._exempt:
                return {}
            now = self._clock()
            self._roll(now)
            return self._headers(name, self._spec[0] - self._count, now)

    def injected_headers(self, name: str) -> dict[str, str]:
        """Headers for an injected 429 fault: same names, Remaining 0, Reset 1."""
        with self._lock:
            if name in self._exempt:
                return {}
            limit, period = self._spec or (INJECTED_DEFAULT_LIMIT, INJECTED_DEFAULT_PERIOD)
            return {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Period": _format_period(period),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": "1",
                "X-RateLimit-Name": name,
            }
