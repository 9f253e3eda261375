"""HTTP transport for vendor APIs: retries, rate-limit handling and proactive pacing.

dlt's `RESTClient` retries 429/5xx before the body is read, so a truncated body or a dropped
connection mid-body escapes its retry, and it has no pacing from `X-RateLimit-Remaining`.
This client retries the whole exchange (request, body, JSON parse) and waits for the window
to reset when the remaining budget is nearly spent, so a sync rarely meets a 429 at all.

It talks urllib3 directly: a sync makes thousands of small requests, and `requests` spends
about 0.9 ms of CPU per request on top of urllib3 (settings merging, cookies, hooks), which
was a sixth of a full sync's CPU. Proxies and CA bundles are read from the environment once,
as `requests` would per request.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment

import certifi
import orjson
import urllib3
from urllib3 import BaseHTTPResponse

from .errors import ApiError, ConfigurationError
from .stats import ResourceStats

logger = logging.getLogger("labsync.http")

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# connection refused or reset, timeouts, bodies cut short, undecodable bodies, TLS and proxy
# failures: urllib3 raises them unwrapped because its own retries are off
TRANSIENT_ERRORS = (
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.TimeoutError,
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.DecodeError,
    urllib3.exceptions.SSLError,
    urllib3.exceptions.ProxyError,
)
# a refused connection or a name that does not resolve: give up on the host after this long
# (per process, so the next source fails at once), well inside half a minute in total
CONNECT_BUDGET_S = 8.0
CONNECT_TIMEOUT_S = 10.0
UNREACHABLE_MEMORY_S = 60.0
_unreachable: dict[str, tuple[float, str]] = {}  # "host:port" -> (when given up, what failed)
_unreachable_lock = threading.Lock()
# connections kept per host: the widest fan-out (facet, artifact or hierarchy workers) plus
# the listing threads
POOL_CONNECTIONS = 16


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Mirrors dlt's `[runtime] request_*` settings."""

    timeout_s: float = 60.0
    max_attempts: int = 6
    backoff_factor_s: float = 1.0
    max_delay_s: float = 120.0
    # Requests kept in reserve per rate-limit window before pacing pauses until the reset.
    pacing_reserve: int = 2
    # When set, 429 answers do not use up `max_attempts` until this many seconds were spent
    # waiting on them for one request: throttling alone then does not fail a sync.
    throttle_budget_s: float | None = None


class _Pacer:
    """Shared 'not before' gate fed by X-RateLimit-* headers, across threads."""

    def __init__(self, reserve: int) -> None:
        self._reserve = reserve
        self._lock = threading.Lock()
        self._not_before = 0.0

    def wait(self) -> float:
        with self._lock:
            delay = self._not_before - time.monotonic()
        if delay > 0:
            time.sleep(delay)
            return delay
        return 0.0

    def observe(self, headers: Mapping[str, str]) -> None:
        remaining = _int_header(headers, "X-RateLimit-Remaining")
        reset = _float_header(headers, "X-RateLimit-Reset")
        if remaining is None or reset is None or remaining > self._reserve:
            return
        with self._lock:
            self._not_before = max(self._not_before, time.monotonic() + reset)

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._not_before = max(self._not_before, time.monotonic() + seconds)


class _RateWindow:
    """Client-side cap of `limit` requests per sliding `period_s`, across threads.

    For APIs that publish a budget but no `X-RateLimit-*` headers (e.g. PostHog's Query API,
    240/minute): the client waits for a free slot instead of running into 429s.
    """

    def __init__(self, limit: int, period_s: float) -> None:
        self._limit = limit
        self._period = period_s
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()

    def acquire(self) -> float:
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                while self._sent and self._sent[0] <= now - self._period:
                    self._sent.popleft()
                if len(self._sent) < self._limit:
                    self._sent.append(now)
                    return waited
                delay = self._sent[0] + self._period - now
            time.sleep(delay)
            waited += delay


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _float_header(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `Retry-After` (delta or HTTP date) or `X-RateLimit-Reset`."""
    retry_after = headers.get("Retry-After")
    if retry_after:
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(retry_after)
            if parsed is not None:
                return max(parsed.timestamp() - time.time(), 0.0)
    return _float_header(headers, "X-RateLimit-Reset")


def connection_problem(exc: BaseException) -> str:
    """'connection refused', 'name ... does not resolve', ... from urllib3's wrapped error."""
    if isinstance(exc, urllib3.exceptions.NameResolutionError):
        return f"name {getattr(exc, '_host', '')!r} does not resolve"
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return str(cause or exc).split("] ")[-1].lower() or "no connection"
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return "connection timed out"
    return type(exc).__name__


def host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def error_detail(response: BaseHTTPResponse) -> str:
    """The human part of a JSON:API or plain error body, else a short text excerpt."""
    try:
        body = orjson.loads(response.data)
    except orjson.JSONDecodeError:
        text = response.data[:200].decode("utf-8", "replace").strip()
        return text or response.reason or ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list):
        parts = [
            e if isinstance(e, str) else str(e.get("detail") or e.get("title") or e) for e in errors
        ]
        return "; ".join(parts)
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:200]


