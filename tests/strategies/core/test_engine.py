"""The event-driven engine: NAV identity, fill timing, limit orders, target positions, no look-ahead, determinism."""

from __future__ import annotations

import json
from decimal import Decimal, localcontext

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from strategies.core.costs import CostModel, FeeModel, FeeSchedule
from strategies.core.data import BarSeries
from strategies.core.engine import EngineError
from strategies.core.intents import Order, OrderType, ProtocolAction, Side, TargetPosition
from strategies.core.markets import Market
from strategies.core.portfolio import ACCOUNTING, NAV_QUANTUM, EntryKind
from strategies.core.risk import RefusalReason
from strategies.core.strategy import LookAheadError, View
from tests.strategies.bars import (
    BINANCE,
    BINANCE_PERP,
    BYBIT,
    BYBIT_PERP,
    COINBASE,
    MINUTE,
    START_MS,
    bar_close,
    random_rows,
    random_series,
    series_make,
)
from tests.strategies.core.engine_runs import engine_run, ledger_json
from tests.strategies.scripted import Scripted, Wanderer

D = Decimal
# bar i opens at 100.5 + i and closes at 101 + i
OPENS = [str(D("100.5") + i) for i in range(10)]
CLOSES = [str(D(101) + i) for i in range(10)]


def ten_bars(market=BINANCE, **kwargs):  # type: ignore[no-untyped-def]
    return series_make(market, CLOSES, opens=OPENS, **kwargs)


def trades(result):  # type: ignore[no-untyped-def]
    return [(e.time_ms, e.venue, e.symbol, e.side, e.quantity, e.price, e.fee) for e in result.trades]


# -- fills ----------------------------------------------------------------------------------------------------


def test_a_market_order_fills_at_the_next_bars_open() -> None:
    # given an order decided at step 2 (bar 2 has closed, bar 3 opens)
    strategy = Scripted([BINANCE], {2: [Order(BINANCE, Side.BUY, quantity=D(1))]})
    # when
    _, result = engine_run(strategy, ten_bars())
    # then it fills at bar 3's open, no earlier
    assert trades(result) == [(START_MS + 3 * MINUTE, "binance", "BTC/USDT", Side.BUY, D(1), D("103.5"), D(0))]
    assert result.unfilled == 0


@pytest.mark.parametrize(("latency_ms", "bar"), [(0, 3), (1, 4), (MINUTE, 4), (MINUTE + 1, 5), (3 * MINUTE, 6)])
def test_latency_delays_the_fill_to_the_first_bar_opening_after_it(latency_ms: int, bar: int) -> None:
    strategy = Scripted([BINANCE], {2: [Order(BINANCE, Side.BUY, quantity=D(1))]})
    _, result = engine_run(strategy, ten_bars(), costs=CostModel(fee_model=FeeModel.ZERO, latency_ms=latency_ms))
    assert trades(result) == [(START_MS + bar * MINUTE, "binance", "BTC/USDT", Side.BUY, D(1), D(OPENS[bar]), D(0))]


def test_a_fill_skips_missing_bars() -> None:
    strategy = Scripted([BINANCE], {2: [Order(BINANCE, Side.BUY, quantity=D(1))]})
    _, result = engine_run(strategy, ten_bars(missing=[3, 4]))
    assert trades(result) == [(START_MS + 5 * MINUTE, "binance", "BTC/USDT", Side.BUY, D(1), D("105.5"), D(0))]


def test_orders_decided_at_the_last_step_stay_unfilled_and_are_counted() -> None:
    strategy = Scripted(
        [BINANCE],
        {9: [Order(BINANCE, Side.BUY, quantity=D(1)), Order(BINANCE, Side.BUY, quantity=D(2))]},
    )
    _, result = engine_run(strategy, ten_bars())
    assert result.trades == []
    assert result.unfilled == 2
    assert result.final_nav == D(10000)


def test_taker_fee_and_slippage_on_a_market_order() -> None:
    strategy = Scripted(
        [BINANCE], {2: [Order(BINANCE, Side.BUY, quantity=D(2))], 4: [Order(BINANCE, Side.SELL, quantity=D(2))]}
    )
    costs = CostModel(fee_model=FeeModel.VENUE, slippage_bps=D(10))
    _, result = engine_run(strategy, ten_bars(), costs=costs)
    buy, sell = result.trades
    assert (buy.price, buy.reference_price, buy.fee) == (D("103.6035"), D("103.5"), D("0.207207"))
    assert (sell.price, sell.reference_price, sell.fee) == (D("105.3945"), D("105.5"), D("0.210789"))
    cash = D(10000) - 2 * D("103.6035") - D("0.207207") + 2 * D("105.3945") - D("0.210789")
    assert result.final_nav == cash.quantize(NAV_QUANTUM)
    assert result.attribution.fees == D("-0.417996")
    assert result.attribution.slippage == D("-0.418")  # 2 * 0.1035 + 2 * 0.1055
    assert result.attribution.price == D(4)  # 2 * (105.5 - 103.5)


