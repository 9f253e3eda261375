"""The one HogQL query shape the emulator answers (the labsync PostHog source sends exactly it).

::

    SELECT uuid, timestamp, created_at, properties FROM events
    WHERE event = '$ai_evaluation'
      AND timestamp >= toDateTime64('<from>', 6, 'UTC')
      AND timestamp < toDateTime64('<to>', 6, 'UTC')
      [AND (timestamp > toDateTime64('<ts>', 6, 'UTC')
            OR (timestamp = toDateTime64('<ts>', 6, 'UTC') AND uuid > '<uuid>'))]
    ORDER BY timestamp, uuid
    [LIMIT <n>]

Keywords are case-insensitive, whitespace is free; identifiers, the function name and the
event name are exact. Timestamps are ``YYYY-MM-DD hh:mm:ss[.ffffff]`` (UTC); the two keyset
timestamps must be equal. Anything else raises :class:`UnsupportedQuery`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .wire import canonical_uuid, parse_datetime_us

MAX_LIMIT = 50_000  # PostHog caps user LIMITs at MAX_SELECT_RETURNED_ROWS
DEFAULT_LIMIT = 100  # rows returned when the query has no LIMIT

SUPPORTED_SHAPE = (
    "SELECT uuid, timestamp, created_at, properties FROM events "
    "WHERE event = '$ai_evaluation' "
    "AND timestamp >= toDateTime64('<from>', 6, 'UTC') "
    "AND timestamp < toDateTime64('<to>', 6, 'UTC') "
    "[AND (timestamp > toDateTime64('<ts>', 6, 'UTC') OR "
    "(timestamp = toDateTime64('<ts>', 6, 'UTC') AND uuid > '<uuid>'))] "
    "ORDER BY timestamp, uuid [LIMIT <n>]"
)


def _kw(*words: str) -> str:
    return r"\s+".join(f"(?i:{word})" for word in words)


def _ts(name: str) -> str:
    return rf"toDateTime64\s*\(\s*'(?P<{name}>[^']*)'\s*,\s*6\s*,\s*'UTC'\s*\)"


_S, _W = r"\s*", r"\s+"
_PATTERN = re.compile(
    "".join(
        [
            r"^\s*",
            _kw("SELECT"),
            _W,
            r"uuid\s*,\s*timestamp\s*,\s*created_at\s*,\s*properties",
            _W,
            _kw("FROM"),
            _W,
            "events",
            _W,
            _kw("WHERE"),
            _W,
            r"event\s*=\s*'\$ai_evaluation'",
            _S,
            _kw("AND"),
            _W,
            r"timestamp\s*>=\s*",
            _ts("start"),
            _S,
            _kw("AND"),
            _W,
            r"timestamp\s*<\s*",
            _ts("end"),
            _S,
            "(?:",
            _kw("AND"),
            r"\s*\(\s*timestamp\s*>\s*",
            _ts("after1"),
            _S,
            _kw("OR"),
            r"\s*\(\s*timestamp\s*=\s*",
            _ts("after2"),
            _S,
            _kw("AND"),
            _W,
            r"uuid\s*>\s*'(?P<after_uuid>[^']*)'\s*\)\s*\)",
            _S,
            ")?",
            _kw("ORDER", "BY"),
            _W,
            r"timestamp\s*,\s*uuid",
            r"(?:\s+",
            _kw("LIMIT"),
            r"\s+(?P<limit>\d+))?",
            r"\s*$",
        ]
    )
)
_OFFSET = re.compile(r"(?i)\boffset\b")
# PostHog's own answer to OFFSET in a personal-API-key query (user_query_validator.py)
OFFSET_NOT_ALLOWED_MESSAGE = (
    "OFFSET is not supported on queries made with a personal API key. "
    "For pagination, use keyset pagination on the `timestamp` column, e.g. "
    "`WHERE timestamp > :last_seen_timestamp ORDER BY timestamp LIMIT N`. "
    "For bulk data extraction, use batch exports: https://posthog.com/docs/cdp/batch-exports"
)
_TS_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?$")


class UnsupportedQuery(ValueError):
    """The query is not the supported shape (or has a malformed literal)."""


@dataclass(frozen=True)
class EvaluationQuery:
    """A parsed query: the ``[start, end)`` window, the keyset position, the row limit.

    ``limit_given`` False means the query had no LIMIT (PostHog then returns at most 100 rows
    and reports ``hasMore``).
    """

    start_us: int
    end_us: int
    after: tuple[int, str] | None
    limit: int
    limit_given: bool


def _timestamp(text: str) -> int:
    if not _TS_TEXT.match(text):
        raise UnsupportedQuery(
            f"cannot parse {text!r} as a DateTime64: use 'YYYY-MM-DD hh:mm:ss[.ffffff]'"
        )
    try:
        return parse_datetime_us(text.replace(" ", "T") + "+00:00")
    except ValueError:
        raise UnsupportedQuery(f"cannot parse {text!r} as a DateTime64") from None


def parse_query(text: object) -> EvaluationQuery:
    """Parse the supported shape.

    Raises:
        UnsupportedQuery: any other query, or a malformed timestamp / uuid literal.
    """
    if not isinstance(text, str):
        raise UnsupportedQuery("query.query must be a string")
    found = _PATTERN.match(text)
    if found is None and _OFFSET.search(text.replace("'$ai_evaluation'", "")):
        raise UnsupportedQuery(OFFSET_NOT_ALLOWED_MESSAGE)
    if found is None:
        raise UnsupportedQuery(
            f"The PostHog emulator only supports this HogQL query shape: {SUPPORTED_SHAPE}"
        )
    start = _timestamp(found.group("start"))
    end = _timestamp(found.group("end"))
    after: tuple[int, str] | None = None
    if found.group("after1") is not None:
        first, second = found.group("after1"), found.group("after2")
        if first != second:
            raise UnsupportedQuery(
                f"the two keyset timestamps must be the same literal, got {first!r} and {second!r}"
            )
        uuid_text = canonical_uuid(found.group("after_uuid"))
        if uuid_text is None:
            raise UnsupportedQuery(f"cannot parse {found.group('after_uuid')!r} as a UUID")
        after = (_timestamp(first), uuid_text)
    limit_text = found.group("limit")
    limit = DEFAULT_LIMIT if limit_text is None else min(int(limit_text), MAX_LIMIT)
    return EvaluationQuery(start, end, after, limit, limit_text is not None)
