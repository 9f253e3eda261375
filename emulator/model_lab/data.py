"""Mutable Model Lab store: generated data, mutations, queries, facets and artifacts.

Runs live in :class:`~emulator.model_lab.generator.RunColumns` (numpy); a run's content (name,
params, tags, metric summaries, ...) is generated lazily from ``(seed, run_id)`` and only stored
explicitly once a run is mutated or inserted. Sort orders and filtered listings are cached and
invalidated on every mutation, so paging through a listing costs O(page size).

All public methods are thread-safe (one re-entrant lock). Per-user state (stars, pins) is keyed
by an opaque user key (a hash of the caller's application key, computed by the API layer).
"""

from __future__ import annotations

import copy
import math
import threading
from collections import OrderedDict
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from ..timeutil import Clock, iso_ms_many, iso_s, iso_us, iso_us_many, to_us
from .generator import (
    KIND_CHILD,
    KIND_ROOT,
    STATUS_CODE,
    STATUSES,
    ArtifactFile,
    ProjectRecord,
    RunFactory,
    binary_chunks,
    generate,
)
from .vocab import TASKS

RUN_SORT_KEYS: tuple[str, ...] = ("name", "created_at", "updated_at", "duration")
PROJECT_SORT_KEYS: tuple[str, ...] = ("name", "created_at", "updated_at")
MAX_FACET_VALUES = 1000
_RENDER_CACHE_SIZE = 4096
_LISTING_CACHE_SIZE = 32
_SCAN_CHUNK = 4096
_ARTIFACT_CACHE_SIZE = 120_000  # every run of a 100k-run benchmark: walks reuse the listings' work


@dataclass(frozen=True)
class ParamCondition:
    """One ``filter[params]`` condition, e.g. ``learning_rate:>=0.001``."""

    key: str
    op: str
    value: str

    def matches(self, actual: str) -> bool:
        """Compare a run's param value with this condition."""
        left, right = _as_number(actual), _as_number(self.value)
        if left is not None and right is not None:
            a: Any = left
            b: Any = right
        elif _is_bool(actual) and _is_bool(self.value):
            a, b = actual.lower(), self.value.lower()
        else:
            a, b = actual, self.value
        if self.op == "=":
            return bool(a == b)
        if self.op == "!=":
            return bool(a != b)
        if isinstance(a, str) != isinstance(b, str):
            return False
        if self.op == ">":
            return bool(a > b)
        if self.op == ">=":
            return bool(a >= b)
        if self.op == "<":
            return bool(a < b)
        return bool(a <= b)


@dataclass(frozen=True)
class RunQuery:
    """A validated ``GET /runs`` query (everything but paging)."""

    sort_key: str = "updated_at"
    descending: bool = True
    ids: tuple[int, ...] | None = None
    text: str | None = None
    owner_id: str | None = None
    status: str | None = None
    project_id: int | None = None
    tags: tuple[tuple[str, str | None], ...] = ()
    params: tuple[ParamCondition, ...] = ()
    parent_mode: str = "any"  # "any" | "root" | "id"
    parent_id: int = 0
    include_pinned: bool = False
    pinned_first: bool = False
    include_descendant_matches: bool = False

    @property
    def has_match_filters(self) -> bool:
        """True when some filter other than the parent filter is set."""
        return bool(
            self.ids is not None
            or self.text
            or self.owner_id is not None
            or self.status
            or self.project_id is not None
            or self.tags
            or self.params
        )


@dataclass(frozen=True)
class ProjectQuery:
    """A validated ``GET /projects`` query (everything but paging)."""

    sort_key: str = "created_at"
    descending: bool = True
    text: str | None = None
    owner_id: str | None = None
    tags: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class _Listing:
    rows: np.ndarray
    descendant_rows: frozenset[int]


def _as_number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _is_bool(text: str) -> bool:
    return text.lower() in ("true", "false")


def _kv_list(value: Any, what: str) -> list[dict[str, str]]:
    """Normalize ``[{key, value}]`` or ``{key: value}`` into a list of string pairs."""
    if isinstance(value, Mapping):
        return [{"key": str(k), "value": str(v)} for k, v in value.items()]
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        out = []
        for item in value:
            if not isinstance(item, Mapping) or "key" not in item or "value" not in item:
                raise ValueError(f"{what} items must be {{'key': ..., 'value': ...}}")
            out.append({"key": str(item["key"]), "value": str(item["value"])})
        return out
    raise ValueError(f"{what} must be a list of {{key, value}} or a mapping")


def _tags_match(tags: list[dict[str, str]], wanted: tuple[tuple[str, str | None], ...]) -> bool:
    for key, value in wanted:
        if not any(t["key"] == key and (value is None or t["value"] == value) for t in tags):
            return False
    return True


def _ts(value: Any) -> int:
    if isinstance(value, (datetime, str, int, float)) and not isinstance(value, bool):
        return to_us(value)
    raise ValueError(f"not a timestamp: {value!r}")


def _sorted_values(values: Iterable[str]) -> tuple[list[str], dict[str, float] | None]:
    """Sort distinct values (numerically when all are numbers); return them and their range."""
    distinct = set(values)
    numbers = {v: _as_number(v) for v in distinct}
    if distinct and all(n is not None for n in numbers.values()):
        ordered = sorted(distinct, key=lambda v: (numbers[v], v))
        nums = [n for n in numbers.values() if n is not None]
        return ordered, {"min": float(min(nums)), "max": float(max(nums))}
    return sorted(distinct), None


