"""What the projects and runs resources selected in one sync, for the resources that follow.

Facets and artifact listings are refreshed only for projects and runs that changed, so those
resources must run after `projects` and `runs` have finished selecting rows. dlt interleaves
the generators of a source (round robin); a waiting generator yields None, which dlt reads
as "nothing yet" and moves on to the other resources.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import dlt


class SyncChanges:
    """Changed project and run ids, and which producing resources are finished."""

    def __init__(self) -> None:
        self.project_ids: set[int] = set()  # projects whose own row changed
        self.run_projects: dict[int, int] = {}  # changed run id -> its project id
        # kept only for run artifact walks: a full sync of 1M runs would hold ~100 MiB
        self.record_runs = True
        self._run_project_ids: set[int] = set()  # projects of the changed runs
        self._finished: set[str] = set()

    def add_projects(self, rows: Iterable[dict[str, Any]]) -> None:
        self.project_ids.update(int(row["id"]) for row in rows)

    def add_runs(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            project_id = row.get("attributes", {}).get("project_id")
            if isinstance(project_id, int) and not isinstance(project_id, bool):
                self._run_project_ids.add(project_id)
                if self.record_runs:
                    self.run_projects[int(row["id"])] = project_id

    def changed_projects(self) -> list[int]:
        """Projects whose row changed or that have a run that changed, ascending."""
        return sorted(self.project_ids | self._run_project_ids)

    def finishes(
        self, resource: str
    ) -> Callable[[Callable[..., Iterator[Any]]], Callable[..., Iterator[Any]]]:
        """Decorate a resource generator so waiters learn when it ended (or failed)."""

        def decorate(function: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
            @functools.wraps(function)
            def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
                try:
                    yield from function(*args, **kwargs)
                finally:
                    self._finished.add(resource)

            return wrapper

        return decorate

    def finish(self, resource: str) -> None:
        self._finished.add(resource)

    def wait_for(self, *resources: str) -> Iterator[None]:
        """Yield None until every one of `resources` that is being extracted has finished."""
        selected = set(dlt.current.source().selected_resources)
        while any(name in selected and name not in self._finished for name in resources):
            yield None
