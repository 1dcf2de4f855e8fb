"""``hold`` as the benchmark of a long run, without stepping the engine through every bar.

``hold`` decides once, before the first bar. The engine books that decision's fill on the data cut just after the
held market's first open (every market's bars opening before then, so the clock, and the step that fills, are the
run's own); after it nothing changes but the mark, so the NAV at each step of the run's clock is the cash plus the
position marked at the market's latest close (its first open before that bar closes), quantized as the engine
quantizes it. The result equals running ``hold`` through the engine over the whole data, step for step (a test holds
it to that), at a fraction of the cost: a year of 1m on three venues is 525,600 steps the engine would walk for
nothing.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from strategies.cex.core.hold import Hold, HoldParams
from strategies.core.costs import CostModel
from strategies.core.data import MarketData
from strategies.core.engine import Engine, EngineConfig, EngineResult
from strategies.core.markets import Market, MarketKind
from strategies.core.portfolio import ACCOUNTING, NAV_QUANTUM

BENCHMARK = Hold.name


def hold_benchmark(*, data: MarketData, market: Market, cash: Decimal, costs: CostModel) -> EngineResult:
    """``hold`` of ``market`` with ``cash`` under ``costs`` (default risk limits, no funding) on ``data``'s clock."""
    series = data.series[data.index[market]]
    cut = int(series.open_ms[0]) + 1
    opening_data = MarketData([s.until(cut) for s in data.series])
    config = EngineConfig(cash=cash, costs=costs)
    engine = Engine(strategy=Hold(HoldParams(), [market]), data=opening_data, config=config)
    opening = engine.run()
    portfolio = engine.portfolio
    # The step the fill was booked at (the first one with the position): the same step of the whole run's clock.
    filled_from = next((t for t, on in zip(opening.nav_times, opening.exposed, strict=True) if on), None)
    times = data.times
    steps = len(times)
    filled = (times >= filled_from).tolist() if filled_from is not None else [False] * steps
    with localcontext(ACCOUNTING):
        held = portfolio.position(market)
        total_cash = portfolio.total_cash()
        before = cash.quantize(NAV_QUANTUM)
        # Index n: the NAV once n bars of the market have closed (n = 0: marked at the first bar's open).
        scaled = [int(series.open[0]), *series.close.tolist()] if held else [0]
        # What Portfolio.market_value gives, inline (one context for the year, not one a bar): spot is marked at
        # the price, a perpetual at its move from the entry. A year of closes repeats many prices: each is marked once.
        position = portfolio.positions.get(market)
        entry = position.entry_price if position is not None and market.kind is MarketKind.PERP else None
        by_price: dict[int, Decimal] = {}
        scale = -series.scale
        for price in scaled:
            if price not in by_price:
                mark = Decimal(price).scaleb(scale)
                by_price[price] = total_cash + held * (mark if entry is None else mark - entry)
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
