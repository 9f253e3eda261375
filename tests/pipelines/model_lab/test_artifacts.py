"""Model Lab artifact listings and content end to end, over loopback HTTP, into DuckDB and disk."""

from __future__ import annotations

import hashlib
import logging
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from emulator.model_lab.data import ModelLabStore
from pipelines import cli
from pipelines.common.datadog import DatadogCredentials
from pipelines.common.errors import ConfigurationError
from pipelines.common.http import RetryPolicy
from pipelines.common.stats import ResourceStats
from pipelines.model_lab.artifacts import UnsafeArtifactPath, local_artifact_path
from pipelines.model_lab.client import ModelLabClient
from pipelines.runner import SyncFailed
from tests.conftest import API_KEY, APP_KEY, query
from tests.pipelines.model_lab.test_facets import requests_to, small_emulator, sync

__all__ = ["small_emulator"]  # the fixture, shared with the facet tests

CONTENT = "/artifacts/content"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.messages)


@pytest.fixture
def labsync_logs() -> Iterator[Records]:
    """Warnings and errors of the `labsync` logger (which `cli.main` stops propagating)."""
    log = logging.getLogger("labsync")
    saved = (list(log.handlers), log.level, log.propagate)
    records = Records()
    log.addHandler(records)
    log.setLevel(logging.INFO)
    yield records
    log.handlers[:], log.level, log.propagate = saved


def run_ids_of(store: ModelLabStore, project_id: int) -> list[int]:
    return [
        i for i in store.run_ids() if store.get_run(i)["attributes"]["project_id"] == project_id
    ]


def walk(store: ModelLabStore, run_id: int) -> tuple[str, list[dict[str, Any]]]:
    """A run's artifact root and every entry below it, as the API serves them level by level."""
    root, level = store.run_artifacts(run_id, "")
    entries, pending = [], [level]
    while pending:
        for entry in pending.pop():
            entries.append(entry)
            if entry["is_dir"]:
                pending.append(store.run_artifacts(run_id, entry["path"])[1])
    return root, entries


def expected_artifacts(store: ModelLabStore) -> dict[tuple[int, str], tuple[Any, ...]]:
    """(project_id, path) -> (run_id, run_path, is_dir, file_size, created_at, is_deleted)."""
    rows: dict[tuple[int, str], tuple[Any, ...]] = {}
    for project_id in store.project_ids():
        project_deleted = bool(store.get_project(project_id)["attributes"].get("deleted_at"))
        listing = {f["artifact_path"]: f for f in store.project_artifacts(project_id)}
        for run_id in run_ids_of(store, project_id):
            deleted = project_deleted or bool(store.get_run(run_id)["attributes"].get("deleted_at"))
            root, entries = walk(store, run_id)
            for entry in entries:
                path = f"{root}/{entry['path']}"
                created = None if entry["is_dir"] else listing.pop(path)["created_at"]
                size = entry.get("file_size")
                rows[project_id, path] = (
                    run_id,
                    entry["path"],
                    entry["is_dir"],
                    size,
                    created,
                    deleted,
                )
        for path, file in listing.items():  # files outside every run
            rows[project_id, path] = (
                None,
                None,
                False,
                file["file_size"],
                file["created_at"],
                project_deleted,
            )
    return rows


def loaded_artifacts(warehouse: Path) -> dict[tuple[int, str], tuple[Any, ...]]:
    rows = query(
        warehouse,
        "select project_id, path, run_id, run_path, is_dir, file_size, "
        "strftime(created_at, '%Y-%m-%dT%H:%M:%SZ'), is_deleted "
        "from analytics.model_lab_artifacts",
    )
    return {(r[0], r[1]): r[2:] for r in rows}


def assert_artifacts_match(warehouse: Path, store: ModelLabStore) -> set[tuple[int, str]]:
    """Every file and directory the API has is loaded as it is; returns the loaded extras
    (files the API no longer has), which must all be flagged deleted."""
    loaded, expected = loaded_artifacts(warehouse), expected_artifacts(store)
    assert {key: loaded.get(key) for key in expected} == expected
    extras = set(loaded) - set(expected)
    assert all(loaded[key][-1] for key in extras), "files gone from the API must be flagged"
    return extras


