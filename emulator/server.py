"""Loopback HTTP server: request dispatch, request log, fault injection and rate limiting.

The server is a ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive (every response has a
Content-Length, written with a single ``sendall`` when not streamed). For each request to a
vendor API path the :class:`Dispatcher`:

1. appends a :class:`RequestRecord` to the log and calls the ``on_request`` callback,
2. draws a fault (429 / 5xx / drop answer immediately; slow sleeps; truncate cuts the body),
3. runs the API group's auth check (403),
4. applies the rate limit (429 with ``X-RateLimit-*`` headers),
5. calls the route handler and adds the rate-limit headers.

Control routes (``/_emulator/...``) skip all of that.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from .faults import Fault, FaultInjector
from .ratelimit import RateLimiter
from .router import Request, Response, Router, json_response

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/_emulator"
MAX_LOGGED_REQUESTS = 200_000
_STATUS_LINES = {
    s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode("latin-1") for s in HTTPStatus
}


@dataclass
class RequestRecord:
    """One logged API request.

    ``status`` is 0 until the response is known, and stays 0 for dropped connections.
    ``fault`` is the injected fault kind, if any. ``started_at`` is epoch seconds.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    fault: str | None
    started_at: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly representation."""
        return asdict(self)


RequestCallback = Callable[[RequestRecord], None]


class RequestLog:
    """Thread-safe bounded log of API requests."""

    def __init__(self, maxlen: int = MAX_LOGGED_REQUESTS) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=maxlen)

    def append(self, record: RequestRecord) -> None:
        """Add a record."""
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        """Copy of the records, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()


@dataclass
class Dispatch:
    """What the HTTP handler must send: a response (None = drop the connection)."""

    response: Response | None
    fault: Fault | None = None
    record: RequestRecord | None = None


def _error(status: int, title: str, detail: str) -> Response:
    return json_response(status, {"errors": [{"title": title, "detail": detail}]})


def fault_response(kind: str, headers: dict[str, str]) -> Response:
    """The response for an injected 429 or 5xx fault."""
    if kind == "429":
        return json_response(429, {"errors": ["Too many requests"]}, headers)
    titles = {"500": "Internal Server Error", "502": "Bad Gateway", "503": "Service Unavailable"}
    return _error(int(kind), titles[kind], "injected fault")


class Dispatcher:
    """Routes requests and applies the request log, faults, auth and rate limiting."""

    def __init__(
        self, router: Router, faults: FaultInjector, limiter: RateLimiter, log: RequestLog
    ) -> None:
        self.router = router
        self.faults = faults
        self.limiter = limiter
        self.log = log
        self.callback: RequestCallback | None = None

    def dispatch(self, request: Request) -> Dispatch:
        """Produce the outcome for one request."""
        match = self.router.match(request.method, request.path)
        if match.route is not None and match.route.group is None:
            request.params = match.params
            return Dispatch(self._call(match.route.handler, request))
        if request.path == CONTROL_PREFIX or request.path.startswith(CONTROL_PREFIX + "/"):
            return Dispatch(_error(404, "Not Found", "unknown control endpoint"))

        record = RequestRecord(request.method, request.path, request.query, 0, None, time.time())
        self.log.append(record)
        callback = self.callback
        if callback is not None:
            try:
                callback(record)
            except Exception:
                logger.exception("on_request callback failed")

        group = match.group
        rate_name = group.rate_limit_name if group is not None else "emulator"
        fault = self.faults.decide(request.path) if group is not None else None
        if fault is not None:
            record.fault = fault.kind
        if fault is not None and fault.kind == "drop":
            return Dispatch(None, fault, record)
        if group is not None and fault is not None and fault.kind not in ("slow", "truncate"):
            vendor_fault = group.fault or fault_response
            response = vendor_fault(fault.kind, self.limiter.injected_headers(rate_name))
            record.status = response.status
            return Dispatch(response, fault, record)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)

        if group is None:
            response = _error(404, "Not Found", "not found")
        else:
            denied = group.authenticate(request)
            if denied is not None:
                response = denied
                response.headers.update(self.limiter.peek(rate_name))
            else:
                decision = self.limiter.acquire(rate_name)
                if not decision.allowed:
                    response = json_response(429, {"errors": ["Too many requests"]})
                elif match.route is not None:
                    request.params = match.params
                    response = self._call(match.route.handler, request)
                elif not match.method_allowed:
                    response = _error(405, "Method Not Allowed", "method not allowed")
                else:
                    response = group.not_found(request)
                response.headers.update(decision.headers)
        record.status = response.status
        return Dispatch(response, fault, record)

    @staticmethod
    def _call(handler: Callable[[Request], Response], request: Request) -> Response:
        try:
            return handler(request)
        except Exception:
            logger.exception("handler failed for %s %s", request.method, request.path)
            return _error(500, "Internal Server Error", "emulator handler error")


