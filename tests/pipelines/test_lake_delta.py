"""The Delta lake: dlt's filesystem destination with Delta tables, and the views over them."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable

from emulator import Emulator
from pipelines import lake as lakes
from pipelines import runner
from tests.pipelines.test_lake import (
    assert_views_match_reference,
    snapshot,
    sync_twice,
    use_s3,
)


def test_local_delta_lake_resolves_to_the_same_views_as_the_duckdb_warehouse(
    datadog_env: Emulator, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    lake_views = tmp_path / "views" / "lake.duckdb"
    reference = tmp_path / "reference" / "labsync.duckdb"
    deleted = sync_twice(datadog_env, lake_views, str(lake), reference, "delta")
    runs = lake / "raw_model_lab" / "runs"
    assert (runs / "_delta_log").is_dir()
    # runs merge in place (one row per run); params are appended per load
    assert DeltaTable(str(runs)).to_pyarrow_table().num_rows == 400
    assert_views_match_reference(lake_views, str(lake), reference, deleted)


def test_delta_needs_a_lake(tmp_path: Path) -> None:
    with pytest.raises(runner.ConfigurationError, match="needs a lake"):
        runner.sync(tmp_path / "w.duckdb", sources=["model_lab"], table_format="delta")


@pytest.fixture
def delta_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server on loopback, in its own process.

    Not in-process like the Parquet lake's: deltalake's `is_deltatable` (dlt calls it before
    every Delta load) blocks holding the GIL, so a server thread could never answer it.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):  # until it answers: at most ~10 s
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.1)
        use_s3(monkeypatch, endpoint)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_s3_delta_lake_on_a_loopback_server(
    datadog_env: Emulator, delta_s3: str, tmp_path: Path
) -> None:
    url = "s3://labsync-lake/prod"
    lake_views = tmp_path / "views" / "lake.duckdb"
    reference = tmp_path / "reference" / "labsync.duckdb"
    sync_twice(datadog_env, lake_views, url, reference, "delta")
    assert runner.build_models_in(lake_views, lake=url) == []
    options = {
        "aws_access_key_id": "lake-test-key",
        "aws_secret_access_key": "lake-test-secret",
        "endpoint_url": delta_s3,
        "aws_allow_http": "true",
        "region": "us-east-1",
    }
    runs = DeltaTable(f"{url}/raw_model_lab/runs", storage_options=options)
    assert runs.to_pyarrow_table(columns=["run_id"]).num_rows == 400
    with duckdb.connect(str(lake_views), read_only=True) as con:
        con.register_filesystem(lakes.filesystem(url))  # what a reader needs: the bucket
        from_lake = snapshot(con)
    with duckdb.connect(str(reference), read_only=True) as con:
        assert from_lake == snapshot(con)
