"""Binary downloads with the same retries and pacing as the JSON calls, streamed to disk.

`ApiClient.get_json` holds a whole body in memory; artifact files can be gigabytes. This
subclass streams a body into a partial file beside the destination in fixed-size chunks,
hashing on the way, checks the byte count against `Content-Length`, then renames the file
into place. A retried attempt starts the file over, so a half-written file is never left at
`destination`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from urllib3 import BaseHTTPResponse

from ..common.errors import ApiError
from ..common.http import (
    RETRYABLE_STATUS,
    TRANSIENT_ERRORS,
    ApiClient,
    connection_problem,
    error_detail,
    retry_after_seconds,
)
from ..common.stats import ResourceStats

logger = logging.getLogger("labsync.http")

BINARY_ACCEPT = "application/octet-stream, application/json"


@dataclass(frozen=True)
class DownloadedFile:
    """A file written completely to its destination."""

    path: Path
    size: int
    sha256: str


def partial_path(destination: Path) -> Path:
    """Where a download is written until it is complete."""
    # a suffix no listed file is likely to have: the partial never overwrites a real file
    return destination.with_name(destination.name + ".labsync-partial")


class _Retryable(Exception):
    """A retryable answer; `wait` is how long the API asked us to wait (429), if it said."""

    def __init__(self, problem: str, wait: float | None = None) -> None:
        super().__init__(problem)
        self.wait = wait


class StreamingApiClient(ApiClient):
    """An `ApiClient` that can also stream a binary body to a file."""

    def download(
        self,
        path: str,
        params: Mapping[str, Any],
        destination: Path,
        *,
        stats: ResourceStats,
        chunk_bytes: int,
    ) -> DownloadedFile:
        """GET `path` into `destination`, retrying transient failures like `get_json`."""
        policy = self.policy
        partial = partial_path(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        last_problem = ""
        try:
            unreachable_since: float | None = None
            for attempt in range(1, policy.max_attempts + 1):
                self.check_reachable()
                self._pacer.wait()
                stats.add(requests=1, retries=1 if attempt > 1 else 0)
                wait: float | None = None
                try:
                    size, sha256 = self._attempt(path, params, partial, chunk_bytes, stats)
                    partial.replace(destination)
                    return DownloadedFile(destination, size, sha256)
                except _Retryable as exc:
                    last_problem, wait = str(exc), exc.wait
                except TRANSIENT_ERRORS as exc:
                    last_problem = connection_problem(exc)
                    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
                        unreachable_since = unreachable_since or time.monotonic()
                if wait is None:
                    wait = self.backoff(attempt)
                if unreachable_since is not None:
                    self.give_up_if_unreachable(unreachable_since, wait, attempt, last_problem)
                if attempt == policy.max_attempts:
                    break
                wait = min(wait, policy.max_delay_s)
                self.log_retry(f"download {_describe(path, params)}", last_problem, attempt, wait)
                time.sleep(wait)
        finally:
            partial.unlink(missing_ok=True)
        raise ApiError(
            f"{self.vendor} GET {_describe(path, params)} still failing after "
            f"{policy.max_attempts} attempts: {last_problem}",
            url=self.url(path),
        )

    def _attempt(
        self,
        path: str,
        params: Mapping[str, Any],
        partial: Path,
        chunk_bytes: int,
        stats: ResourceStats,
    ) -> tuple[int, str]:
        """One GET; (size, sha256) once the whole body is in `partial`."""
        url = self.url(path)
        response = self._send(
            "GET",
            path,
            params,
            # identity: Content-Length then counts the bytes written, not a compressed body
            headers={"Accept": BINARY_ACCEPT, "Accept-Encoding": "identity"},
            stream=True,
        )
        try:
            self._pacer.observe(response.headers)
            status = response.status
            if status == 200:
                return _write_body(response, partial, chunk_bytes)
            if status not in RETRYABLE_STATUS:
                raise ApiError(
                    f"{self.vendor} answered {status} for GET {_describe(path, params)}: "
                    f"{error_detail(response)}",
                    status=status,
                    url=url,
                )
            if status != 429:
                raise _Retryable(f"HTTP {status}")
            stats.add(throttled=1)
            wait = retry_after_seconds(response.headers)
            if wait is not None:
                self._pacer.hold(wait)
            raise _Retryable("HTTP 429", wait)
        finally:
            response.release_conn()


def _write_body(response: BaseHTTPResponse, partial: Path, chunk_bytes: int) -> tuple[int, str]:
    declared = response.headers.get("Content-Length")
    digest = hashlib.sha256()
    size = 0
    with partial.open("wb") as handle:
        for chunk in response.stream(chunk_bytes):
            handle.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    # urllib3 enforces Content-Length too; this also covers a body that was not decoded
    if declared is not None and declared.isdigit() and size != int(declared):
        raise _Retryable(f"body ended after {size} of {declared} bytes")
    return size, digest.hexdigest()


def _describe(path: str, params: Mapping[str, Any]) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{path}?{query[:200]}"
