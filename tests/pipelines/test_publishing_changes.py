"""Publishing only what changed: a quiet sync rebuilds nothing and publishes its history; a
sync with changes publishes a file equal to the working copy, still readable by DuckDB 1.1."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from emulator import Emulator
from pipelines.common import memory
from pipelines.publishing import Ledger
from pipelines.runner import SyncFailed
from pipelines.warehouse import spare_path, working_path
from tests.conftest import query
from tests.conftest import sync_model_lab as run_sync
from tests.pipelines.test_publishing import OLD_DUCKDB


def differing_tables(warehouse: Path) -> list[str]:
    """Tables whose rows differ between the published file and the working copy (dlt's own
    bookkeeping aside: a quiet sync's state is published with the next change)."""
    con = duckdb.connect()
    con.execute(f"attach '{warehouse}' as published (read_only)")
    con.execute(f"attach '{working_path(warehouse)}' as working (read_only)")
    names = con.execute(
        "select schema_name || '.' || table_name from duckdb_tables() "
        "where database_name = 'working' and table_name not like '\\_dlt%' escape '\\'"
    ).fetchall()
    differing = []
    for (name,) in names:
        found = con.execute(
            f"select count(*) from ((select * from working.{name} except all "
            f"select * from published.{name}) union all (select * from published.{name} "
            f"except all select * from working.{name}))"
        ).fetchone()
        if found and found[0]:
            differing.append(name)
    return differing


def test_quiet_sync_rebuilds_nothing_and_publishes_its_history(
    datadog_env: Emulator, warehouse: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run_sync(warehouse)
    assert not Ledger.read(warehouse).changed
    with caplog.at_level(logging.INFO, logger="labsync"):
        result = run_sync(warehouse)
    assert result.published and result.rows_loaded == 0
    assert "not rebuilding them" in caplog.text
    assert "published" in caplog.text and "(changes only)" in caplog.text
    syncs = query(warehouse, "select count(distinct sync_id) from analytics.sync_runs")
    assert syncs == [(2,)]  # the quiet sync's history reached the published file
    assert differing_tables(warehouse) == []


def test_sync_failing_before_its_load_rebuilds_nothing(
    datadog_env: Emulator,
    warehouse: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_sync(warehouse)
    monkeypatch.setenv("SOURCES__DATADOG__API_KEY", "wrong-key")  # refused at the first page
    with caplog.at_level(logging.INFO, logger="labsync"), pytest.raises(SyncFailed) as failed:
        run_sync(warehouse)
    assert [s.failed_step for s in failed.value.result.failed] == ["extract"]
    assert "not rebuilding them" in caplog.text and "(changes only)" in caplog.text
    statuses = query(warehouse, "select distinct status from analytics.sync_runs order by 1")
    assert statuses == [("failed",), ("succeeded",)]  # the failure reached the published file
    assert differing_tables(warehouse) == []


def test_changes_are_published_whole_and_the_file_opens_in_duckdb_1_1(
    datadog_env: Emulator, warehouse: Path
) -> None:
    run_sync(warehouse)
    run_ids = datadog_env.model_lab.run_ids()[:20]
    for run_id in run_ids:
        datadog_env.model_lab.update_run(run_id, name=f"renamed-{run_id}")
    result = run_sync(warehouse)
    assert result.published and result.rows_loaded
    assert not Ledger.read(warehouse).changed
    assert differing_tables(warehouse) == []
    renamed = "select count(*) from analytics.model_lab_runs where name like 'renamed-%'"
    assert query(warehouse, renamed) == [(20,)]
    script = (
        "import duckdb, json, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        f"print(json.dumps(con.execute({renamed!r}).fetchone()[0]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(warehouse)],
        env={**os.environ, "PYTHONPATH": str(OLD_DUCKDB)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == 20


def test_a_load_that_did_not_finish_leaves_its_datasets_marked(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    ledger = Ledger.read(warehouse)
    ledger.published()  # a published file equal to the working copy
    ledger.loading(["raw_a", "raw_b"])
    ledger.loaded("raw_a", {"runs"})  # raw_b's load was killed or failed
    after = Ledger.read(warehouse)
    assert after.schemas == {"raw_b", "raw_b_staging"}
    assert {"raw_a.runs", "raw_a_staging.runs", "raw_a._dlt_loads"} <= after.tables
    assert after.changed


def sync_count(database: Path) -> int:
    return query(database, "select count(distinct sync_id) from analytics.sync_runs")[0][0]


def test_publishes_bring_the_spare_up_to_date_instead_of_copying(
    datadog_env: Emulator, warehouse: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run_sync(warehouse)
    spare = spare_path(warehouse)
    assert spare.exists() and not os.path.samefile(spare, warehouse)  # copied after a whole one
    for run_id in datadog_env.model_lab.run_ids()[:5]:  # then a change, then quiet syncs
        datadog_env.model_lab.update_run(run_id, name=f"renamed-{run_id}")
    for syncs in (2, 3, 4):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="labsync"):
            run_sync(warehouse)
        assert "brought the spare up to date" in caplog.text
        assert sync_count(warehouse) == syncs
        assert sync_count(spare) == syncs - 1  # the file this publish replaced
        assert differing_tables(warehouse) == []  # the spare lacked the renamed runs at 3
    renamed = "select count(*) from analytics.model_lab_runs where name like 'renamed-%'"
    assert query(warehouse, renamed) == [(5,)]
    assert Ledger.read(warehouse).spare_lags == {"raw_labsync.sync_runs"}


def test_a_reader_in_this_process_keeps_the_file_it_opened(
    datadog_env: Emulator, warehouse: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run_sync(warehouse)
    rows = "select count(*) from raw_labsync.sync_runs"
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        seen = reader.execute(rows).fetchall()
        held = warehouse.read_bytes()
        fd = os.open(warehouse, os.O_RDONLY)  # the file the reader has, whatever its name
        try:
            run_sync(warehouse)  # the reader's file becomes the spare
            with caplog.at_level(logging.INFO, logger="labsync"):
                run_sync(warehouse)  # and must not be written while the reader has it
            assert os.pread(fd, len(held) + 1, 0) == held
        finally:
            os.close(fd)
        assert "open in this process" in caplog.text
        assert reader.execute(rows).fetchall() == seen
    assert sync_count(warehouse) == 3
    assert differing_tables(warehouse) == []


def test_memory_is_released_only_after_a_sync_that_loaded_rows(
    datadog_env: Emulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    released = []
    real = memory.release

    def counted() -> None:
        released.append(1)
        real()

    monkeypatch.setattr(memory, "release", counted)
    assert run_sync(warehouse).rows_loaded
    assert len(released) == 3  # before the load, the views, the publish
    released.clear()
    assert run_sync(warehouse).rows_loaded == 0
    assert released == []
