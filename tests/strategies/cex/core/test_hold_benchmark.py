"""The vectorised ``hold`` benchmark equals ``hold`` run through the engine over the whole data, step for step."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from strategies.cex.core.hold_benchmark import hold_benchmark
from strategies.core.costs import CostModel, FeeModel
from strategies.core.data import BarSeries, MarketData
from strategies.core.engine import Engine, EngineConfig
from strategies.core.markets import Market
from strategies.registry import strategy_build

MINUTE = 60_000
T0 = 1_704_067_200_000


def random_series(market: Market, rng: np.random.Generator, *, count: int, offset: int, missing: float) -> BarSeries:
    closes = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.002, count))), 2)
    rows = []
    previous = closes[0]
    for i, close in enumerate(closes):
        if rng.random() < missing:
            continue
        high, low = max(previous, close) + 0.05, min(previous, close) - 0.05
        rows.append((T0 + (offset + i) * MINUTE, f"{previous:.2f}", f"{high:.2f}", f"{low:.2f}", f"{close:.2f}", "1"))
        previous = close
    return BarSeries.from_text(market, MINUTE, rows)


@pytest.mark.parametrize(
    ("seed", "offset", "costs"),
    [
        (1, 0, CostModel()),
        (2, 7, CostModel(slippage_bps=Decimal("3.5"), latency_ms=90_000)),  # the held market starts 7 bars late
        (3, 3, CostModel(fee_model=FeeModel.ZERO)),
        (4, 0, CostModel(latency_ms=30_000)),
    ],
)
def test_vectorised_hold_equals_the_engines(seed: int, offset: int, costs: CostModel) -> None:
    rng = np.random.default_rng(seed)
    held = Market("bybit", "BTC/USDT")
    data = MarketData(
        [
            random_series(Market("binance", "BTC/USDT"), rng, count=300, offset=0, missing=0.05),
            random_series(held, rng, count=300, offset=offset, missing=0.1),
            random_series(Market("coinbase", "BTC/USDT"), rng, count=280, offset=2, missing=0.2),
        ]
    )
    cash = Decimal("12345.67")
    engine = Engine(strategy=strategy_build("hold", {}, [held]), data=data, config=EngineConfig(cash=cash, costs=costs))
    expected = engine.run()
    got = hold_benchmark(data=data, market=held, cash=cash, costs=costs)
    assert got.nav_times == expected.nav_times
    assert got.nav == expected.nav
    assert got.exposed == expected.exposed
    assert got.final_nav == expected.final_nav
    assert got.attribution == expected.attribution
    assert [e.json() for e in got.trades] == [e.json() for e in expected.trades]
    assert (got.steps, got.bars, got.traded_notional) == (expected.steps, expected.bars, expected.traded_notional)
    assert got.refusals == expected.refusals
    assert len(got.trades) == 1
    assert got.nav[0] == cash or offset == 0


def test_vectorised_hold_of_a_perpetual_equals_the_engines() -> None:
    rng = np.random.default_rng(5)
    perp = Market("binance", "BTC/USDT:USDT")
    data = MarketData(
        [
            random_series(perp, rng, count=200, offset=1, missing=0.1),
            random_series(Market("bybit", "BTC/USDT:USDT"), rng, count=200, offset=0, missing=0.1),
        ]
    )
    cash = Decimal(5000)
    costs = CostModel(slippage_bps=Decimal(2))
    engine = Engine(strategy=strategy_build("hold", {}, [perp]), data=data, config=EngineConfig(cash=cash, costs=costs))
    expected = engine.run()
    got = hold_benchmark(data=data, market=perp, cash=cash, costs=costs)
    assert got.nav == expected.nav
    assert got.exposed == expected.exposed
    assert got.attribution == expected.attribution
    assert got.final_nav == expected.final_nav != cash
