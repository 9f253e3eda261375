"""The labsync command as users and cron call it: exit codes, messages, no secrets in output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from emulator import Emulator
from tests.conftest import API_KEY, APP_KEY

ROOT = Path(__file__).resolve().parent.parent


def labsync(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOURCES__", "DD_", "POSTHOG_", "LABSYNC_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_missing_api_key_exits_2_before_any_request(emulator: Emulator, tmp_path: Path) -> None:
    done = labsync(
        "sync",
        "--warehouse",
        str(tmp_path / "w.duckdb"),
        env={"SOURCES__DATADOG__BASE_URL": emulator.base_url},
    )
    assert done.returncode == 2
    assert "SOURCES__DATADOG__API_KEY" in done.stderr and "DD_API_KEY" in done.stderr
    assert emulator.requests == []
    assert not (tmp_path / "w.duckdb").exists()


def test_missing_app_key_names_it(emulator: Emulator, tmp_path: Path) -> None:
    done = labsync(
        "sync",
        "--warehouse",
        str(tmp_path / "w.duckdb"),
        env={"SOURCES__DATADOG__BASE_URL": emulator.base_url, "DD_API_KEY": API_KEY},
    )
    assert done.returncode == 2
    assert "SOURCES__DATADOG__APP_KEY" in done.stderr and "DD_APP_KEY" in done.stderr


def test_unknown_site_and_bad_usage_exit_2(tmp_path: Path) -> None:
    done = labsync(
        "sync",
        "--warehouse",
        str(tmp_path / "w.duckdb"),
        env={"DD_API_KEY": "a", "DD_APP_KEY": "b", "DD_SITE": "datadoghq.moon"},
    )
    assert done.returncode == 2 and "datadoghq.moon" in done.stderr
    assert labsync("sync", "--no-such-flag", env={}).returncode == 2
    missing = labsync("models", "--warehouse", str(tmp_path / "none.duckdb"), env={})
    assert missing.returncode == 2 and "none.duckdb" in missing.stderr


def test_sync_via_dd_env_vars_and_no_secret_anywhere(emulator: Emulator, tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    # each injected 429 costs the sync its 1 s reset: a few are enough to log retries
    emulator.faults.configure("429=0.02,5xx=0.1,truncate=0.05,seed=5")
    env = {
        "SOURCES__DATADOG__BASE_URL": emulator.base_url,
        "DD_API_KEY": API_KEY,
        "DD_APP_KEY": APP_KEY,
        "RUNTIME__REQUEST_BACKOFF_FACTOR": "0.01",
        "RUNTIME__REQUEST_MAX_ATTEMPTS": "12",  # see tests/conftest.py
    }
    done = labsync("--log-level", "DEBUG", "sync", "--warehouse", str(warehouse), env=env)
    assert done.returncode == 0, done.stderr
    assert "rows loaded" in done.stdout
    # a wrong key fails with exit 1 and a message that names the status, not the key
    bad = labsync(
        "sync", "--warehouse", str(warehouse), env={**env, "DD_APP_KEY": "wrong-app-key-xyz"}
    )
    assert bad.returncode == 1 and "403" in bad.stderr
    outputs = done.stdout + done.stderr + bad.stdout + bad.stderr
    for secret in (API_KEY, APP_KEY, "wrong-app-key-xyz"):
        assert secret not in outputs
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def test_models_command_rebuilds_views(datadog_env: Emulator, warehouse: Path) -> None:
    from tests.conftest import run_sync

    run_sync(warehouse, build_models=False)
    done = labsync("models", "--warehouse", str(warehouse), env={})
    assert done.returncode == 0, done.stderr
    assert "built" in done.stdout
