"""Request/response types and a small method + regex router.

Every vendor module (Model Lab, LLM Observability, PostHog) registers an
:class:`ApiGroup` (its path prefix, auth check and rate-limit name) and then its routes in that
group. Routes registered without a group are *control* routes: they skip auth, faults, rate
limiting and the request log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

JSON_CONTENT_TYPE = "application/json"


class Headers(Protocol):
    """Request headers: looked up by name, case-insensitively."""

    def get(self, name: str, default: Any = None) -> Any: ...


@dataclass
class Request:
    """An incoming HTTP request, already parsed.

    Attributes:
        method: Upper-case HTTP method.
        path: Decoded path without the query string.
        query: Query parameters (``parse_qs`` style, blank values kept, original order).
        headers: Request headers (case-insensitive lookups).
        body: Raw request body.
        host: Value of the ``Host`` header (used to build absolute links).
        params: Named groups captured by the route pattern.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes = b""
    host: str = "127.0.0.1"
    params: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """Absolute base URL (scheme + host) the client used to reach us."""
        return f"http://{self.host}"

    def arg(self, name: str) -> str | None:
        """Return the first value of a query parameter, or None when absent."""
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        """Return a request header value (case-insensitive), or None."""
        return self.headers.get(name)

    def json(self) -> Any:
        """Decode the body as JSON (``None`` for an empty body)."""
        if not self.body:
            return None
        return orjson.loads(self.body)


@dataclass
class Response:
    """An HTTP response to send.

    Either ``body`` (bytes, possibly empty) or ``stream`` (an iterator of chunks whose total length
    is ``length``) is used. ``content_type`` None means no Content-Type header (used by 204).
    """

    status: int
    body: bytes = b""
    content_type: str | None = JSON_CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None
    length: int | None = None

    @property
    def content_length(self) -> int:
        """Number of body bytes announced in Content-Length."""
        if self.stream is not None:
            return self.length or 0
        return len(self.body)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """Serialize ``payload`` with orjson into a JSON response."""
    return Response(status=status, body=orjson.dumps(payload), headers=dict(headers or {}))


def empty_response(status: int = 204) -> Response:
    """A response without body and without Content-Type (e.g. 204)."""
    return Response(status=status, body=b"", content_type=None)


Handler = Callable[[Request], Response]
AuthCheck = Callable[[Request], "Response | None"]


@dataclass(frozen=True)
class ApiGroup:
    """A vendor API mounted on the emulator.

    Attributes:
        name: Short vendor name, e.g. ``"model_lab"``.
        prefix: Path prefix of every route in the group, e.g. ``"/api/v2/model-lab-api"``.
        authenticate: Returns an error response when the request is not authorized, else None.
        rate_limit_name: Value of the ``X-RateLimit-Name`` header for this API.
        not_found: Builds the vendor's 404 body for unknown paths under ``prefix``.
        fault: Builds the vendor's answer to an injected 429/5xx fault (kind, rate-limit
            headers); None = the Datadog shape.
    """

    name: str
    prefix: str
    authenticate: AuthCheck
    rate_limit_name: str
    not_found: Callable[[Request], Response]
    fault: Callable[[str, dict[str, str]], Response] | None = None


@dataclass(frozen=True)
class Route:
    """One registered route."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    group: ApiGroup | None


@dataclass(frozen=True)
class Match:
    """Result of routing a request."""

    route: Route | None
    group: ApiGroup | None
    params: dict[str, str]
    method_allowed: bool = True


class Router:
    """Method + regex router shared by all vendor modules and the control API."""

    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._groups: list[ApiGroup] = []

    @property
    def groups(self) -> tuple[ApiGroup, ...]:
        """The registered API groups."""
        return tuple(self._groups)

    def add_group(self, group: ApiGroup) -> ApiGroup:
        """Register a vendor API group."""
        self._groups.append(group)
        return group

    def add(self, method: str, pattern: str, handler: Handler, group: ApiGroup | None) -> None:
        """Register a route.

        Args:
            method: HTTP method.
            pattern: Regular expression for the path; it is prefixed with ``group.prefix`` and
                anchored at both ends. Use named groups for path parameters.
            handler: Callable producing the response.
            group: Owning API group, or None for a control route.
        """
        prefix = re.escape(group.prefix) if group is not None else ""
        compiled = re.compile(f"^{prefix}{pattern}$")
        self._routes.append(Route(method.upper(), compiled, handler, group))

    def group_for(self, path: str) -> ApiGroup | None:
        """The API group whose prefix covers ``path``."""
        for group in self._groups:
            if path == group.prefix or path.startswith(group.prefix + "/"):
                return group
        return None

    def match(self, method: str, path: str) -> Match:
        """Find the route for ``method`` and ``path``."""
        path_matched = False
        for route in self._routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return Match(route, route.group, found.groupdict())
            path_matched = True
        return Match(None, self.group_for(path), {}, method_allowed=not path_matched)
