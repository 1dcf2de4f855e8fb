"""Paper runs in the database for tests: BTC/USDT tracked at 1m on Binance and Bybit, candles written through the
market-data services as the live sync writes them, a leadlag paper run started just before ``T0``, and a run's
stored rows read back for comparison."""

from __future__ import annotations

from typing import Any

from marketdata import services as marketdata
from marketdata.core.candles import Candle
from marketdata.models import Instrument
from strategies.core.markets import Market
from strategies.models import StrategyLedgerEntry, StrategyNavPoint, StrategyRefusal, StrategyRun
from strategies.services.paper import strategy_paper_start
from tests.marketdata.factories import InstrumentFactory
from tests.strategies.paper_bars import IV, LEADLAG, T0, Row

BEFORE_T0 = T0 - 30_000  # a run started then starts at T0
Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]


def tracked_markets() -> dict[str, Instrument]:
    """BTC/USDT on Binance and Bybit, tracked at 1m, by venue."""
    return {
        venue: InstrumentFactory(
            exchange=venue,
            base="BTC",
            symbol="BTC/USDT",
            venue_symbol="BTCUSDT",
            tracked=True,
            tracked_intervals=["1m"],
        )
        for venue in ("binance", "bybit")
    }


def candles_write(instruments: dict[str, Instrument], bars: dict[Market, list[Row]], start: int, end: int) -> None:
    """Store the bars opening in [T0 + start * IV, T0 + end * IV) of both venues, as the live sync would."""
    for market, rows in bars.items():
        marketdata.klines_store(
            instrument_id=instruments[market.venue].pk,
            interval="1m",
            candles=[Candle(*row) for row in rows[start:end]],
            covered=(T0 + start * IV, T0 + end * IV),
        )


def paper_start(**overrides: Any) -> StrategyRun:
    """A leadlag paper run (binance leads, bybit follows) with 10000 USDT, started just before T0."""
    kwargs: dict[str, Any] = {
        "strategy": "leadlag",
        "exchanges": ["binance", "bybit"],
        "symbol": "BTC/USDT",
        "interval": "1m",
        "cash": "10000",
        "parameters": LEADLAG,
        "now_ms": BEFORE_T0,
    }
    return strategy_paper_start(**{**kwargs, **overrides})


def stored(run: StrategyRun) -> Rows:
    """The run's ledger, NAV points and refusals as stored, in order."""
    ledger = list(
        StrategyLedgerEntry.objects.filter(run=run)
        .order_by("seq")
        .values_list("seq", "time_ms", "kind", "venue", "symbol", "side", "quantity", "price", "fee", "amount", "tag")
    )
    nav = list(StrategyNavPoint.objects.filter(run=run).order_by("time_ms").values_list("time_ms", "nav", "exposed"))
    refusals = list(
        StrategyRefusal.objects.filter(run=run).order_by("time_ms", "id").values_list("time_ms", "reason", "detail")
    )
    return ledger, nav, refusals
