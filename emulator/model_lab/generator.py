"""Deterministic generation of Model Lab projects and runs.

The generator keeps runs as compact numpy columns (one row per run, ``run_id = row + 1``) and
materializes a run's full content lazily from ``(seed, run_id)``. Everything depends only on the
seed and the requested sizes, never on the current date: generated timestamps lie between
2025-01-01 and 2026-06-30.

Data shape:

* runs come in groups: single root runs and sweeps (a parent with 5-40 child trials that vary
  numeric params such as ``learning_rate``; some sweeps run 3 cross-validation folds under each
  trial, i.e. grandchildren). About a third of the runs are sweep children.
* every status occurs (mostly ``completed``), some completed runs lack ``completed_at`` and
  ``duration``, ~1.5 % of runs are soft-deleted, names and descriptions contain non-ASCII text.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

import numpy as np
import orjson

from ..timeutil import US_PER_S, iso_s, to_us
from .vocab import (
    ADJECTIVES,
    METRIC_SHAPES,
    NOUNS,
    OWNER_HANDLES,
    PROJECT_DESCRIPTIONS,
    PROJECT_NAMES,
    PROJECT_TAG_VALUES,
    RUN_DESCRIPTIONS,
    SOURCE_NAMES,
    SOURCE_TYPES,
    STAGES,
    TASKS,
    Task,
)

GEN_START_US = to_us("2025-01-01T00:00:00Z")
GEN_END_US = to_us("2026-06-30T23:59:59Z")
DAY_US = 86_400 * US_PER_S
HOUR_US = 3_600 * US_PER_S

STATUSES: tuple[str, ...] = (
    "pending",
    "running",
    "completed",
    "failed",
    "killed",
    "unresponsive",
    "paused",
)
STATUS_CODE: dict[str, int] = {name: code for code, name in enumerate(STATUSES)}
STATUS_WEIGHTS: tuple[float, ...] = (0.02, 0.05, 0.80, 0.06, 0.03, 0.025, 0.015)
FINISHED_CODES: tuple[int, ...] = tuple(STATUS_CODE[s] for s in ("completed", "failed", "killed"))
UNFINISHED_CODES: tuple[int, ...] = tuple(
    STATUS_CODE[s] for s in ("running", "unresponsive", "paused")
)

KIND_ROOT = 0
KIND_SWEEP = 1
KIND_CHILD = 2
KIND_FOLD = 3

SWEEP_GROUP_PROB = 1 / 60
CV_SWEEP_PROB = 0.15
CV_FOLDS = 3
SOFT_DELETED_RUN_PROB = 0.015
NO_OWNER_PROB = 0.08
LARGE_FILE_PROB = 0.03

# Hash salts (arbitrary constants) so that independent attributes use independent streams.
_SALT_NAME = 0x4E41
_SALT_DESC = 0x4445
_SALT_CONTENT = 0x434F
_SALT_PARAMS = 0x5041
_SALT_SWEEP = 0x5357
_SALT_ART = 0x4152
_SALT_UUID = 0x5555
_SALT_UUID_KEY = 0x554B
_SALT_PROJECT = 0x5052
_SALT_OWNER = 0x4F57
_SALT_STRUCT = 0x5354

_M64 = (1 << 64) - 1

# Task of each entry in PROJECT_NAMES (index into TASKS).
_PROJECT_NAME_TASKS: tuple[int, ...] = (0, 2, 1, 1, 3, 0, 3, 2, 0, 3, 1, 0, 1, 0, 2, 0)


def mix(*parts: int) -> int:
    """Deterministic 64-bit hash of integers (splitmix64 chained)."""
    x = 0x243F6A8885A308D3
    for part in parts:
        x = (x ^ (part & _M64)) & _M64
        x = (x + 0x9E3779B97F4A7C15) & _M64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
        x ^= x >> 31
    return x


def strictly_increasing(values: np.ndarray) -> np.ndarray:
    """Nudge int64 values upward (by at most a few units) so that all are distinct."""
    if values.size == 0:
        return values
    order = np.argsort(values, kind="stable")
    ranks = np.arange(values.size, dtype=np.int64)
    adjusted = np.maximum.accumulate(values[order] - ranks) + ranks
    out = np.empty_like(values)
    out[order] = adjusted
    return out


# --------------------------------------------------------------------------------------------
# Columns


_RUN_DTYPES: dict[str, Any] = {
    "kind": np.int8,
    "task": np.int8,
    "parent": np.int32,
    "sib": np.int16,
    "project": np.int32,
    "created": np.int64,
    "start_delay": np.int32,
    "status": np.int8,
    "duration": np.float64,
    "has_completed": np.bool_,
    "updated": np.int64,
    "deleted": np.int64,
    "owner": np.int16,
    "child_count": np.int32,
    "alive": np.bool_,
}


class RunColumns:
    """Compact per-run columns; row ``r`` holds run id ``r + 1``. Arrays may have spare capacity.

    Columns: ``kind`` (root/sweep/child/fold), ``task`` (index into TASKS), ``parent`` (parent row
    or -1), ``sib`` (index among siblings), ``project`` (project id), ``created`` / ``updated`` /
    ``deleted`` (epoch µs, deleted 0 = not soft-deleted), ``start_delay`` (µs between created and
    started), ``status`` (index into STATUSES), ``duration`` (seconds, NaN = unset),
    ``has_completed`` (completed_at present), ``owner`` (index into the owner pool, -1 = none),
    ``child_count`` (alive children), ``alive`` (False after a hard delete).
    """

    kind: np.ndarray
    task: np.ndarray
    parent: np.ndarray
    sib: np.ndarray
    project: np.ndarray
    created: np.ndarray
    start_delay: np.ndarray
    status: np.ndarray
    duration: np.ndarray
    has_completed: np.ndarray
    updated: np.ndarray
    deleted: np.ndarray
    owner: np.ndarray
    child_count: np.ndarray
    alive: np.ndarray

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.n = len(arrays["kind"])
        self._capacity = self.n
        for name, dtype in _RUN_DTYPES.items():
            setattr(self, name, np.ascontiguousarray(arrays[name], dtype=dtype))

    @classmethod
    def empty(cls) -> RunColumns:
        """Columns with no rows."""
        return cls({name: np.zeros(0, dtype=dtype) for name, dtype in _RUN_DTYPES.items()})

    def append(self, **values: Any) -> int:
        """Append one row (every column must be given) and return its row index."""
        if self.n == self._capacity:
            self._capacity = max(64, self._capacity * 2)
            for name in _RUN_DTYPES:
                old = getattr(self, name)
                new = np.zeros(self._capacity, dtype=old.dtype)
                new[: self.n] = old[: self.n]
                setattr(self, name, new)
        row = self.n
        for name in _RUN_DTYPES:
            getattr(self, name)[row] = values[name]
        self.n += 1
        return row

    def get_row(self, row: int) -> dict[str, Any]:
        """Every column value of one row."""
        return {name: getattr(self, name)[row] for name in _RUN_DTYPES}

    def set_row(self, row: int, values: dict[str, Any]) -> None:
        """Restore column values saved with :meth:`get_row`."""
        for name, value in values.items():
            getattr(self, name)[row] = value

    def nbytes(self) -> int:
        """Bytes held by the column arrays."""
        return sum(getattr(self, name).nbytes for name in _RUN_DTYPES)


@dataclass
class ProjectRecord:
    """One project, fully materialized (projects are few)."""

    id: int
    name: str
    description: str
    tags: list[dict[str, str]]
    owner_id: str | None
    external_url: str | None
    created_us: int
    updated_us: int
    deleted_us: int | None
    task: int
    team: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ArtifactFile:
    """One file of a run's artifact tree.

    Attributes:
        path: Path relative to the run's artifact root (``model/config.json``).
        size: Size in bytes.
        created_us: Creation time (rendered with second precision).
        text: True when the content is generated text (JSON, YAML, Markdown), else random bytes.
    """

    path: str
    size: int
    created_us: int
    text: bool


@dataclass
class Generated:
    """Output of :func:`generate`."""

    projects: list[ProjectRecord]
    runs: RunColumns
    owners: list[str]
    max_timestamp_us: int


# --------------------------------------------------------------------------------------------
# Bulk generation


def _owner_pool(seed: int) -> list[str]:
    rnd = random.Random(mix(seed, _SALT_OWNER))
    return [str(uuid.UUID(int=rnd.getrandbits(128), version=4)) for _ in OWNER_HANDLES]


def _generate_projects(seed: int, count: int, owners: list[str]) -> list[ProjectRecord]:
    rng = np.random.default_rng([seed, _SALT_PROJECT])
    span = GEN_END_US - GEN_START_US
    created = np.sort(rng.integers(GEN_START_US + DAY_US, GEN_START_US + int(span * 0.6), count))
    if count:
        created[0] = GEN_START_US + HOUR_US
    created = strictly_increasing(created.astype(np.int64))
    projects: list[ProjectRecord] = []
    for index in range(count):
        pid = index + 1
        rnd = random.Random(mix(seed, _SALT_PROJECT, pid))
        base = PROJECT_NAMES[index % len(PROJECT_NAMES)]
        name = base if index < len(PROJECT_NAMES) else f"{base}-{index // len(PROJECT_NAMES) + 1}"
        task = _PROJECT_NAME_TASKS[index % len(PROJECT_NAMES)]
        tags = [
            {"key": "team", "value": rnd.choice(PROJECT_TAG_VALUES["team"])},
            {"key": "env", "value": rnd.choice(PROJECT_TAG_VALUES["env"])},
            {"key": "task", "value": TASKS[task].name},
        ]
        if rnd.random() < 0.5:
            tags.append(
                {"key": "cost_center", "value": rnd.choice(PROJECT_TAG_VALUES["cost_center"])}
            )
        team = rnd.sample(range(len(owners)), rnd.randint(2, 6))
        created_us = int(created[index])
        projects.append(
            ProjectRecord(
                id=pid,
                name=name,
                description=PROJECT_DESCRIPTIONS[index % len(PROJECT_DESCRIPTIONS)],
                tags=tags,
                owner_id=owners[team[0]] if rnd.random() < 0.8 else None,
                external_url=(
                    f"https://mlflow.internal.example.com/#/experiments/{pid}"
                    if rnd.random() < 0.3
                    else None
                ),
                created_us=created_us,
                updated_us=created_us + rnd.randint(0, 120 * DAY_US),
                deleted_us=None,
                task=task,
                team=team,
            )
        )
    return projects


def _generate_structure(
    rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group layout: returns (kind, parent, sib, group_starts, group_sizes)."""
    is_sweep = rng.random(n) < SWEEP_GROUP_PROB
    children = rng.integers(5, 41, n)
    folds = np.where(rng.random(n) < CV_SWEEP_PROB, CV_FOLDS, 0)
    if n >= 40:
        # small data sets still show the whole tree shape: an early cross-validated sweep
        is_sweep[2] = True
        children[2] = 5
        folds[np.flatnonzero(is_sweep)[0]] = CV_FOLDS
    size = np.where(is_sweep, 1 + children * (1 + folds), 1).astype(np.int64)
    ends = np.cumsum(size)
    n_groups = int(np.searchsorted(ends, n)) + 1
    size = size[:n_groups]
    starts = ends[:n_groups] - size
    size[-1] = n - starts[-1]
    kind = np.zeros(n, dtype=np.int8)
    parent = np.full(n, -1, dtype=np.int32)
    sib = np.zeros(n, dtype=np.int16)
    for group in np.flatnonzero(is_sweep[:n_groups]):
        start = int(starts[group])
        step = 1 + int(folds[group])
        kind[start] = KIND_SWEEP
        child_rows = start + 1 + np.arange(int(children[group]), dtype=np.int64) * step
        child_rows = child_rows[child_rows < n]
        kind[child_rows] = KIND_CHILD
        parent[child_rows] = start
        sib[child_rows] = np.arange(child_rows.size)
        for fold in range(step - 1):
            fold_rows = child_rows + 1 + fold
            keep = fold_rows < n
            kind[fold_rows[keep]] = KIND_FOLD
            parent[fold_rows[keep]] = child_rows[keep]
            sib[fold_rows[keep]] = fold
    return kind, parent, sib, starts, size


