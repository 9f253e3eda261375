"""Unauthenticated control API under ``/_emulator/`` for out-of-process use.

Generic endpoints (vendor modules add their own under ``/_emulator/<vendor>/``):

* ``GET /_emulator/health``: ``{"status": "ok", "base_url", "vendors", "faults", "rate_limit"}``
* ``GET /_emulator/requests``: the request log as a JSON list; ``DELETE`` clears it (204)
* ``PUT /_emulator/faults``: ``{"spec": "429=0.1,seed=3"}`` (``null`` / ``""`` turns random faults
  off), ``{"inject": "500", "times": 2, "path_pattern": "/runs"}``, or ``{"clear": true}``
* ``PUT /_emulator/rate-limit``: ``{"limit": 10, "period": 1}`` or ``null``
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .ratelimit import parse_rate_limit
from .router import Request, Response, Router, empty_response, json_response
from .server import request_body

if TYPE_CHECKING:
    from .core import Emulator


def control_error(status: int, message: str) -> Response:
    """Error body used by every control endpoint."""
    return json_response(status, {"error": message})


def register_control(router: Router, emulator: Emulator) -> None:
    """Add the generic control routes."""

    def health(_request: Request) -> Response:
        return json_response(
            200,
            {
                "status": "ok",
                "base_url": emulator.base_url if emulator.running else None,
                "vendors": [group.name for group in router.groups],
                "faults": emulator.faults.spec,
                "rate_limit": list(emulator.rate_limit) if emulator.rate_limit else None,
            },
        )

    def list_requests(_request: Request) -> Response:
        return json_response(200, [record.to_dict() for record in emulator.requests])

    def clear_requests(_request: Request) -> Response:
        emulator.clear_requests()
        return empty_response()

    def put_faults(request: Request) -> Response:
        try:
            body: Any = request_body(request)
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            if body.get("clear"):
                emulator.faults.clear()
            if "spec" in body:
                emulator.faults.configure(body["spec"])
            if "inject" in body:
                seconds = body.get("seconds")
                emulator.faults.inject(
                    str(body["inject"]),
                    times=int(body.get("times", 1)),
                    path_pattern=body.get("path_pattern"),
                    seconds=None if seconds is None else float(seconds),
                )
        except (ValueError, TypeError) as exc:
            return control_error(400, str(exc))
        return json_response(
            200, {"spec": emulator.faults.spec, "pending": emulator.faults.pending()}
        )

    def put_rate_limit(request: Request) -> Response:
        try:
            body: Any = request_body(request)
            if body is None:
                emulator.rate_limit = None
            elif isinstance(body, dict):
                limit = body.get("limit")
                emulator.rate_limit = None if limit is None else (limit, body.get("period", 1))
            else:
                emulator.rate_limit = parse_rate_limit(body)
        except (ValueError, TypeError) as exc:
            return control_error(400, str(exc))
        spec = emulator.rate_limit
        return json_response(200, {"limit": spec[0], "period": spec[1]} if spec else None)

    router.add("GET", r"/_emulator/health", health, None)
    router.add("GET", r"/_emulator/requests", list_requests, None)
    router.add("DELETE", r"/_emulator/requests", clear_requests, None)
    router.add("PUT", r"/_emulator/faults", put_faults, None)
    router.add("PUT", r"/_emulator/rate-limit", put_rate_limit, None)
