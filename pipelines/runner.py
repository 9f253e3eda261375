"""The one place that builds dlt pipelines: destination, dataset, load, models, publish."""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import duckdb
from dlt.common.configuration import configspec
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.pipeline.exceptions import PipelineStepFailed

from . import history, models, publishing, recovery
from . import lake as lakes
from . import postgres as pg
from .common import dlt_tables, memory, merge_sql, progress
from .common.config import config_value
from .common.errors import ConfigurationError, LabsyncError
from .common.stats import SyncStats
from .sources import SOURCE_NAMES, SourceSpec, SyncContext, registry
from .warehouse import (
    connect,
    exclusive_lock,
    prepare_working_copy,
    state_dir,
    storage_full,
)

logger = logging.getLogger("labsync")

# DuckDB settings of the load into the working copy: a memory cap (DuckDB spills to disk beyond
# it) so a sync's memory does not grow with the warehouse; `[labsync] duckdb_memory_limit`
DEFAULT_DUCKDB_MEMORY_LIMIT = "256MB"
# the load's cap, lower: its merges need little since `merge_sql` (no staging dedup, a delete
# over distinct keys), and DuckDB fills its cap with the blocks it writes; `[labsync]
# duckdb_load_memory_limit`, else a `duckdb_memory_limit` that was set
DEFAULT_DUCKDB_LOAD_MEMORY_LIMIT = "128MB"
# the audits' cap (`[labsync] duckdb_audit_memory_limit`): their aggregates spill beyond it; at
# 1M runs 128MB added half the RSS of 256MB for about the same CPU (bench/audits_memory_bench)
DEFAULT_AUDIT_MEMORY_LIMIT = "128MB"
LOADER_FILE_FORMAT = "parquet"  # 5-7x faster than insert_values on DuckDB (dlt notes §3)
TABLE_FORMATS = ("parquet", "delta")  # of a lake: plain Parquet files or Delta tables


