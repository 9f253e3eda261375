"""A small hand-made Model Lab warehouse for the analytics marts, synced through the emulator.

Every expected rank, win rate, delta, param diff and sweep winner in the tests is worked out by
hand from the values below, so read them together.

Project "leaderboard" (A); params are optimizer, lr, batch_size, seed:
    run  status     accuracy  loss  f1   my_score  bleu  params
    r1   completed  .90       .30   .80  3.0       .30   adam, 0.01, 32, 42
    r2   completed  .85       .20   .80  1.0       -     adam, 0.001, 32, 42
    r3   completed  .90       .25   -    2.0       -     sgd, 0.01, -, 42
    r4   failed     .95       .10   -    -         .50   adam, 0.1, 32, 42
    r5   completed  .99 (soft-deleted)                   rmsprop, 0.5, 64, 42
    r6   running    trainLoss, latency_ms, power, eval/rmse, tokens_per_second; no params
    `my_score` has no rule word (default max); the config overrides it to min.

Project "sweep" (B): parent p (completed, no params or metrics) with children
    c1 completed val_loss .5 acc .70 lr 0.1;  c2 completed val_loss .4 acc .80 lr 0.01
    c3 completed val_loss .4 acc .75 lr 0.001; c4 failed val_loss .1 lr 1.0  (optimizer adam)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from emulator import Emulator
from pipelines import runner
from tests.conftest import API_KEY, APP_KEY

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DIRECTIONS_ENV = "MODELS__METRIC_DIRECTIONS"
OVERRIDES = '{"my_score": "min", "unused_metric": "max"}'


def summary(key: str, latest: float, low: float | None = None, high: float | None = None) -> dict:
    """A metric summary whose latest value is `latest` and whose range is [low, high]."""
    low = latest if low is None else low
    high = latest if high is None else high
    return {
        "key": key,
        "count": 10,
        "first_step": 0,
        "last_step": 9,
        "latest": latest,
        "min": low,
        "max": high,
        "mean": (low + high) / 2,
        "stddev": 0.01,
    }


def params(**values: object) -> list[dict[str, str]]:
    return [{"key": k, "value": str(v)} for k, v in values.items()]


@dataclass(frozen=True)
class Dataset:
    warehouse: Path  # the published file; its working copy is under warehouse.parent/.labsync
    project_a: int
    project_b: int
    ids: dict[str, int]  # r1..r6, p, c1..c4 -> run id

    def __getitem__(self, name: str) -> int:
        return self.ids[name]


def _run(
    emu: Emulator,
    project: int,
    minute: int,
    status: str,
    metrics: list[dict],
    run_params: list[dict[str, str]] | None,
    tags: dict[str, str] | None = None,
    parent: int | None = None,
) -> int:
    started = T0 + timedelta(minutes=minute)
    finished = status in ("completed", "failed", "killed")
    name = f"run-{minute:02d}"
    return emu.model_lab.insert_run(
        project,
        parent_run_id=parent,
        name=name,
        status=status,
        started_at=started,
        completed_at=started + timedelta(minutes=30) if finished else None,
        duration=1800.0 if finished else None,
        metric_summaries=metrics,
        params=run_params,
        tags=[{"key": "mlflow.runName", "value": name}]
        + [{"key": k, "value": v} for k, v in (tags or {}).items()],
    )


def populate(emu: Emulator) -> tuple[int, int, dict[str, int]]:
    """Load the hand-made projects and runs into an emulator that generated none."""
    a = emu.model_lab.insert_project(name="leaderboard")
    b = emu.model_lab.insert_project(name="sweep")
    ids: dict[str, int] = {}
    ids["r1"] = _run(
        emu,
        a,
        1,
        "completed",
        [
            summary("accuracy", 0.90, 0.50, 0.92),
            summary("loss", 0.30, 0.28, 2.0),
            summary("f1", 0.80),
            summary("my_score", 3.0),
            summary("bleu", 0.30),
        ],
        params(optimizer="adam", lr=0.01, batch_size=32, seed=42),
        {"model": "gpt-4o"},
    )
    ids["r2"] = _run(
        emu,
        a,
        2,
        "completed",
        [
            summary("accuracy", 0.85),
            summary("loss", 0.20),
            summary("f1", 0.80),
            summary("my_score", 1.0),
        ],
        params(optimizer="adam", lr=0.001, batch_size=32, seed=42),
        {"model": "gpt-3.5"},
    )
    ids["r3"] = _run(
        emu,
        a,
        3,
        "completed",
        [summary("accuracy", 0.90), summary("loss", 0.25), summary("my_score", 2.0)],
        params(optimizer="sgd", lr=0.01, seed=42),
        {"model": "llama"},
    )
    ids["r4"] = _run(
        emu,
        a,
        4,
        "failed",
        [summary("accuracy", 0.95), summary("loss", 0.10), summary("bleu", 0.50)],
        params(optimizer="adam", lr=0.1, batch_size=32, seed=42),
    )
    ids["r5"] = _run(
        emu,
        a,
        5,
        "completed",
        [summary("accuracy", 0.99)],
        params(optimizer="rmsprop", lr=0.5, batch_size=64, seed=42),
    )
    emu.model_lab.soft_delete_run(ids["r5"])
    ids["r6"] = _run(
        emu,
        a,
        6,
        "running",
        [
            summary("trainLoss", 1.5),
            summary("latency_ms", 40.0),
            summary("power", 3.0),
            summary("eval/rmse", 0.7),
            summary("tokens_per_second", 900.0),
        ],
        None,
    )
    ids["p"] = _run(emu, b, 10, "completed", [], None)
    sweep = [
        ("c1", "completed", [summary("val_loss", 0.5), summary("acc", 0.70)], 0.1),
        ("c2", "completed", [summary("val_loss", 0.4), summary("acc", 0.80)], 0.01),
        ("c3", "completed", [summary("val_loss", 0.4), summary("acc", 0.75)], 0.001),
        ("c4", "failed", [summary("val_loss", 0.1)], 1.0),
    ]
    for minute, (name, status, metrics, lr) in enumerate(sweep, start=11):
        ids[name] = _run(
            emu, b, minute, status, metrics, params(optimizer="adam", lr=lr), parent=ids["p"]
        )
    return a, b, ids


@contextmanager
def datadog_env(emu: Emulator, overrides: str | None = OVERRIDES) -> Iterator[None]:
    """The environment a sync of `emu` needs (module-scoped fixtures cannot use monkeypatch)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("SOURCES__", "DD_", "LABSYNC_", "DESTINATION__", "MODELS__")):
                patch.delenv(name)
        patch.setenv("SOURCES__DATADOG__BASE_URL", emu.base_url)
        patch.setenv("SOURCES__DATADOG__API_KEY", API_KEY)
        patch.setenv("SOURCES__DATADOG__APP_KEY", APP_KEY)
        patch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        if overrides is not None:
            patch.setenv(DIRECTIONS_ENV, overrides)
        yield


@contextmanager
def hand_made_warehouse(folder: Path) -> Iterator[tuple[Dataset, Emulator]]:
    """The hand-made runs served by an emulator on loopback and synced into `folder`."""
    with Emulator(seed=3, projects=0, runs=0, api_key=API_KEY, app_key=APP_KEY) as emu:
        emu.start()
        a, b, ids = populate(emu)
        warehouse = folder / "warehouse" / "labsync.duckdb"
        with datadog_env(emu):
            runner.sync(warehouse, sources=["model_lab"])
        yield Dataset(warehouse, a, b, ids), emu


_PRISTINE: list[Dataset] = []  # one sync per test session; every user gets a copy


def copy_of_hand_made(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """A private copy (published file, working copy, state) of the hand-made warehouse."""
    if not _PRISTINE:
        with hand_made_warehouse(tmp_path_factory.mktemp("hand-made")) as (dataset, _):
            _PRISTINE.append(dataset)
    pristine = _PRISTINE[0]
    target = tmp_path_factory.mktemp("hand-made-copy") / "warehouse"
    shutil.copytree(pristine.warehouse.parent, target)
    return replace(pristine, warehouse=target / pristine.warehouse.name)


def rows(warehouse: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
