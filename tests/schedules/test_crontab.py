"""schedules/crontab: every entry parses (croniter), runs off the hour in UTC, and the weekly
--reconcile never shares a minute with the half-hourly sync."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from croniter import croniter

from tests.schedules.conftest import SCHEDULES

CRONTAB = SCHEDULES / "crontab"
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
BASE = datetime(2025, 1, 5, 0, 0, tzinfo=UTC)  # a Sunday


@dataclass(frozen=True)
class Entry:
    spec: str
    command: str

    def fires(self, days: int) -> list[datetime]:
        it = croniter(self.spec, BASE - timedelta(seconds=1))
        end = BASE + timedelta(days=days)
        times = []
        while (when := it.get_next(datetime)) < end:
            times.append(when)
        return times


def read_crontab() -> tuple[dict[str, str], list[Entry]]:
    variables, entries = {}, []
    for raw in CRONTAB.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if ENV_ASSIGNMENT.match(line) and len(line.split()) == 1:
            name, _, value = line.partition("=")
            variables[name] = value
            continue
        fields = line.split(None, 5)
        assert len(fields) == 6, f"not a cron entry: {line!r}"
        entries.append(Entry(" ".join(fields[:5]), fields[5]))
    return variables, entries


def sync_and_reconcile() -> tuple[Entry, Entry]:
    _, entries = read_crontab()
    regular = [e for e in entries if "--reconcile" not in e.command]
    reconcile = [e for e in entries if "--reconcile" in e.command]
    assert len(regular) == 1 and len(reconcile) == 1, entries
    return regular[0], reconcile[0]


def test_every_entry_parses_and_calls_run_sync() -> None:
    variables, entries = read_crontab()
    assert entries
    for entry in entries:
        assert croniter.is_valid(entry.spec), entry.spec
        assert "/schedules/run_sync.sh" in entry.command
    assert variables.get("CRON_TZ") == "UTC"


def test_syncs_every_30_minutes_off_the_hour() -> None:
    regular, _ = sync_and_reconcile()
    fires = regular.fires(days=1)
    assert len(fires) == 48
    assert all(when.minute != 0 for when in fires)
    assert {b - a for a, b in pairwise(fires)} == {timedelta(minutes=30)}


def test_reconciles_weekly_at_a_minute_no_sync_uses_and_waits_for_the_lock() -> None:
    regular, reconcile = sync_and_reconcile()
    fires = reconcile.fires(days=28)
    assert len(fires) == 4
    assert {b - a for a, b in pairwise(fires)} == {timedelta(days=7)}
    assert not set(fires) & set(regular.fires(days=28))
    assert all(when.minute != 0 for when in fires)
    # a skipped reconcile would wait a week: it waits for a running sync instead
    assert re.search(r"\bLABSYNC_LOCK_WAIT=[1-9][0-9]* ", reconcile.command)


def test_both_entries_call_the_same_script() -> None:
    regular, reconcile = sync_and_reconcile()
    script = regular.command.split()[0]
    assert script.endswith("/schedules/run_sync.sh")
    assert script in reconcile.command.split()
