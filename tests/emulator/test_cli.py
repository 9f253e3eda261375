"""``python -m emulator``: starts, logs its base URL, serves, stops cleanly on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from emulator.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_cli_serves_and_stops() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            "0",
            "--runs",
            "60",
            "--projects",
            "3",
            "--seed",
            "4",
            "--rate-limit",
            "100/1",
            "--faults",
            "none",
            "--api-key",
            "cli-key",
            "--app-key",
            "cli-app",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        base_url = None
        deadline = time.monotonic() + 30
        lines = []
        while base_url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            lines.append(line)
            found = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line)
            if found:
                base_url = found.group(1)
        assert base_url, lines
        assert "cli-key" not in "".join(lines)
        assert requests.get(f"{base_url}/_emulator/health", timeout=5).json()["status"] == "ok"
        headers = {"DD-API-KEY": "cli-key", "DD-APPLICATION-KEY": "cli-app"}
        response = requests.get(f"{base_url}/api/v2/model-lab-api/runs", headers=headers, timeout=5)
        assert response.status_code == 200
        assert response.json()["meta"]["page"]["total"] == 60
        assert response.headers["X-RateLimit-Limit"] == "100"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    "argv", [["--faults", "bogus=1"], ["--rate-limit", "ten"], ["--port", "x"]]
)
def test_cli_rejects_bad_flags(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
