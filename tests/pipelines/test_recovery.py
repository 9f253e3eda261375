"""The states a kill leaves between two of dlt's steps, made exactly, and the sync after them.

The kill matrix (tests/crash) hits these by timing; here each is built step by step with
dlt's own calls, so every one of them is exercised on every run.
"""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path

import dlt
import duckdb
import pytest

from emulator import Emulator
from pipelines import health, runner
from pipelines.sources import SyncContext, registry
from pipelines.warehouse import publishing_path, working_path
from tests.conftest import query, sync_model_lab
from tests.crash.harness import differences, fingerprints


def extracted_pipeline(warehouse: Path) -> tuple[dlt.Pipeline, str]:
    """Model Lab's pipeline with one freshly extracted package, as a sync makes it."""
    pipeline = runner.make_pipeline("model_lab", warehouse, working_path(warehouse))
    source = registry()["model_lab"].build(SyncContext(pipeline))
    pipeline.extract(source, loader_file_format=runner.LOADER_FILE_FORMAT)
    (load_id,) = pipeline.list_extracted_load_packages()
    return pipeline, load_id


def reference_after_changes(datadog_env: Emulator, tmp_path: Path) -> dict[str, tuple[int, str]]:
    clean = tmp_path / "clean" / "labsync.duckdb"
    sync_model_lab(clean)
    return fingerprints(clean)


def change_runs(emulator: Emulator) -> None:
    for run_id in emulator.model_lab.run_ids()[:30]:
        emulator.model_lab.update_run(run_id, name=f"changed-{run_id}")


def assert_one_row_per_key(warehouse: Path) -> None:
    for table, key in (("run_params", "run_id, key"), ("runs", "run_id")):
        duplicates = query(
            warehouse,
            f"select count(*) from (select {key} from analytics.model_lab_{table} "
            f"group by {key} having count(*) > 1)",
        )
        assert duplicates == [(0,)], table


def test_package_both_extracted_and_normalized_is_loaded_once(
    datadog_env: Emulator, warehouse: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Killed after normalize committed its output, before it deleted its input."""
    sync_model_lab(warehouse)
    change_runs(datadog_env)
    pipeline, load_id = extracted_pipeline(warehouse)
    extracted = Path(pipeline.working_dir) / "normalize" / "extracted" / load_id
    shutil.copytree(extracted, tmp_path / "kept")
    pipeline.normalize()
    shutil.copytree(tmp_path / "kept", extracted)  # the input normalize did not get to delete

    with caplog.at_level(logging.INFO, logger="labsync"):
        result = sync_model_lab(warehouse)
    assert result.published and not result.failed
    assert f"model_lab: removed the extracted copy of normalized package {load_id}" in (
        result.recovered
    )
    assert any("recovered after an interrupted sync" in m for m in caplog.messages)
    assert_one_row_per_key(warehouse)
    expected = reference_after_changes(datadog_env, tmp_path)
    assert differences(fingerprints(warehouse), expected) == []


def test_package_loaded_but_not_moved_is_completed(
    datadog_env: Emulator, warehouse: Path, tmp_path: Path
) -> None:
    """Killed after dlt marked the package loaded, before it moved it to `loaded`."""
    sync_model_lab(warehouse)
    change_runs(datadog_env)
    pipeline, load_id = extracted_pipeline(warehouse)
    pipeline.normalize()
    pipeline.load()
    package = Path(pipeline.working_dir) / "load"
    shutil.move(package / "loaded" / load_id, package / "normalized" / load_id)
    assert pipeline.has_pending_data

    result = sync_model_lab(warehouse)
    assert f"model_lab: completed the move of loaded package {load_id}" in result.recovered
    assert result.published and not result.failed
    assert_one_row_per_key(warehouse)
    assert (
        differences(fingerprints(warehouse), reference_after_changes(datadog_env, tmp_path)) == []
    )


def test_extracted_package_is_loaded_before_anything_new_is_extracted(
    datadog_env: Emulator, warehouse: Path, tmp_path: Path
) -> None:
    """Killed between extract and normalize: the package carries rows and their cursors."""
    sync_model_lab(warehouse)
    change_runs(datadog_env)
    _, load_id = extracted_pipeline(warehouse)
    report = health.check(warehouse, timedelta(hours=1))
    assert "model_lab: 1 extracted package(s) not loaded" in " ".join(report.problems)

    datadog_env.clear_requests()
    result = sync_model_lab(warehouse)
    assert f"model_lab: loaded pending packages {load_id}" in result.recovered
    assert (
        differences(fingerprints(warehouse), reference_after_changes(datadog_env, tmp_path)) == []
    )


def test_lost_working_copy_is_restored_and_cursors_come_from_it(
    datadog_env: Emulator, warehouse: Path, tmp_path: Path
) -> None:
    """The working copy is gone and the published file is older than dlt's local cursors."""
    sync_model_lab(warehouse)
    older = tmp_path / "older.duckdb"
    shutil.copyfile(warehouse, older)
    change_runs(datadog_env)
    sync_model_lab(warehouse)  # the local cursors now cover the changes
    shutil.copyfile(older, warehouse)
    working_path(warehouse).unlink()

    result = sync_model_lab(warehouse)
    assert "restored the working copy from labsync.duckdb" in result.recovered
    assert "model_lab: dlt state reset to the working copy's" in result.recovered
    # the changes are read again: the cursors came from the restored database
    assert query(
        warehouse, "select count(*) from analytics.model_lab_runs where name like 'changed-%'"
    ) == [(30,)]
    assert (
        differences(fingerprints(warehouse), reference_after_changes(datadog_env, tmp_path)) == []
    )


def test_half_written_publishing_file_is_removed(datadog_env: Emulator, warehouse: Path) -> None:
    sync_model_lab(warehouse)
    publishing_path(warehouse).write_bytes(b"\0" * 4096)  # a copy killed halfway
    result = sync_model_lab(warehouse)
    assert f"removed the half-written {publishing_path(warehouse).name}" in result.recovered
    assert not publishing_path(warehouse).exists()
    assert query(warehouse, "select count(*) from analytics.model_lab_runs") == [(400,)]


def test_failed_audit_keeps_the_published_file_and_status_says_why(
    datadog_env: Emulator, warehouse: Path
) -> None:
    sync_model_lab(warehouse)
    published = fingerprints(warehouse)
    run_id = datadog_env.model_lab.run_ids()[-1]
    with duckdb.connect(str(working_path(warehouse))) as con:  # a run loaded twice
        con.execute(
            "insert into raw_model_lab.runs select * from raw_model_lab.runs where run_id = ?",
            [run_id],
        )
    change_runs(datadog_env)

    held = sync_model_lab(warehouse)
    assert not held.published
    failures = {f.name: f for f in held.audit_failures}
    assert failures["model_lab_runs__unique_key"].sample == [(run_id, 2)]
    assert fingerprints(warehouse) == published  # the previous good state
    report = health.check(warehouse, timedelta(hours=1))
    assert any(
        p.startswith("labsync publish: last sync failed: audits failed:")
        and "model_lab_runs__unique_key" in p
        for p in report.problems
    ), report.problems
    assert any("not yet published" in p for p in report.problems), report.problems

    forced = sync_model_lab(warehouse, publish_on_audit_failure=True)
    assert forced.published and forced.audit_failures
    assert query(
        warehouse, "select count(*) from analytics.model_lab_runs where name like 'changed-%'"
    ) == [(30,)]
