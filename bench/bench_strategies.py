"""Strategies: the event-driven engine with a Python strategy callback, in bars per second.

A synthetic year of 1m candles for BTC/USDT on three venues (525,600 each, ≈1.6 M bars; Coinbase one minute behind
Binance, Bybit in step), built as the engine's exact scaled-integer columns. Timed: ``Engine.run`` with the built-in
``leadlag`` (leader Binance, follower Coinbase, each venue's real fee schedule, 1 bp slippage): every step shows the
strategy its view, books fills exactly in ``Decimal``, and records NAV. Target ≥ 200,000 bars/s.

Baseline measured in the same run: backtrader (when it imports) running the same lead-lag rule on the same bars
(the first ``BASELINE_MINUTES`` of them: at its speed the whole year would take minutes), with its default broker and
no observers. Without backtrader, a plain-Python loop over the same bars doing the same signal in floats and the same
exact ``Decimal`` bookkeeping stands in. The ratio is bars/s over the baseline's bars/s.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import numpy as np

from strategies.core.costs import CostModel
from strategies.core.data import BarSeries, MarketData
from strategies.core.engine import Engine, EngineConfig
from strategies.core.markets import Market
from strategies.registry import strategy_build

YEAR_MINUTES = 525_600
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
MINUTE_MS = 60_000
VENUES = ("binance", "bybit", "coinbase")
PARAMS = {"leader": "binance", "follower": "coinbase", "lookback": "1", "threshold": "0.0015", "hold_bars": "3"}
BASELINE_MINUTES = 20_160  # two weeks on three venues for the baseline
TARGET_BARS_PER_SECOND = 200_000


def _year(minutes: int) -> list[BarSeries]:
    """Three venues' bars: one random walk, Coinbase a minute behind, a little noise per venue; prices in cents."""
    rng = np.random.default_rng(14)
    path = np.log(42_000.0) + np.cumsum(rng.normal(0.0, 8e-4, minutes + 1))
    open_ms = START_MS + MINUTE_MS * np.arange(minutes, dtype=np.int64)
    series = []
    for venue in VENUES:
        late = venue == "coinbase"
        closes = np.exp((path[:-1] if late else path[1:]) + rng.normal(0.0, 5e-5, minutes))
        opens = np.concatenate(([closes[0]], closes[:-1])) * np.exp(rng.normal(0.0, 2e-5, minutes))
        spread = np.abs(rng.normal(0.0, 2e-4, minutes))
        highs = np.maximum(opens, closes) * (1 + spread)
        lows = np.minimum(opens, closes) * (1 - spread)

        def cents(values: Any) -> Any:
            return np.round(values * 100).astype(np.int64)

        series.append(
            BarSeries(
                Market(venue, "BTC/USDT"),
                MINUTE_MS,
                open_ms,
                cents(opens),
                cents(highs),
                cents(lows),
                cents(closes),
                np.ones(minutes),
                2,
            )
        )
    return series


def _engine(series: list[BarSeries]) -> tuple[float, float, int, int]:
    data = MarketData(series)
    data.visible_rows  # noqa: B018 - built outside the timing, as a stored run would have it
    strategy = strategy_build("leadlag", PARAMS, [s.market for s in series])
    engine = Engine(
        strategy=strategy,
        data=data,
        config=EngineConfig(cash=Decimal(10_000), costs=CostModel(slippage_bps=Decimal(1))),
    )
    start, cpu = time.perf_counter(), time.process_time()
    result = engine.run()
    return time.perf_counter() - start, time.process_time() - cpu, data.bars, len(result.trades)


