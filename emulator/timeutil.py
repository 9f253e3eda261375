"""Timestamps as integer microseconds since the Unix epoch, and their wire formats."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np

_EPOCH = datetime(1970, 1, 1)
US_PER_S = 1_000_000


def to_us(value: datetime | str | int | float) -> int:
    """Convert a datetime, an ISO-8601 string or epoch seconds to epoch microseconds."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a timestamp")
    if isinstance(value, (int, float)):
        return round(value * US_PER_S)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        value = datetime.fromisoformat(text)
    if not isinstance(value, datetime):
        raise TypeError(f"cannot convert {value!r} to a timestamp")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


def iso_us(us: int) -> str:
    """``2025-03-04T05:06:07.123456Z`` (microsecond precision)."""
    return (_EPOCH + timedelta(microseconds=int(us))).isoformat(timespec="microseconds") + "Z"


def iso_ms(us: int) -> str:
    """``2025-03-04T05:06:07.123Z`` (millisecond precision)."""
    return (_EPOCH + timedelta(microseconds=int(us))).isoformat(timespec="milliseconds") + "Z"


def iso_s(us: int) -> str:
    """``2025-03-04T05:06:07Z`` (second precision)."""
    return (_EPOCH + timedelta(microseconds=int(us))).isoformat(timespec="seconds") + "Z"


def iso_us_many(values: np.ndarray) -> list[str]:
    """Vectorized :func:`iso_us` for an array of epoch microseconds."""
    stamps = np.asarray(values, dtype=np.int64).astype("datetime64[us]")
    return np.datetime_as_string(stamps, unit="us", timezone="UTC").tolist()


def iso_ms_many(values: np.ndarray) -> list[str]:
    """Vectorized :func:`iso_ms` (truncates to milliseconds)."""
    stamps = np.asarray(values, dtype=np.int64).astype("datetime64[us]")
    return np.datetime_as_string(stamps, unit="ms", timezone="UTC").tolist()


class Clock:
    """Strictly increasing microsecond clock for mutations.

    Returns the real current time, but never a value at or below ``floor_us`` or the previous
    value, so every mutation gets a distinct timestamp later than all generated data.
    """

    def __init__(self, floor_us: int = 0) -> None:
        self._lock = threading.Lock()
        self._last = floor_us

    def raise_floor(self, floor_us: int) -> None:
        """Make sure future values are above ``floor_us``."""
        with self._lock:
            self._last = max(self._last, floor_us)

    def now_us(self) -> int:
        """Next timestamp (epoch microseconds)."""
        with self._lock:
            value = max(time.time_ns() // 1000, self._last + 1)
            self._last = value
            return value
