"""Bounded, ordered fan-out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from pipelines.common.concurrency import ordered_map, read_ahead


def test_results_come_in_input_order_with_bounded_parallelism() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.002 * (n % 3))
        with lock:
            running -= 1
        return n * n

    assert list(ordered_map(work, range(20), workers=3)) == [(n, n * n) for n in range(20)]
    assert 1 <= peak <= 3


def test_an_error_surfaces_for_its_item() -> None:
    def work(n: int) -> int:
        if n == 4:
            raise ValueError("item 4")
        return n

    results = []
    with pytest.raises(ValueError, match="item 4"):
        for item, _ in ordered_map(work, range(10), workers=2):
            results.append(item)
    assert results == [0, 1, 2, 3]


def test_read_ahead_yields_everything_in_order_and_stays_bounded() -> None:
    produced: list[int] = []

    def numbers() -> Iterator[int]:
        for n in range(50):
            produced.append(n)
            yield n

    seen = []
    for n in read_ahead(numbers(), depth=3):
        time.sleep(0.001)
        # the producer is never more than the queue depth (+1 in hand) ahead of the consumer
        assert len(produced) - len(seen) <= 3 + 2
        seen.append(n)
    assert seen == list(range(50))


def test_read_ahead_raises_the_producers_error_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("page 3 failed")

    seen = []
    with pytest.raises(RuntimeError, match="page 3 failed"):
        for n in read_ahead(failing(), depth=4):
            seen.append(n)
    assert seen == [1, 2]


def test_closing_read_ahead_stops_the_producer() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                produced.append(n)
                yield n
                n += 1
        finally:
            closed.set()

    pages = read_ahead(endless(), depth=2)
    assert next(pages) == 0
    pages.close()
    assert closed.wait(5), "the producer kept running after the consumer stopped"
    assert len(produced) <= 5