def of_run_root(store: ModelLabStore, run_id: int) -> str:
    return store.run_artifacts(run_id, "")[0] + "/"


def content_of(store: ModelLabStore, project_id: int, artifact_path: str) -> bytes:
    _size, chunks = store.open_artifact(project_id, artifact_path)
    return b"".join(chunks)


def downloads(warehouse: Path) -> dict[tuple[int, str], tuple[Any, ...]]:
    rows = query(
        warehouse,
        "select project_id, artifact_path, file_size, sha256, local_path, downloaded_at "
        "from analytics.model_lab_artifact_downloads",
    )
    return {(r[0], r[1]): r[2:] for r in rows}


def test_artifact_rows_match_walks_and_listings(small_emulator: Emulator, warehouse: Path) -> None:
    emu = small_emulator
    store = emu.model_lab
    project_id = store.project_ids()[0]
    store.add_project_file(
        project_id, "datasets/train.csv", 4096, created_at="2025-02-01T10:00:00Z"
    )
    result = sync(warehouse)
    assert assert_artifacts_match(warehouse, store) == set()
    expected = expected_artifacts(store)
    outside_runs = (None, None, False, 4096, "2025-02-01T10:00:00Z", False)
    assert expected[project_id, "datasets/train.csv"] == outside_runs
    assert any(row[2] for row in expected.values())  # directories are listed too
    assert any(row[-1] for row in expected.values())  # and soft-deleted runs' files, flagged
    assert result.audit_failures == []
    # one walk request per run and per directory, one listing per project
    n_dirs = sum(1 for row in expected.values() if row[2])
    assert (
        len(requests_to(emu, "/artifacts"))
        - len(requests_to(emu, "/projects/1/artifacts"))
        - (len(requests_to(emu, "/projects/2/artifacts")))
        == len(store.run_ids()) + n_dirs
    )
    assert len(requests_to(emu, "/projects/1/artifacts", "/projects/2/artifacts")) == 2


def test_second_sync_walks_only_changed_runs(small_emulator: Emulator, warehouse: Path) -> None:
    emu = small_emulator
    store = emu.model_lab
    sync(warehouse, build_models=False)
    emu.clear_requests()
    sync(warehouse, build_models=False)
    assert requests_to(emu, "/artifacts") == []  # nothing changed: no artifact call at all

    project_id = store.project_ids()[1]
    run_id = run_ids_of(store, project_id)[0]
    store.update_run(run_id, artifacts={"model/weights.bin": 2048, "eval/report.json": 300})
    emu.clear_requests()
    sync(warehouse)
    walked = {
        r.path
        for r in requests_to(emu, "/artifacts")
        if r.path.startswith("/api/v2/model-lab-api/runs/")
    }
    assert walked == {f"/api/v2/model-lab-api/runs/{run_id}/artifacts"}
    listed = [r.path for r in requests_to(emu, "/artifacts") if "/projects/" in r.path]
    assert listed == [f"/api/v2/model-lab-api/projects/{project_id}/artifacts"]
    replaced = assert_artifacts_match(warehouse, store)
    of_run = query(
        warehouse,
        "select run_path from analytics.model_lab_artifacts "
        "where run_id = ? and not is_deleted order by 1",
        [run_id],
    )
    assert of_run == [("eval/",), ("eval/report.json",), ("model/",), ("model/weights.bin",)]
    # the run's earlier files are gone from the API: kept, flagged deleted
    assert replaced and all(path.startswith(of_run_root(store, run_id)) for _p, path in replaced)


