"""How the runner builds the Model Lab source for one sync: settings, credentials, reconcile."""

from __future__ import annotations

from array import array
from pathlib import Path
from typing import Any

import numpy as np
from dlt.extract.source import DltSource

from ..common.config import as_float, as_int, config_value, retry_policy
from ..common.datadog import datadog_configured, resolve_credentials
from ..common.errors import ConfigurationError
from ..common.incremental import WatchEntries
from ..sources import SourceSpec, SyncContext
from . import model_lab_source
from .artifacts import ContentOptions, DownloadRecord, ListedFile
from .helpers import id_array
from .settings import (
    DEFAULT_ACTIVE_RUN_AGE_S,
    DEFAULT_ARTIFACT_MAX_DEPTH,
    DEFAULT_ARTIFACT_MAX_ENTRIES,
    DEFAULT_ARTIFACT_WORKERS,
    DEFAULT_FACET_WORKERS,
    DEFAULT_HIERARCHY_WORKERS,
    DEFAULT_LOOKBACK_S,
    DEFAULT_STALE_RUN_RECHECK_S,
    ENTITY_PROJECT,
    ENTITY_RUN,
    NON_TERMINAL_STATUSES,
)

# `SyncContext.options` keys (set by `labsync sync --artifacts-*`)
OPTION_CONTENT = "artifacts_content"
OPTION_INCLUDE = "artifacts_include"
OPTION_MAX_BYTES = "artifacts_max_bytes"
OPTION_DIR = "artifacts_dir"


