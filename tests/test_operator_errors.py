"""What an operator sees when something they control is wrong: one line naming the culprit,
the documented exit code, no traceback, and the warehouse as it was. Real processes, real
files, real read-only mounts, the emulator for the network."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from emulator import Emulator
from tests.conftest import API_KEY, APP_KEY

ROOT = Path(__file__).resolve().parent.parent
PYTHON = [sys.executable, "-m", "pipelines"]


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, wrap: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOURCES__", "DD_", "POSTHOG_", "LABSYNC_", "DESTINATION__"))
    }
    return subprocess.run(
        [*(wrap or []), *PYTHON, *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def datadog(emu: Emulator) -> dict[str, str]:
    return {
        "SOURCES__DATADOG__BASE_URL": emu.base_url,
        "SOURCES__DATADOG__API_KEY": API_KEY,
        "SOURCES__DATADOG__APP_KEY": APP_KEY,
    }


def assert_short(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    for needle in needles:
        assert needle in done.stderr, done.stderr


def counts(warehouse: Path) -> dict[str, int]:
    """Rows per synced table (the sync history, raw_labsync, records failures too)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema like 'raw_%' and table_schema != 'raw_labsync' "
            "and table_name not like '_dlt%' order by 1, 2"
        ).fetchall()
        return {
            f"{s}.{t}": con.execute(f'select count(*) from {s}."{t}"').fetchone()[0]
            for s, t in tables
        }


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, Path]]:
    """A Model Lab warehouse synced once; the tests must leave it as it is."""
    with Emulator(seed=3, projects=2, runs=60, api_key=API_KEY, app_key=APP_KEY) as emu:
        emu.start()
        warehouse = tmp_path_factory.mktemp("synced") / "wh" / "labsync.duckdb"
        done = run("sync", "--source", "model_lab", "--warehouse", str(warehouse), env=datadog(emu))
        assert done.returncode == 0, done.stderr
        yield emu, warehouse


