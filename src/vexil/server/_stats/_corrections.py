"""Corrections for testing several variations or metrics at once.

Holm's step-down method controls the family-wise error rate (the chance of any false
positive); Benjamini-Hochberg controls the false discovery rate (the share of false
positives among the results called significant), and is the less conservative.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from scipy import stats

Correction = Literal["none", "holm", "benjamini-hochberg"]


def adjust(p_values: Sequence[float], correction: Correction) -> list[float]:
    """Adjusted p-values, in the order given: compare each with alpha as usual."""
    ps = [float(p) for p in p_values]
    if correction == "none" or len(ps) < 2:
        return ps
    if correction == "benjamini-hochberg":
        return [float(p) for p in stats.false_discovery_control(ps, method="bh")]
    if correction == "holm":
        return _holm(ps)
    raise ValueError(f"unknown correction {correction!r}")


def _holm(ps: list[float]) -> list[float]:
    m = len(ps)
    order = sorted(range(m), key=ps.__getitem__)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        # Step down: the k-th smallest is multiplied by (m - k), kept monotone, capped at 1.
        running = max(running, min(1.0, (m - rank) * ps[index]))
        adjusted[index] = running
    return adjusted
