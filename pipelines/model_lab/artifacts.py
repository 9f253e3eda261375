"""Model Lab artifacts: project listings, run directory walks and opt-in content downloads.

- A project listing is flat and recursive (one request per project) and has `created_at`;
  rows are emitted from the saved per-project cursor minus the lookback.
- A run listing is one directory level per request: the walk descends into every directory
  (`?path=`), up to a depth and an entry guard, and records whether it stopped early.
- Content is streamed to `<artifacts dir>/<project_id>/<artifact_path>` through a `.part`
  file; a file whose size and sha256 match the last download is not fetched again, and an
  `artifact_path` that would leave the project's folder is refused before anything is written.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..common.arrow import TIMESTAMP, Field, build_table, parse_timestamp
from ..common.errors import ApiError, LabsyncError, SchemaDriftError
from ..common.stats import ResourceStats
from .client import ModelLabClient
from .settings import DOWNLOAD_CHUNK_BYTES
from .streaming import partial_path

logger = logging.getLogger("labsync")

PROJECT_FILE_FIELDS = (
    Field("artifact_path", "text"),
    Field("filename", "text"),
    Field("created_at", "timestamp"),
    Field("file_size", "int"),
)
WALK_FIELDS = (
    Field("run_id", "int"),
    Field("project_id", "int"),
    Field("path_in_project", "text"),
    Field("entries", "int"),
    Field("truncated", "bool"),
)
ENTRY_FIELDS = (
    Field("run_id", "int"),
    Field("project_id", "int"),
    Field("path", "text"),
    Field("artifact_path", "text"),
    Field("is_dir", "bool"),
    Field("file_size", "int"),
    Field("_position", "int"),
)
DOWNLOAD_FIELDS = (
    Field("project_id", "int"),
    Field("artifact_path", "text"),
    Field("file_size", "int"),
    Field("sha256", "text"),
    Field("local_path", "text"),
    Field("downloaded_at", "timestamp"),
)


class UnsafeArtifactPath(LabsyncError):
    """An `artifact_path` that would be written outside the project's artifacts folder."""


# ------------------------------------------------------------------------------------------
# Project listings


def project_file_table(project_id: int, files: Sequence[Any], synced_at: datetime) -> pa.Table:
    """Typed rows of one project listing (new API fields become new columns)."""
    for item in files:
        if not isinstance(item, dict):
            raise SchemaDriftError("project_artifacts", "files", "object", item, project_id)
    owners = [f"{project_id}:{item.get('artifact_path')}" for item in files]
    table = build_table(
        "project_artifacts",
        files,
        PROJECT_FILE_FIELDS,
        row_ids=owners,
        constants={"_synced_at": (synced_at, TIMESTAMP)},
    )
    return table.add_column(0, "project_id", pa.array([project_id] * len(files), pa.int64()))


class CreatedCursors:
    """Per-project `created_at` cursors of the project listings, kept in the resource state."""

    def __init__(self, state: dict[str, Any], *, lookback_s: float, full_refresh: bool) -> None:
        self._state = state
        self._saved: dict[str, str] = {} if full_refresh else dict(state.get("cursors", {}))
        self._lookback = timedelta(seconds=lookback_s)
        self._new: dict[str, str] = {}

    def new_rows(self, project_id: int, table: pa.Table) -> pa.Table:
        """Rows created at or after the saved cursor minus the lookback (all without one)."""
        created = table.column("created_at")
        if len(created) and created.null_count < len(created):
            latest = pc.max(created).as_py()
            previous = self._saved.get(str(project_id))
            if previous is None or latest > parse_timestamp(previous):
                self._new[str(project_id)] = latest.isoformat()
        saved = self._saved.get(str(project_id))
        if saved is None:
            return table
        threshold = pa.scalar(parse_timestamp(saved) - self._lookback, TIMESTAMP)
        return table.filter(pc.greater_equal(created, threshold))

    def commit(self) -> None:
        cursors = {**self._saved, **self._new}
        self._state["cursors"] = cursors
        if cursors:  # the newest file seen anywhere, for `labsync status`
            self._state["cursor"] = max(cursors.values(), key=parse_timestamp)