def _generate_runs(
    seed: int, n: int, projects: list[ProjectRecord]
) -> tuple[RunColumns, dict[int, int]]:
    """Vectorized run columns; also returns the last run creation time per project id."""
    if n == 0 or not projects:
        return RunColumns.empty(), {}
    rng = np.random.default_rng([seed, _SALT_STRUCT])
    kind, parent, sib, starts, sizes = _generate_structure(rng, n)

    # Creation times: increasing with the row; sweep members are launched close together.
    gaps = rng.exponential(1.0, n)
    gaps[kind >= KIND_CHILD] *= 0.02
    cumulative = np.cumsum(gaps)
    run_start, run_end = GEN_START_US + DAY_US, GEN_END_US - 60 * DAY_US
    created = run_start + (cumulative / cumulative[-1] * (run_end - run_start)).astype(np.int64)
    created = strictly_increasing(created)

    # Project per group: one of the projects that existed when the group started (older ones
    # get more runs).
    project_created = np.array([p.created_us for p in projects], dtype=np.int64)
    eligible = np.searchsorted(project_created, created[starts], side="right")
    eligible = np.maximum(eligible, 1)
    pick = np.minimum((eligible * rng.random(starts.size) ** 1.6).astype(np.int64), eligible - 1)
    project = np.repeat((pick + 1).astype(np.int32), sizes)
    project_tasks = np.array([p.task for p in projects], dtype=np.int8)
    task = project_tasks[project - 1]

    status = rng.choice(len(STATUSES), size=n, p=STATUS_WEIGHTS).astype(np.int8)
    start_delay = rng.integers(100_000, 30_000_000, n).astype(np.int32)
    finished = np.isin(status, FINISHED_CODES)
    raw_duration = np.clip(rng.lognormal(np.log(900.0), 1.4, n), 2.0, 3 * 86_400.0).round(3)
    no_completion = (status == STATUS_CODE["completed"]) & (rng.random(n) < 0.03)
    has_completed = finished & ~no_completion
    duration = np.where(has_completed, raw_duration, np.nan)
    elapsed = np.where(np.isin(status, UNFINISHED_CODES), raw_duration, rng.uniform(0.0, 5.0, n))
    end = created + start_delay + (np.where(has_completed, raw_duration, elapsed) * US_PER_S)
    end = end.astype(np.int64)
    extra = np.where(rng.random(n) < 0.1, rng.integers(0, 30 * DAY_US, n), 0)
    updated = end + rng.integers(10_000, 5_000_000, n) + extra
    soft = rng.random(n) < SOFT_DELETED_RUN_PROB
    deleted = np.where(soft, updated + rng.integers(HOUR_US, 20 * DAY_US, n), 0).astype(np.int64)
    updated = strictly_increasing(np.where(soft, deleted, updated).astype(np.int64))

    team_size = np.array([len(p.team) for p in projects], dtype=np.int64)
    teams = np.full((len(projects), 6), -1, dtype=np.int16)
    for index, proj in enumerate(projects):
        teams[index, : len(proj.team)] = proj.team
    member = (rng.random(n) * team_size[project - 1]).astype(np.int64)
    owner = teams[project - 1, member]
    owner[rng.random(n) < NO_OWNER_PROB] = -1

    child_count = np.bincount(parent[parent >= 0], minlength=n).astype(np.int32)
    last_created: dict[int, int] = {}
    order = np.argsort(project, kind="stable")
    uniq, first = np.unique(project[order], return_index=True)
    last_index = np.append(first[1:], order.size) - 1
    for pid, idx in zip(uniq.tolist(), last_index.tolist(), strict=True):
        last_created[int(pid)] = int(created[order[idx]])

    columns = RunColumns(
        {
            "kind": kind,
            "task": task,
            "parent": parent,
            "sib": sib,
            "project": project,
            "created": created,
            "start_delay": start_delay,
            "status": status,
            "duration": duration,
            "has_completed": has_completed,
            "updated": updated,
            "deleted": deleted,
            "owner": owner,
            "child_count": child_count,
            "alive": np.ones(n, dtype=np.bool_),
        }
    )
    return columns, last_created


