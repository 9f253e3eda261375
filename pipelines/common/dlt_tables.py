"""Hand typed Arrow tables to dlt: one resource may fill several tables, each with its keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.schema.typing import TColumnSchema, TTableFormat, TWriteDispositionConfig

from .arrow import check_extra_types
from .merge_sql import ONCE_PER_KEY

MERGE: dict[str, str] = {"disposition": "merge", "strategy": "delete-insert"}
# Delta merges in place on the primary key (dlt offers no delete-insert on Delta)
UPSERT: TWriteDispositionConfig = {"disposition": "merge", "strategy": "upsert"}
LOAD_ID = "_dlt_load_id"

_table_format: TTableFormat | None = None
# primary keys already routed to Delta, per (load id, table): see `_first_per_key`
_routed: dict[tuple[str, str], set[tuple[Any, ...]]] = {}


@contextmanager
def table_format(name: TTableFormat | None) -> Iterator[None]:
    """Route tables as open tables of format `name` (the runner sets it; sources never do).

    A module setting rather than a source argument keeps the sources destination-agnostic.
    """
    global _table_format
    previous, _table_format = _table_format, name
    try:
        yield
    finally:
        _table_format = previous
        _routed.clear()


def _first_per_key(table_name: str, load_id: str, table: pa.Table, keys: list[str]) -> pa.Table:
    """Drop rows whose key this load already routed (or that repeat within `table`).

    A Delta merge rejects a load holding one key twice, where DuckDB's delete-insert keeps
    one of them; a sync may route the same row twice (e.g. a reconcile sweep re-emits child
    edges the run pages emitted), so the first one wins.
    """
    seen = _routed.setdefault((load_id, table_name), set())
    keep = []
    for row in zip(*(table.column(k).to_pylist() for k in keys), strict=True):
        keep.append(row not in seen)
        seen.add(row)
    return table if all(keep) else table.filter(pa.array(keep, pa.bool_()))


def _delta(
    table_name: str, table: pa.Table, primary_key: str | list[str] | None
) -> tuple[pa.Table, TWriteDispositionConfig]:
    """How a table lands in Delta: upserted on its primary key, else appended.

    Upsert cannot drop the stale rows of a parent whose child list shrank, so child tables
    (merge key only) are appended and the lake views keep the newest load per merge key. The
    views need the load of each row, which Delta file names do not carry: add it as a column.
    """
    load_id = dlt.current.load_package_state()["load_id"]
    if primary_key:
        keys = [primary_key] if isinstance(primary_key, str) else primary_key
        table = _first_per_key(table_name, load_id, table, keys)
    table = table.append_column(
        pa.field(LOAD_ID, pa.string(), nullable=False),
        pa.array([load_id] * table.num_rows, pa.string()),
    )
    return table, (UPSERT if primary_key else "append")


# the stamp of the read a row came from: of two versions of one key in a load, the newest wins
FRESHNESS_COLUMNS = ("_synced_at", "_read_at", "_observed_at")


def _dedup_sort(table: pa.Table) -> dict[str, TColumnSchema]:
    stamp = next((c for c in FRESHNESS_COLUMNS if c in table.column_names), None)
    return {stamp: {"name": stamp, "dedup_sort": "desc"}} if stamp else {}


def route_table(
    table_name: str,
    table: pa.Table,
    *,
    primary_key: str | list[str] | None,
    merge_key: str | None = None,
    columns: dict[str, TColumnSchema] | None = None,
    once_per_key: bool = False,
) -> Any:
    """Route an Arrow table to `table_name` (merged on its keys), failing on type drift first.

    Call inside a dlt resource. `columns` adds dlt column hints (e.g. `hard_delete`).
    `once_per_key`: the resource emits each primary key at most once per sync, so the DuckDB
    merge skips deduplicating staging (`merge_sql.ONCE_PER_KEY`); a key emitted twice would
    then be loaded twice.
    """
    schema = dlt.current.source_schema()
    known = schema.tables.get(table_name, {}).get("columns", {})
    check_extra_types(table_name, table, lambda col: known.get(col, {}).get("data_type"))
    # keys are never null; saying so in the Arrow schema matches dlt's own key hints
    keys = {k for k in (primary_key, merge_key) if isinstance(k, str)}
    if isinstance(primary_key, list):
        keys.update(primary_key)
    table = table.cast(pa.schema([f.with_nullable(f.name not in keys) for f in table.schema]))
    disposition: TWriteDispositionConfig = MERGE  # type: ignore[assignment]
    if _table_format == "delta":  # children (merge key) are appended, see `_delta`
        table, disposition = _delta(table_name, table, None if merge_key else primary_key)
    elif primary_key:
        columns = {**_dedup_sort(table), **(columns or {})}
    hints = dlt.mark.make_hints(
        table_name=table_name,
        primary_key=primary_key,
        merge_key=merge_key,
        write_disposition=disposition,
        columns=columns,
        table_format=_table_format,
        additional_table_hints={ONCE_PER_KEY: True} if once_per_key and not _table_format else None,
    )
    return dlt.mark.with_hints(table, hints, create_table_variant=True)
