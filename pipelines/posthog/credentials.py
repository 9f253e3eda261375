"""PostHog credentials and endpoint: `[sources.posthog]` settings or PostHog's own env vars."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ..common.config import config_value, require, secret_value
from ..common.errors import ConfigurationError
from .settings import DEFAULT_BASE_URL, INGESTION_HOSTS

logger = logging.getLogger("labsync.posthog")

API_KEY = "sources.posthog.api_key"
API_KEY_ENV = "POSTHOG_PERSONAL_API_KEY"
PROJECT_ID_ENV = "POSTHOG_PROJECT_ID"
HOST_ENV = "POSTHOG_HOST"


@dataclass(frozen=True)
class PosthogCredentials:
    """Where to reach PostHog, which project, and the key. `repr` never shows the key."""

    base_url: str
    project_id: int
    api_key: str

    def __repr__(self) -> str:
        return (
            f"PosthogCredentials(base_url={self.base_url!r}, project_id={self.project_id}, "
            "api_key=***)"
        )

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def posthog_configured() -> bool:
    """Whether a PostHog key is set (a plain sync skips the source otherwise)."""
    return bool(secret_value(API_KEY, API_KEY_ENV))


def _project_id() -> int:
    raw = config_value("sources.posthog.project_id") or os.environ.get(PROJECT_ID_ENV)
    if raw in (None, ""):
        raise ConfigurationError(
            "missing sources.posthog.project_id: set SOURCES__POSTHOG__PROJECT_ID, "
            f"{PROJECT_ID_ENV} or 'project_id' under [sources.posthog] in .dlt/config.toml "
            "(the number in your PostHog URL: /project/<id>/)"
        )
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigurationError(
            f"sources.posthog.project_id (SOURCES__POSTHOG__PROJECT_ID or {PROJECT_ID_ENV}) "
            f"must be a positive integer, got {raw!r}"
        )
    return value


def _base_url() -> str:
    raw = config_value("sources.posthog.base_url") or os.environ.get(HOST_ENV) or DEFAULT_BASE_URL
    url = str(raw).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"sources.posthog.base_url (SOURCES__POSTHOG__BASE_URL or {HOST_ENV}) must be an "
            f"http:// or https:// URL, got {url!r}"
        )
    host = parts.hostname or ""
    if host in INGESTION_HOSTS:
        # the SDKs' capture host serves no private API: use the app host of the same region
        api_host = INGESTION_HOSTS[host]
        logger.info("PostHog host %s only accepts events; reading from %s", host, api_host)
        url = urlunsplit((parts.scheme, api_host, "", "", ""))
    return url


def resolve_credentials() -> PosthogCredentials:
    """Read `[sources.posthog]` (or SOURCES__POSTHOG__*), falling back to POSTHOG_* env vars."""
    api_key = require(secret_value(API_KEY, API_KEY_ENV), API_KEY, API_KEY_ENV).strip()
    if api_key.startswith("phc_"):
        raise ConfigurationError(
            f"{API_KEY} (SOURCES__POSTHOG__API_KEY or {API_KEY_ENV}) holds a project API key "
            "(phc_...), which can only send events: create a personal API key (phx_...) with "
            "the scopes dataset:read, evaluation:read and query:read"
        )
    return PosthogCredentials(base_url=_base_url(), project_id=_project_id(), api_key=api_key)
