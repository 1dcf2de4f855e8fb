"""Price series of one market on several venues, put on a common time grid as log prices and log returns.

A venue's series is its candles' open times (integer ms UTC) and close prices. The close is a float64 here: the
analysis is statistics, not money, and float64 carries more digits than any venue quotes. On the grid a missing
candle is NaN, and a return exists only where **both** consecutive candles exist: no return is invented across a
gap (no forward fill, which would add zero returns and bias every correlation towards zero lag).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class LeadLagInputError(ValueError):
    """Data the analysis cannot use: a venue with no candles, ranges that do not overlap, a constant price."""


@dataclass(frozen=True)
class PriceSeries:
    """One venue's closes: ``times_ms`` open times (int64 ms UTC, ascending, unique), ``closes`` (> 0)."""

    name: str
    times_ms: IntArray
    closes: FloatArray

    def check(self) -> PriceSeries:
        """Raise :class:`LeadLagInputError` unless the series is usable; return self."""
        if len(self.times_ms) == 0:
            raise LeadLagInputError(f"{self.name}: no candles in the window")
        if len(self.times_ms) != len(self.closes):
            raise LeadLagInputError(f"{self.name}: {len(self.times_ms)} times but {len(self.closes)} closes")
        if len(self.times_ms) > 1 and not bool(np.all(np.diff(self.times_ms) > 0)):
            raise LeadLagInputError(f"{self.name}: open times are not strictly ascending")
        if not bool(np.all(np.isfinite(self.closes))) or not bool(np.all(self.closes > 0)):
            raise LeadLagInputError(f"{self.name}: a close price is not a positive finite number")
        return self


@dataclass(frozen=True)
class Grid:
    """Log prices of several venues on ``start_ms + k * step_ms``, k = 0 … n-1; NaN where a venue has no candle."""

    names: tuple[str, ...]
    start_ms: int
    step_ms: int
    log_prices: FloatArray  # shape (n, venues)

    @property
    def times_ms(self) -> IntArray:
        return self.start_ms + self.step_ms * np.arange(self.log_prices.shape[0], dtype=np.int64)

    def returns(self) -> FloatArray:
        """Log returns, shape (n, venues): row k is ``log p[k] - log p[k-1]``, NaN unless both candles exist
        (row 0 is always NaN)."""
        out = np.full_like(self.log_prices, np.nan)
        out[1:] = np.diff(self.log_prices, axis=0)  # NaN - x is NaN: a gap on either side leaves no return
        return out

    def observed(self, column: int) -> tuple[IntArray, FloatArray]:
        """The times (ms) and log prices of the candles a venue has, ascending: its own asynchronous sample."""
        present = ~np.isnan(self.log_prices[:, column])
        return self.times_ms[present], self.log_prices[present, column]


def grid_align(series: Sequence[PriceSeries], step_ms: int) -> Grid:
    """Put the series on one grid of ``step_ms`` over the window all of them cover (first to last common candle).

    Open times must lie on a common grid of ``step_ms`` (candles of one interval do). Raises
    :class:`LeadLagInputError` for an empty series, windows that do not overlap, a time off the grid, or a venue
    whose price never moves inside the common window (its returns would be all zero and every correlation 0/0).
    """
    if step_ms <= 0:
        raise LeadLagInputError(f"the grid step must be positive, not {step_ms} ms")
    if len(series) < 2:
        raise LeadLagInputError("a lead-lag analysis needs at least two venues")
    for one in series:
        one.check()
    start = max(int(s.times_ms[0]) for s in series)
    end = min(int(s.times_ms[-1]) for s in series)
    if start >= end:
        spans = ", ".join(f"{s.name} [{int(s.times_ms[0])}, {int(s.times_ms[-1])}]" for s in series)
        raise LeadLagInputError(f"the venues' candles do not overlap in time (ms UTC): {spans}")
    n = (end - start) // step_ms + 1
    log_prices = np.full((n, len(series)), np.nan)
    for column, one in enumerate(series):
        inside = (one.times_ms >= start) & (one.times_ms <= end)
        offsets = one.times_ms[inside] - start
        if bool(np.any(offsets % step_ms)):
            raise LeadLagInputError(f"{one.name}: open times are not on a common {step_ms} ms grid")
        log_prices[offsets // step_ms, column] = np.log(one.closes[inside])
    for column, one in enumerate(series):
        observed = log_prices[:, column][~np.isnan(log_prices[:, column])]
        if len(observed) < 2 or float(np.ptp(observed)) == 0.0:
            raise LeadLagInputError(f"{one.name}: the price is constant in the common window; nothing to lead or lag")
    return Grid(tuple(s.name for s in series), start, step_ms, log_prices)
