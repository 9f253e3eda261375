"""Publishing: one writer per warehouse, BI readers never blocked, a file DuckDB 1.x opens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import sqlalchemy

from emulator import Emulator
from pipelines.warehouse import exclusive_lock, working_path
from tests.conftest import query
from tests.conftest import sync_model_lab as run_sync
from tests.test_cli import ROOT, labsync

OLD_DUCKDB = ROOT / ".venv" / "duckdb-1.1"


def renamed_runs(connection: sqlalchemy.Connection) -> int:
    sql = "select count(*) from analytics.model_lab_runs where name like 'renamed-%'"
    return connection.execute(sqlalchemy.text(sql)).scalar_one()


def test_a_second_sync_exits_75_and_names_the_holder(
    datadog_env: Emulator, warehouse: Path
) -> None:
    with exclusive_lock(warehouse, "sync"):
        done = labsync(
            "sync",
            "--warehouse",
            str(warehouse),
            env={
                "SOURCES__DATADOG__BASE_URL": datadog_env.base_url,
                "DD_API_KEY": "k",
                "DD_APP_KEY": "a",
            },
        )
    assert done.returncode == 75, done.stderr
    assert f"pid {os.getpid()}" in done.stderr and "labsync sync" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert datadog_env.requests == []  # it stopped before any request


def test_bi_reader_holding_the_file_never_blocks_a_sync_and_sees_one_state(
    datadog_env: Emulator, warehouse: Path
) -> None:
    run_sync(warehouse)
    engine = sqlalchemy.create_engine(
        f"duckdb:///{warehouse}", connect_args={"read_only": True}, poolclass=sqlalchemy.NullPool
    )
    run_ids = datadog_env.model_lab.run_ids()[:50]
    for run_id in run_ids:
        datadog_env.model_lab.update_run(run_id, name=f"renamed-{run_id}")
    seen: set[int] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def dashboard() -> None:  # a BI tool opening fresh read-only connections while we sync
        while not stop.is_set():
            try:
                with engine.connect() as fresh:
                    seen.add(renamed_runs(fresh))
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)
                return

    with engine.connect() as held:  # and one holding its connection through the sync
        assert renamed_runs(held) == 0
        reader = threading.Thread(target=dashboard)
        reader.start()
        try:
            run_sync(warehouse)
        finally:
            stop.set()
            reader.join()
        assert renamed_runs(held) == 0  # the old state, whole
    assert errors == []
    assert seen <= {0, len(run_ids)}  # old or new, never a mix
    with engine.connect() as fresh:
        assert renamed_runs(fresh) == len(run_ids)


def test_published_file_opens_in_duckdb_1_1(datadog_env: Emulator, warehouse: Path) -> None:
    run_sync(warehouse)
    assert (OLD_DUCKDB / "duckdb").is_dir(), "run `make test`: it installs DuckDB 1.1.3 there"
    script = (
        "import duckdb, json, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "print(json.dumps([duckdb.__version__, con.execute("
        "'select count(*) from analytics.model_lab_runs').fetchone()[0]]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(warehouse)],
        env={**os.environ, "PYTHONPATH": str(OLD_DUCKDB)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    version, runs = json.loads(done.stdout)
    assert version.startswith("1.1") and runs == 400
    # the working copy is in the current engine's format; only the published copy is pinned
    assert working_path(warehouse).exists()


def test_history_status_and_json_logs(datadog_env: Emulator, warehouse: Path) -> None:
    env = {
        "SOURCES__DATADOG__BASE_URL": datadog_env.base_url,
        "SOURCES__DATADOG__API_KEY": "test-api-key-5f3b9c",
        "SOURCES__DATADOG__APP_KEY": "test-app-key-8d21e7",
    }
    ok = labsync("--log-format", "json", "sync", "--warehouse", str(warehouse), env=env)
    assert ok.returncode == 0, ok.stderr
    logs = [json.loads(line) for line in ok.stderr.splitlines() if line.strip()]
    assert logs and {"ts", "level", "logger", "message"} <= set(logs[0])
    bad_env = {**env, "SOURCES__DATADOG__APP_KEY": "wrong-app-key-123"}
    failed = labsync("sync", "--warehouse", str(warehouse), env=bad_env)
    assert failed.returncode == 1 and "403" in failed.stderr

    status = labsync("status", "--json", "--warehouse", str(warehouse), env={})
    # the last sync of every resource failed: that is unhealthy even though nothing is stale
    assert status.returncode == 1, status.stdout + status.stderr
    report = json.loads(status.stdout)
    runs = next(r for r in report["resources"] if r["resource"] == "runs")
    assert runs["source"] == "model_lab" and runs["rows_loaded"] == 400
    assert runs["cursor"] and runs["last_success_at"] and "403" in runs["last_error"]
    assert runs["failing"] and "model_lab runs: last sync failed" in runs["problem"]
    assert not report["stale"] and not report["healthy"]
    assert any(p.startswith("model_lab runs: last sync failed") for p in report["problems"])
    stale = labsync("status", "--max-age-hours", "0", "--warehouse", str(warehouse), env={})
    assert stale.returncode == 1 and "STALE" in stale.stdout

    # the failed sync extracted nothing, so it published its history with the old data
    rows = query(
        warehouse,
        "select status, count(*) from analytics.sync_runs where resource = 'runs' group by 1",
    )
    assert dict(rows) == {"succeeded": 1, "failed": 1}
    assert query(warehouse, "select count(*) from analytics.model_lab_runs") == [(400,)]
    for text in (ok.stdout, ok.stderr, failed.stdout, failed.stderr, status.stdout):
        assert "wrong-app-key-123" not in text and "test-app-key-8d21e7" not in text
