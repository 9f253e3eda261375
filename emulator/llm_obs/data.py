"""Mutable LLM Observability store: projects, datasets (versioned records), experiments (spans and
eval metrics), annotation queues (interactions and annotations), draft locks.

The store holds plain Python objects (the generated sizes are small) behind one re-entrant lock.
Every method that saves a resource bumps the timestamp the API documents for it (``updated_at``
for projects, datasets, records and experiments; ``modified_at`` for queues, interactions and
annotations) from a strictly increasing clock, so every change is visible to an incremental reader.

Dataset records are versioned: each record is a list of *revisions* valid for a half-open range of
dataset versions. A record mutation that creates a new version (the default for every record
write, as ``batch_update`` documents) closes the open revisions it touches at the new version and
opens new ones, so ``filter[version]`` can serve any earlier version unchanged.

Users: generated users own the generated data; an API caller is a user derived from a hash of its
application key (see :meth:`LLMObsStore.caller`), so writes made through the API are attributed to
the caller, never to the key itself.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..timeutil import Clock, iso_us

EXPERIMENT_STATUSES: tuple[str, ...] = ("running", "completed", "failed", "interrupted")
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "interrupted"})
LABEL_TYPES: tuple[str, ...] = ("score", "categorical", "boolean", "text")
TRACE_INTERACTION_TYPES: tuple[str, ...] = ("trace", "experiment_trace", "session")
INTERACTION_TYPES: tuple[str, ...] = (*TRACE_INTERACTION_TYPES, "display_block")
METRIC_TYPES: tuple[str, ...] = ("score", "categorical", "boolean", "json")
CONTENT_BLOCK_TYPES: tuple[str, ...] = (
    "markdown",
    "header",
    "text",
    "json",
    "image",
    "widget",
    "llmobs_trace",
    "frontend",
)
_USER_NAMESPACE = uuid.UUID("5b0c7c2e-3a57-4f0e-9b7d-2f5d8f1f4c11")
_VERSION_NAMESPACE = uuid.UUID("0f4a9a0e-8d1c-4c8e-a1f2-6b7c3d2e1f00")


class ConflictError(ValueError):
    """A write that contradicts the stored state (answered 400 by the API)."""


def new_uuid() -> str:
    """A random UUID (ids of resources created through the API)."""
    return str(uuid.uuid4())


def version_id(dataset_id: str, version_number: int) -> str:
    """Stable id of one dataset version."""
    return str(uuid.uuid5(_VERSION_NAMESPACE, f"{dataset_id}:{version_number}"))


def content_hash(blocks: Any) -> str:
    """The ``content_id`` of a display-block interaction: a hash of its canonical JSON."""
    return hashlib.sha256(orjson.dumps(blocks, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


# ------------------------------------------------------------------------------------------
# Entities


@dataclass
class User:
    """A Datadog user (the ``author`` / draft-lock holder shape)."""

    id: str
    name: str
    email: str
    handle: str
    icon: str = ""

    def to_wire(self) -> dict[str, str]:
        """``{"id", "email", "handle", "icon", "name"}``."""
        return {
            "id": self.id,
            "email": self.email,
            "handle": self.handle,
            "icon": self.icon,
            "name": self.name,
        }


@dataclass
class Project:
    """An LLM Obs project."""

    id: str
    name: str
    description: str | None
    created_at: int
    updated_at: int


@dataclass
class RecordRevision:
    """One record's content, valid for dataset versions ``valid_from <= v < valid_to``."""

    record_id: str
    valid_from: int
    valid_to: int | None
    input: Any
    expected_output: Any
    metadata: dict[str, Any] | None
    created_at: int
    updated_at: int
    tags: list[str] = field(default_factory=list)

    def alive_at(self, version: int) -> bool:
        """True when this revision is the record's content at ``version``."""
        return self.valid_from <= version and (self.valid_to is None or version < self.valid_to)


@dataclass
class DraftLock:
    """Who holds a dataset's draft lock, since when."""

    user: User
    since: int


@dataclass
class Dataset:
    """A dataset and the full revision history of its records."""

    id: str
    project_id: str
    name: str
    description: str | None
    metadata: dict[str, Any] | None
    current_version: int
    created_at: int
    updated_at: int
    revisions: list[RecordRevision] = field(default_factory=list)
    draft: DraftLock | None = None
    records_version: int = 0  # bumped by every record write (invalidates cached listings)

    def records_at(self, version: int) -> list[RecordRevision]:
        """The revisions alive at ``version`` (one per record)."""
        return [rev for rev in self.revisions if rev.alive_at(version)]

    def open_revision(self, record_id: str) -> RecordRevision | None:
        """The record's revision at the current version, or None when it does not exist."""
        for rev in self.revisions:
            if rev.record_id == record_id and rev.alive_at(self.current_version):
                return rev
        return None


@dataclass
class Experiment:
    """An experiment run with its spans (each with eval metrics) and summary metrics."""

    id: str
    project_id: str
    dataset_id: str
    dataset_version: int
    name: str
    experiment: str
    description: str | None
    parent_experiment_id: str | None
    status: str
    error: str | None
    config: dict[str, Any] | None
    metadata: dict[str, Any] | None
    run_count: int
    author: User
    created_at: int
    updated_at: int
    deleted_at: int | None = None
    spans: list[dict[str, Any]] = field(default_factory=list)
    summary_metrics: list[dict[str, Any]] = field(default_factory=list)
    pending_metrics: list[dict[str, Any]] = field(default_factory=list)
    events_version: int = 0  # bumped whenever spans or metrics change (cache invalidation)


@dataclass
class Annotation:
    """One user's annotation of an interaction: label schema id -> label value entry."""

    id: str
    interaction_id: str
    label_values: dict[str, dict[str, Any]]
    created_at: int
    created_by: str
    modified_at: int
    modified_by: str


@dataclass
class Interaction:
    """An item of an annotation queue: a trace, an experiment trace, a session or blocks."""

    id: str
    type: str
    content_id: str
    created_at: int
    modified_at: int
    display_block: list[dict[str, Any]] | None = None
    annotations: dict[str, Annotation] = field(default_factory=dict)


@dataclass
class Queue:
    """An annotation queue with its label schema and interactions (insertion order)."""

    id: str
    project_id: str
    name: str
    description: str
    created_at: int
    created_by: str
    modified_at: int
    modified_by: str
    owned_by: str
    restrict_to_assignees: bool
    restrict_to_reviewers: bool
    reviewer_emails: list[str]
    label_schemas: list[dict[str, Any]]
    interactions: dict[str, Interaction] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------
# Queries


@dataclass(frozen=True)
class ExperimentQuery:
    """A validated ``GET /v1/experiments`` query (everything but paging)."""

    project_id: str | None = None
    dataset_id: str | None = None
    ids: frozenset[str] | None = None
    name: str | None = None
    experiment: str | None = None
    metadata: Mapping[str, Any] | None = None
    parent_ids: frozenset[str] | None = None
    is_deleted: bool = False
    include_user_data: bool = False
    include_dataset_names: bool = False


def contains(container: Any, wanted: Any) -> bool:
    """JSONB-style containment (``container @> wanted``) used by ``filter[metadata]``."""
    if isinstance(wanted, dict):
        if not isinstance(container, dict):
            return False
        return all(key in container and contains(container[key], v) for key, v in wanted.items())
    if isinstance(wanted, list):
        if not isinstance(container, list):
            return False
        return all(any(contains(item, w) for item in container) for w in wanted)
    if isinstance(wanted, bool) or isinstance(container, bool):
        return isinstance(wanted, bool) and isinstance(container, bool) and wanted == container
    return bool(container == wanted)


def _label_value_ok(schema: Mapping[str, Any], value: Any) -> str | None:
    """None when ``value`` fits the label schema, else the reason."""
    kind = schema["type"]
    if kind == "score":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"label {schema['name']!r} expects a number"
        if schema.get("is_integer") and float(value) != int(value):
            return f"label {schema['name']!r} expects an integer"
        low, high = schema.get("min"), schema.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            return f"label {schema['name']!r} must be between {low} and {high}"
        return None
    if kind == "categorical":
        allowed = schema.get("values") or []
        values = value if isinstance(value, list) else [value]
        if not values or any(not isinstance(v, str) or v not in allowed for v in values):
            return f"label {schema['name']!r} expects one of {', '.join(allowed)}"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else f"label {schema['name']!r} expects a boolean"
    return None if isinstance(value, str) else f"label {schema['name']!r} expects a string"


