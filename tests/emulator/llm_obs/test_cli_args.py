"""``--llm-obs-*`` flags of ``python -m emulator``."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from emulator.cli import build_parser, main
from emulator.llm_obs.cli_args import llm_obs_kwargs

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_match_the_constructor() -> None:
    kwargs = llm_obs_kwargs(build_parser().parse_args([]))
    assert kwargs == {
        "llm_obs_projects": 2,
        "llm_obs_datasets": 3,
        "llm_obs_records": 24,
        "llm_obs_experiments": 4,
        "llm_obs_spans": 20,
        "llm_obs_queues": 2,
        "llm_obs_interactions": 6,
    }


def test_flags_reach_the_kwargs() -> None:
    args = build_parser().parse_args(["--llm-obs-records", "500", "--llm-obs-projects", "5"])
    kwargs = llm_obs_kwargs(args)
    assert kwargs["llm_obs_records"] == 500 and kwargs["llm_obs_projects"] == 5


@pytest.mark.parametrize("argv", [["--llm-obs-spans", "-1"], ["--llm-obs-queues", "two"]])
def test_bad_sizes_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "--llm-obs-" in capsys.readouterr().err


def test_cli_serves_the_requested_sizes() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            "0",
            "--runs",
            "5",
            "--projects",
            "1",
            "--llm-obs-projects",
            "3",
            "--llm-obs-datasets",
            "1",
            "--llm-obs-records",
            "7",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        base_url = None
        lines = []
        while base_url is None:
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line)
            if found:
                base_url = found.group(1)
        assert base_url, lines
        headers = {"DD-API-KEY": "k", "DD-APPLICATION-KEY": "a"}
        projects = requests.get(
            f"{base_url}/api/v2/llm-obs/v1/projects", headers=headers, timeout=5
        )
        assert len(projects.json()["data"]) == 3
        project_id = projects.json()["data"][0]["id"]
        datasets = requests.get(
            f"{base_url}/api/v2/llm-obs/v1/{project_id}/datasets", headers=headers, timeout=5
        ).json()["data"]
        records = requests.get(
            f"{base_url}/api/v2/llm-obs/v1/{project_id}/datasets/{datasets[0]['id']}/records",
            params={"filter[version]": 1},
            headers=headers,
            timeout=5,
        ).json()["data"]
        assert len(datasets) == 1 and len(records) == 7
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