def test_fee_overrides_by_market_and_by_venue() -> None:
    costs = CostModel(
        fee_overrides={BINANCE.key: FeeSchedule(D("0.0001"), D("0.0002")), "kraken": FeeSchedule(D(0), D("0.003"))}
    )
    assert costs.fees(BINANCE).taker == D("0.0002")
    assert costs.fees(BINANCE_PERP).taker == D("0.0005")
    assert costs.fees(BYBIT).taker == D("0.001")
    assert costs.fees(COINBASE).taker == D("0.006")


# -- limit orders ---------------------------------------------------------------------------------------------


def limit_bars():  # type: ignore[no-untyped-def]
    #          0      1      2      3      4      5      6      7
    opens = ["100", "100", "100", "100", "99", "101", "100", "102"]
    highs = ["101", "101", "101", "101", "100", "103", "101", "103"]
    lows = ["99", "99", "99", "98", "97", "100", "99", "101"]
    closes = ["100", "100", "100", "99", "98", "102", "100", "102"]
    return series_make(BINANCE, closes, opens=opens, highs=highs, lows=lows)


def limit(side: Side, price: str, quantity: str = "1") -> Order:
    return Order(BINANCE, side, quantity=D(quantity), order_type=OrderType.LIMIT, limit_price=D(price))


def test_a_buy_limit_fills_at_the_limit_when_a_later_bar_trades_through_with_the_maker_fee() -> None:
    # decided at step 1; bars 2 (low 99) does not reach 98.5; bar 3 (low 98) trades through
    strategy = Scripted([BINANCE], {1: [limit(Side.BUY, "98.5")]})
    costs = CostModel(fee_overrides={"binance": FeeSchedule(maker=D("0.0002"), taker=D("0.001"))})
    _, result = engine_run(strategy, limit_bars(), costs=costs)
    assert trades(result) == [(START_MS + 3 * MINUTE, "binance", "BTC/USDT", Side.BUY, D(1), D("98.5"), D("0.01970"))]
    assert result.attribution.slippage == 0
    assert result.unfilled == 0


def test_a_buy_limit_above_the_open_fills_at_the_open() -> None:
    strategy = Scripted([BINANCE], {3: [limit(Side.BUY, "99.5")]})  # bar 4 opens at 99, lower than the limit
    _, result = engine_run(strategy, limit_bars())
    assert trades(result) == [(START_MS + 4 * MINUTE, "binance", "BTC/USDT", Side.BUY, D(1), D(99), D(0))]


def test_a_sell_limit_fills_at_the_limit_or_a_better_open() -> None:
    strategy = Scripted(
        [BINANCE],
        {0: [Order(BINANCE, Side.BUY, quantity=D(2))], 3: [limit(Side.SELL, "102.5")], 5: [limit(Side.SELL, "101.5")]},
    )
    _, result = engine_run(strategy, limit_bars())
    assert trades(result)[1:] == [
        (START_MS + 5 * MINUTE, "binance", "BTC/USDT", Side.SELL, D(1), D("102.5"), D(0)),
        (START_MS + 7 * MINUTE, "binance", "BTC/USDT", Side.SELL, D(1), D(102), D(0)),
    ]


def test_a_touch_is_not_a_trade_through() -> None:
    strategy = Scripted([BINANCE], {0: [limit(Side.BUY, "99")]})  # bars 1 and 2 touch 99, bar 3 goes to 98
    _, result = engine_run(strategy, limit_bars())
    assert trades(result) == [(START_MS + 3 * MINUTE, "binance", "BTC/USDT", Side.BUY, D(1), D(99), D(0))]


def test_a_limit_never_reached_stays_unfilled() -> None:
    strategy = Scripted([BINANCE], {1: [limit(Side.BUY, "90")]})
    _, result = engine_run(strategy, limit_bars())
    assert result.trades == []
    assert result.unfilled == 1
    assert strategy.seen[-1][2] == 1  # the deposit only


