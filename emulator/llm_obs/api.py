"""LLM Observability HTTP handlers under ``/api/v2/llm-obs`` and their wire format.

Wire behaviour (``datadog.md`` §0, §B, §D): JSON:API bodies served as
``application/vnd.api+json``; every list is fixed to its documented order (no sort parameter);
cursor lists take ``page[cursor]`` / ``page[limit]`` and answer ``meta.after`` (an opaque cursor,
``null`` on the last page); errors are ``{"errors": [{"title": "Generic Error", "detail": ...}]}``.
The cursors are keyset cursors (they encode the last item's sort key), so rows created or deleted
between two page requests neither shift nor repeat the rows still to come.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import csv
import io
import logging
from collections.abc import Callable
from typing import Any

import orjson

from ..auth import DatadogKeyAuth
from ..router import ApiGroup, Request, Response, Router
from ..timeutil import iso_us
from .data import (
    EXPERIMENT_STATUSES,
    METRIC_TYPES,
    TRACE_INTERACTION_TYPES,
    ConflictError,
    ExperimentQuery,
    LLMObsStore,
)

logger = logging.getLogger(__name__)

PREFIX = "/api/v2/llm-obs"
CONTENT_TYPE = "application/vnd.api+json"
RATE_LIMIT_NAME = "llm_obs_api"
DEFAULT_PAGE_LIMIT = 100  # projects, datasets, records (undocumented upstream)
EXPERIMENT_PAGE_LIMIT = 5000  # experiments and events v3: documented default and maximum
MAX_PAGE_LIMIT = 5000  # larger values are clamped, as documented for experiments
MAX_BATCH_ITEMS = 10_000  # batch_update answers 413 beyond this
INTERACTION_EVENTS_LIMIT = 10
_ID = r"(?P<{}>[^/]+)"


class BadRequest(Exception):
    """Answer 400 with ``detail``."""


class NotFound(Exception):
    """Answer 404 with ``detail``."""


class TooLarge(Exception):
    """Answer 413 with ``detail``."""


def error_body(detail: str, title: str = "Generic Error") -> dict[str, Any]:
    """The observed LLM Obs JSON:API error body."""
    return {"errors": [{"title": title, "detail": detail}]}


def api_response(status: int, payload: Any) -> Response:
    """A JSON:API response (``application/vnd.api+json``, as LLM Obs answers)."""
    return Response(status=status, body=orjson.dumps(payload), content_type=CONTENT_TYPE)


def _no_content() -> Response:
    return Response(status=204, body=b"", content_type=None)


# ------------------------------------------------------------------------------------------
# Query and body parsing


def _values(request: Request, name: str) -> list[str]:
    """Every value of a repeatable parameter, also split on commas (both forms are sent)."""
    out: list[str] = []
    for raw in request.query.get(name, []):
        out.extend(part.strip() for part in raw.split(",") if part.strip())
    return out


def _id_set(request: Request, name: str) -> frozenset[str] | None:
    values = _values(request, name)
    return frozenset(values) if values else None


def _text(request: Request, name: str) -> str | None:
    value = request.arg(name)
    return None if value is None or value == "" else value


def _bool(request: Request, name: str) -> bool:
    value = request.arg(name)
    if value is None or value == "":
        return False
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise BadRequest(f"{name} must be true or false")


def _int_arg(request: Request, name: str, default: int | None) -> int | None:
    value = request.arg(name)
    if value is None or value == "":
        return default
    try:
        return int(value.strip())
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None


def _limit(request: Request, default: int) -> int:
    limit = _int_arg(request, "page[limit]", default)
    assert limit is not None
    if limit < 1:
        raise BadRequest("page[limit] must be a positive integer")
    return min(limit, MAX_PAGE_LIMIT)


def encode_cursor(scope: str, key: list[Any]) -> str:
    """Opaque cursor: the list scope and the last served item's sort key."""
    return base64.urlsafe_b64encode(orjson.dumps([scope, *key])).decode().rstrip("=")


def decode_cursor(scope: str, text: str) -> list[Any]:
    """Inverse of :func:`encode_cursor`; BadRequest when the cursor is not one of this list's."""
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise BadRequest("page[cursor] is not a valid cursor") from None
    if not isinstance(decoded, list) or len(decoded) < 2 or decoded[0] != scope:
        raise BadRequest("page[cursor] is not a valid cursor for this list")
    return list(decoded[1:])


def cursor_page(
    items: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], list[Any]],
    scope: str,
    cursor: str | None,
    limit: int,
    descending: bool,
) -> tuple[list[dict[str, Any]], str | None]:
    """Serve one page of ``items`` (already in list order) after ``cursor``.

    Returns ``(page, after)`` with ``after`` None when nothing follows the page.
    """
    if cursor is not None:
        last = decode_cursor(scope, cursor)
        try:
            if descending:
                items = [item for item in items if key(item) < last]
            else:
                items = [item for item in items if key(item) > last]
        except TypeError:  # a forged cursor whose key does not compare with this list's
            raise BadRequest("page[cursor] is not a valid cursor for this list") from None
    page = items[:limit]
    after = encode_cursor(scope, key(page[-1])) if len(items) > limit else None
    return page, after


