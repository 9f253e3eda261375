"""labsync: dlt sources for ML experiment trackers, synced incrementally into DuckDB."""

from typing import Any


def __getattr__(name: str) -> Any:
    # `from pipelines import search_runs`, without importing pandas for every CLI start
    if name == "search_runs":
        from .search import search_runs

        return search_runs
    raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
