"""The statistics hold their promises on simulated experiments.

A/A experiments (no effect) must come out significant at the nominal rate, and the
sequential test must keep that rate even when read after every day; A/B experiments
with a known effect must be found at the power the normal theory predicts; the
sample-ratio check must fire on a skewed split and almost never on a fair one. Each
rate is checked against its binomial tolerance (a 99.9% interval for the number of
simulations), so a test fails only if the method is wrong, with odds of 1 in 1,000.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower

from vexil.server._stats import Sample, compare, sample_ratio

pytestmark = pytest.mark.slow

EXPERIMENTS = 1000
ALPHA = 0.05


def tolerance(rate: float, runs: int = EXPERIMENTS) -> tuple[float, float]:
    low, high = stats.binom.interval(0.999, runs, rate)
    return low / runs, high / runs


def conversions(rng: np.random.Generator, units: int, rate: float) -> list[Sample]:
    counts = rng.binomial(units, rate, size=EXPERIMENTS)
    return [Sample(units, float(c), float(c)) for c in counts]


def means(rng: np.random.Generator, units: int, mean: float) -> list[Sample]:
    """Samples of a skewed metric (lognormal revenue), summed per experiment."""
    values = rng.lognormal(math.log(mean) - 0.5, 1.0, size=(EXPERIMENTS, units))
    return [
        Sample(units, float(s), float(q))
        for s, q in zip(values.sum(axis=1), (values**2).sum(axis=1), strict=True)
    ]


def rate(control: list[Sample], treatment: list[Sample], *, binary: bool) -> float:
    found = [
        compare(c, t, binary=binary).significant for c, t in zip(control, treatment, strict=True)
    ]
    return sum(found) / len(found)


@pytest.mark.parametrize("binary", [True, False])
def test_a_a_experiments_are_significant_at_the_nominal_rate(binary: bool) -> None:
    rng = np.random.default_rng(1 if binary else 2)
    if binary:
        control, treatment = conversions(rng, 4000, 0.1), conversions(rng, 4000, 0.1)
    else:
        control, treatment = means(rng, 1000, 20.0), means(rng, 1000, 20.0)
    low, high = tolerance(ALPHA)
    assert low <= rate(control, treatment, binary=binary) <= high


def daily(rng: np.random.Generator, days: int, per_day: int, rate: float) -> np.ndarray:
    """Cumulative conversions per experiment and day."""
    return np.cumsum(rng.binomial(per_day, rate, size=(EXPERIMENTS, days)), axis=1)


def ever_significant(days: int, per_day: int, sequential: bool, seed: int) -> float:
    rng = np.random.default_rng(seed)
    a, b = daily(rng, days, per_day, 0.1), daily(rng, days, per_day, 0.1)
    ever = 0
    for run in range(EXPERIMENTS):
        for day in range(days):
            units = per_day * (day + 1)
            ca, cb = float(a[run, day]), float(b[run, day])
            read = compare(
                Sample(units, ca, ca), Sample(units, cb, cb), binary=True, sequential=sequential
            )
            if read.significant:
                ever += 1
                break
    return ever / EXPERIMENTS


def test_sequential_a_a_read_every_day_keeps_the_false_positive_rate() -> None:
    rate = ever_significant(days=21, per_day=300, sequential=True, seed=3)
    assert rate <= tolerance(ALPHA)[1]


def test_fixed_horizon_tests_read_every_day_inflate_it() -> None:
    """Why sequential exists: the same daily looks with a fixed-horizon test."""
    rate = ever_significant(days=21, per_day=300, sequential=False, seed=3)
    assert rate > tolerance(ALPHA)[1]


@pytest.mark.parametrize("planned", [0.5, 0.8])
def test_a_known_effect_is_found_at_the_predicted_power(planned: float) -> None:
    p0, p1 = 0.10, 0.115
    effect = (p1 - p0) / math.sqrt((p0 * (1 - p0) + p1 * (1 - p1)) / 2)
    units = math.ceil(NormalIndPower().solve_power(effect, power=planned, alpha=ALPHA))
    predicted = float(NormalIndPower().power(effect, units, ALPHA))
    rng = np.random.default_rng(4 if planned == 0.5 else 5)
    control, treatment = conversions(rng, units, p0), conversions(rng, units, p1)
    low, high = tolerance(predicted)
    assert low <= rate(control, treatment, binary=True) <= high


def test_the_sample_ratio_check_fires_on_a_skewed_split_not_on_fair_ones() -> None:
    assert sample_ratio([5000, 5400], [50, 50]).mismatch
    assert not sample_ratio([5000, 5050], [50, 50]).mismatch
    rng = np.random.default_rng(6)
    runs = 5000
    fired = sum(
        sample_ratio([int(a), 10_000 - int(a)], [1, 1]).mismatch
        for a in rng.binomial(10_000, 0.5, size=runs)
    )
    assert fired / runs <= tolerance(0.001, runs)[1]