def test_a_limit_does_not_fill_in_the_bar_already_seen() -> None:
    # bar 3 (low 98) has closed when the order is decided: only bar 4 (low 97) may fill it
    strategy = Scripted([BINANCE], {3: [limit(Side.BUY, "97.5")]})
    _, result = engine_run(strategy, limit_bars())
    assert trades(result) == [(START_MS + 4 * MINUTE, "binance", "BTC/USDT", Side.BUY, D(1), D("97.5"), D(0))]


# -- intents --------------------------------------------------------------------------------------------------


def test_target_positions_trade_the_difference() -> None:
    strategy = Scripted(
        [BINANCE_PERP],
        {
            1: [TargetPosition(BINANCE_PERP, D(2))],
            3: [TargetPosition(BINANCE_PERP, D("-0.5"))],
            5: [TargetPosition(BINANCE_PERP, D("-0.5"))],  # already there: nothing to do
            6: [TargetPosition(BINANCE_PERP, D(0))],
        },
    )
    _, result = engine_run(strategy, ten_bars(BINANCE_PERP))
    assert [(e.side, e.quantity, e.price) for e in result.trades] == [
        (Side.BUY, D(2), D("102.5")),
        (Side.SELL, D("2.5"), D("104.5")),
        (Side.BUY, D("0.5"), D("107.5")),
    ]
    # 2 * (104.5 - 102.5) - 0.5 * (107.5 - 104.5)
    assert result.final_nav == D("10002.5")


def test_protocol_actions_are_refused_as_unsupported_and_book_nothing() -> None:
    strategy = Scripted([BINANCE], {2: [ProtocolAction("aave", "supply", {"amount": "5"})]})
    _, result = engine_run(strategy, ten_bars())
    assert [(r.market, r.side, r.reason) for r in result.refusals] == [("aave", "supply", RefusalReason.UNSUPPORTED)]
    assert [e.kind for e in result.ledger] == [EntryKind.DEPOSIT]
    assert result.final_nav == D(10000)


def test_a_spot_sale_beyond_the_holding_is_refused_at_the_fill() -> None:
    strategy = Scripted(
        [BINANCE], {1: [Order(BINANCE, Side.BUY, quantity=D(1))], 3: [Order(BINANCE, Side.SELL, quantity=D(3))]}
    )
    _, result = engine_run(strategy, ten_bars())
    assert len(result.trades) == 1
    assert [r.reason for r in result.refusals] == [RefusalReason.INSUFFICIENT_POSITION]
    assert result.final_nav == D(10000) - D("102.5") + D(110)


def test_a_spot_buy_beyond_the_cash_is_refused_at_the_fill() -> None:
    strategy = Scripted([BINANCE], {1: [Order(BINANCE, Side.BUY, quantity=D(100))]})
    _, result = engine_run(strategy, ten_bars())
    assert result.trades == []
    assert [r.reason for r in result.refusals] == [RefusalReason.INSUFFICIENT_CASH]
    assert result.final_nav == D(10000)


def test_funding_positive_rate_longs_pay_shorts_receive() -> None:
    funding = {
        BINANCE_PERP: [(START_MS + 4 * MINUTE, D("0.0001"))],
        BYBIT_PERP: [(START_MS + 4 * MINUTE, D("0.0001"))],
    }
    strategy = Scripted(
        [BINANCE_PERP, BYBIT_PERP],
        {1: [Order(BINANCE_PERP, Side.BUY, quantity=D(10)), Order(BYBIT_PERP, Side.SELL, quantity=D(10))]},
    )
    _, result = engine_run(strategy, ten_bars(BINANCE_PERP), ten_bars(BYBIT_PERP), funding=funding)
    flows = [(e.venue, e.time_ms, e.amount) for e in result.ledger if e.kind is EntryKind.FUNDING]
    # the mark at 00:04 is bar 3's close, 104: 10 * 104 * 0.0001
    assert flows == [("binance", START_MS + 4 * MINUTE, D("-0.104")), ("bybit", START_MS + 4 * MINUTE, D("0.104"))]
    assert result.attribution.funding == 0
    assert result.final_nav == D(10000)  # long and short offset, funding too


