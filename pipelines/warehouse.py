"""Where the warehouse lives and how to open it."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from .common.config import config_value

DEFAULT_WAREHOUSE = Path("warehouse") / "labsync.duckdb"


def warehouse_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--warehouse`, else `LABSYNC_WAREHOUSE`, else `[labsync] warehouse`, else the default."""
    chosen = (
        explicit
        or os.environ.get("LABSYNC_WAREHOUSE")
        or config_value("labsync.warehouse")
        or DEFAULT_WAREHOUSE
    )
    return Path(chosen).expanduser().resolve()


def state_dir(warehouse: Path) -> Path:
    """dlt's working folder (state, load packages) sits beside its warehouse, one per file."""
    return warehouse.parent / ".labsync" / warehouse.stem


def connect(warehouse: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(warehouse), read_only=read_only)
    con.execute("set TimeZone = 'UTC'")
    return con


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])
