"""schedules/systemd/: the units pass `systemd-analyze verify`, the timers' calendars parse and
fire when the crontab does, and the services run run_sync.sh treating 75 as success."""

from __future__ import annotations

import getpass
import re
import shutil
import subprocess
from pathlib import Path

from tests.schedules.conftest import ROOT, SCHEDULES

UNITS = SCHEDULES / "systemd"
TIMERS = {
    "labsync-sync.timer": ("*-*-* *:07,37:00 UTC", None),
    "labsync-reconcile.timer": ("Sun *-*-* 03:52:00 UTC", "--reconcile"),
}


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    assert found, "systemd-analyze is missing: apt-get install systemd"
    return found


def settings(unit: Path) -> dict[str, list[str]]:
    """`Section.Key` -> values (systemd allows a key more than once, e.g. Environment=)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return found


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    # as installed: /opt/labsync is this checkout, the user one that exists here
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/opt/labsync", str(ROOT))
        text = text.replace("User=labsync", f"User={getpass.getuser()}")
        (tmp_path / unit.name).write_text(text)
    names = sorted(str(p) for p in tmp_path.iterdir())
    assert len(names) == 4

    done = subprocess.run(
        [systemd_analyze(), "verify", *names], capture_output=True, text=True, cwd=tmp_path
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""  # unknown keys only warn: none allowed


def test_timers_are_persistent_and_fire_off_the_hour_in_utc() -> None:
    for name, (calendar, _) in TIMERS.items():
        timer = settings(UNITS / name)
        assert timer["Timer.OnCalendar"] == [calendar]
        assert timer["Timer.Persistent"] == ["true"]
        assert timer["Install.WantedBy"] == ["timers.target"]
        done = subprocess.run(
            [systemd_analyze(), "calendar", "--iterations=6", calendar],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        elapses = re.findall(r"(\w{3}) \d{4}-\d\d-\d\d (\d\d):(\d\d):00 UTC", done.stdout)
        assert len(elapses) == 6, done.stdout
        if name == "labsync-sync.timer":
            assert {minute for _, _, minute in elapses} <= {"07", "37"}
        else:
            assert set(elapses) == {("Sun", "03", "52")}


def test_services_run_the_script_and_treat_a_skip_as_success() -> None:
    for name, (_, argument) in TIMERS.items():
        service = settings(UNITS / name.replace(".timer", ".service"))
        assert service["Service.Type"] == ["oneshot"]
        (exec_start,) = service["Service.ExecStart"]
        assert exec_start.split()[0] == "/opt/labsync/schedules/run_sync.sh"
        assert (argument in exec_start.split()) if argument else len(exec_start.split()) == 1
        assert service["Service.SuccessExitStatus"] == ["75"]
        assert service["Service.WorkingDirectory"] == ["/opt/labsync"]
        environment = service["Service.Environment"]
        assert "LABSYNC_LOG=-" in environment  # into the journal
        if argument == "--reconcile":
            assert any(e.startswith("LABSYNC_LOCK_WAIT=") for e in environment)