def test_deep_trees_and_the_walk_guards(
    small_emulator: Emulator,
    warehouse: Path,
    monkeypatch: pytest.MonkeyPatch,
    labsync_logs: Records,
) -> None:
    emu = small_emulator
    store = emu.model_lab
    deep_run, wide_run = store.run_ids()[:2]
    deep_path = "/".join(f"level{i}" for i in range(15)) + "/leaf.bin"
    store.update_run(deep_run, artifacts={deep_path: 10, "top.txt": 1})
    store.update_run(wide_run, artifacts={f"shard-{i:03d}.bin": i + 1 for i in range(40)})
    sync(warehouse)
    assert_artifacts_match(warehouse, store)
    leaf = query(
        warehouse, "select path from analytics.model_lab_artifacts where run_path = ?", [deep_path]
    )
    assert leaf and leaf[0][0].endswith(deep_path)

    monkeypatch.setenv("SOURCES__MODEL_LAB__ARTIFACT_MAX_DEPTH", "4")
    monkeypatch.setenv("SOURCES__MODEL_LAB__ARTIFACT_MAX_ENTRIES", "25")
    store.update_run(deep_run, artifacts={deep_path: 11, "top.txt": 1})
    store.update_run(wide_run, artifacts={f"shard-{i:03d}.bin": i + 1 for i in range(41)})
    sync(warehouse)
    walks = dict(
        query(
            warehouse,
            "select run_id, entries from raw_model_lab.run_artifact_walks where truncated",
        )
    )
    assert walks == {deep_run: 6, wide_run: 25}  # top.txt + level0..level4; 25 shards
    assert "nests deeper than 4" in labsync_logs.text
    assert "more than 25 entries" in labsync_logs.text
    # the project listing still shows every file of both runs: none is taken for deleted
    files = query(
        warehouse,
        "select run_id, count(*), bool_or(is_deleted) from analytics.model_lab_artifacts "
        "where run_id in (?, ?) and not is_dir group by 1",
        [deep_run, wide_run],
    )
    assert sorted(files) == sorted([(deep_run, 2, False), (wide_run, 41, False)])


def test_deleted_runs_and_projects_keep_their_artifacts(
    small_emulator: Emulator, warehouse: Path
) -> None:
    emu = small_emulator
    store = emu.model_lab
    first_project, second_project = store.project_ids()
    soft_run = next(
        i
        for i in run_ids_of(store, first_project)
        if not store.get_run(i)["attributes"].get("deleted_at") and walk(store, i)[1]
    )
    hard_run = next(
        i for i in run_ids_of(store, first_project) if i != soft_run and walk(store, i)[1]
    )
    sync(warehouse, build_models=False)
    before = {run_id: len(walk(store, run_id)[1]) for run_id in (soft_run, hard_run)}
    n_second = query(
        warehouse,
        "select count(*) from raw_model_lab.project_artifacts where project_id = ?",
        [second_project],
    )[0][0]
    store.soft_delete_run(soft_run)
    store.delete_run(hard_run)
    store.delete_project(second_project)
    sync(warehouse, reconcile=True)
    flagged = dict(
        query(
            warehouse,
            "select run_id, count(*) filter (where is_deleted) from analytics.model_lab_artifacts "
            "where run_id in (?, ?) group by 1",
            [soft_run, hard_run],
        )
    )
    assert flagged == before
    gone = query(
        warehouse,
        "select count(*), bool_and(is_deleted) from analytics.model_lab_artifacts "
        "where project_id = ? and not is_dir",
        [second_project],
    )
    assert gone == [(n_second, True)]


def test_faults_end_with_the_same_artifacts(
    small_emulator: Emulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = small_emulator
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "12")
    for kind in ("500", "503", "truncate", "drop", "429"):
        emu.faults.inject(kind, times=1, path_pattern="/artifacts$")
    emu.faults.configure("429=0.02,5xx=0.05,truncate=0.03,drop=0.03,seed=9")
    result = sync(warehouse)
    emu.faults.clear()
    assert assert_artifacts_match(warehouse, emu.model_lab) == set()
    stats = result.sources["model_lab"].stats
    assert stats["run_artifacts"].retries + stats["project_artifacts"].retries > 0


# ------------------------------------------------------------------------------------------
# Content


def content_options(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"artifacts_content": True, "artifacts_dir": str(tmp_path / "files"), **extra}


