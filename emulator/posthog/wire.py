"""PostHog wire-format helpers: timestamps, id formats, ClickHouse UUID order, error bodies.

* Datetimes render like Django REST framework: ``datetime.isoformat()`` in UTC with ``+00:00``
  replaced by ``Z`` -- microseconds when non-zero, no fraction at all when they are zero.
* ``Dataset`` / ``DatasetItem`` ids are UUIDv7, ``Evaluation`` ids are PostHog's UUIDT
  (48-bit unix milliseconds, 16-bit series counter, 64 random bits, no version bits).
* ClickHouse's ``UUID`` type sorts (and compares) by the *second* 64-bit half first, then the
  first half -- not in text order. :func:`clickhouse_uuid_key` reproduces that.
* Errors use the drf-exceptions-hog shape ``{"type", "code", "detail", "attr"}``.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ..router import Response, json_response

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_S = 1_000_000
US_PER_MS = 1_000
DAY_US = 86_400 * US_PER_S
HOUR_US = 3_600 * US_PER_S


def drf_iso(us: int) -> str:
    """Render epoch microseconds as Django REST framework does (``...Z``, fraction only if != 0)."""
    text = (_EPOCH + timedelta(microseconds=int(us))).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def parse_datetime_us(value: Any) -> int:
    """Parse an ISO-8601 string (naive = UTC) or a datetime into epoch microseconds.

    Raises:
        ValueError: when the value is not an ISO-8601 datetime.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
    else:
        raise ValueError(f"not an ISO-8601 datetime: {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


def _uuid_text(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid7(ms: int, rng: random.Random) -> str:
    """A UUIDv7 for unix milliseconds ``ms`` with random bits from ``rng``."""
    rand_a = rng.getrandbits(12)
    rand_b = rng.getrandbits(62)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return _uuid_text(value)


def uuidt(ms: int, series: int, rng: random.Random) -> str:
    """PostHog's UUIDT: 48-bit unix milliseconds, 16-bit series counter, 64 random bits."""
    value = (ms & ((1 << 48) - 1)) << 80 | (series & 0xFFFF) << 64 | rng.getrandbits(64)
    return _uuid_text(value)


def clickhouse_uuid_key(value: str) -> tuple[int, int]:
    """Sort key giving ClickHouse's ``UUID`` order: the second 64-bit half, then the first."""
    hex_digits = uuid.UUID(value).hex
    return int(hex_digits[16:], 16), int(hex_digits[:16], 16)


def canonical_uuid(value: Any) -> str | None:
    """The canonical lower-case form of a UUID string, or None when it is not a UUID."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None


def error_body(type_: str, code: str, detail: str, attr: str | None = None) -> dict[str, Any]:
    """The drf-exceptions-hog error body."""
    return {"type": type_, "code": code, "detail": detail, "attr": attr}


def error_response(
    status: int,
    type_: str,
    code: str,
    detail: str,
    attr: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A JSON error response in the drf-exceptions-hog shape."""
    return json_response(status, error_body(type_, code, detail, attr), headers)


def not_found(detail: str = "Not found.") -> Response:
    """404 as DRF's ``Http404`` renders through drf-exceptions-hog."""
    return error_response(404, "invalid_request", "not_found", detail)


def method_not_allowed(method: str, allowed: tuple[str, ...]) -> Response:
    """405 for a method the viewset does not route (DELETE has its own empty 405)."""
    return error_response(
        405,
        "invalid_request",
        "method_not_allowed",
        f'Method "{method}" not allowed.',
        headers={"Allow": ", ".join(allowed)},
    )


class ValidationFailed(Exception):
    """A DRF ``ValidationError`` (400 ``validation_error``) for one field (``attr``)."""

    def __init__(self, attr: str | None, code: str, detail: str) -> None:
        super().__init__(detail)
        self.attr = attr
        self.code = code
        self.detail = detail

    def response(self) -> Response:
        """The 400 response."""
        return error_response(400, "validation_error", self.code, self.detail, self.attr)
