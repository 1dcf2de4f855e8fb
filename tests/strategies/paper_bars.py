"""Bars for paper-mode tests: two venues on one random walk, the follower a bar late (so ``leadlag`` trades)."""

from __future__ import annotations

import random

from strategies.core.markets import Market

IV = 60_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
BINANCE = Market("binance", "BTC/USDT")
BYBIT = Market("bybit", "BTC/USDT")
LEADLAG = {"leader": "binance", "follower": "bybit", "lookback": "2", "threshold": "0.002", "hold_bars": "3"}
Row = tuple[int, str, str, str, str, str]


def walk(seed: int, n: int) -> dict[Market, list[Row]]:
    """Two venues following one random walk, the follower a bar late; prices to the cent."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    cents = [10_000_000]
    for _ in range(n):
        cents.append(max(1_000, cents[-1] + rng.choice([-1, 1]) * rng.randrange(0, 40_000)))

    def rows(lag: int) -> list[Row]:
        out = []
        for i in range(n):
            o, c = cents[max(0, i - lag)], cents[max(0, i + 1 - lag)]
            hi, lo = max(o, c) + rng.randrange(0, 5_000), min(o, c) - rng.randrange(0, 5_000)
            out.append((T0 + i * IV, *(f"{x // 100}.{x % 100:02d}" for x in (o, hi, lo, c)), "1.5"))
        return out

    return {BINANCE: rows(0), BYBIT: rows(1)}
