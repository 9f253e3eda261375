"""PostHog control endpoints under ``/_emulator/posthog/`` (no auth, no faults, not logged).

* ``GET /_emulator/posthog/{datasets|dataset_items|evaluations}``: every row as served,
  soft-deleted ones included (creation order)
* ``POST`` the same: body = fields (``dataset`` required for items) -> 201 ``{"id"}``
* ``GET /…/{id}``: the row; ``PATCH /…/{id}``: body = fields (plus ``"touch": false`` to keep
  ``updated_at``) -> the row; ``DELETE /…/{id}``: soft delete -> 204
* ``GET /_emulator/posthog/evaluation-events?start=&end=``: ``$ai_evaluation`` events in query
  order; ``POST`` it: ``{"evaluation_id", "timestamp"?, "created_at"?, "result"?,
  "applicable"?, "target_event_id"?, "properties"?}`` -> 201 ``{"uuid"}``
* ``GET /_emulator/posthog/generation-events``: ``$ai_generation`` events (targets for runs)
* ``PUT /_emulator/posthog/throttle``: any of ``{"rate_limit", "query_rate_limit",
  "query_concurrency", "queue_seconds"}`` (null = off) -> the active settings
* ``PUT /_emulator/posthog/scopes``: ``{"scopes": ["dataset:read", ...] | null}``
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..control import control_error
from ..router import Request, Response, Router, empty_response, json_response
from ..server import request_body
from .data import PostHogStore
from .throttle import UNSET

_KINDS = {"datasets": "dataset", "dataset_items": "item", "evaluations": "evaluation"}


def _body(request: Request) -> dict[str, Any]:
    body = request_body(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def _guard(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    def wrapped(request: Request) -> Response:
        try:
            return handler(request)
        except KeyError as exc:
            return control_error(404, str(exc.args[0]) if exc.args else "not found")
        except (ValueError, TypeError) as exc:
            return control_error(400, str(exc))

    return wrapped


def _throttle_settings(store: PostHogStore) -> dict[str, Any]:
    throttle = store.throttle
    return {
        "rate_limit": [list(spec) for spec in throttle.crud_limits],
        "query_rate_limit": [list(spec) for spec in throttle.query_limits],
        "query_concurrency": throttle.query_concurrency,
        "queue_seconds": throttle.queue_seconds,
    }


def register_posthog_control(router: Router, store: PostHogStore) -> None:
    """Add the PostHog control routes."""
    base = "/_emulator/posthog"

    def list_rows(request: Request) -> Response:
        kind = _KINDS[request.params["resource"]]
        ids = store.row_ids(kind, include_deleted=True)
        return json_response(200, [store.rendered(kind, row_id) for row_id in ids])

    def create_row(request: Request) -> Response:
        kind = _KINDS[request.params["resource"]]
        body = _body(request)
        if kind == "item":
            if "dataset" not in body:
                raise ValueError("dataset is required")
            row_id = store.add_item(str(body.pop("dataset")), **body)
        elif kind == "dataset":
            if "name" not in body:
                raise ValueError("name is required")
            row_id = store.add_dataset(**body)
        else:
            if "name" not in body:
                raise ValueError("name is required")
            row_id = store.add_evaluation(**body)
        return json_response(201, {"id": row_id})

    def get_row(request: Request) -> Response:
        kind = _KINDS[request.params["resource"]]
        return json_response(200, store.rendered(kind, request.params["id"]))

    def patch_row(request: Request) -> Response:
        kind = _KINDS[request.params["resource"]]
        body = _body(request)
        touch = bool(body.pop("touch", True))
        return json_response(200, store.update_row(kind, request.params["id"], body, touch))

    def delete_row(request: Request) -> Response:
        kind = _KINDS[request.params["resource"]]
        store.update_row(kind, request.params["id"], {"deleted": True})
        return empty_response()

    def list_events(request: Request) -> Response:
        return json_response(200, store.evaluation_events(request.arg("start"), request.arg("end")))

    def add_event(request: Request) -> Response:
        body = _body(request)
        if "evaluation_id" not in body:
            raise ValueError("evaluation_id is required")
        allowed = {"timestamp", "created_at", "result", "applicable", "target_event_id"}
        allowed.add("properties")
        unknown = set(body) - allowed - {"evaluation_id"}
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
        evaluation_id = str(body.pop("evaluation_id"))
        return json_response(201, {"uuid": store.add_evaluation_event(evaluation_id, **body)})

    def list_generations(_request: Request) -> Response:
        return json_response(200, store.generation_events())

    def put_throttle(request: Request) -> Response:
        body = _body(request)
        store.throttle.configure(
            crud=body.get("rate_limit", UNSET),
            query=body.get("query_rate_limit", UNSET),
            query_concurrency=body.get("query_concurrency", UNSET),
            queue_seconds=body.get("queue_seconds"),
        )
        return json_response(200, _throttle_settings(store))

    def put_scopes(request: Request) -> Response:
        body = _body(request)
        if "scopes" not in body:
            raise ValueError("scopes is required (a list of scope strings, or null)")
        scopes = body["scopes"]
        if scopes is not None and (
            not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes)
        ):
            raise ValueError("scopes must be a list of strings or null")
        store.auth.scopes = scopes
        current = store.auth.scopes
        return json_response(200, {"scopes": None if current is None else sorted(current)})

    resource = r"(?P<resource>datasets|dataset_items|evaluations)"
    row_id = r"(?P<id>[^/]+)"
    routes: list[tuple[str, str, Callable[[Request], Response]]] = [
        ("GET", f"{base}/{resource}", list_rows),
        ("POST", f"{base}/{resource}", create_row),
        ("GET", f"{base}/{resource}/{row_id}", get_row),
        ("PATCH", f"{base}/{resource}/{row_id}", patch_row),
        ("DELETE", f"{base}/{resource}/{row_id}", delete_row),
        ("GET", f"{base}/evaluation-events", list_events),
        ("POST", f"{base}/evaluation-events", add_event),
        ("GET", f"{base}/generation-events", list_generations),
        ("PUT", f"{base}/throttle", put_throttle),
        ("PUT", f"{base}/scopes", put_scopes),
    ]
    for method, pattern, handler in routes:
        router.add(method, pattern, _guard(handler), None)