def generate(seed: int, n_projects: int, n_runs: int) -> Generated:
    """Generate the initial projects and run columns."""
    if n_runs and not n_projects:
        raise ValueError("runs need at least one project")
    owners = _owner_pool(seed)
    projects = _generate_projects(seed, n_projects, owners)
    runs, last_created = _generate_runs(seed, n_runs, projects)
    if len(projects) >= 3:
        victim = projects[2]
        rnd = random.Random(mix(seed, _SALT_PROJECT, 0xDE1))
        base = max(victim.created_us, last_created.get(victim.id, 0))
        victim.deleted_us = min(base + rnd.randint(HOUR_US, 10 * DAY_US), GEN_END_US)
        victim.updated_us = victim.deleted_us
    if projects:
        updated = strictly_increasing(np.array([p.updated_us for p in projects], dtype=np.int64))
        for proj, value in zip(projects, updated.tolist(), strict=True):
            proj.updated_us = int(value)
            if proj.deleted_us is not None:
                proj.deleted_us = int(value)
    candidates = [GEN_END_US] + [p.updated_us for p in projects]
    if runs.n:
        candidates.append(int(runs.updated[: runs.n].max()))
    return Generated(projects, runs, owners, max(candidates))


# --------------------------------------------------------------------------------------------
# Vectorized hashing (counter-based random numbers, so any run can be generated on its own)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_P1 = 0xD6E8FEB86659FD93
_P2 = 0xA0761D6478BD642F
_P1_INV = pow(_P1, -1, 1 << 64)
_P2_INV = pow(_P2, -1, 1 << 64)
_TWO_53 = 1.0 / (1 << 53)


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _C1
        z = (z ^ (z >> np.uint64(27))) * _C2
        return z ^ (z >> np.uint64(31))


