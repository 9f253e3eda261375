"""Model Lab HTTP handlers: the 16 endpoints under ``/api/v2/model-lab-api`` and their wire format.

Wire behaviour follows the observed API (see ``datadog.md`` §A and §D): 0-based page numbers,
default page size 25 (maximum 100), ``meta.page`` of type ``number_size``, absolute ``links`` with
raw brackets, optional attributes omitted rather than null (except ``params: null`` and
``metrics: null`` in project facet keys), JSON:API error bodies with ``title: "Generic Error"``.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from ..auth import DatadogKeyAuth
from ..router import ApiGroup, Request, Response, Router, empty_response, json_response
from .data import (
    PROJECT_SORT_KEYS,
    RUN_SORT_KEYS,
    ModelLabStore,
    ParamCondition,
    ProjectQuery,
    RunQuery,
)
from .generator import STATUSES

logger = logging.getLogger(__name__)

PREFIX = "/api/v2/model-lab-api"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
PROJECT_FACET_KEYS_ID = "2"  # the observed id of the org-wide project facet keys document
RUN_FACET_TYPES = ("parameter", "attribute", "tag", "metric")
ARTIFACT_CHUNK = 256 * 1024

_OPS = r">=|<=|!=|>|<|="
_PARAM_RE = re.compile(
    rf"^(?P<key>[^:<>=!]+?)\s*(?::\s*(?P<op1>{_OPS})?|(?P<op2>{_OPS}))\s*(?P<value>.*)$"
)
_LINK_SAFE = ":,-_.~!*'()@/"


class BadRequest(Exception):
    """Raised by handlers to answer 400 with ``detail``."""


class NotFound(Exception):
    """Raised by handlers to answer 404 with ``detail``."""


def error_body(detail: str, title: str = "Generic Error") -> dict[str, Any]:
    """The observed Model Lab JSON:API error body."""
    return {"errors": [{"title": title, "detail": detail}]}


# ------------------------------------------------------------------------------------------
# Query parsing helpers


def _int(text: str, name: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None


def _opt_int(request: Request, name: str) -> int | None:
    value = request.arg(name)
    return None if value is None or value == "" else _int(value, name)


def _required(request: Request, name: str) -> str:
    value = request.arg(name)
    if value is None or value == "":
        raise BadRequest(f"{name} is required")
    return value


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


def _paging(request: Request) -> tuple[int, int]:
    number = _opt_int(request, "page[number]")
    size = _opt_int(request, "page[size]")
    size = DEFAULT_PAGE_SIZE if size is None else size
    number = 0 if number is None else number
    if size < 1 or size > MAX_PAGE_SIZE:
        raise BadRequest(f"page[size] must be between 1 and {MAX_PAGE_SIZE}")
    if number < 0:
        raise BadRequest("page[number] must be a non-negative integer")
    return number, size


def _sort(
    request: Request, allowed: tuple[str, ...], default: tuple[str, bool]
) -> tuple[str, bool]:
    value = request.arg("sort")
    if value is None or value == "":
        return default
    descending = value.startswith("-")
    key = value[1:] if descending else value
    if key not in allowed:
        choices = ", ".join(allowed)
        raise BadRequest(f"sort must be one of {choices}, optionally prefixed with '-'")
    return key, descending


def _joined(request: Request, name: str) -> str | None:
    values = [v for v in request.query.get(name, []) if v != ""]
    return ",".join(values) if values else None


def _tags_filter(request: Request) -> tuple[tuple[str, str | None], ...]:
    text = _joined(request, "filter[tags]")
    if text is None:
        return ()
    out: list[tuple[str, str | None]] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition(":")
        if not key:
            raise BadRequest("filter[tags] must look like key:value,key2:value2")
        out.append((key.strip(), value.strip() if sep else None))
    return tuple(out)


def _params_filter(request: Request) -> tuple[ParamCondition, ...]:
    text = _joined(request, "filter[params]")
    if text is None:
        return ()
    out: list[ParamCondition] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        found = _PARAM_RE.match(item)
        if found is None:
            raise BadRequest("filter[params] must look like key:value,key2:>0.5")
        op = found.group("op1") or found.group("op2") or "="
        out.append(ParamCondition(found.group("key").strip(), op, found.group("value").strip()))
    return tuple(out)


def _link(request: Request, number: int | None, size: int | None) -> str:
    """Absolute link with raw brackets; page params replaced (or kept, when None)."""
    parts: list[str] = []
    for key, values in request.query.items():
        if number is not None and key in ("page[number]", "page[size]"):
            continue
        for value in values:
            parts.append(f"{quote(key, safe='[]')}={quote(value, safe=_LINK_SAFE)}")
    if number is not None:
        parts.append(f"page[number]={number}")
        parts.append(f"page[size]={size}")
    query = "&".join(parts)
    return f"{request.base_url}{request.path}" + (f"?{query}" if query else "")


def _list_body(
    request: Request, data: list[dict[str, Any]], total: int, number: int, size: int
) -> dict[str, Any]:
    last = max(math.ceil(total / size) - 1, 0)
    next_number = number + 1 if number < last else None
    prev_number = number - 1 if number > 0 else None
    links: dict[str, str] = {
        "self": _link(request, None, None),
        "first": _link(request, 0, size),
        "last": _link(request, last, size),
    }
    if next_number is not None:
        links["next"] = _link(request, next_number, size)
    if prev_number is not None:
        links["prev"] = _link(request, prev_number, size)
    return {
        "data": data,
        "links": links,
        "meta": {
            "page": {
                "type": "number_size",
                "number": number,
                "size": size,
                "total": total,
                "first_number": 0,
                "prev_number": prev_number,
                "next_number": next_number,
                "last_number": last,
            }
        },
    }


# ------------------------------------------------------------------------------------------
# Handlers


class ModelLabApi:
    """Registers the Model Lab routes on a router.

    Args:
        store: The data set to serve.
        auth: Datadog key check (also provides the per-user key for stars and pins).
    """

    name = "model_lab"

    def __init__(self, store: ModelLabStore, auth: DatadogKeyAuth) -> None:
        self.store = store
        self.auth = auth

    def register(self, router: Router) -> ApiGroup:
        """Add the API group and its 16 routes."""
        group = router.add_group(
            ApiGroup(
                name=self.name,
                prefix=PREFIX,
                authenticate=self.auth,
                rate_limit_name="model_lab_api",
                not_found=lambda _req: json_response(404, error_body("not found")),
            )
        )
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", r"/projects", self.list_projects),
            ("GET", r"/projects/(?P<project_id>[^/]+)", self.get_project),
            ("GET", r"/project-facet-keys", self.project_facet_keys),
            ("GET", r"/project-facet-values", self.project_facet_values),
            ("POST", r"/projects/(?P<project_id>[^/]+)/star", self.star),
            ("DELETE", r"/projects/(?P<project_id>[^/]+)/star", self.unstar),
            ("GET", r"/runs", self.list_runs),
            ("GET", r"/runs/(?P<run_id>[^/]+)", self.get_run),
            ("DELETE", r"/runs/(?P<run_id>[^/]+)", self.delete_run),
            ("POST", r"/runs/(?P<run_id>[^/]+)/pin", self.pin),
            ("DELETE", r"/runs/(?P<run_id>[^/]+)/pin", self.unpin),
            ("GET", r"/facet-keys", self.run_facet_keys),
            ("GET", r"/facet-values", self.run_facet_values),
            ("GET", r"/runs/(?P<run_id>[^/]+)/artifacts", self.run_artifacts),
            ("GET", r"/projects/(?P<project_id>[^/]+)/artifacts", self.project_artifacts),
            ("GET", r"/artifacts/content", self.artifact_content),
        ]
        for method, pattern, handler in routes:
            router.add(method, pattern, self._wrap(handler), group)
        return group

    @staticmethod
    def _wrap(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def wrapped(request: Request) -> Response:
            try:
                return handler(request)
            except BadRequest as exc:
                return json_response(400, error_body(str(exc)))
            except NotFound as exc:
                return json_response(404, error_body(str(exc)))

        wrapped.__name__ = getattr(handler, "__name__", "handler")
        return wrapped

    # projects -------------------------------------------------------------------------------

    def list_projects(self, request: Request) -> Response:
        """``GET /projects``."""
        number, size = _paging(request)
        key, descending = _sort(request, PROJECT_SORT_KEYS, ("created_at", True))
        owner = request.arg("filter[owner_id]") or None
        if owner is not None:
            try:
                owner = str(uuid.UUID(owner))
            except ValueError:
                raise BadRequest("filter[owner_id] must be a UUID") from None
        query = ProjectQuery(
            sort_key=key,
            descending=descending,
            text=request.arg("filter") or None,
            owner_id=owner,
            tags=_tags_filter(request),
        )
        user = self.auth.user_of(request)
        total, data = self.store.list_projects(query, number * size, size, user)
        return json_response(200, _list_body(request, data, total, number, size))

    def _project_id(self, request: Request) -> int:
        return _int(request.params["project_id"], "project_id")

    def get_project(self, request: Request) -> Response:
        """``GET /projects/{project_id}``."""
        project_id = self._project_id(request)
        try:
            data = self.store.render_project(project_id, self.auth.user_of(request))
        except KeyError:
            raise NotFound("project not found") from None
        return json_response(200, {"data": data})

    def _star(self, request: Request, starred: bool) -> Response:
        project_id = self._project_id(request)
        try:
            self.store.star(self.auth.user_of(request), project_id, starred)
        except KeyError:
            raise NotFound("project not found") from None
        return empty_response()

    def star(self, request: Request) -> Response:
        """``POST /projects/{project_id}/star``."""
        return self._star(request, True)

    def unstar(self, request: Request) -> Response:
        """``DELETE /projects/{project_id}/star``."""
        return self._star(request, False)

    def project_facet_keys(self, request: Request) -> Response:
        """``GET /project-facet-keys``."""
        attrs = self.store.project_facet_keys()
        data = {"id": PROJECT_FACET_KEYS_ID, "type": "facet_keys", "attributes": attrs}
        return json_response(200, {"data": data})

    def project_facet_values(self, request: Request) -> Response:
        """``GET /project-facet-values?facet_type=tag&facet_name=...``."""
        facet_type = _required(request, "facet_type")
        facet_name = _required(request, "facet_name")
        if facet_type != "tag":
            raise BadRequest("facet_type must be one of tag")
        attrs = self.store.project_facet_values(facet_name)
        data = {"id": f"tag:{facet_name}", "type": "facet_values", "attributes": attrs}
        return json_response(200, {"data": data})

    # runs -----------------------------------------------------------------------------------

    def _run_query(self, request: Request) -> RunQuery:
        key, descending = _sort(request, RUN_SORT_KEYS, ("updated_at", True))
        ids_text = _joined(request, "filter[id]")
        ids: tuple[int, ...] | None = None
        if ids_text is not None:
            try:
                ids = tuple(sorted({int(p) for p in ids_text.split(",") if p.strip()}))
            except ValueError:
                raise BadRequest("filter[id] must be a comma-separated list of integers") from None
        status = request.arg("filter[status]") or None
        if status is not None and status not in STATUSES:
            raise BadRequest(f"filter[status] must be one of {', '.join(STATUSES)}")
        parent_text = request.arg("filter[parent_run_id]")
        parent_mode, parent_id = "any", 0
        if parent_text is not None and parent_text != "":
            if parent_text.strip().lower() == "null":
                parent_mode = "root"
            else:
                parent_mode, parent_id = "id", _int(parent_text, "filter[parent_run_id]")
        return RunQuery(
            sort_key=key,
            descending=descending,
            ids=ids,
            text=request.arg("filter") or None,
            owner_id=request.arg("filter[owner_id]") or None,
            status=status,
            project_id=_opt_int(request, "filter[project_id]"),
            tags=_tags_filter(request),
            params=_params_filter(request),
            parent_mode=parent_mode,
            parent_id=parent_id,
            include_pinned=_bool(request, "include_pinned"),
            pinned_first=_bool(request, "pinned_first"),
            include_descendant_matches=_bool(request, "include_descendant_matches"),
        )

    def list_runs(self, request: Request) -> Response:
        """``GET /runs``."""
        number, size = _paging(request)
        query = self._run_query(request)
        user = self.auth.user_of(request)
        total, data = self.store.list_runs(query, number * size, size, user)
        return json_response(200, _list_body(request, data, total, number, size))

    def _run_id(self, request: Request) -> int:
        return _int(request.params["run_id"], "run_id")

    def get_run(self, request: Request) -> Response:
        """``GET /runs/{run_id}``."""
        run_id = self._run_id(request)
        try:
            data = self.store.render_run(run_id, self.auth.user_of(request))
        except KeyError:
            raise NotFound("run not found") from None
        return json_response(200, {"data": data})

    def delete_run(self, request: Request) -> Response:
        """``DELETE /runs/{run_id}`` (hard delete)."""
        run_id = self._run_id(request)
        try:
            self.store.delete_run(run_id)
        except KeyError:
            raise NotFound("run not found") from None
        return empty_response()

    def _pin(self, request: Request, pinned: bool) -> Response:
        run_id = self._run_id(request)
        try:
            self.store.pin(self.auth.user_of(request), run_id, pinned)
        except KeyError:
            raise NotFound("run not found") from None
        return empty_response()

    def pin(self, request: Request) -> Response:
        """``POST /runs/{run_id}/pin``."""
        return self._pin(request, True)

    def unpin(self, request: Request) -> Response:
        """``DELETE /runs/{run_id}/pin``."""
        return self._pin(request, False)

    def run_facet_keys(self, request: Request) -> Response:
        """``GET /facet-keys?filter[project_id]=...``."""
        project_id = _int(_required(request, "filter[project_id]"), "filter[project_id]")
        try:
            attrs = self.store.run_facet_keys(project_id)
        except KeyError:
            raise NotFound("project not found") from None
        data = {"id": str(project_id), "type": "facet_keys", "attributes": attrs}
        return json_response(200, {"data": data})

    def run_facet_values(self, request: Request) -> Response:
        """``GET /facet-values?filter[project_id]=...&facet_type=...&facet_name=...``."""
        project_id = _int(_required(request, "filter[project_id]"), "filter[project_id]")
        facet_type = _required(request, "facet_type")
        facet_name = _required(request, "facet_name")
        if facet_type not in RUN_FACET_TYPES:
            raise BadRequest(f"facet_type must be one of {', '.join(RUN_FACET_TYPES)}")
        try:
            attrs = self.store.run_facet_values(project_id, facet_type, facet_name)
        except KeyError:
            raise NotFound("project not found") from None
        data = {
            "id": f"{facet_type}:{facet_name}:{project_id}",
            "type": "facet_values",
            "attributes": attrs,
        }
        return json_response(200, {"data": data})

    # artifacts ------------------------------------------------------------------------------

    def run_artifacts(self, request: Request) -> Response:
        """``GET /runs/{run_id}/artifacts[?path=dir]`` (one directory level)."""
        run_id = self._run_id(request)
        path = request.arg("path") or ""
        if ".." in path.split("/"):
            raise BadRequest("path must not contain '..'")
        try:
            root, files = self.store.run_artifacts(run_id, path)
        except KeyError:
            raise NotFound("run not found") from None
        data = {
            "id": str(run_id),
            "type": "artifacts",
            "attributes": {"path_in_project": root, "files": files},
        }
        return json_response(200, {"data": data})

    def project_artifacts(self, request: Request) -> Response:
        """``GET /projects/{project_id}/artifacts`` (flat, recursive, unpaginated)."""
        project_id = self._project_id(request)
        try:
            files = self.store.project_artifacts(project_id)
        except KeyError:
            raise NotFound("project not found") from None
        data = {"id": str(project_id), "type": "project_files", "attributes": {"files": files}}
        return json_response(200, {"data": data})

    def artifact_content(self, request: Request) -> Response:
        """``GET /artifacts/content?project_id=...&artifact_path=...`` (raw bytes, streamed)."""
        project_id = _int(_required(request, "project_id"), "project_id")
        artifact_path = _required(request, "artifact_path")
        try:
            size, chunks = self.store.open_artifact(project_id, artifact_path)
        except KeyError:
            raise NotFound("artifact not found") from None
        return Response(
            status=200,
            content_type="application/octet-stream",
            stream=chunks,
            length=size,
        )