def test_funding_is_off_when_the_cost_model_says_so() -> None:
    funding = {BINANCE_PERP: [(START_MS + 4 * MINUTE, D("0.0001"))]}
    strategy = Scripted([BINANCE_PERP], {1: [Order(BINANCE_PERP, Side.BUY, quantity=D(10))]})
    costs = CostModel(fee_model=FeeModel.ZERO, funding=False)
    _, result = engine_run(strategy, ten_bars(BINANCE_PERP), costs=costs, funding=funding)
    assert [e.kind for e in result.ledger] == [EntryKind.DEPOSIT, EntryKind.TRADE]


def test_cash_split_over_venues_sums_to_the_cash_exactly() -> None:
    strategy = Scripted([BINANCE, BYBIT, COINBASE])
    _, result = engine_run(strategy, ten_bars(BINANCE), ten_bars(BYBIT), ten_bars(COINBASE), cash="10000")
    deposits = [e.amount for e in result.ledger if e.kind is EntryKind.DEPOSIT]
    assert len(deposits) == 3
    with localcontext(ACCOUNTING):
        assert sum(deposits, D(0)) == D(10000)
    assert result.nav[0] == D(10000)


def test_a_run_without_bars_or_cash_or_with_two_numeraires_cannot_start() -> None:
    with pytest.raises(EngineError, match="no bars"):
        engine_run(Scripted([BINANCE]), BarSeries.empty(BINANCE, MINUTE))
    with pytest.raises(EngineError, match="cash must be positive"):
        engine_run(Scripted([BINANCE]), ten_bars(), cash="0")
    with pytest.raises(EngineError, match="no bars for traded market"):
        engine_run(Scripted([BINANCE, BYBIT]), ten_bars())
    usd = Market("coinbase", "BTC/USD")
    with pytest.raises(EngineError, match="valued in"):
        engine_run(Scripted([BINANCE, usd]), ten_bars(), ten_bars(usd))


# -- no look-ahead --------------------------------------------------------------------------------------------


def test_a_read_beyond_the_clock_raises_look_ahead_error() -> None:
    def peek(view: View):  # type: ignore[no-untyped-def]
        if view.k == 4:
            view.close(BINANCE, -1)
        return ()

    with pytest.raises(LookAheadError, match="in the future"):
        engine_run(Scripted([BINANCE], peek), ten_bars())


def test_a_read_of_a_bar_not_yet_closed_raises_look_ahead_error() -> None:
    def early(view: View):  # type: ignore[no-untyped-def]
        view.close(BYBIT)  # bybit's first bar closes two steps after binance's
        return ()

    with pytest.raises(LookAheadError, match="1 bars asked, 0 closed"):
        engine_run(
            Scripted([BINANCE, BYBIT], early),
            ten_bars(),
            series_make(BYBIT, CLOSES[:5], start_ms=START_MS + 2 * MINUTE),
        )


def test_the_view_shows_exactly_the_bars_closed_at_each_step() -> None:
    shown: list[tuple[int, int, int, list[float]]] = []

    def look(view: View):  # type: ignore[no-untyped-def]
        shown.append((view.k, view.bars(BINANCE), view.bars(BYBIT), list(view.closes_float(BINANCE, 2))))
        return ()

    bybit = series_make(BYBIT, CLOSES[:3], start_ms=START_MS + 2 * MINUTE, interval_ms=2 * MINUTE)
    engine_run(Scripted([BINANCE, BYBIT], look), ten_bars(), bybit)
    assert shown[:5] == [
        (0, 1, 0, [101.0]),
        (1, 2, 0, [101.0, 102.0]),
        (2, 3, 0, [102.0, 103.0]),
        (3, 4, 1, [103.0, 104.0]),  # bybit's first 2m bar opened at 00:02 and closed at 00:04
        (4, 5, 1, [104.0, 105.0]),
    ]


def wanderer_data(seed: int, count: int = 90) -> list[BarSeries]:
    return [
        random_series(BINANCE, count, seed=seed),
        random_series(BYBIT_PERP, count, seed=seed + 1),
        BarSeries.from_text(
            COINBASE,
            MINUTE,
            [r for i, r in enumerate(random_rows(count, seed=seed + 2)) if i % 7 != 3],  # gaps
        ),
    ]


WANDER_COSTS = CostModel(slippage_bps=D(3))