def validate_label_schemas(schemas: Any) -> list[dict[str, Any]]:
    """Check a ``label_schemas`` list and assign missing ids; returns a deep copy.

    Raises:
        ValueError: naming the first invalid schema field.
    """
    if not isinstance(schemas, list):
        raise ValueError("annotation_schema.label_schemas must be a list")
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for index, schema in enumerate(schemas):
        where = f"annotation_schema.label_schemas[{index}]"
        if not isinstance(schema, dict):
            raise ValueError(f"{where} must be an object")
        name = schema.get("name")
        if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_-" for c in name):
            raise ValueError(f"{where}.name must match ^[a-zA-Z0-9_-]+$")
        if name in names:
            raise ValueError(f"{where}.name {name!r} is not unique within the queue")
        names.add(name)
        if schema.get("type") not in LABEL_TYPES:
            raise ValueError(f"{where}.type must be one of {', '.join(LABEL_TYPES)}")
        if schema["type"] == "categorical":
            values = schema.get("values")
            if (
                not isinstance(values, list)
                or not values
                or any(not isinstance(v, str) or not v for v in values)
                or len(set(values)) != len(values)
            ):
                raise ValueError(f"{where}.values must hold at least one non-empty unique value")
        if schema.get("is_assessment") and not schema.get("has_assessment"):
            raise ValueError(f"{where}.is_assessment requires has_assessment")
        copied = copy.deepcopy(schema)
        copied.setdefault("id", new_uuid())
        out.append(copied)
    return out


# ------------------------------------------------------------------------------------------
# Store


