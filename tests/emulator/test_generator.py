"""The deterministic generator: determinism, realism, internal consistency, scale."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest

from emulator import Emulator
from emulator.model_lab.data import ModelLabStore, RunQuery
from emulator.model_lab.generator import GEN_END_US, GEN_START_US, STATUSES
from emulator.timeutil import to_us

from .conftest import Api


@pytest.fixture(scope="module")
def store() -> ModelLabStore:
    return ModelLabStore(seed=7, projects=6, runs=6000)


def every_run(store: ModelLabStore) -> Iterator[dict[str, Any]]:
    total, _ = store.list_runs(RunQuery(), 0, 1)
    for offset in range(0, total, 1000):
        _, page = store.list_runs(RunQuery(sort_key="created_at", descending=False), offset, 1000)
        yield from page


def test_same_seed_same_bytes() -> None:
    pages = []
    for _ in range(2):
        with Emulator(seed=42, projects=5, runs=400) as emu:
            api = Api(emu)
            body = [
                api.get("/runs", {"page[size]": 100, "page[number]": n}).content for n in range(4)
            ]
            body.append(api.get("/projects").content.replace(emu.base_url.encode(), b""))
            body.append(api.get("/projects/1/artifacts").content)
            body.append(api.get("/facet-keys", {"filter[project_id]": 1}).content)
            pages.append([b.replace(emu.base_url.encode(), b"") for b in body])
    assert pages[0] == pages[1]
    other = ModelLabStore(seed=43, projects=5, runs=400)
    same = ModelLabStore(seed=42, projects=5, runs=400)
    assert orjson.dumps(other.list_runs(RunQuery(), 0, 100)) != orjson.dumps(
        same.list_runs(RunQuery(), 0, 100)
    )


def test_generation_does_not_depend_on_batching(store: ModelLabStore) -> None:
    run_ids = store.run_ids()[:300]
    one_by_one = [store.get_run(i) for i in run_ids]
    _, batch = store.list_runs(
        RunQuery(ids=tuple(run_ids), sort_key="created_at", descending=False), 0, 100
    )
    assert one_by_one[:100] == batch


def test_metric_summaries_are_consistent(store: ModelLabStore) -> None:
    checked = 0
    for run in every_run(store):
        for summary in run["attributes"]["metric_summaries"]:
            checked += 1
            assert summary["count"] >= 1
            assert summary["min"] <= summary["mean"] <= summary["max"]
            assert summary["min"] <= summary["latest"] <= summary["max"]
            assert all(isinstance(summary[k], float) for k in ("min", "max", "mean", "latest"))
            if "first_step" in summary:
                assert 0 <= summary["first_step"] <= summary["last_step"]
            else:
                assert "last_step" not in summary
            if summary["count"] == 1:
                assert summary["min"] == summary["max"]
            if "stddev" in summary:
                assert summary["stddev"] >= 0
    assert checked > 10_000


def test_realistic_variety(store: ModelLabStore) -> None:
    runs = list(every_run(store))
    statuses = {r["attributes"]["status"] for r in runs}
    assert statuses == set(STATUSES)
    counts = {s: sum(r["attributes"]["status"] == s for r in runs) for s in STATUSES}
    assert counts["completed"] > len(runs) / 2
    deleted = sum("deleted_at" in r["attributes"] for r in runs)
    assert 0.005 < deleted / len(runs) < 0.03
    assert any(not r["attributes"]["name"].isascii() for r in runs)
    assert any(not r["attributes"]["description"].isascii() for r in runs)
    assert any(r["attributes"]["params"] is None for r in runs)
    assert any("external_url" in r["attributes"] for r in runs)
    assert any("owner_id" not in r["attributes"] for r in runs)
    keys = {m["key"] for r in runs for m in r["attributes"]["metric_summaries"]}
    assert {"loss", "val_loss", "accuracy", "perplexity", "rmse", "latency_ms"} <= keys
    tags = {t["key"] for r in runs for t in r["attributes"]["tags"]}
    assert {"mlflow.runName", "mlflow.user", "mlflow.source.type"} <= tags
    values = {p["value"] for r in runs for p in r["attributes"]["params"] or []}
    assert "adam" in values and "0.0003" in values
    projects = [store.get_project(p) for p in store.project_ids()]
    assert sum("deleted_at" in p["attributes"] for p in projects) >= 1
    names = {p["attributes"]["name"] for p in projects}
    assert {"Détection d'anomalies", "日本語モデル評価", "Ünïcode-bert"} <= names


def test_sweeps_share_params(store: ModelLabStore) -> None:
    parents = [i for i in store.run_ids() if store.children(i)]
    children_total = sum(len(store.children(p)) for p in parents)
    assert 0.2 < children_total / len(store.run_ids()) < 0.5
    sweep = next(p for p in parents if store.get_run(p)["attributes"]["name"].startswith("sweep-"))
    trials = [store.get_run(c)["attributes"] for c in store.children(sweep)]
    assert 5 <= len(trials) <= 40
    params = [{p["key"]: p["value"] for p in t["params"]} for t in trials]
    varied = {k for k in params[0] if len({p.get(k) for p in params}) > 1}
    fixed = {k for k in params[0] if len({p.get(k) for p in params}) == 1}
    assert varied and fixed
    swept = set(store.get_run(sweep)["attributes"]["params"][-1]["value"].split(","))
    assert varied <= swept


def test_timestamps(store: ModelLabStore) -> None:
    runs = list(every_run(store))
    created = [to_us(r["attributes"]["created_at"]) for r in runs]
    updated = [to_us(r["attributes"]["updated_at"]) for r in runs]
    assert len(set(created)) == len(created) and len(set(updated)) == len(updated)
    assert all(GEN_START_US <= c <= u <= GEN_END_US for c, u in zip(created, updated, strict=True))
    for run in runs:
        attrs = run["attributes"]
        if "completed_at" in attrs:
            assert attrs["started_at"] <= attrs["completed_at"] <= attrs["updated_at"]
            assert attrs["status"] in ("completed", "failed", "killed")
        if "deleted_at" in attrs:
            assert attrs["deleted_at"] <= attrs["updated_at"]
        if attrs["status"] in ("pending", "running", "paused", "unresponsive"):
            assert "duration" not in attrs and "completed_at" not in attrs


def test_run_uuid_roundtrip(store: ModelLabStore) -> None:
    factory = store._factory
    for run_id in (1, 2, 999, 5999, 2**40):
        uuid = factory.run_uuid(run_id)
        assert len(uuid) == 32 and int(uuid, 16) >= 0
        assert factory.run_id_from_uuid(uuid) == run_id
    assert factory.run_id_from_uuid("0" * 32) is None
    batch = factory.run_uuids(np.arange(1, 500))
    assert batch == [factory.run_uuid(i) for i in range(1, 500)]
    assert len({factory.run_uuid(i) for i in range(1, 2000)}) == 1999


def test_large_artifacts_exist_and_stream(store: ModelLabStore) -> None:
    sizes = []
    for project_id in store.project_ids()[:2]:
        sizes.extend(f["file_size"] for f in store.project_artifacts(project_id))
    assert max(sizes) > 10 * 1024 * 1024
    project_id = store.project_ids()[0]
    big = max(store.project_artifacts(project_id), key=lambda f: f["file_size"])
    size, chunks = store.open_artifact(project_id, big["artifact_path"])
    total = 0
    peak_chunk = 0
    for chunk in chunks:
        total += len(chunk)
        peak_chunk = max(peak_chunk, len(chunk))
    assert total == size == big["file_size"]
    assert peak_chunk <= 1024 * 1024


def test_scale_bytes_per_run() -> None:
    gc.collect()
    tracemalloc.start()
    big = ModelLabStore(seed=1, projects=20, runs=200_000)
    _, peak_build = tracemalloc.get_traced_memory()
    total, page = big.list_runs(RunQuery(), 150_000, 100)
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total == 200_000 and len(page) == 100
    assert current / 200_000 < 200, f"{current / 200_000:.0f} bytes per run"
    assert peak_build / 200_000 < 600


@pytest.mark.slow
def test_one_million_runs() -> None:
    """Run by `make bench` (bench/emulator_bench.py reports the time and page costs)."""
    big = ModelLabStore(seed=1, projects=50, runs=1_000_000)
    assert big.columns_nbytes() < 100 * 1024 * 1024
    total, page = big.list_runs(RunQuery(), 999_900, 100)
    assert total == 1_000_000 and len(page) == 100
    roots, _ = big.list_runs(RunQuery(parent_mode="root"), 0, 1)
    assert 0.5 < roots / total < 0.8
    kinds = np.bincount(big._cols.status[: big._cols.n], minlength=len(STATUSES))
    assert (kinds > 0).all()
