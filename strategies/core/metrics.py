"""Performance metrics of a return series, and statistics of a strategy's trades: pure, numpy, no Django.

The definitions are empyrical-reloaded's (the tests hold every value to it at 1e-12), with a risk-free rate of 0 and
``periods`` the number of return periods in a year (365 for daily crypto bars, 8760 hourly, 525600 for 1m). With
r the n simple periodic returns and W the wealth, W_0 = 1 before the first return and W_t = (1 + r_1)…(1 + r_t):

- ``sharpe_ratio`` (JSON ``sharpe``): mean(r) / std(r, ddof=1) * √periods. ``None``: n < 2, or every return is 0;
  ±inf: every return equal and not 0 (their sample deviation is exactly 0).
- ``sortino_ratio`` (``sortino``): mean(r) * periods / downside deviation, the downside deviation
  √mean(min(r, 0)²) * √periods taken over all n returns (a gain counts as 0). ``None``: n < 2, or no loss and a
  mean of 0; +inf: no loss and a positive mean.
- ``annual_volatility`` (``annual_volatility``): std(r, ddof=1) * √periods. ``None``: n < 2.
- ``max_drawdown`` (``max_drawdown``): min over t of W_t / max(W_0 … W_t) - 1, ≤ 0 (-0.25: a quarter of the peak
  lost). ``None``: n = 0.
- ``cagr`` (``cagr``): W_n ^ (1 / (n / periods)) - 1, over the number of observations. ``None``: n = 0, or W_n < 0
  (losses beyond the whole stake); +inf when it overflows.
- ``calmar_ratio`` (``calmar``): cagr / |max_drawdown|. ``None``: no drawdown, no cagr, or an infinite ratio.
- ``total_return`` (``total_return``): W_n - 1. ``None``: n = 0.
- ``omega_ratio`` (``omega``): Σ gains / Σ |losses| about the threshold 0 (empyrical annualises a threshold as
  (1 + t)^(1 / periods) - 1, which is 0 for t = 0). ``None``: n < 2, or no loss.
- ``tail_ratio`` (``tail_ratio``): |P95(r)| / |P5(r)|. ``None``: n = 0, or both are 0; +inf: only P5 is 0.
- ``value_at_risk`` (``var_5``): P5(r), a return (negative for a loss). ``None``: n = 0.
- ``stability_of_timeseries`` (``stability``): R² of the least-squares line through the cumulative log returns
  Σ log(1 + r) against 0, 1, …, n - 1. ``None``: n < 2, a return ≤ -1 (no logarithm), or cumulative log returns all
  equal (nothing to fit).

Percentiles interpolate linearly between order statistics (numpy's default, as empyrical). Where empyrical returns
a rounding residue, this module returns the exact value: the ``annual_volatility`` of equal returns is 0 (empyrical:
the residue of their rounded mean, about 1e-16 of the return times sqrt(periods); its Sharpe ratio already zeroes it);
``stability`` of a flat cumulative series (every return after the first 0) is ``None`` (scipy's regression: NaN or 0
as the rounding of the mean falls), and of returns so small that their squares underflow, the R² of their line
(scipy's: 0).

Input returns are finite floats: a NaN or an infinity is refused (``ValueError``) rather than read, because
empyrical's functions disagree on what one means (cumulative returns read NaN as 0, VaR propagates it, CAGR counts it
as an observation) and a period without a return is a 0 return, not a missing one.

These are statistics: floats, never read back into a ledger amount. :func:`trade_statistics` reads the exact
``Decimal`` amounts of a run and only its ratios come out as floats.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# JSON key → field of Metrics, in the order reports list them.
METRIC_KEYS: dict[str, str] = {
    "sharpe": "sharpe_ratio",
    "sortino": "sortino_ratio",
    "annual_volatility": "annual_volatility",
    "max_drawdown": "max_drawdown",
    "cagr": "cagr",
    "calmar": "calmar_ratio",
    "total_return": "total_return",
    "omega": "omega_ratio",
    "tail_ratio": "tail_ratio",
    "var_5": "value_at_risk",
    "stability": "stability_of_timeseries",
}


def returns_array(returns: npt.ArrayLike) -> FloatArray:
    """``returns`` as a 1-D float64 array; ``ValueError`` for another shape, or a NaN or infinite return."""
    array = np.asarray(returns, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"returns must be a one-dimensional series, not an array of shape {array.shape}")
    finite = np.isfinite(array)
    if not finite.all():
        index = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"returns must be finite numbers: return {index} is {array[index]}")
    return array


def returns_from_nav(nav: Sequence[Decimal]) -> FloatArray:
    """Simple returns of a NAV series, nav[t] / nav[t - 1] - 1: n - 1 returns for n points, the first point being the
    starting NAV (the wealth of 1 that drawdowns are anchored at). Each ratio is exact (``Decimal``) then rounded once
    to a float. ``ValueError`` for a non-finite NAV, or a NAV <= 0 with a point after it (no return from nothing)."""
    values = [_finite_decimal(point, "nav") for point in nav]
    for index, point in enumerate(values[:-1]):
        if point <= 0:
            raise ValueError(f"nav[{index}] is {point}: a return after it is undefined")
    return np.array([float(after / before - 1) for before, after in itertools.pairwise(values)], dtype=np.float64)


def _periods_checked(periods: float) -> float:
    if isinstance(periods, bool) or not isinstance(periods, numbers.Real) or not math.isfinite(periods) or periods <= 0:
        raise ValueError(f"periods (return periods in a year) must be a positive number, not {periods!r}")
    return float(periods)


def _defined(value: float | np.floating) -> float | None:
    """NaN (empyrical's "undefined") as ``None``; ±inf stays a float."""
    number = float(value)
    return None if math.isnan(number) else number


def _deviation(r: FloatArray) -> float:
    # Equal returns have a sample deviation of exactly 0; the float mean they are centred on can miss them by an ulp
    # and leave a residue near 1e-18 that would turn an infinite Sharpe into an arbitrary 1e15.
    if r.max() == r.min():
        return 0.0
    return float(r.std(ddof=1))


def sharpe_ratio(returns: npt.ArrayLike, *, periods: float) -> float | None:
    """Annualised Sharpe ratio, rf = 0 (see the module's list)."""
    r, periods = returns_array(returns), _periods_checked(periods)
    if r.size < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return _defined(np.divide(r.mean(), _deviation(r)) * np.sqrt(periods))


def downside_risk(returns: npt.ArrayLike, *, periods: float) -> float | None:
    """Annualised downside deviation below 0 over every return (a gain counts as 0); ``None`` for no returns."""
    r, periods = returns_array(returns), _periods_checked(periods)
    if r.size == 0:
        return None
    return _downside(r, periods)


def _downside(r: FloatArray, periods: float) -> float:
    return float(np.sqrt(np.mean(np.square(np.minimum(r, 0.0)))) * np.sqrt(periods))


def sortino_ratio(returns: npt.ArrayLike, *, periods: float) -> float | None:
    """Annualised Sortino ratio, required return 0 (see the module's list)."""
    r, periods = returns_array(returns), _periods_checked(periods)
    if r.size < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return _defined(np.divide(r.mean() * periods, _downside(r, periods)))


def annual_volatility(returns: npt.ArrayLike, *, periods: float) -> float | None:
    """Sample standard deviation (ddof = 1) * √periods; ``None`` for fewer than two returns."""
    r, periods = returns_array(returns), _periods_checked(periods)
    if r.size < 2:
        return None
    return _deviation(r) * math.sqrt(periods)


def drawdown_series(returns: npt.ArrayLike) -> FloatArray:
    """Each period's drawdown, W_t / max(W_0 … W_t) - 1 with W_0 = 1 before the first return (≤ 0; one per return)."""
    r = returns_array(returns)
    # Wealth in hundredths of the start, as empyrical keeps it, so a drawdown rounds the same way: a drawdown near
    # 1e-9 carries a relative rounding error near 1e-7 in either scale, and the Calmar ratio inherits it.
    start = 100.0
    wealth = np.cumprod(1.0 + r) * start
    peak = np.maximum(np.maximum.accumulate(wealth), start)
    drawdown: FloatArray = (wealth - peak) / peak
    return drawdown


def max_drawdown(returns: npt.ArrayLike) -> float | None:
    """The deepest drawdown, ≤ 0 (-0.25: a quarter of the peak lost); ``None`` for no returns."""
    r = returns_array(returns)
    if r.size == 0:
        return None
    return _defined(drawdown_series(r).min())


def total_return(returns: npt.ArrayLike) -> float | None:
    """Cumulative simple return, W_n - 1; ``None`` for no returns."""
    r = returns_array(returns)
    if r.size == 0:
        return None
    return _defined(np.prod(1.0 + r) - 1.0)


def cagr(returns: npt.ArrayLike, *, periods: float) -> float | None:
    """Compound annual growth over n / periods years (see the module's list)."""
    r, periods = returns_array(returns), _periods_checked(periods)
    if r.size == 0:
        return None
    ending = np.prod(1.0 + r)  # a numpy float: a negative base gives NaN, an overflow inf, not an exception
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _defined(ending ** (1.0 / (r.size / periods)) - 1.0)


def calmar_ratio(returns: npt.ArrayLike, *, periods: float) -> float | None:
    """CAGR over the depth of the maximum drawdown; ``None`` without a drawdown or when infinite."""
    r, periods = returns_array(returns), _periods_checked(periods)
    drawdown = max_drawdown(r)
    growth = cagr(r, periods=periods)
    if drawdown is None or growth is None or not drawdown < 0:
        return None
    ratio = growth / abs(drawdown)
    return None if math.isinf(ratio) else ratio


def omega_ratio(returns: npt.ArrayLike) -> float | None:
    """Sum of the gains over the sum of the losses (threshold 0); ``None`` for fewer than two returns or no loss."""
    r = returns_array(returns)
    if r.size < 2:
        return None
    gains = float(r[r > 0.0].sum())
    losses = -float(r[r < 0.0].sum())
    return gains / losses if losses > 0.0 else None


def tail_ratio(returns: npt.ArrayLike) -> float | None:
    """|95th percentile| / |5th percentile| of the returns (0.25: losses in the tail four times the gains)."""
    r = returns_array(returns)
    if r.size == 0:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return _defined(np.divide(np.abs(np.percentile(r, 95.0)), np.abs(np.percentile(r, 5.0))))


def value_at_risk(returns: npt.ArrayLike, *, cutoff: float = 0.05) -> float | None:
    """The ``cutoff`` percentile of the returns (5 %: one period in twenty loses at least this); ``None`` for none."""
    r = returns_array(returns)
    if r.size == 0:
        return None
    return float(np.percentile(r, 100.0 * cutoff))


def stability_of_timeseries(returns: npt.ArrayLike) -> float | None:
    """R² of a straight line through the cumulative log returns (1: growth at a steady rate); see the module's list."""
    r = returns_array(returns)
    if r.size < 2 or bool((r <= -1.0).any()):
        return None
    level = np.cumsum(np.log1p(r))
    if level.max() == level.min():
        return None
    steps = np.arange(r.size, dtype=np.float64)
    x = steps - steps.mean()
    y = level - level.mean()
    y /= np.abs(y).max()  # R² does not change with the scale, and tiny returns squared would underflow to 0
    correlation = float(np.dot(x, y)) / math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    return min(1.0, max(-1.0, correlation)) ** 2


@dataclass(frozen=True, slots=True)
class Metrics:
    """The performance of one return series; ``None`` where a metric is undefined (the module's list says when),
    ±inf where it is infinite. :meth:`metrics_json` names them by :data:`METRIC_KEYS`."""

    sharpe_ratio: float | None
    sortino_ratio: float | None
    annual_volatility: float | None
    max_drawdown: float | None
    cagr: float | None
    calmar_ratio: float | None
    total_return: float | None
    omega_ratio: float | None
    tail_ratio: float | None
    value_at_risk: float | None
    stability_of_timeseries: float | None

    def metrics_json(self) -> dict[str, float | None]:
        """``{"sharpe": …, "sortino": …, "annual_volatility": …, "max_drawdown": …, "cagr": …, "calmar": …,
        "total_return": …, "omega": …, "tail_ratio": …, "var_5": …, "stability": …}``, an infinite value as
        ``None`` like an undefined one (JSON has neither)."""
        return {key: _json_number(getattr(self, name)) for key, name in METRIC_KEYS.items()}


def _json_number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def performance_metrics(returns: npt.ArrayLike, *, periods: float) -> Metrics:
    """Every metric of the module's list for simple periodic ``returns`` (fractions: 0.01 is +1 %), annualised
    with ``periods`` return periods a year. ``ValueError`` for a non-finite return or ``periods`` ≤ 0."""
    r, periods = returns_array(returns), _periods_checked(periods)
    return Metrics(
        sharpe_ratio=sharpe_ratio(r, periods=periods),
        sortino_ratio=sortino_ratio(r, periods=periods),
        annual_volatility=annual_volatility(r, periods=periods),
        max_drawdown=max_drawdown(r),
        cagr=cagr(r, periods=periods),
        calmar_ratio=calmar_ratio(r, periods=periods),
        total_return=total_return(r),
        omega_ratio=omega_ratio(r),
        tail_ratio=tail_ratio(r),
        value_at_risk=value_at_risk(r),
        stability_of_timeseries=stability_of_timeseries(r),
    )


# Trade statistics ---------------------------------------------------------------------------------------------------


class ClosedRoundTrip(Protocol):
    """A closed round trip as :func:`trade_statistics` reads one (any object with this attribute will do)."""

    @property
    def pnl(self) -> Decimal:
        """Profit or loss after every cost (fees, slippage, funding, interest, gas), in the NAV's currency."""
        ...


@dataclass(frozen=True, slots=True)
class TradeActivity:
    """What :func:`trade_statistics` reads from one run of n periods.

    - ``round_trips``: the closed round trips (a position still open at the end is not one);
    - ``traded_notional``: Σ |quantity * price| over every fill of the run, both legs of a round trip and the fills
      of a position still open, in the NAV's currency;
    - ``nav``: the net asset value of each period, n values;
    - ``position``: the position held in each period, n values, in any unit: only zero or not counts.
    """

    round_trips: Sequence[ClosedRoundTrip]
    traded_notional: Decimal
    nav: Sequence[Decimal]
    position: Sequence[Decimal]


@dataclass(frozen=True, slots=True)
class TradeStatistics:
    """A run's trading: ``turnover`` (traded notional over the average NAV, per year), ``exposure`` (share of the
    periods with a position), ``hit_rate`` (share of the round trips that made money), ``profit_factor`` (gross
    profit over gross loss of the round trips) and the number of ``round_trips``. ``None`` where undefined:
    turnover and exposure without periods (or, for turnover, with an average NAV ≤ 0), hit rate without round trips,
    profit factor without a losing round trip."""

    turnover: float | None
    exposure: float | None
    hit_rate: float | None
    profit_factor: float | None
    round_trips: int

    def metrics_json(self) -> dict[str, float | int | None]:
        """``{"turnover": …, "exposure": …, "hit_rate": …, "profit_factor": …, "round_trips": …}``."""
        return {
            "turnover": self.turnover,
            "exposure": self.exposure,
            "hit_rate": self.hit_rate,
            "profit_factor": self.profit_factor,
            "round_trips": self.round_trips,
        }


def _finite_decimal(value: Decimal, what: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{what} must be a finite Decimal, not {value!r}")
    return value


def trade_statistics(activity: TradeActivity, *, periods: float) -> TradeStatistics:
    """Turnover, exposure, hit rate and profit factor of a run, ``periods`` periods a year.

    Turnover per year = traded notional / average NAV / years = traded notional * periods / Σ NAV (n periods are
    n / periods years); a round trip in and out of the whole NAV once a year is a turnover of 2. A round trip wins
    when its pnl is above 0 (a pnl of exactly 0 counts as a trade, not a win). Sums are exact (``Decimal``); only
    the ratios are floats. ``ValueError`` for a negative or non-finite amount, NAV and position series of different
    lengths, or ``periods`` ≤ 0.
    """
    periods = _periods_checked(periods)
    if len(activity.nav) != len(activity.position):
        raise ValueError(
            f"nav and position must have one value per period: {len(activity.nav)} and {len(activity.position)}"
        )
    notional = _finite_decimal(activity.traded_notional, "traded_notional")
    if notional < 0:
        raise ValueError(f"traded_notional must be ≥ 0, not {notional}")
    nav_total = sum((_finite_decimal(nav, "nav") for nav in activity.nav), Decimal(0))
    pnls = [_finite_decimal(trip.pnl, "a round trip's pnl") for trip in activity.round_trips]
    gross_profit = sum((pnl for pnl in pnls if pnl > 0), Decimal(0))
    gross_loss = -sum((pnl for pnl in pnls if pnl < 0), Decimal(0))
    n = len(activity.nav)
    return TradeStatistics(
        turnover=float(notional * Decimal(periods) / nav_total) if n and nav_total > 0 else None,
        exposure=sum(1 for p in activity.position if p != 0) / n if n else None,
        hit_rate=sum(1 for pnl in pnls if pnl > 0) / len(pnls) if pnls else None,
        profit_factor=float(gross_profit / gross_loss) if gross_loss > 0 else None,
        round_trips=len(pnls),
    )