def funding_events(count: int) -> dict:  # type: ignore[type-arg]
    return {BYBIT_PERP: [(START_MS + i * 7 * MINUTE, D(i % 5 - 2) / 10000) for i in range(count // 7)]}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), cut=st.integers(1, 89))
@example(seed=4, cut=39)  # an order waiting for coinbase's next bar, which opens at the cut
def test_a_run_over_data_cut_at_t_trades_exactly_as_the_full_run_up_to_t(seed: int, cut: int) -> None:
    full_data = wanderer_data(seed)
    end_ms = START_MS + cut * MINUTE
    cut_data = [s.until(end_ms) for s in full_data]
    if any(len(s) == 0 for s in cut_data):
        return
    _, full = engine_run(
        Wanderer([s.market for s in full_data], seed=seed), *full_data, costs=WANDER_COSTS, funding=funding_events(90)
    )
    _, part = engine_run(
        Wanderer([s.market for s in cut_data], seed=seed), *cut_data, costs=WANDER_COSTS, funding=funding_events(90)
    )

    # up to its last step the cut run is the full run: the same entries in the same order, NAV and refusals
    assert ledger_json(part) == ledger_json(full)[: len(part.ledger)]
    assert part.nav_times == full.nav_times[: len(part.nav_times)]
    assert part.nav == full.nav[: len(part.nav)]
    assert part.refusals == full.refusals[: len(part.refusals)]
    # and every trade of the full run before the cut is in it
    assert [e for e in full.ledger[len(part.ledger) :] if e.kind is EntryKind.TRADE and e.time_ms < end_ms] == []


# -- NAV identity and determinism -----------------------------------------------------------------------------


def closes_at(series: BarSeries, t: int) -> Decimal | None:
    """The last close of ``series`` at or before ``t``, from its own columns."""
    best = None
    for i in range(len(series)):
        if int(series.open_ms[i]) + series.interval_ms <= t:
            best = bar_close(series, i)
    return best


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_nav_is_cash_plus_marked_positions_at_every_step(seed: int) -> None:
    data = wanderer_data(seed, count=120)
    strategy = Wanderer([s.market for s in data], seed=seed)
    _, result = engine_run(strategy, *data, costs=WANDER_COSTS, funding=funding_events(120), cash="30000")
    assert len(result.trades) > 20  # the run trades spot, perpetual long and short, and limits
    assert any(e.kind is EntryKind.FUNDING for e in result.ledger)
    assert len(strategy.seen) == len(result.nav)
    with localcontext(ACCOUNTING):
        for (k, t, booked), nav in zip(strategy.seen, result.nav, strict=True):
            # independently of the portfolio: for spot and linear perpetuals alike, NAV is what was deposited,
            # less what the trades paid (price and fee), plus the flows, plus each net quantity at its last close
            total = D(0)
            held: dict = {}
            for entry in result.ledger[:booked]:
                if entry.kind is EntryKind.TRADE:
                    signed = entry.quantity * entry.side.sign
                    total += -signed * entry.price - entry.fee
                    held[entry.market] = held.get(entry.market, D(0)) + signed
                else:
                    total += entry.amount
            for series in data:
                quantity = held.get(series.market, D(0))
                if quantity:
                    total += quantity * closes_at(series, t)
            assert total.quantize(NAV_QUANTUM) == nav, (k, t)


def test_two_runs_give_identical_ledger_json_and_nav() -> None:
    def run():  # type: ignore[no-untyped-def]
        data = wanderer_data(11, count=120)
        _, result = engine_run(
            Wanderer([s.market for s in data], seed=11), *data, costs=WANDER_COSTS, funding=funding_events(120)
        )
        return result

    first, second = run(), run()
    assert json.dumps(ledger_json(first)) == json.dumps(ledger_json(second))
    assert [str(n) for n in first.nav] == [str(n) for n in second.nav]
    assert [r.json() for r in first.refusals] == [r.json() for r in second.refusals]
    assert len(first.trades) > 10


def test_a_target_repeated_while_its_order_waits_is_not_traded_twice() -> None:
    # with two minutes of latency, the order for the target of step 1 still waits at step 2
    strategy = Scripted(
        [BINANCE_PERP],
        {
            1: [TargetPosition(BINANCE_PERP, D(2))],
            2: [TargetPosition(BINANCE_PERP, D(2))],
            3: [TargetPosition(BINANCE_PERP, D(1))],
        },
    )
    costs = CostModel(fee_model=FeeModel.ZERO, latency_ms=2 * MINUTE)
    _, result = engine_run(strategy, ten_bars(BINANCE_PERP), costs=costs)
    assert [(e.time_ms, e.side, e.quantity) for e in result.trades] == [
        (START_MS + 4 * MINUTE, Side.BUY, D(2)),
        (START_MS + 6 * MINUTE, Side.SELL, D(1)),
    ]
