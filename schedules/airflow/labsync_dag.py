"""labsync on Airflow 2.5+ or 3: dlt's `PipelineTasksGroup` loads every configured source into
the warehouse's working copy, one after another, then `publish` builds the views, runs the
audits and publishes the warehouse file.

Two DAGs: `labsync_sync` every 30 minutes off the hour and `labsync_reconcile` on Sundays (also
flags rows deleted in the API). Install (schedules/README.md): `pip install /path/to/labsync`
into Airflow's environment, copy this file and `labsync_airflow.py` into the dags folder, and
give the workers `LABSYNC_WAREHOUSE` (an absolute path) and the sources' credentials
(`SOURCES__DATADOG__API_KEY`, ...). Optional: `LABSYNC_AIRFLOW_POOL`, a one-slot pool shared
by both DAGs so they never write the warehouse at the same time.
"""

from __future__ import annotations

import os
from datetime import timedelta

import labsync_airflow
import pendulum
from dlt.helpers.airflow_helper import PipelineTasksGroup

from pipelines import runner

try:  # Airflow 3
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.python import PythonOperator

POOL = os.environ.get("LABSYNC_AIRFLOW_POOL", "default_pool")
START_DATE = pendulum.datetime(2025, 1, 1, tz="UTC")
SYNC_SCHEDULE = "7,37 * * * *"  # off the hour, UTC
RECONCILE_SCHEDULE = "52 3 * * 0"  # Sunday 03:52 UTC, a minute no sync run uses


def build_dag(dag_id: str, schedule: str, *, reconcile: bool) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,  # a sync catches up by itself: one run after downtime is enough
        max_active_runs=1,
        default_args={"pool": POOL, "retries": 0, "execution_timeout": timedelta(minutes=50)},
        tags=["labsync"],
        doc_md=__doc__,
    ) as dag:
        warehouse = labsync_airflow.warehouse()
        # the group points dlt at a fresh folder per task: create it before the pipelines
        load = PipelineTasksGroup(f"{dag_id}_load", use_data_folder=False, wipe_local_data=True)
        previous = None
        for name in labsync_airflow.source_names():
            pipeline = labsync_airflow.make_pipeline(name, warehouse)
            build = labsync_airflow.source_factory(name, pipeline, warehouse, reconcile=reconcile)
            tasks = load.add_run(
                pipeline,
                build,
                decompose="none",  # one task per source: its resources share state and stats
                loader_file_format=runner.LOADER_FILE_FORMAT,
            )
            if previous is not None:
                previous >> tasks[0]  # one writer at a time on the DuckDB working copy
            previous = tasks[-1]
        publish = PythonOperator(
            task_id="publish",
            python_callable=labsync_airflow.publish,
            op_args=[str(warehouse)],
            retries=2,  # a `labsync sync` run from cron or by hand may hold the warehouse
            retry_delay=timedelta(minutes=5),
        )
        load >> publish
    return dag


sync_dag = build_dag("labsync_sync", SYNC_SCHEDULE, reconcile=False)
reconcile_dag = build_dag("labsync_reconcile", RECONCILE_SCHEDULE, reconcile=True)
