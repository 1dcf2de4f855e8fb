"""Walking an L2 book side for a market order: exact average price, partial fills, the taker fee on top."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest

from strategies.core.bookfill import BookFill, BookFillError, book_walk
from strategies.core.intents import Side
from strategies.core.portfolio import ACCOUNTING

D = Decimal
ASKS = ((D("100.0"), D("1.5")), (D("100.5"), D("2")), (D("101"), D("10")))
BIDS = ((D("99.9"), D("0.5")), (D("99.5"), D("1")), (D("99"), D("3")))


def test_a_buy_takes_the_asks_best_first_at_their_own_prices() -> None:
    fill = book_walk(side=Side.BUY, levels=ASKS, taker_rate=D("0.001"), quantity=D("3"))
    # 1.5 @ 100.0 + 1.5 @ 100.5 = 150.00 + 150.75 = 300.75
    assert fill == BookFill(
        quantity=D("3"),
        notional=D("300.75"),
        price=D("100.25"),
        reference=D("100.0"),
        fee=D("0.30075"),
        unfilled=D("0"),
        levels=2,
    )
    assert fill.complete and fill.filled
    assert fill.slippage == D("0.75")  # 3 * (100.25 - 100.0)


def test_a_sell_takes_the_bids_and_a_level_exactly_used_up_stops_the_walk() -> None:
    fill = book_walk(side=Side.SELL, levels=BIDS, taker_rate=D("0.0005"), quantity=D("1.5"))
    assert (fill.quantity, fill.notional, fill.levels, fill.unfilled) == (D("1.5"), D("149.45"), 2, D("0"))
    assert fill.price == D("99.63333333333333333333333333333333")  # 34 significant digits, half-even
    assert fill.fee == D("0.074725")


def test_a_book_too_thin_fills_what_is_there_and_reports_the_rest() -> None:
    fill = book_walk(side=Side.SELL, levels=BIDS, taker_rate=D("0.001"), quantity=D("5"))
    assert fill.quantity == D("4.5")
    assert fill.notional == D("49.95") + D("99.5") + D("297")
    assert fill.unfilled == D("0.5")
    assert fill.levels == 3
    assert not fill.complete


def test_a_quote_amount_buy_spends_its_amount_fee_included() -> None:
    # 1.5 @ 100 costs 1.5 * 100 * 1.001 = 150.15; the rest, 100.00 - ... see below, buys at 100.5 * 1.001.
    fill = book_walk(side=Side.BUY, levels=ASKS, taker_rate=D("0.001"), quote_amount=D("250.15"))
    with localcontext(ACCOUNTING):
        second = D("100") / (D("100.5") * D("1.001"))
        assert fill.quantity == D("1.5") + second
        assert fill.notional == D("150.0") + second * D("100.5")
    assert fill.unfilled == 0
    assert fill.levels == 2
    with localcontext(ACCOUNTING):
        assert abs(fill.notional + fill.fee - D("250.15")) < D("1e-30")


def test_a_quote_amount_beyond_the_book_leaves_quote_unfilled() -> None:
    levels = ((D("10"), D("1")),)
    fill = book_walk(side=Side.BUY, levels=levels, taker_rate=D("0"), quote_amount=D("25"))
    assert (fill.quantity, fill.notional, fill.unfilled) == (D("1"), D("10"), D("15"))


def test_a_price_limit_stops_the_walk_before_a_worse_level() -> None:
    fill = book_walk(side=Side.BUY, levels=ASKS, taker_rate=D("0"), quantity=D("5"), price_limit=D("100.5"))
    assert (fill.quantity, fill.unfilled, fill.levels) == (D("3.5"), D("1.5"), 2)
    fill = book_walk(side=Side.SELL, levels=BIDS, taker_rate=D("0"), quantity=D("1"), price_limit=D("99.95"))
    assert (fill.quantity, fill.unfilled, fill.levels, fill.price) == (D("0"), D("1"), 0, D("0"))


def test_an_empty_side_fills_nothing() -> None:
    fill = book_walk(side=Side.BUY, levels=(), taker_rate=D("0.001"), quantity=D("1"))
    assert fill == BookFill(D("0"), D("0"), D("0"), D("0"), D("0"), D("1"), 0)


@pytest.mark.parametrize(
    ("side", "levels", "message"),
    [
        (Side.BUY, ((D("101"), D("1")), (D("100"), D("1"))), "asks must rise"),
        (Side.BUY, ((D("100"), D("1")), (D("100"), D("1"))), "asks must rise"),
        (Side.SELL, ((D("99"), D("1")), (D("99.5"), D("1"))), "bids must fall"),
        (Side.SELL, ((D("99"), D("0")),), "positive price and size"),
        (Side.BUY, ((D("-1"), D("1")),), "positive price and size"),
    ],
)
def test_levels_out_of_order_or_not_positive_are_refused(
    side: Side, levels: tuple[tuple[Decimal, Decimal], ...], message: str
) -> None:
    with pytest.raises(BookFillError, match=message):
        book_walk(side=side, levels=levels, taker_rate=D("0"), quantity=D("1"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "not both or neither"),
        ({"quantity": D("1"), "quote_amount": D("1")}, "not both or neither"),
        ({"quantity": D("0")}, "quantity must be positive"),
        ({"quote_amount": D("-1")}, "quote amount must be positive"),
    ],
)
def test_an_order_with_no_sensible_size_is_refused(kwargs: dict[str, Decimal], message: str) -> None:
    with pytest.raises(BookFillError, match=message):
        book_walk(side=Side.BUY, levels=ASKS, taker_rate=D("0"), **kwargs)


def test_a_quote_amount_sell_is_refused() -> None:
    with pytest.raises(BookFillError, match="only a buy"):
        book_walk(side=Side.SELL, levels=BIDS, taker_rate=D("0"), quote_amount=D("1"))