def read_only_mount(folder: Path) -> list[str]:
    """A command prefix that runs the process with `folder` on a read-only mount (as root:
    a private mount namespace), or nothing after making it unwritable (as a user)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return []
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    return ["unshare", "--mount", "sh", "-c", script, str(folder)]


def test_a_malformed_config_toml_names_file_line_and_column(tmp_path: Path) -> None:
    (tmp_path / ".dlt").mkdir()
    config = tmp_path / ".dlt" / "config.toml"
    config.write_text('[labsync]\nwarehouse = "w.duckdb"\n\n[runtime]\nrequest_timeout = 10 20\n')
    for command in (["sync"], ["status"], ["search", "metrics.a > 1"]):
        done = run(*command, cwd=tmp_path)
        assert_short(done, 2, f"cannot parse {config}", "line 5, column")
        assert len(done.stderr.splitlines()) <= 2
    assert not (tmp_path / "w.duckdb").exists()


def test_a_read_only_filesystem_fails_before_any_request(
    synced: tuple[Emulator, Path], tmp_path: Path
) -> None:
    emu, warehouse = synced
    before, requests = counts(warehouse), len(emu.requests)
    # a fresh warehouse on a read-only mount
    fresh = tmp_path / "ro"
    fresh.mkdir()
    done = run(
        "sync",
        "--warehouse",
        str(fresh / "w" / "labsync.duckdb"),
        env=datadog(emu),
        wrap=read_only_mount(fresh),
    )
    assert_short(done, 2, f"cannot write to {fresh}")
    assert "Read-only file system" in done.stderr or "Permission denied" in done.stderr
    # the synced warehouse's folder mounted read-only: nothing runs, nothing changes
    done = run(
        "sync",
        "--source",
        "model_lab",
        "--warehouse",
        str(warehouse),
        env=datadog(emu),
        wrap=read_only_mount(warehouse.parent),
    )
    if os.geteuid() != 0:
        warehouse.parent.chmod(0o755)
    assert_short(done, 2, "cannot write to", str(warehouse.parent))
    assert len(emu.requests) == requests
    assert counts(warehouse) == before


def test_a_warehouse_folder_that_cannot_be_written_fails_up_front(
    synced: tuple[Emulator, Path], tmp_path: Path
) -> None:
    emu, published = synced
    folder = tmp_path / "locked"
    shutil.copytree(published.parent, folder)
    warehouse = folder / published.name
    before, requests = counts(warehouse), len(emu.requests)
    if os.geteuid() == 0:  # root ignores permissions, not the immutable flag
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
    try:
        done = run("sync", "--source", "model_lab", "--warehouse", str(warehouse), env=datadog(emu))
        models = run("models", "--warehouse", str(warehouse))
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        else:
            folder.chmod(0o755)
    assert_short(done, 2, f"cannot write to {folder}")
    assert_short(models, 2, f"cannot write to {folder}")
    assert len(emu.requests) == requests
    assert counts(warehouse) == before
    assert not list(folder.glob(".*.publishing"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("127.0.0.1:PORT", "connection refused"),  # a port nothing listens on
        ("no-such-host.invalid:8080", "name 'no-such-host.invalid' does not resolve"),
    ],
)
def test_an_unreachable_host_fails_fast_naming_host_and_port(
    synced: tuple[Emulator, Path], tmp_path: Path, host: str, problem: str
) -> None:
    _, published = synced
    host = host.replace("PORT", str(free_port()))
    shutil.copytree(published.parent, tmp_path / "wh")
    warehouse = tmp_path / "wh" / published.name
    before = counts(warehouse)
    env = {
        "SOURCES__DATADOG__BASE_URL": f"http://{host}",
        "DD_API_KEY": API_KEY,
        "DD_APP_KEY": APP_KEY,
        "SOURCES__POSTHOG__BASE_URL": f"http://{host}",
        "SOURCES__POSTHOG__API_KEY": "phx_key",
        "SOURCES__POSTHOG__PROJECT_ID": "1",
        "RUNTIME__REQUEST_BACKOFF_FACTOR": "1",  # the defaults an operator has
    }
    started = time.monotonic()
    done = run("sync", "--warehouse", str(warehouse), env=env)
    assert time.monotonic() - started < 30
    assert_short(done, 1, f"API at {host} is unreachable: {problem}", "sync failed:")
    assert f"{host}: {problem}" in done.stderr and "retrying in" in done.stderr  # WARNING lines
    assert "sync FAILED" in done.stdout and "0 of 3 sources succeeded" in done.stdout
    assert "(published)" not in done.stdout
    assert counts(warehouse) == before


def test_rejected_keys_name_the_variables_and_the_summary_says_failed(
    synced: tuple[Emulator, Path], tmp_path: Path
) -> None:
    emu, _ = synced
    env = {**datadog(emu), "SOURCES__DATADOG__APP_KEY": "wrong-app-key"}
    done = run("sync", "--warehouse", str(tmp_path / "w.duckdb"), env=env)
    assert_short(done, 1, "answered 403", "SOURCES__DATADOG__APP_KEY (or DD_APP_KEY)")
    assert "wrong-app-key" not in done.stderr + done.stdout
    assert "sync FAILED" in done.stdout
    assert "model_lab failed at step 'extract'" in done.stdout
    assert "llm_obs failed at step 'extract'" in done.stdout
    assert "posthog: skipped (no credentials configured)" in done.stdout


def test_exhausted_retries_show_as_they_happen(emulator: Emulator, tmp_path: Path) -> None:
    emulator.faults.configure("5xx=1.0")
    env = {**datadog(emulator), "RUNTIME__REQUEST_MAX_ATTEMPTS": "3"}
    env["RUNTIME__REQUEST_BACKOFF_FACTOR"] = "0.01"
    done = run("sync", "--source", "model_lab", "--warehouse", str(tmp_path / "w.duckdb"), env=env)
    assert_short(done, 1, "still failing after 3 attempts: HTTP 50", "sync failed: model_lab")
    retries = [line for line in done.stderr.splitlines() if "retrying in" in line]
    assert retries and all(" WARNING " in line for line in retries)
    assert f"{emulator.base_url.removeprefix('http://')}: HTTP 50" in retries[0]


def test_json_logs_are_json_end_to_end_on_a_lake_sync(emulator: Emulator, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    argv = ["--log-format", "json", "sync", "--warehouse", str(tmp_path / "wh" / "w.duckdb")]
    argv += ["--destination", "filesystem", "--bucket-url", str(lake)]
    # DEBUG also lets urllib3's and dlt's own lines through
    done = run("--log-level", "DEBUG", *argv, env=datadog(emulator))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    loggers = {e["logger"] for e in entries}
    assert "labsync" in loggers and any(name.startswith("urllib3") for name in loggers)
    assert {"phase extract (model_lab)", "phase load (llm_obs)"} <= {e["message"] for e in entries}
    falling_back = [e for e in entries if e["message"].startswith("Falling back to")]
    assert len(falling_back) <= 1
    # the summary names the lake and no file that does not exist
    assert f"raw tables written to the lake {lake}" in done.stdout
    assert "NOT published" not in done.stdout and ".duckdb" not in done.stdout


def test_help_lists_every_command() -> None:
    done = run("--help")
    assert done.returncode == 0
    for command in ("sync", "models", "status", "search", "compare", "emulate", "demo"):
        assert f"    {command} " in done.stdout
    emulate = run("emulate", "--help")
    assert "LLM Observability" in emulate.stdout and "PostHog" in emulate.stdout


def test_search_command(synced: tuple[Emulator, Path]) -> None:
    _, warehouse = synced
    where = ["--warehouse", str(warehouse)]
    every = run("search", "--format", "json", *where)
    assert every.returncode == 0, every.stderr
    runs = json.loads(every.stdout)
    assert runs and all("run_id" in r and "status" in r for r in runs)
    finished = run("search", "attributes.status = 'FINISHED'", "--format", "csv", *where)
    rows = finished.stdout.splitlines()
    assert finished.returncode == 0 and rows[0].startswith("run_id,")
    assert len(rows) - 1 == sum(r["status"] == "completed" for r in runs)
    top = run(
        "search",
        "attributes.status LIKE 'FIN%'",
        "--order-by",
        "start_time ASC",
        "--max-results",
        "2",
        "--columns",
        "run_id,status",
        *where,
    )
    assert top.returncode == 0, top.stderr
    table = top.stdout.splitlines()
    assert table[0].split() == ["run_id", "status"] and len(table) == 3
    bad = run("search", "metrics.accuracy > 'high'", *where)
    assert_short(bad, 2, "invalid filter at position 19", "write it unquoted")
    unknown = run("search", "--columns", "run_id,nope", *where)
    assert_short(unknown, 2, "unknown column nope")


def _terminal_stderr(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run labsync with stderr on a pseudo-terminal; (exit code, what the terminal got)."""
    import pty

    master, slave = pty.openpty()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DD_"))}
    proc = subprocess.Popen(
        [*PYTHON, *args],
        cwd=ROOT,
        env={**clean, "COLUMNS": "160", **env},
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=300), b"".join(chunks).decode("utf-8", "replace")


def test_live_progress_on_a_terminal_and_plain_lines_otherwise(
    emulator: Emulator, tmp_path: Path
) -> None:
    args = ["sync", "--source", "model_lab", "--warehouse", str(tmp_path / "t.duckdb")]
    code, screen = _terminal_stderr(args, datadog(emulator))
    assert code == 0, screen
    assert "model_lab/runs" in screen and "rows/s" in screen and "━" in screen  # bars
    assert "400/400" in screen or "100%" in screen  # meta.page.total of the runs listing
    for phase in ("extract (model_lab)", "normalize", "load", "models", "audits", "publish"):
        assert f"phase {phase}" in screen
    piped = run(*args[:-1], str(tmp_path / "p.duckdb"), env=datadog(emulator))
    assert piped.returncode == 0
    assert "━" not in piped.stderr and "phase load (model_lab)" in piped.stderr