# ------------------------------------------------------------------------------------------
# Run walks


@dataclass
class RunWalk:
    """Every file and directory under one run's artifact root."""

    run_id: int
    project_id: int
    path_in_project: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False


def _entries(attributes: dict[str, Any], run_id: int) -> list[dict[str, Any]]:
    files = attributes.get("files")
    if not isinstance(files, list):
        raise SchemaDriftError("run_artifacts", "files", "list", files, run_id)
    for item in files:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("path"), str)
            and isinstance(item.get("is_dir"), bool)
        ):
            raise SchemaDriftError(
                "run_artifacts", "files", "object with path and is_dir", item, run_id
            )
    return files


def walk_run(
    client: ModelLabClient,
    run_id: int,
    project_id: int,
    stats: ResourceStats,
    *,
    max_depth: int,
    max_entries: int,
) -> RunWalk | None:
    """List a run's artifact tree one directory per request; None when the run is gone."""
    root = client.run_artifact_level(run_id, "", stats)
    if root is None:
        return None
    path_in_project = root.get("path_in_project")
    if not isinstance(path_in_project, str):
        raise SchemaDriftError(
            "run_artifacts", "path_in_project", "string", path_in_project, run_id
        )
    walk = RunWalk(run_id, project_id, path_in_project)
    # (directory prefix, its listing, depth below the root); depth-first
    pending: list[tuple[str, list[dict[str, Any]], int]] = [("", _entries(root, run_id), 0)]
    visited: set[str] = set()
    while pending:
        prefix, listing, depth = pending.pop()
        for item in listing:
            if len(walk.entries) >= max_entries:
                logger.warning(
                    "run_artifacts: run %d has more than %d entries; listed the first %d "
                    "(raise [sources.model_lab] artifact_max_entries)",
                    run_id,
                    max_entries,
                    max_entries,
                )
                walk.truncated = True
                return walk
            walk.entries.append(item)
            if not item["is_dir"]:
                continue
            directory = item["path"].rstrip("/")
            if (
                not directory.startswith(prefix)
                or directory in visited
                or ".." in directory.split("/")
            ):
                # a listing that points outside its own directory would walk forever
                logger.warning("run_artifacts: run %d lists odd directory %r", run_id, item["path"])
                walk.truncated = True
                continue
            if depth + 1 > max_depth:
                logger.warning(
                    "run_artifacts: run %d nests deeper than %d directories at %r "
                    "(raise [sources.model_lab] artifact_max_depth)",
                    run_id,
                    max_depth,
                    directory,
                )
                walk.truncated = True
                continue
            visited.add(directory)
            below = client.run_artifact_level(run_id, directory, stats)
            if below is None:  # deleted while we walked it: keep what the last walk found
                return None
            pending.append((f"{directory}/", _entries(below, run_id), depth + 1))
    walk.entries.sort(key=lambda entry: entry["path"])
    return walk


def walk_runs(
    client: ModelLabClient,
    run_projects: Mapping[int, int],
    stats: ResourceStats,
    *,
    workers: int,
    max_depth: int,
    max_entries: int,
    batch_runs: int,
) -> Iterator[list[RunWalk]]:
    """Walk every run in `run_projects` (run id -> project id), `workers` at a time, in batches."""
    run_ids = sorted(run_projects)
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        for start in range(0, len(run_ids), batch_runs):
            batch = run_ids[start : start + batch_runs]
            futures = [
                pool.submit(
                    walk_run,
                    client,
                    run_id,
                    run_projects[run_id],
                    stats,
                    max_depth=max_depth,
                    max_entries=max_entries,
                )
                for run_id in batch
            ]
            try:
                walks = [walk for future in futures if (walk := future.result()) is not None]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
            stats.page_done(sum(len(walk.entries) for walk in walks))
            yield walks


