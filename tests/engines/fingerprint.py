"""Fingerprints of the analytics views, comparable across engines.

A view's fingerprint is its row count and a hash of its sorted rows, with what legitimately
differs between engines normalised away: numbers compared as rounded doubles (Postgres
computes some in numeric), timestamps as UTC instants, JSON as parsed values (Postgres
stores jsonb, which reorders keys), arrays as tuples. Columns that record when a sync ran
(each engine was synced at its own moment) are left out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

# when each engine's own sync saw a row: seconds apart between engines
VOLATILE = {
    "synced_at",
    "read_at",
    "vanished_detected_at",
    "detected_at",
    "walked_at",
    "listed_at",
    "discovered_at",
    "downloaded_at",
    "observed_at",
}
# sync_runs is each engine's own history: compare what was synced, not when or how
SYNC_RUNS_KEPT = ("status", "source", "resource", "rows_loaded", "error")
DIGITS = 6


def normalise(value: Any, is_json: bool = False) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        rounded = round(number, DIGITS)
        return int(rounded) if rounded == int(rounded) and abs(rounded) < 2**53 else rounded
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if is_json or isinstance(value, dict):
        parsed = json.loads(value) if isinstance(value, str) else value
        return json.dumps(parsed, sort_keys=True, default=str)
    if isinstance(value, list | tuple):
        return json.dumps([normalise(v) for v in value], sort_keys=True, default=str)
    return str(value)


def fingerprint(
    columns: list[str],
    rows: Iterable[tuple[Any, ...]],
    json_columns: set[str],
    view: str,
    publishes: bool = True,
) -> tuple[int, str]:
    if view == "sync_runs" and not publishes:
        source = columns.index("source")
        rows = [row for row in rows if row[source] != "labsync"]
    keep = [
        i
        for i, c in enumerate(columns)
        if c not in VOLATILE and (view != "sync_runs" or c in SYNC_RUNS_KEPT)
    ]
    normalised = [
        tuple(normalise(row[i], columns[i] in json_columns) for i in keep) for row in rows
    ]
    text = json.dumps(sorted(normalised, key=repr), default=str)
    return len(normalised), hashlib.sha256(text.encode()).hexdigest()[:16]


Fetch = Callable[[str], tuple[list[str], list[tuple[Any, ...]]]]


def fingerprints(
    views: list[str], fetch: Fetch, json_columns: dict[str, set[str]], publishes: bool = True
) -> dict:
    """{view: (rows, hash)} with `fetch(view) -> (column names, rows)`.

    `publishes=False` leaves labsync's publish records out of `sync_runs`: a lake sync
    publishes nothing (`labsync models` builds its views), so it has none.
    """
    result = {}
    for view in views:
        columns, rows = fetch(view)
        result[view] = fingerprint(
            [c.lower() for c in columns], rows, json_columns.get(view, set()), view, publishes
        )
    return result


def diff(reference: dict, other: dict) -> list[str]:
    return [
        f"{view}: {reference.get(view)} vs {other.get(view)}"
        for view in sorted(set(reference) | set(other))
        if reference.get(view) != other.get(view)
    ]


def duckdb_reference(path: str) -> tuple[list[str], dict[str, set[str]], Fetch]:
    """The analytics views of a DuckDB warehouse, their JSON columns, and a fetch."""
    import duckdb

    con = duckdb.connect(path, read_only=True)
    views = [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'analytics' order by 1"
        ).fetchall()
    ]
    json_columns = {
        v: {r[0] for r in con.execute(f"describe analytics.{v}").fetchall() if r[1] == "JSON"}
        for v in views
    }

    def fetch(view: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = con.execute(f"select * from analytics.{view}")
        return [d[0] for d in cursor.description], cursor.fetchall()

    return views, json_columns, fetch


def postgres_fetch(url: str) -> Fetch:
    """Rows as Postgres returns them, JSON as its text (not parsed by the driver)."""
    import psycopg2
    import psycopg2.extras

    con = psycopg2.connect(url)
    con.autocommit = True
    psycopg2.extras.register_default_json(con, loads=lambda s: s)
    psycopg2.extras.register_default_jsonb(con, loads=lambda s: s)

    def fetch(view: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        with con.cursor() as cur:
            cur.execute(f'select * from analytics."{view}"')
            return [d[0] for d in cur.description], cur.fetchall()

    return fetch


def spark_fetch(spark: Any) -> Fetch:
    def fetch(view: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        frame = spark.sql(f"select * from analytics.`{view}`")
        return frame.columns, [tuple(r) for r in frame.collect()]

    return fetch
