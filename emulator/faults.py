"""Fault injection for vendor API requests.

Two mechanisms, both applied only to vendor API paths (never to ``/_emulator/`` control paths):

* **Deterministic injection** (``inject``): the next ``times`` requests whose path matches
  ``path_pattern`` (a regex searched in the path; None = any) get the fault. Queued injections are
  consumed in FIFO order and take precedence over random faults.
* **Random faults** (``configure``): every API request draws one number from a
  ``random.Random(seed)`` stream; the same seed and the same request sequence give the same faults.

Spec grammar for ``configure`` (comma-separated ``key=value`` items, whitespace ignored)::

    spec      := item ("," item)*
    item      := kind "=" probability | "seed=" int | "slow_seconds=" float
    kind      := "429" | "500" | "502" | "503" | "5xx" | "slow" | "truncate" | "drop"

``5xx`` is shared equally between 500, 502 and 503. Probabilities must sum to at most 1. An empty
spec, ``none`` or ``off`` disables random faults.

Fault kinds:

* ``429``: rate-limit answer with ``X-RateLimit-*`` headers (reset 1 s).
* ``500`` / ``502`` / ``503``: JSON:API error body.
* ``slow``: sleep ``slow_seconds`` then answer normally.
* ``truncate``: send the full Content-Length but only part of the body, then close.
* ``drop``: close the connection without sending anything.
"""

from __future__ import annotations

import random
import re
import threading
from collections import deque
from dataclasses import dataclass

FAULT_KINDS: tuple[str, ...] = ("429", "500", "502", "503", "slow", "truncate", "drop")
DEFAULT_SLOW_SECONDS = 0.5


@dataclass
class _Injection:
    kind: str
    remaining: int
    pattern: re.Pattern[str] | None
    seconds: float | None


@dataclass(frozen=True)
class Fault:
    """A fault decided for one request."""

    kind: str
    seconds: float = 0.0


def parse_fault_spec(spec: str) -> tuple[dict[str, float], int, float]:
    """Parse a random-fault spec.

    Args:
        spec: e.g. ``"429=0.05,5xx=0.05,slow=0.02,truncate=0.02,drop=0.02,seed=7"``.

    Returns:
        ``(probabilities by kind, seed, slow_seconds)``.

    Raises:
        ValueError: on unknown keys, bad numbers or probabilities summing above 1.
    """
    probs: dict[str, float] = {}
    seed = 0
    slow_seconds = DEFAULT_SLOW_SECONDS
    text = spec.strip()
    if text.lower() in ("", "none", "off"):
        return probs, seed, slow_seconds
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep:
            raise ValueError(f"fault spec item {item!r} is not key=value")
        try:
            if key == "seed":
                seed = int(value)
            elif key == "slow_seconds":
                slow_seconds = float(value)
                if slow_seconds < 0:
                    raise ValueError
            elif key == "5xx":
                share = float(value) / 3
                for kind in ("500", "502", "503"):
                    probs[kind] = probs.get(kind, 0.0) + share
            elif key in FAULT_KINDS:
                probs[key] = probs.get(key, 0.0) + float(value)
            else:
                raise KeyError(key)
        except KeyError:
            raise ValueError(f"unknown fault kind {key!r} in spec") from None
        except ValueError:
            raise ValueError(f"bad value {value!r} for {key!r} in fault spec") from None
    if any(p < 0 for p in probs.values()) or sum(probs.values()) > 1.0 + 1e-9:
        raise ValueError("fault probabilities must be >= 0 and sum to at most 1")
    return probs, seed, slow_seconds


class FaultInjector:
    """Decides, per API request, whether to inject a fault. Thread-safe."""

    def __init__(self, spec: str | None = None) -> None:
        self._lock = threading.Lock()
        self._queue: deque[_Injection] = deque()
        self._probs: list[tuple[str, float]] = []
        self._rng = random.Random(0)
        self._spec: str | None = None
        self.slow_seconds: float = DEFAULT_SLOW_SECONDS
        if spec:
            self.configure(spec)

    @property
    def spec(self) -> str | None:
        """The active random-fault spec (None when random faults are off)."""
        return self._spec

    def inject(
        self,
        kind: str,
        times: int = 1,
        path_pattern: str | None = None,
        seconds: float | None = None,
    ) -> None:
        """Queue a deterministic fault for the next ``times`` matching API requests.

        Args:
            kind: One of :data:`FAULT_KINDS`.
            times: How many requests get the fault.
            path_pattern: Regex searched in the request path; None matches every API path.
            seconds: Sleep duration for ``slow`` (default: ``slow_seconds``).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if times < 1:
            raise ValueError("times must be >= 1")
        pattern = re.compile(path_pattern) if path_pattern else None
        with self._lock:
            self._queue.append(_Injection(kind, times, pattern, seconds))

    def configure(self, spec: str | None) -> None:
        """Enable random faults from a spec string (None/empty disables them)."""
        probs, seed, slow_seconds = parse_fault_spec(spec or "")
        with self._lock:
            self._probs = [(kind, probs[kind]) for kind in FAULT_KINDS if probs.get(kind)]
            self._rng = random.Random(seed)
            self.slow_seconds = slow_seconds
            self._spec = spec if self._probs else None

    def clear(self) -> None:
        """Remove queued injections and disable random faults."""
        with self._lock:
            self._queue.clear()
            self._probs = []
            self._spec = None

    def pending(self) -> int:
        """Number of queued deterministic faults still to be delivered."""
        with self._lock:
            return sum(item.remaining for item in self._queue)

    def decide(self, path: str) -> Fault | None:
        """Return the fault for an API request on ``path``, or None."""
        with self._lock:
            for item in self._queue:
                if item.pattern is None or item.pattern.search(path):
                    item.remaining -= 1
                    if item.remaining <= 0:
                        self._queue.remove(item)
                    seconds = item.seconds if item.seconds is not None else self.slow_seconds
                    return Fault(item.kind, seconds)
            if not self._probs:
                return None
            draw = self._rng.random()
            cumulative = 0.0
            for kind, prob in self._probs:
                cumulative += prob
                if draw < cumulative:
                    return Fault(kind, self.slow_seconds)
            return None
