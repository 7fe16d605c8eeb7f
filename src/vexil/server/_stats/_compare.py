"""One treatment against control on one metric: the numbers the results page shows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from scipy import stats

from . import _bayesian, _sequential
from ._frequentist import Difference
from ._sample import Sample

Method = Literal["frequentist", "bayesian"]

Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Comparison:
    """The treatment's mean and its lift over control, read one way.

    Intervals are at the comparison's confidence: confidence intervals (frequentist,
    always-valid when sequential) or credible intervals (Bayesian). ``relative_*`` is
    None when the control's mean is 0. ``better`` is None unless ``significant``.
    """

    mean: float
    standard_error: float
    absolute_lift: float
    absolute_interval: Interval
    relative_lift: float | None
    relative_interval: Interval | None
    p_value: float | None
    chance_to_win: float | None
    expected_loss: float | None
    significant: bool
    better: bool | None


def compare(
    control: Sample,
    treatment: Sample,
    *,
    binary: bool,
    method: Method = "frequentist",
    sequential: bool = False,
    confidence: float = 0.95,
    higher_is_better: bool = True,
    sequential_tuning: float = 5000.0,
) -> Comparison:
    """Compare ``treatment`` with ``control``. Never raises for degenerate samples
    (no units, no variance): the comparison is then not significant."""
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    diff = Difference(control, treatment, binary)
    lift, se = diff.lift, diff.standard_error
    relative = diff.relative()
    units = control.units + treatment.units
    degenerate = not (se > 0 and math.isfinite(se)) or math.isnan(diff.degrees_of_freedom)

    def width(error: float) -> float:
        if degenerate:
            return math.inf
        if method == "frequentist" and sequential:
            return _sequential.half_width(error, units, 1.0 - confidence, sequential_tuning)
        if method == "frequentist":
            return diff.critical(confidence) * error
        return float(stats.norm.ppf(0.5 + confidence / 2.0)) * error

    half = width(se)
    absolute = (lift - half, lift + half)
    rel_interval = None
    if relative is not None:
        rel_half = width(relative[1])
        rel_interval = (relative[0] - rel_half, relative[0] + rel_half)

    p_value = chance = loss = None
    if method == "frequentist":
        if degenerate:
            p_value = 1.0
        elif sequential:
            p_value = _sequential.p_value(lift, se, units, sequential_tuning)
        else:
            p_value = diff.p_value()
        significant = p_value < 1.0 - confidence
    else:
        chance = _bayesian.chance_to_win(lift, se, higher_is_better)
        loss = _bayesian.expected_loss(lift, se, higher_is_better)
        significant = not degenerate and (chance >= confidence or chance <= 1.0 - confidence)
    good = (lift > 0) == higher_is_better
    return Comparison(
        mean=treatment.mean,
        standard_error=treatment.standard_error,
        absolute_lift=lift,
        absolute_interval=absolute,
        relative_lift=relative[0] if relative else None,
        relative_interval=rel_interval,
        p_value=p_value,
        chance_to_win=chance,
        expected_loss=loss,
        significant=significant,
        better=(good and lift != 0) if significant else None,
    )
