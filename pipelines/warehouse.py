"""Where the warehouse lives, how to open it, and how a sync publishes it.

A sync never writes the file BI tools open. It loads and builds models in a working copy
beside it (`.labsync/<stem>/working.duckdb`), then writes a fresh copy of the result in a
storage format DuckDB 1.x readers can open and renames it over the published path. Readers
holding the old file keep reading the old state; new connections see the new one.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from .common import progress
from .common.config import config_value
from .common.errors import ConfigurationError, LabsyncError

logger = logging.getLogger("labsync")

DEFAULT_WAREHOUSE = Path("warehouse") / "labsync.duckdb"
# DuckDB 1.0+ reads this format; BI drivers embed 1.x engines that cannot open newer files
PUBLISHED_STORAGE_VERSION = "v1.0.0"


class WarehouseBusy(LabsyncError):
    """Another sync holds the warehouse lock (exit code 75, like `flock -n`)."""


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
    """labsync's working folder (dlt state, load packages, working copy, history), per file."""
    return warehouse.parent / ".labsync" / warehouse.stem


def working_path(warehouse: Path) -> Path:
    return state_dir(warehouse) / "working.duckdb"


def check_writable(warehouse: Path, *folders: Path) -> None:
    """Raise `ConfigurationError` naming the first place a sync could not write, before it
    starts: the warehouse's folder (publishing renames into it), labsync's state folder beside
    it, and any other `folders` (a local lake). Creates nothing that stays behind."""
    targets = [warehouse.parent, state_dir(warehouse), *folders]
    for folder in targets:
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent  # a missing folder is created inside this one
        if not existing.is_dir():
            raise ConfigurationError(f"cannot write to {folder}: {existing} is not a folder")
        try:  # a real write: permissions, read-only mounts, full disks, ACLs all show here
            with tempfile.TemporaryFile(dir=existing):
                pass
        except OSError as exc:
            raise ConfigurationError(
                f"cannot write to {existing}: {exc.strerror or exc}"
                + (f" (needed for {folder})" if existing != folder else "")
            ) from None
    for path in (working_path(warehouse), warehouse.parent / ".labsync" / f"{warehouse.stem}.lock"):
        if path.exists() and not os.access(path, os.W_OK):
            raise ConfigurationError(f"cannot write to {path}: permission denied")


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


@contextmanager
def exclusive_lock(warehouse: Path, command: str) -> Iterator[None]:
    """Hold the warehouse's writer lock, or raise `WarehouseBusy` naming the holder."""
    path = warehouse.parent / ".labsync" / f"{warehouse.stem}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise WarehouseBusy(
                f"warehouse {warehouse} is locked by {holder}; not starting a second sync"
            ) from None
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        handle.write(
            f"`labsync {command}` (pid {os.getpid()} on {socket.gethostname()}, since {started})"
        )
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_working_copy(warehouse: Path) -> Path:
    """The working database, restored from the published file when it went missing."""
    work = working_path(warehouse)
    work.parent.mkdir(parents=True, exist_ok=True)
    if not work.exists() and warehouse.exists():
        logger.info("restoring the working copy from %s", warehouse)
        shutil.copyfile(warehouse, work)
    return work


def publish(work: Path, warehouse: Path) -> None:
    """Atomically replace the published file with a copy of the working database."""
    progress.phase("publish", str(warehouse))
    staged = warehouse.with_name(f".{warehouse.name}.publishing")
    staged.unlink(missing_ok=True)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"attach {_literal(work)} as working (read_only)")
        con.execute(
            f"attach {_literal(staged)} as published "
            f"(storage_version '{PUBLISHED_STORAGE_VERSION}')"
        )
        con.execute("copy from database working to published")
        con.execute("detach published")
    finally:
        con.close()
    os.replace(staged, warehouse)
    logger.info("published %s", warehouse)


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
