"""Configuration lookups following dlt's conventions: env vars, .dlt/secrets.toml, config.toml."""

from __future__ import annotations

import os
from typing import Any, TypeVar

import dlt

from .errors import ConfigurationError
from .http import RetryPolicy

Number = TypeVar("Number", int, float)


def config_value(key: str, default: Any = None) -> Any:
    """A non-secret value from dlt's providers (`SECTION__KEY` env vars or config.toml)."""
    value = dlt.config.get(key)
    return default if value in (None, "") else value


def secret_value(key: str, *fallback_env: str) -> str | None:
    """A secret from dlt's providers, else from the vendor's own environment variables."""
    value = dlt.secrets.get(key)
    if value not in (None, ""):
        return str(value)
    for name in fallback_env:
        if os.environ.get(name):
            return os.environ[name]
    return None


def require(value: str | None, key: str, *fallback_env: str) -> str:
    """Fail before any request with a message naming every place the key can come from."""
    if value:
        return value
    env_name = key.upper().replace(".", "__")
    alternatives = ", ".join([env_name, *fallback_env])
    section, _, field = key.rpartition(".")
    raise ConfigurationError(
        f"missing {key}: set {alternatives} or '{field}' under [{section}] in .dlt/secrets.toml"
    )


def _number(key: str, default: Number, minimum: Number, kind: type[Number], noun: str) -> Number:
    raw = config_value(key, default)
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{key} must be {noun}, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{key} must be >= {minimum}, got {value}")
    return value


def as_int(key: str, default: int, minimum: int = 0) -> int:
    return _number(key, default, minimum, int, "an integer")


def as_float(key: str, default: float, minimum: float = 0.0) -> float:
    return _number(key, default, minimum, float, "a number")


def retry_policy(pacing_reserve: int = 2) -> RetryPolicy:
    """Retry settings from dlt's `[runtime] request_*` keys, so one place tunes every source."""
    return RetryPolicy(
        timeout_s=as_float("runtime.request_timeout", 60.0, minimum=0.001),
        max_attempts=as_int("runtime.request_max_attempts", 6, minimum=1),
        backoff_factor_s=as_float("runtime.request_backoff_factor", 1.0),
        max_delay_s=as_float("runtime.request_max_retry_delay", 120.0),
        pacing_reserve=pacing_reserve,
    )


def describe_provider_error(exc: Exception) -> str:
    """One line for a `.dlt/*.toml` that dlt could not read: the file, and tomllib's
    line and column of the first error (dlt lists every path it tried)."""
    import tomllib

    paths = getattr(exc, "full_paths", None) or []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                tomllib.load(handle)
        except FileNotFoundError:
            continue
        except tomllib.TOMLDecodeError as parse_error:
            return f"cannot parse {os.path.abspath(path)}: {parse_error}"
        except OSError as read_error:
            return f"cannot read {os.path.abspath(path)}: {read_error.strerror}"
    # not a parse error tomllib sees: dlt's own message, first and last line only
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return " ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else type(exc).__name__
