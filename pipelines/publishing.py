"""Publishing what changed: the ledger of unpublished changes, and a publish that copies only them.

The published file is the working copy as of the last publish. A sync records, in a small
ledger beside the working copy (`.labsync/<stem>/unpublished.json`), which tables it may have
changed since then, before it changes them: a source's whole datasets before its load (a kill
mid-load leaves that coarse mark), narrowed to the tables the load wrote once it committed.

Publishing then byte-copies the previous published file under the temporary `.publishing`
name, replaces in it only the tables the ledger names (plus the sync history, tables that
appeared or disappeared, and the views and macros when they were rebuilt), checkpoints and
renames it over the published file: the same guarantees as a full copy (readers never
blocked, old or new, the pinned storage version), at a cost that grows with the change.
A full `copy from database` is made when the ledger says everything may have changed (a new
or restored working copy, a full refresh, no ledger yet) or the published file is gone.

The file a publish replaces is kept as the spare (`.<name>.spare`, a second link made just
before the rename), and the ledger notes which tables it lacks. The next publish renames the
spare to `.publishing` and brings it up to date (those tables and its own changes) instead of
copying the whole published file: a sync where nothing changed then writes its history only,
whatever the size. The spare is written only when no DuckDB process has it open (a reader of
the file it was: DuckDB's lock refuses the write) and only when it is no other name of the
published file (a kill between the link and the rename); otherwise it is dropped and the
published file copied as before. A kill while the spare is brought up to date leaves a
`.publishing` file that the next sync removes, as with a copy.

Models and audits are rebuilt only when data changed or the models did (their fingerprint:
the `sql/` files, the config they read, the engine); a quiet sync publishes its history only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from . import models
from .common import progress
from .history import HISTORY_SCHEMA, HISTORY_TABLE
from .warehouse import (
    PUBLISHED_STORAGE_VERSION,
    capped_connection,
    discard,
    publish,
    publishing_path,
    spare_path,
    state_dir,
)

if TYPE_CHECKING:
    import dlt

logger = logging.getLogger("labsync")

LEDGER_NAME = "unpublished.json"
HISTORY = f"{HISTORY_SCHEMA}.{HISTORY_TABLE}"
DLT_TABLE_PREFIX = "_dlt"
DLT_TABLES = ("_dlt_loads", "_dlt_pipeline_state", "_dlt_version")  # a load's record
# a published file with more free than used blocks is rewritten whole at its next publish
MAX_FREE_SHARE = 0.5


@dataclass
class Ledger:
    """What the working copy holds that the published file does not (yet)."""

    path: Path
    everything: bool = True  # no ledger yet: nothing is known about the published file
    schemas: set[str] = field(default_factory=set)  # every table in them may have changed
    tables: set[str] = field(default_factory=set)  # "schema.table"
    views: bool = False  # the views and macros were rebuilt since the last publish
    models: str | None = None  # fingerprint of the models built in the working copy
    failed_audits: dict[str, int] = field(default_factory=dict)  # of that build: name -> rows
    spare: bool = False  # the spare file is the file the last publish replaced ...
    spare_lags: set[str] = field(default_factory=set)  # ... lacking these tables of it
    spare_views: bool = False  # ... and its views and macros
    marked: list[str] = field(default_factory=list)  # by this sync's `loading`, not persisted

    @classmethod
    def read(cls, warehouse: Path) -> Ledger:
        path = state_dir(warehouse) / LEDGER_NAME
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return cls(path)
        return cls(
            path,
            everything=bool(raw.get("everything", True)),
            schemas=set(raw.get("schemas", [])),
            tables=set(raw.get("tables", [])),
            views=bool(raw.get("views", False)),
            models=raw.get("models"),
            failed_audits=dict(raw.get("failed_audits", {})),
            spare=bool(raw.get("spare", False)),
            spare_lags=set(raw.get("spare_lags", [])),
            spare_views=bool(raw.get("spare_views", False)),
        )

    def write(self) -> None:
        """Persist atomically: a kill leaves the old ledger or the new one."""
        raw = asdict(self)
        raw.pop("path")
        raw.pop("marked")
        raw["schemas"], raw["tables"] = sorted(self.schemas), sorted(self.tables)
        raw["spare_lags"] = sorted(self.spare_lags)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staged = self.path.with_name(self.path.name + ".tmp")
        with open(staged, "w", encoding="utf-8") as handle:
            json.dump(raw, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staged, self.path)

    @property
    def changed(self) -> bool:
        """Data may differ from the published file."""
        return self.everything or bool(self.schemas or self.tables)

    def loading(self, datasets: list[str], everything: bool = False) -> None:
        """Before loads write into `datasets` (and dlt's staging datasets beside them): mark
        them changed (`everything`: the whole warehouse), persisted before the first write."""
        if everything and not self.everything:
            self.everything = True
            self.write()
        marks = [name for d in datasets for name in (d, f"{d}_staging")]
        self.marked = [m for m in marks if m not in self.schemas]
        if self.marked and not self.everything:
            self.schemas.update(self.marked)
            self.write()

    def loaded(self, dataset: str, tables: set[str]) -> None:
        """The load into `dataset` marked by `loading` committed and wrote only `tables`:
        narrow its coarse mark to them (and dlt's record of the load)."""
        ours = {dataset, f"{dataset}_staging"} & set(self.marked)
        if self.everything or not ours:
            return
        self.tables.update(
            f"{schema}.{t}" for schema in (dataset, f"{dataset}_staging") for t in tables
        )
        if tables:
            self.tables.update(f"{dataset}.{t}" for t in DLT_TABLES)
        self.schemas -= ours
        self.write()

    def unchanged_since_build(self, fingerprint: str) -> bool:
        """No data changed since the views were built and audited, nor the models."""
        return not self.changed and self.models == fingerprint

    def built(self, fingerprint: str, failures: list[models.AuditFailure]) -> None:
        self.models, self.views = fingerprint, True
        self.failed_audits = {f.name: f.rows for f in failures}
        self.write()

    def last_audit_failures(self) -> list[models.AuditFailure]:
        return [models.AuditFailure(n, rows, []) for n, rows in self.failed_audits.items()]

    def published(self, spare: Spare | None = None) -> None:
        """The published file holds the working copy; `spare`: what the file it replaced,
        kept as the spare, lacks of it (None: no spare)."""
        self.spare = spare is not None
        self.spare_lags = set(spare.tables) if spare else set()
        self.spare_views = bool(spare and spare.views)
        self.everything, self.views = False, False
        self.schemas.clear()
        self.tables.clear()
        self.write()


@dataclass(frozen=True)
class Spare:
    """What the spare lacks of the published file."""

    tables: frozenset[str]
    views: bool


def fingerprint(metric_directions: dict[str, str]) -> str:
    """What the views and audits depend on besides the data: the `sql/` files, the config
    they read, the model runner and the engine."""
    digest = hashlib.sha256()
    for path in [*sorted(models.SQL_DIR.rglob("*.sql")), Path(models.__file__)]:
        digest.update(str(path.relative_to(models.SQL_DIR.parent)).encode())
        digest.update(path.read_bytes())
    digest.update(json.dumps(metric_directions, sort_keys=True).encode())
    digest.update(duckdb.__version__.encode())
    return digest.hexdigest()[:16]


def forget(warehouse: Path) -> None:
    """Nothing is known of what the published file lacks: the next publish copies it whole."""
    (state_dir(warehouse) / LEDGER_NAME).unlink(missing_ok=True)


def written_tables(pipeline: dlt.Pipeline) -> set[str]:
    """The data tables the pipeline's last load wrote (its jobs), dlt's own tables aside."""
    trace = pipeline.last_trace
    info = trace.last_load_info if trace else None
    tables: set[str] = set()
    for package in info.load_packages if info else []:
        for jobs in package.jobs.values():
            tables.update(job.job_file_info.table_name for job in jobs)
    return {t for t in tables if not t.startswith(DLT_TABLE_PREFIX)}


def publish_changes(work: Path, warehouse: Path, ledger: Ledger) -> None:
    """Publish `work` over `warehouse`, copying only what the ledger names when it can."""
    if ledger.everything or not warehouse.exists():
        spare_path(warehouse).unlink(missing_ok=True)  # it lacks an unknown part of the new file
        publish(work, warehouse)
        ledger.published(_copy_spare(warehouse))
        return
    compact, spare = _publish_incremental(work, warehouse, ledger)
    ledger.published(spare)
    if compact:  # its free blocks outgrew its data: rewrite it whole next time
        ledger.everything = True
        ledger.write()


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, str]:
    """{"schema.table": its `create table` statement} of an attached database."""
    rows = con.execute(
        "select schema_name || '.' || table_name, sql from duckdb_tables() "
        "where database_name = ? and not internal and not temporary",
        [database],
    ).fetchall()
    return dict(rows)


def _publish_incremental(work: Path, warehouse: Path, ledger: Ledger) -> tuple[bool, Spare | None]:
    """Bring the spare up to date (else copy the published file), replace in it the changed
    tables (and the views when they were rebuilt), keep the published file as the next spare,
    rename the staged file over it. True when it should be compacted, and the new spare."""
    progress.phase("publish", str(warehouse))
    staged = publishing_path(warehouse)
    discard(staged)
    lag = _take_spare(warehouse, staged, ledger)
    con = capped_connection()
    try:
        con.execute(f"attach {_literal(work)} as working (read_only)")
        if lag is not None and not _attach_spare(con, staged):
            lag = None  # a reader still has it open: it must not change under them
        if lag is None:
            _copy(warehouse, staged)
            con.execute(f"attach {_literal(staged)} as published")
        found = con.execute(
            "select tags['storage_version'] from duckdb_databases() where database_name = ?",
            ["published"],
        ).fetchone()
        if not found or not str(found[0]).startswith(PUBLISHED_STORAGE_VERSION):
            raise _Unexpected(f"the published file's storage version is {found}")
        compact, changed = _apply(con, ledger, lag or Spare(frozenset(), False), warehouse)
        con.execute("use memory")
        con.execute("detach published")
        kept = _keep_spare(warehouse)
        os.replace(staged, warehouse)
    except _Unexpected as exc:
        con.close()
        discard(staged)
        spare_path(warehouse).unlink(missing_ok=True)
        logger.info("publishing a full copy: %s", exc)
        publish(work, warehouse)
        return False, None
    except BaseException:
        discard(staged)
        raise
    finally:
        con.close()
    if lag is not None:
        logger.info("brought the spare up to date instead of copying %s", warehouse.name)
    logger.info("published %s (changes only)", warehouse)
    return compact, changed if kept else None


def _take_spare(warehouse: Path, staged: Path, ledger: Ledger) -> Spare | None:
    """Rename the spare to `staged` when it can be brought up to date; what it lacks of the
    published file (None: no usable spare)."""
    spare = spare_path(warehouse)
    try:
        # a kill between `_keep_spare` and the rename leaves it a second name of the
        # published file: writing through it would change the file readers have
        usable = spare.stat().st_nlink == 1 and not os.path.samefile(spare, warehouse)
    except FileNotFoundError:
        return None
    if not (usable and ledger.spare):
        spare.unlink()
        return None
    os.replace(spare, staged)
    return Spare(frozenset(ledger.spare_lags), ledger.spare_views)


def _attach_spare(con: duckdb.DuckDBPyConnection, staged: Path) -> bool:
    """Attach the spare (renamed to `staged`) for writing; False, and `staged` removed, when a
    DuckDB reader of the file it was still has it open (its lock refuses the write) or this
    process might (its locks do not exclude its own)."""
    if not _closed_here(staged):
        logger.info("the spare is open in this process: copying the published file")
        discard(staged)
        return False
    try:
        con.execute(f"attach {_literal(staged)} as published")
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        logger.info("the spare is open in another process: copying the published file")
        discard(staged)  # unlinked only: the reader keeps reading it
        return False
    return True


def _copy_spare(warehouse: Path) -> Spare | None:
    """A copy of a file published whole as the spare, so that the next publish need not
    copy it (a kill before the ledger records it leaves a publish of everything to do, which
    drops it first)."""
    spare = spare_path(warehouse)
    try:
        _copy(warehouse, spare)
    except OSError as exc:  # the publish is done; the spare only saves the next one a copy
        spare.unlink(missing_ok=True)
        logger.warning("no spare copy of %s: %s", warehouse.name, exc)
        return None
    return Spare(frozenset(), False)


def _closed_here(path: Path) -> bool:
    """No file descriptor of this process is open on `path` (False when that cannot be told:
    no /proc)."""
    target = os.stat(path)
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            found = os.stat(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile, or the listing's own
            continue
        if (found.st_dev, found.st_ino) == (target.st_dev, target.st_ino):
            return False
    return True


def _keep_spare(warehouse: Path) -> bool:
    """A second name for the published file about to be replaced: the next spare."""
    spare = spare_path(warehouse)
    spare.unlink(missing_ok=True)
    try:
        os.link(warehouse, spare)
    except OSError:  # no hard links here (some network filesystems): copy next time
        return False
    return True


def _copy(source: Path, target: Path) -> None:
    """Copy a file in the kernel (`copy_file_range`: no pass through user space); an error
    names `target`, the file that could not be written."""
    try:
        with open(source, "rb") as reading, open(target, "wb") as writing:
            left = os.fstat(reading.fileno()).st_size
            while left > 0:
                done = os.copy_file_range(reading.fileno(), writing.fileno(), left)
                if done == 0:
                    break
                left -= done
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(target)) from exc


class _Unexpected(Exception):
    """Something an incremental publish does not handle: publish a full copy instead."""


def _apply(
    con: duckdb.DuckDBPyConnection, ledger: Ledger, lag: Spare, warehouse: Path
) -> tuple[bool, Spare]:
    """Make `published` equal to `working`: the tables the ledger names, the history, what
    the attached file lacks (`lag`: it is the spare) and the views when they were rebuilt.
    Whether to compact it, and what the file now published lacks of the new one."""
    for kind, query in (
        ("sequences", "duckdb_sequences() where database_name = 'working'"),
        ("types", "duckdb_types() where database_name = 'working' and not internal"),
    ):
        extra = con.execute(f"select count(*) from {query}").fetchone()
        if extra and extra[0]:
            raise _Unexpected(f"the working copy has {kind}: a copy of tables would miss them")
    working, published = _tables(con, "working"), _tables(con, "published")
    model_schemas = set(models.LAYERS.values())

    def changed(name: str, views: bool) -> bool:
        schema = name.split(".", 1)[0]
        return (
            name in ledger.tables
            or schema in ledger.schemas
            or name == HISTORY
            or (views and schema in model_schemas)
        )

    views = ledger.views or lag.views
    replace = {
        name
        for name in working
        if changed(name, views) or name in lag.tables or name not in published
    }
    gone = set(published) - set(working)
    # what the file being replaced lacks: the ledger's changes and tables new or gone since
    current = published if not lag.tables and not lag.views else _catalog(con, warehouse)
    lags = {n for n in working if changed(n, ledger.views) or n not in current}
    lags |= set(current) - set(working)
    logger.debug("publishing %d changed tables, dropping %d", len(replace), len(gone))
    con.execute("use published")
    con.execute("begin transaction")  # one commit (nobody sees this file before the rename)
    if views:
        _drop_views_and_macros(con)
    for name in sorted(gone | (replace & set(published))):
        con.execute(f"drop table {_qualified(name)}")
    schemas = {
        r[0]
        for r in con.execute(
            "select schema_name from duckdb_schemas() where database_name = 'published'"
        ).fetchall()
    }
    for name in sorted(replace):
        schema = name.split(".", 1)[0]
        if schema not in schemas:
            con.execute(f"create schema {_ident(schema)}")
            schemas.add(schema)
        con.execute(working[name])
        con.execute(
            f"insert into published.{_qualified(name)} select * from working.{_qualified(name)}"
        )
    con.execute("commit")
    if views:
        _copy_views_and_macros(con)
    con.execute("checkpoint published")
    size = con.execute(
        "select free_blocks, total_blocks from pragma_database_size() where database_name = ?",
        ["published"],
    ).fetchone()
    return bool(size and size[0] > MAX_FREE_SHARE * size[1]), Spare(frozenset(lags), ledger.views)


def _catalog(con: duckdb.DuckDBPyConnection, warehouse: Path) -> dict[str, str]:
    """The tables of the published file (read only: a shared lock, as any reader's)."""
    con.execute(f"attach {_literal(warehouse)} as current (read_only)")
    try:
        return _tables(con, "current")
    finally:
        con.execute("detach current")


def _drop_views_and_macros(con: duckdb.DuckDBPyConnection) -> None:
    for schema, name in con.execute(
        "select schema_name, view_name from duckdb_views() "
        "where database_name = 'published' and not internal"
    ).fetchall():
        con.execute(f"drop view {_ident(schema)}.{_ident(name)}")
    for schema, name, kind in con.execute(
        "select distinct schema_name, function_name, function_type from duckdb_functions() "
        "where database_name = 'published' and not internal and function_type like '%macro'"
    ).fetchall():
        table = "table " if kind == "table_macro" else ""
        con.execute(f"drop macro {table}{_ident(schema)}.{_ident(name)}")


def _copy_views_and_macros(con: duckdb.DuckDBPyConnection) -> None:
    """The working copy's views (their stored `create view`) and macros, in an order that
    binds: a view over another is retried once the other exists."""
    pending = [
        r[0]
        for r in con.execute(
            "select sql from duckdb_views() where database_name = 'working' and not internal "
            "order by view_oid"
        ).fetchall()
    ]
    while pending:
        failed = []
        for sql in pending:
            try:
                con.execute(sql)
            except duckdb.CatalogException:
                failed.append(sql)
        if len(failed) == len(pending):
            raise _Unexpected("views of the working copy do not bind in the published file")
        pending = failed
    rows = con.execute(
        "select schema_name, function_name, function_type, parameters, macro_definition "
        "from duckdb_functions() where database_name = 'working' and not internal "
        "and function_type like '%macro'"
    ).fetchall()
    for schema, name, kind, parameters, definition in rows:
        table = " table" if kind == "table_macro" else ""
        con.execute(
            f"create macro {_ident(schema)}.{_ident(name)}({', '.join(parameters)}) as"
            f"{table} {definition}"
        )


def _qualified(name: str) -> str:
    schema, table = name.split(".", 1)
    return f"{_ident(schema)}.{_ident(table)}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
