"""The Parquet lake: dlt's filesystem destination, and the analytics views built over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import duckdb
import fsspec
import pytest
from moto.server import ThreadedMotoServer

from emulator import Emulator
from pipelines import runner
from tests.conftest import query
from tests.conftest import sync_model_lab as run_sync

VIEWS = ("model_lab_runs", "model_lab_run_params", "model_lab_run_metrics", "model_lab_projects")


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    result = {}
    for view in VIEWS:
        columns = [
            r[0]
            for r in con.execute(f"describe analytics.{view}").fetchall()
            if r[0] not in ("synced_at", "vanished_detected_at")  # times of each sync
        ]
        select = ", ".join(columns)
        result[view] = con.execute(f"select {select} from analytics.{view} order by all").fetchall()
    return result


def change_some_runs(emu: Emulator) -> int:
    """Rename 7 runs and empty their params; hard-delete another. Returns the deleted id."""
    ids = emu.model_lab.run_ids()
    for run_id in ids[:7]:
        emu.model_lab.update_run(run_id, name=f"renamed-{run_id}", params=[])
    emu.model_lab.delete_run(ids[8])
    return ids[8]


def sync_twice(
    emu: Emulator, views: Path, url: str, reference: Path | None, table_format: str = "parquet"
) -> int:
    """Sync the lake (and the DuckDB reference), change the emulator, sync both again with
    `--reconcile`. Returns the hard-deleted run id."""
    runner.sync(views, sources=["model_lab"], lake=url, table_format=table_format)
    if reference:
        run_sync(reference)
    deleted = change_some_runs(emu)
    runner.sync(views, sources=["model_lab"], lake=url, table_format=table_format, reconcile=True)
    if reference:
        run_sync(reference, reconcile=True)
    return deleted


def assert_views_match_reference(views: Path, url: str, reference: Path, deleted: int) -> None:
    """The lake's analytics views equal the DuckDB warehouse's; the hard delete is flagged."""
    assert runner.build_models_in(views, lake=url) == []
    with duckdb.connect(str(views), read_only=True) as con:
        from_lake = snapshot(con)
        history = con.execute("select count(*) from analytics.sync_runs").fetchone()
    with duckdb.connect(str(reference), read_only=True) as con:
        assert from_lake == snapshot(con)
    assert len(from_lake["model_lab_runs"]) == 400
    assert history and history[0] > 0
    flagged = query(
        views,
        "select is_deleted, vanished_detected_at is not null from analytics.model_lab_runs "
        "where run_id = ?",
        [deleted],
    )
    assert flagged == [(True, True)]


def use_s3(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Point dlt, fsspec and boto3 at an S3 server on loopback; create the lake's bucket."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "lake-test-key",
        "AWS_SECRET_ACCESS_KEY": "lake-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "DESTINATION__FILESYSTEM__CREDENTIALS__AWS_ACCESS_KEY_ID": "lake-test-key",
        "DESTINATION__FILESYSTEM__CREDENTIALS__AWS_SECRET_ACCESS_KEY": "lake-test-secret",
        "DESTINATION__FILESYSTEM__CREDENTIALS__REGION_NAME": "us-east-1",
        "DESTINATION__FILESYSTEM__CREDENTIALS__ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="labsync-lake")


def test_local_lake_resolves_to_the_same_views_as_the_duckdb_warehouse(
    datadog_env: Emulator, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    lake_views = tmp_path / "views" / "lake.duckdb"
    reference = tmp_path / "reference" / "labsync.duckdb"
    deleted = sync_twice(datadog_env, lake_views, str(lake), reference)
    assert any(lake.rglob("*.parquet"))
    assert_views_match_reference(lake_views, str(lake), reference, deleted)


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    use_s3(monkeypatch, endpoint)
    try:
        yield endpoint
    finally:
        server.stop()


def test_s3_lake_on_a_loopback_server(
    datadog_env: Emulator, s3_bucket: str, tmp_path: Path
) -> None:
    url = "s3://labsync-lake/prod"
    lake_views = tmp_path / "lake.duckdb"
    runner.sync(lake_views, sources=["model_lab"], lake=url)
    change_some_runs(datadog_env)
    runner.sync(lake_views, sources=["model_lab"], lake=url)
    assert runner.build_models_in(lake_views, lake=url) == []
    credentials = {"key": "lake-test-key", "secret": "lake-test-secret"}
    s3 = fsspec.filesystem("s3", client_kwargs={"endpoint_url": s3_bucket}, **credentials)
    assert s3.glob("labsync-lake/prod/raw_model_lab/runs/*.parquet")
    with duckdb.connect(str(lake_views), read_only=True) as con:
        con.register_filesystem(s3)  # what a reader needs: access to the bucket
        runs = con.execute(
            "select count(*), count(distinct run_id), "
            "count(*) filter (where name like 'renamed-%') from analytics.model_lab_runs"
        ).fetchone()
        params = con.execute(
            "select count(*) from analytics.model_lab_run_params p "
            "join analytics.model_lab_runs r using (run_id) where r.name like 'renamed-%'"
        ).fetchone()
    assert runs == (400, 400, 7)
    assert params == (0,)  # params emptied by the update are gone, not duplicated