def hash_ids(seed: int, salt: int, ids: np.ndarray) -> np.ndarray:
    """64-bit hash per id (uint64 array), independent for every ``(seed, salt)``."""
    key = np.uint64(mix(seed, salt))
    return _splitmix(_splitmix(np.asarray(ids, dtype=np.uint64) ^ key))


def _splitmix_int(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def hash_id(seed: int, salt: int, run_id: int) -> int:
    """Scalar :func:`hash_ids` (same values, no numpy overhead)."""
    return _splitmix_int(_splitmix_int((run_id & _M64) ^ mix(seed, salt)))


def uniforms(seed: int, salt: int, ids: np.ndarray, count: int) -> np.ndarray:
    """``(len(ids), count)`` floats in [0, 1): a private random stream per id."""
    base = hash_ids(seed, salt, ids)[:, None]
    with np.errstate(over="ignore"):
        counters = np.arange(1, count + 1, dtype=np.uint64)[None, :] * _GOLDEN
        bits = _splitmix(base + counters)
    return (bits >> np.uint64(11)).astype(np.float64) * _TWO_53


def _permute(ids: np.ndarray, key: int) -> np.ndarray:
    """Invertible 64-bit scrambling of ids (see :func:`_unpermute`)."""
    with np.errstate(over="ignore"):
        x = np.asarray(ids, dtype=np.uint64) ^ np.uint64(key)
        x = x * np.uint64(_P1)
        x = x ^ (x >> np.uint64(32))
        x = x * np.uint64(_P2)
        return x ^ (x >> np.uint64(29))


def _permute_int(run_id: int, key: int) -> int:
    x = ((run_id ^ key) * _P1) & _M64
    x ^= x >> 32
    x = (x * _P2) & _M64
    return x ^ (x >> 29)


def _unpermute(value: int, key: int) -> int:
    x = value ^ (value >> 29) ^ (value >> 58)
    x = (x * _P2_INV) & _M64
    x ^= x >> 32
    x = (x * _P1_INV) & _M64
    return x ^ key


def _pick(seq: tuple[str, ...], u: float) -> str:
    return seq[int(u * len(seq))]


# --------------------------------------------------------------------------------------------
# Per-run lazy content

_CONTENT_DRAWS = 12
_PARAM_DRAWS = 24
_SWEEP_DRAWS = 8
_METRIC_DRAWS = 12
_SALT_METRICS = 0x4D45
_SALT_GIT = 0x4749


_FIRST_STEPS = np.array((0, 0, 1), dtype=np.int64)
_STRIDES = np.array((1, 1, 10, 50, 100), dtype=np.int64)


def _metric_table() -> dict[str, Any]:
    """Per-(task, metric slot) shape parameters, padded to the largest task."""
    slots = max(len(task.metrics) for task in TASKS)
    shape = (len(TASKS), slots)
    table: dict[str, Any] = {name: np.zeros(shape) for name in ("s0", "s1", "e0", "e1")}
    for name in ("flat", "once", "always", "valid"):
        table[name] = np.zeros(shape, dtype=np.bool_)
    names = [""] * (len(TASKS) * slots)
    for t, task in enumerate(TASKS):
        for j, key in enumerate(task.metrics):
            kind, (s0, s1), (e0, e1) = METRIC_SHAPES[key]
            table["s0"][t, j], table["s1"][t, j] = s0, s1
            table["e0"][t, j], table["e1"][t, j] = e0, e1
            table["flat"][t, j] = kind == "flat"
            table["once"][t, j] = kind == "once"
            table["always"][t, j] = key == "loss"
            table["valid"][t, j] = True
            names[t * slots + j] = key
    table["names"] = names
    return table


_METRIC_TABLE = _metric_table()


def _param_table() -> dict[str, Any]:
    """Param keys and value grids per task, padded to the largest task (object arrays)."""
    slots = max(len(task.params) for task in TASKS)
    width = max(len(values) for task in TASKS for _, values in task.params)
    keys = [[key for key, _ in task.params] for task in TASKS]
    values = np.full((len(TASKS), slots, width), "", dtype=object)
    lens = np.ones((len(TASKS), slots), dtype=np.int64)
    valid = np.zeros((len(TASKS), slots), dtype=np.bool_)
    for t, task in enumerate(TASKS):
        for j, (_, grid) in enumerate(task.params):
            values[t, j, : len(grid)] = grid
            lens[t, j] = len(grid)
            valid[t, j] = True
    return {"keys": keys, "values": values, "lens": lens, "valid": valid}


_PARAM_TABLE = _param_table()


class RunFactory:
    """Materializes generated runs from ``(seed, run_id)`` and the compact columns.

    Work is done in batches (one page, or a chunk of a scan) with numpy-generated random streams,
    so that a 100-run page renders in a few milliseconds.
    """

    def __init__(self, seed: int, columns: RunColumns, owners: list[str]) -> None:
        self.seed = seed
        self.columns = columns
        self.owners = owners
        self._uuid_key = mix(seed, _SALT_UUID_KEY)

    # identity ---------------------------------------------------------------------------

    def run_uuids(self, run_ids: np.ndarray) -> list[str]:
        """MLflow-style 32-hex run uuids; the second half encodes the id invertibly."""
        ids = np.asarray(run_ids, dtype=np.uint64)
        high = hash_ids(self.seed, _SALT_UUID, ids).tolist()
        low = _permute(ids, self._uuid_key).tolist()
        return [f"{h:016x}{lo:016x}" for h, lo in zip(high, low, strict=True)]

    def run_uuid(self, run_id: int) -> str:
        """Uuid of one run (scalar version of :meth:`run_uuids`)."""
        high = hash_id(self.seed, _SALT_UUID, run_id)
        return f"{high:016x}{_permute_int(run_id, self._uuid_key):016x}"

    def run_id_from_uuid(self, text: str) -> int | None:
        """Inverse of :meth:`run_uuid`; None when ``text`` is not one of ours."""
        if len(text) != 32:
            return None
        try:
            run_id = _unpermute(int(text[16:], 16), self._uuid_key)
        except ValueError:
            return None
        if run_id < 1 or run_id >= 2**62 or self.run_uuid(run_id) != text:
            return None
        return run_id

    # text ---------------------------------------------------------------------------------

    def random_names(self, run_ids: np.ndarray) -> list[str]:
        """MLflow-style random run names, e.g. ``swift-otter-417``."""
        hashes = hash_ids(self.seed, _SALT_NAME, np.asarray(run_ids)).tolist()
        n_adj, n_noun = len(ADJECTIVES), len(NOUNS)
        return [
            f"{ADJECTIVES[h % n_adj]}-{NOUNS[(h >> 8) % n_noun]}-{(h >> 20) % 1000}" for h in hashes
        ]

    def random_name(self, run_id: int) -> str:
        """Random name of one id."""
        return self.random_names(np.array([run_id]))[0]

    def names(self, rows: np.ndarray) -> list[str]:
        """Generated names of generated runs."""
        rows = np.asarray(rows, dtype=np.int64)
        base = self.random_names(rows + 1)
        kinds = self.columns.kind[rows].tolist()
        sibs = self.columns.sib[rows].tolist()
        out = []
        for name, kind, sib in zip(base, kinds, sibs, strict=True):
            if kind == KIND_FOLD:
                out.append(f"fold-{sib}")
            elif kind == KIND_SWEEP:
                out.append(f"sweep-{name}")
            else:
                out.append(name)
        return out

    def descriptions(self, rows: np.ndarray) -> list[str]:
        """Generated descriptions of generated runs."""
        rows = np.asarray(rows, dtype=np.int64)
        hashes = hash_ids(self.seed, _SALT_DESC, rows + 1).tolist()
        kinds = self.columns.kind[rows].tolist()
        sibs = self.columns.sib[rows].tolist()
        out = []
        for h, kind, sib in zip(hashes, kinds, sibs, strict=True):
            if kind == KIND_SWEEP:
                out.append(
                    f"Hyper-parameter sweep ({('grid', 'random', 'bayesian')[h % 3]} search)."
                )
            elif kind == KIND_CHILD:
                out.append("" if h % 10 < 7 else f"Trial {sib} of the sweep.")
            elif kind == KIND_FOLD:
                out.append(f"Cross-validation fold {sib} of {CV_FOLDS}.")
            else:
                out.append("" if h % 10 < 4 else RUN_DESCRIPTIONS[(h >> 8) % len(RUN_DESCRIPTIONS)])
        return out

    # params --------------------------------------------------------------------------------

    def _sweep_keys(self, task: Task, draws: list[float]) -> tuple[str, ...]:
        keys = task.sweep_keys
        count = 2 + int(draws[0] * (len(keys) - 1))
        ranked = sorted(range(len(keys)), key=lambda i: draws[1 + i])[:count]
        return tuple(keys[i] for i in sorted(ranked))

    def params_batch(self, rows: np.ndarray) -> list[dict[str, str] | None]:
        """Generated params of generated runs (None = logged without params).

        Sweep trials share their sweep's base values and vary the swept keys; folds copy their
        trial's params and add ``fold`` / ``n_folds``.
        """
        cols = self.columns
        rows = np.asarray(rows, dtype=np.int64)
        parents = cols.parent[rows].astype(np.int64)
        grand = np.where(parents >= 0, cols.parent[np.maximum(parents, 0)], -1).astype(np.int64)
        needed = np.unique(np.concatenate([rows, parents[parents >= 0], grand[grand >= 0]]))
        table = _PARAM_TABLE
        slots = table["valid"].shape[1]
        u = uniforms(self.seed, _SALT_PARAMS, needed + 1, _PARAM_DRAWS)
        tasks = cols.task[needed].astype(np.int64)
        include = table["valid"][tasks] & (
            (np.arange(slots) < 2) | (u[:, 1 : 1 + 2 * slots : 2] < 0.85)
        )
        choice = (u[:, 2 : 2 + 2 * slots : 2] * table["lens"][tasks]).astype(np.int64)
        values = table["values"][tasks[:, None], np.arange(slots)[None, :], choice]
        index = {row: k for k, row in enumerate(needed.tolist())}
        no_params = (u[:, 0] < 0.06).tolist()
        include_rows = include.tolist()
        value_rows = values.tolist()
        kinds = cols.kind[needed].tolist()
        sibs = cols.sib[needed].tolist()
        parent_of = cols.parent[needed].tolist()
        task_of = tasks.tolist()
        sweep_rows = needed[cols.kind[needed] == KIND_SWEEP]
        sweep_draws = dict(
            zip(
                sweep_rows.tolist(),
                uniforms(self.seed, _SALT_SWEEP, sweep_rows + 1, _SWEEP_DRAWS).tolist(),
                strict=True,
            )
        )
        bases: dict[int, tuple[tuple[str, ...], dict[str, str]]] = {}

        def base_of(k: int, required: tuple[str, ...] = ()) -> dict[str, str]:
            keys = table["keys"][task_of[k]]
            if not required:
                return dict(compress(zip(keys, value_rows[k], strict=False), include_rows[k]))
            return {
                key: value
                for key, value, inc in zip(keys, value_rows[k], include_rows[k], strict=False)
                if inc or key in required
            }

        def sweep_base(parent: int) -> tuple[tuple[str, ...], dict[str, str]]:
            found = bases.get(parent)
            if found is None:
                k = index[parent]
                swept = self._sweep_keys(TASKS[task_of[k]], sweep_draws[parent])
                found = (swept, base_of(k, swept))
                bases[parent] = found
            return found

        def params_of(row: int) -> dict[str, str] | None:
            k = index[row]
            kind = kinds[k]
            if kind == KIND_FOLD:
                base = params_of(parent_of[k]) or {}
                return {**base, "fold": str(sibs[k]), "n_folds": str(CV_FOLDS)}
            if kind == KIND_CHILD:
                parent = parent_of[k]
                if kinds[index[parent]] != KIND_SWEEP:
                    return base_of(k)
                swept, base_params = sweep_base(parent)
                params = dict(base_params)
                keys = table["keys"][task_of[k]]
                for slot, key in enumerate(keys):
                    if key in swept:
                        params[key] = value_rows[k][slot]
                return params
            if kind == KIND_SWEEP:
                swept, base_params = sweep_base(row)
                return {**base_params, "search_space": ",".join(swept)}
            if no_params[k]:
                return None
            return base_of(k)

        return [params_of(row) for row in rows.tolist()]

    # metrics -------------------------------------------------------------------------------

    def metrics_batch(self, rows: np.ndarray) -> list[list[dict[str, Any]]]:
        """Generated metric summaries (consistent statistics) of generated runs.

        All rows and metric slots are computed in one vectorized pass over a
        ``(rows, max metrics per task)`` grid; slot ``j`` of a row is metric ``j`` of its task.
        """
        cols = self.columns
        rows = np.asarray(rows, dtype=np.int64)
        out: list[list[dict[str, Any]]] = [[] for _ in range(rows.size)]
        if rows.size == 0:
            return out
        spec = _METRIC_TABLE
        slots = spec["valid"].shape[1]
        u = uniforms(self.seed, _SALT_METRICS, rows + 1, 1 + slots * _METRIC_DRAWS)
        status = cols.status[rows]
        task = cols.task[rows].astype(np.int64)
        active = (status != STATUS_CODE["pending"]) & (u[:, 0] >= 0.03)
        progress = np.isin(status, UNFINISHED_CODES)[:, None]
        d = u[:, 1:].reshape(rows.size, slots, _METRIC_DRAWS)
        s0, s1, e0, e1 = spec["s0"][task], spec["s1"][task], spec["e0"][task], spec["e1"][task]
        once, flat = spec["once"][task], spec["flat"][task]
        include = (
            spec["valid"][task] & active[:, None] & ((d[:, :, 0] < 0.85) | spec["always"][task])
        )
        start = s0 + (s1 - s0) * d[:, :, 1]
        max_count = np.where(progress, 40, 500)
        count = np.where(
            (d[:, :, 2] < 0.03) | once, 1, 2 + (d[:, :, 3] * (max_count - 1)).astype(np.int64)
        )
        end = np.where(flat, start * (0.9 + 0.2 * d[:, :, 4]), e0 + (e1 - e0) * d[:, :, 4])
        end = np.where(progress, start + (end - start) * (0.2 + 0.6 * d[:, :, 5]), end)
        start = np.where(once, np.floor(start), start)
        single = count == 1
        low = np.where(single, start, np.minimum(start, end))
        high = np.where(single, start, np.maximum(start, end))
        latest = np.where(single, start, end)
        mean = np.where(single, start, low + (high - low) * (0.25 + 0.35 * d[:, :, 6]))
        stddev = np.where(single, 0.0, (high - low) * (0.1 + 0.25 * d[:, :, 7]))
        first = _FIRST_STEPS[(d[:, :, 8] * 3).astype(np.int64)]
        last = first + (count - 1) * _STRIDES[(d[:, :, 9] * 5).astype(np.int64)]
        variant = (d[:, :, 10] < 0.95) * 2 + (d[:, :, 11] < 0.85)
        variant = np.where(once, 0, variant)
        r, m = np.nonzero(include)
        names = spec["names"]
        columns = zip(
            r.tolist(),
            (task[r] * slots + m).tolist(),
            variant[r, m].tolist(),
            count[r, m].tolist(),
            first[r, m].tolist(),
            last[r, m].tolist(),
            latest[r, m].tolist(),
            low[r, m].tolist(),
            high[r, m].tolist(),
            mean[r, m].tolist(),
            stddev[r, m].tolist(),
            strict=True,
        )
        for pos, name_index, var, cnt, fs, ls, lat, lo, hi, mn, sd in columns:
            key = names[name_index]
            if var == 3:
                summary = {
                    "key": key,
                    "count": cnt,
                    "first_step": fs,
                    "last_step": ls,
                    "latest": lat,
                    "min": lo,
                    "max": hi,
                    "mean": mn,
                    "stddev": sd,
                }
            elif var == 2:
                summary = {
                    "key": key,
                    "count": cnt,
                    "first_step": fs,
                    "last_step": ls,
                    "latest": lat,
                    "min": lo,
                    "max": hi,
                    "mean": mn,
                }
            elif var == 1:
                summary = {
                    "key": key,
                    "count": cnt,
                    "latest": lat,
                    "min": lo,
                    "max": hi,
                    "mean": mn,
                    "stddev": sd,
                }
            else:
                summary = {
                    "key": key,
                    "count": cnt,
                    "latest": lat,
                    "min": lo,
                    "max": hi,
                    "mean": mn,
                }
            out[pos].append(summary)
        return out

    # full content -------------------------------------------------------------------------

    def contents(self, rows: np.ndarray) -> list[dict[str, Any]]:
        """Full generated content of generated runs (fresh objects, safe to mutate)."""
        cols = self.columns
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return []
        ids = rows + 1
        names = self.names(rows)
        descriptions = self.descriptions(rows)
        params = self.params_batch(rows)
        metrics = self.metrics_batch(rows)
        uuids = self.run_uuids(ids)
        draws = uniforms(self.seed, _SALT_CONTENT, ids, _CONTENT_DRAWS).tolist()
        git = hash_ids(self.seed, _SALT_GIT, ids).tolist()
        owners = cols.owner[rows].tolist()
        tasks = cols.task[rows].tolist()
        projects = cols.project[rows].tolist()
        started = (cols.created[rows] + cols.start_delay[rows]).tolist()
        has_completed = cols.has_completed[rows].tolist()
        durations = cols.duration[rows].tolist()
        out: list[dict[str, Any]] = []
        for i in range(rows.size):
            d = draws[i]
            owner = owners[i]
            task = TASKS[tasks[i]]
            tags = [
                {"key": "mlflow.runName", "value": names[i]},
                {
                    "key": "mlflow.user",
                    "value": OWNER_HANDLES[owner] if owner >= 0 else "svc-training",
                },
                {"key": "mlflow.source.type", "value": _pick(SOURCE_TYPES, d[0])},
                {"key": "mlflow.source.name", "value": _pick(SOURCE_NAMES, d[1])},
            ]
            if d[2] < 0.8:
                tags.append({"key": "dataset", "value": _pick(task.datasets, d[3])})
            if d[4] < 0.6:
                tags.append(
                    {
                        "key": "git_commit",
                        "value": f"{git[i]:016x}{int(d[5] * 2**64):016x}{int(d[6] * 2**32):08x}",
                    }
                )
            if d[7] < 0.3:
                tags.append({"key": "stage", "value": _pick(STAGES, d[8])})
            completed = None
            if has_completed[i]:
                completed = started[i] + round(durations[i] * US_PER_S)
            external_url = None
            if d[9] < 0.2:
                external_url = f"https://mlflow.internal.example.com/#/experiments/{projects[i]}/runs/{uuids[i]}"
            run_params = params[i]
            out.append(
                {
                    "name": names[i],
                    "description": descriptions[i],
                    "params": None
                    if run_params is None
                    else [{"key": k, "value": v} for k, v in run_params.items()],
                    "tags": tags,
                    "metric_summaries": metrics[i],
                    "owner_id": self.owners[owner] if owner >= 0 else None,
                    "external_url": external_url,
                    "started_at": started[i],
                    "completed_at": completed,
                }
            )
        return out

    def content(self, row: int) -> dict[str, Any]:
        """Full generated content of one generated run."""
        return self.contents(np.array([row]))[0]

    # artifacts ----------------------------------------------------------------------------

    def artifact_tree(
        self, row: int, started_us: int, completed_us: int | None, run_uuid: str
    ) -> list[ArtifactFile]:
        """Generated artifact files of a generated run, sorted by path."""
        cols = self.columns
        status = int(cols.status[row])
        if status == STATUS_CODE["pending"]:
            return []
        run_id = row + 1
        rnd = random.Random(mix(self.seed, _SALT_ART, run_id))
        task = TASKS[int(cols.task[row])]
        base_us = completed_us if completed_us is not None else started_us + 60 * US_PER_S
        files: list[ArtifactFile] = []

        def add(path: str, size: int | None = None) -> None:
            text = size is None
            if size is None:
                size = len(self.artifact_text(run_id, path, run_uuid))
            created = max(started_us, base_us - rnd.randint(0, 600) * US_PER_S)
            files.append(ArtifactFile(path, size, created, text))

        add("metrics.json")
        kind = int(cols.kind[row])
        if kind != KIND_FOLD and (status in FINISHED_CODES or rnd.random() < 0.3):
            large = rnd.random() < LARGE_FILE_PROB
            weights = rnd.randint(10, 60) * 1_048_576 if large else rnd.randint(20_000, 3_000_000)
            weights += rnd.randint(0, 4095)
            if task.model_dir == "lora_model":
                add("lora_model/adapter_config.json")
                add("lora_model/adapter_model.safetensors", weights)
                add("lora_model/README.md")
            else:
                add("model/MLmodel")
                add("model/config.json")
                add("model/requirements.txt")
                add("model/model.safetensors", weights)
        if kind != KIND_FOLD and rnd.random() < 0.4:
            add("plots/loss_curve.png", rnd.randint(20_000, 200_000))
            for epoch in range(1, rnd.randint(1, 3) + 1):
                add(f"plots/confusion/epoch_{epoch:02d}.png", rnd.randint(10_000, 90_000))
        files.sort(key=lambda f: f.path)
        return files

    def artifact_text(self, run_id: int, path: str, run_uuid: str | None = None) -> bytes:
        """Deterministic text content of a generated text artifact."""
        path_hash = int.from_bytes(hashlib.blake2b(path.encode(), digest_size=8).digest(), "big")
        rnd = random.Random(mix(self.seed, _SALT_ART, run_id, path_hash))
        name = path.rsplit("/", 1)[-1]
        run_uuid = run_uuid or self.run_uuid(run_id)
        if name == "metrics.json":
            doc: dict[str, Any] = {
                "run_id": run_uuid,
                "final": {k: round(rnd.random(), 6) for k in ("loss", "val_loss", "score")},
                "epochs": rnd.randint(1, 100),
            }
            return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        if name == "MLmodel":
            return (
                "artifact_path: model\nflavors:\n  python_function:\n"
                "    loader_module: mlflow.pytorch\n    python_version: 3.11.9\n"
                f"mlflow_version: 2.{rnd.randint(10, 20)}.{rnd.randint(0, 3)}\n"
                f"model_uuid: {rnd.getrandbits(128):032x}\nrun_id: {run_uuid}\n"
            ).encode()
        if name in ("config.json", "adapter_config.json"):
            doc = {
                "architectures": [rnd.choice(("ResNet", "ViT", "LlamaForCausalLM"))],
                "hidden_size": rnd.choice((256, 512, 768, 1024, 4096)),
                "num_layers": rnd.randint(2, 48),
                "dropout": round(rnd.random() * 0.5, 3),
                "comment": "généré automatiquement",
            }
            return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
        if name == "requirements.txt":
            return (
                f"mlflow==2.{rnd.randint(10, 20)}.0\ntorch==2.{rnd.randint(1, 5)}.0\n"
                f"numpy==2.{rnd.randint(0, 3)}.0\n"
            ).encode()
        return (
            f"# Model card\n\nRun `{run_uuid}`.\n\nÉvaluation: {rnd.random():.4f} — 評価スコア\n"
        ).encode()


def binary_chunks(full_path: str, size: int, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
    """Deterministic pseudo-random bytes for ``full_path``, exactly ``size`` long, in chunks."""
    digest = hashlib.blake2b(full_path.encode(), digest_size=16).digest()
    generator = np.random.Generator(np.random.PCG64(int.from_bytes(digest, "little")))
    chunk_size -= chunk_size % 8
    header = b"\x89PNG\r\n\x1a\n" if full_path.endswith(".png") else b""
    remaining = size
    first = True
    while remaining > 0:
        take = min(chunk_size, remaining)
        chunk = generator.bytes(chunk_size)[:take]
        if first and header:
            chunk = header[:take] + chunk[len(header) :]
        first = False
        remaining -= take
        yield chunk


def artifact_created_text(file: ArtifactFile) -> str:
    """Wire format of an artifact's creation time (seconds precision)."""
    return iso_s(file.created_us)
