"""HTTP transport for vendor APIs: retries, rate-limit handling and proactive pacing.

dlt's `RESTClient` retries 429/5xx before the body is read, so a truncated body or a dropped
connection mid-body escapes its retry, and it has no pacing from `X-RateLimit-Remaining`.
This client retries the whole exchange (request, body, JSON parse) and waits for the window
to reset when the remaining budget is nearly spent, so a sync rarely meets a 429 at all.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import requests

from .errors import ApiError
from .stats import ResourceStats

logger = logging.getLogger("labsync.http")

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
TRANSIENT_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Mirrors dlt's `[runtime] request_*` settings."""

    timeout_s: float = 60.0
    max_attempts: int = 6
    backoff_factor_s: float = 1.0
    max_delay_s: float = 120.0
    # Requests kept in reserve per rate-limit window before pacing pauses until the reset.
    pacing_reserve: int = 2


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


def error_detail(response: requests.Response) -> str:
    """The human part of a JSON:API or plain error body, else a short text excerpt."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:200].strip() or response.reason or ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list):
        parts = [
            e if isinstance(e, str) else str(e.get("detail") or e.get("title") or e) for e in errors
        ]
        return "; ".join(parts)
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:200]


class ApiClient:
    """GETs JSON from one vendor API. Safe to share between threads (one session per thread).

    Secrets live only in the request headers; they never appear in URLs, logs or errors.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        policy: RetryPolicy | None = None,
        vendor: str = "API",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Accept": "application/json", **headers}
        self.policy = policy or RetryPolicy()
        self.vendor = vendor
        self._local = threading.local()
        self._pacer = _Pacer(self.policy.pacing_reserve)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(self._headers)
            # resolve proxies and CA bundle once: with trust_env, requests re-reads the
            # environment and stats netrc files on every request (measurable at 1000s of pages)
            session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
            session.verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            )
            session.trust_env = False
            self._local.session = session
        return session

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    def get_json(
        self, path: str, params: Mapping[str, Any] | None = None, *, stats: ResourceStats
    ) -> Any:
        """GET `path` and return the parsed JSON body, retrying transient failures."""
        url = self.url(path)
        policy = self.policy
        last_problem = ""
        for attempt in range(1, policy.max_attempts + 1):
            self._pacer.wait()
            stats.add(requests=1, retries=1 if attempt > 1 else 0)
            wait: float | None = None
            try:
                response = self._session().get(url, params=params, timeout=policy.timeout_s)
                self._pacer.observe(response.headers)
                if response.status_code == 200:
                    return orjson.loads(response.content)
                if response.status_code not in RETRYABLE_STATUS:
                    raise ApiError(
                        f"{self.vendor} answered {response.status_code} for GET "
                        f"{_describe(path, params)}: {error_detail(response)}",
                        status=response.status_code,
                        url=url,
                    )
                last_problem = f"HTTP {response.status_code}"
                if response.status_code == 429:
                    stats.add(throttled=1)
                    wait = retry_after_seconds(response.headers)
                    if wait is not None:
                        self._pacer.hold(wait)
            except TRANSIENT_ERRORS as exc:
                last_problem = type(exc).__name__
            except orjson.JSONDecodeError:
                last_problem = "truncated or invalid JSON body"
            if attempt == policy.max_attempts:
                break
            if wait is None:
                wait = policy.backoff_factor_s * 2 ** (attempt - 1) * (0.5 + random.random() / 2)
            wait = min(wait, policy.max_delay_s)
            logger.debug(
                "retrying GET %s after %s (attempt %d, waiting %.2fs)",
                _describe(path, params),
                last_problem,
                attempt,
                wait,
            )
            time.sleep(wait)
        raise ApiError(
            f"{self.vendor} GET {_describe(path, params)} still failing after "
            f"{policy.max_attempts} attempts: {last_problem}",
            url=url,
        )


def _describe(path: str, params: Mapping[str, Any] | None) -> str:
    if not params:
        return path
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{path}?{query[:200]}"
