"""Bars for the strategy tests: small hand-made series and seeded random ones, as the engine reads them."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from strategies.core.data import BarSeries, MarketData
from strategies.core.markets import Market

MINUTE = 60_000
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC

BINANCE = Market("binance", "BTC/USDT")
BYBIT = Market("bybit", "BTC/USDT")
COINBASE = Market("coinbase", "BTC/USDT")
BINANCE_PERP = Market("binance", "BTC/USDT:USDT")
BYBIT_PERP = Market("bybit", "BTC/USDT:USDT")

Row = tuple[int, str, str, str, str, str]


def rows_make(
    closes: Sequence[str],
    *,
    opens: Sequence[str] | None = None,
    highs: Sequence[str] | None = None,
    lows: Sequence[str] | None = None,
    start_ms: int = START_MS,
    interval_ms: int = MINUTE,
    missing: Sequence[int] = (),
) -> list[Row]:
    """One row per close. The open is the given one or the previous close (the first close for the first bar);
    high and low are the given ones or the extremes of open and close. Bars at the indices in ``missing`` are
    left out (their times stay empty)."""
    rows: list[Row] = []
    previous = closes[0]
    for i, close in enumerate(closes):
        opened = opens[i] if opens is not None else previous
        previous = close
        if i in missing:
            continue
        high = highs[i] if highs is not None else str(max(Decimal(opened), Decimal(close)))
        low = lows[i] if lows is not None else str(min(Decimal(opened), Decimal(close)))
        rows.append((start_ms + i * interval_ms, opened, high, low, close, "1"))
    return rows


def series_make(market: Market, closes: Sequence[str], *, interval_ms: int = MINUTE, **kwargs: object) -> BarSeries:
    """A :class:`BarSeries` from closes (see :func:`rows_make` for the other columns)."""
    return BarSeries.from_text(market, interval_ms, rows_make(closes, interval_ms=interval_ms, **kwargs))  # type: ignore[arg-type]


def random_rows(
    count: int, *, seed: int, start_price: float = 20_000.0, sigma: float = 2e-3, start_ms: int = START_MS
) -> list[Row]:
    """``count`` 1m bars of a seeded random walk, prices with two decimals; opens gap a little from the last close."""
    rng = np.random.default_rng(seed)
    closes = start_price * np.exp(np.cumsum(rng.normal(0.0, sigma, count)))
    opens = np.concatenate(([start_price], closes[:-1])) * np.exp(rng.normal(0.0, sigma / 4, count))
    highs = np.maximum(opens, closes) * (1 + np.abs(rng.normal(0.0, sigma / 2, count)))
    lows = np.minimum(opens, closes) * (1 - np.abs(rng.normal(0.0, sigma / 2, count)))
    rows: list[Row] = []
    for i in range(count):
        o, h, lo, c = (f"{x:.2f}" for x in (opens[i], highs[i], lows[i], closes[i]))
        h = str(max(Decimal(h), Decimal(o), Decimal(c)))
        lo = str(min(Decimal(lo), Decimal(o), Decimal(c)))
        rows.append((start_ms + i * MINUTE, o, h, lo, c, "1"))
    return rows


def random_series(market: Market, count: int, *, seed: int, **kwargs: float) -> BarSeries:
    return BarSeries.from_text(market, MINUTE, random_rows(count, seed=seed, **kwargs))  # type: ignore[arg-type]


def data_make(*series: BarSeries) -> MarketData:
    return MarketData(series)


def bar_open(series: BarSeries, i: int) -> Decimal:
    return series.price(int(series.open[i]))


def bar_close(series: BarSeries, i: int) -> Decimal:
    return series.price(int(series.close[i]))