def _ids_in_warehouse(
    ctx: SyncContext,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Ids already loaded and ids already flagged deleted, for reconciliation (sorted arrays:
    the source holds them through the whole sync)."""
    known = {
        ENTITY_PROJECT: id_array(r[0] for r in ctx.loaded_rows("projects", ["project_id"])),
        ENTITY_RUN: id_array(r[0] for r in ctx.loaded_rows("runs", ["run_id"])),
    }
    flagged: dict[str, array[int]] = {ENTITY_PROJECT: array("q"), ENTITY_RUN: array("q")}
    for entity, row_id in ctx.loaded_rows("tombstones", ["entity", "id"]):
        flagged.setdefault(entity, array("q")).append(row_id)
    return known, {entity: id_array(ids) for entity, ids in flagged.items()}


def _switch(key: str, default: bool) -> bool:
    """A boolean setting from config.toml (true/false) or an env var ("true"/"false"/"1"/"0")."""
    value = config_value(key, default)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigurationError(f"{key} must be true or false, got {value!r}")


def content_options(ctx: SyncContext) -> ContentOptions:
    """Artifact content options from the sync's options; usage errors before any request."""
    options: dict[str, Any] = dict(ctx.options)
    enabled = bool(options.get(OPTION_CONTENT))
    include = tuple(options.get(OPTION_INCLUDE) or ())
    max_bytes = options.get(OPTION_MAX_BYTES)
    if (include or max_bytes is not None) and not enabled:
        raise ConfigurationError(
            "--artifacts-include and --artifacts-max-bytes need --artifacts-content"
        )
    if not all(isinstance(glob, str) and glob.strip() for glob in include):
        raise ConfigurationError(
            f"--artifacts-include needs non-empty glob patterns, got {include!r}"
        )
    if max_bytes is not None and (
        isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0
    ):
        raise ConfigurationError(
            f"--artifacts-max-bytes must be a whole number >= 0, got {max_bytes!r}"
        )
    # the published warehouse's folder: the pipeline works in <that folder>/.labsync/<stem>
    directory = (
        options.get(OPTION_DIR) or Path(ctx.pipeline.pipelines_dir).parent.parent / "artifacts"
    )
    return ContentOptions(enabled, Path(directory), include, max_bytes)


def _artifacts_in_warehouse(
    ctx: SyncContext,
) -> tuple[list[ListedFile], dict[tuple[int, str], DownloadRecord]]:
    """Files listed by earlier syncs and their last downloads, for content downloads."""
    files = [
        ListedFile(project_id, path, size)
        for project_id, path, size in ctx.loaded_rows(
            "project_artifacts", ["project_id", "artifact_path", "file_size"]
        )
    ]
    downloads = {
        (project_id, path): DownloadRecord(size, sha256)
        for project_id, path, size, sha256 in ctx.loaded_rows(
            "artifact_downloads", ["project_id", "artifact_path", "file_size", "sha256"]
        )
    }
    return files, downloads


def _runs_in_progress(ctx: SyncContext) -> WatchEntries:
    """Runs loaded with a status in progress: the watch list again, fingerprints unknown."""
    return {
        str(run_id): ("", updated.timestamp() if updated else None)
        for run_id, status, updated in ctx.loaded_rows("runs", ["run_id", "status", "updated_at"])
        if status in NON_TERMINAL_STATUSES
    }


def build_source(ctx: SyncContext) -> DltSource:
    credentials = resolve_credentials()  # configuration errors surface before any request
    lookback_s = as_float("sources.model_lab.lookback_seconds", DEFAULT_LOOKBACK_S)
    workers = as_int("sources.model_lab.hierarchy_workers", DEFAULT_HIERARCHY_WORKERS, minimum=1)
    known, flagged = _ids_in_warehouse(ctx) if ctx.reconcile else ({}, {})
    facet_workers = as_int("sources.model_lab.facet_workers", DEFAULT_FACET_WORKERS, minimum=1)
    artifact_workers = as_int(
        "sources.model_lab.artifact_workers", DEFAULT_ARTIFACT_WORKERS, minimum=1
    )
    content = content_options(ctx)
    known_files, known_downloads = _artifacts_in_warehouse(ctx) if content.enabled else ([], {})
    # the costly parts can be switched off: run walks are ~1 request per run and directory
    switches = {"facets": ["facets"], "artifacts": ["project_artifacts", "run_artifacts"]}
    switched_off = {
        resource
        for key, resources in switches.items()
        if not _switch(f"sources.model_lab.{key}", True)
        for resource in resources
    }
    source = model_lab_source(
        credentials,
        full_refresh=ctx.full_refresh,
        reconcile=ctx.reconcile,
        known_ids=known,
        tombstoned_ids=flagged,
        lookback_s=lookback_s,
        active_run_age_s=as_float(
            "sources.model_lab.active_run_age_seconds", DEFAULT_ACTIVE_RUN_AGE_S
        ),
        stale_run_recheck_s=as_float(
            "sources.model_lab.stale_run_recheck_seconds", DEFAULT_STALE_RUN_RECHECK_S
        ),
        hierarchy_workers=workers,
        policy=retry_policy(pacing_reserve=max(workers, facet_workers, artifact_workers) + 1),
        stats=ctx.stats,
        facet_workers=facet_workers,
        artifact_workers=artifact_workers,
        artifact_max_depth=as_int(
            "sources.model_lab.artifact_max_depth", DEFAULT_ARTIFACT_MAX_DEPTH, minimum=0
        ),
        artifact_max_entries=as_int(
            "sources.model_lab.artifact_max_entries", DEFAULT_ARTIFACT_MAX_ENTRIES, minimum=1
        ),
        content=content,
        known_files=known_files,
        known_downloads=known_downloads,
        run_artifact_walks=_switch("sources.model_lab.run_artifact_walks", True),
        runs_in_progress=lambda: _runs_in_progress(ctx),
    )
    if switched_off:
        source = source.with_resources(*(r for r in source.resources if r not in switched_off))
    return source


SPEC = SourceSpec(
    name="model_lab",
    is_configured=datadog_configured,
    build=build_source,
    description="Datadog Model Lab: projects, runs, params, tags, metric summaries, facets, "
    "artifacts",
)