def run_artifact_tables(walks: Sequence[RunWalk], synced_at: datetime) -> dict[str, pa.Table]:
    """Rows of `run_artifact_walks` (one per run) and `run_artifacts` (one per entry)."""
    walk_rows = [
        {
            "run_id": w.run_id,
            "project_id": w.project_id,
            "path_in_project": w.path_in_project,
            "entries": len(w.entries),
            "truncated": w.truncated,
        }
        for w in walks
    ]
    entry_rows: list[dict[str, Any]] = []
    for walk in walks:
        root = walk.path_in_project.rstrip("/")
        for position, item in enumerate(walk.entries):
            entry_rows.append(
                {
                    "run_id": walk.run_id,
                    "project_id": walk.project_id,
                    "path": item["path"],
                    "artifact_path": f"{root}/{item['path']}" if root else item["path"],
                    "is_dir": item["is_dir"],
                    "file_size": item.get("file_size"),
                    "_position": position,
                }
            )
    stamp = {"_synced_at": (synced_at, TIMESTAMP)}
    return {
        "run_artifact_walks": build_table(
            "run_artifact_walks",
            walk_rows,
            WALK_FIELDS,
            row_ids=[w.run_id for w in walks],
            constants=stamp,
            extras=False,
        ),
        "run_artifacts": build_table(
            "run_artifacts",
            entry_rows,
            ENTRY_FIELDS,
            row_ids=[row["run_id"] for row in entry_rows],
            constants=stamp,
            extras=False,
        ),
    }


# ------------------------------------------------------------------------------------------
# Content


@dataclass(frozen=True)
class ContentOptions:
    """What `--artifacts-content`, `--artifacts-include GLOB` and `--artifacts-max-bytes N` ask."""

    enabled: bool = False
    directory: Path = Path("warehouse") / "artifacts"
    include: tuple[str, ...] = ()  # globs on the artifact path or the file name; none = all
    max_bytes: int | None = None

    def wants(self, artifact_path: str, size: int | None) -> bool:
        if self.max_bytes is not None and (size is None or size > self.max_bytes):
            return False
        if not self.include:
            return True
        name = artifact_path.rsplit("/", 1)[-1]
        return any(
            fnmatch.fnmatchcase(artifact_path, glob) or fnmatch.fnmatchcase(name, glob)
            for glob in self.include
        )


@dataclass(frozen=True)
class ListedFile:
    """A file a project listing offers for download."""

    project_id: int
    artifact_path: str
    size: int | None


@dataclass(frozen=True)
class DownloadRecord:
    """The last download of a file, as recorded in `artifact_downloads`."""

    size: int | None
    sha256: str


