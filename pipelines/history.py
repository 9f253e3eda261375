"""Sync history: one record per source resource per sync, kept beside the warehouse.

The history is an append-only JSON-lines file next to the working copy, so a failed sync is
recorded even though it publishes nothing; each build copies it into `raw_labsync.sync_runs`,
which `analytics.sync_runs` exposes. `labsync status` reads the file directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from .warehouse import state_dir

HISTORY_SCHEMA = "raw_labsync"
HISTORY_TABLE = "sync_runs"
LABSYNC_SOURCE = "labsync"  # records of labsync's own steps (resource "publish")


@dataclass(frozen=True)
class SyncRunRecord:
    """What one resource of one source did in one sync."""

    sync_id: str
    started_at: str
    finished_at: str
    status: str  # succeeded | failed | skipped
    source: str
    resource: str
    rows_loaded: int = 0
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    cursor: str | None = None
    error: str | None = None


ARROW_SCHEMA = pa.schema(
    [
        ("sync_id", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("finished_at", pa.timestamp("us", tz="UTC")),
        ("status", pa.string()),
        ("source", pa.string()),
        ("resource", pa.string()),
        ("rows_loaded", pa.int64()),
        ("requests", pa.int64()),
        ("retries", pa.int64()),
        ("throttled", pa.int64()),
        ("cursor", pa.string()),
        ("error", pa.string()),
    ]
)


def history_path(warehouse: Path) -> Path:
    return state_dir(warehouse) / "sync_runs.jsonl"


def append(warehouse: Path, records: Iterable[SyncRunRecord]) -> None:
    path = history_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(asdict(r), sort_keys=True) + "\n" for r in records)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(lines)


def read(warehouse: Path) -> list[SyncRunRecord]:
    path = history_path(warehouse)
    if not path.exists():
        return []
    names = {f.name for f in fields(SyncRunRecord)}
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                raw: dict[str, Any] = json.loads(line)
                records.append(SyncRunRecord(**{k: v for k, v in raw.items() if k in names}))
    return records


def materialise(con: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    """Replace `raw_labsync.sync_runs` with the full history, read by DuckDB from the file
    (no Python objects per record, and no pandas import through Arrow)."""
    table = f"{HISTORY_SCHEMA}.{HISTORY_TABLE}"
    types = {f.name: _SQL_TYPES[str(f.type)] for f in ARROW_SCHEMA}
    con.execute(f"create schema if not exists {HISTORY_SCHEMA}")
    con.execute(
        f"create or replace table {table} ({', '.join(f'{n} {t}' for n, t in types.items())})"
    )
    path = history_path(warehouse)
    if path.exists() and path.stat().st_size:
        columns = ", ".join(f"'{n}': '{t}'" for n, t in types.items())
        source = str(path).replace("'", "''")
        con.execute(
            f"insert into {table} select * from read_json('{source}', "
            f"format = 'newline_delimited', columns = {{{columns}}})"
        )


_SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "timestamp[us, tz=UTC]": "TIMESTAMPTZ"}


@dataclass(frozen=True)
class ResourceStatus:
    """The health of one resource as `labsync status` reports it."""

    source: str
    resource: str
    last_success_at: str | None
    age_s: float | None
    rows_loaded: int | None
    cursor: str | None
    last_error: str | None
    last_error_at: str | None
    stale: bool
    failing: bool  # its latest sync failed

    @property
    def problem(self) -> str | None:
        """Why this resource is unhealthy, in one line (None when it is healthy)."""
        if self.failing:
            return f"{self.source} {self.resource}: last sync failed: {self.last_error}"
        if self.stale:
            return f"{self.source} {self.resource}: no successful sync within the allowed age"
        return None


def status(records: list[SyncRunRecord], max_age: timedelta) -> list[ResourceStatus]:
    now = datetime.now(UTC)
    latest_ok: dict[tuple[str, str], SyncRunRecord] = {}
    latest_error: dict[tuple[str, str], SyncRunRecord] = {}
    latest: dict[tuple[str, str], SyncRunRecord] = {}
    for record in records:  # the file is in time order
        key = (record.source, record.resource)
        latest[key] = record
        if record.status == "succeeded":
            latest_ok[key] = record
        elif record.status == "failed":
            latest_error[key] = record
    report = []
    for key in sorted(set(latest_ok) | set(latest_error)):
        ok, error = latest_ok.get(key), latest_error.get(key)
        age = (now - datetime.fromisoformat(ok.finished_at)).total_seconds() if ok else None
        report.append(
            ResourceStatus(
                source=key[0],
                resource=key[1],
                last_success_at=ok.finished_at if ok else None,
                age_s=age,
                rows_loaded=ok.rows_loaded if ok else None,
                cursor=ok.cursor if ok else None,
                last_error=error.error if error else None,
                last_error_at=error.finished_at if error else None,
                stale=age is None or age > max_age.total_seconds(),
                failing=latest[key].status == "failed",
            )
        )
    return report
