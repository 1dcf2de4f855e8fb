"""The benchmark, ``hold``, over a long run without stepping the engine through every bar.

``hold`` decides once, before the first bar: the engine books that one fill on the market's first bar alone; after
it nothing changes but the mark, so the NAV at each step of the run's clock is the cash plus the position marked at
the market's latest close (its first open before that bar closes), quantized as the engine quantizes it. The result
equals running ``hold`` through the engine over the whole data, step for step (a test holds it to that), at a
fraction of the cost: a year of 1m on three venues is 525,600 steps the engine would walk for nothing.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from strategies.core.costs import CostModel
from strategies.core.data import MarketData
from strategies.core.engine import Engine, EngineConfig, EngineResult
from strategies.core.markets import Market
from strategies.core.portfolio import ACCOUNTING, NAV_QUANTUM, EntryKind
from strategies.core.strategy import strategy_build

BENCHMARK = "hold"


def hold_benchmark(*, data: MarketData, market: Market, cash: Decimal, costs: CostModel) -> EngineResult:
    """``hold`` of ``market`` with ``cash`` under ``costs`` (default risk limits, no funding) on ``data``'s clock."""
    series = data.series[data.index[market]]
    opening_data = MarketData([series.until(int(series.open_ms[0]) + 1)])
    engine = Engine(
        strategy=strategy_build(BENCHMARK, {}, [market]),
        data=opening_data,
        config=EngineConfig(cash=cash, costs=costs),
    )
    opening = engine.run()
    portfolio = engine.portfolio
    fills = [entry.time_ms for entry in opening.ledger if entry.kind is EntryKind.TRADE]
    times = data.times
    steps = len(times)
    filled = (times >= fills[0]).tolist() if fills else [False] * steps
    with localcontext(ACCOUNTING):
        held = portfolio.position(market)
        total_cash = portfolio.total_cash()
        before = cash.quantize(NAV_QUANTUM)
        # Index n: the NAV once n bars of the market have closed (n = 0: marked at the first bar's open).
        scaled = [int(series.open[0]), *series.close.tolist()] if held else [0]
        by_price: dict[int, Decimal] = {}  # a year of closes repeats most prices: each is marked once
        for price in scaled:
            if price not in by_price:
                by_price[price] = total_cash + portfolio.market_value(market, series.price(price))
        exact = [by_price[price] for price in scaled]
        quantized = {price: value.quantize(NAV_QUANTUM) for price, value in by_price.items()}
        values = [quantized[price] for price in scaled]
    visible = data.visible[data.index[market]].tolist() if held else [0] * steps
    navs = [values[n] if on else before for n, on in zip(visible, filled, strict=True)]
    exposed = [on and bool(held) for on in filled]
    exact_last = exact[visible[-1]] if steps and filled[-1] else cash
    return EngineResult(
        ledger=opening.ledger,
        nav_times=times.tolist(),
        nav=navs,
        exposed=exposed,
        refusals=opening.refusals,
        round_trips=opening.round_trips,
        attribution=portfolio.attribution(exact_last),
        final_nav=navs[-1] if navs else before,
        halted="",
        bars=data.bars,
        steps=steps,
        traded_notional=opening.traded_notional,
        state={},
        unfilled=opening.unfilled,
    )
