"""The labsync side of the Airflow DAG, free of Airflow imports so it runs (and is tested) alone.

`labsync_dag.py` hands these to dlt's `PipelineTasksGroup`, which runs each pipeline in a fresh
per-task folder: the pipeline's state comes back from its destination, the warehouse's working
copy, which `labsync sync` writes too. `publish` then builds the views in the working copy and
publishes the warehouse, as the end of `labsync sync` does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import dlt
from dlt.extract.source import DltSource

from pipelines import runner
from pipelines.common.stats import SyncStats
from pipelines.sources import SyncContext, registry
from pipelines.warehouse import prepare_working_copy, warehouse_path, working_path

logger = logging.getLogger("labsync")


class AuditsFailed(RuntimeError):
    """An audit query returned rows after the views were built."""


def warehouse() -> Path:
    """`LABSYNC_WAREHOUSE` or `[labsync] warehouse`: an absolute path on the Airflow worker."""
    return warehouse_path()


def source_names() -> list[str]:
    """The sources a plain `labsync sync` runs (those with credentials), in its order.

    With none configured this is the first source, whose task then fails naming what it needs.
    """
    specs, skipped = runner.select_sources(None)
    for name in skipped:
        logger.info("skipping source %s: no credentials configured", name)
    return [spec.name for spec in specs]


def make_pipeline(source: str, warehouse: Path) -> dlt.Pipeline:
    """The source's pipeline into the warehouse's working copy.

    Same name and dataset as `runner.make_pipeline`, so cron and Airflow share the state stored
    in the warehouse; the local folder is dlt's default, which `PipelineTasksGroup` points at a
    fresh directory (create the group first).
    """
    return dlt.pipeline(
        pipeline_name=f"labsync_{source}",
        destination=dlt.destinations.duckdb(str(working_path(warehouse))),
        dataset_name=runner.raw_dataset(source),
    )


def source_factory(
    source: str, pipeline: dlt.Pipeline, warehouse: Path, *, reconcile: bool = False
) -> Callable[[], DltSource]:
    """What the task calls right before the run: the source as labsync's registry builds it.

    Built in the task, not when the DAG is parsed, so credentials are read where the task runs
    and a missing one fails that task with labsync's message.
    """

    def build() -> DltSource:
        prepare_working_copy(warehouse)
        if reconcile:
            # reconciling compares with the ids already loaded: restore the schema and state
            # the fresh task folder lacks
            pipeline.sync_destination()
        context = SyncContext(pipeline, reconcile=reconcile, stats=SyncStats())
        return registry()[source].build(context)

    return build


def publish(warehouse: str | os.PathLike[str]) -> None:
    """Build the views and audits in the working copy, then publish the warehouse.

    Raises `WarehouseBusy` while a `labsync sync` holds the warehouse, `AuditsFailed` when an
    audit returned rows (the published file then keeps its last good state, as with
    `labsync sync`).
    """
    failures = runner.build_models_in(Path(warehouse))
    if failures:
        described = "; ".join(f"{f.name}: {f.rows} rows, e.g. {f.sample}" for f in failures)
        raise AuditsFailed(f"{len(failures)} audit(s) failed: {described}")