class LLMObsStore:
    """Thread-safe LLM Observability data set with the API's query and write semantics.

    Args:
        seed: Generator seed (same seed and sizes = identical data and responses).
        sizes: Generated sizes (:class:`~emulator.llm_obs.generator.LLMObsSizes`); None = defaults.

    Python helpers (the names tests rely on) are listed in ``emulator/README.md``.
    """

    def __init__(self, seed: int = 1, sizes: Any = None) -> None:
        from .generator import LLMObsSizes, populate  # generator builds on the entities above

        self.seed = seed
        self.sizes = sizes if sizes is not None else LLMObsSizes()
        self.lock = threading.RLock()
        self.users: list[User] = []
        self._callers: dict[str, User] = {}
        self._projects: dict[str, Project] = {}
        self._datasets: dict[str, Dataset] = {}
        self._experiments: dict[str, Experiment] = {}
        self._queues: dict[str, Queue] = {}
        self._version_last_used: dict[tuple[str, int], int] = {}
        # sorted listings and aggregates, keyed by the owner's change counter
        self._record_listings: dict[tuple[str, int], tuple[int, list[Any], list[Any]]] = {}
        self._span_listings: dict[str, tuple[tuple[int, int], list[Any], list[Any]]] = {}
        self._aggregates: dict[str, tuple[tuple[int, int], dict[str, Any] | None]] = {}
        self.clock = Clock(0)
        populate(self, seed, self.sizes)
        self.clock.raise_floor(self._max_timestamp())

    # bookkeeping -------------------------------------------------------------------------

    def _max_timestamp(self) -> int:
        stamps = [0]
        stamps += [p.updated_at for p in self._projects.values()]
        for dataset in self._datasets.values():
            stamps.append(dataset.updated_at)
            stamps += [r.updated_at for r in dataset.revisions]
            if dataset.draft is not None:
                stamps.append(dataset.draft.since)
        for experiment in self._experiments.values():
            stamps += [experiment.updated_at, experiment.deleted_at or 0]
        for queue in self._queues.values():
            stamps.append(queue.modified_at)
            for item in queue.interactions.values():
                stamps.append(item.modified_at)
                stamps += [a.modified_at for a in item.annotations.values()]
        return max(stamps)

    def now(self) -> int:
        """Next mutation timestamp (epoch µs, strictly increasing, after all generated data)."""
        return self.clock.now_us()

    def caller(self, user_key: str) -> User:
        """The user an API caller acts as (``user_key`` is the auth layer's opaque key hash)."""
        with self.lock:
            user = self._callers.get(user_key)
            if user is None:
                user = User(
                    id=str(uuid.uuid5(_USER_NAMESPACE, user_key)),
                    name=f"API user {user_key[:6]}",
                    email=f"api-{user_key[:8]}@example.com",
                    handle=f"api-{user_key[:8]}@example.com",
                )
                self._callers[user_key] = user
            return user

    def _user(self, user: User | str | int | None) -> User:
        """Resolve a helper's ``user`` argument: a User, a user id, an index into ``users``."""
        if user is None:
            return self.users[0]
        if isinstance(user, User):
            return user
        if isinstance(user, int):
            return self.users[user]
        for candidate in [*self.users, *self._callers.values()]:
            if candidate.id == user:
                return candidate
        raise KeyError("user not found")

    def _project(self, project_id: str) -> Project:
        project = self._projects.get(project_id)
        if project is None:
            raise KeyError("project not found")
        return project

    def _dataset(self, dataset_id: str, project_id: str | None = None) -> Dataset:
        dataset = self._datasets.get(dataset_id)
        if dataset is None or (project_id is not None and dataset.project_id != project_id):
            raise KeyError("dataset not found")
        return dataset

    def _experiment(self, experiment_id: str) -> Experiment:
        experiment = self._experiments.get(experiment_id)
        if experiment is None:
            raise KeyError("experiment not found")
        return experiment

    def _queue(self, queue_id: str) -> Queue:
        queue = self._queues.get(queue_id)
        if queue is None:
            raise KeyError("queue not found")
        return queue

    def _interaction(self, queue: Queue, interaction_id: str) -> Interaction:
        item = queue.interactions.get(interaction_id)
        if item is None:
            raise KeyError("interaction not found")
        return item

    # ids ---------------------------------------------------------------------------------

    def project_ids(self) -> list[str]:
        """Every project id, newest created first (the list order)."""
        with self.lock:
            return [p.id for p in _newest_first(self._projects.values())]

    def dataset_ids(self, project_id: str | None = None) -> list[str]:
        """Dataset ids (of one project or all), newest created first."""
        with self.lock:
            rows = [d for d in self._datasets.values() if project_id in (None, d.project_id)]
            return [d.id for d in _newest_first(rows)]

    def record_ids(self, dataset_id: str, version: int | None = None) -> list[str]:
        """Record ids of a dataset at ``version`` (default current), newest created first."""
        with self.lock:
            dataset = self._dataset(dataset_id)
            at = dataset.current_version if version is None else version
            revs = sorted(
                dataset.records_at(at), key=lambda r: (r.created_at, r.record_id), reverse=True
            )
            return [r.record_id for r in revs]

    def experiment_ids(
        self, project_id: str | None = None, include_deleted: bool = False
    ) -> list[str]:
        """Experiment ids, newest created first (soft-deleted ones only when asked)."""
        with self.lock:
            rows = [
                e
                for e in self._experiments.values()
                if project_id in (None, e.project_id) and (include_deleted or e.deleted_at is None)
            ]
            return [e.id for e in _newest_first(rows)]

    def queue_ids(self, project_id: str | None = None) -> list[str]:
        """Annotation queue ids (creation order)."""
        with self.lock:
            return [q.id for q in self._queues.values() if project_id in (None, q.project_id)]

    def interaction_ids(self, queue_id: str) -> list[str]:
        """Interaction ids of a queue (the order the API lists them)."""
        with self.lock:
            return list(self._queue(queue_id).interactions)

    def annotation_ids(self, queue_id: str, interaction_id: str | None = None) -> list[str]:
        """Annotation ids of a queue (or of one of its interactions)."""
        with self.lock:
            queue = self._queue(queue_id)
            items = (
                [self._interaction(queue, interaction_id)]
                if interaction_id is not None
                else list(queue.interactions.values())
            )
            return [a for item in items for a in item.annotations]

    def span_ids(self, experiment_id: str) -> list[str]:
        """Span ids of an experiment (the order events v3 pages them)."""
        with self.lock:
            return [s["span_id"] for s in _span_order(self._experiment(experiment_id).spans)]

    # rendering (wire format) -------------------------------------------------------------

    @staticmethod
    def render_project(project: Project) -> dict[str, Any]:
        """A project as listed."""
        return {
            "id": project.id,
            "type": "projects",
            "attributes": {
                "name": project.name,
                "description": project.description,
                "created_at": iso_us(project.created_at),
                "updated_at": iso_us(project.updated_at),
            },
        }

    @staticmethod
    def render_dataset(dataset: Dataset) -> dict[str, Any]:
        """A dataset as listed (the project id is in the path, not in the body)."""
        return {
            "id": dataset.id,
            "type": "datasets",
            "attributes": {
                "name": dataset.name,
                "description": dataset.description,
                "metadata": copy.deepcopy(dataset.metadata),
                "current_version": dataset.current_version,
                "created_at": iso_us(dataset.created_at),
                "updated_at": iso_us(dataset.updated_at),
            },
        }

    @staticmethod
    def render_record(dataset_id: str, rev: RecordRevision) -> dict[str, Any]:
        """A record: a flat object (not JSON:API)."""
        return {
            "id": rev.record_id,
            "dataset_id": dataset_id,
            "input": copy.deepcopy(rev.input),
            "expected_output": copy.deepcopy(rev.expected_output),
            "metadata": copy.deepcopy(rev.metadata),
            "created_at": iso_us(rev.created_at),
            "updated_at": iso_us(rev.updated_at),
        }

    def render_experiment(
        self,
        experiment: Experiment,
        include_user_data: bool = False,
        include_dataset_names: bool = False,
    ) -> dict[str, Any]:
        """An experiment as listed; ``author`` / ``dataset_name`` only when included."""
        attrs: dict[str, Any] = {
            "name": experiment.name,
            "experiment": experiment.experiment,
            "description": experiment.description,
            "project_id": experiment.project_id,
            "dataset_id": experiment.dataset_id,
            "dataset_version": experiment.dataset_version,
            "parent_experiment_id": experiment.parent_experiment_id,
            "status": experiment.status,
            "error": experiment.error,
            "config": copy.deepcopy(experiment.config),
            "metadata": copy.deepcopy(experiment.metadata),
            "aggregate_data": self._aggregate(experiment),
            "run_count": experiment.run_count,
            "created_at": iso_us(experiment.created_at),
            "updated_at": iso_us(experiment.updated_at),
            "deleted_at": None if experiment.deleted_at is None else iso_us(experiment.deleted_at),
        }
        if include_user_data:
            attrs["author"] = experiment.author.to_wire()
        if include_dataset_names:
            dataset = self._datasets.get(experiment.dataset_id)
            attrs["dataset_name"] = None if dataset is None else dataset.name
        return {"id": experiment.id, "type": "experiments", "attributes": attrs}

    def render_version(self, dataset: Dataset, number: int) -> dict[str, Any]:
        """One dataset version; ``last_used`` is the latest experiment referencing it."""
        last_used = self._version_last_used.get((dataset.id, number))
        return {
            "id": version_id(dataset.id, number),
            "type": "dataset_version",
            "attributes": {
                "dataset_id": dataset.id,
                "version_number": number,
                "last_used": None if last_used is None else iso_us(last_used),
            },
        }

    @staticmethod
    def render_draft(dataset: Dataset) -> dict[str, Any]:
        """The draft state; an unlocked dataset has ``drafting_since`` and ``user`` null."""
        draft = dataset.draft
        return {
            "id": dataset.id,
            "type": "draft_state_data",
            "attributes": {
                "drafting_since": None if draft is None else iso_us(draft.since),
                "user": None if draft is None else draft.user.to_wire(),
            },
        }

    def render_queue(self, queue: Queue, caller: User | None = None) -> dict[str, Any]:
        """A queue; ``reviewer_emails`` only when the caller can manage access (the owner)."""
        can_manage = caller is not None and caller.id == queue.owned_by
        attrs: dict[str, Any] = {
            "name": queue.name,
            "description": queue.description,
            "project_id": queue.project_id,
            "created_at": iso_us(queue.created_at),
            "created_by": queue.created_by,
            "modified_at": iso_us(queue.modified_at),
            "modified_by": queue.modified_by,
            "owned_by": queue.owned_by,
            "can_manage_access": can_manage,
            "restrict_to_assignees": queue.restrict_to_assignees,
            "restrict_to_reviewers": queue.restrict_to_reviewers,
            "annotation_schema": {"label_schemas": copy.deepcopy(queue.label_schemas)},
        }
        if can_manage:
            attrs["reviewer_emails"] = list(queue.reviewer_emails)
        return {"id": queue.id, "type": "queues", "attributes": attrs}

    @staticmethod
    def _schema_names(queue: Queue) -> dict[str, str]:
        return {s["id"]: s["name"] for s in queue.label_schemas}

    def render_annotation(self, queue: Queue, annotation: Annotation) -> dict[str, Any]:
        """An embedded annotation: ``label_values`` maps the label *name* to its value."""
        names = self._schema_names(queue)
        values = {
            names.get(schema_id, entry.get("name_when_saved", schema_id)): copy.deepcopy(
                entry["value"]
            )
            for schema_id, entry in annotation.label_values.items()
        }
        return {
            "id": annotation.id,
            "interaction_id": annotation.interaction_id,
            "label_values": values,
            "created_at": iso_us(annotation.created_at),
            "created_by": annotation.created_by,
            "modified_at": iso_us(annotation.modified_at),
            "modified_by": annotation.modified_by,
        }

    @staticmethod
    def render_annotation_response(annotation: Annotation) -> dict[str, Any]:
        """An annotation as the upsert answers it: ``label_values`` as a list."""
        return {
            "id": annotation.id,
            "interaction_id": annotation.interaction_id,
            "label_values": [copy.deepcopy(v) for v in annotation.label_values.values()],
            "created_at": iso_us(annotation.created_at),
            "created_by": annotation.created_by,
            "modified_at": iso_us(annotation.modified_at),
            "modified_by": annotation.modified_by,
        }

    def render_interaction(
        self, queue: Queue, item: Interaction, with_timestamps: bool | None = None
    ) -> dict[str, Any]:
        """An annotated interaction; display blocks carry no timestamps unless asked."""
        out: dict[str, Any] = {"id": item.id, "type": item.type, "content_id": item.content_id}
        timestamps = item.type != "display_block" if with_timestamps is None else with_timestamps
        if timestamps:
            out["created_at"] = iso_us(item.created_at)
            out["modified_at"] = iso_us(item.modified_at)
        if item.display_block is not None:
            out["display_block"] = copy.deepcopy(item.display_block)
        out["can_annotate"] = True
        out["annotations"] = [self.render_annotation(queue, a) for a in item.annotations.values()]
        return out

    # reads ---------------------------------------------------------------------------------

    def list_projects(
        self, ids: frozenset[str] | None = None, name: str | None = None
    ) -> list[dict[str, Any]]:
        """Projects matching the filters, newest created first."""
        with self.lock:
            rows = [
                p
                for p in self._projects.values()
                if (ids is None or p.id in ids) and (name is None or p.name == name)
            ]
            return [self.render_project(p) for p in _newest_first(rows)]

    def list_datasets(
        self, project_id: str, ids: frozenset[str] | None = None, name: str | None = None
    ) -> list[dict[str, Any]]:
        """Datasets of a project (KeyError when the project is unknown), newest created first."""
        with self.lock:
            self._project(project_id)
            rows = [
                d
                for d in self._datasets.values()
                if d.project_id == project_id
                and (ids is None or d.id in ids)
                and (name is None or d.name == name)
            ]
            return [self.render_dataset(d) for d in _newest_first(rows)]

    def record_listing(
        self, project_id: str, dataset_id: str, version: int | None = None
    ) -> tuple[list[tuple[str, str]], list[RecordRevision]]:
        """Records at ``version`` (default current) as ``(keys, revisions)`` sorted by ascending
        ``(created_at, id)``; cached until the dataset's records change. Hold ``lock`` while
        using the result.

        Raises:
            KeyError: unknown project or dataset.
            ValueError: version outside ``0..current_version``.
        """
        with self.lock:
            self._project(project_id)
            dataset = self._dataset(dataset_id, project_id)
            at = dataset.current_version if version is None else version
            if at < 0 or at > dataset.current_version:
                raise ValueError(f"filter[version] must be between 0 and {dataset.current_version}")
            cached = self._record_listings.get((dataset.id, at))
            if cached is None or cached[0] != dataset.records_version:
                revs = sorted(dataset.records_at(at), key=lambda r: (r.created_at, r.record_id))
                keys = [(iso_us(r.created_at), r.record_id) for r in revs]
                cached = (dataset.records_version, keys, revs)
                self._record_listings[(dataset.id, at)] = cached
            return cached[1], cached[2]

    def list_records(
        self, project_id: str, dataset_id: str, version: int | None = None
    ) -> list[dict[str, Any]]:
        """Records at ``version`` (default current), newest created first (see
        :meth:`record_listing` for the errors)."""
        with self.lock:
            _, revs = self.record_listing(project_id, dataset_id, version)
            return [self.render_record(dataset_id, r) for r in reversed(revs)]

    def list_versions(self, project_id: str, dataset_id: str) -> list[dict[str, Any]]:
        """Versions ``1..current_version`` (version 0 is the empty dataset), newest first."""
        with self.lock:
            self._project(project_id)
            dataset = self._dataset(dataset_id, project_id)
            return [self.render_version(dataset, n) for n in range(dataset.current_version, 0, -1)]

    def draft_state(self, dataset_id: str, project_id: str | None = None) -> dict[str, Any]:
        """The draft state resource of a dataset."""
        with self.lock:
            if project_id is not None:
                self._project(project_id)
            return self.render_draft(self._dataset(dataset_id, project_id))

    def list_experiments(self, query: ExperimentQuery) -> list[dict[str, Any]]:
        """Experiments matching every filter, newest created first."""
        with self.lock:
            rows = []
            for e in self._experiments.values():
                if query.project_id is not None and e.project_id != query.project_id:
                    continue
                if query.dataset_id is not None and e.dataset_id != query.dataset_id:
                    continue
                if query.ids is not None and e.id not in query.ids:
                    continue
                if query.name is not None and e.name != query.name:
                    continue
                if query.experiment is not None and e.experiment != query.experiment:
                    continue
                if query.metadata is not None and not contains(e.metadata or {}, query.metadata):
                    continue
                if query.parent_ids is not None and e.parent_experiment_id not in query.parent_ids:
                    continue
                if (e.deleted_at is not None) != query.is_deleted:
                    continue
                rows.append(e)
            return [
                self.render_experiment(e, query.include_user_data, query.include_dataset_names)
                for e in _newest_first(rows)
            ]

    def span_listing(
        self, experiment_id: str
    ) -> tuple[list[tuple[int, str]], list[dict[str, Any]], list[dict[str, Any]]]:
        """``(keys, spans, summary_metrics)`` with spans sorted by ascending
        ``(start_ns, span_id)`` (the events v3 order); cached. The objects are the store's own:
        hold ``lock`` while using them and do not modify them."""
        with self.lock:
            experiment = self._experiment(experiment_id)
            stamp = (experiment.events_version, len(experiment.spans))
            cached = self._span_listings.get(experiment_id)
            if cached is None or cached[0] != stamp:
                spans = _span_order(experiment.spans)
                cached = (stamp, [(s["start_ns"], s["span_id"]) for s in spans], spans)
                self._span_listings[experiment_id] = cached
            return cached[1], cached[2], experiment.summary_metrics

    def experiment_events(self, experiment_id: str) -> tuple[list[dict[str, Any]], list[Any]]:
        """``(spans, summary_metrics)`` of an experiment; spans in paging order (deep copies)."""
        with self.lock:
            _, spans, summary = self.span_listing(experiment_id)
            return copy.deepcopy(spans), copy.deepcopy(summary)

    def _aggregate(self, experiment: Experiment) -> dict[str, Any] | None:
        stamp = (experiment.events_version, len(experiment.spans))
        cached = self._aggregates.get(experiment.id)
        if cached is None or cached[0] != stamp:
            cached = (stamp, aggregate_data(experiment.spans))
            self._aggregates[experiment.id] = cached
        return copy.deepcopy(cached[1])

    def list_queues(
        self,
        project_id: str | None = None,
        queue_ids: frozenset[str] | None = None,
        caller: User | None = None,
    ) -> list[dict[str, Any]]:
        """Queues of a project, with given ids, or all (creation order)."""
        with self.lock:
            return [
                self.render_queue(q, caller)
                for q in self._queues.values()
                if (project_id is None or q.project_id == project_id)
                and (queue_ids is None or q.id in queue_ids)
            ]

    def label_schema(self, queue_id: str) -> list[dict[str, Any]]:
        """A queue's label schemas."""
        with self.lock:
            return copy.deepcopy(self._queue(queue_id).label_schemas)

    def annotated_interactions(self, queue_id: str) -> list[dict[str, Any]]:
        """Every interaction of a queue with its annotations (insertion order)."""
        with self.lock:
            queue = self._queue(queue_id)
            return [self.render_interaction(queue, i) for i in queue.interactions.values()]

    def annotated_interaction(self, queue_id: str, interaction_id: str) -> dict[str, Any]:
        """One interaction with its annotations."""
        with self.lock:
            queue = self._queue(queue_id)
            return self.render_interaction(queue, self._interaction(queue, interaction_id))

    def interaction_events(self, queue_id: str, interaction_id: str) -> list[dict[str, Any]]:
        """The span events of an interaction's content (what the single-item endpoint pages)."""
        with self.lock:
            queue = self._queue(queue_id)
            item = self._interaction(queue, interaction_id)
            if item.type == "display_block":
                return []
            if item.type == "experiment_trace":
                spans = [
                    s
                    for e in self._experiments.values()
                    for s in e.spans
                    if s.get("trace_id") == item.content_id
                ]
                if spans:
                    return [
                        {"id": s["span_id"], "type": "span", "attributes": copy.deepcopy(s)}
                        for s in spans
                    ]
            return synthetic_events(item.content_id, item.created_at)

    def interactions_by_content(self, content_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Interactions of every queue whose ``content_id`` is listed (queue order)."""
        wanted = set(content_ids)
        with self.lock:
            out = []
            for queue in self._queues.values():
                for item in queue.interactions.values():
                    if item.content_id not in wanted:
                        continue
                    rendered = self.render_interaction(queue, item, with_timestamps=True)
                    rendered["queue_id"] = queue.id
                    rendered["queue_name"] = queue.name
                    out.append(rendered)
            return out

    def has_project(self, project_id: str) -> bool:
        """True when the project exists."""
        with self.lock:
            return project_id in self._projects

    def has_experiment(self, experiment_id: str) -> bool:
        """True when the experiment exists (soft-deleted ones included)."""
        with self.lock:
            return experiment_id in self._experiments

    def has_queue(self, queue_id: str) -> bool:
        """True when the annotation queue exists."""
        with self.lock:
            return queue_id in self._queues

    def check_dataset(self, project_id: str, dataset_id: str) -> None:
        """KeyError ("project not found" / "dataset not found") unless the dataset is the
        project's."""
        with self.lock:
            self._project(project_id)
            self._dataset(dataset_id, project_id)

    def experiment_resource(
        self,
        experiment_id: str,
        include_user_data: bool = False,
        include_dataset_names: bool = False,
    ) -> dict[str, Any]:
        """An experiment as the API answers a write (KeyError when missing)."""
        with self.lock:
            return self.render_experiment(
                self._experiment(experiment_id), include_user_data, include_dataset_names
            )

    def queue_resource(self, queue_id: str, caller: User | None = None) -> dict[str, Any]:
        """A queue as ``caller`` sees it (KeyError when missing)."""
        with self.lock:
            return self.render_queue(self._queue(queue_id), caller)

    # Python-side read helpers (resource as served) -------------------------------------------

    def get_project(self, project_id: str) -> dict[str, Any]:
        """A project as the list serves it (KeyError when missing)."""
        with self.lock:
            return self.render_project(self._project(project_id))

    def get_dataset(self, dataset_id: str) -> dict[str, Any]:
        """A dataset as the list serves it, plus ``project_id`` at the top level for convenience."""
        with self.lock:
            dataset = self._dataset(dataset_id)
            return {**self.render_dataset(dataset), "project_id": dataset.project_id}

    def get_experiment(self, experiment_id: str) -> dict[str, Any]:
        """An experiment (with author and dataset name) whether or not soft-deleted."""
        with self.lock:
            return self.render_experiment(self._experiment(experiment_id), True, True)

    def get_queue(self, queue_id: str) -> dict[str, Any]:
        """A queue as its owner sees it."""
        with self.lock:
            queue = self._queue(queue_id)
            owner = next((u for u in self.users if u.id == queue.owned_by), None)
            return self.render_queue(queue, owner)

    def get_record(self, dataset_id: str, record_id: str) -> dict[str, Any]:
        """A record at the dataset's current version (KeyError when missing)."""
        with self.lock:
            dataset = self._dataset(dataset_id)
            rev = dataset.open_revision(record_id)
            if rev is None:
                raise KeyError("record not found")
            return self.render_record(dataset.id, rev)

    # projects --------------------------------------------------------------------------------

    def create_project(
        self, name: str, description: str | None = None, at: int | None = None
    ) -> tuple[str, bool]:
        """Create a project; an existing name returns ``(its id, False)`` as the API does."""
        with self.lock:
            for project in self._projects.values():
                if project.name == name:
                    return project.id, False
            now = self.now() if at is None else at
            project = Project(new_uuid(), name, description, now, now)
            self._projects[project.id] = project
            return project.id, True

    def update_project(self, project_id: str, touch: bool = True, **attrs: Any) -> None:
        """Set ``name`` / ``description``; bumps ``updated_at`` unless ``touch`` is False."""
        with self.lock:
            project = self._project(project_id)
            for key, value in attrs.items():
                if key not in ("name", "description"):
                    raise ValueError(f"unknown project attribute {key!r}")
                setattr(project, key, value)
            if touch:
                project.updated_at = self.now()

    def delete_project(self, project_id: str) -> None:
        """Hard-delete a project with its datasets and queues; its experiments are soft-deleted."""
        with self.lock:
            self._project(project_id)
            del self._projects[project_id]
            for dataset_id in [d.id for d in self._datasets.values() if d.project_id == project_id]:
                del self._datasets[dataset_id]
            for queue_id in [q.id for q in self._queues.values() if q.project_id == project_id]:
                del self._queues[queue_id]
            for experiment in self._experiments.values():
                if experiment.project_id == project_id and experiment.deleted_at is None:
                    now = self.now()
                    experiment.deleted_at = now
                    experiment.updated_at = now

    # datasets --------------------------------------------------------------------------------

    def create_dataset(
        self,
        project_id: str,
        name: str,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        at: int | None = None,
    ) -> str:
        """Create an empty dataset (version 0); returns its id."""
        with self.lock:
            self._project(project_id)
            for dataset in self._datasets.values():
                if dataset.project_id == project_id and dataset.name == name:
                    raise ConflictError(f"a dataset named {name!r} already exists in the project")
            now = self.now() if at is None else at
            dataset = Dataset(
                new_uuid(), project_id, name, description, copy.deepcopy(metadata), 0, now, now
            )
            self._datasets[dataset.id] = dataset
            return dataset.id

    def update_dataset(self, dataset_id: str, touch: bool = True, **attrs: Any) -> None:
        """Set ``name`` / ``description`` / ``metadata``; ``touch`` bumps ``updated_at``."""
        with self.lock:
            dataset = self._dataset(dataset_id)
            for key, value in attrs.items():
                if key not in ("name", "description", "metadata"):
                    raise ValueError(f"unknown dataset attribute {key!r}")
                setattr(dataset, key, copy.deepcopy(value))
            if touch:
                dataset.updated_at = self.now()

    def delete_dataset(self, dataset_id: str) -> None:
        """Hard-delete a dataset (its experiments keep their ``dataset_id``)."""
        with self.lock:
            self._dataset(dataset_id)
            del self._datasets[dataset_id]

    def clone_dataset(self, dataset_id: str, name: str, description: str | None = None) -> str:
        """Copy the current records into a new dataset of the same project (version 1)."""
        with self.lock:
            source = self._dataset(dataset_id)
            new_id = self.create_dataset(source.project_id, name, description, source.metadata)
            records = [
                {
                    "input": r.input,
                    "expected_output": r.expected_output,
                    "metadata": r.metadata,
                    "tags": r.tags,
                }
                for r in sorted(
                    source.records_at(source.current_version),
                    key=lambda r: (r.created_at, r.record_id),
                )
            ]
            if records:
                self.batch_update(new_id, insert=records)
            return new_id

    def _begin_write(self, dataset: Dataset, new_version: bool, now: int) -> int:
        """Version the write lands in (a new one unless told otherwise); bumps ``updated_at``."""
        if new_version or dataset.current_version == 0:
            dataset.current_version += 1
        dataset.updated_at = now
        dataset.records_version += 1
        return dataset.current_version

    @staticmethod
    def _replace(dataset: Dataset, rev: RecordRevision, version: int) -> RecordRevision:
        """Close ``rev`` at ``version`` and return an open copy starting there (or ``rev`` itself
        when it already starts at ``version``)."""
        if rev.valid_from == version:
            return rev
        rev.valid_to = version
        fresh = copy.deepcopy(rev)
        fresh.valid_from, fresh.valid_to = version, None
        dataset.revisions.append(fresh)
        return fresh

    def batch_update(
        self,
        dataset_id: str,
        insert: Iterable[Mapping[str, Any]] = (),
        update: Iterable[Mapping[str, Any]] = (),
        delete: Iterable[str] = (),
        create_new_version: bool = True,
        at: int | None = None,
    ) -> list[dict[str, Any]]:
        """Insert, update and delete records in one write; returns the inserted and updated records.

        Inserted items: ``input`` (required), ``expected_output``, ``metadata``, ``id``, ``tags``.
        Updated items: ``id`` plus the fields to change. A new dataset version is created unless
        ``create_new_version`` is False (then the current version is edited in place).

        Raises:
            KeyError: an updated or deleted record does not exist.
            ConflictError: an inserted ``id`` already exists.
        """
        insert, update, delete = list(insert), list(update), list(delete)
        with self.lock:
            dataset = self._dataset(dataset_id)
            for item in update:
                if dataset.open_revision(str(item.get("id"))) is None:
                    raise KeyError(f"record {item.get('id')} not found")
            for record_id in delete:
                if dataset.open_revision(record_id) is None:
                    raise KeyError(f"record {record_id} not found")
            known = {r.record_id for r in dataset.revisions}
            for item in insert:
                if item.get("id") is not None and str(item["id"]) in known:
                    raise ConflictError(f"record {item['id']} already exists")
            if not (insert or update or delete):
                return []
            now = self.now() if at is None else at
            version = self._begin_write(dataset, create_new_version, now)
            changed: list[RecordRevision] = []
            for index, item in enumerate(insert):
                rev = RecordRevision(
                    record_id=str(item.get("id") or new_uuid()),
                    valid_from=version,
                    valid_to=None,
                    input=copy.deepcopy(item.get("input")),
                    expected_output=copy.deepcopy(item.get("expected_output")),
                    metadata=copy.deepcopy(item.get("metadata")),
                    created_at=now + index,
                    updated_at=now + index,
                    tags=list(item.get("tags") or []),
                )
                dataset.revisions.append(rev)
                changed.append(rev)
            for item in update:
                old = dataset.open_revision(str(item["id"]))
                assert old is not None
                rev = self._replace(dataset, old, version)
                for key in ("input", "expected_output", "metadata"):
                    if key in item:
                        setattr(rev, key, copy.deepcopy(item[key]))
                rev.updated_at = now
                changed.append(rev)
            for record_id in delete:
                old = dataset.open_revision(record_id)
                assert old is not None
                if old.valid_from == version:
                    dataset.revisions.remove(old)
                else:
                    old.valid_to = version
            # the dataset's updated_at is never older than the records it saved
            dataset.updated_at = now + max(len(insert) - 1, 0)
            if at is None:
                self.clock.raise_floor(dataset.updated_at)
            return [self.render_record(dataset.id, r) for r in changed]

    def add_records(
        self, dataset_id: str, records: Iterable[Mapping[str, Any]], new_version: bool = True
    ) -> list[str]:
        """Append records (``{"input", "expected_output"?, "metadata"?}``); returns their ids."""
        return [
            r["id"]
            for r in self.batch_update(dataset_id, insert=records, create_new_version=new_version)
        ]

    def update_record(
        self, dataset_id: str, record_id: str, new_version: bool = True, **fields: Any
    ) -> None:
        """Change a record's ``input`` / ``expected_output`` / ``metadata``."""
        unknown = set(fields) - {"input", "expected_output", "metadata"}
        if unknown:
            raise ValueError(f"unknown record field(s): {', '.join(sorted(unknown))}")
        self.batch_update(
            dataset_id, update=[{"id": record_id, **fields}], create_new_version=new_version
        )

    def delete_record(self, dataset_id: str, record_id: str, new_version: bool = True) -> None:
        """Delete a record from the current version (earlier versions keep it)."""
        self.batch_update(dataset_id, delete=[record_id], create_new_version=new_version)

    def restore_version(self, dataset_id: str, version: int) -> int:
        """Make a new version whose records are those of ``version``; returns the new version."""
        with self.lock:
            dataset = self._dataset(dataset_id)
            if version < 0 or version > dataset.current_version:
                raise ValueError(f"dataset_version must be between 0 and {dataset.current_version}")
            wanted = {r.record_id: r for r in dataset.records_at(version)}
            now = self.now()
            new = self._begin_write(dataset, True, now)
            for rev in list(dataset.revisions):
                if rev.alive_at(new - 1) and rev.record_id not in wanted:
                    rev.valid_to = new
            for record_id, old in wanted.items():
                current = next(
                    (
                        r
                        for r in dataset.revisions
                        if r.record_id == record_id and r.alive_at(new - 1)
                    ),
                    None,
                )
                if current is old:
                    continue  # unchanged since that version: stays open
                if current is not None:
                    current.valid_to = new
                fresh = copy.deepcopy(old)
                fresh.valid_from, fresh.valid_to, fresh.updated_at = new, None, now
                dataset.revisions.append(fresh)
            return new

    def lock_dataset(self, dataset_id: str, user: User | str | int | None = None) -> bool:
        """Give the draft lock to ``user`` (a User, user id or index into ``users``; default the
        first generated user). Returns False when another user already holds it."""
        with self.lock:
            dataset = self._dataset(dataset_id)
            holder = self._user(user)
            if dataset.draft is not None:
                return dataset.draft.user.id == holder.id
            dataset.draft = DraftLock(holder, self.now())
            return True

    def unlock_dataset(self, dataset_id: str, user: User | str | int | None = None) -> bool:
        """Release the draft lock (``user`` None = whoever holds it). Returns True if released."""
        with self.lock:
            dataset = self._dataset(dataset_id)
            if dataset.draft is None:
                return False
            if user is not None and dataset.draft.user.id != self._user(user).id:
                return False
            dataset.draft = None
            return True

    def mark_version_used(self, dataset_id: str, version: int, at: int | None = None) -> None:
        """Record that an experiment referenced a dataset version (sets ``last_used``)."""
        with self.lock:
            key = (dataset_id, version)
            stamp = self.now() if at is None else at
            self._version_last_used[key] = max(self._version_last_used.get(key, 0), stamp)

    # experiments -----------------------------------------------------------------------------

    def create_experiment(
        self,
        project_id: str,
        dataset_id: str,
        name: str,
        *,
        dataset_version: int | None = None,
        description: str | None = None,
        parent_experiment_id: str | None = None,
        config: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        run_count: int = 1,
        ensure_unique: bool = False,
        author: User | str | int | None = None,
        status: str = "running",
        at: int | None = None,
    ) -> str:
        """Create an experiment run (status ``running``); returns its id.

        ``name`` is the logical experiment name (``experiment``); with ``ensure_unique`` the run
        name gets a ``-N`` suffix when another live run of the project already uses it.
        """
        with self.lock:
            self._project(project_id)
            dataset = self._dataset(dataset_id)
            if dataset.project_id != project_id:
                raise KeyError("dataset not found")
            version = dataset.current_version if dataset_version is None else dataset_version
            if version < 0 or version > dataset.current_version:
                raise ValueError(f"dataset_version must be between 0 and {dataset.current_version}")
            if parent_experiment_id is not None:
                self._experiment(parent_experiment_id)
            if status not in EXPERIMENT_STATUSES:
                raise ValueError(f"status must be one of {', '.join(EXPERIMENT_STATUSES)}")
            run_name = name
            if ensure_unique:
                taken = {
                    e.name
                    for e in self._experiments.values()
                    if e.project_id == project_id and e.deleted_at is None
                }
                suffix = 1
                while run_name in taken:
                    run_name = f"{name}-{suffix}"
                    suffix += 1
            now = self.now() if at is None else at
            experiment = Experiment(
                id=new_uuid(),
                project_id=project_id,
                dataset_id=dataset_id,
                dataset_version=version,
                name=run_name,
                experiment=name,
                description=description,
                parent_experiment_id=parent_experiment_id,
                status=status,
                error=None,
                config=copy.deepcopy(config),
                metadata=copy.deepcopy(metadata),
                run_count=run_count,
                author=self._user(author),
                created_at=now,
                updated_at=now,
            )
            self._experiments[experiment.id] = experiment
            self.mark_version_used(dataset_id, version, now)
            return experiment.id

    def update_experiment(self, experiment_id: str, touch: bool = True, **attrs: Any) -> None:
        """Set attributes (``name``, ``description``, ``status``, ``error``, ``metadata``,
        ``config``, ``dataset_id``, ``parent_experiment_id``, ``run_count``); bumps ``updated_at``
        unless ``touch`` is False. Completing an experiment computes its summary metrics."""
        allowed = {
            "name",
            "description",
            "status",
            "error",
            "metadata",
            "config",
            "dataset_id",
            "parent_experiment_id",
            "run_count",
        }
        with self.lock:
            experiment = self._experiment(experiment_id)
            unknown = set(attrs) - allowed
            if unknown:
                raise ValueError(f"unknown experiment attribute(s): {', '.join(sorted(unknown))}")
            if "status" in attrs and attrs["status"] not in EXPERIMENT_STATUSES:
                raise ValueError(f"status must be one of {', '.join(EXPERIMENT_STATUSES)}")
            if "dataset_id" in attrs:
                self._dataset(attrs["dataset_id"])
            for key, value in attrs.items():
                setattr(experiment, key, copy.deepcopy(value))
            if attrs.get("status") in TERMINAL_STATUSES:
                experiment.summary_metrics = summary_metrics(experiment.spans, self.now() // 1000)
            if touch:
                experiment.updated_at = self.now()

    def set_experiment_status(
        self, experiment_id: str, status: str, error: str | None = None, touch: bool = True
    ) -> None:
        """Move an experiment to ``status`` (with ``error`` for ``failed``)."""
        self.update_experiment(experiment_id, touch=touch, status=status, error=error)

    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete: sets ``deleted_at`` (and ``updated_at``); listed only with
        ``filter[is_deleted]=true`` afterwards."""
        with self.lock:
            experiment = self._experiment(experiment_id)
            if experiment.deleted_at is None:
                now = self.now()
                experiment.deleted_at = now
                experiment.updated_at = now

    def add_spans(self, experiment_id: str, count: int = 1) -> list[str]:
        """Append ``count`` generated spans (with eval metrics) to an experiment, as a running
        experiment does; ``updated_at`` does not move. Returns the new span ids."""
        from .generator import make_span

        with self.lock:
            experiment = self._experiment(experiment_id)
            dataset = self._datasets.get(experiment.dataset_id)
            records = (
                []
                if dataset is None
                else sorted(
                    dataset.records_at(experiment.dataset_version),
                    key=lambda r: (r.created_at, r.record_id),
                )
            )
            ids = []
            for _ in range(count):
                index = len(experiment.spans)
                record = records[index % len(records)] if records else None
                span = make_span(
                    f"{self.seed}:{experiment.id}:{index}", experiment, record, self.now()
                )
                experiment.spans.append(span)
                ids.append(span["span_id"])
            experiment.events_version += 1
            return ids

    def push_events(
        self,
        experiment_id: str,
        spans: Iterable[Mapping[str, Any]] = (),
        metrics: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """Store pushed spans and eval metrics (``POST /v1/experiments/{id}/events``).

        Metrics attach to the span with their ``span_id`` (kept until that span arrives).
        """
        with self.lock:
            experiment = self._experiment(experiment_id)
            experiment.events_version += 1
            for span in spans:
                tags = list(span.get("tags") or [])
                record_id = next(
                    (t.split(":", 1)[1] for t in tags if t.startswith("dataset_record_id:")), None
                )
                stored: dict[str, Any] = {
                    "id": str(span["span_id"]),
                    "span_id": str(span["span_id"]),
                    "trace_id": str(span["trace_id"]),
                    "parent_id": "undefined",
                    "name": span["name"],
                    "status": span["status"],
                    "start_ns": int(span["start_ns"]),
                    "duration": float(span["duration"]),
                    "dataset_record_id": record_id,
                    "tags": tags,
                    "metrics": {},
                    "meta": copy.deepcopy(span.get("meta") or {}),
                    "eval_metrics": [],
                }
                experiment.spans = [
                    s for s in experiment.spans if s["span_id"] != stored["span_id"]
                ]
                experiment.spans.append(stored)
            pending = [*experiment.pending_metrics, *(dict(m) for m in metrics)]
            experiment.pending_metrics = []
            by_span = {s["span_id"]: s for s in experiment.spans}
            for metric in pending:
                span = by_span.get(str(metric["span_id"]))
                if span is None:
                    experiment.pending_metrics.append(metric)
                    continue
                span["eval_metrics"].append(
                    eval_metric_event(
                        span,
                        label=metric["label"],
                        metric_type=metric["metric_type"],
                        value=_metric_value(metric),
                        timestamp_ms=int(metric["timestamp_ms"]),
                        assessment=metric.get("assessment"),
                        reasoning=metric.get("reasoning"),
                        tags=list(metric.get("tags") or []),
                        metadata=metric.get("metadata"),
                    )
                )

    # annotation queues -------------------------------------------------------------------------

    def create_queue(
        self,
        project_id: str,
        name: str,
        description: str = "",
        label_schemas: Any = (),
        restrict_to_assignees: bool = False,
        restrict_to_reviewers: bool = False,
        reviewer_emails: Iterable[str] = (),
        owner: User | str | int | None = None,
        at: int | None = None,
    ) -> str:
        """Create an annotation queue owned by ``owner``; returns its id."""
        with self.lock:
            self._project(project_id)
            schemas = validate_label_schemas(list(label_schemas))
            user = self._user(owner)
            now = self.now() if at is None else at
            queue = Queue(
                id=new_uuid(),
                project_id=project_id,
                name=name,
                description=description,
                created_at=now,
                created_by=user.id,
                modified_at=now,
                modified_by=user.id,
                owned_by=user.id,
                restrict_to_assignees=restrict_to_assignees,
                restrict_to_reviewers=restrict_to_reviewers,
                reviewer_emails=list(reviewer_emails),
                label_schemas=schemas,
            )
            self._queues[queue.id] = queue
            return queue.id

    def update_queue(
        self,
        queue_id: str,
        user: User | str | int | None = None,
        touch: bool = True,
        **attrs: Any,
    ) -> None:
        """Set ``name`` / ``description`` / ``restrict_to_*`` / ``reviewer_emails`` /
        ``label_schemas``; bumps ``modified_at`` (and ``modified_by``) unless told not to."""
        allowed = {
            "name",
            "description",
            "restrict_to_assignees",
            "restrict_to_reviewers",
            "reviewer_emails",
            "label_schemas",
        }
        with self.lock:
            queue = self._queue(queue_id)
            unknown = set(attrs) - allowed
            if unknown:
                raise ValueError(f"unknown queue attribute(s): {', '.join(sorted(unknown))}")
            if "label_schemas" in attrs:
                attrs["label_schemas"] = validate_label_schemas(attrs["label_schemas"])
            for key, value in attrs.items():
                setattr(queue, key, copy.deepcopy(value))
            if touch:
                queue.modified_at = self.now()
                queue.modified_by = self._user(user).id

    def set_label_schemas(
        self, queue_id: str, label_schemas: Any, user: User | str | int | None = None
    ) -> None:
        """Replace a queue's label schemas (bumps ``modified_at``)."""
        self.update_queue(queue_id, user=user, label_schemas=label_schemas)

    def delete_queue(self, queue_id: str) -> None:
        """Hard-delete a queue with its interactions and annotations."""
        with self.lock:
            self._queue(queue_id)
            del self._queues[queue_id]

    def add_interactions(
        self, queue_id: str, items: Iterable[Mapping[str, Any]], at: int | None = None
    ) -> list[tuple[Interaction, bool]]:
        """Add interactions (``{"type", "content_id"}`` or ``{"type": "display_block",
        "display_block": [...]}``); returns ``(interaction, already_existed)`` pairs."""
        items = list(items)
        with self.lock:
            queue = self._queue(queue_id)
            out: list[tuple[Interaction, bool]] = []
            for index, item in enumerate(items):
                kind = item.get("type")
                if kind not in INTERACTION_TYPES:
                    raise ValueError(
                        f"interactions[{index}].type must be one of {', '.join(INTERACTION_TYPES)}"
                    )
                blocks = None
                if kind == "display_block":
                    blocks = item.get("display_block")
                    if not isinstance(blocks, list) or not blocks:
                        raise ValueError(
                            f"interactions[{index}].display_block must be a non-empty list"
                        )
                    for b_index, block in enumerate(blocks):
                        if (
                            not isinstance(block, dict)
                            or block.get("type") not in CONTENT_BLOCK_TYPES
                        ):
                            raise ValueError(
                                f"interactions[{index}].display_block[{b_index}].type must be "
                                f"one of {', '.join(CONTENT_BLOCK_TYPES)}"
                            )
                    content_id = content_hash(blocks)
                else:
                    content_id = item.get("content_id")
                    if not isinstance(content_id, str) or not content_id:
                        raise ValueError(f"interactions[{index}].content_id is required")
                existing = next(
                    (
                        i
                        for i in queue.interactions.values()
                        if i.content_id == content_id and i.type == kind
                    ),
                    None,
                )
                if existing is not None:
                    out.append((existing, True))
                    continue
                now = self.now() if at is None else at + index
                interaction = Interaction(
                    id=new_uuid(),
                    type=str(kind),
                    content_id=content_id,
                    created_at=now,
                    modified_at=now,
                    display_block=copy.deepcopy(blocks),
                )
                queue.interactions[interaction.id] = interaction
                out.append((interaction, False))
            return out

    def remove_interactions(self, queue_id: str, interaction_ids: Iterable[str]) -> int:
        """Remove interactions (and their annotations) from a queue; returns how many existed."""
        with self.lock:
            queue = self._queue(queue_id)
            removed = 0
            for interaction_id in interaction_ids:
                if queue.interactions.pop(interaction_id, None) is not None:
                    removed += 1
            return removed

    def upsert_annotation(
        self,
        queue_id: str,
        interaction_id: str,
        label_values: Iterable[Mapping[str, Any]],
        user: User | str | int | None = None,
        at: int | None = None,
    ) -> Annotation:
        """Create or update ``user``'s annotation of an interaction.

        ``label_values`` items: ``{"label_schema_id", "value", "assessment"?, "reasoning"?}``.
        Labels given replace the same labels of an existing annotation; others are kept. Bumps
        the annotation's and the interaction's ``modified_at``.

        Raises:
            KeyError: unknown queue or interaction.
            ValueError: an unknown label schema or a value that does not fit it.
        """
        with self.lock:
            queue = self._queue(queue_id)
            item = self._interaction(queue, interaction_id)
            author = self._user(user)
            schemas = {s["id"]: s for s in queue.label_schemas}
            entries: dict[str, dict[str, Any]] = {}
            for entry in label_values:
                schema_id = entry.get("label_schema_id")
                schema = schemas.get(str(schema_id))
                if schema is None:
                    raise ValueError(f"unknown label_schema_id {schema_id!r}")
                if "value" not in entry:
                    raise ValueError(f"label {schema['name']!r} has no value")
                problem = _label_value_ok(schema, entry["value"])
                if problem is not None:
                    raise ValueError(problem)
                assessment = entry.get("assessment")
                if assessment is not None and assessment not in ("pass", "fail"):
                    raise ValueError("assessment must be pass or fail")
                stored: dict[str, Any] = {
                    "label_schema_id": schema["id"],
                    "value": copy.deepcopy(entry["value"]),
                    "type": schema["type"],
                    "name_when_saved": schema["name"],
                }
                if assessment is not None:
                    stored["assessment"] = assessment
                if entry.get("reasoning") is not None:
                    stored["reasoning"] = str(entry["reasoning"])
                entries[schema["id"]] = stored
            if not entries:
                raise ValueError("label_values must hold at least one value")
            now = self.now() if at is None else at
            annotation = next(
                (a for a in item.annotations.values() if a.created_by == author.id), None
            )
            if annotation is None:
                annotation = Annotation(new_uuid(), item.id, {}, now, author.id, now, author.id)
                item.annotations[annotation.id] = annotation
            annotation.label_values.update(entries)
            annotation.modified_at = now
            annotation.modified_by = author.id
            item.modified_at = max(item.modified_at, now)
            return annotation

    def add_annotation(
        self,
        queue_id: str,
        interaction_id: str,
        values: Mapping[str, Any],
        user: User | str | int | None = None,
    ) -> str:
        """Annotate with ``{label name: value}`` as ``user``; returns the annotation id."""
        with self.lock:
            queue = self._queue(queue_id)
            by_name = {s["name"]: s["id"] for s in queue.label_schemas}
            missing = [name for name in values if name not in by_name]
            if missing:
                raise ValueError(f"unknown label(s): {', '.join(missing)}")
            entries = [{"label_schema_id": by_name[n], "value": v} for n, v in values.items()]
            return self.upsert_annotation(queue_id, interaction_id, entries, user).id

    def delete_annotation(self, queue_id: str, annotation_id: str) -> None:
        """Delete an annotation (bumps its interaction's ``modified_at``); KeyError when missing."""
        with self.lock:
            queue = self._queue(queue_id)
            for item in queue.interactions.values():
                if annotation_id in item.annotations:
                    del item.annotations[annotation_id]
                    item.modified_at = self.now()
                    return
            raise KeyError("annotation not found")


# ------------------------------------------------------------------------------------------
# Helpers shared with the generator


def _newest_first(rows: Iterable[Any]) -> list[Any]:
    return sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)


def _span_order(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(spans, key=lambda s: (s["start_ns"], s["span_id"]))


def _metric_value(metric: Mapping[str, Any]) -> Any:
    kind = metric["metric_type"]
    return metric.get(f"{kind}_value")


def eval_metric_event(
    span: Mapping[str, Any],
    *,
    label: str,
    metric_type: str,
    value: Any,
    timestamp_ms: int,
    assessment: str | None = None,
    reasoning: str | None = None,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    metric_id: str | None = None,
) -> dict[str, Any]:
    """One ``eval_metrics[]`` entry of a span (only the value field of its type is set)."""
    if metric_type not in METRIC_TYPES:
        raise ValueError(f"metric_type must be one of {', '.join(METRIC_TYPES)}")
    event: dict[str, Any] = {
        "id": metric_id or str(uuid.uuid5(_USER_NAMESPACE, f"{span['span_id']}:{label}")),
        "span_id": span["span_id"],
        "trace_id": span["trace_id"],
        "label": label,
        "metric_type": metric_type,
        f"{metric_type}_value": value,
        "metric_source": "custom",
        "eval_source_type": "custom",
        "timestamp_ms": timestamp_ms,
        "tags": list(tags or []),
        "reasoning": reasoning,
        "metadata": metadata,
    }
    if assessment is not None:
        event["assessment"] = assessment
    return event


def aggregate_data(spans: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``experiment.aggregate_data``: per-label eval distributions, error rate, tokens, cost.

    The real shape is undocumented; this one is stable and derived from the spans, so it changes
    whenever spans or metrics are added (without ``updated_at`` moving). None without spans.
    """
    if not spans:
        return None
    evals: dict[str, dict[str, Any]] = {}
    for span in spans:
        for metric in span.get("eval_metrics") or []:
            kind = metric["metric_type"]
            entry = evals.setdefault(metric["label"], {"metric_type": kind, "count": 0})
            entry["count"] += 1
            value = metric.get(f"{kind}_value")
            if kind == "score" and value is not None:
                entry["sum"] = entry.get("sum", 0.0) + float(value)
            elif kind == "boolean" and value is not None:
                entry["true_count"] = entry.get("true_count", 0) + int(bool(value))
            elif kind == "categorical" and value is not None:
                counts = entry.setdefault("counts", {})
                counts[value] = counts.get(value, 0) + 1
    for entry in evals.values():
        if "sum" in entry:
            entry["mean"] = round(entry.pop("sum") / entry["count"], 6)
    errors = sum(1 for s in spans if s.get("status") == "error")
    tokens = sum(int((s.get("metrics") or {}).get("total_tokens", 0)) for s in spans)
    cost = sum(float((s.get("metrics") or {}).get("estimated_total_cost", 0.0)) for s in spans)
    return {
        "span_count": len(spans),
        "error_rate": round(errors / len(spans), 6),
        "total_tokens": tokens,
        "estimated_total_cost": round(cost, 6),
        "evals": dict(sorted(evals.items())),
    }


def summary_metrics(spans: list[dict[str, Any]], timestamp_ms: int) -> list[dict[str, Any]]:
    """Experiment-level metrics (``metric_source: summary``) computed when a run finishes."""
    aggregate = aggregate_data(spans)
    if aggregate is None:
        return []
    out: list[dict[str, Any]] = []
    for label, entry in aggregate["evals"].items():
        if entry["metric_type"] == "score" and "mean" in entry:
            name, value = f"mean_{label}", entry["mean"]
        elif entry["metric_type"] == "boolean":
            name, value = f"{label}_rate", round(entry.get("true_count", 0) / entry["count"], 6)
        else:
            continue
        out.append(
            {
                "id": str(uuid.uuid5(_USER_NAMESPACE, f"summary:{spans[0]['trace_id']}:{name}")),
                "label": name,
                "metric_type": "score",
                "score_value": value,
                "metric_source": "summary",
                "eval_source_type": "summary",
                "timestamp_ms": timestamp_ms,
                "tags": [],
                "reasoning": None,
                "metadata": None,
            }
        )
    out.append(
        {
            "id": str(uuid.uuid5(_USER_NAMESPACE, f"summary:{spans[0]['trace_id']}:error_rate")),
            "label": "error_rate",
            "metric_type": "score",
            "score_value": aggregate["error_rate"],
            "metric_source": "summary",
            "eval_source_type": "summary",
            "timestamp_ms": timestamp_ms,
            "tags": [],
            "reasoning": None,
            "metadata": None,
        }
    )
    return out


def synthetic_events(content_id: str, created_at: int) -> list[dict[str, Any]]:
    """Deterministic span events of a trace or session the store does not hold in detail."""
    digest = hashlib.sha256(content_id.encode()).digest()
    count = 3 + digest[0] % 5
    base_ns = created_at * 1000 - 60_000_000_000
    kinds = ("agent", "llm", "retrieval", "tool", "workflow", "embedding")
    events = []
    for index in range(count):
        span_id = str(int.from_bytes(digest[index : index + 8], "big") >> 1)
        events.append(
            {
                "id": span_id,
                "type": "span",
                "attributes": {
                    "span_id": span_id,
                    "trace_id": content_id,
                    "name": f"{kinds[(digest[index] + index) % len(kinds)]}-step-{index}",
                    "span_kind": kinds[(digest[index] + index) % len(kinds)],
                    "status": "error" if digest[index + 1] % 11 == 0 else "ok",
                    "start_ns": base_ns + index * 250_000_000,
                    "duration": float(50_000_000 + digest[index + 2] * 1_000_000),
                },
            }
        )
    return events
