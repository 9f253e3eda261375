"""The Query API: the one supported HogQL shape, keyset paging, LIMIT semantics, rejections."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from emulator import Emulator
from emulator.posthog.hogql import MAX_LIMIT, UnsupportedQuery, parse_query
from emulator.posthog.wire import clickhouse_uuid_key, parse_datetime_us

from .conftest import PhApi

DAY_START = "2026-11-01 00:00:00.000000"
DAY_END = "2026-11-02 00:00:00.000000"


def shape(
    start: str = DAY_START,
    end: str = DAY_END,
    after: tuple[str, str] | None = None,
    limit: int | None = None,
) -> str:
    """The query the labsync source sends."""
    keyset = ""
    if after is not None:
        ts, last = after
        keyset = (
            f"\n  AND (timestamp > toDateTime64('{ts}', 6, 'UTC') OR "
            f"(timestamp = toDateTime64('{ts}', 6, 'UTC') AND uuid > '{last}'))"
        )
    tail = "" if limit is None else f"\nLIMIT {limit}"
    return (
        "SELECT uuid, timestamp, created_at, properties FROM events\n"
        "WHERE event = '$ai_evaluation'\n"
        f"  AND timestamp >= toDateTime64('{start}', 6, 'UTC')\n"
        f"  AND timestamp < toDateTime64('{end}', 6, 'UTC')"
        f"{keyset}\nORDER BY timestamp, uuid{tail}"
    )


def _as_literal(iso: str) -> str:
    """``2026-11-01T07:03:23.001666Z`` -> ``2026-11-01 07:03:23.001666``."""
    return iso.rstrip("Z").replace("T", " ")


def _page_through(api: PhApi, start: str, end: str, limit: int) -> tuple[list[list[Any]], int]:
    rows: list[list[Any]] = []
    after: tuple[str, str] | None = None
    requests_made = 0
    while True:
        response = api.query(shape(start, end, after, limit))
        requests_made += 1
        assert response.status_code == 200, response.text
        page = response.json()["results"]
        rows.extend(page)
        if len(page) < limit:
            return rows, requests_made
        after = (_as_literal(page[-1][1]), page[-1][0])


# parser -----------------------------------------------------------------------------------


def test_parser_accepts_whitespace_and_keyword_case() -> None:
    text = (
        "  select uuid,timestamp ,  created_at,properties from events where "
        "event='$ai_evaluation' and timestamp>=toDateTime64( '2026-11-01 00:00:00', 6,'UTC' ) "
        "AND timestamp<toDateTime64('2026-11-02T00:00:00.5',6,'UTC') "
        "and(timestamp>toDateTime64('2026-11-01 05:00:00.000001',6,'UTC')or(timestamp="
        "toDateTime64('2026-11-01 05:00:00.000001',6,'UTC')and uuid>"
        "'01A195EB-8679-70DC-BDB4-48D0DD0225C2'))order by timestamp,uuid limit 7  "
    )
    parsed = parse_query(text)
    assert parsed.start_us == parse_datetime_us("2026-11-01T00:00:00Z")
    assert parsed.end_us == parse_datetime_us("2026-11-02T00:00:00.5Z")
    assert parsed.after == (
        parse_datetime_us("2026-11-01T05:00:00.000001Z"),
        "01a195eb-8679-70dc-bdb4-48d0dd0225c2",
    )
    assert (parsed.limit, parsed.limit_given) == (7, True)
    bare = parse_query(shape())
    assert (bare.after, bare.limit, bare.limit_given) == (None, 100, False)
    assert parse_query(shape(limit=90_000)).limit == MAX_LIMIT


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1",
        shape().replace("FROM events", "FROM EVENTS"),  # identifiers are case-sensitive
        shape().replace("'$ai_evaluation'", "'$ai_generation'"),
        shape().replace("ORDER BY timestamp, uuid", "ORDER BY uuid, timestamp"),
        shape().replace("properties FROM", "properties, distinct_id FROM"),
        shape().replace("timestamp >= ", "timestamp > "),
        shape().replace("toDateTime64", "toDateTime"),
        shape().replace(", 6, 'UTC')", ", 3, 'UTC')", 1),
        shape() + ";",
    ],
)
def test_parser_rejects_other_queries(text: str) -> None:
    with pytest.raises(UnsupportedQuery, match="only supports this HogQL query shape"):
        parse_query(text)


def test_offset_gets_posthogs_own_message() -> None:
    with pytest.raises(UnsupportedQuery, match="OFFSET is not supported on queries made with"):
        parse_query(shape(limit=10) + " OFFSET 10")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (shape(start="2026-13-01 00:00:00"), "cannot parse"),
        (shape(start="yesterday"), "cannot parse"),
        (shape(after=("2026-11-01 01:00:00", "not-a-uuid")), "as a UUID"),
        (
            shape(after=("2026-11-01 01:00:00", str(uuid.uuid4()))).replace(
                "timestamp = toDateTime64('2026-11-01 01:00:00'",
                "timestamp = toDateTime64('2026-11-01 01:00:01'",
            ),
            "must be the same literal",
        ),
    ],
)
def test_parser_rejects_bad_literals(text: str, message: str) -> None:
    with pytest.raises(UnsupportedQuery, match=message):
        parse_query(text)


# endpoint -----------------------------------------------------------------------------------


def test_response_shape(api: PhApi, ph: Emulator) -> None:
    response = api.query(shape(limit=3), name="labsync evaluations")
    assert response.status_code == 200
    body = response.json()
    assert body["columns"] == ["uuid", "timestamp", "created_at", "properties"]
    assert body["types"] == [
        ["uuid", "UUID"],
        ["timestamp", "DateTime64(6, 'UTC')"],
        ["created_at", "DateTime64(6, 'UTC')"],
        ["properties", "String"],
    ]
    # with its own LIMIT the query is not paginated: PostHog leaves these null
    assert (body["hasMore"], body["limit"], body["offset"]) == (None, None, None)
    assert body["is_cached"] is False and body["timezone"] == "UTC"
    assert body["error"] is None and body["query"] == shape(limit=3)
    for key in ("cache_key", "last_refresh", "next_allowed_client_refresh", "hogql", "timings"):
        assert body[key]
    expected = ph.posthog.evaluation_events("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z")[:3]
    assert len(body["results"]) == 3
    for row, event in zip(body["results"], expected, strict=True):
        uuid_, timestamp, created_at, properties = row
        assert (uuid_, timestamp, created_at) == (
            event["uuid"],
            event["timestamp"],
            event["created_at"],
        )
        assert timestamp.endswith("Z") and created_at >= timestamp
        assert isinstance(properties, str) and json.loads(properties) == event["properties"]
        assert ", " not in properties.split('"$ai_evaluation_reasoning"')[0]  # compact JSON


def test_without_limit_100_rows_and_has_more(api: PhApi, ph: Emulator) -> None:
    start, end = "2026-10-19 00:00:00", "2026-11-02 00:00:00"
    total = len(ph.posthog.evaluation_events("2026-10-19T00:00:00Z", "2026-11-02T00:00:00Z"))
    assert total > 100
    body = api.query(shape(start, end)).json()
    assert len(body["results"]) == 100
    assert (body["hasMore"], body["limit"], body["offset"]) == (True, 100, 0)
    last = body["results"][-1]
    rest = api.query(shape(start, end, after=(_as_literal(last[1]), last[0]))).json()
    assert len(rest["results"]) == min(100, total - 100)
    assert rest["hasMore"] is (total > 200)


@pytest.mark.parametrize("limit", [1, 7, 50])
def test_keyset_paging_reads_every_event_once(api: PhApi, ph: Emulator, limit: int) -> None:
    start, end = "2026-10-25 00:00:00", "2026-10-28 00:00:00"
    rows, calls = _page_through(api, start, end, limit)
    expected = ph.posthog.evaluation_events("2026-10-25T00:00:00Z", "2026-10-28T00:00:00Z")
    assert [r[0] for r in rows] == [e["uuid"] for e in expected]
    assert len(expected) > 10 and calls == len(expected) // limit + 1
    assert all(start <= _as_literal(r[1]) < end for r in rows)


def test_order_is_clickhouse_uuid_order(fresh: Emulator, fapi: PhApi) -> None:
    evaluation = fresh.posthog.evaluation_ids()[0]
    moment = "2026-11-03T10:00:00.123456Z"
    made = {
        fresh.posthog.add_evaluation_event(evaluation, timestamp=moment, created_at=moment)
        for _ in range(6)
    }
    start, end = "2026-11-03 10:00:00", "2026-11-03 10:00:01"
    rows = fapi.query(shape(start, end)).json()["results"]
    uuids = [r[0] for r in rows]
    assert set(uuids) == made
    assert uuids == sorted(uuids, key=clickhouse_uuid_key)
    assert uuids != sorted(uuids)  # six random v7 ids with one ms: text order differs
    paged, _ = _page_through(fapi, start, end, 2)  # ties on timestamp page by uuid
    assert [r[0] for r in paged] == uuids


def test_window_bounds_are_half_open(fresh: Emulator, fapi: PhApi) -> None:
    evaluation = fresh.posthog.evaluation_ids()[1]
    on_start = fresh.posthog.add_evaluation_event(evaluation, timestamp="2026-11-05T00:00:00Z")
    on_end = fresh.posthog.add_evaluation_event(evaluation, timestamp="2026-11-06T00:00:00Z")
    rows = fapi.query(shape("2026-11-05 00:00:00", "2026-11-06 00:00:00")).json()["results"]
    assert [r[0] for r in rows] == [on_start]
    assert rows[0][1] == "2026-11-05T00:00:00Z"  # DRF drops a zero fraction
    assert on_end not in {r[0] for r in rows}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"query": {"kind": "HogQLQuery", "query": "SELECT count() FROM events"}}, "only supports"),
        ({"query": {"kind": "EventsQuery", "select": ["*"]}}, "only supports query kind"),
        ({"query": "SELECT 1"}, "must be an object"),
        ({}, "must be an object"),
        (
            {"query": {"kind": "HogQLQuery", "query": shape()}, "refresh": "async"},
            "synchronously",
        ),
    ],
)
def test_other_queries_are_400(api: PhApi, body: dict[str, Any], needle: str) -> None:
    response = api.request("POST", "/query/", json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "validation_error" and needle in error["detail"]


def test_projects_and_environments_prefixes(ph: Emulator) -> None:
    bodies = [
        PhApi(ph, prefix=prefix).query(shape(limit=5)).json()["results"]
        for prefix in ("/api/projects/1", "/api/environments/1")
    ]
    assert bodies[0] == bodies[1] and bodies[0]
