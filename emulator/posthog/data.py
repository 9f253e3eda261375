"""The PostHog LLM analytics store: datasets, dataset items, evaluations and the events table.

This object is ``Emulator.posthog``. Besides serving the API it offers Python helpers for tests
(all thread-safe; ids are strings):

* datasets: ``dataset_ids``, ``get_dataset``, ``add_dataset``, ``update_dataset``,
  ``soft_delete_dataset``, ``restore_dataset``
* dataset items: ``item_ids``, ``get_item``, ``add_item``, ``update_item``, ``soft_delete_item``,
  ``restore_item``
* evaluations: ``evaluation_ids``, ``get_evaluation``, ``add_evaluation``,
  ``update_evaluation``, ``soft_delete_evaluation``, ``restore_evaluation``
* events: ``add_evaluation_event``, ``add_late_evaluation_event``, ``evaluation_events``,
  ``generation_events``
* ``auth`` (key + ``scopes``, assignable) and ``throttle`` (rate limits, query concurrency)

Helpers apply fields as given (no serializer validation), so tests can also simulate drift:
unknown fields are served verbatim after the known ones. ``touch=False`` changes a row without
bumping ``updated_at`` (like Django's ``QuerySet.update``); every other save bumps it. Mutation
timestamps come from a strictly increasing clock that is always later than generated data.
"""

from __future__ import annotations

import bisect
import copy
import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import orjson

from ..timeutil import Clock
from .auth import ALL_SCOPES, PostHogKeyAuth
from .generator import (
    EVALUATION_EVENT,
    GENERATION_EVENT,
    Event,
    condition_with_bytecode,
    evaluation_properties,
    fake_bytecode,
    generate,
    generation_properties,
)
from .throttle import LimitsInput, PostHogThrottle
from .wire import (
    DAY_US,
    HOUR_US,
    US_PER_MS,
    US_PER_S,
    canonical_uuid,
    clickhouse_uuid_key,
    drf_iso,
    parse_datetime_us,
    uuid7,
    uuidt,
)

KEY_OWNER = 0  # index of the user who owns the API key (``created_by`` of API-created rows)

DATASET_FIELDS = (
    "id",
    "name",
    "description",
    "metadata",
    "created_at",
    "updated_at",
    "deleted",
    "created_by",
    "team",
)
ITEM_FIELDS = (
    "id",
    "dataset",
    "input",
    "output",
    "metadata",
    "ref_trace_id",
    "ref_timestamp",
    "ref_source_id",
    "deleted",
    "created_at",
    "updated_at",
    "created_by",
    "team",
)
EVALUATION_FIELDS = (
    "id",
    "name",
    "description",
    "enabled",
    "evaluation_type",
    "evaluation_config",
    "output_type",
    "output_config",
    "conditions",
    "model_configuration",
    "created_at",
    "updated_at",
    "created_by",
    "deleted",
)
_TIME_FIELDS = ("created_at", "updated_at", "ref_timestamp")
_KINDS = ("dataset", "item", "evaluation")


def _to_us(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, (str, datetime)):
        return parse_datetime_us(value)
    raise TypeError(f"not a timestamp: {value!r}")


def _sort_value(row: dict[str, Any], name: str) -> Any:
    """Sort key of one field (timestamps are ints, ``name`` and ``id`` strings)."""
    value = row.get(name)
    if value is None:
        return "" if name in ("name", "id") else 0
    return value


def hour_floor_us(us: int) -> int:
    """Epoch microseconds floored to the hour (the default generation anchor)."""
    return us - us % HOUR_US


def json_text(value: Any) -> str:
    """Postgres ``jsonb::text`` rendering (what ``metadata__icontains`` searches)."""
    return orjson.dumps(value).decode().replace('":', '": ').replace(',"', ', "')


