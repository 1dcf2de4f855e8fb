"""What a lead-lag run costs, in one number a budget can bound: grid steps x markets x lags.

Every estimator's work grows with the number of grid steps in the window (the aligned series' length), with the
number of markets read and aligned, and with the lags searched (the cross-correlation and Hayashi-Yoshida grids
are ``±max_lag`` wide). The product is a unit of work, not seconds: it only has to rank requests consistently.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LeadLagCost:
    steps: int
    markets: int
    lags: int

    @property
    def total(self) -> int:
        return self.steps * self.markets * self.lags

    def text(self) -> str:
        return f"{self.total:,} ({self.steps:,} steps x {self.markets} markets x {self.lags} lags)"


def leadlag_cost(*, start_ms: int, end_ms: int, step_ms: int, markets: int, max_lag: int) -> LeadLagCost:
    """The cost of a run over ``[start_ms, end_ms)`` on a grid of ``step_ms``: a partial last step counts whole."""
    if step_ms <= 0:
        raise ValueError("step_ms must be positive")
    steps = max(0, -(-(end_ms - start_ms) // step_ms))
    return LeadLagCost(steps=steps, markets=markets, lags=max_lag)
