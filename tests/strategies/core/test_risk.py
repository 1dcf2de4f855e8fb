"""The risk layer: each limit refuses with its reason and nothing is booked; the kill switch flattens and halts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from strategies.core.costs import CostModel, FeeModel
from strategies.core.intents import Order, OrderType, Side
from strategies.core.portfolio import EntryKind, Portfolio
from strategies.core.risk import RefusalReason, RiskEngine, RiskLimits
from strategies.core.strategy import View
from tests.strategies.bars import BINANCE, BINANCE_PERP, BYBIT_PERP, MINUTE, START_MS, series_make
from tests.strategies.core.engine_runs import NO_LIMITS, engine_run
from tests.strategies.scripted import Scripted

D = Decimal
FLAT = [str(D(100) + i) for i in range(10)]  # bar i closes at 100 + i and opens at the previous close


def perp_bars(market=BINANCE_PERP, closes=FLAT, **kwargs):  # type: ignore[no-untyped-def]
    return series_make(market, closes, **kwargs)


def buy(quantity: str, market=BINANCE_PERP, **kwargs) -> Order:  # type: ignore[no-untyped-def]
    return Order(market, Side.BUY, quantity=D(quantity), **kwargs)


def reasons(result):  # type: ignore[no-untyped-def]
    return [(r.time_ms, r.market, r.reason) for r in result.refusals]


def only_deposits(result) -> bool:  # type: ignore[no-untyped-def]
    return [e.kind for e in result.ledger] == [EntryKind.DEPOSIT] and result.final_nav == D(1000)


# -- per-market limits, leverage, family cap ------------------------------------------------------------------


def test_position_limit_refuses_and_books_nothing() -> None:
    limits = RiskLimits(max_position={BINANCE_PERP.key: D(2)}, max_gross_leverage=None)
    _, result = engine_run(Scripted([BINANCE_PERP], {1: [buy("2.5")]}), perp_bars(), cash="1000", limits=limits)
    assert reasons(result) == [(START_MS + 2 * MINUTE, "binance:BTC/USDT:USDT", RefusalReason.POSITION_LIMIT)]
    assert result.refusals[0].detail == "position 2.5 above 2"
    assert only_deposits(result)


def test_position_limit_lets_an_order_up_to_it_through() -> None:
    limits = RiskLimits(max_position={BINANCE_PERP.key: D(2)}, max_gross_leverage=None)
    _, result = engine_run(Scripted([BINANCE_PERP], {1: [buy("2")]}), perp_bars(), cash="1000", limits=limits)
    assert result.refusals == []
    assert [e.quantity for e in result.trades] == [D(2)]


def test_position_limit_counts_a_short() -> None:
    limits = RiskLimits(max_position={BINANCE_PERP.key: D(2)}, max_gross_leverage=None)
    sell = Order(BINANCE_PERP, Side.SELL, quantity=D(3))
    _, result = engine_run(Scripted([BINANCE_PERP], {1: [sell]}), perp_bars(), cash="1000", limits=limits)
    assert [r.reason for r in result.refusals] == [RefusalReason.POSITION_LIMIT]
    assert only_deposits(result)


def test_notional_limit_refuses_at_the_last_close() -> None:
    # at step 1 the last close is 101: 3 * 101 = 303 > 300
    limits = RiskLimits(max_notional={BINANCE_PERP.key: D(300)}, max_gross_leverage=None)
    _, result = engine_run(Scripted([BINANCE_PERP], {1: [buy("3")]}), perp_bars(), cash="1000", limits=limits)
    assert [r.reason for r in result.refusals] == [RefusalReason.NOTIONAL_LIMIT]
    assert result.refusals[0].detail == "notional 303 above 300"
    assert only_deposits(result)


def test_gross_leverage_refuses_exposure_above_nav() -> None:
    strategy = Scripted([BINANCE_PERP], {1: [buy("9")], 2: [buy("0.9")]})
    _, result = engine_run(strategy, perp_bars(), cash="1000", limits=RiskLimits(max_gross_leverage=D(1)))
    # 9 * 101 = 909 passes; then 909 + 0.9 * 102 ... at step 2 the NAV is 1000 (filled at 101, marked at 102:
    # 1009) and the gross 9 * 102 + 0.9 * 102 = 1009.8 > 1009
    assert [(e.quantity, e.price) for e in result.trades] == [(D(9), D(101))]
    assert [r.reason for r in result.refusals] == [RefusalReason.GROSS_LEVERAGE]


def test_gross_leverage_lets_an_order_that_reduces_through() -> None:
    # 4 at 101 is 404 of 1000; at step 3 (close 103, NAV 1008) one more makes 515 > 504, selling 3 reduces
    strategy = Scripted([BINANCE_PERP], {1: [buy("4")], 3: [buy("1"), Order(BINANCE_PERP, Side.SELL, quantity=D(3))]})
    _, result = engine_run(strategy, perp_bars(), cash="1000", limits=RiskLimits(max_gross_leverage=D("0.5")))
    assert [(r.reason, r.detail) for r in result.refusals] == [
        (RefusalReason.GROSS_LEVERAGE, "gross 515 above 0.5 x NAV 1008")
    ]
    assert [(e.side, e.quantity, e.price) for e in result.trades] == [
        (Side.BUY, D(4), D(101)),
        (Side.SELL, D(3), D(103)),
    ]


@pytest.mark.parametrize(
    ("quantity", "refused"),
    [("2.5", False), ("2.6", True)],  # 10000 * 0.25 = 2500 at a mark of 1000
)
def test_the_gmx_family_is_held_to_a_quarter_of_its_own_nav(quantity: str, refused: bool) -> None:
    bars = perp_bars(closes=["1000"] * 5)
    strategy = Scripted([BINANCE_PERP], {1: [buy(quantity)]}, family="gmx")
    _, result = engine_run(strategy, bars, cash="10000", limits=RiskLimits())
    assert [r.reason for r in result.refusals] == ([RefusalReason.FAMILY_CAP] if refused else [])
    assert len(result.trades) == (0 if refused else 1)


@pytest.mark.parametrize(("quantity", "refused"), [("3.9", False), ("4.1", True)])
def test_the_gmx_family_cap_counts_external_exposure_against_the_portfolio_nav(quantity: str, refused: bool) -> None:
    # the vault's NAV is 20,000, of which 25 % is 5,000; other GMX strategies hold 1,000 already
    bars = perp_bars(closes=["1000"] * 5)
    strategy = Scripted([BINANCE_PERP], {1: [buy(quantity)]}, family="gmx")
    _, result = engine_run(
        strategy,
        bars,
        cash="10000",
        limits=RiskLimits(),
        external_family_exposure=D(1000),
        portfolio_nav=D(20000),
    )
    if refused:
        assert [r.reason for r in result.refusals] == [RefusalReason.FAMILY_CAP]
        assert result.refusals[0].detail == "gmx exposure 5100.0 above 0.25 of portfolio NAV 20000"
        assert [e.kind for e in result.ledger] == [EntryKind.DEPOSIT]
    else:
        assert result.refusals == []
        assert [e.quantity for e in result.trades] == [D(quantity)]


def test_other_families_have_no_cap() -> None:
    bars = perp_bars(closes=["1000"] * 5)
    strategy = Scripted([BINANCE_PERP], {1: [buy("9")]}, family="cex")
    _, result = engine_run(strategy, bars, cash="10000", limits=RiskLimits())
    assert result.refusals == []


# -- the daily loss kill switch -------------------------------------------------------------------------------


def test_daily_loss_flattens_and_halts() -> None:
    # given a strategy that buys 1 at every step, and the price falls 20 % at bar 4
    closes = ["100", "100", "100", "100", "80", "80", "75", "70"]
    strategy = Scripted([BINANCE_PERP], lambda view: [buy("1")])
    limits = RiskLimits(max_gross_leverage=None, family_caps={}, max_daily_loss=D("0.05"))
    # when
    _, result = engine_run(strategy, perp_bars(closes=closes), cash="1000", limits=limits)
    # then at step 4 NAV is 1000 + 4 * (80 - 100) = 920, 8 % down: flatten at bar 5's open and halt
    assert result.halted.startswith("daily loss 8.0000% above 5%")
    assert [k for k, _, _ in strategy.seen] == [0, 1, 2, 3, 4]  # never called again
    assert [(e.side, e.quantity, e.price, e.tag) for e in result.trades] == [
        (Side.BUY, D(1), D(100), ""),
        (Side.BUY, D(1), D(100), ""),
        (Side.BUY, D(1), D(100), ""),
        (Side.BUY, D(1), D(100), ""),
        (Side.SELL, D(4), D(80), "kill-switch"),
    ]
    # the order the strategy sent at the step of the breach is not booked
    assert [(r.time_ms, r.reason) for r in result.refusals] == [(START_MS + 5 * MINUTE, RefusalReason.HALTED)]
    assert result.nav[5:] == [D(920)] * 3
    assert result.exposed[-1] is False
    assert result.unfilled == 0


def test_a_loss_below_the_limit_does_not_halt() -> None:
    closes = ["100", "100", "100", "100", "99", "99"]
    strategy = Scripted([BINANCE_PERP], {0: [buy("1")]})
    limits = RiskLimits(max_gross_leverage=None, max_daily_loss=D("0.05"))
    _, result = engine_run(strategy, perp_bars(closes=closes), cash="1000", limits=limits)
    assert result.halted == ""
    assert len(strategy.seen) == 6


def test_a_halted_engine_refuses_everything_but_the_kill_switch() -> None:
    risk = RiskEngine(RiskLimits(max_daily_loss=D("0.01")), "cex")
    assert risk.on_nav(START_MS, D(1000)) is False  # the day's first NAV
    assert risk.on_nav(START_MS + MINUTE, D(989)) is True
    assert risk.on_nav(START_MS + 2 * MINUTE, D(900)) is False  # once
    portfolio = Portfolio("USDT")
    portfolio.deposit(time_ms=START_MS, venue="binance", amount=D(1000))
    marks = {BINANCE_PERP: D(100)}
    refusal = risk.check(time_ms=START_MS, order=buy("1"), portfolio=portfolio, marks=marks, last_close_ms=START_MS)
    assert refusal is not None and refusal.reason is RefusalReason.HALTED
    flatten = Order(BINANCE_PERP, Side.SELL, quantity=D(1), reduce_only=True, tag="kill-switch")
    assert risk.check(time_ms=START_MS, order=flatten, portfolio=portfolio, marks=marks, last_close_ms=START_MS) is None


# -- stale data and the price band ----------------------------------------------------------------------------


def test_stale_data_refuses_new_exposure_but_lets_a_reducing_order_through() -> None:
    # bybit misses bars 4 to 7; binance keeps the clock going
    binance = series_make(BINANCE, FLAT)
    bybit = perp_bars(BYBIT_PERP, missing=[4, 5, 6, 7])
    strategy = Scripted(
        [BINANCE, BYBIT_PERP],
        {
            1: [buy("1", BYBIT_PERP)],
            5: [buy("1", BYBIT_PERP), Order(BYBIT_PERP, Side.SELL, quantity=D(1))],
        },
        traded=[BYBIT_PERP],
    )
    limits = RiskLimits(max_gross_leverage=None, stale_after_ms=MINUTE)
    _, result = engine_run(strategy, binance, bybit, cash="1000", limits=limits)
    # at step 5 (00:06) bybit's last bar closed at 00:04
    assert [(r.time_ms, r.reason, r.detail) for r in result.refusals] == [
        (START_MS + 6 * MINUTE, RefusalReason.STALE_DATA, "last bar closed 120000 ms ago")
    ]
    # the sale fills at bybit's next bar, bar 8, opening at 107
    assert [(e.time_ms, e.side, e.price) for e in result.trades] == [
        (START_MS + 2 * MINUTE, Side.BUY, D(101)),
        (START_MS + 8 * MINUTE, Side.SELL, D(107)),
    ]


def test_a_fill_beyond_the_price_band_is_refused_and_books_nothing() -> None:
    # bar 3 opens at 110 after closing at 100: a gap of 10 %
    bars = perp_bars(
        closes=["100", "100", "100", "111", "111", "111"], opens=["100", "100", "100", "110", "111", "111"]
    )
    strategy = Scripted([BINANCE_PERP], {2: [buy("1")], 3: [buy("1")]})
    limits = RiskLimits(max_gross_leverage=None, price_band=D("0.05"))
    _, result = engine_run(strategy, bars, cash="1000", limits=limits)
    assert [(r.time_ms, r.reason, r.detail) for r in result.refusals] == [
        (START_MS + 3 * MINUTE, RefusalReason.PRICE_BAND, "fill reference 110 vs last close 100")
    ]
    assert [(e.time_ms, e.price) for e in result.trades] == [(START_MS + 4 * MINUTE, D(111))]


def test_a_limit_price_beyond_the_band_is_refused_at_decision() -> None:
    far = Order(BINANCE_PERP, Side.BUY, quantity=D(1), order_type=OrderType.LIMIT, limit_price=D(95))
    near = Order(BINANCE_PERP, Side.BUY, quantity=D(1), order_type=OrderType.LIMIT, limit_price=D(99))
    strategy = Scripted([BINANCE_PERP], {0: [far, near]})
    limits = RiskLimits(max_gross_leverage=None, price_band=D("0.04"))
    _, result = engine_run(strategy, perp_bars(closes=["100", "100", "98", "98"]), cash="1000", limits=limits)
    assert [(r.reason, r.detail) for r in result.refusals] == [(RefusalReason.PRICE_BAND, "limit 95 vs last 100")]
    assert result.unfilled == 0
    assert [(e.time_ms, e.price) for e in result.trades] == [(START_MS + 2 * MINUTE, D(99))]


def test_a_reduce_only_order_with_nothing_to_reduce_is_refused() -> None:
    strategy = Scripted([BINANCE], {1: [Order(BINANCE, Side.SELL, quantity=D(1), reduce_only=True)]})
    _, result = engine_run(strategy, series_make(BINANCE, FLAT), cash="1000", limits=NO_LIMITS)
    assert [r.reason for r in result.refusals] == [RefusalReason.INSUFFICIENT_POSITION]
    assert only_deposits(result)


def test_an_order_before_any_bar_of_its_market_has_no_price() -> None:
    def early(view: View):  # type: ignore[no-untyped-def]
        return [buy("1", BYBIT_PERP)] if view.k == 0 else []

    bybit = perp_bars(BYBIT_PERP, start_ms=START_MS + 3 * MINUTE)
    strategy = Scripted([BINANCE, BYBIT_PERP], early, traded=[BYBIT_PERP])
    _, result = engine_run(strategy, series_make(BINANCE, FLAT), bybit, cash="1000", limits=NO_LIMITS)
    assert [r.reason for r in result.refusals] == [RefusalReason.NO_PRICE]
    assert result.trades == []


# -- orders not filled yet count ------------------------------------------------------------------------------


def test_two_orders_in_one_step_cannot_pass_the_leverage_limit_together() -> None:
    # 6 * 101 = 606 of a 1000 NAV passes alone; the second 606 would make 1212
    strategy = Scripted([BINANCE_PERP], {1: [buy("6"), buy("6")]})
    _, result = engine_run(strategy, perp_bars(), cash="1000", limits=RiskLimits(max_gross_leverage=D(1)))
    assert [(r.reason, r.detail) for r in result.refusals] == [
        (RefusalReason.GROSS_LEVERAGE, "gross 1212 above 1 x NAV 1000")
    ]
    assert [e.quantity for e in result.trades] == [D(6)]


def test_orders_queued_behind_latency_count_against_the_position_limit() -> None:
    # with 3 minutes of latency the orders of steps 1, 2 and 3 all wait at once
    strategy = Scripted([BINANCE_PERP], {1: [buy("1")], 2: [buy("1")], 3: [buy("1")]})
    limits = RiskLimits(max_gross_leverage=None, max_position={BINANCE_PERP.key: D(2)})
    costs = CostModel(fee_model=FeeModel.ZERO, latency_ms=3 * MINUTE)
    _, result = engine_run(strategy, perp_bars(), cash="1000", limits=limits, costs=costs)
    assert [(r.time_ms, r.reason, r.detail) for r in result.refusals] == [
        (START_MS + 4 * MINUTE, RefusalReason.POSITION_LIMIT, "position 3 above 2")
    ]
    assert [e.quantity for e in result.trades] == [D(1), D(1)]


def test_a_pending_order_on_another_market_counts_in_the_gross() -> None:
    strategy = Scripted([BINANCE_PERP, BYBIT_PERP], {1: [buy("6"), buy("6", BYBIT_PERP)]})
    _, result = engine_run(
        strategy, perp_bars(), perp_bars(BYBIT_PERP), cash="1000", limits=RiskLimits(max_gross_leverage=D(1))
    )
    assert [r.reason for r in result.refusals] == [RefusalReason.GROSS_LEVERAGE]
    assert [e.market for e in result.trades] == [BINANCE_PERP]
