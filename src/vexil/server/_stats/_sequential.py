"""Always-valid confidence intervals: asymptotic confidence sequences.

Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas, "Time-uniform central limit theory
and asymptotic confidence sequences" (the method GrowthBook documents for sequential
testing). The interval at every look holds the true effect with the stated confidence
simultaneously for all looks, so looking every day does not inflate false positives;
the price is a wider interval. ``tuning`` is the number of units at which the
sequence is tightest (GrowthBook's default is 5,000).
"""

from __future__ import annotations

import math

from scipy import optimize


def half_width(standard_error: float, units: int, alpha: float, tuning: float) -> float:
    """The half-width of the sequence's interval after ``units`` units in all.

    ``standard_error`` is that of the estimate; ``standard_error**2 * units`` is the
    per-unit variance the sequence is written in.
    """
    if units <= 0 or not math.isfinite(standard_error):
        return math.inf
    log_alpha = -2.0 * math.log(alpha)
    rho2 = (log_alpha + math.log(log_alpha + 1.0)) / tuning
    n = float(units)
    spread = standard_error * math.sqrt(n)
    inner = 2.0 * (n * rho2 + 1.0) / (n * n * rho2) * math.log(math.sqrt(n * rho2 + 1.0) / alpha)
    return spread * math.sqrt(inner)


def p_value(lift: float, standard_error: float, units: int, tuning: float) -> float:
    """The smallest alpha whose sequence excludes 0: an always-valid p-value."""
    if units <= 0 or not standard_error > 0 or not math.isfinite(standard_error):
        return 1.0
    distance = abs(lift)

    def gap(alpha: float) -> float:
        return half_width(standard_error, units, alpha, tuning) - distance

    low, high = 1e-15, 1.0 - 1e-12
    if gap(high) > 0:  # not excluded even at alpha near 1
        return 1.0
    if gap(low) <= 0:
        return low
    return float(optimize.brentq(gap, low, high, xtol=1e-12))
