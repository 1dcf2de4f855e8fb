"""Synthetic bars with a planted lead: a **stand-in** for real market data, for the demo, benchmarks and tests.

Nothing here is market data. One random walk of log prices (Gaussian steps of ``volatility_bps``) is the "true"
price; the leader venue shows it as it happens, each follower ``lag_bars`` bars late, plus its own noise. Prices
are rounded to ``tick`` exactly (decimal text), so the engine reads them as it reads a venue's candles.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from hftplatform.core.decimal_text import decimal_scale
from strategies.core.data import BarSeries
from strategies.core.markets import Market


def synthetic_bars(
    *,
    markets: Sequence[Market],
    count: int,
    start_ms: int,
    interval_ms: int = 60_000,
    lag_bars: int = 1,
    price: Decimal = Decimal(40_000),
    volatility_bps: float = 5.0,
    noise_bps: float = 0.5,
    tick: Decimal = Decimal("0.01"),
    seed: int = 0,
) -> list[BarSeries]:
    """``markets[0]`` leads; every other market follows ``lag_bars`` bars later. Deterministic for a seed."""
    if count <= 0 or not markets:
        raise ValueError("need at least one market and one bar")
    rng = np.random.default_rng(seed)
    total = count + lag_bars + 1
    log_path = np.cumsum(rng.normal(0.0, volatility_bps * 1e-4, total))
    scale = decimal_scale(str(tick))
    tick_units = int(tick.scaleb(scale))
    base = float(price)
    open_ms = start_ms + np.arange(count, dtype=np.int64) * interval_ms
    series = []
    for position, market in enumerate(markets):
        shift = 0 if position == 0 else lag_bars
        path = log_path[lag_bars + 1 - shift : lag_bars + 1 - shift + count]
        previous = log_path[lag_bars - shift : lag_bars - shift + count]
        noise = rng.normal(0.0, noise_bps * 1e-4, count) if position else np.zeros(count)
        close_f = base * np.exp(path + noise)
        open_f = base * np.exp(previous + np.concatenate([[0.0], noise[:-1]]))
        wick = base * np.abs(rng.normal(0.0, volatility_bps * 0.5e-4, (2, count)))
        to_ticks = 10.0**scale / tick_units

        def ticks(values: np.ndarray, to_ticks: float = to_ticks) -> np.ndarray:
            return (np.rint(values * to_ticks).astype(np.int64)) * tick_units

        o, c = ticks(open_f), ticks(close_f)
        h = np.maximum(np.maximum(o, c), ticks(np.maximum(open_f, close_f) + wick[0]))
        lo = np.minimum(np.minimum(o, c), ticks(np.minimum(open_f, close_f) - wick[1]))
        volume = np.round(rng.gamma(2.0, 5.0, count), 4)
        series.append(BarSeries(market, interval_ms, open_ms.copy(), o, h, lo, c, volume, scale))
    return series


def bar_series_csv(series: BarSeries) -> str:
    """The bars in the ``klines export`` / ``klines import`` CSV format (exact decimal text)."""
    lines = ["open_time,open,high,low,close,volume"]
    step = Decimal(1).scaleb(-series.scale)
    for i in range(len(series)):
        o, h, lo, c = (
            str(Decimal(int(column[i])) * step) for column in (series.open, series.high, series.low, series.close)
        )
        lines.append(f"{int(series.open_ms[i])},{o},{h},{lo},{c},{series.volume[i]:.4f}")
    return "\n".join(lines) + "\n"
