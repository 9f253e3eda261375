"""The sources labsync syncs, and what the runner hands each of them.

Each source package has a `factory.py` with a `SPEC`: how to tell whether it is configured
and how to build its dlt source for one sync (credentials, settings, reconcile inputs).
Sources never see the destination; they read what they already loaded through `SyncContext`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

import dlt
from dlt.extract.source import DltSource

from .common.stats import SyncStats

logger = logging.getLogger("labsync")


@dataclass
class SyncContext:
    """One source's view of the sync it takes part in."""

    pipeline: dlt.Pipeline
    full_refresh: bool = False
    reconcile: bool = False
    stats: SyncStats = field(default_factory=SyncStats)
    options: Mapping[str, Any] = field(default_factory=dict)

    def loaded_rows(self, table: str, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        """`columns` of a table this source loaded before; empty before its first load."""
        try:
            schema = self.pipeline.default_schema
        except Exception:  # no schema yet: nothing was ever loaded
            return []
        if table not in schema.tables or not schema.tables[table].get("columns"):
            return []
        try:
            return self.pipeline.dataset()[table].select(*columns).fetchall()
        except Exception as exc:  # the schema knows the table but the destination has none yet
            if "does not exist" in str(exc) or "not found" in str(exc).lower():
                return []
            raise


@dataclass(frozen=True)
class SourceSpec:
    """How the runner finds out whether a source is configured and builds it."""

    name: str
    # any of the source's credentials is set: a plain `labsync sync` skips it otherwise
    is_configured: Callable[[], bool]
    # raises ConfigurationError before any request when something is missing or wrong
    build: Callable[[SyncContext], DltSource]
    description: str = ""


# every source, in the order a plain `labsync sync` runs them: `pipelines/<name>/factory.py`
SOURCE_NAMES = ("model_lab", "llm_obs", "posthog")


def registry(names: Sequence[str] | None = None) -> dict[str, SourceSpec]:
    """Every source's spec (or those of `names`), in the order a plain `labsync sync` runs
    them. A source's package is imported only when asked for: a sync of one source does not
    import the others (~80 ms of CPU)."""
    chosen = [name for name in SOURCE_NAMES if names is None or name in names]
    specs = [import_module(f"{__package__}.{name}.factory").SPEC for name in chosen]
    return {spec.name: spec for spec in specs}


def source_names() -> list[str]:
    return list(SOURCE_NAMES)
