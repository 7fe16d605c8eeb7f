"""Every statistic against an independent implementation, on the same data.

SciPy and statsmodels compute from raw observations what ``vexil.server._stats``
computes from three sums per variation; they must agree to rounding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats import gof, multitest, proportion

from vexil.server._stats import Correction, Method, Sample, adjust, compare, sample_ratio

RNG = np.random.default_rng(20261205)


def sample_of(values: np.ndarray) -> Sample:
    return Sample(len(values), float(values.sum()), float((values**2).sum()))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_means_match_welchs_t_test(seed: int, confidence: float) -> None:
    rng = np.random.default_rng(seed)
    control = rng.lognormal(1.0, 0.8, size=400 + 37 * seed)
    treatment = rng.lognormal(1.05, 0.9, size=350 + 11 * seed)
    result = compare(sample_of(control), sample_of(treatment), binary=False, confidence=confidence)
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    interval = reference.confidence_interval(confidence)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.absolute_lift == pytest.approx(treatment.mean() - control.mean(), rel=1e-12)
    assert result.absolute_interval == pytest.approx((interval.low, interval.high), rel=1e-9)
    assert result.mean == pytest.approx(treatment.mean(), rel=1e-12)
    assert result.standard_error == pytest.approx(stats.sem(treatment), rel=1e-9)
    assert result.significant == (reference.pvalue < 1 - confidence)


@pytest.mark.parametrize(
    ("control", "treatment"),
    [((120, 1000), (150, 1000)), ((30, 5000), (31, 4800)), ((2, 40), (9, 40))],
)
def test_conversions_match_the_two_proportion_wald_test(
    control: tuple[int, int], treatment: tuple[int, int]
) -> None:
    (c_count, c_units), (t_count, t_units) = control, treatment
    result = compare(
        Sample(c_units, c_count, c_count), Sample(t_units, t_count, t_count), binary=True
    )
    test = proportion.test_proportions_2indep(
        t_count, t_units, c_count, c_units, method="wald", compare="diff"
    )
    low, high = proportion.confint_proportions_2indep(
        t_count, t_units, c_count, c_units, method="wald", compare="diff", alpha=0.05
    )
    assert result.p_value == pytest.approx(test.pvalue, rel=1e-9)
    assert result.absolute_interval == pytest.approx((low, high), rel=1e-9)


def test_the_relative_lift_interval_is_the_delta_method() -> None:
    control = RNG.normal(10.0, 3.0, size=800)
    treatment = RNG.normal(10.6, 3.5, size=900)
    result = compare(sample_of(control), sample_of(treatment), binary=False)
    # The delta method, worked numerically: the gradient of m1 / m0 - 1 at the means.
    m0, m1 = control.mean(), treatment.mean()
    v0, v1 = control.var(ddof=1) / len(control), treatment.var(ddof=1) / len(treatment)
    step = 1e-6
    d0 = ((m1 / (m0 + step) - 1) - (m1 / (m0 - step) - 1)) / (2 * step)
    d1 = (((m1 + step) / m0 - 1) - ((m1 - step) / m0 - 1)) / (2 * step)
    se = math.sqrt(d0 * d0 * v0 + d1 * d1 * v1)
    critical = result.absolute_interval[1] - result.absolute_lift
    critical /= math.sqrt(v0 + v1)
    assert result.relative_lift == pytest.approx(m1 / m0 - 1, rel=1e-12)
    assert result.relative_interval is not None
    low, high = result.relative_interval
    assert (high - low) / 2 == pytest.approx(critical * se, rel=1e-6)


def test_a_control_mean_of_zero_has_no_relative_lift() -> None:
    result = compare(Sample(100, 0, 0), Sample(100, 5, 5), binary=True)
    assert result.relative_lift is None
    assert result.relative_interval is None
    assert result.absolute_lift == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("control", "treatment"),
    [
        (Sample(0, 0, 0), Sample(0, 0, 0)),
        (Sample(1, 1, 1), Sample(1, 0, 0)),
        (Sample(50, 100, 200), Sample(50, 100, 200)),
    ],
)
@pytest.mark.parametrize("method", ["frequentist", "bayesian"])
@pytest.mark.parametrize("sequential", [False, True])
def test_degenerate_samples_are_never_significant_and_never_raise(
    control: Sample, treatment: Sample, method: Method, sequential: bool
) -> None:
    for binary in (True, False):
        result = compare(
            control,
            treatment,
            binary=binary,
            method=method,
            sequential=sequential,
        )
        assert result.significant is False
        assert result.better is None


def test_the_sample_ratio_check_matches_chi_squared_goodness_of_fit() -> None:
    observed, weights = [5000, 5300, 4890], [1, 1, 1]
    result = sample_ratio(observed, weights)
    statistic, p_value = gof.chisquare(observed, [sum(observed) / 3] * 3)
    assert result.statistic == pytest.approx(statistic, rel=1e-9)
    assert result.p_value == pytest.approx(p_value, rel=1e-9)
    assert result.mismatch == bool(p_value < 0.001)


def test_the_sample_ratio_check_reads_uneven_weights() -> None:
    fair = sample_ratio([9020, 980], [90, 10])
    assert not fair.mismatch
    assert fair.expected == pytest.approx((9000.0, 1000.0))
    assert sample_ratio([9300, 700], [0.9, 0.1]).mismatch
    assert sample_ratio([100, 3], [1, 0]).mismatch  # units where the weight is 0
    assert not sample_ratio([0, 0], [1, 1]).mismatch
    unused = sample_ratio([0, 480, 520], [0, 1, 1])  # a variation weighted 0, and empty
    assert not unused.mismatch
    assert unused.expected == pytest.approx((0.0, 500.0, 500.0))


@pytest.mark.parametrize(("ours", "theirs"), [("holm", "holm"), ("benjamini-hochberg", "fdr_bh")])
def test_corrections_match_statsmodels(ours: Correction, theirs: str) -> None:
    for size in (2, 3, 7, 20):
        ps = RNG.uniform(0, 0.2, size=size)
        _, reference, _, _ = multitest.multipletests(ps, method=theirs)
        assert adjust(list(ps), ours) == pytest.approx(list(reference), rel=1e-12)
    assert adjust([0.01, 0.2], "none") == [0.01, 0.2]


def test_bayesian_chance_to_win_and_loss_match_posterior_draws() -> None:
    control, treatment = Sample(2000, 240, 240), Sample(2000, 275, 275)
    result = compare(control, treatment, binary=True, method="bayesian")
    # The posterior of the lift with a flat prior, drawn: each proportion's own normal.
    draws = 400_000
    rng = np.random.default_rng(7)
    p0 = rng.normal(0.12, math.sqrt(0.12 * 0.88 / 2000), draws)
    p1 = rng.normal(0.1375, math.sqrt(0.1375 * 0.8625 / 2000), draws)
    lift = p1 - p0
    win = float((lift > 0).mean())
    loss = float(np.maximum(0, -lift).mean())
    assert result.chance_to_win == pytest.approx(win, abs=4 * math.sqrt(win * (1 - win) / draws))
    assert result.expected_loss == pytest.approx(loss, rel=0.02)
    low, high = np.quantile(lift, [0.025, 0.975])
    assert result.absolute_interval == pytest.approx((low, high), abs=2e-4)
    assert result.p_value is None
    lower_is_better = compare(
        control, treatment, binary=True, method="bayesian", higher_is_better=False
    )
    assert lower_is_better.chance_to_win == pytest.approx(1 - win, abs=0.005)


def test_the_sequential_interval_is_wider_and_agrees_with_its_p_value() -> None:
    control = sample_of(RNG.normal(5.0, 2.0, size=3000))
    treatment = sample_of(RNG.normal(5.12, 2.0, size=3000))
    fixed = compare(control, treatment, binary=False)
    always = compare(control, treatment, binary=False, sequential=True)
    assert always.absolute_interval[0] < fixed.absolute_interval[0]
    assert always.absolute_interval[1] > fixed.absolute_interval[1]
    assert always.p_value is not None
    assert fixed.p_value is not None
    assert always.p_value >= fixed.p_value
    for confidence in (0.8, 0.9, 0.95, 0.99):
        read = compare(control, treatment, binary=False, sequential=True, confidence=confidence)
        low, high = read.absolute_interval
        assert read.p_value is not None
        assert (read.p_value < 1 - confidence) == (low > 0 or high < 0)


values = st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=2, max_size=60)


@settings(max_examples=200, deadline=None)
@given(values, values, st.sampled_from(["frequentist", "bayesian"]), st.booleans())
def test_any_samples_give_sane_answers(
    a: list[float], b: list[float], method: Method, sequential: bool
) -> None:
    control, treatment = sample_of(np.array(a)), sample_of(np.array(b))
    result = compare(control, treatment, binary=False, method=method, sequential=sequential)
    low, high = result.absolute_interval
    assert low <= result.absolute_lift <= high or math.isnan(low)
    if result.p_value is not None:
        assert 0.0 <= result.p_value <= 1.0
    if result.chance_to_win is not None:
        assert 0.0 <= result.chance_to_win <= 1.0
    swapped = compare(treatment, control, binary=False, method=method, sequential=sequential)
    assert swapped.absolute_lift == pytest.approx(-result.absolute_lift, abs=1e-6)
    assert swapped.significant == result.significant
