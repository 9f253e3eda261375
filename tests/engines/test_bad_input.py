"""Bad input for the engines: one clear line, exit 2, before any API request, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator import Emulator
from pipelines import cli
from tests.engines import pgserver
from tests.engines.pgserver import Server

pytestmark = pytest.mark.xdist_group("engines")


def sync_postgres(warehouse: Path) -> int:
    return cli.main(
        [
            "sync",
            "--destination",
            "postgres",
            "--source",
            "model_lab",
            "--warehouse",
            str(warehouse),
        ]
    )


def test_unreachable_postgres_exits_2_before_any_request(
    datadog_env: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"postgresql://labsync:not-this-one@127.0.0.1:{pgserver.free_port()}/labsync"
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", url)
    assert sync_postgres(tmp_path / "labsync.duckdb") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot connect to Postgres labsync@127.0.0.1" in err[0]
    assert "not-this-one" not in err[0] and "Traceback" not in err[0]
    assert datadog_env.requests == []


def test_wrong_password_exits_2_without_showing_it(
    datadog_env: Emulator,
    pg_server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_server.url(password="wrong-pw-77"))
    assert sync_postgres(tmp_path / "labsync.duckdb") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "password authentication failed" in err[0]
    assert "wrong-pw-77" not in err[0]
    assert datadog_env.requests == []


def test_missing_credentials_name_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .dlt/secrets.toml here
    assert cli.main(["status", "--destination", "postgres"]) == 2
    assert "DESTINATION__POSTGRES__CREDENTIALS" in capsys.readouterr().err


def test_spark_without_java_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it
    code = cli.main(
        [
            "models",
            "--lake",
            str(lake),
            "--engine",
            "spark",
            "--warehouse",
            str(tmp_path / "lake.duckdb"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Spark needs Java 17 or newer" in err[0]
