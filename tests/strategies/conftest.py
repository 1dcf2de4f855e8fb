"""Fixtures for the strategies' Django side: two venues of BTC/USDT with a few hand-made 1m candles each."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal

import pytest

from marketdata import services as marketdata_services
from marketdata.core.candles import Candle
from marketdata.core.intervals import MINUTE_MS
from marketdata.models import Instrument
from tests.marketdata.factories import InstrumentFactory

T0 = 1_704_067_200_000  # 2024-01-01 00:00:00 UTC

# (open, high, low, close) per minute from T0. Binance jumps 1 % at minute 1 (the leader's signal); Bybit follows.
BINANCE = [
    ("100.00", "100.50", "99.50", "100.00"),
    ("100.00", "101.20", "100.00", "101.00"),
    ("101.00", "101.50", "100.80", "101.20"),
    ("101.20", "101.40", "101.00", "101.30"),
    ("101.30", "101.60", "101.10", "101.40"),
    ("101.40", "101.50", "101.20", "101.30"),
    ("101.30", "101.40", "101.00", "101.10"),
    ("101.10", "101.30", "100.90", "101.00"),
]
BYBIT = [
    ("100.0", "100.4", "99.6", "100.1"),
    ("100.1", "100.5", "100.0", "100.2"),
    ("100.5", "101.3", "100.4", "101.1"),
    ("101.1", "101.5", "101.0", "101.4"),
    ("101.4", "101.7", "101.2", "101.6"),
    ("101.8", "101.9", "101.5", "101.5"),
    ("101.5", "101.6", "101.2", "101.3"),
    ("101.3", "101.4", "101.0", "101.2"),
]


def candles_store(instrument: Instrument, rows: Sequence[tuple[str, str, str, str]], *, start: int = T0) -> None:
    """Store ``rows`` as closed 1m candles from ``start``, covered, through market data's own service."""
    candles = [Candle(start + i * MINUTE_MS, o, h, lo, c, "1.5") for i, (o, h, lo, c) in enumerate(rows)]
    marketdata_services.klines_store(
        instrument_id=instrument.pk,
        interval="1m",
        candles=candles,
        covered=(start, start + len(rows) * MINUTE_MS),
    )


@pytest.fixture
def binance(db: None) -> Instrument:
    instrument = InstrumentFactory(exchange="binance", symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC")
    candles_store(instrument, BINANCE)
    return instrument


@pytest.fixture
def bybit(db: None) -> Instrument:
    instrument = InstrumentFactory(exchange="bybit", symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC")
    candles_store(instrument, BYBIT)
    return instrument


def quote_quantities(amount: Decimal, price: Decimal, rate: Decimal = Decimal(0)) -> set[Decimal]:
    """What a buy of ``amount`` (price, slippage and fee included) gets: ``amount / (price (1 + rate))`` to the
    accounting's 34 digits, rounded down (main's engine: the buy never spends more than its amount) or to nearest
    (the engine this branch started from). Both are exact; a test accepts these two values and nothing else."""
    down = Context(prec=34, rounding=ROUND_FLOOR)
    nearest = Context(prec=34, rounding=ROUND_HALF_EVEN)
    divisor = nearest.multiply(price, 1 + rate)
    return {down.divide(amount, divisor), nearest.divide(amount, divisor)}
