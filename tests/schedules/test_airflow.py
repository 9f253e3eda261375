"""schedules/airflow/: the DAG file compiles and is wired as documented (dlt's PipelineTasksGroup,
no overlapping runs, the crontab's times); what its tasks run (`labsync_airflow`) syncs the
emulator for real, the way PipelineTasksGroup runs it. Airflow itself is not a dependency of
labsync, so the DAG is checked by reading it, not by importing it."""

from __future__ import annotations

import ast
import importlib.util
import py_compile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import dlt
import duckdb
import pytest
from dlt.extract.source import DltSource

from emulator import Emulator
from pipelines import runner
from pipelines.common.errors import ConfigurationError
from pipelines.warehouse import connect, working_path
from tests.schedules.conftest import SCHEDULES
from tests.schedules.test_crontab import sync_and_reconcile

AIRFLOW = SCHEDULES / "airflow"
DAG_FILE = AIRFLOW / "labsync_dag.py"
TASKS_FILE = AIRFLOW / "labsync_airflow.py"


@pytest.fixture(scope="module")
def tasks() -> ModuleType:
    """labsync_airflow as Airflow imports it: a module in the dags folder."""
    spec = importlib.util.spec_from_file_location("labsync_airflow", TASKS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def task_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Point dlt at a fresh folder, as PipelineTasksGroup does for every task."""

    def fresh(name: str) -> Path:
        folder = tmp_path / "airflow-tasks" / name
        monkeypatch.setenv("DLT_DATA_DIR", str(folder))
        return folder

    return fresh


def run_as_pipeline_tasks_group(pipeline: dlt.Pipeline, build: Callable[[], DltSource]) -> None:
    """What PipelineTasksGroup's task does with our pipeline and callable: wipe the local
    folder, call the callable, run with the file format the DAG passes."""
    pipeline.drop()
    pipeline.run(build(), loader_file_format=runner.LOADER_FILE_FORMAT)


def dag_tree() -> ast.Module:
    return ast.parse(DAG_FILE.read_text(), filename=str(DAG_FILE))


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called == name:
                found.append(node)
    return found


def keywords(call: ast.Call) -> dict[str, ast.expr]:
    return {k.arg: k.value for k in call.keywords if k.arg}


def test_files_compile() -> None:
    for path in (DAG_FILE, TASKS_FILE):
        py_compile.compile(str(path), doraise=True)


def test_dag_loads_with_dlts_airflow_helper_and_never_overlaps() -> None:
    tree = dag_tree()
    imported = {
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert ("dlt.helpers.airflow_helper", "PipelineTasksGroup") in imported
    (dag,) = calls(tree, "DAG")
    options = keywords(dag)
    assert ast.literal_eval(options["catchup"]) is False
    assert ast.literal_eval(options["max_active_runs"]) == 1
    (add_run,) = calls(tree, "add_run")
    assert ast.unparse(keywords(add_run)["loader_file_format"]) == "runner.LOADER_FILE_FORMAT"
    assert len(calls(tree, "build_dag")) == 2  # the half-hourly sync and the weekly reconcile


def test_dag_schedules_are_the_crontabs() -> None:
    constants = {
        target.id: node.value
        for node in dag_tree().body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    regular, reconcile = sync_and_reconcile()
    assert ast.literal_eval(constants["SYNC_SCHEDULE"]) == regular.spec
    assert ast.literal_eval(constants["RECONCILE_SCHEDULE"]) == reconcile.spec


def test_dag_uses_only_what_labsync_airflow_defines(tasks: ModuleType) -> None:
    used = {
        node.attr
        for node in ast.walk(dag_tree())
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "labsync_airflow"
    }
    assert used == {"warehouse", "source_names", "make_pipeline", "source_factory", "publish"}
    assert all(callable(getattr(tasks, name)) for name in used)


def test_tasks_sync_publish_reconcile_and_share_state_with_the_cli(
    tasks: ModuleType,
    datadog_env: Emulator,
    task_folder: Callable[[str], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LABSYNC_WAREHOUSE", str(tmp_path / "warehouse" / "labsync.duckdb"))
    warehouse = tasks.warehouse()
    assert warehouse == (tmp_path / "warehouse" / "labsync.duckdb").resolve()
    chosen, _ = runner.select_sources(None)
    assert tasks.source_names() == [spec.name for spec in chosen]
    assert "model_lab" in tasks.source_names()

    # the half-hourly DAG: load, then publish
    folder = task_folder("sync")
    pipeline = tasks.make_pipeline("model_lab", warehouse)
    assert Path(pipeline.pipelines_dir).is_relative_to(folder)
    run_as_pipeline_tasks_group(pipeline, tasks.source_factory("model_lab", pipeline, warehouse))
    tasks.publish(str(warehouse))
    run_ids = datadog_env.model_lab.run_ids()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (runs,) = con.execute("select count(*) from analytics.model_lab_runs").fetchone()
    assert runs == len(run_ids)

    # the weekly DAG, in another fresh folder: a run deleted in the API gets flagged
    gone = run_ids[0]
    datadog_env.model_lab.delete_run(gone)
    task_folder("reconcile")
    pipeline = tasks.make_pipeline("model_lab", warehouse)
    build = tasks.source_factory("model_lab", pipeline, warehouse, reconcile=True)
    run_as_pipeline_tasks_group(pipeline, build)
    tasks.publish(str(warehouse))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        flagged = con.execute(
            "select is_deleted, vanished_detected_at is not null "
            "from analytics.model_lab_runs where run_id = ?",
            [gone],
        ).fetchall()
    assert flagged == [(True, True)]

    # `labsync sync` picks up where Airflow left off: the cursors live in the warehouse
    result = runner.sync(warehouse, sources=["model_lab"], build_models=False)
    assert result.sources["model_lab"].rows_by_table.get("runs", 0) == 0
    cli_pipeline = runner.make_pipeline("model_lab", warehouse, working_path(warehouse))
    assert (pipeline.pipeline_name, pipeline.dataset_name) == (
        cli_pipeline.pipeline_name,
        cli_pipeline.dataset_name,
    )


def test_publish_fails_the_task_when_an_audit_finds_rows(
    tasks: ModuleType,
    datadog_env: Emulator,
    task_folder: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    warehouse = tmp_path / "labsync.duckdb"
    task_folder("sync")
    pipeline = tasks.make_pipeline("model_lab", warehouse)
    run_as_pipeline_tasks_group(pipeline, tasks.source_factory("model_lab", pipeline, warehouse))
    with connect(working_path(warehouse)) as con:  # a run loaded twice
        con.execute("insert into raw_model_lab.runs select * from raw_model_lab.runs limit 1")

    with pytest.raises(tasks.AuditsFailed, match="model_lab_runs__unique_key: 1 rows"):
        tasks.publish(str(warehouse))


def test_missing_credentials_fail_the_task_not_the_dag_parse(
    tasks: ModuleType, emulator: Emulator, task_folder: Callable[[str], Path], tmp_path: Path
) -> None:
    warehouse = tmp_path / "labsync.duckdb"
    task_folder("sync")
    names = tasks.source_names()  # parsing the DAG still works
    assert names == ["model_lab"]
    pipeline = tasks.make_pipeline(names[0], warehouse)
    build = tasks.source_factory(names[0], pipeline, warehouse)

    with pytest.raises(ConfigurationError, match="SOURCES__DATADOG__API_KEY"):
        build()
    assert emulator.requests == []