def _backtrader(series: list[BarSeries]) -> tuple[float, int, int] | None:
    try:
        import backtrader as bt
        import pandas as pd
    except ImportError:
        return None

    threshold, hold_bars = float(PARAMS["threshold"]), int(PARAMS["hold_bars"])

    class LeadLag(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.leader, self.follower = self.datas[0], self.datas[2]
            self.order: Any = None
            self.entry = 0
            self.trades = 0

        def notify_order(self, order: Any) -> None:
            if order.status in (order.Completed, order.Canceled, order.Margin, order.Rejected):
                if order.status == order.Completed:
                    self.trades += 1
                    if order.isbuy():
                        self.entry = len(self.follower)
                self.order = None

        def next(self) -> None:
            if self.order is not None:
                return
            if self.getposition(self.follower).size:
                if len(self.follower) - self.entry + 1 >= hold_bars:
                    self.order = self.close(data=self.follower)
                return
            if len(self.leader) > 1 and self.leader.close[0] / self.leader.close[-1] - 1.0 > threshold:
                cash = self.broker.getcash()
                self.order = self.buy(data=self.follower, size=cash / self.follower.close[0] / 1.0061)

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(10_000.0)
    cerebro.broker.setcommission(commission=0.006, name="coinbase")
    for s in series:
        frame = pd.DataFrame(
            {
                "open": s.open / 100.0,
                "high": s.high / 100.0,
                "low": s.low / 100.0,
                "close": s.close / 100.0,
                "volume": s.volume,
            },
            index=pd.to_datetime(s.open_ms, unit="ms"),
        )
        cerebro.adddata(bt.feeds.PandasData(dataname=frame), name=s.market.venue)
    cerebro.addstrategy(LeadLag)
    start = time.perf_counter()
    [strategy] = cerebro.run()
    return time.perf_counter() - start, sum(len(s) for s in series), strategy.trades


def _plain_loop(series: list[BarSeries]) -> tuple[float, int, int]:
    """The same rule by hand: float signal, exact Decimal cash and position, NAV per step, fill at the next open."""
    threshold, hold_bars = float(PARAMS["threshold"]), int(PARAMS["hold_bars"])
    fee = Decimal("0.006")
    leader = (series[0].close / 100.0).tolist()
    follower_open = series[2].open.tolist()
    follower_close = series[2].close.tolist()
    start = time.perf_counter()
    cash, held, entry, trades = Decimal(10_000), Decimal(0), 0, 0
    navs = []
    pending = 0  # +1 buy, -1 sell at the next open
    for k in range(1, len(leader)):
        if pending:
            price = Decimal(follower_open[k]).scaleb(-2)
            if pending > 0:
                held = cash / (price * (1 + fee))
                cash -= held * price * (1 + fee)
                entry = k
            else:
                cash += held * price * (1 - fee)
                held = Decimal(0)
            pending, trades = 0, trades + 1
        if held:
            if k - entry + 1 >= hold_bars:
                pending = -1
        elif leader[k] / leader[k - 1] - 1.0 > threshold:
            pending = 1
        navs.append((cash + held * Decimal(follower_close[k]).scaleb(-2)).quantize(Decimal("1e-8")))
    return time.perf_counter() - start, sum(len(s) for s in series), trades


def main() -> None:
    series = _year(YEAR_MINUTES)
    seconds, cpu, bars, trades = _engine(series)
    rate = bars / seconds
    window = [
        BarSeries(
            s.market,
            s.interval_ms,
            s.open_ms[:BASELINE_MINUTES],
            s.open[:BASELINE_MINUTES],
            s.high[:BASELINE_MINUTES],
            s.low[:BASELINE_MINUTES],
            s.close[:BASELINE_MINUTES],
            s.volume[:BASELINE_MINUTES],
            s.scale,
        )
        for s in series
    ]
    measured = _backtrader(window)
    name = "backtrader (same rule, default broker, no observers)"
    if measured is None:
        measured, name = _plain_loop(window), "plain-Python loop (backtrader does not import here)"
    base_seconds, base_bars, base_trades = measured
    base_rate = base_bars / base_seconds
    print(
        f"event-driven engine, leadlag with a Python callback, 1 year of 1m on 3 venues ({bars:,} bars): "
        f"{seconds:.2f} s ({cpu:.2f} s CPU), {rate:,.0f} bars/s (target ≥ {TARGET_BARS_PER_SECOND:,}), "
        f"{trades:,} fills"
    )
    print(
        f"  baseline: {name} on the first {BASELINE_MINUTES:,} minutes ({base_bars:,} bars): {base_seconds:.2f} s, "
        f"{base_rate:,.0f} bars/s, {base_trades:,} fills, ratio 1.00"
    )
    print(f"  engine: ratio {rate / base_rate:.1f}")
