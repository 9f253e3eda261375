"""schedules/github-actions/labsync-sync.yml: the YAML loads, has the concurrency group, valid
off-the-hour schedules and manual dispatch, keeps secrets in secrets, and its shell steps pass
shellcheck; the Sync step runs for real and turns a skipped run (75) into success."""

from __future__ import annotations

import fcntl
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from croniter import croniter

from pipelines.history import history_path
from tests.schedules.conftest import ROOT, SCHEDULES

WORKFLOW = SCHEDULES / "github-actions" / "labsync-sync.yml"
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict)
    return loaded


def triggers() -> dict[str, Any]:
    loaded = workflow()
    return loaded.get("on", loaded.get(True))  # YAML 1.1 reads a bare `on` as true


def steps() -> dict[str, dict[str, Any]]:
    (job,) = workflow()["jobs"].values()
    return {step.get("name", step.get("uses")): step for step in job["steps"]}


def test_has_a_concurrency_group_that_never_cancels_a_running_sync() -> None:
    concurrency = workflow()["concurrency"]
    assert concurrency["group"] == "labsync-warehouse"
    assert concurrency["cancel-in-progress"] is False


def test_schedules_parse_and_run_off_the_hour_with_manual_dispatch() -> None:
    crons = [entry["cron"] for entry in triggers()["schedule"]]
    assert len(crons) == 2
    for cron in crons:
        assert croniter.is_valid(cron), cron
        assert "0" not in cron.split()[0].split(","), f"{cron} fires on the hour"
    inputs = triggers()["workflow_dispatch"]["inputs"]
    assert {name: spec["type"] for name, spec in inputs.items()} == {
        "reconcile": "boolean",
        "full_refresh": "boolean",
    }


def test_the_weekly_schedule_is_the_one_that_reconciles() -> None:
    crons = [entry["cron"] for entry in triggers()["schedule"]]
    reconcile = steps()["Sync"]["env"]["RECONCILE"]
    (chosen,) = re.findall(r"github\.event\.schedule == '([^']+)'", reconcile)
    assert chosen in crons
    weekly = croniter(chosen)
    first = weekly.get_next(float)
    assert weekly.get_next(float) - first == 7 * 24 * 3600


def test_credentials_come_from_secrets_and_reach_the_env_vars_labsync_reads() -> None:
    env = steps()["Sync"]["env"]
    assert env["SOURCES__DATADOG__API_KEY"] == "${{ secrets.DD_API_KEY }}"
    assert env["SOURCES__DATADOG__APP_KEY"] == "${{ secrets.DD_APP_KEY }}"
    assert env["LABSYNC_LOG"] == "-"
    # no other secret is read, and the keys are read nowhere else
    used = re.findall(r"\bsecrets\.(\w+)", WORKFLOW.read_text())
    assert sorted(used) == ["DD_API_KEY", "DD_APP_KEY"]


def test_persists_the_warehouse_and_the_history_labsync_keeps_for_it() -> None:
    env = workflow()["env"]
    expected = history_path(Path(env["LABSYNC_WAREHOUSE"]))
    assert Path(env["HISTORY_FILE"]) == expected
    save = steps()["Save the warehouse to S3"]
    # saved after a failed sync, but never when the restore failed
    assert save["if"] == "always() && steps.restore.outcome == 'success'"
    assert steps()["Restore the warehouse from S3"]["id"] == "restore"


def test_shell_steps_pass_shellcheck(tmp_path: Path) -> None:
    shellcheck = Path(sys.prefix) / "bin" / "shellcheck"
    runs = {name: step["run"] for name, step in steps().items() if "run" in step}
    assert len(runs) == 4
    for name, script in runs.items():
        path = tmp_path / "step.sh"
        # GitHub runs `bash -e {0}`; expressions are filled in before the shell sees them
        path.write_text("#!/bin/bash -e\n" + EXPRESSION.sub("EXPRESSION", script))
        done = subprocess.run(
            [str(shellcheck), "--severity=style", str(path)], capture_output=True, text=True
        )
        assert done.returncode == 0, (name, done.stdout)


def test_sync_step_treats_a_skipped_run_as_success(tmp_path: Path) -> None:
    script = steps()["Sync"]["run"]
    lock = tmp_path / "run_sync.lock"
    env = {
        "PATH": "/usr/bin:/bin",
        "LABSYNC_BIN": f"{sys.executable} -m pipelines",
        "LABSYNC_WAREHOUSE": str(tmp_path / "labsync.duckdb"),
        "LABSYNC_LOCK": str(lock),
        "LABSYNC_LOG": "-",
        "RECONCILE": "true",
        "FULL_REFRESH": "false",
    }
    with open(lock, "w") as held:  # another sync is running
        fcntl.flock(held, fcntl.LOCK_EX)
        done = subprocess.run(
            ["bash", "-e", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
        )

    assert done.returncode == 0, done.stderr
    assert "::notice::skipped" in done.stdout
    assert "skipped: another sync holds" in done.stdout
