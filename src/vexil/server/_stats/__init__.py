"""Experiment statistics: aggregates in, results out. A pure module, no I/O.

SQL sums each variation's metric into a :class:`Sample` (units, sum, sum of squares);
:func:`compare` reads a treatment against control (fixed-horizon or sequential
frequentist tests, or a Bayesian posterior), :func:`sample_ratio` checks the split,
:func:`adjust` corrects p-values for several comparisons. The same functions serve the
results page, the API and, later, rollout guardrails. Numerics come from SciPy;
``tests/stats`` checks every statistic against SciPy and statsmodels and by simulation.
"""

from __future__ import annotations

from ._compare import Comparison, Interval, Method, compare
from ._corrections import Correction, adjust
from ._ratio import SampleRatio, sample_ratio
from ._sample import Sample

__all__ = [
    "Comparison",
    "Correction",
    "Interval",
    "Method",
    "Sample",
    "SampleRatio",
    "adjust",
    "compare",
    "sample_ratio",
]