_MAX_HEADERS = 100  # the limits http.server applies
_MAX_LINE = 65536


class _Headers(dict[str, str]):
    """Request headers looked up case-insensitively (a repeated header keeps its last value)."""

    def __setitem__(self, name: str, value: str) -> None:
        super().__setitem__(name.lower(), value)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)


class _Handler(BaseHTTPRequestHandler):
    """Parses requests, asks the dispatcher, writes responses (or faults)."""

    protocol_version = "HTTP/1.1"
    server_version = "labsync-emulator"
    disable_nagle_algorithm = True
    timeout = 120
    server: EmulatorHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def parse_request(self) -> bool:
        """The request line and headers of an HTTP/1.x request.

        `http.server` parses headers with the email package, about 0.4 ms a request: a fifth
        of serving a small listing, which made the emulator, not the client, the limit of
        request-heavy syncs. Headers are only ever looked up by name here.
        """
        self.command = None
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.1"  # answer with a status line, then close
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request line {self.requestline!r}")
            return False
        self.command, self.path, self.request_version = words
        headers = _Headers()
        for _ in range(_MAX_HEADERS + 1):
            line = self.rfile.readline(_MAX_LINE + 1)
            if len(line) > _MAX_LINE:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            name, colon, value = line.decode("iso-8859-1").partition(":")
            if colon:
                headers[name.strip()] = value.strip()
        else:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
            return False
        self.headers = headers  # type: ignore[assignment]
        connection = (headers.get("Connection") or "").lower()
        self.close_connection = connection == "close" or (
            self.request_version == "HTTP/1.0" and connection != "keep-alive"
        )
        if (headers.get("Expect") or "").lower() == "100-continue":
            return self.handle_expect_100()
        return True

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        request = Request(
            method=self.command,
            path=unquote(split.path),
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            host=self.headers.get("Host") or f"{self.server.host}:{self.server.port}",
        )
        started = time.perf_counter()
        outcome = self.server.dispatcher.dispatch(request)
        if outcome.response is None:
            self.close_connection = True
            self._abort()
            return
        truncate = outcome.fault is not None and outcome.fault.kind == "truncate"
        self._write(outcome.response, truncate)
        logger.debug(
            "%s %s -> %s (%.1f ms)",
            request.method,
            self.path,
            outcome.response.status,
            (time.perf_counter() - started) * 1000,
        )

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _abort(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _write(self, response: Response, truncate: bool) -> None:
        status = response.status
        lines = [_STATUS_LINES.get(status, f"HTTP/1.1 {status} Unknown\r\n".encode())]
        headers: list[tuple[str, str]] = []
        if status not in (204, 304):
            headers.append(("Content-Length", str(response.content_length)))
        if response.content_type is not None:
            headers.append(("Content-Type", response.content_type))
        headers.extend(response.headers.items())
        if truncate or self.close_connection:
            headers.append(("Connection", "close"))
            self.close_connection = True
        for name, value in headers:
            lines.append(f"{name}: {value}\r\n".encode("latin-1", "replace"))
        lines.append(b"\r\n")
        head = b"".join(lines)
        try:
            if response.stream is None:
                body = response.body
                if truncate:
                    body = body[: len(body) // 2]
                self.wfile.write(head + body)
            else:
                self.wfile.write(head)
                limit = response.content_length // 2 if truncate else response.content_length
                sent = 0
                for chunk in response.stream:
                    if sent + len(chunk) > limit:
                        chunk = chunk[: limit - sent]
                    if chunk:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                    if sent >= limit:
                        break
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if truncate:
            self.wfile.flush()
            self._abort()


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Threading HTTP server that tracks open connections so ``stop`` can close them."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], dispatcher: Dispatcher) -> None:
        super().__init__(address, _Handler)
        self.dispatcher = dispatcher
        self.host, self.port = self.server_address[0], self.server_address[1]
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open client connection (idle keep-alive ones included)."""
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def request_body(request: Request) -> Any:
    """Decode a JSON request body for control endpoints (ValueError on invalid JSON)."""
    try:
        return request.json()
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON body: {exc}") from None


def make_headers(values: dict[str, str]) -> Message:
    """Build a header container (used by in-process callers and tests)."""
    message = Message()
    for name, value in values.items():
        message[name] = value
    return message
