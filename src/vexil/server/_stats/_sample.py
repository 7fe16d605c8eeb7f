"""What the database hands the statistics: one variation's aggregate of one metric."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sample:
    """A variation's contexts on one metric, summed in SQL.

    ``units`` exposed contexts, each counted once; ``total`` the sum of each context's
    value (for a conversion, 1 or 0); ``total_squares`` the sum of the squared values.
    Three numbers are enough for every test here, which is why analysis is one
    aggregate query however many events there are.
    """

    units: int
    total: float
    total_squares: float

    @property
    def mean(self) -> float:
        return self.total / self.units if self.units else 0.0

    @property
    def variance(self) -> float:
        """The sample variance (``n - 1`` in the denominator); 0 below two units."""
        if self.units < 2:
            return 0.0
        spread = self.total_squares - self.total * self.total / self.units
        # Rounding can leave a tiny negative sum for constant values.
        return max(spread, 0.0) / (self.units - 1)

    @property
    def standard_error(self) -> float:
        """The standard error of the mean."""
        return math.sqrt(self.variance / self.units) if self.units else math.inf