def pool_manager(base_url: str) -> urllib3.PoolManager:
    """Connection pools for `base_url`, through the proxy and with the CA bundle that the
    environment names (`HTTPS_PROXY`/`NO_PROXY`, `REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE`)."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    tls: dict[str, Any] = {"ca_certs": certifi.where()}
    if bundle:
        tls = {"ca_cert_dir": bundle} if os.path.isdir(bundle) else {"ca_certs": bundle}
    parts = urlsplit(base_url)
    proxies = getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and not proxy_bypass_environment(parts.hostname or ""):
        return urllib3.ProxyManager(proxy, maxsize=POOL_CONNECTIONS, **tls)
    return urllib3.PoolManager(maxsize=POOL_CONNECTIONS, **tls)


class ApiClient:
    """GETs JSON from one vendor API. Safe to share between threads (pools are thread-safe).

    Secrets live only in the request headers; they never appear in URLs, logs or errors.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        policy: RetryPolicy | None = None,
        vendor: str = "API",
        throttle_wait: Callable[[BaseHTTPResponse], float | None] | None = None,
        rate_limits: Sequence[tuple[int, float]] = (),
        auth_hint: str = "",
    ) -> None:
        """`throttle_wait` reads the wait from a 429 body when the headers give none;
        `rate_limits` = [(requests, seconds), ...] caps the request rate on the client side."""
        self.base_url = base_url.rstrip("/")
        self._headers = {
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": "labsync",
            **headers,
        }
        self.policy = policy or RetryPolicy()
        self.vendor = vendor
        self.auth_hint = auth_hint  # where the keys come from, for a 401/403
        self._pools = pool_manager(self.base_url)
        # through a proxy every request goes by absolute URL, so only PoolManager will do
        try:
            self._origin = (
                None
                if isinstance(self._pools, urllib3.ProxyManager)
                else self._pools.connection_from_url(self.base_url)
            )
        except urllib3.exceptions.LocationValueError as exc:
            problem = f"invalid {vendor} base URL {self.base_url!r}: {exc}"
            raise ConfigurationError(problem) from None
        self._base_path = urlsplit(self.base_url).path.rstrip("/")
        self.host = host_port(self.base_url)
        self._pacer = _Pacer(self.policy.pacing_reserve)
        self._throttle_wait = throttle_wait
        self._windows = [_RateWindow(limit, period) for limit, period in rate_limits]

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> BaseHTTPResponse:
        """One exchange, no retries and no redirects; with `stream` the body is left unread
        (the caller reads it and releases the connection)."""
        query = f"?{urlencode(params, doseq=True)}" if params else ""
        options: dict[str, Any] = {
            "body": body,
            "headers": {**self._headers, **headers} if headers else self._headers,
            "timeout": urllib3.Timeout(
                connect=min(self.policy.timeout_s, CONNECT_TIMEOUT_S), read=self.policy.timeout_s
            ),
            "retries": False,
            "redirect": False,
            "preload_content": not stream,
        }
        if self._origin is not None and not path.startswith("http"):
            # the API host's pool directly: skips PoolManager's URL parsing and pool lookup
            target = f"{self._base_path}/{path.lstrip('/')}{query}"
            return self._origin.urlopen(method, target, **options)
        return self._pools.urlopen(method, f"{self.url(path)}{query}", **options)

    def backoff(self, sent: int) -> float:
        """Exponential backoff with jitter after the `sent`-th attempt."""
        return self.policy.backoff_factor_s * 2 ** min(sent - 1, 16) * (0.5 + random.random() / 2)

    def log_retry(
        self, described: str, problem: str, sent: int, wait: float, *, throttled: bool = False
    ) -> None:
        """Retries show as they happen: throttling at INFO, failures at WARNING."""
        logger.log(
            logging.INFO if throttled else logging.WARNING,
            "%s %s: %s (%s, attempt %d); retrying in %.1fs",
            self.vendor,
            self.host,
            problem,
            described,
            sent,
            wait,
        )

    def check_reachable(self) -> None:
        """Fail at once when this process gave up on the host a moment ago."""
        with _unreachable_lock:
            known = _unreachable.get(self.host)
        if known and time.monotonic() - known[0] < UNREACHABLE_MEMORY_S:
            raise ApiError(self._unreachable(known[1]), url=self.base_url)

    def _unreachable(self, detail: str) -> str:
        return f"{self.vendor} API at {self.host} is unreachable: {detail}; check the base URL"

    def give_up_if_unreachable(self, since: float, wait: float, sent: int, problem: str) -> None:
        """Raise once a host that refuses or does not resolve used up `CONNECT_BUDGET_S`."""
        elapsed = time.monotonic() - since
        if elapsed + wait <= CONNECT_BUDGET_S and sent < self.policy.max_attempts:
            return
        detail = f"{problem} ({sent} attempts over {elapsed:.1f}s)"
        with _unreachable_lock:
            _unreachable[self.host] = (time.monotonic(), detail)
        raise ApiError(self._unreachable(detail), url=self.base_url)

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    def get_json(
        self, path: str, params: Mapping[str, Any] | None = None, *, stats: ResourceStats
    ) -> Any:
        """GET `path` and return the parsed JSON body, retrying transient failures."""
        return self._request_json("GET", path, params, None, stats)

    def post_json(self, path: str, body: Any, *, stats: ResourceStats) -> Any:
        """POST a JSON body to a read-only endpoint (e.g. a query API) and return the parsed
        answer, retrying like `get_json` (only safe for requests without side effects)."""
        return self._request_json("POST", path, None, body, stats)

    def _request_json(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        stats: ResourceStats,
    ) -> Any:
        url = self.url(path)
        policy = self.policy
        described = f"{method} {_describe(path, params)}"  # never the body: it may be large
        payload = None if body is None else orjson.dumps(body)
        headers = None if body is None else {"Content-Type": "application/json"}
        last_problem = ""
        attempt = 0  # attempts used up (a budgeted 429 gives its attempt back)
        sent = 0
        throttled_s = 0.0
        unreachable_since: float | None = None
        while attempt < policy.max_attempts:
            attempt += 1
            sent += 1
            self.check_reachable()
            self._pacer.wait()
            for window in self._windows:
                window.acquire()
            stats.add(requests=1, retries=1 if sent > 1 else 0)
            wait: float | None = None
            throttled = False
            try:
                response = self._send(method, path, params, body=payload, headers=headers)
                self._pacer.observe(response.headers)
                if response.status == 200:
                    return orjson.loads(response.data)
                if response.status not in RETRYABLE_STATUS:
                    hint = f"; {self.auth_hint}" if response.status in (401, 403) else ""
                    raise ApiError(
                        f"{self.vendor} answered {response.status} for {described}: "
                        f"{error_detail(response)}{hint}",
                        status=response.status,
                        url=url,
                    )
                last_problem = f"HTTP {response.status}"
                if response.status == 429:
                    throttled = True
                    stats.add(throttled=1)
                    wait = retry_after_seconds(response.headers)
                    if wait is None and self._throttle_wait is not None:
                        wait = self._throttle_wait(response)
                    if wait is not None:
                        self._pacer.hold(wait)
            except TRANSIENT_ERRORS as exc:
                last_problem = connection_problem(exc)
                if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
                    unreachable_since = unreachable_since or time.monotonic()
            except orjson.JSONDecodeError:
                last_problem = "truncated or invalid JSON body"
            if wait is None:
                wait = self.backoff(sent)
            if unreachable_since is not None:
                self.give_up_if_unreachable(unreachable_since, wait, sent, last_problem)
            waited = wait  # a server-given wait is also held by the pacer, beyond the cap
            wait = min(wait, policy.max_delay_s)
            if (
                throttled
                and policy.throttle_budget_s is not None
                and throttled_s + waited <= policy.throttle_budget_s
            ):
                attempt -= 1  # throttling alone does not use up the attempts
                throttled_s += waited
            elif attempt == policy.max_attempts:
                break
            self.log_retry(described, last_problem, sent, wait, throttled=throttled)
            time.sleep(wait)
        raise ApiError(
            f"{self.vendor} {described} still failing after {policy.max_attempts} attempts"
            f"{f' and {throttled_s:.0f}s throttled' if throttled_s else ''}: {last_problem}",
            url=url,
        )


def _describe(path: str, params: Mapping[str, Any] | None) -> str:
    if not params:
        return path
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{path}?{query[:200]}"
