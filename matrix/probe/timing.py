"""Latency as both sides of a cell measure it: a median of a few runs within a small budget."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, List

LATENCY_REPEATS = 5
LATENCY_BUDGET_S = 0.25  # per side; enough for a median of a few runs of a small model


def median_ms(fn: Callable[[], Any]) -> float:
    times: List[float] = []
    deadline = time.perf_counter() + LATENCY_BUDGET_S
    while len(times) < LATENCY_REPEATS and (not times or time.perf_counter() < deadline):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 4)
