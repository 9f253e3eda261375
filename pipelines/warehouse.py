"""Where the warehouse lives, how to open it, and how a sync publishes it.

A sync never writes the file BI tools open. It loads and builds models in a working copy
beside it (`.labsync/<stem>/working.duckdb`), then writes a fresh copy of the result in a
storage format DuckDB 1.x readers can open and renames it over the published path. Readers
holding the old file keep reading the old state; new connections see the new one.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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


class StorageFull(LabsyncError):
    """A write failed for lack of space (ENOSPC) or over a file size limit (EFBIG)."""


_FULL = re.compile(r"no space left|file too large|disk quota", re.IGNORECASE)
_WRITTEN = re.compile(r'(?:file|write to) "([^"]+)"')


def storage_full(exc: BaseException, step: str) -> StorageFull | None:
    """`exc` as a one-line `StorageFull` naming the path, or None if it is something else."""
    text = str(exc)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        path = exc.filename
    elif isinstance(exc, duckdb.Error) and _FULL.search(text):
        found = _WRITTEN.search(text)
        path = found.group(1) if found else None
    else:
        return None
    reason = _FULL.search(text)
    return StorageFull(
        f"{step} failed: cannot write {path or 'a file'}"
        f" ({reason.group(0).lower() if reason else 'disk full'}); the published file is "
        "unchanged and the next sync with space again picks up from here"
    )


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
    for path in (working_path(warehouse), lock_path(warehouse)):
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


def lock_path(warehouse: Path) -> Path:
    return warehouse.parent / ".labsync" / f"{warehouse.stem}.lock"


@dataclass(frozen=True)
class LockHolder:
    description: str  # "`labsync sync` (pid 12, on host, since ...)"
    alive: bool  # False: the holder died without releasing (killed); its work may be pending


def lock_holder(warehouse: Path) -> LockHolder | None:
    """Who holds or last held the writer lock without releasing it, without taking it.

    The holder writes itself into the lock file and clears it on release, so text left in
    the file names a process that is running or was killed. (Testing the lock itself could
    make a sync starting at that moment exit as busy.)
    """
    try:
        text = lock_path(warehouse).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not text:
        return None
    found = re.search(r"pid (\d+) on (\S+?),", text)
    if not found or found.group(2) != socket.gethostname():
        return LockHolder(text, alive=True)  # another host's: cannot tell, assume running
    try:
        os.kill(int(found.group(1)), 0)
    except ProcessLookupError:
        return LockHolder(text, alive=False)
    except PermissionError:
        pass
    return LockHolder(text, alive=True)


@contextmanager
def exclusive_lock(warehouse: Path, command: str) -> Iterator[None]:
    """Hold the warehouse's writer lock, or raise `WarehouseBusy` naming the holder."""
    path = lock_path(warehouse)
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


def publishing_path(warehouse: Path) -> Path:
    return warehouse.with_name(f".{warehouse.name}.publishing")


def spare_path(warehouse: Path) -> Path:
    """The file the last publish replaced, kept to be brought up to date by the next one
    instead of copying the published file whole (see `publishing`)."""
    return warehouse.with_name(f".{warehouse.name}.spare")


@dataclass
class WorkingCopy:
    path: Path
    fresh: bool = False  # new or restored: it may hold less than dlt's local state says
    notes: list[str] = field(default_factory=list)  # what was done after a crash


def prepare_working_copy(warehouse: Path) -> WorkingCopy:
    """The working database, and what was done to make it usable after a crash.

    A half-written `.publishing` file is removed. A working copy that went missing, or that
    DuckDB cannot open, is restored from the published file (copied under a temporary name
    and renamed, so a kill never leaves half a copy). A restored or new working copy holds
    less than dlt's local state may say was loaded: the caller resets that state (see
    `runner`), so the cursors come from the database again.
    """
    work = working_path(warehouse)
    work.parent.mkdir(parents=True, exist_ok=True)
    done: list[str] = []
    staged = publishing_path(warehouse)
    if staged.exists():
        staged.unlink()
        done.append(f"removed the half-written {staged.name}")
    if work.exists() and not _opens(work):
        broken = work.with_name(work.name + ".broken")
        os.replace(work, broken)
        Path(f"{work}.wal").unlink(missing_ok=True)
        done.append(f"set aside a working copy DuckDB cannot open ({broken.name})")
    fresh = not work.exists()
    if fresh and warehouse.exists():
        restoring = work.with_name(work.name + ".restoring")
        shutil.copyfile(warehouse, restoring)
        os.replace(restoring, work)
        done.append(f"restored the working copy from {warehouse.name}")
    return WorkingCopy(work, fresh, done)


def _opens(database: Path) -> bool:
    try:
        with duckdb.connect(str(database)) as con:
            con.execute("select count(*) from information_schema.tables").fetchone()
        return True
    except duckdb.Error:
        return False


def publish(work: Path, warehouse: Path) -> None:
    """Atomically replace the published file with a copy of the working database.

    The copy is written under a temporary name and renamed over the published file only
    once complete: a kill or a full disk mid-copy leaves the published file as it was.
    """
    progress.phase("publish", str(warehouse))
    staged = publishing_path(warehouse)
    staged.unlink(missing_ok=True)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = capped_connection()
    try:
        con.execute(f"attach {_literal(work)} as working (read_only)")
        con.execute(
            f"attach {_literal(staged)} as published "
            f"(storage_version '{PUBLISHED_STORAGE_VERSION}')"
        )
        con.execute("copy from database working to published")
        con.execute("detach published")
        os.replace(staged, warehouse)
    except BaseException:
        discard(staged)
        raise
    finally:
        con.close()
    logger.info("published %s", warehouse)


def discard(staged: Path) -> None:
    """Remove a half-written publish (and its WAL)."""
    staged.unlink(missing_ok=True)
    Path(f"{staged}.wal").unlink(missing_ok=True)


def capped_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the sync's DuckDB settings (its memory cap: beyond it
    DuckDB spills to disk), for copying between attached files."""
    from .runner import duckdb_settings  # the runner imports this module

    return duckdb.connect(config={k: str(v) for k, v in duckdb_settings().items()})


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
