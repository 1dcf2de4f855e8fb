"""Stored candles for the sweep and walk-forward tests: two days of aligned 1m bars on Binance and Bybit (the
follower a bar behind the leader), the Bybit series missing one minute."""

from __future__ import annotations

import numpy as np

from marketdata import services as marketdata_services
from marketdata.core.candles import Candle
from strategies.core.data import BarSeries
from tests.marketdata.factories import InstrumentFactory
from tests.strategies.bars import BINANCE, BYBIT, MINUTE, START_MS
from tests.strategies.core.test_vectorised import pair_make

BARS = 2 * 1440
END_MS = START_MS + BARS * MINUTE
MISSING = 100  # the Bybit bar left out


def series_store(series: BarSeries, instrument_id: int) -> None:
    def text(scaled: int) -> str:
        return str(series.price(scaled))

    candles = [
        Candle(int(t), text(int(o)), text(int(h)), text(int(lo)), text(int(c)), "1")
        for t, o, h, lo, c in zip(series.open_ms, series.open, series.high, series.low, series.close, strict=True)
    ]
    marketdata_services.klines_store(instrument_id=instrument_id, interval="1m", candles=candles, covered=None)


def sweep_candles_store() -> tuple[BarSeries, BarSeries]:
    """Store the two series (instruments BTC/USDT on binance and bybit) and return them as the engine reads them."""
    lead, follow = pair_make(BINANCE, BYBIT, BARS, seed=21)
    keep = np.ones(BARS, dtype=bool)
    keep[MISSING] = False
    follow = BarSeries(
        BYBIT,
        MINUTE,
        follow.open_ms[keep],
        follow.open[keep],
        follow.high[keep],
        follow.low[keep],
        follow.close[keep],
        follow.volume[keep],
        2,
    )
    for market, series in ((BINANCE, lead), (BYBIT, follow)):
        instrument = InstrumentFactory(exchange=market.venue, base="BTC", symbol="BTC/USDT")
        series_store(series, instrument.pk)
    return lead, follow
