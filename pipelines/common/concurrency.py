"""Bounded fan-out: run a function over many items in a few threads, results in input order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def ordered_map(
    function: Callable[[Item], Result], items: Iterable[Item], *, workers: int
) -> Iterator[tuple[Item, Result]]:
    """Yield `(item, function(item))` in input order, with at most `workers` calls running.

    At most `2 * workers` results wait in memory, so a slow consumer (e.g. one building Arrow
    tables) does not let fetched data pile up. An exception in `function` is raised here, for
    the item it belongs to, and the calls not yet started are cancelled.
    """
    workers = max(workers, 1)
    pending: deque[tuple[Item, Future[Result]]] = deque()
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        for item in items:
            pending.append((item, pool.submit(function, item)))
            if len(pending) >= 2 * workers:
                head, future = pending.popleft()
                yield head, future.result()
        while pending:
            head, future = pending.popleft()
            yield head, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