def keyset_slice(
    keys: list[Any], scope: str, cursor: str | None, limit: int, descending: bool
) -> tuple[int, int, str | None]:
    """Bisect a page out of ascending sort ``keys``: returns ``(lo, hi, after)``; the page is
    ``keys[lo:hi]`` (reversed when ``descending``) and ``after`` the next cursor or None."""
    bound: tuple[Any, ...] | None = None
    if cursor is not None:
        bound = tuple(decode_cursor(scope, cursor))
    try:
        if descending:
            hi = len(keys) if bound is None else bisect.bisect_left(keys, bound)
            lo = max(0, hi - limit)
            last, more = (keys[lo] if hi > lo else None), lo > 0
        else:
            lo = 0 if bound is None else bisect.bisect_right(keys, bound)
            hi = min(len(keys), lo + limit)
            last, more = (keys[hi - 1] if hi > lo else None), hi < len(keys)
    except TypeError:  # a cursor whose key does not compare with this list's keys
        raise BadRequest("page[cursor] is not a valid cursor for this list") from None
    after = encode_cursor(scope, list(last)) if more and last is not None else None
    return lo, hi, after


def _created_key(item: dict[str, Any]) -> list[Any]:
    attrs = item.get("attributes", item)
    return [attrs["created_at"], item["id"]]