class ModelLabStore:
    """The Model Lab data set served by the emulator.

    Args:
        seed: Generator seed; the same seed and sizes give byte-identical responses.
        projects: Number of generated projects.
        runs: Number of generated runs.
    """

    def __init__(self, seed: int = 1, projects: int = 4, runs: int = 300) -> None:
        if projects < 0 or runs < 0:
            raise ValueError("projects and runs must be >= 0")
        generated = generate(seed, projects, runs)
        self.seed = seed
        self.lock = threading.RLock()
        self._cols = generated.runs
        self._generated_n = generated.runs.n
        self._projects: dict[int, ProjectRecord] = {p.id: p for p in generated.projects}
        self._next_project_id = len(generated.projects) + 1
        self._owners = list(generated.owners)
        self._owner_index = {owner: i for i, owner in enumerate(self._owners)}
        self._factory = RunFactory(seed, self._cols, self._owners)
        self._explicit: dict[int, dict[str, Any]] = {}
        self.clock = Clock(generated.max_timestamp_us)
        self._version = 0
        self._order_cache: dict[tuple[str, bool], np.ndarray] = {}
        # per sort order: (parent row of each grouped row, alive rows grouped by parent)
        self._children_cache: dict[tuple[str, bool], tuple[np.ndarray, np.ndarray]] = {}
        self._listing_cache: OrderedDict[tuple[Any, ...], _Listing] = OrderedDict()
        self._render_cache: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._artifact_cache: OrderedDict[int, list[ArtifactFile]] = OrderedDict()
        self._facet_cache: dict[tuple[Any, ...], Any] = {}
        self._pins: dict[str, dict[int, int]] = {}
        self._stars: dict[str, set[int]] = {}
        self._pins_version = 0
        # files under a project's artifact root that belong to no run (project id -> path -> file)
        self._project_files: dict[int, dict[str, ArtifactFile]] = {}

    # ------------------------------------------------------------------------------------
    # Bookkeeping

    @property
    def size(self) -> tuple[int, int]:
        """``(alive projects, alive runs)``."""
        with self.lock:
            return len(self._projects), int(self._cols.alive[: self._cols.n].sum())

    def columns_nbytes(self) -> int:
        """Bytes held by the run columns (for memory checks)."""
        return self._cols.nbytes()

    def _changed(self, rows: Iterable[int] = (), everything: bool = False) -> None:
        self._version += 1
        self._order_cache.clear()
        self._children_cache.clear()
        self._listing_cache.clear()
        self._facet_cache.clear()
        if everything:
            self._render_cache.clear()
            self._artifact_cache.clear()
        else:
            for row in rows:
                self._render_cache.pop(row, None)
                self._artifact_cache.pop(row, None)

    def _row(self, run_id: int) -> int:
        """Row of an alive run; KeyError("run not found") otherwise."""
        row = int(run_id) - 1
        if row < 0 or row >= self._cols.n or not self._cols.alive[row]:
            raise KeyError("run not found")
        return row

    def _project(self, project_id: int) -> ProjectRecord:
        try:
            return self._projects[int(project_id)]
        except (KeyError, ValueError, TypeError):
            raise KeyError("project not found") from None

    def _content(self, row: int) -> dict[str, Any]:
        """Current content of a run (explicit or generated). Do not mutate the result."""
        explicit = self._explicit.get(row)
        if explicit is not None:
            return explicit
        return self._factory.content(row)

    def _contents(self, rows: list[int]) -> list[dict[str, Any]]:
        """Batch version of :meth:`_content` (generated runs are produced together)."""
        out: list[dict[str, Any] | None] = [self._explicit.get(row) for row in rows]
        missing = [i for i, content in enumerate(out) if content is None]
        if missing:
            generated = self._factory.contents(np.array([rows[i] for i in missing]))
            for i, content in zip(missing, generated, strict=True):
                out[i] = content
        return out  # type: ignore[return-value]

    def _iter_contents(self, rows: list[int]) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(row, content)`` for many rows, generated in chunks."""
        for start in range(0, len(rows), _SCAN_CHUNK):
            chunk = rows[start : start + _SCAN_CHUNK]
            yield from zip(chunk, self._contents(chunk), strict=True)

    def _texts(self, rows: list[int], with_description: bool) -> list[tuple[str, str]]:
        """``(name, description)`` per row; cheap (no full materialization)."""
        generated = [row for row in rows if row not in self._explicit]
        names: dict[int, str] = {}
        descriptions: dict[int, str] = {}
        if generated:
            array = np.array(generated, dtype=np.int64)
            names = dict(zip(generated, self._factory.names(array), strict=True))
            if with_description:
                descriptions = dict(zip(generated, self._factory.descriptions(array), strict=True))
        out = []
        for row in rows:
            explicit = self._explicit.get(row)
            if explicit is not None:
                out.append((explicit["name"], explicit["description"]))
            else:
                out.append((names[row], descriptions.get(row, "")))
        return out

    def _owner_code(self, owner_id: str | None) -> int:
        if owner_id is None:
            return -1
        code = self._owner_index.get(owner_id)
        if code is None:
            code = len(self._owners)
            if code >= np.iinfo(np.int16).max:
                raise ValueError("too many distinct owners")
            self._owners.append(owner_id)
            self._owner_index[owner_id] = code
        return code

    # ------------------------------------------------------------------------------------
    # Rendering

    def run_uuid(self, run_id: int) -> str:
        """MLflow run uuid of a run (stable, derived from the id)."""
        return self._factory.run_uuid(run_id)

    def _run_attributes(self, rows: list[int]) -> list[dict[str, Any]]:
        """Attributes of runs without the per-caller fields (cached, generated in one batch)."""
        out: list[dict[str, Any] | None] = []
        missing: list[int] = []
        for row in rows:
            cached = self._render_cache.get(row)
            if cached is None:
                missing.append(row)
            else:
                self._render_cache.move_to_end(row)
            out.append(cached)
        if missing:
            built = self._build_attributes(missing)
            for i, row in enumerate(rows):
                if out[i] is None:
                    out[i] = built[row]
            for row, attrs in built.items():
                self._render_cache[row] = attrs
            while len(self._render_cache) > _RENDER_CACHE_SIZE:
                self._render_cache.popitem(last=False)
        return out  # type: ignore[return-value]

    def _build_attributes(self, rows: list[int]) -> dict[int, dict[str, Any]]:
        cols = self._cols
        index = np.array(rows, dtype=np.int64)
        contents = self._contents(rows)
        uuids = self._factory.run_uuids(index + 1)
        created = iso_us_many(cols.created[index])
        updated = iso_us_many(cols.updated[index])
        started = iso_ms_many(np.array([c["started_at"] for c in contents], dtype=np.int64))
        completed_us = [c["completed_at"] for c in contents]
        completed = iso_us_many(np.array([v or 0 for v in completed_us], dtype=np.int64))
        deleted_us = cols.deleted[index].tolist()
        deleted = iso_us_many(cols.deleted[index])
        durations = cols.duration[index].tolist()
        projects = cols.project[index].tolist()
        statuses = cols.status[index].tolist()
        has_children = (cols.child_count[index] > 0).tolist()
        built: dict[int, dict[str, Any]] = {}
        for i, row in enumerate(rows):
            content = contents[i]
            attrs: dict[str, Any] = {
                "project_id": projects[i],
                "name": content["name"],
                "description": content["description"],
                "status": STATUSES[statuses[i]],
                "created_at": created[i],
                "updated_at": updated[i],
                "started_at": started[i],
            }
            if completed_us[i] is not None:
                attrs["completed_at"] = completed[i]
            if not math.isnan(durations[i]):
                attrs["duration"] = durations[i]
            if deleted_us[i]:
                attrs["deleted_at"] = deleted[i]
            attrs["has_children"] = has_children[i]
            if content["owner_id"] is not None:
                attrs["owner_id"] = content["owner_id"]
            if content["external_url"] is not None:
                attrs["external_url"] = content["external_url"]
            attrs["mlflow_artifact_location"] = (
                f"mlflow-artifacts:///{projects[i]}/{uuids[i]}/artifacts"
            )
            attrs["params"] = content["params"]
            attrs["tags"] = content["tags"]
            attrs["metric_summaries"] = content["metric_summaries"]
            if content.get("extra"):
                attrs.update(content["extra"])
            built[row] = attrs
        return built

    def _run_resources(
        self, rows: list[int], pinned: Container[int], descendant: Container[int]
    ) -> list[dict[str, Any]]:
        """Served resources; ``pinned`` holds run ids, ``descendant`` rows."""
        resources = []
        for row, base in zip(rows, self._run_attributes(rows), strict=True):
            attrs = dict(base)
            attrs["descendant_match"] = row in descendant
            attrs["is_pinned"] = row + 1 in pinned
            resources.append({"id": str(row + 1), "type": "runs", "attributes": attrs})
        return resources

    def _project_resource(self, project: ProjectRecord, starred: bool) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "name": project.name,
            "description": project.description,
            "artifact_storage_location": f"model-lab:///{project.id}",
            "created_at": iso_us(project.created_us),
            "updated_at": iso_us(project.updated_us),
        }
        if project.deleted_us is not None:
            attrs["deleted_at"] = iso_us(project.deleted_us)
        if project.owner_id is not None:
            attrs["owner_id"] = project.owner_id
        if project.external_url is not None:
            attrs["external_url"] = project.external_url
        attrs["is_starred"] = starred
        attrs["tags"] = copy.deepcopy(project.tags)
        attrs.update(copy.deepcopy(project.extra))
        return {"id": str(project.id), "type": "projects", "attributes": attrs}

    def render_run(self, run_id: int, user: str | None = None) -> dict[str, Any]:
        """The run resource as served to ``user`` (KeyError when missing)."""
        with self.lock:
            row = self._row(run_id)
            pins = self._pins.get(user, {}) if user is not None else {}
            return self._run_resources([row], pins, ())[0]

    def render_project(self, project_id: int, user: str | None = None) -> dict[str, Any]:
        """The project resource as served to ``user`` (KeyError when missing)."""
        with self.lock:
            project = self._project(project_id)
            starred = user is not None and project.id in self._stars.get(user, set())
            return self._project_resource(project, starred)

    # ------------------------------------------------------------------------------------
    # Python interface used by tests

    def run_ids(self) -> list[int]:
        """Ids of all runs (including soft-deleted ones), ascending."""
        with self.lock:
            return (np.flatnonzero(self._cols.alive[: self._cols.n]) + 1).tolist()

    def project_ids(self) -> list[int]:
        """Ids of all projects (including soft-deleted ones), ascending."""
        with self.lock:
            return sorted(self._projects)

    def get_run(self, run_id: int) -> dict[str, Any]:
        """The run resource exactly as served (no caller: ``is_pinned`` false)."""
        return copy.deepcopy(self.render_run(run_id))

    def get_project(self, project_id: int) -> dict[str, Any]:
        """The project resource exactly as served (no caller: ``is_starred`` false)."""
        return self.render_project(project_id)

    def children(self, parent_run_id: int) -> list[int]:
        """Ids of the alive direct children of a run, ascending."""
        with self.lock:
            cols = self._cols
            parent_row = int(parent_run_id) - 1
            n = cols.n
            mask = (cols.parent[:n] == parent_row) & cols.alive[:n]
            return (np.flatnonzero(mask) + 1).tolist()

    def parent_of(self, run_id: int) -> int | None:
        """Id of a run's parent (None for root runs). Not exposed by the real API."""
        with self.lock:
            parent = int(self._cols.parent[self._row(run_id)])
            return None if parent < 0 else parent + 1

    # ------------------------------------------------------------------------------------
    # Mutations

    def _apply_run_attr(self, row: int, content: dict[str, Any], key: str, value: Any) -> None:
        cols = self._cols
        extra: dict[str, Any] = content.setdefault("extra", {})
        extra.pop(key, None)
        if key in ("name", "description"):
            if isinstance(value, str):
                content[key] = value
            else:
                extra[key] = value
        elif key == "params":
            content["params"] = None if value is None else _kv_list(value, "params")
        elif key == "tags":
            content["tags"] = _kv_list(value or [], "tags")
        elif key == "metric_summaries":
            content["metric_summaries"] = [dict(item) for item in (value or [])]
        elif key == "owner_id":
            content["owner_id"] = None if value is None else str(value)
            cols.owner[row] = self._owner_code(content["owner_id"])
        elif key == "external_url":
            content["external_url"] = None if value is None else str(value)
        elif key == "started_at":
            content["started_at"] = _ts(value)
        elif key == "completed_at":
            content["completed_at"] = None if value is None else _ts(value)
        elif key == "artifacts":
            files = None if value is None else {str(k).strip("/"): int(v) for k, v in value.items()}
            # a file keeps its creation time while it stays the same; new ones are created now
            before = {f.path: f for f in self._artifact_files(row)}
            now = self.clock.now_us()
            content["artifacts"] = files
            content["artifact_created"] = {
                path: before[path].created_us
                if path in before and before[path].size == size
                else now
                for path, size in (files or {}).items()
            }
        elif key == "status":
            if value in STATUS_CODE:
                cols.status[row] = STATUS_CODE[value]
            else:
                extra[key] = value
        elif key == "duration":
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            cols.duration[row] = float(value) if numeric else math.nan
            if value is not None and not numeric:
                extra[key] = value
        elif key == "project_id":
            cols.project[row] = self._project(value).id
        elif key == "created_at":
            cols.created[row] = _ts(value)
        elif key == "updated_at":
            cols.updated[row] = _ts(value)
        elif key == "deleted_at":
            cols.deleted[row] = 0 if value is None else _ts(value)
        elif key in ("id", "type", "has_children", "is_pinned", "descendant_match"):
            raise ValueError(f"{key!r} cannot be set")
        elif value is not None:
            extra[key] = value

    def update_run(self, run_id: int, touch: bool = True, **attrs: Any) -> None:
        """Change run attributes.

        Args:
            run_id: The run.
            touch: Set ``updated_at`` to now (unless ``updated_at`` is given explicitly). With
                False the content changes without bumping ``updated_at``.
            **attrs: ``name``, ``description``, ``status``, ``params`` (list of ``{key, value}``
                or a mapping; None renders ``params: null``), ``tags``, ``metric_summaries``,
                ``owner_id``, ``external_url``, ``started_at``, ``completed_at``, ``duration``,
                ``deleted_at``, ``created_at``, ``updated_at``, ``project_id``, ``artifacts``
                (mapping of relative path to size). None removes an optional field.

                Schema drift can be simulated: any other key is served verbatim as an extra
                attribute (e.g. ``gpu_hours=3.25``), and a value of the wrong type for ``name``,
                ``description``, ``status`` or ``duration`` (e.g. ``duration="fast"``) is served
                as given. Passing the proper type (or None) again restores normal behaviour.

        Raises:
            KeyError: unknown run (or unknown ``project_id``).
            ValueError: malformed params/tags/timestamps; nothing is changed then.
        """
        with self.lock:
            row = self._row(run_id)
            content = copy.deepcopy(self._content(row))
            saved = self._cols.get_row(row)
            try:
                for key, value in attrs.items():
                    self._apply_run_attr(row, content, key, value)
            except (ValueError, KeyError, TypeError):
                self._cols.set_row(row, saved)
                raise
            self._explicit[row] = content
            if touch and "updated_at" not in attrs:
                self._cols.updated[row] = self.clock.now_us()
            self._changed([row])

    def insert_run(self, project_id: int, parent_run_id: int | None = None, **attrs: Any) -> int:
        """Create a run (id = max + 1) with ``created_at = updated_at = now``.

        When ``parent_run_id`` is given the parent gets ``has_children`` and a new
        ``updated_at``. Defaults: status ``running``, no params (``null``), no metrics, a random
        MLflow-style name. ``attrs`` as for :meth:`update_run`.
        """
        with self.lock:
            project = self._project(project_id)
            parent_row = -1 if parent_run_id is None else self._row(parent_run_id)
            cols = self._cols
            now = self.clock.now_us()
            row = cols.append(
                kind=KIND_ROOT if parent_row < 0 else KIND_CHILD,
                task=project.task,
                parent=parent_row,
                sib=0,
                project=project.id,
                created=now,
                start_delay=0,
                status=STATUS_CODE["running"],
                duration=math.nan,
                has_completed=False,
                updated=now,
                deleted=0,
                owner=-1,
                child_count=0,
                alive=True,
            )
            name = self._factory.random_name(row + 1)
            content: dict[str, Any] = {
                "name": name,
                "description": "",
                "params": None,
                "tags": [{"key": "mlflow.runName", "value": name}],
                "metric_summaries": [],
                "owner_id": None,
                "external_url": None,
                "started_at": now,
                "completed_at": None,
                "artifacts": None,
            }
            try:
                for key, value in attrs.items():
                    self._apply_run_attr(row, content, key, value)
            except (ValueError, KeyError, TypeError):
                cols.n -= 1
                raise
            self._explicit[row] = content
            if parent_row >= 0:
                cols.child_count[parent_row] += 1
                cols.updated[parent_row] = self.clock.now_us()
            self._changed([row, parent_row])
            return row + 1

    def delete_run(self, run_id: int) -> None:
        """Hard delete: the run disappears from lists and GET answers 404.

        Children of a hard-deleted run are kept (with a dangling parent link), like MLflow.
        """
        with self.lock:
            row = self._row(run_id)
            cols = self._cols
            cols.alive[row] = False
            parent = int(cols.parent[row])
            if parent >= 0:
                cols.child_count[parent] -= 1
            self._explicit.pop(row, None)
            for pins in self._pins.values():
                pins.pop(row + 1, None)
            self._pins_version += 1
            self._changed([row, parent])

    def soft_delete_run(self, run_id: int) -> None:
        """Set ``deleted_at = updated_at = now``; the run stays listed."""
        with self.lock:
            row = self._row(run_id)
            now = self.clock.now_us()
            self._cols.deleted[row] = now
            self._cols.updated[row] = now
            self._changed([row])

    def update_project(self, project_id: int, touch: bool = True, **attrs: Any) -> None:
        """Change project attributes (``name``, ``description``, ``tags``, ``owner_id``,
        ``external_url``, ``created_at``, ``updated_at``, ``deleted_at``); other keys are served
        verbatim as extra attributes (schema drift), as for :meth:`update_run`."""
        with self.lock:
            project = self._project(project_id)
            updated = copy.deepcopy(project)
            for key, value in attrs.items():  # on error the original record stays in place
                self._apply_project_attr(updated, key, value)
            if touch and "updated_at" not in attrs:
                updated.updated_us = self.clock.now_us()
            self._projects[project.id] = updated
            self._changed()

    @staticmethod
    def _apply_project_attr(project: ProjectRecord, key: str, value: Any) -> None:
        project.extra.pop(key, None)
        if key in ("name", "description"):
            if isinstance(value, str):
                setattr(project, key, value)
            else:
                project.extra[key] = value
        elif key == "tags":
            project.tags = _kv_list(value or [], "tags")
        elif key in ("owner_id", "external_url"):
            setattr(project, key, None if value is None else str(value))
        elif key == "created_at":
            project.created_us = _ts(value)
        elif key == "updated_at":
            project.updated_us = _ts(value)
        elif key == "deleted_at":
            project.deleted_us = None if value is None else _ts(value)
        elif key in ("id", "type", "is_starred", "artifact_storage_location"):
            raise ValueError(f"{key!r} cannot be set")
        elif value is not None:
            project.extra[key] = value

    def insert_project(self, **attrs: Any) -> int:
        """Create a project (id = max + 1, ``created_at = updated_at = now``)."""
        with self.lock:
            pid = self._next_project_id
            now = self.clock.now_us()
            project = ProjectRecord(
                id=pid,
                name=f"project-{pid}",
                description="",
                tags=[],
                owner_id=None,
                external_url=None,
                created_us=now,
                updated_us=now,
                deleted_us=None,
                task=pid % len(TASKS),
                team=[],
            )
            for key, value in attrs.items():
                self._apply_project_attr(project, key, value)
            self._projects[pid] = project
            self._next_project_id += 1
            self._changed()
            return pid

    def delete_project(self, project_id: int) -> None:
        """Hard delete a project; its runs vanish too."""
        with self.lock:
            project = self._project(project_id)
            del self._projects[project.id]
            cols = self._cols
            n = cols.n
            rows = np.flatnonzero(cols.alive[:n] & (cols.project[:n] == project.id))
            cols.alive[rows] = False
            parents = cols.parent[rows]
            np.subtract.at(cols.child_count, parents[parents >= 0], 1)
            for row in rows.tolist():
                self._explicit.pop(row, None)
            for stars in self._stars.values():
                stars.discard(project.id)
            self._project_files.pop(project.id, None)
            self._pins_version += 1
            self._changed(everything=True)

    def soft_delete_project(self, project_id: int) -> None:
        """Set the project's ``deleted_at = updated_at = now``."""
        with self.lock:
            project = self._project(project_id)
            now = self.clock.now_us()
            project.deleted_us = now
            project.updated_us = now
            self._changed()

    # ------------------------------------------------------------------------------------
    # Per-user state

    def star(self, user: str, project_id: int, starred: bool = True) -> None:
        """Star or unstar a project for ``user`` (does not touch ``updated_at``)."""
        with self.lock:
            project = self._project(project_id)
            stars = self._stars.setdefault(user, set())
            if starred:
                stars.add(project.id)
            else:
                stars.discard(project.id)

    def pin(self, user: str, run_id: int, pinned: bool = True) -> None:
        """Pin or unpin a run for ``user`` (does not touch ``updated_at``)."""
        with self.lock:
            row = self._row(run_id)
            pins = self._pins.setdefault(user, {})
            if pinned:
                pins.setdefault(row + 1, self.clock.now_us())
            else:
                pins.pop(row + 1, None)
            self._pins_version += 1
            self._listing_cache.clear()

    # ------------------------------------------------------------------------------------
    # Run listing

    def _sorted_rows(self, key: str, descending: bool) -> np.ndarray:
        cached = self._order_cache.get((key, descending))
        if cached is not None:
            return cached
        cols = self._cols
        n = cols.n
        rows = np.flatnonzero(cols.alive[:n])
        if key == "name":
            names = np.array(
                [name.encode() for name, _ in self._texts(rows.tolist(), False)], dtype=np.bytes_
            )
            asc = rows[np.argsort(names, kind="stable")]
        elif key == "duration":
            values = cols.duration[rows]
            nulls = np.isnan(values)
            known = rows[~nulls][np.argsort(values[~nulls], kind="stable")]
            if descending:
                result = np.concatenate([known[::-1], rows[nulls][::-1]])
            else:
                result = np.concatenate([known, rows[nulls]])
            self._order_cache[(key, descending)] = result
            return result
        else:
            values = (cols.created if key == "created_at" else cols.updated)[rows]
            asc = rows[np.argsort(values, kind="stable")]
        result = asc[::-1].copy() if descending else asc
        self._order_cache[(key, descending)] = result
        return result

    def _children_rows(self, query: RunQuery, order: np.ndarray) -> np.ndarray:
        """Alive children of ``query.parent_id`` in listing order, from an index per sort.

        A sweep walk asks for one parent's children per request; a scan of every run per
        request made the emulator, not the client, the cost of a benchmark sync.
        """
        key = (query.sort_key, query.descending)
        index = self._children_cache.get(key)
        if index is None:
            parents = self._cols.parent[order]
            grouping = np.argsort(parents, kind="stable")  # keeps listing order within a parent
            index = (parents[grouping], order[grouping])
            self._children_cache[key] = index
        parents, grouped = index
        target = query.parent_id - 1
        if not 0 <= target < self._cols.n:  # an unknown id has no children (-1 marks roots)
            return grouped[:0]
        start, end = np.searchsorted(parents, [target, target + 1])
        return grouped[start:end]

    def _slow_filter(self, rows: list[int], query: RunQuery) -> list[int]:
        """Apply the text / tags / params filters (per-row Python, in chunks)."""
        if query.text:
            needle = query.text.casefold()
            kept = []
            for start in range(0, len(rows), _SCAN_CHUNK):
                chunk = rows[start : start + _SCAN_CHUNK]
                for row, (name, description) in zip(chunk, self._texts(chunk, True), strict=True):
                    if needle in name.casefold() or needle in description.casefold():
                        kept.append(row)
            rows = kept
        if not query.tags and not query.params:
            return rows
        kept = []
        for row, content in self._iter_contents(rows):
            if query.tags and not _tags_match(content["tags"], query.tags):
                continue
            if query.params:
                params = {p["key"]: p["value"] for p in content["params"] or ()}
                if not all(c.key in params and c.matches(params[c.key]) for c in query.params):
                    continue
            kept.append(row)
        return kept

    def _match_mask(self, query: RunQuery) -> np.ndarray | None:
        cols = self._cols
        n = cols.n
        mask: np.ndarray | None = None

        def narrow(part: np.ndarray) -> None:
            nonlocal mask
            mask = part if mask is None else mask & part

        if query.project_id is not None:
            narrow(cols.project[:n] == query.project_id)
        if query.status:
            narrow(cols.status[:n] == STATUS_CODE[query.status])
        if query.owner_id is not None:
            code = self._owner_index.get(query.owner_id)
            narrow(np.zeros(n, np.bool_) if code is None else cols.owner[:n] == code)
        if query.ids is not None:
            wanted = np.zeros(n, dtype=np.bool_)
            valid = [i - 1 for i in query.ids if 1 <= i <= n]
            wanted[valid] = True
            narrow(wanted)
        if query.text or query.tags or query.params:
            base = cols.alive[:n] if mask is None else mask & cols.alive[:n]
            keep = self._slow_filter(np.flatnonzero(base).tolist(), query)
            mask = np.zeros(n, dtype=np.bool_)
            mask[keep] = True
        return mask

    def _ancestors(self, mask: np.ndarray) -> np.ndarray:
        parent = self._cols.parent
        found = np.zeros(mask.size, dtype=np.bool_)
        current = parent[: mask.size][mask]
        current = current[current >= 0]
        while current.size:
            current = np.unique(current)
            current = current[~found[current]]
            found[current] = True
            current = parent[current]
            current = current[current >= 0]
        return found

    def _listing(self, query: RunQuery, user: str | None) -> _Listing:
        pin_sensitive = query.include_pinned or query.pinned_first
        key = (query, user if pin_sensitive else None, self._pins_version if pin_sensitive else 0)
        cached = self._listing_cache.get(key)
        if cached is not None:
            self._listing_cache.move_to_end(key)
            return cached
        cols = self._cols
        n = cols.n
        order = self._sorted_rows(query.sort_key, query.descending)
        match = self._match_mask(query)
        if (
            query.parent_mode == "id"
            and match is None
            and not (query.include_pinned or query.pinned_first)
        ):
            return self._remember(key, _Listing(self._children_rows(query, order), frozenset()))
        selected = match
        descendant = np.zeros(0, dtype=np.int64)
        if query.include_descendant_matches and match is not None:
            extra = self._ancestors(match) & ~match
            descendant = np.flatnonzero(extra)
            selected = match | extra
        if query.parent_mode != "any":
            target = -1 if query.parent_mode == "root" else query.parent_id - 1
            structural = cols.parent[:n] == target
            if query.parent_mode == "id" and not 0 <= target < n:
                structural = np.zeros(n, dtype=np.bool_)
            selected = structural if selected is None else selected & structural
        pins = self._pins.get(user, {}) if user is not None else {}
        pinned_rows = [pid - 1 for pid in pins if 0 < pid <= n and cols.alive[pid - 1]]
        if query.include_pinned and pinned_rows and selected is not None:
            selected = selected.copy()
            selected[pinned_rows] = True
        rows = order if selected is None else order[selected[order]]
        if query.pinned_first and pinned_rows:
            in_result = np.zeros(n, dtype=np.bool_)
            in_result[rows] = True
            first = sorted(
                (r for r in pinned_rows if in_result[r]), key=lambda r: (-pins[r + 1], -r)
            )
            if first:
                is_first = np.zeros(n, dtype=np.bool_)
                is_first[first] = True
                rows = np.concatenate([np.array(first, dtype=rows.dtype), rows[~is_first[rows]]])
        return self._remember(key, _Listing(rows, frozenset(descendant.tolist())))

    def _remember(self, key: tuple[Any, ...], listing: _Listing) -> _Listing:
        self._listing_cache[key] = listing
        if len(self._listing_cache) > _LISTING_CACHE_SIZE:
            self._listing_cache.popitem(last=False)
        return listing

    def list_runs(
        self, query: RunQuery, offset: int, limit: int, user: str | None = None
    ) -> tuple[int, list[dict[str, Any]]]:
        """Total count and the resources of one page of a run listing."""
        with self.lock:
            listing = self._listing(query, user)
            pins = self._pins.get(user, {}) if user is not None else {}
            page = listing.rows[offset : offset + limit].tolist() if offset >= 0 else []
            resources = self._run_resources(page, pins, listing.descendant_rows)
            return int(listing.rows.size), resources

    # ------------------------------------------------------------------------------------
    # Project listing

    def list_projects(
        self, query: ProjectQuery, offset: int, limit: int, user: str | None = None
    ) -> tuple[int, list[dict[str, Any]]]:
        """Total count and the resources of one page of a project listing."""
        with self.lock:
            projects = list(self._projects.values())
            if query.text:
                needle = query.text.casefold()
                projects = [
                    p
                    for p in projects
                    if needle in p.name.casefold() or needle in p.description.casefold()
                ]
            if query.owner_id is not None:
                projects = [p for p in projects if p.owner_id == query.owner_id]
            if query.tags:
                projects = [p for p in projects if _tags_match(p.tags, query.tags)]
            if query.sort_key == "name":
                projects.sort(key=lambda p: (p.name, p.id), reverse=query.descending)
            elif query.sort_key == "updated_at":
                projects.sort(key=lambda p: (p.updated_us, p.id), reverse=query.descending)
            else:
                projects.sort(key=lambda p: (p.created_us, p.id), reverse=query.descending)
            stars = self._stars.get(user, set()) if user is not None else set()
            page = projects[offset : offset + limit]
            return len(projects), [self._project_resource(p, p.id in stars) for p in page]

    # ------------------------------------------------------------------------------------
    # Facets

    def _project_rows(self, project_id: int) -> list[int]:
        cols = self._cols
        n = cols.n
        return np.flatnonzero(cols.alive[:n] & (cols.project[:n] == project_id)).tolist()

    def project_facet_keys(self) -> dict[str, Any]:
        """Attributes of the project facet-keys response."""
        with self.lock:
            keys = {t["key"] for p in self._projects.values() for t in p.tags}
            return {"metrics": None, "parameters": [], "tags": sorted(keys)}

    def project_facet_values(self, facet_name: str) -> dict[str, Any]:
        """Attributes of the project facet-values response (``facet_type=tag``)."""
        with self.lock:
            values = [t["value"] for p in self._projects.values() for t in p.tags
                      if t["key"] == facet_name]  # fmt: skip
            ordered, _ = _sorted_values(values)
            return {
                "facet_name": facet_name,
                "facet_type": "tag",
                "values": ordered[:MAX_FACET_VALUES],
            }

    def _facet_index(self, project_id: int) -> dict[str, Any]:
        """Every metric, parameter and tag of a project's runs, gathered in one pass (cached
        until the next mutation): a facet request is then a lookup, not a scan of the runs."""
        cache_key = ("index", project_id)
        index = self._facet_cache.get(cache_key)
        if index is None:
            metrics: dict[str, dict[str, list[float]]] = {}
            params: dict[str, list[str]] = {}
            tags: dict[str, list[str]] = {}
            for _row, content in self._iter_contents(self._project_rows(project_id)):
                for summary in content["metric_summaries"]:
                    if not isinstance(summary.get("key"), str):
                        continue
                    stats = metrics.setdefault(summary["key"], {})
                    for stat in ("latest", "min", "max", "mean", "stddev"):
                        value = summary.get(stat)
                        if isinstance(value, (int, float)):
                            stats.setdefault(stat, []).append(float(value))
                for item in content["params"] or ():
                    params.setdefault(item["key"], []).append(item["value"])
                for item in content["tags"]:
                    tags.setdefault(item["key"], []).append(item["value"])
            index = {"metric": metrics, "parameter": params, "tag": tags}
            self._facet_cache[cache_key] = index
        return index

    def run_facet_keys(self, project_id: int) -> dict[str, Any]:
        """Attributes of the run facet-keys response for one project (KeyError if unknown)."""
        with self.lock:
            self._project(project_id)
            index = self._facet_index(project_id)
            return {
                "metrics": sorted(index["metric"]),
                "parameters": sorted(index["parameter"]),
                "tags": sorted(index["tag"]),
            }

    def run_facet_values(self, project_id: int, facet_type: str, facet_name: str) -> dict[str, Any]:
        """Attributes of the run facet-values response (KeyError if the project is unknown)."""
        with self.lock:
            self._project(project_id)
            cache_key = ("values", project_id, facet_type, facet_name)
            cached = self._facet_cache.get(cache_key)
            if cached is None:
                cached = self._compute_facet_values(project_id, facet_type, facet_name)
                self._facet_cache[cache_key] = cached
            return copy.deepcopy(cached)

    def _compute_facet_values(
        self, project_id: int, facet_type: str, facet_name: str
    ) -> dict[str, Any]:
        rows = self._project_rows(project_id)
        out: dict[str, Any] = {"facet_name": facet_name, "facet_type": facet_type}
        cols = self._cols
        if facet_type == "metric":
            stats = self._facet_index(project_id)["metric"].get(facet_name, {})
            out["values"] = []
            if "latest" in stats:
                out["numeric_range"] = {"min": min(stats["latest"]), "max": max(stats["latest"])}
            out["metric_stat_ranges"] = [
                {"stat": stat, "min": min(values), "max": max(values)}
                for stat, values in stats.items()
            ]
            return out
        values: list[str] = []
        numeric_attribute = False
        if facet_type in ("parameter", "tag"):
            values = self._facet_index(project_id)[facet_type].get(facet_name, [])
        elif facet_name == "status":
            values = [STATUSES[code] for code in cols.status[rows].tolist()]
        elif facet_name == "name":
            values = [name for name, _ in self._texts(rows, False)]
        elif facet_name == "owner_id":
            values = [c["owner_id"] for _r, c in self._iter_contents(rows) if c["owner_id"]]
        elif facet_name == "duration":
            numeric_attribute = True
            durations = cols.duration[rows]
            values = [repr(d) for d in durations[~np.isnan(durations)].tolist()]
        ordered, numeric_range = _sorted_values(values)
        out["values"] = [] if numeric_attribute else ordered[:MAX_FACET_VALUES]
        if numeric_range is not None:
            out["numeric_range"] = numeric_range
        return out

    # ------------------------------------------------------------------------------------
    # Artifacts

    def _artifact_files(self, row: int) -> list[ArtifactFile]:
        cached = self._artifact_cache.get(row)
        if cached is None:
            cached = self._compute_artifact_files(row)
            self._artifact_cache[row] = cached
            while len(self._artifact_cache) > _ARTIFACT_CACHE_SIZE:
                self._artifact_cache.popitem(last=False)
        return cached

    def _compute_artifact_files(self, row: int) -> list[ArtifactFile]:
        explicit = self._explicit.get(row)
        if explicit is not None and explicit.get("artifacts") is not None:
            base = explicit["completed_at"] or explicit["started_at"]
            created = explicit.get("artifact_created") or {}
            return [
                ArtifactFile(path, size, created.get(path, base), False)
                for path, size in sorted(explicit["artifacts"].items())
            ]
        if row >= self._generated_n:
            return []
        cols = self._cols
        started = int(cols.created[row]) + int(cols.start_delay[row])
        completed = None
        if cols.has_completed[row]:
            completed = started + round(float(cols.duration[row]) * 1_000_000)
        return self._factory.artifact_tree(row, started, completed, self._factory.run_uuid(row + 1))

    def run_artifacts(self, run_id: int, path: str) -> tuple[str, list[dict[str, Any]]]:
        """``(path_in_project, one directory level of files)``; KeyError for unknown runs.

        ``path`` is relative to the run's artifact root (``""`` = top level). File paths in the
        result are relative to that root too; directories end with ``/``.
        """
        with self.lock:
            row = self._row(run_id)
            files = self._artifact_files(row)
            root = f"{self._factory.run_uuid(row + 1)}/artifacts"
        prefix = path.strip("/")
        prefix = f"{prefix}/" if prefix else ""
        entries: dict[str, dict[str, Any]] = {}
        for file in files:
            if not file.path.startswith(prefix):
                continue
            rest = file.path[len(prefix) :]
            head, sep, _ = rest.partition("/")
            if sep:
                entries.setdefault(head, {"path": f"{prefix}{head}/", "is_dir": True})
            else:
                entries[head] = {"path": file.path, "is_dir": False, "file_size": file.size}
        return root, [entries[name] for name in sorted(entries)]

    def add_project_file(
        self,
        project_id: int,
        artifact_path: str,
        size: int,
        created_at: Any = None,
        touch: bool = True,
    ) -> None:
        """Put a file under a project's artifact root outside any run (e.g. an uploaded data set).

        ``artifact_path`` is served verbatim (relative to the project root), so a test can make
        the API list a hostile path. ``touch`` bumps the project's ``updated_at``.
        """
        if not isinstance(artifact_path, str) or not artifact_path:
            raise ValueError("artifact_path must be a non-empty string")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError("size must be an integer >= 0")
        with self.lock:
            project = self._project(project_id)
            now = self.clock.now_us()
            created = now if created_at is None else _ts(created_at)
            files = self._project_files.setdefault(project.id, {})
            files[artifact_path] = ArtifactFile(artifact_path, size, created, False)
            if touch:
                project.updated_us = now
            self._changed()

    def project_artifacts(self, project_id: int) -> list[dict[str, Any]]:
        """Flat list of every artifact file of a project: its runs' files, then its own."""
        with self.lock:
            project = self._project(project_id)
            out: list[dict[str, Any]] = []
            for row in self._project_rows(project.id):
                root = f"{self._factory.run_uuid(row + 1)}/artifacts"
                for file in self._artifact_files(row):
                    out.append(
                        {
                            "artifact_path": f"{root}/{file.path}",
                            "filename": file.path.rsplit("/", 1)[-1],
                            "created_at": iso_s(file.created_us),
                            "file_size": file.size,
                        }
                    )
            for path, file in sorted(self._project_files.get(project.id, {}).items()):
                out.append(
                    {
                        "artifact_path": path,
                        "filename": path.rstrip("/").rsplit("/", 1)[-1],
                        "created_at": iso_s(file.created_us),
                        "file_size": file.size,
                    }
                )
            return out

    def open_artifact(self, project_id: int, artifact_path: str) -> tuple[int, Iterator[bytes]]:
        """Size and a lazy chunk iterator of one artifact; KeyError when it does not exist."""
        with self.lock:
            own = self._project_files.get(project_id, {}).get(artifact_path)
        if own is not None:
            return own.size, binary_chunks(f"{project_id}/{artifact_path}", own.size)
        run_uuid, sep, rest = artifact_path.strip("/").partition("/artifacts/")
        run_id = self._factory.run_id_from_uuid(run_uuid) if sep else None
        if run_id is None:
            raise KeyError("artifact not found")
        with self.lock:
            try:
                row = self._row(run_id)
            except KeyError:
                raise KeyError("artifact not found") from None
            if int(self._cols.project[row]) != project_id:
                raise KeyError("artifact not found")
            match = [f for f in self._artifact_files(row) if f.path == rest]
        if not match:
            raise KeyError("artifact not found")
        file = match[0]
        if file.text:
            data = self._factory.artifact_text(run_id, file.path)
            return len(data), iter([data])
        full_path = f"{run_uuid}/artifacts/{file.path}"
        return file.size, binary_chunks(full_path, file.size)
