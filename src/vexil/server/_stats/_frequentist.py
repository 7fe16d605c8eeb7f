"""Fixed-horizon tests: two proportions (a z test) and Welch's t test for means.

Both use the unpooled standard error of the difference, so that the test and its
confidence interval always agree (the interval excludes 0 exactly when p < alpha).
The relative lift's interval comes from the delta method, as GrowthBook documents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from ._sample import Sample


@dataclass(frozen=True, slots=True)
class Difference:
    """The treatment's mean minus the control's, with what a test needs of it."""

    control: Sample
    treatment: Sample
    binary: bool

    @property
    def lift(self) -> float:
        return self.treatment.mean - self.control.mean

    def _variance(self, sample: Sample) -> float:
        if self.binary:
            # The variance of a proportion p over n units: p(1 - p), the Wald form.
            # Clamped: a "proportion" outside [0, 1] is bad input, not a crash.
            p = sample.mean
            return max(p * (1.0 - p), 0.0)
        return sample.variance

    @property
    def standard_error(self) -> float:
        t, c = self.treatment, self.control
        if t.units == 0 or c.units == 0:
            return math.inf
        return math.sqrt(self._variance(t) / t.units + self._variance(c) / c.units)

    @property
    def degrees_of_freedom(self) -> float:
        """Welch-Satterthwaite; infinite (the normal) for proportions."""
        if self.binary:
            return math.inf
        t, c = self.treatment, self.control
        if t.units < 2 or c.units < 2:
            return math.nan
        a, b = t.variance / t.units, c.variance / c.units
        denominator = a * a / (t.units - 1) + b * b / (c.units - 1)
        return (a + b) ** 2 / denominator if denominator > 0 else math.inf

    def critical(self, confidence: float) -> float:
        """The two-sided critical value at ``confidence``."""
        df = self.degrees_of_freedom
        quantile = 0.5 + confidence / 2.0
        return float(stats.norm.ppf(quantile) if math.isinf(df) else stats.t.ppf(quantile, df))

    def p_value(self) -> float:
        se = self.standard_error
        if not se > 0 or math.isinf(se) or math.isnan(self.degrees_of_freedom):
            return 1.0
        statistic = abs(self.lift) / se
        df = self.degrees_of_freedom
        tail = stats.norm.sf(statistic) if math.isinf(df) else stats.t.sf(statistic, df)
        return float(min(1.0, 2.0 * tail))

    def relative(self) -> tuple[float, float] | None:
        """The relative lift and its standard error (delta method); None if control is 0."""
        c, t = self.control, self.treatment
        if c.units == 0 or t.units == 0 or c.mean == 0:
            return None
        scale = c.mean * c.mean
        if scale == 0.0:  # a mean so close to 0 that its square underflows
            return None
        ratio = t.mean / c.mean
        spread = self._variance(t) / t.units + ratio * ratio * self._variance(c) / c.units
        return ratio - 1.0, math.sqrt(spread / scale)
