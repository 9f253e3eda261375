"""The DuckDB merge (`pipelines/common/merge_sql.py`): deletes by the distinct merge key, and
inserts without dlt's dedup only into tables whose staging holds each key once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from emulator import Emulator
from pipelines import runner
from pipelines.common.merge_sql import ONCE_PER_KEY, delete_keys, merge_sql
from pipelines.model_lab import ONCE_PER_KEY_TABLES, TABLE_KEYS
from pipelines.warehouse import state_dir, working_path
from tests.conftest import sync_model_lab as run_sync
from tests.pipelines.model_lab.test_model_lab_source import (
    RUNS,
    attrs,
    core_only,
    later_page_run,
    non_terminal_ids,
)

STAGING = "raw_model_lab_staging"


def test_delete_keys_drop_a_primary_key_that_a_merge_key_covers() -> None:
    assert delete_keys(['"run_id"', '"_position"'], ['"run_id"']) == ['"run_id"']
    assert delete_keys(['"run_id"'], []) == ['"run_id"']
    assert delete_keys([], ['"_snapshot"']) == ['"_snapshot"']
    assert delete_keys(['"a"'], ['"b"']) is None  # only dlt's OR selects those rows


def schema_tables(warehouse: Path) -> dict[str, Any]:
    path = state_dir(warehouse) / "labsync_model_lab" / "schemas" / "model_lab.schema.json"
    tables: dict[str, Any] = json.loads(path.read_text())["tables"]
    return tables


def test_merge_sql_of_child_and_once_per_key_tables(datadog_env: Emulator, warehouse: Path) -> None:
    run_sync(warehouse)
    marked = {name for name, table in schema_tables(warehouse).items() if table.get(ONCE_PER_KEY)}
    assert marked == set(ONCE_PER_KEY_TABLES) == {"runs", "run_params", "run_tags", "run_metrics"}
    pipeline = runner.make_pipeline("model_lab", warehouse, working_path(warehouse))
    with pipeline.destination_client() as client, client.sql_client:
        params = merge_sql(client, "run_params")
        parents = merge_sql(client, "run_parents")
    delete, insert = params
    # dlt's `pk OR merge key` joined every staged row with every key (OOM at 1M runs)
    assert " OR " not in delete
    assert 'SELECT DISTINCT "run_id" FROM "raw_model_lab_staging"."run_params"' in delete
    assert "ROW_NUMBER" not in insert  # once per key: staged rows go in as they are
    assert "ROW_NUMBER" in parents[1]  # a reconcile sweep repeats edges: deduplicated


def staged_duplicates(warehouse: Path) -> dict[str, int]:
    """Per staged Model Lab table: keys that its last load staged more than once."""
    found = {}
    with duckdb.connect(str(working_path(warehouse)), read_only=True) as con:
        staged = {
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = ?", [STAGING]
            ).fetchall()
        }
        for table, (primary_key, _) in TABLE_KEYS.items():
            if table not in staged:
                continue
            keys = ", ".join([primary_key] if isinstance(primary_key, str) else primary_key)
            (count,) = con.execute(
                f"select count(*) from (select {keys} from {STAGING}.{table} "
                f"group by {keys} having count(*) > 1)"
            ).fetchone() or (0,)
            found[table] = count
    return found


def test_once_per_key_tables_stage_each_key_once(
    datadog_env: Emulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over syncs that re-read rows every way a sync does (a first sync with a reconcile
    sweep, watch-list re-reads, rows sliding onto the next page while paging, the lookback,
    a reconcile with a new child, a full refresh), a table merged without dedup never staged
    a key twice; `run_parents` did, so the check sees a repeat and it must stay deduplicated.
    """
    emu = datadog_env
    core_only(monkeypatch)
    monkeypatch.setenv("LOAD__TRUNCATE_STAGING_DATASET", "false")  # keep each load's staging
    monkeypatch.setenv("SOURCES__MODEL_LAB__STALE_RUN_RECHECK_SECONDS", "0")  # re-read all
    repeated: set[str] = set()

    def check(step: str) -> None:
        duplicates = staged_duplicates(warehouse)
        assert {t for t, n in duplicates.items() if n and t in ONCE_PER_KEY_TABLES} == set(), step
        repeated.update(t for t, n in duplicates.items() if n)

    def insert_while_paging(request: Any) -> None:  # rows slide onto the page after
        listing = request.query.get("sort") == ["-updated_at"] and "filter[id]" not in request.query
        if request.path == RUNS and listing and request.query.get("page[number]") == ["1"]:
            emu.on_request(None)
            emu.model_lab.insert_run(attrs(emu, emu.model_lab.run_ids()[0])["project_id"])

    emu.on_request(insert_while_paging)
    # both the runs and the sweep list every parent; a row slides while paging
    run_sync(warehouse, reconcile=True)
    check("first sync with reconcile and a row sliding while paging")
    running = non_terminal_ids(emu)
    emu.model_lab.update_run(running[0], description="still going")  # listed and watched
    emu.model_lab.update_run(running[1], touch=False, status="completed")  # re-read by id
    emu.model_lab.update_run(later_page_run(emu, page=1), name="updated")  # to the front
    run_sync(warehouse)
    check("incremental with watch re-reads")
    parent = running[2]
    emu.model_lab.insert_run(attrs(emu, parent)["project_id"], parent_run_id=parent)
    run_sync(warehouse, reconcile=True)  # the new child: listed by the runs and the sweep
    check("reconcile with a new child")
    run_sync(warehouse, full_refresh=True)
    check("full refresh")
    assert "run_parents" in repeated


def raw_rows(warehouse: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every Model Lab raw table's rows without the sync stamps, sorted."""
    rows = {}
    with duckdb.connect(str(working_path(warehouse)), read_only=True) as con:
        for table in TABLE_KEYS:
            columns = [
                c
                for (c,) in con.execute(
                    "select column_name from duckdb_columns() "
                    "where schema_name = 'raw_model_lab' and table_name = ?",
                    [table],
                ).fetchall()
                if c not in ("_synced_at", "_read_at", "_observed_at")
            ]
            if columns:
                query = f"select {', '.join(columns)} from raw_model_lab.{table}"
                rows[table] = sorted(con.execute(query).fetchall(), key=repr)
    return rows


def test_full_refresh_remerges_to_what_a_first_sync_loads(
    datadog_env: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full refresh over a synced warehouse merges every row again: no key twice, a run's
    shrunk lists lose their old rows, and the tables equal those of a first sync."""
    emu = datadog_env
    core_only(monkeypatch)
    synced, fresh = tmp_path / "synced" / "w.duckdb", tmp_path / "fresh" / "w.duckdb"
    run_sync(synced)
    with_params = next(i for i in emu.model_lab.run_ids() if len(attrs(emu, i)["params"]) > 1)
    # content changed without `updated_at` moving: only a full refresh reads it again
    emu.model_lab.update_run(with_params, touch=False, params=[{"key": "only", "value": "1"}])
    run_sync(synced, full_refresh=True)
    run_sync(fresh)
    assert raw_rows(synced) == raw_rows(fresh)
    with duckdb.connect(str(working_path(synced)), read_only=True) as con:
        params = con.execute(
            "select key, value from raw_model_lab.run_params where run_id = ?", [with_params]
        ).fetchall()
    assert params == [("only", "1")]
