"""Latency summaries shared by the benchmarks: median, p99 and worst case, in milliseconds."""

from __future__ import annotations

import statistics
from collections.abc import Iterable


def summary_ms(samples: Iterable[float]) -> dict[str, float]:
    """``p50_ms``, ``p99_ms`` and ``max_ms`` of durations given in seconds."""
    ordered = sorted(samples)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000,
        "max_ms": ordered[-1] * 1000,
    }
