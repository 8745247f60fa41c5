"""Several frames' inference at once on a CPU, one core each (the object detector's batches, the face pass).

A layer split over several cores waits for the slowest part at every step; frames computed whole, one on
each core, do not (``benchmarks/bench_detector_runtime.py``: ``onnx-batch``). A lone item runs in the
caller's thread, where the caller gives it a session that uses every core, for its latency.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def usable_cores(threads: int | None = None) -> int:
    """``threads`` when given (non-zero), else the cores this process may run on (its CPU affinity)."""
    return threads or len(os.sched_getaffinity(0))


class SideBySide:
    """Maps a function over items in ``workers`` threads (threads are started on first use)."""

    def __init__(self, workers: int, name: str) -> None:
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=name) if self.workers > 1 else None

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``fn`` of each item, in order; in the caller's thread when there is one item or one worker."""
        if self._pool is None or len(items) <= 1:
            return [fn(item) for item in items]
        return list(self._pool.map(fn, items))