class SyncFailed(LabsyncError):
    """A source failed; what it had not fully loaded did not reach the warehouse."""

    def __init__(self, message: str, result: SyncResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class SourceResult:
    """What one source did in one sync."""

    name: str
    status: str = "succeeded"  # succeeded | failed
    stats: SyncStats = field(default_factory=SyncStats)
    rows_by_table: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    failed_step: str | None = None

    @property
    def rows_loaded(self) -> int:
        return sum(self.rows_by_table.values())


@dataclass
class SyncResult:
    """What a sync did, per source and in total."""

    warehouse: Path
    seconds: float = 0.0
    sources: dict[str, SourceResult] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    audit_failures: list[models.AuditFailure] = field(default_factory=list)
    published: bool = False
    recovered: list[str] = field(default_factory=list)  # what a crashed sync had left

    @property
    def rows_loaded(self) -> int:
        return sum(s.rows_loaded for s in self.sources.values())

    @property
    def failed(self) -> list[SourceResult]:
        return [s for s in self.sources.values() if s.status == "failed"]


def raw_dataset(source: str) -> str:
    return f"raw_{source}"


def make_pipeline(source: str, warehouse: Path, database: Path | str | pg.Target) -> dlt.Pipeline:
    """The source's pipeline; its state lives beside the published `warehouse`.

    `database` is a DuckDB file, a lake URL for dlt's filesystem destination, or Postgres.
    """
    if isinstance(database, pg.Target):
        destination = database.destination()
    elif isinstance(database, str):
        destination = dlt.destinations.filesystem(bucket_url=database)
    else:
        destination = merge_sql.duckdb(_duckdb_credentials(database))
    return dlt.pipeline(
        pipeline_name=f"labsync_{source}",
        destination=destination,
        dataset_name=raw_dataset(source),
        pipelines_dir=str(state_dir(warehouse)),
        progress=progress.DltPhases(),
    )


def duckdb_settings() -> dict[str, Any]:
    """DuckDB settings for the load, the models and the audits of a sync."""
    return {
        "memory_limit": str(
            config_value("labsync.duckdb_memory_limit", DEFAULT_DUCKDB_MEMORY_LIMIT)
        ),
        # no order to keep in merges, appends and audits: lets DuckDB stream, not buffer
        "preserve_insertion_order": False,
    }


@configspec(init=False)
class _FileCredentials(DuckDbCredentials):
    """Credentials of a DuckDB file that print without SQLAlchemy's URL: dlt prints them in
    every load's trace, which imports SQLAlchemy where it is installed (~0.17 CPU-s)."""

    def __str__(self) -> str:
        return f"{self.drivername}:///{self.database}"


def _duckdb_credentials(database: Path) -> DuckDbCredentials:
    credentials = _FileCredentials()
    # set, not parsed: parsing a path as a connection string imports sqlalchemy (~0.15 s)
    credentials.database = str(database)
    limit = config_value(
        "labsync.duckdb_load_memory_limit",
        config_value("labsync.duckdb_memory_limit", DEFAULT_DUCKDB_LOAD_MEMORY_LIMIT),
    )
    credentials.global_config = {**duckdb_settings(), "memory_limit": str(limit)}
    # resolved here: dlt keeps a resolved instance as it is (else it makes a DuckDbCredentials)
    return credentials.resolve()


@dataclass
class DeltaLakeContext(SyncContext):
    """A sync into a Delta lake: sources read back what they loaded through the lake views."""

    lake: str = ""

    def loaded_rows(self, table: str, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        try:
            return lakes.loaded_rows(self.lake, self.pipeline.dataset_name, table, columns)
        except ConfigurationError:  # no lake yet: nothing was ever loaded
            return []


def select_sources(names: Sequence[str] | None) -> tuple[list[SourceSpec], list[str]]:
    """The sources to run and the ones skipped for lack of credentials.

    Sources asked for by name must be configured; a plain sync skips unconfigured ones.
    """
    if names:
        unknown = [n for n in names if n not in SOURCE_NAMES]
        if unknown:
            raise ConfigurationError(
                f"unknown source {', '.join(unknown)}; expected one of {', '.join(SOURCE_NAMES)}"
            )
        named = registry(names)  # only theirs imported
        return [named[n] for n in dict.fromkeys(names)], []
    specs = registry()
    chosen = [spec for spec in specs.values() if spec.is_configured()]
    skipped = [name for name, spec in specs.items() if not spec.is_configured()]
    if not chosen:
        # nothing configured: name what the first source needs (its build raises that error)
        return [next(iter(specs.values()))], []
    return chosen, skipped


def _root_cause(exc: BaseException) -> BaseException:
    """The first labsync error in the chain dlt wrapped, else the innermost exception."""
    while not isinstance(exc, LabsyncError):
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return exc


def _cursor(state: Mapping[str, Any], source: str, resource: str) -> str | None:
    resources = state.get("sources", {}).get(source, {}).get("resources", {})
    cursor = resources.get(resource, {}).get("cursor")
    return str(cursor) if cursor is not None else None


def _failed(result: SourceResult, exc: PipelineStepFailed, step: str | None = None) -> None:
    cause = _root_cause(exc)
    message = str(cause) if isinstance(cause, LabsyncError) else f"{type(cause).__name__}: {cause}"
    result.status, result.failed_step = "failed", step or exc.step
    result.error = f"{result.name} failed at step '{result.failed_step}': {message}"
    logger.error("%s", result.error)


def _recover(pipeline: dlt.Pipeline, result: SourceResult) -> list[str]:
    """Finish or discard what a crashed sync left in the source's pipeline, before extracting.

    A source whose leftovers can be neither loaded nor aborted fails; it must not extract
    on top of them.
    """
    try:
        done = recovery.finish_pending(pipeline)
    except PipelineStepFailed as exc:
        _failed(result, exc, step="recover")
        return []
    return [f"{result.name}: {action}" for action in done]


def _working_copy(warehouse: Path, notes: list[str]) -> Path:
    """The working copy, repaired after a crash; `notes` gets what was done.

    A new or restored working copy may hold less than dlt's local state says was loaded:
    that state and its pending packages are dropped, so each pipeline restores its state
    (cursors) from the database on its next run, and re-reads whatever the database lacks.
    """
    work = prepare_working_copy(warehouse)
    notes += work.notes
    if work.fresh:
        publishing.forget(warehouse)  # publish it whole
        for name in SOURCE_NAMES:
            folder = state_dir(warehouse) / f"labsync_{name}"
            if folder.exists():
                shutil.rmtree(folder)
                notes.append(f"{name}: dlt state reset to the working copy's")
    return work.path


def _run_source(pipeline: dlt.Pipeline, source: Any, result: SourceResult) -> None:
    try:
        # Postgres: insert_values (parquet needs an ADBC driver; csv loads "" as NULL)
        postgres = pipeline.destination.destination_type.endswith(".postgres")
        pipeline.run(source, loader_file_format="insert_values" if postgres else LOADER_FILE_FORMAT)
    except PipelineStepFailed as exc:
        _failed(result, exc)
        return
    normalize_info = pipeline.last_trace.last_normalize_info
    if normalize_info is not None:
        result.rows_by_table = {
            table: count
            for table, count in normalize_info.row_counts.items()
            if not table.startswith("_dlt")
        }


def _history_records(
    sync_id: str, started: datetime, pipeline: dlt.Pipeline, source: Any, result: SourceResult
) -> list[history.SyncRunRecord]:
    """One record per resource of the source, including those a failure kept from running."""
    finished = datetime.now(UTC).isoformat()
    names = [*source.selected_resources, *result.stats.resources]
    resources = {name: result.stats.resources.get(name) for name in dict.fromkeys(names)}
    # decoded once: the state of a large source takes a while to decode
    state = pipeline.state if result.status == "succeeded" else {}
    return [
        history.SyncRunRecord(
            sync_id=sync_id,
            started_at=started.isoformat(),
            finished_at=finished,
            status=result.status,
            source=result.name,
            resource=name,
            rows_loaded=stats.rows if stats else 0,
            requests=stats.requests if stats else 0,
            retries=stats.retries if stats else 0,
            throttled=stats.throttled if stats else 0,
            cursor=_cursor(state, result.name, name),
            error=result.error,
        )
        for name, stats in resources.items()
    ]


def sync(
    warehouse: Path,
    *,
    sources: Sequence[str] | None = None,
    full_refresh: bool = False,
    reconcile: bool = False,
    build_models: bool = True,
    options: Mapping[str, Any] | None = None,
    lake: str | None = None,
    table_format: str = "parquet",
    destination: str = "duckdb",
    publish_on_audit_failure: bool = False,
) -> SyncResult:
    """Sync the sources into a working copy, build the views, publish `warehouse`.

    With `lake` (a folder or bucket URL) the raw tables go there as Parquet through dlt's
    filesystem destination instead, or as Delta tables with `table_format="delta"`;
    `build_models_in` then builds the views over it. With `destination="postgres"` the raw
    tables and the views go to the Postgres of dlt's credentials (see `postgres`).

    A crashed sync's leftovers are finished or discarded first (`recovery`). The published
    file changes only when every load committed and every audit passed (or
    `publish_on_audit_failure`); otherwise it keeps the last good state and the working copy
    keeps the new one for inspection.

    Raises `ConfigurationError` before any request, `WarehouseBusy` when another sync runs,
    `SyncFailed` after publishing what the other sources loaded when a source failed.
    """
    started = time.monotonic()
    if table_format not in TABLE_FORMATS:
        raise ConfigurationError(f"unknown table format {table_format}; expected parquet or delta")
    if table_format != "parquet" and not lake:
        raise ConfigurationError(f"table format {table_format} needs a lake (--bucket-url)")
    specs, skipped = select_sources(sources)
    postgres = pg.target() if destination == "postgres" else None  # reachable, or exit 2
    if postgres:
        warehouse = postgres.local_anchor(warehouse)
    if lake:  # lock, dlt state and history of a lake live beside the warehouse, per URL
        lake = lakes.normalise_url(lake)
        warehouse = lakes.local_anchor(lake, warehouse)
    result = SyncResult(warehouse, skipped=skipped)
    with exclusive_lock(warehouse, "sync"), pg.writer_lock(postgres) if postgres else nullcontext():
        for name in skipped:
            logger.info("skipping source %s: no credentials configured", name)
        work: Path | str | pg.Target = (
            postgres or lake or _working_copy(warehouse, result.recovered)
        )
        sync_id = uuid.uuid4().hex[:12]
        planned = []
        for spec in specs:  # build every source first: configuration errors before any request
            pipeline = make_pipeline(spec.name, warehouse, work)
            given = (pipeline, full_refresh, reconcile, SyncStats(), options or {})
            context = (
                DeltaLakeContext(*given, lake=lake)
                if lake and table_format == "delta"
                else SyncContext(*given)
            )
            source_result = SourceResult(spec.name, stats=context.stats)
            planned.append((pipeline, spec.build(context), source_result))
        ledger = publishing.Ledger.read(warehouse)
        if isinstance(work, Path):  # before anything is loaded: what may change
            ledger.loading([pipeline.dataset_name for pipeline, _, _ in planned], full_refresh)
        narrowable = set()  # sources whose only load is this sync's own
        for pipeline, _, source_result in planned:  # before anything new is extracted
            recovered = _recover(pipeline, source_result)
            result.recovered += recovered
            if not recovered:
                narrowable.add(source_result.name)
        if result.recovered:
            logger.info("recovered after an interrupted sync: %s", "; ".join(result.recovered))
        records: list[history.SyncRunRecord] = []
        for pipeline, source, source_result in planned:
            source_started = datetime.now(UTC)
            if source_result.status != "failed":
                # route_table picks each table's disposition by format while the source extracts
                with dlt_tables.table_format("delta" if table_format == "delta" else None):
                    _run_source(pipeline, source, source_result)
            # a source that failed before its load wrote nothing (its last load: no tables)
            settled = source_result.status == "succeeded" or source_result.failed_step in (
                "extract",
                "normalize",
            )
            if settled and source_result.name in narrowable:
                ledger.loaded(pipeline.dataset_name, publishing.written_tables(pipeline))
            result.sources[source_result.name] = source_result
            records += _history_records(sync_id, source_started, pipeline, source, source_result)
        history.append(warehouse, records)
        # a failed load may have left a source's tables half-written: publish nothing then
        load_failed = any(s.failed_step in ("load", "recover") for s in result.failed)
        if isinstance(work, pg.Target) and build_models:
            if not load_failed:
                result.audit_failures = pg.build_views(
                    work, history.read(warehouse), publish_on_audit_failure=publish_on_audit_failure
                )
                result.published = not result.audit_failures or publish_on_audit_failure
            _record_publish(warehouse, sync_id, result)
        if isinstance(work, Path):
            # a sync that loaded nothing has no load buffers to hand back (~60 ms a release)
            loaded = bool(result.rows_loaded or result.failed)
            if loaded:
                memory.release()  # the loads' buffers, before the views' and audits' own
            with _storage_errors("building the views"):
                result.audit_failures = _build(warehouse, work, build_models, ledger=ledger)
            gated = bool(result.audit_failures) and not publish_on_audit_failure
            if not load_failed and not gated:
                if loaded or ledger.views:  # ... nor, with the views not rebuilt, theirs
                    memory.release()
                with _storage_errors("publishing"):
                    publishing.publish_changes(work, warehouse, ledger)
                result.published = True
            _record_publish(warehouse, sync_id, result)
    result.seconds = time.monotonic() - started
    if result.failed:
        raise SyncFailed("; ".join(s.error or s.name for s in result.failed), result)
    return result


@contextmanager
def _storage_errors(step: str) -> Iterator[None]:
    """A full disk or a file size limit becomes one line naming the path."""
    try:
        yield
    except (OSError, duckdb.Error) as exc:
        full = storage_full(exc, step)
        if full is None:
            raise
        raise full from exc


def _record_publish(warehouse: Path, sync_id: str, result: SyncResult) -> None:
    """One history record for the publish itself: `labsync status` tells a held-back file."""
    now = datetime.now(UTC).isoformat()
    error = None
    if result.audit_failures:
        names = ", ".join(f.name for f in result.audit_failures)
        error = f"audits failed: {names}" + ("" if result.published else " (not published)")
    elif not result.published:
        error = "not published: a source failed to load"
    record = history.SyncRunRecord(
        sync_id=sync_id,
        started_at=now,
        finished_at=now,
        status="failed" if error else "succeeded",
        source=history.LABSYNC_SOURCE,
        resource="publish",
        error=error,
    )
    history.append(warehouse, [record])


def _build(
    warehouse: Path,
    work: Path,
    build_models: bool,
    lake: str | None = None,
    ledger: publishing.Ledger | None = None,
) -> list[models.AuditFailure]:
    """The history table, then (with `ledger`: only when data or models changed since they
    were last built, else the last audit failures stand) the views and the audits."""
    with connect(work) as con:
        for name, value in duckdb_settings().items():
            con.execute(f"set {name} = ?", [value])
        if lake:  # raw views over the lake replace the raw tables
            lakes.attach(con, lake)
        history.materialise(con, warehouse)
        if not build_models:
            return []
        fingerprint = publishing.fingerprint(models.metric_direction_overrides())
        if ledger and ledger.unchanged_since_build(fingerprint):
            logger.info("nothing changed since the views were built: not rebuilding them")
            return ledger.last_audit_failures()
        models.build(con)
        limit = config_value("labsync.duckdb_audit_memory_limit", DEFAULT_AUDIT_MEMORY_LIMIT)
        con.execute("set memory_limit = ?", [str(limit)])
        failures = models.run_audits(con)
        (ledger or publishing.Ledger.read(warehouse)).built(fingerprint, failures)
        return failures


def build_models_in(
    warehouse: Path,
    lake: str | None = None,
    engine: str = "duckdb",
    *,
    publish_on_audit_failure: bool = False,
) -> list[models.AuditFailure]:
    """`labsync models`: rebuild the views in the working copy and publish it.

    A failed audit keeps the published file as it was (unless `publish_on_audit_failure`).
    With `lake`, `warehouse` becomes a small DuckDB file of views over the lake's Parquet;
    with `engine="spark"` the views are built in a Spark session over the lake instead.
    """
    if engine == "spark":
        from . import spark

        if not lake:
            raise ConfigurationError("--engine spark builds over a lake: give --lake URL")
        return spark.build_views(lake, lakes.local_anchor(lake, warehouse))[1]
    with exclusive_lock(warehouse, "models"):
        notes: list[str] = []
        work = _working_copy(warehouse, notes)
        if notes:
            logger.info("recovered after an interrupted run: %s", "; ".join(notes))
        history_of = lakes.local_anchor(lake, warehouse) if lake else warehouse
        failures = _build(history_of, work, build_models=True, lake=lake)
        if not failures or publish_on_audit_failure:
            ledger = publishing.Ledger.read(warehouse)
            ledger.everything = True
            publishing.publish_changes(work, warehouse, ledger)
        return failures


def table_counts(warehouse: Path, schema: str = "analytics") -> Mapping[str, int]:
    with connect(warehouse, read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = ? "
                "order by 1",
                [schema],
            ).fetchall()
        ]
        return {n: con.execute(f"select count(*) from {schema}.{n}").fetchone()[0] for n in names}
