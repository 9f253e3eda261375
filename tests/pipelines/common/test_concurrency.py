"""Bounded, ordered fan-out."""

from __future__ import annotations

import threading
import time

import pytest

from pipelines.common.concurrency import ordered_map


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
