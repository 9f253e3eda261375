"""LLM Obs control endpoints under ``/_emulator/llm-obs/`` (no auth, no faults, not logged).

Every write the real API offers is also reachable through the API itself; these endpoints cover
what it cannot do (act as another user, change state without bumping timestamps, simulate a
running experiment) for out-of-process callers such as ``labsync emulate`` users.

* ``GET /_emulator/llm-obs/state``: ids of everything, with dataset versions and draft-lock
  holders, experiment statuses and deletions, queue interactions
* ``GET /_emulator/llm-obs/users``: the generated users
* ``PATCH /_emulator/llm-obs/experiments/{id}``: attrs (optional ``"touch": false``) -> 200
  experiment (with author and dataset name)
* ``POST /_emulator/llm-obs/experiments/{id}/spans``: ``{"count": N}`` -> 201 ``{"span_ids"}``
* ``DELETE /_emulator/llm-obs/experiments/{id}``: soft delete -> 204
* ``PUT /_emulator/llm-obs/datasets/{id}/lock``: ``{"user": <user id or index>}`` -> 200
  ``{"locked": bool}``; ``DELETE`` releases whoever holds it -> 204
* ``POST /_emulator/llm-obs/queues/{id}/annotations``: ``{"interaction_id", "values":
  {label name: value}, "user"?}`` -> 201 ``{"id"}``
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..control import control_error
from ..router import Request, Response, Router, empty_response, json_response
from ..server import request_body
from .data import LLMObsStore

_ID = r"(?P<id>[^/]+)"


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


def register_llm_obs_control(router: Router, store: LLMObsStore) -> None:
    """Add the LLM Obs control routes."""

    def state(_request: Request) -> Response:
        with store.lock:
            datasets = []
            for dataset_id in store.dataset_ids():
                dataset = store.get_dataset(dataset_id)
                draft = store.draft_state(dataset_id)["attributes"]["user"]
                datasets.append(
                    {
                        "id": dataset_id,
                        "project_id": dataset["project_id"],
                        "current_version": dataset["attributes"]["current_version"],
                        "record_ids": store.record_ids(dataset_id),
                        "locked_by": None if draft is None else draft["id"],
                    }
                )
            experiments = [
                {
                    "id": experiment_id,
                    "project_id": resource["attributes"]["project_id"],
                    "status": resource["attributes"]["status"],
                    "deleted": resource["attributes"]["deleted_at"] is not None,
                    "span_count": len(store.span_ids(experiment_id)),
                }
                for experiment_id in store.experiment_ids(include_deleted=True)
                for resource in [store.get_experiment(experiment_id)]
            ]
            queues = [
                {"id": queue_id, "interaction_ids": store.interaction_ids(queue_id)}
                for queue_id in store.queue_ids()
            ]
            payload = {
                "project_ids": store.project_ids(),
                "datasets": datasets,
                "experiments": experiments,
                "queues": queues,
            }
        return json_response(200, payload)

    def users(_request: Request) -> Response:
        return json_response(200, [user.to_wire() for user in store.users])

    def patch_experiment(request: Request) -> Response:
        body = _body(request)
        touch = bool(body.pop("touch", True))
        store.update_experiment(request.params["id"], touch=touch, **body)
        return json_response(200, {"data": store.get_experiment(request.params["id"])})

    def add_spans(request: Request) -> Response:
        count = int(_body(request).get("count", 1))
        if count < 1:
            raise ValueError("count must be >= 1")
        return json_response(201, {"span_ids": store.add_spans(request.params["id"], count)})

    def delete_experiment(request: Request) -> Response:
        store.delete_experiment(request.params["id"])
        return empty_response()

    def lock(request: Request) -> Response:
        user = _body(request).get("user")
        return json_response(200, {"locked": store.lock_dataset(request.params["id"], user)})

    def unlock(request: Request) -> Response:
        store.unlock_dataset(request.params["id"])
        return empty_response()

    def annotate(request: Request) -> Response:
        body = _body(request)
        for key in ("interaction_id", "values"):
            if key not in body:
                raise ValueError(f"{key} is required")
        if not isinstance(body["values"], dict):
            raise ValueError("values must be an object of label name -> value")
        annotation_id = store.add_annotation(
            request.params["id"], str(body["interaction_id"]), body["values"], body.get("user")
        )
        return json_response(201, {"id": annotation_id})

    base = "/_emulator/llm-obs"
    routes: list[tuple[str, str, Callable[[Request], Response]]] = [
        ("GET", f"{base}/state", state),
        ("GET", f"{base}/users", users),
        ("PATCH", f"{base}/experiments/{_ID}", patch_experiment),
        ("POST", f"{base}/experiments/{_ID}/spans", add_spans),
        ("DELETE", f"{base}/experiments/{_ID}", delete_experiment),
        ("PUT", f"{base}/datasets/{_ID}/lock", lock),
        ("DELETE", f"{base}/datasets/{_ID}/lock", unlock),
        ("POST", f"{base}/queues/{_ID}/annotations", annotate),
    ]
    for method, pattern, handler in routes:
        router.add(method, pattern, _guard(handler), None)
