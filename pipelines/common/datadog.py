"""Datadog credentials and endpoint resolution, shared by every Datadog source."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .config import config_value, require, secret_value
from .errors import ConfigurationError

DEFAULT_SITE = "datadoghq.com"
KNOWN_SITES = frozenset(
    {
        "datadoghq.com",
        "us3.datadoghq.com",
        "us5.datadoghq.com",
        "datadoghq.eu",
        "ap1.datadoghq.com",
        "ap2.datadoghq.com",
        "ddog-gov.com",
        "us2.ddog-gov.com",
        "uk1.datadoghq.com",
    }
)


@dataclass(frozen=True)
class DatadogCredentials:
    """Where to reach Datadog and with which keys. `repr` never shows the keys."""

    base_url: str
    api_key: str
    app_key: str

    def __repr__(self) -> str:
        return f"DatadogCredentials(base_url={self.base_url!r}, api_key=***, app_key=***)"

    def headers(self) -> dict[str, str]:
        return {"DD-API-KEY": self.api_key, "DD-APPLICATION-KEY": self.app_key}


# named in a 401/403: which variables hold the keys Datadog rejected
AUTH_HINT = (
    "check SOURCES__DATADOG__API_KEY (or DD_API_KEY) and SOURCES__DATADOG__APP_KEY (or DD_APP_KEY)"
)


def datadog_configured() -> bool:
    """Whether any Datadog key is set (a source with none is skipped by a plain sync)."""
    return bool(
        secret_value("sources.datadog.api_key", "DD_API_KEY")
        or secret_value("sources.datadog.app_key", "DD_APP_KEY")
    )


def resolve_credentials() -> DatadogCredentials:
    """Read `[sources.datadog]` (or SOURCES__DATADOG__*), falling back to DD_API_KEY etc."""
    api_key = require(
        secret_value("sources.datadog.api_key", "DD_API_KEY"),
        "sources.datadog.api_key",
        "DD_API_KEY",
    )
    app_key = require(
        secret_value("sources.datadog.app_key", "DD_APP_KEY"),
        "sources.datadog.app_key",
        "DD_APP_KEY",
    )
    base_url = config_value("sources.datadog.base_url")
    if not base_url:
        site = config_value("sources.datadog.site") or os.environ.get("DD_SITE") or DEFAULT_SITE
        site = str(site).strip()
        if site not in KNOWN_SITES:
            raise ConfigurationError(
                f"unknown Datadog site {site!r} in SOURCES__DATADOG__SITE/DD_SITE; "
                f"expected one of {', '.join(sorted(KNOWN_SITES))}"
            )
        base_url = f"https://api.{site}"
    base_url = str(base_url).strip()
    if not base_url.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"SOURCES__DATADOG__BASE_URL must start with http:// or https://, got {base_url!r}"
        )
    return DatadogCredentials(base_url=base_url.rstrip("/"), api_key=api_key, app_key=app_key)
