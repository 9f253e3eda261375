"""Model Lab control endpoints under ``/_emulator/model-lab/`` (no auth, no faults).

* ``POST /_emulator/model-lab/runs``: body ``{"project_id": 1, "parent_run_id": null, ...attrs}``
  -> 201 ``{"id": <new run id>}``
* ``GET /_emulator/model-lab/runs/{id}``: the run resource as served (404 when missing)
* ``PATCH /_emulator/model-lab/runs/{id}``: body attrs (optional ``"touch": false``) -> 200 resource
* ``DELETE /_emulator/model-lab/runs/{id}?soft=true|false``: soft or hard (default) delete -> 204
* the same four for ``/_emulator/model-lab/projects`` (POST body: attrs only)
* ``POST /_emulator/model-lab/projects/{id}/artifacts``: body ``{"artifact_path": "...",
  "file_size": 10, "created_at"?: ..., "touch"?: true}`` -> 204; a file outside any run
* ``GET /_emulator/model-lab/run-ids`` / ``project-ids``: every existing id (JSON list, ascending)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..control import control_error
from ..router import Request, Response, Router, empty_response, json_response
from ..server import request_body
from .data import ModelLabStore

_ID = r"(?P<id>\d+)"


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


def _soft(request: Request) -> bool:
    value = (request.arg("soft") or "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise ValueError("soft must be true or false")
    return value in ("true", "1")


def register_model_lab_control(router: Router, store: ModelLabStore) -> None:
    """Add the Model Lab control routes."""

    def create_run(request: Request) -> Response:
        body = _body(request)
        if "project_id" not in body:
            raise ValueError("project_id is required")
        project_id = int(body.pop("project_id"))
        parent = body.pop("parent_run_id", None)
        run_id = store.insert_run(project_id, None if parent is None else int(parent), **body)
        return json_response(201, {"id": run_id})

    def get_run(request: Request) -> Response:
        return json_response(200, {"data": store.get_run(int(request.params["id"]))})

    def patch_run(request: Request) -> Response:
        body = _body(request)
        touch = bool(body.pop("touch", True))
        run_id = int(request.params["id"])
        store.update_run(run_id, touch=touch, **body)
        return json_response(200, {"data": store.get_run(run_id)})

    def delete_run(request: Request) -> Response:
        run_id = int(request.params["id"])
        if _soft(request):
            store.soft_delete_run(run_id)
        else:
            store.delete_run(run_id)
        return empty_response()

    def create_project(request: Request) -> Response:
        return json_response(201, {"id": store.insert_project(**_body(request))})

    def get_project(request: Request) -> Response:
        return json_response(200, {"data": store.get_project(int(request.params["id"]))})

    def patch_project(request: Request) -> Response:
        body = _body(request)
        touch = bool(body.pop("touch", True))
        project_id = int(request.params["id"])
        store.update_project(project_id, touch=touch, **body)
        return json_response(200, {"data": store.get_project(project_id)})

    def delete_project(request: Request) -> Response:
        project_id = int(request.params["id"])
        if _soft(request):
            store.soft_delete_project(project_id)
        else:
            store.delete_project(project_id)
        return empty_response()

    def add_project_file(request: Request) -> Response:
        body = _body(request)
        for name in ("artifact_path", "file_size"):
            if name not in body:
                raise ValueError(f"{name} is required")
        store.add_project_file(
            int(request.params["id"]),
            body["artifact_path"],
            body["file_size"],
            created_at=body.get("created_at"),
            touch=bool(body.get("touch", True)),
        )
        return empty_response()

    def run_ids(_request: Request) -> Response:
        return json_response(200, store.run_ids())

    def project_ids(_request: Request) -> Response:
        return json_response(200, store.project_ids())

    base = "/_emulator/model-lab"
    routes: list[tuple[str, str, Callable[[Request], Response]]] = [
        ("GET", f"{base}/run-ids", run_ids),
        ("GET", f"{base}/project-ids", project_ids),
        ("POST", f"{base}/runs", create_run),
        ("GET", f"{base}/runs/{_ID}", get_run),
        ("PATCH", f"{base}/runs/{_ID}", patch_run),
        ("DELETE", f"{base}/runs/{_ID}", delete_run),
        ("POST", f"{base}/projects", create_project),
        ("GET", f"{base}/projects/{_ID}", get_project),
        ("PATCH", f"{base}/projects/{_ID}", patch_project),
        ("DELETE", f"{base}/projects/{_ID}", delete_project),
        ("POST", f"{base}/projects/{_ID}/artifacts", add_project_file),
    ]
    for method, pattern, handler in routes:
        router.add(method, pattern, _guard(handler), None)