class PostHogStore:
    """The emulated PostHog project (see the module docstring for the helpers).

    Args:
        seed: Generator seed (same seed, sizes and ``now`` give identical data).
        project_id: The emulated project / environment id (``team``).
        datasets: Generated datasets.
        items_per_dataset: Items per dataset: a count or an inclusive ``(low, high)`` range.
        evaluations: Generated evaluations (cycling through 4 templates).
        evaluation_events: Generated ``$ai_evaluation`` events.
        event_days: Days before ``now`` the generated events span.
        now: The generation anchor (datetime, ISO string or epoch microseconds); default: the
            current UTC hour.
        api_key: The only accepted personal API key (None = any non-empty key).
        scopes: The key's scopes (``("*",)`` = all, None = legacy key without scopes).
        rate_limit: Per-key REST limits, e.g. ``"480/60,4800/3600"`` (None = off).
        query_rate_limit: Per-project Query API limits, e.g. ``"240/60,2400/3600"``.
        query_concurrency: Queries running at once per project (None = unlimited).
    """

    def __init__(
        self,
        seed: int = 1,
        project_id: int = 1,
        datasets: int = 3,
        items_per_dataset: int | tuple[int, int] = (10, 40),
        evaluations: int = 4,
        evaluation_events: int = 300,
        event_days: int = 14,
        now: datetime | str | int | None = None,
        api_key: str | None = None,
        scopes: Iterable[str] | None = (ALL_SCOPES,),
        rate_limit: LimitsInput = None,
        query_rate_limit: LimitsInput = None,
        query_concurrency: int | None = None,
    ) -> None:
        if isinstance(items_per_dataset, int):
            items_per_dataset = (items_per_dataset, items_per_dataset)
        anchor = hour_floor_us(time.time_ns() // 1000) if now is None else _to_us(now)
        assert anchor is not None
        generated = generate(
            seed,
            project_id,
            anchor,
            datasets=datasets,
            items_per_dataset=tuple(items_per_dataset),  # type: ignore[arg-type]
            evaluations=evaluations,
            evaluation_events=evaluation_events,
            event_days=event_days,
        )
        self.seed = seed
        self.project_id = project_id
        self.anchor_us = anchor
        self.lock = threading.RLock()
        self.auth = PostHogKeyAuth(api_key, scopes)
        self.throttle = PostHogThrottle(rate_limit, query_rate_limit, query_concurrency)
        self._users = [user.payload for user in generated.users]
        self._rows: dict[str, dict[str, dict[str, Any]]] = {
            "dataset": {row["id"]: row for row in generated.datasets},
            "item": {row["id"]: row for row in generated.items},
            "evaluation": {row["id"]: row for row in generated.evaluations},
        }
        self._rng = random.Random(f"posthog-mutations:{seed}")
        self._series = len(generated.evaluations)
        self._version = 0
        self._render_cache: dict[tuple[str, str], dict[str, Any]] = {}
        self._order_cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self._events: dict[str, Event] = {}
        self._eval_keys: list[tuple[int, int, int]] = []
        self._eval_events: list[Event] = []
        self._generations: list[Event] = []
        latest = anchor
        self._load_events(generated.events)
        for event in generated.events:
            latest = max(latest, event.created_at_us)
        for kind in _KINDS:
            for row in self._rows[kind].values():
                latest = max(latest, row["updated_at"], row["created_at"])
        self.clock = Clock(latest)

    # ------------------------------------------------------------------------------------
    # Bookkeeping and rendering

    def _changed(self, kind: str, row_id: str) -> None:
        self._version += 1
        self._render_cache.pop((kind, row_id), None)
        self._order_cache.clear()

    def _row(self, kind: str, row_id: str) -> dict[str, Any]:
        canonical = canonical_uuid(row_id)
        row = self._rows[kind].get(canonical) if canonical else None
        if row is None:
            raise KeyError(f"{kind} {row_id} not found")
        return row

    def user(self, index: int | None) -> dict[str, Any] | None:
        """The ``created_by`` object for a user index (None stays None)."""
        return None if index is None else dict(self._users[index])

    def render(self, kind: str, row: dict[str, Any]) -> dict[str, Any]:
        """A row as the API serializes it (cached until the row changes)."""
        cached = self._render_cache.get((kind, row["id"]))
        if cached is not None:
            return cached
        fields = {"dataset": DATASET_FIELDS, "item": ITEM_FIELDS, "evaluation": EVALUATION_FIELDS}[
            kind
        ]
        out: dict[str, Any] = {}
        for name in fields:
            value = row.get(name)
            if name in _TIME_FIELDS:
                value = None if value is None else drf_iso(value)
            elif name == "created_by":
                value = self.user(value)
            out[name] = value
        for name, value in row.items():
            if name not in out:
                out[name] = value  # drift simulated through the helpers
        self._render_cache[(kind, row["id"])] = out
        return out

    def rendered(self, kind: str, row_id: str) -> dict[str, Any]:
        """A copy of the serialized form of an existing row (KeyError when unknown)."""
        with self.lock:
            return copy.deepcopy(self.render(kind, self._row(kind, row_id)))

    def visible(self, kind: str, row_id: str) -> dict[str, Any] | None:
        """A row that list/retrieve may show (exists and ``deleted`` is not True), else None."""
        canonical = canonical_uuid(row_id)
        row = self._rows[kind].get(canonical) if canonical else None
        if row is None or row.get("deleted") is True:
            return None
        return row

    def exists(self, kind: str, row_id: str) -> bool:
        """Whether a row exists at all (soft-deleted ones included)."""
        canonical = canonical_uuid(row_id)
        return canonical is not None and canonical in self._rows[kind]

    # ------------------------------------------------------------------------------------
    # Listing (filters + orderings of the era-B viewsets)

    def _alive(self, kind: str) -> list[dict[str, Any]]:
        return [row for row in self._rows[kind].values() if row.get("deleted") is not True]

    def _ordered(self, kind: str, order: tuple[tuple[str, bool], ...]) -> list[dict[str, Any]]:
        key = (kind, order, self._version)
        cached = self._order_cache.get(key)
        if cached is not None:
            return cached
        rows = self._alive(kind)
        for name, descending in reversed(order):  # stable sorts, last key first
            rows.sort(key=lambda row, n=name: _sort_value(row, n), reverse=descending)
        self._order_cache[key] = rows
        return rows

    def list_rows(
        self,
        kind: str,
        order: tuple[tuple[str, bool], ...],
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        cache_key: Any = None,
    ) -> list[dict[str, Any]]:
        """Visible rows of ``kind`` in ``order`` (``(field, descending)`` pairs), filtered.

        ``cache_key`` (hashable, identifying the predicate) keeps the filtered list until the
        next change, so paging through a filter (e.g. items of one dataset) stays cheap.
        """
        with self.lock:
            rows = self._ordered(kind, order)
            if predicate is None:
                return rows
            key = (kind, order, self._version, "filtered", cache_key)
            cached = self._order_cache.get(key) if cache_key is not None else None
            if cached is None:
                cached = [row for row in rows if predicate(row)]
                if cache_key is not None:
                    self._order_cache[key] = cached
            return cached

    # ------------------------------------------------------------------------------------
    # Writes shared by the API and the helpers

    def _new_times(self) -> tuple[int, int]:
        created = self.clock.now_us()
        return created, self.clock.now_us()  # auto_now_add and auto_now read the clock apart

    def create_row(self, kind: str, fields: dict[str, Any], created_by: int | None) -> str:
        """Insert a row with server-set id, timestamps, ``created_by`` and ``team``."""
        with self.lock:
            created, updated = self._new_times()
            if kind == "evaluation":
                self._series += 1
                row_id = uuidt(created // US_PER_MS, self._series, self._rng)
                row: dict[str, Any] = {
                    "id": row_id,
                    "name": "",
                    "description": "",
                    "enabled": False,
                    "evaluation_type": "hog",
                    "evaluation_config": {},
                    "output_type": "boolean",
                    "output_config": {},
                    "conditions": [],
                    "model_configuration": None,
                    "created_by": created_by,
                    "deleted": False,
                }
            elif kind == "dataset":
                row_id = uuid7(created // US_PER_MS, self._rng)
                row = {
                    "id": row_id,
                    "name": "",
                    "description": None,
                    "metadata": None,
                    "deleted": False,
                    "created_by": created_by,
                    "team": self.project_id,
                }
            else:
                row_id = uuid7(created // US_PER_MS, self._rng)
                row = {
                    "id": row_id,
                    "dataset": None,
                    "input": None,
                    "output": None,
                    "metadata": None,
                    "ref_trace_id": None,
                    "ref_timestamp": None,
                    "ref_source_id": None,
                    "deleted": False,
                    "created_by": created_by,
                    "team": self.project_id,
                }
            row.update(fields)
            row["created_at"] = _to_us(fields.get("created_at", created))
            row["updated_at"] = _to_us(fields.get("updated_at", updated))
            if kind == "evaluation":
                _normalize_evaluation(row)
            self._rows[kind][row_id] = row
            self._changed(kind, row_id)
            return row_id

    def update_row(
        self, kind: str, row_id: str, fields: dict[str, Any], touch: bool = True
    ) -> dict[str, Any]:
        """Apply fields to a row (soft-deleted ones too); bump ``updated_at`` unless told not to.

        Raises:
            KeyError: no such row.
        """
        with self.lock:
            row = self._row(kind, row_id)
            for name, value in fields.items():
                if name in ("id",):
                    continue
                row[name] = _to_us(value) if name in _TIME_FIELDS else value
            if kind == "evaluation":
                _normalize_evaluation(row)
            if touch and "updated_at" not in fields:
                row["updated_at"] = self.clock.now_us()
            self._changed(kind, row["id"])
            return copy.deepcopy(self.render(kind, row))

    # ------------------------------------------------------------------------------------
    # Helpers: datasets

    def dataset_ids(self, include_deleted: bool = False) -> list[str]:
        """Dataset ids in creation order."""
        return self.row_ids("dataset", include_deleted)

    def get_dataset(self, dataset_id: str) -> dict[str, Any]:
        """A dataset as serialized (soft-deleted ones too). KeyError when unknown."""
        return self._get("dataset", dataset_id)

    def add_dataset(self, name: str, **fields: Any) -> str:
        """Create a dataset (``created_by`` = the key's user); returns its id."""
        return self.create_row("dataset", {"name": name, **fields}, KEY_OWNER)

    def update_dataset(self, dataset_id: str, touch: bool = True, **fields: Any) -> dict[str, Any]:
        """Change dataset fields; returns the serialized row."""
        return self.update_row("dataset", dataset_id, fields, touch)

    def soft_delete_dataset(self, dataset_id: str, touch: bool = True) -> dict[str, Any]:
        """``PATCH {"deleted": true}``: hidden from list and retrieve; items stay listed."""
        return self.update_row("dataset", dataset_id, {"deleted": True}, touch)

    def restore_dataset(self, dataset_id: str, touch: bool = True) -> dict[str, Any]:
        """``PATCH {"deleted": false}``."""
        return self.update_row("dataset", dataset_id, {"deleted": False}, touch)

    # ------------------------------------------------------------------------------------
    # Helpers: dataset items

    def item_ids(self, dataset_id: str | None = None, include_deleted: bool = False) -> list[str]:
        """Item ids in creation order (optionally of one dataset)."""
        with self.lock:
            wanted = None if dataset_id is None else canonical_uuid(dataset_id)
            return [
                row["id"]
                for row in self._rows["item"].values()
                if (include_deleted or row.get("deleted") is not True)
                and (wanted is None or row.get("dataset") == wanted)
            ]

    def get_item(self, item_id: str) -> dict[str, Any]:
        """An item as serialized (soft-deleted ones too). KeyError when unknown."""
        return self._get("item", item_id)

    def add_item(self, dataset_id: str, **fields: Any) -> str:
        """Create an item in a dataset; returns its id. KeyError for an unknown dataset."""
        dataset = self._row("dataset", dataset_id)
        return self.create_row("item", {"dataset": dataset["id"], **fields}, KEY_OWNER)

    def update_item(self, item_id: str, touch: bool = True, **fields: Any) -> dict[str, Any]:
        """Change item fields; returns the serialized row."""
        return self.update_row("item", item_id, fields, touch)

    def soft_delete_item(self, item_id: str, touch: bool = True) -> dict[str, Any]:
        """``PATCH {"deleted": true}`` on an item."""
        return self.update_row("item", item_id, {"deleted": True}, touch)

    def restore_item(self, item_id: str, touch: bool = True) -> dict[str, Any]:
        """``PATCH {"deleted": false}`` on an item."""
        return self.update_row("item", item_id, {"deleted": False}, touch)

    # ------------------------------------------------------------------------------------
    # Helpers: evaluations

    def evaluation_ids(self, include_deleted: bool = False) -> list[str]:
        """Evaluation ids in creation order."""
        return self.row_ids("evaluation", include_deleted)

    def get_evaluation(self, evaluation_id: str) -> dict[str, Any]:
        """An evaluation as serialized (soft-deleted ones too). KeyError when unknown."""
        return self._get("evaluation", evaluation_id)

    def add_evaluation(
        self,
        name: str,
        evaluation_type: str = "hog",
        allows_na: bool = False,
        enabled: bool = True,
        **fields: Any,
    ) -> str:
        """Create an evaluation (a working default config per type); returns its id."""
        config: dict[str, Any] = (
            {"source": "return true"} if evaluation_type == "hog" else {"prompt": "Is it good?"}
        )
        base: dict[str, Any] = {
            "name": name,
            "evaluation_type": evaluation_type,
            "evaluation_config": config,
            "output_config": {"allows_na": allows_na},
            "enabled": enabled,
        }
        if evaluation_type == "llm_judge":
            base["model_configuration"] = {
                "provider": "openai",
                "model": "gpt-4.1-mini",
                "provider_key_id": None,
                "provider_key_name": None,
            }
        return self.create_row("evaluation", {**base, **fields}, KEY_OWNER)

    def update_evaluation(
        self, evaluation_id: str, touch: bool = True, **fields: Any
    ) -> dict[str, Any]:
        """Change evaluation fields (``touch=False`` = the trial-limit ``QuerySet.update``)."""
        return self.update_row("evaluation", evaluation_id, fields, touch)

    def soft_delete_evaluation(self, evaluation_id: str, touch: bool = True) -> dict[str, Any]:
        """``PATCH {"deleted": true}`` on an evaluation."""
        return self.update_row("evaluation", evaluation_id, {"deleted": True}, touch)

    def restore_evaluation(self, evaluation_id: str, touch: bool = True) -> dict[str, Any]:
        """``PATCH {"deleted": false}`` on an evaluation."""
        return self.update_row("evaluation", evaluation_id, {"deleted": False}, touch)

    def row_ids(self, kind: str, include_deleted: bool = False) -> list[str]:
        """Ids of ``dataset`` / ``item`` / ``evaluation`` rows in creation order."""
        with self.lock:
            return [
                row["id"]
                for row in self._rows[kind].values()
                if include_deleted or row.get("deleted") is not True
            ]

    def _get(self, kind: str, row_id: str) -> dict[str, Any]:
        return self.rendered(kind, row_id)

    # ------------------------------------------------------------------------------------
    # Events

    def _load_events(self, events: list[Event]) -> None:
        """Bulk insert (one sort instead of one ``list.insert`` per event)."""
        keyed: list[tuple[tuple[int, int, int], Event]] = []
        for event in events:
            self._events[event.uuid] = event
            if event.event == EVALUATION_EVENT:
                keyed.append(((event.timestamp_us, *clickhouse_uuid_key(event.uuid)), event))
            elif event.event == GENERATION_EVENT:
                self._generations.append(event)
        keyed.extend(zip(self._eval_keys, self._eval_events, strict=True))
        keyed.sort(key=lambda pair: pair[0])
        self._eval_keys = [key for key, _ in keyed]
        self._eval_events = [event for _, event in keyed]

    def _insert_event(self, event: Event) -> None:
        self._events[event.uuid] = event
        if event.event == EVALUATION_EVENT:
            key = (event.timestamp_us, *clickhouse_uuid_key(event.uuid))
            index = bisect.bisect_right(self._eval_keys, key)
            self._eval_keys.insert(index, key)
            self._eval_events.insert(index, event)
        elif event.event == GENERATION_EVENT:
            self._generations.append(event)

    def now_us(self) -> int:
        """The next mutation timestamp (epoch microseconds, strictly increasing)."""
        return self.clock.now_us()

    def record_evaluation(
        self,
        evaluation_id: str,
        target: Event | None = None,
        timestamp: Any = None,
        created_at: Any = None,
        result: bool | None = None,
        applicable: bool | None = None,
        properties: dict[str, Any] | None = None,
    ) -> Event:
        """Append an ``$ai_evaluation`` event for an evaluation (deleted ones too)."""
        with self.lock:
            evaluation = self._row("evaluation", evaluation_id)
            now = self.clock.now_us()
            ts = now if timestamp is None else _to_us(timestamp)
            ingested = now if created_at is None else _to_us(created_at)
            assert ts is not None and ingested is not None
            if target is None:
                target = self._latest_generation_before(ts)
            props = evaluation_properties(
                evaluation,
                target,
                ts - self._rng.randint(US_PER_S, 5 * US_PER_S),
                self._rng,
                result=result,
                applicable=applicable,
            )
            if properties:
                props.update(properties)
            event = Event(
                uuid=uuid7(ts // US_PER_MS, self._rng),
                event=EVALUATION_EVENT,
                timestamp_us=ts,
                created_at_us=ingested,
                distinct_id=target.distinct_id,
                properties=props,
            )
            self._insert_event(event)
            return event

    def _latest_generation_before(self, ts: int) -> Event:
        candidates = [g for g in self._generations if g.timestamp_us <= ts]
        if candidates:
            return max(candidates, key=lambda g: g.timestamp_us)
        # no generation yet: synthesize one so the evaluation has a target
        event = Event(
            uuid=uuid7(ts // US_PER_MS - 2_000, self._rng),
            event=GENERATION_EVENT,
            timestamp_us=ts - 2 * US_PER_S,
            created_at_us=ts - US_PER_S,
            distinct_id="user-1",
            properties=generation_properties(self._rng, len(self._generations)),
        )
        self._insert_event(event)
        return event

    def add_evaluation_event(
        self,
        evaluation_id: str,
        *,
        timestamp: datetime | str | int | None = None,
        created_at: datetime | str | int | None = None,
        result: bool | None = None,
        applicable: bool | None = None,
        target_event_id: str | None = None,
        properties: dict[str, Any] | None = None,
    ) -> str:
        """Append an ``$ai_evaluation`` event; returns its uuid.

        Args:
            evaluation_id: The evaluation it reports on.
            timestamp: Emission time (default now). An old value with the default
                ``created_at`` is a late-ingested event.
            created_at: Ingestion time (default now).
            result: The verdict (random when None).
            applicable: False = N/A (only honoured when the evaluation ``allows_na``).
            target_event_id: An existing ``$ai_generation`` event (default: the latest before
                ``timestamp``).
            properties: Extra or overriding properties.
        """
        target = None
        if target_event_id is not None:
            target = self._events.get(canonical_uuid(target_event_id) or "")
            if target is None:
                raise KeyError(f"event {target_event_id} not found")
        event = self.record_evaluation(
            evaluation_id, target, timestamp, created_at, result, applicable, properties
        )
        return event.uuid

    def add_late_evaluation_event(
        self, evaluation_id: str, age_seconds: float, **kwargs: Any
    ) -> str:
        """An event emitted ``age_seconds`` ago but ingested now (ingestion lag)."""
        now = self.clock.now_us()
        return self.add_evaluation_event(
            evaluation_id,
            timestamp=now - round(age_seconds * US_PER_S),
            created_at=now,
            **kwargs,
        )

    def evaluation_events(
        self,
        start: datetime | str | int | None = None,
        end: datetime | str | int | None = None,
    ) -> list[dict[str, Any]]:
        """``$ai_evaluation`` events with ``start <= timestamp < end``, in query order.

        Each is ``{"uuid", "timestamp", "created_at", "properties", "distinct_id"}`` with the
        timestamps rendered as the Query API renders them and ``properties`` as a dict.
        """
        with self.lock:
            start_us = _to_us(start)
            end_us = _to_us(end)
            return [
                {
                    "uuid": event.uuid,
                    "timestamp": drf_iso(event.timestamp_us),
                    "created_at": drf_iso(event.created_at_us),
                    "properties": copy.deepcopy(event.properties),
                    "distinct_id": event.distinct_id,
                }
                for event in self._eval_events
                if (start_us is None or event.timestamp_us >= start_us)
                and (end_us is None or event.timestamp_us < end_us)
            ]

    def generation_events(self) -> list[dict[str, Any]]:
        """``$ai_generation`` events (``uuid``, ``timestamp``, ``distinct_id``), oldest first."""
        with self.lock:
            return [
                {"uuid": g.uuid, "timestamp": drf_iso(g.timestamp_us), "distinct_id": g.distinct_id}
                for g in sorted(self._generations, key=lambda g: g.timestamp_us)
            ]

    def query_evaluations(
        self,
        start_us: int,
        end_us: int,
        after: tuple[int, str] | None,
        limit: int,
    ) -> tuple[list[Event], bool]:
        """Rows of the supported HogQL shape, ordered by ``(timestamp, uuid)`` (ClickHouse
        UUID order), and whether more rows follow ``limit``."""
        with self.lock:
            low = bisect.bisect_left(self._eval_keys, (start_us,))
            high = bisect.bisect_left(self._eval_keys, (end_us,))
            if after is not None:
                after_key = (after[0], *clickhouse_uuid_key(after[1]))
                low = max(low, bisect.bisect_right(self._eval_keys, after_key))
            rows = self._eval_events[low:high][: limit + 1]
            return rows[:limit], len(rows) > limit

    def find_event(self, event_uuid: str) -> Event | None:
        """Any event by uuid."""
        with self.lock:
            return self._events.get(canonical_uuid(event_uuid) or "")

    def recent_generations(self, count: int, days: int = 7) -> list[Event]:
        """The newest ``$ai_generation`` events within ``days`` of the emulated now."""
        with self.lock:
            reference = max([self.anchor_us, *(g.timestamp_us for g in self._generations)])
            since = reference - days * DAY_US
            recent = [g for g in self._generations if g.timestamp_us >= since]
            recent.sort(key=lambda g: g.timestamp_us, reverse=True)
            return recent[:count]

    # ------------------------------------------------------------------------------------
    # Settings

    def set_rate_limits(
        self,
        rate_limit: LimitsInput = None,
        query_rate_limit: LimitsInput = None,
        query_concurrency: int | None = None,
    ) -> None:
        """Replace every throttle setting at once (None = off)."""
        self.throttle.configure(
            crud=rate_limit, query=query_rate_limit, query_concurrency=query_concurrency
        )


def _normalize_evaluation(row: dict[str, Any]) -> None:
    """Server-side derived fields: Hog bytecode and condition bytecode are (re)compiled."""
    config = row.get("evaluation_config")
    if isinstance(config, dict) and isinstance(config.get("source"), str):
        row["evaluation_config"] = {**config, "bytecode": fake_bytecode(config["source"])}
    conditions = row.get("conditions")
    if isinstance(conditions, list) and all(isinstance(c, dict) for c in conditions):
        row["conditions"] = [condition_with_bytecode(c) for c in conditions]
