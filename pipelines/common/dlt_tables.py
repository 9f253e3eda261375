"""Hand typed Arrow tables to dlt: one resource may fill several tables, each with its keys."""

from __future__ import annotations

from typing import Any

import dlt
import pyarrow as pa
from dlt.common.schema.typing import TColumnSchema

from .arrow import check_extra_types

MERGE: dict[str, str] = {"disposition": "merge", "strategy": "delete-insert"}


def route_table(
    table_name: str,
    table: pa.Table,
    *,
    primary_key: str | list[str] | None,
    merge_key: str | None = None,
    columns: dict[str, TColumnSchema] | None = None,
) -> Any:
    """Route an Arrow table to `table_name` (merged on its keys), failing on type drift first.

    Call inside a dlt resource. `columns` adds dlt column hints (e.g. `hard_delete`).
    """
    schema = dlt.current.source_schema()
    known = schema.tables.get(table_name, {}).get("columns", {})
    check_extra_types(table_name, table, lambda col: known.get(col, {}).get("data_type"))
    # keys are never null; saying so in the Arrow schema matches dlt's own key hints
    keys = {k for k in (primary_key, merge_key) if isinstance(k, str)}
    if isinstance(primary_key, list):
        keys.update(primary_key)
    table = table.cast(pa.schema([f.with_nullable(f.name not in keys) for f in table.schema]))
    hints = dlt.mark.make_hints(
        table_name=table_name,
        primary_key=primary_key,
        merge_key=merge_key,
        write_disposition=MERGE,
        columns=columns,
    )
    return dlt.mark.with_hints(table, hints, create_table_variant=True)
