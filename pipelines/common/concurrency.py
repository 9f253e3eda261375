"""Bounded concurrency: fan a function out over many items in a few threads (results in input
order), and read an iterator ahead in a background thread."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

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


_DONE = object()


def read_ahead(items: Iterator[Item], *, depth: int) -> Generator[Item, None, None]:
    """Yield what `items` yields, produced in a background thread at most `depth` items ahead.

    For page listings: the next page is requested and parsed while the caller processes this
    one, so neither waits for the other. An exception in `items` is raised here after the
    items before it; closing this generator stops the producer after the item it is on.
    Only for listings read to the end: an early stop leaves up to `depth` pages fetched for
    nothing.
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()

    def put(entry: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, raised in its thread
            put((_DONE, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    producer = threading.Thread(target=produce, name="read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
