"""Bayesian read of a difference: a Gaussian posterior with a flat prior.

As GrowthBook's Bayesian engine documents: with a flat prior the posterior of the lift
is normal around the observed lift with its standard error, from which the chance that
the treatment beats control, the expected loss of choosing it and the credible
interval follow in closed form.
"""

from __future__ import annotations

import math

from scipy import stats


def chance_to_win(lift: float, standard_error: float, higher_is_better: bool) -> float:
    """P(the true lift is in the good direction)."""
    if not standard_error > 0 or math.isinf(standard_error):
        return 0.5
    z = lift / standard_error
    return float(stats.norm.cdf(z if higher_is_better else -z))


def expected_loss(lift: float, standard_error: float, higher_is_better: bool) -> float:
    """E[how much worse the treatment is, if it is worse]: E[max(0, -good lift)]."""
    mu = lift if higher_is_better else -lift
    if not standard_error > 0 or math.isinf(standard_error):
        return max(0.0, -mu)
    z = mu / standard_error
    return float(standard_error * stats.norm.pdf(z) - mu * stats.norm.cdf(-z))
