"""Venue payloads written here from candles the tests make themselves, in each venue's documented layout.

The recorded payloads in ``../shared`` are few; these let the suite stand without them and at any size.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

from marketdata.core.candles import Candle
from marketdata.core.intervals import Interval


def candles_make(interval: Interval, start_ms: int, count: int, *, seed: int = 7, scale: int = 8) -> list[Candle]:
    """``count`` consecutive valid candles from ``start_ms`` (on the grid), with ``scale`` decimal places."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    candles = []
    t = interval.ceil(start_ms)
    unit = 10**scale
    for _ in range(count):
        low = rng.randint(1, 10**6) * unit // 1000 + rng.randint(0, unit - 1)
        high = low + rng.randint(0, 5 * unit)
        o, c = rng.randint(low, high), rng.randint(low, high)
        volume = rng.randint(0, 10**4 * unit)
        candles.append(Candle(t, *(_text(x, scale) for x in (o, high, low, c, volume))))
        t = interval.next_open(t)
    return candles


def _text(units: int, scale: int) -> str:
    whole, frac = divmod(units, 10**scale)
    return f"{whole}.{frac:0{scale}d}" if scale else str(whole)


def binance_klines_payload(candles: Sequence[Candle], interval: Interval) -> bytes:
    """``/api/v3/klines`` rows: openTime, OHLCV strings, closeTime (inclusive ms), quote volume, trades, takers."""
    rows = [
        [
            c.open_time,
            c.open,
            c.high,
            c.low,
            c.close,
            c.volume,
            interval.close_time(c.open_time) - 1,
            "0",
            0,
            "0",
            "0",
            "0",
        ]
        for c in candles
    ]
    return json.dumps(rows).encode()


def bybit_klines_payload(candles: Sequence[Candle], *, category: str = "spot", symbol: str = "BTCUSDT") -> bytes:
    """``/v5/market/kline``: newest first, every field a string."""
    rows = [[str(c.open_time), c.open, c.high, c.low, c.close, c.volume, "0"] for c in reversed(candles)]
    body = {
        "retCode": 0,
        "retMsg": "OK",
        "result": {"symbol": symbol, "category": category, "list": rows},
        "retExtInfo": {},
        "time": 1,
    }
    return json.dumps(body).encode()


def coinbase_candles_payload(candles: Sequence[Candle]) -> bytes:
    """``/products/{id}/candles``: newest first, ``[time_s, low, high, open, close, volume]`` as JSON numbers (the
    candle's decimal text written as the number's literal)."""
    rows = [f"[{c.open_time // 1000},{c.low},{c.high},{c.open},{c.close},{c.volume}]" for c in reversed(candles)]
    return ("[" + ",".join(rows) + "]").encode()
