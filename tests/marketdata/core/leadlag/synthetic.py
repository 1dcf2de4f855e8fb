"""Synthetic markets with a known leader and lag: one efficient log price, each venue sampling it at its own
Poisson tick times (asynchronous), the follower seeing it ``lag_ms`` late, plus independent microstructure noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketdata.core.leadlag.alignment import PriceSeries


@dataclass(frozen=True)
class Ticks:
    times_ms: np.ndarray
    prices: np.ndarray

    def candles(self, name: str, step_ms: int) -> PriceSeries:
        """Candles of ``step_ms``: open time = the bucket, close = the last tick in it; no tick, no candle."""
        buckets = self.times_ms // step_ms * step_ms
        last = np.append(buckets[1:] != buckets[:-1], True)
        return PriceSeries(name, buckets[last].astype(np.int64), self.prices[last].astype(np.float64))


def market_ticks(
    seed: int,
    *,
    duration_s: int,
    lag_ms: int,
    rates_per_s: tuple[float, float] = (2.0, 2.0),
    fine_ms: int = 100,
    volatility: float = 2e-4,  # log-price standard deviation per sqrt(second)
    noise: float = 1e-5,  # log-price microstructure noise per tick
    start_ms: int = 1_700_000_000_000 // 86_400_000 * 86_400_000,
) -> tuple[Ticks, Ticks]:
    """Ticks of the leader (a) and the follower (b, ``lag_ms`` late; a multiple of ``fine_ms``) of one market."""
    rng = np.random.default_rng(seed)
    steps = duration_s * 1000 // fine_ms
    lag_steps = lag_ms // fine_ms
    path = np.cumsum(rng.normal(0.0, volatility * np.sqrt(fine_ms / 1000), steps + lag_steps))
    out = []
    for rate, delay in zip(rates_per_s, (0, lag_steps), strict=True):
        count = rng.poisson(rate * duration_s)
        cells = np.unique(rng.integers(0, steps, count))
        # the efficient price ``delay`` steps ago; the path starts lag_steps early so every index exists
        log_price = path[cells + lag_steps - delay] + rng.normal(0.0, noise, len(cells))
        out.append(Ticks(start_ms + cells.astype(np.int64) * fine_ms, 30_000.0 * np.exp(log_price)))
    return out[0], out[1]
