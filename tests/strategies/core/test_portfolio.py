"""Portfolio and ledger: exact cash, positions, fees, realised PnL and funding; the ledger rebuilds the portfolio."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies.core.intents import Side
from strategies.core.markets import Market
from strategies.core.portfolio import (
    ACCOUNTING,
    EntryKind,
    Portfolio,
    PortfolioError,
    Position,
    RoundTrip,
    portfolio_replay,
)
from tests.strategies.bars import BINANCE, BINANCE_PERP

D = Decimal
ETH_PERP = Market("binance", "ETH/USDT:USDT")
EUR_SPOT = Market("kraken", "BTC/EUR")


def funded(amount: str = "10000", venue: str = "binance") -> Portfolio:
    portfolio = Portfolio("USDT")
    portfolio.deposit(time_ms=0, venue=venue, amount=D(amount))
    return portfolio


def buy(portfolio: Portfolio, market: Market, quantity: str, price: str, fee: str = "0", t: int = 1) -> None:
    portfolio.trade(
        time_ms=t,
        market=market,
        side=Side.BUY,
        quantity=D(quantity),
        price=D(price),
        fee=D(fee),
        reference_price=D(price),
    )


def sell(portfolio: Portfolio, market: Market, quantity: str, price: str, fee: str = "0", t: int = 1) -> None:
    portfolio.trade(
        time_ms=t,
        market=market,
        side=Side.SELL,
        quantity=D(quantity),
        price=D(price),
        fee=D(fee),
        reference_price=D(price),
    )


def snapshot(portfolio: Portfolio) -> dict[str, object]:
    return {
        "cash": dict(portfolio.cash),
        "positions": {m: asdict(p) for m, p in portfolio.positions.items()},
        "ledger": list(portfolio.ledger),
        "round_trips": list(portfolio.round_trips),
        "totals": (portfolio.deposits, portfolio.fees, portfolio.slippage, portfolio.funding),
    }


# -- spot ------------------------------------------------------------------------------------------------------


def test_spot_buy_pays_notional_and_fee() -> None:
    portfolio = funded()
    buy(portfolio, BINANCE, "0.25", "20000", fee="5")
    assert portfolio.cash_at("binance") == D("4995")
    assert portfolio.position(BINANCE) == D("0.25")
    assert portfolio.fees == D(5)
    entry = portfolio.ledger[-1]
    assert (entry.kind, entry.side, entry.quantity, entry.price, entry.fee, entry.fee_asset, entry.amount) == (
        EntryKind.TRADE,
        Side.BUY,
        D("0.25"),
        D("20000"),
        D(5),
        "USDT",
        D("-5005"),
    )
    assert portfolio.nav({BINANCE: D("21000")}) == D("4995") + D("0.25") * D("21000")


def test_spot_sell_receives_notional_less_fee() -> None:
    portfolio = funded()
    buy(portfolio, BINANCE, "0.25", "20000", fee="5")
    sell(portfolio, BINANCE, "0.1", "21000", fee="2.1")
    assert portfolio.cash_at("binance") == D("7092.9")
    assert portfolio.position(BINANCE) == D("0.15")
    assert portfolio.fees == D("7.1")
    assert portfolio.ledger[-1].amount == D("2097.9")


def test_spot_sale_beyond_the_holding_books_nothing() -> None:
    portfolio = funded()
    buy(portfolio, BINANCE, "0.25", "20000", fee="5")
    before = snapshot(portfolio)
    with pytest.raises(PortfolioError, match=r"spot sale of 0\.26 BTC with 0\.25 held"):
        sell(portfolio, BINANCE, "0.26", "21000", fee="1")
    assert snapshot(portfolio) == before


def test_spot_sale_with_nothing_held_leaves_no_trace() -> None:
    portfolio = funded()
    before = snapshot(portfolio)
    with pytest.raises(PortfolioError):
        sell(portfolio, BINANCE, "1", "100")
    assert snapshot(portfolio) == before
    assert BINANCE not in portfolio.positions


@pytest.mark.parametrize(
    ("quantity", "price", "fee"), [("0", "100", "0"), ("-1", "100", "0"), ("1", "0", "0"), ("1", "100", "-0.1")]
)
def test_a_fill_without_positive_quantity_and_price_or_with_a_negative_fee_is_refused(
    quantity: str, price: str, fee: str
) -> None:
    portfolio = funded()
    before = snapshot(portfolio)
    with pytest.raises(PortfolioError):
        buy(portfolio, BINANCE, quantity, price, fee)
    assert snapshot(portfolio) == before


def test_a_second_numeraire_is_refused() -> None:
    portfolio = funded()
    before = snapshot(portfolio)
    with pytest.raises(PortfolioError, match="valued in USDT; EUR cash"):
        buy(portfolio, EUR_SPOT, "1", "100")
    assert snapshot(portfolio) == before


def test_a_deposit_must_be_positive() -> None:
    portfolio = funded()
    with pytest.raises(PortfolioError):
        portfolio.deposit(time_ms=1, venue="binance", amount=D(0))
    assert portfolio.cash_at("binance") == D(10000)
    assert len(portfolio.ledger) == 1


# -- perpetuals ------------------------------------------------------------------------------------------------


def test_perp_long_add_reduce_flip_realises_pnl_at_average_entry() -> None:
    portfolio = funded("1000")
    buy(portfolio, BINANCE_PERP, "2", "100", fee="0.1")
    assert portfolio.cash_at("binance") == D("999.9")  # no notional changes hands
    assert portfolio.positions[BINANCE_PERP] == Position(D(2), D(100))
    buy(portfolio, BINANCE_PERP, "1", "130")
    assert portfolio.positions[BINANCE_PERP] == Position(D(3), D(110))
    assert portfolio.nav({BINANCE_PERP: D(120)}) == D("999.9") + 3 * D(10)

    sell(portfolio, BINANCE_PERP, "1", "120", fee="0.2")  # reduce: realises 1 * (120 - 110)
    assert portfolio.cash_at("binance") == D("999.9") + D(10) - D("0.2")
    assert portfolio.positions[BINANCE_PERP] == Position(D(2), D(110))
    assert portfolio.ledger[-1].amount == D("9.8")

    sell(portfolio, BINANCE_PERP, "5", "90", fee="0.5")  # flip: closes 2 at -20 each, opens 3 short at 90
    assert portfolio.cash_at("binance") == D("1009.7") - D(40) - D("0.5")
    assert portfolio.positions[BINANCE_PERP] == Position(D(-3), D(90))
    assert portfolio.nav({BINANCE_PERP: D(80)}) == D("969.2") + D(30)


def test_perp_short_reduce_and_close() -> None:
    portfolio = funded("1000")
    sell(portfolio, BINANCE_PERP, "2", "100")
    assert portfolio.positions[BINANCE_PERP] == Position(D(-2), D(100))
    assert portfolio.market_value(BINANCE_PERP, D(95)) == D(10)
    buy(portfolio, BINANCE_PERP, "1", "90")  # a short gains when the price falls
    assert portfolio.cash_at("binance") == D(1010)
    assert portfolio.positions[BINANCE_PERP] == Position(D(-1), D(100))
    buy(portfolio, BINANCE_PERP, "1", "105")
    assert portfolio.cash_at("binance") == D(1005)
    assert portfolio.positions[BINANCE_PERP] == Position(D(0), D(0))
    assert portfolio.nav({}) == D(1005)


def test_perp_short_average_entry() -> None:
    portfolio = funded("1000")
    sell(portfolio, BINANCE_PERP, "1", "100")
    sell(portfolio, BINANCE_PERP, "3", "80")
    assert portfolio.positions[BINANCE_PERP] == Position(D(-4), D(85))


def test_funding_is_booked_as_a_cash_flow() -> None:
    portfolio = funded("1000")
    buy(portfolio, BINANCE_PERP, "2", "100")
    entry = portfolio.cash_flow(time_ms=5, kind=EntryKind.FUNDING, market=BINANCE_PERP, amount=D("-0.02"))
    assert portfolio.cash_at("binance") == D("999.98")
    assert portfolio.funding == D("-0.02")
    assert (entry.kind, entry.amount, entry.symbol) == (EntryKind.FUNDING, D("-0.02"), "BTC/USDT:USDT")


def test_only_funding_interest_and_gas_are_cash_flows() -> None:
    portfolio = funded()
    with pytest.raises(PortfolioError, match="not a cash flow"):
        portfolio.cash_flow(time_ms=1, kind=EntryKind.TRADE, market=BINANCE_PERP, amount=D(1))
    assert len(portfolio.ledger) == 1


# -- round trips and attribution -------------------------------------------------------------------------------


def test_round_trips_carry_every_flow_from_open_to_flat() -> None:
    portfolio = funded("1000")
    buy(portfolio, BINANCE_PERP, "2", "100", fee="0.2", t=10)
    portfolio.cash_flow(time_ms=15, kind=EntryKind.FUNDING, market=BINANCE_PERP, amount=D("-0.05"))
    sell(portfolio, BINANCE_PERP, "1", "110", fee="0.1", t=20)
    sell(portfolio, BINANCE_PERP, "1", "90", fee="0.1", t=30)
    assert portfolio.round_trips == [RoundTrip(BINANCE_PERP, 10, 30, D("-0.45"))]

    buy(portfolio, BINANCE, "1", "50", fee="0.05", t=40)
    sell(portfolio, BINANCE, "1", "60", fee="0.06", t=50)
    assert portfolio.round_trips[-1] == RoundTrip(BINANCE, 40, 50, D("9.89"))


def test_a_flip_ends_one_round_trip_and_opens_the_next_with_its_share_of_the_fee() -> None:
    portfolio = funded("1000")
    buy(portfolio, BINANCE_PERP, "1", "100", t=10)
    sell(portfolio, BINANCE_PERP, "4", "110", fee="0.4", t=20)  # closes 1 (fee 0.1), opens 3 short (fee 0.3)
    buy(portfolio, BINANCE_PERP, "3", "100", t=30)
    assert portfolio.round_trips == [
        RoundTrip(BINANCE_PERP, 10, 20, D("9.9")),
        RoundTrip(BINANCE_PERP, 20, 30, D("29.7")),
    ]
    assert sum(trip.pnl for trip in portfolio.round_trips) == portfolio.cash_at("binance") - D(1000)


def test_attribution_parts_sum_to_the_total_exactly() -> None:
    portfolio = funded("1000")
    portfolio.trade(
        time_ms=1,
        market=BINANCE_PERP,
        side=Side.BUY,
        quantity=D("2"),
        price=D("100.05"),
        fee=D("0.1"),
        reference_price=D("100"),
    )
    portfolio.cash_flow(time_ms=2, kind=EntryKind.FUNDING, market=BINANCE_PERP, amount=D("-0.02"))
    portfolio.cash_flow(time_ms=2, kind=EntryKind.GAS, market=BINANCE_PERP, amount=D("-0.5"))
    portfolio.cash_flow(time_ms=2, kind=EntryKind.INTEREST, market=BINANCE_PERP, amount=D("0.03"))
    nav = portfolio.nav({BINANCE_PERP: D(110)})
    parts = portfolio.attribution(nav)
    assert parts.total == nav - D(1000) == D("19.31")
    assert (parts.fees, parts.slippage, parts.funding, parts.gas, parts.interest) == (
        D("-0.1"),
        D("-0.10"),
        D("-0.02"),
        D("-0.5"),
        D("0.03"),
    )
    assert parts.price == D(20)  # 2 * (110 - 100): the move at reference prices
    assert parts.price + parts.fees + parts.slippage + parts.funding + parts.interest + parts.gas == parts.total
    assert parts.json()["total"] == "19.31"


# -- the ledger rebuilds the portfolio -------------------------------------------------------------------------

MARKETS = [BINANCE, BINANCE_PERP, ETH_PERP]
fills = st.lists(
    st.tuples(
        st.sampled_from(range(len(MARKETS))),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.decimals(min_value=D("0.001"), max_value=D(5), places=3),
        st.decimals(min_value=D("0.01"), max_value=D(50000), places=2),
        st.decimals(min_value=D(0), max_value=D(3), places=4),
        st.decimals(min_value=D(0), max_value=D(5), places=2),  # slippage on the price
        st.decimals(min_value=D("-1"), max_value=D("1"), places=4),  # a funding flow after the fill
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fills)
def test_replaying_the_ledger_rebuilds_cash_positions_and_round_trips(
    steps: list[tuple[int, Side, Decimal, Decimal, Decimal, Decimal, Decimal]],
) -> None:
    portfolio = funded("100000")
    for t, (m, side, quantity, price, fee, slip, funding) in enumerate(steps, start=1):
        market = MARKETS[m]
        filled = price + slip * side.sign if price + slip * side.sign > 0 else price
        try:
            portfolio.trade(
                time_ms=t, market=market, side=side, quantity=quantity, price=filled, fee=fee, reference_price=price
            )
        except PortfolioError:
            assert side is Side.SELL and portfolio.position(market) < quantity
        if funding and market is not BINANCE and portfolio.position(market):
            portfolio.cash_flow(time_ms=t, kind=EntryKind.FUNDING, market=market, amount=funding)

    rebuilt = portfolio_replay("USDT", portfolio.ledger)
    assert snapshot(rebuilt) == snapshot(portfolio)
    assert rebuilt.positions == portfolio.positions
    marks = {m: D("123.45") for m in MARKETS}
    assert rebuilt.nav(marks) == portfolio.nav(marks)
    # every flow is in a round trip or in an open one, and the attribution sums exactly
    nav = portfolio.nav(marks)
    parts = portfolio.attribution(nav)
    with localcontext(ACCOUNTING):  # the accounting's own precision: 34 digits
        assert parts.price + parts.fees + parts.slippage + parts.funding + parts.interest + parts.gas == parts.total
        closed = sum((trip.pnl for trip in portfolio.round_trips), D(0))
        still_open = sum((pnl for _, pnl in portfolio._trip_open.values()), D(0))
        # cash of 1e5 keeps 29 decimals of the 34 digits, a trip's pnl may keep more: equal to the last digits
        assert abs(closed + still_open - (portfolio.total_cash() - D(100000))) < D("1e-27")