def _body(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except orjson.JSONDecodeError:
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object with a data member")
    return body


def _data(request: Request, resource_type: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(data, data.attributes)`` of a JSON:API request body of ``resource_type``."""
    data = _body(request).get("data")
    if not isinstance(data, dict):
        raise BadRequest("data must be an object")
    if data.get("type") != resource_type:
        raise BadRequest(f"data.type must be {resource_type!r}")
    attributes = data.get("attributes", {})
    if not isinstance(attributes, dict):
        raise BadRequest("data.attributes must be an object")
    return data, attributes


def _required_str(attrs: dict[str, Any], name: str) -> str:
    value = attrs.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"data.attributes.{name} is required and must be a non-empty string")
    return value


def _optional(attrs: dict[str, Any], name: str, kinds: type | tuple[type, ...]) -> Any:
    value = attrs.get(name)
    if value is not None and not isinstance(value, kinds):
        kind_names = kinds if isinstance(kinds, tuple) else (kinds,)
        expected = " or ".join(_JSON_NAMES.get(k, k.__name__) for k in kind_names)
        raise BadRequest(f"data.attributes.{name} must be {expected}")
    return value


_JSON_NAMES = {
    str: "a string",
    dict: "an object",
    list: "a list",
    bool: "a boolean",
    int: "an integer",
}


def _id_list(attrs: dict[str, Any], name: str, allow_empty: bool = False) -> list[str]:
    value = attrs.get(name)
    if (
        not isinstance(value, list)
        or (not value and not allow_empty)
        or any(not isinstance(v, str) or not v for v in value)
    ):
        raise BadRequest(f"data.attributes.{name} must be a non-empty list of ids")
    return list(value)


def _bad_int(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


# ------------------------------------------------------------------------------------------
# Handlers


class LLMObsApi:
    """Registers the LLM Observability routes on a router.

    Args:
        store: The data set to serve.
        auth: Datadog key check (also gives the caller's user key).
    """

    name = "llm_obs"

    def __init__(self, store: LLMObsStore, auth: DatadogKeyAuth) -> None:
        self.store = store
        self.auth = auth

    def register(self, router: Router) -> ApiGroup:
        """Add the API group and its routes."""
        group = router.add_group(
            ApiGroup(
                name=self.name,
                prefix=PREFIX,
                authenticate=self.auth,
                rate_limit_name=RATE_LIMIT_NAME,
                not_found=lambda _req: api_response(404, error_body("not found")),
            )
        )
        project = _ID.format("project_id")
        dataset = f"/v1/{project}/datasets/{_ID.format('dataset_id')}"
        experiment = _ID.format("experiment_id")
        queue = f"/v1/annotation-queues/{_ID.format('queue_id')}"
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", "/v1/projects", self.list_projects),
            ("POST", "/v1/projects", self.create_project),
            ("POST", "/v1/projects/delete", self.delete_projects),
            ("PATCH", f"/v1/projects/{project}", self.update_project),
            ("GET", f"/v1/{project}/datasets", self.list_datasets),
            ("POST", f"/v1/{project}/datasets", self.create_dataset),
            ("POST", f"/v1/{project}/datasets/delete", self.delete_datasets),
            ("PATCH", dataset, self.update_dataset),
            ("GET", f"{dataset}/records", self.list_records),
            ("POST", f"{dataset}/records", self.create_records),
            ("PATCH", f"{dataset}/records", self.update_records),
            ("POST", f"{dataset}/records/delete", self.delete_records),
            ("POST", f"{dataset}/batch_update", self.batch_update),
            ("POST", f"{dataset}/clone", self.clone_dataset),
            ("POST", f"{dataset}/restore", self.restore_version),
            ("GET", f"{dataset}/versions", self.list_versions),
            ("GET", f"{dataset}/export", self.export_dataset),
            ("GET", f"{dataset}/draft_state", self.get_draft_state),
            ("PATCH", f"{dataset}/draft_state/lock", self.lock_draft_state),
            ("PATCH", f"{dataset}/draft_state/unlock", self.unlock_draft_state),
            ("GET", "/v1/experiments", self.list_experiments),
            ("POST", "/v1/experiments", self.create_experiment),
            ("POST", "/v1/experiments/delete", self.delete_experiments),
            ("PATCH", f"/v1/experiments/{experiment}", self.update_experiment),
            ("POST", f"/v1/experiments/{experiment}/events", self.push_events),
            ("GET", f"/v1/experiments/{experiment}/events", self.events_v1),
            ("GET", f"/v2/experiments/{experiment}/events", self.events_v2),
            ("GET", f"/v3/experiments/{experiment}/events", self.events_v3),
            ("GET", "/v1/annotation-queues", self.list_queues),
            ("POST", "/v1/annotation-queues", self.create_queue),
            ("PATCH", queue, self.update_queue),
            ("DELETE", queue, self.delete_queue),
            ("GET", f"{queue}/label-schema", self.get_label_schema),
            ("PUT", f"{queue}/label-schema", self.put_label_schema),
            ("GET", f"{queue}/annotated-interactions", self.annotated_interactions),
            (
                "GET",
                f"{queue}/annotated-interactions/{_ID.format('interaction_id')}",
                self.annotated_interaction,
            ),
            ("POST", f"{queue}/interactions", self.add_interactions),
            ("POST", f"{queue}/interactions/delete", self.remove_interactions),
            ("POST", f"{queue}/annotations", self.upsert_annotations),
            ("POST", f"{queue}/annotations/delete", self.delete_annotations),
            ("GET", "/v1/annotated-interactions", self.interactions_by_content),
        ]
        for method, pattern, handler in routes:
            router.add(method, pattern, self._wrap(handler), group)
        return group

    def _wrap(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def wrapped(request: Request) -> Response:
            try:
                with self.store.lock:  # one consistent snapshot per request
                    return handler(request)
            except BadRequest as exc:
                return api_response(400, error_body(str(exc)))
            except NotFound as exc:
                return api_response(404, error_body(str(exc)))
            except TooLarge as exc:
                return api_response(413, error_body(str(exc)))

        wrapped.__name__ = getattr(handler, "__name__", "handler")
        return wrapped

    def _caller(self, request: Request) -> Any:
        return self.store.caller(self.auth.user_of(request))

    @staticmethod
    def _not_found(exc: KeyError) -> NotFound:
        return NotFound(str(exc.args[0]) if exc.args else "not found")

    # projects ---------------------------------------------------------------------------------

    def list_projects(self, request: Request) -> Response:
        """``GET /v1/projects`` (created_at desc, cursor pages)."""
        limit = _limit(request, DEFAULT_PAGE_LIMIT)
        items = self.store.list_projects(
            _id_set(request, "filter[id]"), _text(request, "filter[name]")
        )
        page, after = cursor_page(
            items, _created_key, "projects", _text(request, "page[cursor]"), limit, True
        )
        return api_response(200, {"data": page, "meta": {"after": after}})

    def create_project(self, request: Request) -> Response:
        """``POST /v1/projects`` (201, or 200 with the existing project of that name)."""
        _, attrs = _data(request, "projects")
        name = _required_str(attrs, "name")
        description = _optional(attrs, "description", str)
        project_id, created = self.store.create_project(name, description)
        return api_response(201 if created else 200, {"data": self.store.get_project(project_id)})

    def update_project(self, request: Request) -> Response:
        """``PATCH /v1/projects/{project_id}``."""
        _, attrs = _data(request, "projects")
        changes = {k: attrs[k] for k in ("name", "description") if k in attrs}
        if "name" in changes:
            _required_str(attrs, "name")
        _optional(attrs, "description", str)
        project_id = request.params["project_id"]
        try:
            self.store.update_project(project_id, **changes)
        except KeyError as exc:
            raise self._not_found(exc) from None
        return api_response(200, {"data": self.store.get_project(project_id)})

    def delete_projects(self, request: Request) -> Response:
        """``POST /v1/projects/delete`` (unknown ids are ignored)."""
        _, attrs = _data(request, "projects")
        for project_id in _id_list(attrs, "project_ids"):
            if project_id in self.store.project_ids():
                self.store.delete_project(project_id)
        return _no_content()

    # datasets ---------------------------------------------------------------------------------

    def list_datasets(self, request: Request) -> Response:
        """``GET /v1/{project_id}/datasets``."""
        limit = _limit(request, DEFAULT_PAGE_LIMIT)
        try:
            items = self.store.list_datasets(
                request.params["project_id"],
                _id_set(request, "filter[id]"),
                _text(request, "filter[name]"),
            )
        except KeyError as exc:
            raise self._not_found(exc) from None
        scope = f"datasets:{request.params['project_id']}"
        page, after = cursor_page(
            items, _created_key, scope, _text(request, "page[cursor]"), limit, True
        )
        return api_response(200, {"data": page, "meta": {"after": after}})

    def _dataset_path(self, request: Request) -> str:
        """Check the path's project and dataset; returns the dataset id."""
        dataset_id = request.params["dataset_id"]
        try:
            self.store.check_dataset(request.params["project_id"], dataset_id)
        except KeyError as exc:
            raise self._not_found(exc) from None
        return dataset_id

    def create_dataset(self, request: Request) -> Response:
        """``POST /v1/{project_id}/datasets`` (201)."""
        _, attrs = _data(request, "datasets")
        name = _required_str(attrs, "name")
        description = _optional(attrs, "description", str)
        metadata = _optional(attrs, "metadata", dict)
        try:
            dataset_id = self.store.create_dataset(
                request.params["project_id"], name, description, metadata
            )
        except KeyError as exc:
            raise self._not_found(exc) from None
        except ConflictError as exc:
            raise BadRequest(str(exc)) from None
        return api_response(201, {"data": self._dataset_resource(dataset_id)})

    def _dataset_resource(self, dataset_id: str) -> dict[str, Any]:
        resource = self.store.get_dataset(dataset_id)
        resource.pop("project_id")
        return resource

    def update_dataset(self, request: Request) -> Response:
        """``PATCH /v1/{project_id}/datasets/{dataset_id}``."""
        dataset_id = self._dataset_path(request)
        _, attrs = _data(request, "datasets")
        if "name" in attrs:
            _required_str(attrs, "name")
        _optional(attrs, "description", str)
        _optional(attrs, "metadata", dict)
        changes = {k: attrs[k] for k in ("name", "description", "metadata") if k in attrs}
        self.store.update_dataset(dataset_id, **changes)
        return api_response(200, {"data": self._dataset_resource(dataset_id)})

    def delete_datasets(self, request: Request) -> Response:
        """``POST /v1/{project_id}/datasets/delete`` (404 when an id is not in the project)."""
        project_id = request.params["project_id"]
        if not self.store.has_project(project_id):
            raise NotFound("project not found")
        _, attrs = _data(request, "datasets")
        ids = _id_list(attrs, "dataset_ids")
        known = set(self.store.dataset_ids(project_id))
        missing = [i for i in ids if i not in known]
        if missing:
            raise NotFound(f"dataset {missing[0]} not found")
        for dataset_id in ids:
            self.store.delete_dataset(dataset_id)
        return _no_content()

    # records ----------------------------------------------------------------------------------

    def list_records(self, request: Request) -> Response:
        """``GET .../records`` (``filter[version]`` default current; created_at desc)."""
        dataset_id = self._dataset_path(request)
        limit = _limit(request, DEFAULT_PAGE_LIMIT)
        version = _int_arg(request, "filter[version]", None)
        try:
            keys, revs = self.store.record_listing(
                request.params["project_id"], dataset_id, version
            )
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        scope = f"records:{dataset_id}:{version if version is not None else 'current'}"
        lo, hi, after = keyset_slice(keys, scope, _text(request, "page[cursor]"), limit, True)
        page = [self.store.render_record(dataset_id, rev) for rev in reversed(revs[lo:hi])]
        return api_response(200, {"data": page, "meta": {"after": after}})

    @staticmethod
    def _mutation(records: list[dict[str, Any]]) -> dict[str, Any]:
        return {"data": [{"records": records}]}

    @staticmethod
    def _record_items(attrs: dict[str, Any], name: str, need_id: bool) -> list[dict[str, Any]]:
        items = attrs.get(name)
        if not isinstance(items, list):
            raise BadRequest(f"data.attributes.{name} must be a list")
        for index, item in enumerate(items):
            where = f"data.attributes.{name}[{index}]"
            if not isinstance(item, dict):
                raise BadRequest(f"{where} must be an object")
            if need_id and (not isinstance(item.get("id"), str) or not item["id"]):
                raise BadRequest(f"{where}.id is required")
            if not need_id and "input" not in item:
                raise BadRequest(f"{where}.input is required")
            if item.get("metadata") is not None and not isinstance(item["metadata"], dict):
                raise BadRequest(f"{where}.metadata must be an object")
        return items

    def _apply_batch(self, dataset_id: str, **kwargs: Any) -> list[dict[str, Any]]:
        try:
            return self.store.batch_update(dataset_id, **kwargs)
        except KeyError as exc:
            raise self._not_found(exc) from None
        except ConflictError as exc:
            raise BadRequest(str(exc)) from None

    def create_records(self, request: Request) -> Response:
        """``POST .../records``: append records (a new version); 201."""
        dataset_id = self._dataset_path(request)
        _, attrs = _data(request, "records")
        items = self._record_items(attrs, "records", need_id=False)
        if not items:
            raise BadRequest("data.attributes.records must not be empty")
        if bool(attrs.get("deduplicate")):
            live = self.store.list_records(request.params["project_id"], dataset_id)
            seen = {orjson.dumps([r["input"], r["expected_output"]]) for r in live}
            kept = []
            for item in items:
                fingerprint = orjson.dumps([item.get("input"), item.get("expected_output")])
                if fingerprint not in seen:
                    seen.add(fingerprint)
                    kept.append(item)
            items = kept
        inserts = [
            {k: item.get(k) for k in ("input", "expected_output", "metadata")} for item in items
        ]
        records = self._apply_batch(dataset_id, insert=inserts)
        return api_response(201, self._mutation(records))

    def update_records(self, request: Request) -> Response:
        """``PATCH .../records``: update records by id (a new version)."""
        dataset_id = self._dataset_path(request)
        _, attrs = _data(request, "records")
        items = self._record_items(attrs, "records", need_id=True)
        if not items:
            raise BadRequest("data.attributes.records must not be empty")
        updates = [
            {k: v for k, v in item.items() if k in ("id", "input", "expected_output", "metadata")}
            for item in items
        ]
        return api_response(200, self._mutation(self._apply_batch(dataset_id, update=updates)))

    def delete_records(self, request: Request) -> Response:
        """``POST .../records/delete`` (204; 404 when a record does not exist)."""
        dataset_id = self._dataset_path(request)
        _, attrs = _data(request, "records")
        self._apply_batch(dataset_id, delete=_id_list(attrs, "record_ids"))
        return _no_content()

    def batch_update(self, request: Request) -> Response:
        """``POST .../batch_update``: insert, update and delete in one new version."""
        dataset_id = self._dataset_path(request)
        data, attrs = _data(request, "datasets")
        if data.get("id") not in (None, dataset_id):
            raise BadRequest("data.id must be the dataset id of the path")
        inserts = (
            self._record_items(attrs, "insert_records", False) if "insert_records" in attrs else []
        )
        updates = (
            self._record_items(attrs, "update_records", True) if "update_records" in attrs else []
        )
        deletes = (
            _id_list(attrs, "delete_records", allow_empty=True) if "delete_records" in attrs else []
        )
        if len(inserts) + len(updates) + len(deletes) > MAX_BATCH_ITEMS:
            raise TooLarge(f"a batch update holds at most {MAX_BATCH_ITEMS} records")
        new_version = attrs.get("create_new_version", True)
        if not isinstance(new_version, bool):
            raise BadRequest("data.attributes.create_new_version must be a boolean")
        records = self._apply_batch(
            dataset_id,
            insert=inserts,
            update=updates,
            delete=deletes,
            create_new_version=new_version,
        )
        return api_response(200, self._mutation(records))

    def clone_dataset(self, request: Request) -> Response:
        """``POST .../clone``: a new dataset with the current records."""
        dataset_id = self._dataset_path(request)
        _, attrs = _data(request, "datasets")
        name = _required_str(attrs, "name")
        try:
            new_id = self.store.clone_dataset(
                dataset_id, name, _optional(attrs, "description", str)
            )
        except ConflictError as exc:
            raise BadRequest(str(exc)) from None
        return api_response(200, {"data": self._dataset_resource(new_id)})

    def restore_version(self, request: Request) -> Response:
        """``POST .../restore``: a new current version holding an earlier version's records."""
        dataset_id = self._dataset_path(request)
        _, attrs = _data(request, "datasets")
        version = attrs.get("dataset_version")
        if _bad_int(version):
            raise BadRequest("data.attributes.dataset_version must be an integer")
        try:
            self.store.restore_version(dataset_id, version)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return api_response(200, {"data": self._dataset_resource(dataset_id)})

    def list_versions(self, request: Request) -> Response:
        """``GET .../versions`` (unpaginated)."""
        dataset_id = self._dataset_path(request)
        data = self.store.list_versions(request.params["project_id"], dataset_id)
        return api_response(200, {"data": data})

    def export_dataset(self, request: Request) -> Response:
        """``GET .../export?format=csv&version=N``: one CSV row per record."""
        dataset_id = self._dataset_path(request)
        fmt = _text(request, "format") or "csv"
        if fmt != "csv":
            raise BadRequest("format must be one of csv")
        version = _int_arg(request, "version", None)
        try:
            records = self.store.list_records(request.params["project_id"], dataset_id, version)
        except ValueError as exc:
            raise BadRequest(str(exc).replace("filter[version]", "version")) from None
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        columns = ("id", "input", "expected_output", "metadata", "created_at", "updated_at")
        writer.writerow(columns)
        for record in records:
            writer.writerow(
                [
                    value if isinstance(value, str) else orjson.dumps(value).decode()
                    for value in (record[c] for c in columns)
                ]
            )
        return Response(status=200, body=out.getvalue().encode(), content_type="text/csv")

    # draft state ------------------------------------------------------------------------------

    def get_draft_state(self, request: Request) -> Response:
        """``GET .../draft_state`` (unlocked: ``user`` and ``drafting_since`` are null)."""
        dataset_id = self._dataset_path(request)
        return api_response(200, {"data": self.store.draft_state(dataset_id)})

    def lock_draft_state(self, request: Request) -> Response:
        """``PATCH .../draft_state/lock``: the caller takes the lock unless another user holds it
        (the answer then names that user)."""
        dataset_id = self._dataset_path(request)
        self.store.lock_dataset(dataset_id, self._caller(request))
        return api_response(200, {"data": self.store.draft_state(dataset_id)})

    def unlock_draft_state(self, request: Request) -> Response:
        """``PATCH .../draft_state/unlock``: releases the caller's lock; never an error."""
        dataset_id = self._dataset_path(request)
        self.store.unlock_dataset(dataset_id, self._caller(request))
        return api_response(200, {"data": self.store.draft_state(dataset_id)})

    # experiments ------------------------------------------------------------------------------

    def _experiment_query(self, request: Request) -> ExperimentQuery:
        project_id = _text(request, "filter[project_id]")
        dataset_id = _text(request, "filter[dataset_id]")
        if project_id is None and dataset_id is None:
            raise BadRequest("filter[project_id] is required unless filter[dataset_id] is given")
        metadata = None
        metadata_text = _text(request, "filter[metadata]")
        if metadata_text is not None:
            try:
                metadata = orjson.loads(metadata_text)
            except orjson.JSONDecodeError:
                raise BadRequest("filter[metadata] must be a JSON object") from None
            if not isinstance(metadata, dict):
                raise BadRequest("filter[metadata] must be a JSON object")
        return ExperimentQuery(
            project_id=project_id,
            dataset_id=dataset_id,
            ids=_id_set(request, "filter[id]"),
            name=_text(request, "filter[name]"),
            experiment=_text(request, "filter[experiment]"),
            metadata=metadata,
            parent_ids=_id_set(request, "filter[parent_experiment_id]"),
            is_deleted=_bool(request, "filter[is_deleted]"),
            include_user_data=_bool(request, "include[user_data]"),
            include_dataset_names=_bool(request, "include[dataset_names]"),
        )

    def list_experiments(self, request: Request) -> Response:
        """``GET /v1/experiments`` (created_at desc; page[limit] default and maximum 5000)."""
        limit = _limit(request, EXPERIMENT_PAGE_LIMIT)
        items = self.store.list_experiments(self._experiment_query(request))
        page, after = cursor_page(
            items, _created_key, "experiments", _text(request, "page[cursor]"), limit, True
        )
        return api_response(200, {"data": page, "meta": {"after": after}})

    def create_experiment(self, request: Request) -> Response:
        """``POST /v1/experiments`` (201, status ``running``)."""
        _, attrs = _data(request, "experiments")
        name = _required_str(attrs, "name")
        project_id = _required_str(attrs, "project_id")
        dataset_id = _required_str(attrs, "dataset_id")
        for key in ("config", "metadata"):
            _optional(attrs, key, dict)
        for key in ("description", "parent_experiment_id"):
            _optional(attrs, key, str)
        for key in ("dataset_version", "run_count"):
            if key in attrs and _bad_int(attrs[key]):
                raise BadRequest(f"data.attributes.{key} must be an integer")
        try:
            experiment_id = self.store.create_experiment(
                project_id,
                dataset_id,
                name,
                dataset_version=attrs.get("dataset_version"),
                description=attrs.get("description"),
                parent_experiment_id=attrs.get("parent_experiment_id"),
                config=attrs.get("config"),
                metadata=attrs.get("metadata"),
                run_count=attrs.get("run_count", 1),
                ensure_unique=bool(attrs.get("ensure_unique")),
                author=self._caller(request),
            )
        except KeyError as exc:
            raise self._not_found(exc) from None
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return api_response(201, {"data": self.store.experiment_resource(experiment_id)})

    def update_experiment(self, request: Request) -> Response:
        """``PATCH /v1/experiments/{experiment_id}``."""
        _, attrs = _data(request, "experiments")
        allowed = ("name", "description", "status", "error", "metadata", "dataset_id")
        changes = {k: attrs[k] for k in allowed if k in attrs}
        if "name" in changes:
            _required_str(attrs, "name")
        for key in ("description", "error", "dataset_id"):
            _optional(attrs, key, str)
        _optional(attrs, "metadata", dict)
        if "status" in changes and changes["status"] not in EXPERIMENT_STATUSES:
            raise BadRequest(
                f"data.attributes.status must be one of {', '.join(EXPERIMENT_STATUSES)}"
            )
        experiment_id = request.params["experiment_id"]
        try:
            self.store.update_experiment(experiment_id, **changes)
        except KeyError as exc:
            raise self._not_found(exc) from None
        return api_response(200, {"data": self.store.experiment_resource(experiment_id)})

    def delete_experiments(self, request: Request) -> Response:
        """``POST /v1/experiments/delete``: soft delete (unknown ids are ignored)."""
        _, attrs = _data(request, "experiments")
        for experiment_id in _id_list(attrs, "experiment_ids"):
            if self.store.has_experiment(experiment_id):
                self.store.delete_experiment(experiment_id)
        return _no_content()

    def push_events(self, request: Request) -> Response:
        """``POST /v1/experiments/{experiment_id}/events`` (202)."""
        _, attrs = _data(request, "events")
        spans = attrs.get("spans") or []
        metrics = attrs.get("metrics") or []
        if not isinstance(spans, list) or not isinstance(metrics, list):
            raise BadRequest("data.attributes.spans and metrics must be lists")
        span_fields = ("span_id", "trace_id", "name", "start_ns", "duration", "status")
        for index, span in enumerate(spans):
            if not isinstance(span, dict):
                raise BadRequest(f"data.attributes.spans[{index}] must be an object")
            for key in (*span_fields, "dataset_id", "project_id"):
                if key not in span:
                    raise BadRequest(f"data.attributes.spans[{index}].{key} is required")
            if span["status"] not in ("ok", "error"):
                raise BadRequest(f"data.attributes.spans[{index}].status must be ok or error")
        for index, metric in enumerate(metrics):
            if not isinstance(metric, dict):
                raise BadRequest(f"data.attributes.metrics[{index}] must be an object")
            for key in ("label", "metric_type", "span_id", "timestamp_ms"):
                if key not in metric:
                    raise BadRequest(f"data.attributes.metrics[{index}].{key} is required")
            if metric["metric_type"] not in METRIC_TYPES:
                raise BadRequest(
                    f"data.attributes.metrics[{index}].metric_type must be one of "
                    + ", ".join(METRIC_TYPES)
                )
        try:
            self.store.push_events(request.params["experiment_id"], spans, metrics)
        except KeyError as exc:
            raise self._not_found(exc) from None
        return Response(status=202, body=b"", content_type=None)

    def _events(self, request: Request) -> tuple[list[dict[str, Any]], list[Any]]:
        try:
            return self.store.experiment_events(request.params["experiment_id"])
        except KeyError as exc:
            raise self._not_found(exc) from None

    def events_v3(self, request: Request) -> Response:
        """``GET /v3/experiments/{id}/events``: cursor pages of spans; ``summary_metrics`` on
        every page."""
        limit = _limit(request, EXPERIMENT_PAGE_LIMIT)
        experiment_id = request.params["experiment_id"]
        try:
            keys, spans, summary = self.store.span_listing(experiment_id)
        except KeyError as exc:
            raise self._not_found(exc) from None
        scope = f"events:{experiment_id}"
        lo, hi, after = keyset_slice(keys, scope, _text(request, "page[cursor]"), limit, False)
        data = {
            "id": experiment_id,
            "type": "experiment_events",
            "attributes": {"spans": spans[lo:hi], "summary_metrics": summary},
        }
        # serialized while the store lock is held (see _wrap), so no copy is needed
        return api_response(200, {"data": data, "meta": {"after": after}})

    def events_v2(self, request: Request) -> Response:
        """``GET /v2/experiments/{id}/events`` (deprecated): every span at once."""
        spans, summary = self._events(request)
        data = {
            "id": request.params["experiment_id"],
            "type": "experiment_events",
            "attributes": {"spans": spans, "summary_metrics": summary},
        }
        return api_response(200, {"data": data})

    def events_v1(self, request: Request) -> Response:
        """``GET /v1/experiments/{id}/events`` (deprecated): spans only, type ``experiments``."""
        spans, _ = self._events(request)
        data = [{"id": s["span_id"], "type": "experiments", "attributes": s} for s in spans]
        return api_response(200, {"data": data})

    # annotation queues ------------------------------------------------------------------------

    def list_queues(self, request: Request) -> Response:
        """``GET /v1/annotation-queues[?projectId=|queueIds=]`` (unpaginated)."""
        project_id = _text(request, "projectId")
        queue_ids = _id_set(request, "queueIds")
        if project_id is not None and queue_ids is not None:
            raise BadRequest("projectId and queueIds are mutually exclusive")
        data = self.store.list_queues(project_id, queue_ids, self._caller(request))
        return api_response(200, {"data": data})

    def _queue_resource(self, request: Request, queue_id: str) -> dict[str, Any]:
        return self.store.queue_resource(queue_id, self._caller(request))

    @staticmethod
    def _schemas(attrs: dict[str, Any]) -> list[Any] | None:
        schema = attrs.get("annotation_schema")
        if schema is None:
            return None
        if not isinstance(schema, dict) or not isinstance(schema.get("label_schemas"), list):
            raise BadRequest("data.attributes.annotation_schema.label_schemas must be a list")
        return list(schema["label_schemas"])

    def create_queue(self, request: Request) -> Response:
        """``POST /v1/annotation-queues`` (201; the caller owns the queue)."""
        _, attrs = _data(request, "queues")
        name = _required_str(attrs, "name")
        project_id = _required_str(attrs, "project_id")
        _optional(attrs, "description", str)
        for key in ("restrict_to_assignees", "restrict_to_reviewers"):
            _optional(attrs, key, bool)
        emails = _optional(attrs, "reviewer_emails", list) or []
        try:
            queue_id = self.store.create_queue(
                project_id,
                name,
                description=attrs.get("description") or "",
                label_schemas=self._schemas(attrs) or [],
                restrict_to_assignees=bool(attrs.get("restrict_to_assignees")),
                restrict_to_reviewers=bool(attrs.get("restrict_to_reviewers")),
                reviewer_emails=emails,
                owner=self._caller(request),
            )
        except KeyError as exc:
            raise self._not_found(exc) from None
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return api_response(201, {"data": self._queue_resource(request, queue_id)})

    def update_queue(self, request: Request) -> Response:
        """``PATCH /v1/annotation-queues/{queue_id}`` (bumps ``modified_at``)."""
        _, attrs = _data(request, "queues")
        changes: dict[str, Any] = {}
        if "name" in attrs:
            changes["name"] = _required_str(attrs, "name")
        for key, kind in (
            ("description", str),
            ("restrict_to_assignees", bool),
            ("restrict_to_reviewers", bool),
            ("reviewer_emails", list),
        ):
            if key in attrs:
                changes[key] = _optional(attrs, key, kind)
        schemas = self._schemas(attrs)
        if schemas is not None:
            changes["label_schemas"] = schemas
        queue_id = request.params["queue_id"]
        try:
            self.store.update_queue(queue_id, user=self._caller(request), **changes)
        except KeyError as exc:
            raise self._not_found(exc) from None
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return api_response(200, {"data": self._queue_resource(request, queue_id)})

    def delete_queue(self, request: Request) -> Response:
        """``DELETE /v1/annotation-queues/{queue_id}`` (204)."""
        try:
            self.store.delete_queue(request.params["queue_id"])
        except KeyError as exc:
            raise self._not_found(exc) from None
        return _no_content()

    def _label_schema_body(self, queue_id: str) -> dict[str, Any]:
        try:
            schemas = self.store.label_schema(queue_id)
        except KeyError as exc:
            raise self._not_found(exc) from None
        return {
            "data": {
                "id": queue_id,
                "type": "queues",
                "attributes": {"annotation_schema": {"label_schemas": schemas}},
            }
        }

    def get_label_schema(self, request: Request) -> Response:
        """``GET .../label-schema``."""
        return api_response(200, self._label_schema_body(request.params["queue_id"]))

    def put_label_schema(self, request: Request) -> Response:
        """``PUT .../label-schema``: replace the label schemas (bumps ``modified_at``)."""
        _, attrs = _data(request, "queues")
        schemas = self._schemas(attrs)
        if schemas is None:
            raise BadRequest("data.attributes.annotation_schema is required")
        queue_id = request.params["queue_id"]
        try:
            self.store.set_label_schemas(queue_id, schemas, user=self._caller(request))
        except KeyError as exc:
            raise self._not_found(exc) from None
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return api_response(200, self._label_schema_body(queue_id))

    def annotated_interactions(self, request: Request) -> Response:
        """``GET .../annotated-interactions``: every interaction with its annotations."""
        queue_id = request.params["queue_id"]
        try:
            items = self.store.annotated_interactions(queue_id)
        except KeyError as exc:
            raise self._not_found(exc) from None
        data = {
            "id": queue_id,
            "type": "annotated_interactions",
            "attributes": {"annotated_interactions": items},
        }
        return api_response(200, {"data": data})

    def annotated_interaction(self, request: Request) -> Response:
        """``GET .../annotated-interactions/{interaction_id}?limit=&cursor=``: one interaction and
        a cursor page of its span events (``next_cursor`` absent on the last page)."""
        limit = _int_arg(request, "limit", INTERACTION_EVENTS_LIMIT)
        assert limit is not None
        if limit < 1 or limit > 1000:
            raise BadRequest("limit must be between 1 and 1000")
        queue_id, interaction_id = request.params["queue_id"], request.params["interaction_id"]
        try:
            item = self.store.annotated_interaction(queue_id, interaction_id)
            events = self.store.interaction_events(queue_id, interaction_id)
        except KeyError as exc:
            raise self._not_found(exc) from None
        cursor = _text(request, "cursor")
        start = 0
        if cursor is not None:
            decoded = decode_cursor(f"interaction:{interaction_id}", cursor)
            if not isinstance(decoded[0], int) or decoded[0] < 0:
                raise BadRequest("cursor is not a valid cursor")
            start = decoded[0]
        page = events[start : start + limit]
        attrs: dict[str, Any] = {
            "annotated_interaction": item,
            "interaction_type": item["type"],
            "events": page,
        }
        if start + limit < len(events):
            attrs["next_cursor"] = encode_cursor(f"interaction:{interaction_id}", [start + limit])
        data = {"id": interaction_id, "type": "annotated_interactions", "attributes": attrs}
        return api_response(200, {"data": data})

    def add_interactions(self, request: Request) -> Response:
        """``POST .../interactions`` (201; an existing content id answers ``already_existed``)."""
        _, attrs = _data(request, "interactions")
        items = attrs.get("interactions")
        if not isinstance(items, list) or not items:
            raise BadRequest("data.attributes.interactions must be a non-empty list")
        if any(not isinstance(item, dict) for item in items):
            raise BadRequest("data.attributes.interactions items must be objects")
        queue_id = request.params["queue_id"]
        try:
            added = self.store.add_interactions(queue_id, items)
        except KeyError as exc:
            raise self._not_found(exc) from None
        except ValueError as exc:
            raise BadRequest(f"data.attributes.{exc}") from None
        out = []
        for interaction, existed in added:
            entry: dict[str, Any] = {
                "id": interaction.id,
                "type": interaction.type,
                "content_id": interaction.content_id,
                "already_existed": existed,
            }
            if interaction.type in TRACE_INTERACTION_TYPES:
                entry["created_at"] = iso_us(interaction.created_at)
                entry["modified_at"] = iso_us(interaction.modified_at)
            else:
                entry["display_block"] = interaction.display_block
            out.append(entry)
        data = {"id": queue_id, "type": "interactions", "attributes": {"interactions": out}}
        return api_response(201, {"data": data})

    def remove_interactions(self, request: Request) -> Response:
        """``POST .../interactions/delete`` (204; unknown ids are ignored)."""
        _, attrs = _data(request, "interactions")
        ids = _id_list(attrs, "interaction_ids")
        try:
            self.store.remove_interactions(request.params["queue_id"], ids)
        except KeyError as exc:
            raise self._not_found(exc) from None
        return _no_content()

    def upsert_annotations(self, request: Request) -> Response:
        """``POST .../annotations``: create or update the caller's annotations; per-item errors."""
        _, attrs = _data(request, "annotations")
        items = attrs.get("annotations")
        if not isinstance(items, list) or not items:
            raise BadRequest("data.attributes.annotations must be a non-empty list")
        queue_id = request.params["queue_id"]
        if not self.store.has_queue(queue_id):
            raise NotFound("queue not found")
        caller = self._caller(request)
        saved, errors = [], []
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("interaction_id"), str):
                raise BadRequest(f"data.attributes.annotations[{index}].interaction_id is required")
            values = item.get("label_values")
            if (
                not isinstance(values, list)
                or not values
                or any(not isinstance(v, dict) for v in values)
            ):
                raise BadRequest(
                    f"data.attributes.annotations[{index}].label_values must be a non-empty list"
                )
            try:
                annotation = self.store.upsert_annotation(
                    queue_id, item["interaction_id"], values, user=caller
                )
            except KeyError as exc:
                errors.append({"interaction_id": item["interaction_id"], "error": str(exc.args[0])})
                continue
            except ValueError as exc:
                errors.append({"interaction_id": item["interaction_id"], "error": str(exc)})
                continue
            saved.append(self.store.render_annotation_response(annotation))
        data = {
            "id": queue_id,
            "type": "annotations",
            "attributes": {"annotations": saved, "errors": errors},
        }
        return api_response(200, {"data": data})

    def delete_annotations(self, request: Request) -> Response:
        """``POST .../annotations/delete`` (200 with the deleted ids and per-id errors)."""
        _, attrs = _data(request, "annotations")
        ids = _id_list(attrs, "annotation_ids")
        queue_id = request.params["queue_id"]
        if not self.store.has_queue(queue_id):
            raise NotFound("queue not found")
        deleted, errors = [], []
        for annotation_id in ids:
            try:
                self.store.delete_annotation(queue_id, annotation_id)
                deleted.append(annotation_id)
            except KeyError as exc:
                errors.append({"annotation_id": annotation_id, "error": str(exc.args[0])})
        data = {
            "id": queue_id,
            "type": "annotations",
            "attributes": {"annotation_ids": deleted, "errors": errors},
        }
        return api_response(200, {"data": data})

    def interactions_by_content(self, request: Request) -> Response:
        """``GET /v1/annotated-interactions?contentIds=...&offset=&limit=``."""
        content_ids = _values(request, "contentIds")
        if not content_ids:
            raise BadRequest("contentIds is required")
        offset = _int_arg(request, "offset", 0)
        limit = _int_arg(request, "limit", 100)
        assert offset is not None and limit is not None
        if offset < 0:
            raise BadRequest("offset must be a non-negative integer")
        if limit < 1:
            raise BadRequest("limit must be a positive integer")
        items = self.store.interactions_by_content(content_ids)
        data = {
            "id": encode_cursor("content", sorted(set(content_ids)))[:40],
            "type": "annotated_interactions_by_trace",
            "attributes": {
                "annotated_interactions": items[offset : offset + limit],
                "total_count": len(items),
            },
        }
        return api_response(200, {"data": data})
