"""The cost a lead-lag budget bounds: grid steps x markets x lags, exactly."""

from __future__ import annotations

import pytest

from marketdata.core.leadlag.cost import leadlag_cost

DAY = 86_400_000


def test_a_day_of_minutes_on_two_markets_at_five_lags() -> None:
    cost = leadlag_cost(start_ms=0, end_ms=DAY, step_ms=60_000, markets=2, max_lag=5)
    assert (cost.steps, cost.markets, cost.lags, cost.total) == (1440, 2, 5, 14_400)
    assert cost.text() == "14,400 (1,440 steps x 2 markets x 5 lags)"


def test_the_default_budget_admits_a_year_of_minutes_on_three_venues_at_30_lags() -> None:
    year = leadlag_cost(start_ms=0, end_ms=365 * DAY, step_ms=60_000, markets=3, max_lag=30)
    assert year.total == 47_304_000 < 50_000_000


def test_a_partial_last_step_counts_whole_and_an_empty_window_costs_nothing() -> None:
    assert leadlag_cost(start_ms=0, end_ms=60_001, step_ms=60_000, markets=2, max_lag=1).steps == 2
    assert leadlag_cost(start_ms=10, end_ms=10, step_ms=60_000, markets=2, max_lag=1).total == 0
    with pytest.raises(ValueError, match="step_ms must be positive"):
        leadlag_cost(start_ms=0, end_ms=1, step_ms=0, markets=2, max_lag=1)