def test_content_downloads_exact_bytes_and_skips_unchanged(
    small_emulator: Emulator, warehouse: Path, tmp_path: Path
) -> None:
    emu = small_emulator
    store = emu.model_lab
    options = content_options(tmp_path, artifacts_include=["*.json", "datasets/*"])
    project_id = store.project_ids()[0]
    store.add_project_file(project_id, "datasets/big.parquet", 3_500_000)
    sync(warehouse, options=options)
    wanted = {
        (p, f["artifact_path"])
        for p in store.project_ids()
        for f in store.project_artifacts(p)
        if f["artifact_path"].endswith(".json") or f["artifact_path"].startswith("datasets/")
    }
    recorded = downloads(warehouse)
    assert set(recorded) == wanted and len(wanted) > 5
    for (p, path), (size, sha256, local, _at) in recorded.items():
        data = content_of(store, p, path)
        assert Path(local) == tmp_path / "files" / str(p) / path
        assert Path(local).read_bytes() == data
        assert (size, sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert not list((tmp_path / "files").rglob("*.labsync-partial"))

    # nothing changed: no content request; a corrupted copy is fetched again, alone
    emu.clear_requests()
    sync(warehouse, options=options)
    assert requests_to(emu, CONTENT) == []
    corrupted_path, corrupted_record = next(
        (path, record) for (_p, path), record in sorted(recorded.items()) if path.endswith(".json")
    )
    corrupted = Path(corrupted_record[2])
    original = corrupted.read_bytes()
    corrupted.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    emu.clear_requests()
    sync(warehouse, options=options)
    assert [r.query["artifact_path"] for r in requests_to(emu, CONTENT)] == [[corrupted_path]]
    assert corrupted.read_bytes() == original


def test_content_resumes_after_an_interrupted_sync(
    small_emulator: Emulator, warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = small_emulator
    store = emu.model_lab
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "2")
    options = content_options(tmp_path, artifacts_include=["*.json", "*.txt", "*MLmodel"])
    served: list[str] = []

    def fail_after_five(request: Any) -> None:
        if request.path.endswith(CONTENT):
            served.append(request.query["artifact_path"][0])
            if len(served) == 5:  # from now on every download fails: the sync stops
                emu.faults.inject("500", times=1000, path_pattern=CONTENT)

    emu.on_request(fail_after_five)
    with pytest.raises(SyncFailed, match="500"):
        sync(warehouse, options=options)
    emu.on_request(None)
    emu.faults.clear()
    on_disk = {p for p in (tmp_path / "files").rglob("*") if p.is_file()}
    assert on_disk and not [p for p in on_disk if p.name.endswith(".labsync-partial")]
    # partial files a killed process left behind are overwritten or removed
    missing = next(
        tmp_path / "files" / str(p) / f["artifact_path"]
        for p in store.project_ids()
        for f in store.project_artifacts(p)
        if f["artifact_path"].endswith(".json")
        and tmp_path / "files" / str(p) / f["artifact_path"] not in on_disk
    )
    missing.parent.mkdir(parents=True, exist_ok=True)
    for stray in (missing, next(iter(on_disk))):
        stray.with_name(stray.name + ".labsync-partial").write_bytes(b"half")
    emu.clear_requests()
    sync(warehouse, options=options)
    fetched = {r.query["artifact_path"][0] for r in requests_to(emu, CONTENT)}
    recorded = downloads(warehouse)
    # the files finished before the interruption were not fetched again, yet are recorded
    assert len(fetched) == len(recorded) - len(on_disk)
    assert all(
        Path(v[2]).read_bytes() == content_of(store, k[0], k[1]) for k, v in recorded.items()
    )
    assert not list((tmp_path / "files").rglob("*.labsync-partial"))


def test_content_filters_and_default_folder(small_emulator: Emulator, warehouse: Path) -> None:
    store = small_emulator.model_lab
    project_id = store.project_ids()[1]
    store.add_project_file(project_id, "datasets/small.csv", 900)
    store.add_project_file(project_id, "datasets/large.csv", 90_000)
    sync(
        warehouse,
        build_models=False,
        options={
            "artifacts_content": True,
            "artifacts_include": ["*.csv"],
            "artifacts_max_bytes": 1000,
        },
    )
    folder = warehouse.parent / "artifacts" / str(project_id)
    assert [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()] == [
        "datasets/small.csv"
    ]


def test_traversal_is_refused_and_nothing_escapes(
    small_emulator: Emulator, warehouse: Path, tmp_path: Path, labsync_logs: Records
) -> None:
    store = small_emulator.model_lab
    project_id = store.project_ids()[0]
    hostile = ["../../../../escaped.bin", "/tmp/absolute.bin", "ok/../../sneaky.bin"]
    for path in hostile:
        store.add_project_file(project_id, path, 64)
    store.add_project_file(project_id, "datasets/fine.bin", 64)
    options = content_options(tmp_path / "inside", artifacts_include=["*.bin"])
    sync(warehouse, options=options)
    for path in hostile:
        refused = f"refusing to download artifact_path {path!r} of project {project_id}"
        assert refused in labsync_logs.text
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.bin"))
    assert written == [f"inside/files/{project_id}/datasets/fine.bin"]
    assert not Path("/tmp/absolute.bin").exists()
    assert set(downloads(warehouse)) == {(project_id, "datasets/fine.bin")}


@pytest.mark.parametrize(
    "path",
    ["../x", "a/../../x", "/etc/passwd", "C:/x", "a\\..\\x", "", "dir/", "a/\x00b", "..", "."],
)
def test_local_artifact_path_refuses(tmp_path: Path, path: str) -> None:
    with pytest.raises(UnsafeArtifactPath, match="refusing to download artifact_path"):
        local_artifact_path(tmp_path, 3, path)


def test_local_artifact_path_refuses_symlink_escape(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "artifacts" / "3").mkdir(parents=True)
    (tmp_path / "artifacts" / "3" / "link").symlink_to(outside)
    with pytest.raises(UnsafeArtifactPath, match="resolves outside"):
        local_artifact_path(tmp_path / "artifacts", 3, "link/file.bin")
    inside = local_artifact_path(tmp_path / "artifacts", 3, "run/artifacts/./model.bin")
    assert inside == (tmp_path / "artifacts" / "3" / "run" / "artifacts" / "model.bin").resolve()


def test_download_streams_without_holding_the_file(
    small_emulator: Emulator, tmp_path: Path
) -> None:
    store = small_emulator.model_lab
    project_id = store.project_ids()[0]
    size = 24 * 1024 * 1024
    store.add_project_file(project_id, "weights/huge.safetensors", size)
    client = ModelLabClient(
        DatadogCredentials(small_emulator.base_url, API_KEY, APP_KEY),
        RetryPolicy(max_attempts=3, backoff_factor_s=0.01),
    )
    small_emulator.faults.inject("truncate", times=1, path_pattern=CONTENT)  # retried whole
    stats = ResourceStats("test")
    tracemalloc.start()
    try:
        done = client.download_artifact(
            project_id, "weights/huge.safetensors", tmp_path / "huge.bin", stats
        )
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert done.size == size and (tmp_path / "huge.bin").stat().st_size == size
    assert (
        done.sha256
        == hashlib.sha256(content_of(store, project_id, "weights/huge.safetensors")).hexdigest()
    )
    assert peak < 6 * 1024 * 1024  # a few 1 MiB chunks, never the 24 MiB file
    assert stats.retries == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--artifacts-include", "*.json"], "need --artifacts-content"),
        (["--artifacts-content", "--artifacts-max-bytes", "-1"], "must be a whole number >= 0"),
    ],
)
@pytest.mark.usefixtures("labsync_logs")  # restores the logger `cli.main` configures
def test_content_flags_are_checked_before_any_request(
    small_emulator: Emulator,
    warehouse: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    code = cli.main(["sync", "--source", "model_lab", "--warehouse", str(warehouse), *argv])
    assert code == cli.EXIT_USAGE
    assert message in capsys.readouterr().err
    assert small_emulator.requests == []


def test_without_walks_files_still_map_to_their_runs(
    small_emulator: Emulator, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run_artifact_walks = false`: files come from the project listings, matched to runs
    through mlflow_artifact_location; only directory rows are missing."""
    emu = small_emulator
    monkeypatch.setenv("SOURCES__MODEL_LAB__RUN_ARTIFACT_WALKS", "false")
    sync(warehouse)
    assert [r for r in emu.requests if r.path.startswith("/api/v2/model-lab-api/runs/")] == []
    files = {key: row for key, row in expected_artifacts(emu.model_lab).items() if not row[2]}
    assert loaded_artifacts(warehouse) == files
    monkeypatch.setenv("SOURCES__MODEL_LAB__FACETS", "sometimes")
    with pytest.raises(ConfigurationError, match="facets must be true or false"):
        sync(warehouse)