def local_artifact_path(directory: Path, project_id: int, artifact_path: str) -> Path:
    """Where `artifact_path` of `project_id` is stored; refuses any path leaving that folder."""
    problem = None
    parts = artifact_path.split("/")
    if not artifact_path or artifact_path.endswith("/"):
        problem = "it does not name a file"
    elif artifact_path.startswith("/") or (len(parts[0]) >= 2 and parts[0][1] == ":"):
        problem = "it is an absolute path"
    elif ".." in parts:
        problem = "it contains '..'"
    elif "\\" in artifact_path or "\x00" in artifact_path:
        problem = "it contains a backslash or NUL byte"
    if problem is None:
        base = (directory / str(project_id)).resolve()
        target = base.joinpath(*[p for p in parts if p not in ("", ".")]).resolve()
        if not target.is_relative_to(base) or target == base:
            problem = f"it resolves outside {base}"
        else:
            return target
    raise UnsafeArtifactPath(
        f"refusing to download artifact_path {artifact_path!r} of project {project_id}: "
        f"{problem}; nothing was written"
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(DOWNLOAD_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _row(file: ListedFile, local: Path, size: int, sha256: str, at: datetime) -> dict[str, Any]:
    return {
        "project_id": file.project_id,
        "artifact_path": file.artifact_path,
        "file_size": size,
        "sha256": sha256,
        "local_path": str(local),
        "downloaded_at": at.isoformat(),
    }


def _plan(
    file: ListedFile, local: Path, known: DownloadRecord | None
) -> tuple[str, dict[str, Any] | None]:
    """("skip" | "adopt" | "fetch", row to record when adopting a complete local file)."""
    if not local.is_file():
        return "fetch", None
    on_disk = local.stat().st_size
    if file.size is not None and on_disk != file.size:
        return "fetch", None
    sha256 = sha256_of(local)
    if known is not None and known.size == on_disk:
        # the same size as last time: the copy is good only if it still hashes the same
        return ("skip", None) if known.sha256 == sha256 else ("fetch", None)
    # complete (it only gets its name once fully written) but not recorded: a sync that
    # stopped after downloading it, or a remote file that changed size and was fetched then
    modified = datetime.fromtimestamp(local.stat().st_mtime, UTC)
    return "adopt", _row(file, local, on_disk, sha256, modified)


def download_artifacts(
    client: ModelLabClient,
    files: Iterable[ListedFile],
    known: Mapping[tuple[int, str], DownloadRecord],
    options: ContentOptions,
    stats: ResourceStats,
    *,
    workers: int,
    batch_rows: int = 1000,
) -> Iterator[list[dict[str, Any]]]:
    """Download the wanted files that are new or changed; yield their rows in batches."""

    def fetch(file: ListedFile, local: Path) -> dict[str, Any] | None:
        try:
            done = client.download_artifact(file.project_id, file.artifact_path, local, stats)
        except ApiError as exc:
            if exc.status == 404:  # gone since it was listed: nothing to keep
                logger.warning(
                    "artifact %s of project %d is gone", file.artifact_path, file.project_id
                )
                return None
            raise
        stats.page_done(1)
        return _row(file, local, done.size, done.sha256, datetime.now(UTC))

    rows: list[dict[str, Any]] = []
    futures: list[Future[dict[str, Any] | None]] = []
    skipped = 0
    pool = ThreadPoolExecutor(max_workers=max(workers, 1))
    try:
        for file in files:
            if not options.wants(file.artifact_path, file.size):
                continue
            try:
                local = local_artifact_path(options.directory, file.project_id, file.artifact_path)
            except UnsafeArtifactPath as exc:
                logger.error("%s", exc)
                continue
            action, row = _plan(file, local, known.get((file.project_id, file.artifact_path)))
            if action != "fetch":  # a partial left by a killed process is of no use now
                partial_path(local).unlink(missing_ok=True)
            if action == "skip":
                skipped += 1
            elif row is not None:
                rows.append(row)
            else:
                futures.append(pool.submit(fetch, file, local))
            if len(futures) >= batch_rows:
                rows.extend(r for f in futures if (r := f.result()) is not None)
                futures = []
            if len(rows) >= batch_rows:
                yield rows
                rows = []
        rows.extend(r for f in futures if (r := f.result()) is not None)
    finally:  # a failed download stops the ones not started yet
        pool.shutdown(wait=True, cancel_futures=True)
    if skipped:
        logger.info("artifact_downloads: %d files unchanged since their last download", skipped)
    yield rows


def download_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    keys = [f"{row['project_id']}:{row['artifact_path']}" for row in rows]
    return build_table("artifact_downloads", rows, DOWNLOAD_FIELDS, row_ids=keys, extras=False)


def list_project_files(
    client: ModelLabClient, project_ids: Sequence[int], stats: ResourceStats, *, workers: int
) -> Iterator[tuple[int, list[Any] | None]]:
    """Each project's flat artifact listing (None when the project is gone), in input order."""
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        futures = [pool.submit(client.project_artifacts, p, stats) for p in project_ids]
        try:
            for project_id, future in zip(project_ids, futures, strict=True):
                yield project_id, future.result()
        finally:
            for future in futures:
                future.cancel()
