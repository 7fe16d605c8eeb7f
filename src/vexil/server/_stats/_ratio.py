"""The sample-ratio mismatch check: were units split as the rollout says?

A chi-squared goodness-of-fit test of the units per variation against the rollout's
weights. A mismatch (by default p < 0.001, the threshold most platforms use) means
the assignment or the exposure logging is broken, and the results should not be
trusted, however good they look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True, slots=True)
class SampleRatio:
    statistic: float
    p_value: float
    expected: tuple[float, ...]
    mismatch: bool


def sample_ratio(
    observed: Sequence[int], weights: Sequence[float], threshold: float = 0.001
) -> SampleRatio:
    """Observed units per variation against ``weights`` (any scale, same order)."""
    if len(observed) != len(weights):
        raise ValueError("one weight per variation")
    total, weight = sum(observed), sum(weights)
    if total == 0 or weight <= 0 or len(observed) < 2:
        return SampleRatio(0.0, 1.0, tuple(0.0 for _ in observed), False)
    expected = [total * w / weight for w in weights]
    shown = tuple(expected)  # in the variations' order, whatever is left out below
    if any(e == 0 for e in expected):
        # A variation weighted 0 that got units is a mismatch by itself.
        stray = any(o > 0 and e == 0 for o, e in zip(observed, expected, strict=True))
        kept = [(o, e) for o, e in zip(observed, expected, strict=True) if e > 0]
        if stray or len(kept) < 2:
            return SampleRatio(float("inf") if stray else 0.0, 0.0 if stray else 1.0, shown, stray)
        observed, expected = [o for o, _ in kept], [e for _, e in kept]
    result = stats.chisquare(observed, expected)
    p = float(result.pvalue)
    return SampleRatio(float(result.statistic), p, shown, p < threshold)
