"""Every raw table is unchanged when the load jobs of a package are applied a second time.

After a kill during load, dlt resumes the package: jobs that had run but were not yet marked
done run again, into a staging table it does not truncate a second time. The test replays
exactly that for every data job of each source's last package, over all three sources.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from emulator import Emulator
from pipelines import runner
from pipelines.warehouse import working_path
from tests.conftest import API_KEY, APP_KEY

SOURCES = ("model_lab", "llm_obs", "posthog")


@pytest.fixture
def all_sources(monkeypatch: pytest.MonkeyPatch) -> Emulator:
    with Emulator(seed=3, projects=2, runs=120, api_key=API_KEY, app_key=APP_KEY) as emu:
        emu.start()
        monkeypatch.setenv("SOURCES__DATADOG__BASE_URL", emu.base_url)
        monkeypatch.setenv("SOURCES__DATADOG__API_KEY", API_KEY)
        monkeypatch.setenv("SOURCES__DATADOG__APP_KEY", APP_KEY)
        monkeypatch.setenv("SOURCES__POSTHOG__BASE_URL", emu.base_url)
        monkeypatch.setenv("SOURCES__POSTHOG__PROJECT_ID", str(emu.posthog.project_id))
        monkeypatch.setenv("SOURCES__POSTHOG__API_KEY", "phx_test_key")
        yield emu


def raw_tables(database: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every raw data table's rows, sorted (dlt's own bookkeeping tables left out)."""
    with duckdb.connect(str(database), read_only=True) as con:
        names = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('raw_model_lab', 'raw_llm_obs', 'raw_posthog') "
            "and not starts_with(table_name, '_dlt') order by 1, 2"
        ).fetchall()
        return {
            f"{schema}.{name}": sorted(
                con.execute(f'select * from {schema}."{name}"').fetchall(), key=repr
            )
            for schema, name in names
        }


def reapply_last_package(pipeline_dir: Path) -> str:
    """Put the last loaded package back as pending with its data jobs not yet done.

    Its schema update stays applied, so dlt does not truncate the staging tables again:
    they still hold the rows of the first application, as after a kill mid-load.
    """
    loaded = pipeline_dir / "load" / "loaded"
    load_id = sorted(p.name for p in loaded.iterdir())[-1]
    package = pipeline_dir / "load" / "normalized" / load_id
    shutil.move(loaded / load_id, package)
    (package / "package_completed.json").unlink()
    for job in (package / "completed_jobs").iterdir():
        if job.suffix == ".sql":  # followups are made again once their table chain completes
            job.unlink()
        else:
            job.rename(package / "new_jobs" / job.name)
    return load_id


def test_every_raw_table_is_unchanged_by_a_reapplied_package(
    all_sources: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # keep what a kill would have left: the staging rows and the done jobs of the package
    monkeypatch.setenv("LOAD__TRUNCATE_STAGING_DATASET", "false")
    monkeypatch.setenv("LOAD__DELETE_COMPLETED_JOBS", "false")
    warehouse = tmp_path / "labsync.duckdb"
    runner.sync(warehouse, sources=list(SOURCES))
    # a second sync with changes: its packages merge into tables that already hold rows
    run_ids = all_sources.model_lab.run_ids()[:20]
    for run_id in run_ids:
        all_sources.model_lab.update_run(run_id, name=f"changed-{run_id}")
    runner.sync(warehouse, sources=list(SOURCES))
    work = working_path(warehouse)
    before = raw_tables(work)
    assert sum(len(rows) for rows in before.values()) > 1000

    for source in SOURCES:
        pipeline = runner.make_pipeline(source, warehouse, work)
        reapply_last_package(Path(pipeline.working_dir))
        assert pipeline.has_pending_data
        pipeline.load()
        assert not pipeline.has_pending_data

    after = raw_tables(work)
    changed = [name for name in before if before[name] != after[name]]
    assert changed == []
