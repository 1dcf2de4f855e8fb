"""Exact small scenarios of QuantCup matching, each run against the reference and the compiled engine."""

from __future__ import annotations

from array import array
from typing import Any

import pytest

from orderbook.matching._engine import MatchingEngine
from orderbook.matching.reference import BUY, MAX_SIZE, SELL, OrderRejected


def test_best_price_first_then_earliest_order_at_that_price(engine_class: Any) -> None:
    # given asks at 101 (oldest), then two at 100
    engine = engine_class()
    assert engine.limit("a", SELL, 101, 10) == 1
    assert engine.limit("b", SELL, 100, 10) == 2
    assert engine.limit("c", SELL, 100, 10) == 3
    # when a buy sweeps 25 up to 102
    assert engine.limit("x", BUY, 102, 25) == 4
    # then 100 fills b before c, and 101 fills last; a keeps the rest
    assert engine.take_executions() == [
        ("x", BUY, 100, 10),
        ("b", SELL, 100, 10),
        ("x", BUY, 100, 10),
        ("c", SELL, 100, 10),
        ("x", BUY, 101, 5),
        ("a", SELL, 101, 5),
    ]
    assert engine.book() == [(SELL, 101, ((1, "a", 5),))]


def test_bids_fill_from_the_highest_price_and_the_buyer_is_reported_first(engine_class: Any) -> None:
    engine = engine_class()
    engine.limit("a", BUY, 99, 10)
    engine.limit("b", BUY, 100, 10)
    engine.limit("c", SELL, 99, 15)
    assert engine.take_executions() == [
        ("b", BUY, 100, 10),
        ("c", SELL, 100, 10),
        ("a", BUY, 99, 5),
        ("c", SELL, 99, 5),
    ]
    assert engine.book() == [(BUY, 99, ((1, "a", 5),))]


def test_partially_filled_resting_order_keeps_its_place(engine_class: Any) -> None:
    # given two asks at 100
    engine = engine_class()
    engine.limit("a", SELL, 100, 10)
    engine.limit("b", SELL, 100, 10)
    # when a takes a partial fill
    engine.limit("x", BUY, 100, 4)
    assert engine.book() == [(SELL, 100, ((1, "a", 6), (2, "b", 10)))]
    # then a is still first in line
    engine.limit("y", BUY, 100, 8)
    assert engine.take_executions() == [
        ("x", BUY, 100, 4),
        ("a", SELL, 100, 4),
        ("y", BUY, 100, 6),
        ("a", SELL, 100, 6),
        ("y", BUY, 100, 2),
        ("b", SELL, 100, 2),
    ]
    assert engine.book() == [(SELL, 100, ((2, "b", 8),))]


def test_remainder_rests_at_its_own_limit(engine_class: Any) -> None:
    engine = engine_class()
    engine.limit("a", SELL, 100, 5)
    engine.limit("x", BUY, 103, 8)
    assert engine.take_executions() == [("x", BUY, 100, 5), ("a", SELL, 100, 5)]
    assert engine.book() == [(BUY, 103, ((2, "x", 3),))]


def test_order_filled_on_arrival_still_takes_an_id(engine_class: Any) -> None:
    engine = engine_class()
    assert engine.limit("a", SELL, 100, 5) == 1
    assert engine.limit("x", BUY, 100, 5) == 2
    assert engine.book() == []
    assert engine.limit("y", BUY, 90, 1) == 3
    assert engine.book() == [(BUY, 90, ((3, "y", 1),))]


def test_cancel_removes_the_order_and_the_next_in_line_moves_up(engine_class: Any) -> None:
    engine = engine_class()
    engine.limit("a", SELL, 100, 10)
    engine.limit("b", SELL, 100, 10)
    engine.limit("x", BUY, 100, 3)  # a partly filled, then cancelled with its remaining 7
    engine.take_executions()
    engine.cancel(1)
    assert engine.book() == [(SELL, 100, ((2, "b", 10),))]
    engine.limit("y", BUY, 100, 12)
    assert engine.take_executions() == [("y", BUY, 100, 10), ("b", SELL, 100, 10)]
    assert engine.book() == [(BUY, 100, ((4, "y", 2),))]


def test_cancel_of_unknown_filled_cancelled_or_future_id_does_nothing(engine_class: Any) -> None:
    # given a filled order (1), a cancelled one (3) and a resting one (4)
    engine = engine_class()
    engine.limit("a", SELL, 100, 5)
    engine.limit("x", BUY, 100, 5)
    engine.limit("b", BUY, 95, 7)
    engine.cancel(3)
    engine.limit("c", BUY, 96, 2)
    engine.take_executions()
    book = [(BUY, 96, ((4, "c", 2),))]
    assert engine.book() == book
    # when cancels name the filled, the cancelled, zero, a negative and not-yet-issued ids
    for order_id in (1, 2, 3, 0, -1, 5, 6, 10**9):
        engine.cancel(order_id)
    # then nothing changed
    assert engine.book() == book
    assert engine.take_executions() == []
    # and the orders that later receive ids 5 and 6 are not cancelled
    assert engine.limit("d", SELL, 110, 1) == 5
    assert engine.limit("e", SELL, 111, 1) == 6
    assert engine.book() == [*book, (SELL, 110, ((5, "d", 1),)), (SELL, 111, ((6, "e", 1),))]


@pytest.mark.parametrize(
    ("price_rule", "resting", "incoming", "price"),
    [
        ("maker", (SELL, 100), (BUY, 105), 100),
        ("aggressor", (SELL, 100), (BUY, 105), 105),
        ("maker", (BUY, 105), (SELL, 100), 105),
        ("aggressor", (BUY, 105), (SELL, 100), 100),
    ],
)
def test_price_rule_picks_the_resting_or_the_incoming_price(
    engine_class: Any, price_rule: str, resting: tuple[int, int], incoming: tuple[int, int], price: int
) -> None:
    engine = engine_class(price_rule)
    engine.limit("r", resting[0], resting[1], 5)
    engine.limit("i", incoming[0], incoming[1], 5)
    buyer, seller = ("r", "i") if resting[0] == BUY else ("i", "r")
    assert engine.take_executions() == [(buyer, BUY, price, 5), (seller, SELL, price, 5)]


def test_aggressor_price_is_the_incoming_limit_at_every_level_swept(engine_class: Any) -> None:
    engine = engine_class("aggressor")
    engine.limit("a", SELL, 100, 1)
    engine.limit("b", SELL, 101, 1)
    engine.limit("x", BUY, 104, 2)
    assert engine.take_executions() == [
        ("x", BUY, 104, 1),
        ("a", SELL, 104, 1),
        ("x", BUY, 104, 1),
        ("b", SELL, 104, 1),
    ]


def test_unknown_price_rule_is_refused(engine_class: Any) -> None:
    with pytest.raises(ValueError, match="price_rule"):
        engine_class("midpoint")


def test_self_trade_is_reported_as_two_rows(engine_class: Any) -> None:
    engine = engine_class()
    engine.limit("a", SELL, 100, 5)
    engine.limit("a", BUY, 100, 5)
    assert engine.take_executions() == [("a", BUY, 100, 5), ("a", SELL, 100, 5)]
    assert engine.book() == []


def test_take_executions_empties_the_buffer(engine_class: Any) -> None:
    engine = engine_class()
    engine.limit("a", SELL, 100, 5)
    engine.limit("b", BUY, 100, 2)
    assert len(engine.take_executions()) == 2
    assert engine.take_executions() == []


@pytest.mark.parametrize(
    ("side", "price", "size", "message"),
    [
        (2, 100, 5, "side"),
        (-1, 100, 5, "side"),
        (BUY, 0, 5, "price"),
        (SELL, 65536, 5, "price"),
        (BUY, -7, 5, "price"),
        (BUY, 100, 0, "size"),
        (SELL, 100, -3, "size"),
    ],
)
def test_invalid_order_is_rejected_without_taking_an_id_or_touching_the_book(
    engine_class: Any, side: int, price: int, size: int, message: str
) -> None:
    # given a book with a bid and an ask, and one fill not yet taken
    engine = engine_class()
    engine.limit("a", BUY, 99, 5)
    engine.limit("b", SELL, 101, 5)
    engine.limit("c", BUY, 101, 2)
    book = engine.book()
    # when an invalid order arrives
    with pytest.raises(OrderRejected, match=message):
        engine.limit("z", side, price, size)
    # then no id was consumed and neither the book nor the pending executions changed
    assert engine.book() == book
    assert engine.take_executions() == [("c", BUY, 101, 2), ("b", SELL, 101, 2)]
    assert engine.limit("d", SELL, 65535, 1) == 4


def test_rejection_is_a_value_error() -> None:
    assert issubclass(OrderRejected, ValueError)


def test_extreme_prices_are_accepted_and_cross(engine_class: Any) -> None:
    engine = engine_class()
    engine.limit("a", SELL, 1, 3)
    engine.limit("b", BUY, 65535, 5)
    assert engine.take_executions() == [("b", BUY, 1, 3), ("a", SELL, 1, 3)]
    engine.limit("c", SELL, 1, 2)
    assert engine.take_executions() == [("b", BUY, 65535, 2), ("c", SELL, 65535, 2)]
    assert engine.book() == []


# The compiled engine's batch API.


def _columns(*messages: tuple[int, int, int, int, int]) -> tuple[array[int], ...]:
    kinds, traders, sides, prices, sizes_or_ids = zip(*messages, strict=True)
    return array("b", kinds), array("i", traders), array("b", sides), array("i", prices), array("q", sizes_or_ids)


def test_replay_returns_an_id_per_limit_and_zero_per_cancel() -> None:
    engine = MatchingEngine()
    a, b = engine.trader_code("a"), engine.trader_code("b")
    assert (a, b, engine.trader_code("a")) == (0, 1, 0)
    ids = engine.replay(*_columns((0, a, SELL, 100, 5), (1, 0, 0, 0, 1), (0, b, SELL, 101, 4), (0, a, BUY, 101, 3)))
    assert ids == array("i", [1, 0, 2, 3])
    assert engine.messages == 4
    assert engine.execution_count == 2
    assert engine.take_executions() == [("a", BUY, 101, 3), ("b", SELL, 101, 3)]
    assert engine.execution_count == 0
    assert engine.book() == [(SELL, 101, ((2, "b", 1),))]


def test_execution_columns_number_messages_across_calls_of_both_apis() -> None:
    # given one per-call limit (message 0), then a batch of a cancel (1) and two crossing limits (2, 3)
    engine = MatchingEngine("aggressor")
    engine.limit("a", SELL, 100, 5)
    a, b = engine.trader_code("a"), engine.trader_code("b")
    engine.replay(*_columns((1, 0, 0, 0, 99), (0, b, BUY, 102, 2), (0, b, BUY, 103, 1)))
    # when a second batch follows (message 4)
    engine.replay(
        *_columns(
            (0, a, BUY, 100, 9),
        )
    )
    # then executions name the engine's message numbers
    msg, trader, side, price, size = engine.take_execution_columns()
    assert list(msg) == [2, 2, 3, 3, 4, 4]
    assert list(trader) == [b, a, b, a, a, a]
    assert list(side) == [BUY, SELL] * 3
    assert list(price) == [102, 102, 103, 103, 100, 100]
    assert list(size) == [2, 2, 1, 1, 2, 2]
    assert (msg.typecode, trader.typecode, side.typecode, price.typecode, size.typecode) == ("q", "i", "b", "i", "q")
    assert engine.messages == 5
    assert engine.traders == ["a", "b"]
    assert engine.take_execution_columns() == (array("q"), array("i"), array("b"), array("i"), array("q"))


def test_replay_refuses_columns_it_cannot_trust() -> None:
    engine = MatchingEngine()
    engine.trader_code("a")
    with pytest.raises(ValueError, match="same length"):
        engine.replay(array("b", [0]), array("i", [0]), array("b", [0]), array("i", [100]), array("q"))
    with pytest.raises(ValueError, match="trader code 1"):
        engine.replay(*_columns((0, 1, BUY, 100, 1)))
    assert engine.messages == 0
    with pytest.raises(ValueError, match="kind"):
        engine.replay(*_columns((2, 0, BUY, 100, 1)))
    assert engine.book() == []


# Cases where the compiled engine once diverged from the reference (values beyond C integer ranges, fractions).


@pytest.mark.parametrize(("side", "price"), [(BUY, 2**31), (2**31, 100)])
def test_compiled_rejects_integers_too_large_for_c_as_order_rejected(side: int, price: int) -> None:
    with pytest.raises(OrderRejected):
        MatchingEngine().limit("a", side, price, 1)


def test_compiled_cancel_of_an_id_beyond_int64_does_nothing() -> None:
    engine = MatchingEngine()
    engine.limit("a", BUY, 100, 1)
    engine.cancel(2**63)
    assert engine.book() == [(BUY, 100, ((1, "a", 1),))]


def test_compiled_rejected_order_does_not_register_its_trader() -> None:
    engine = MatchingEngine()
    with pytest.raises(OrderRejected):
        engine.limit("z", 2, 100, 1)
    assert engine.traders == []


def test_non_integer_price_is_rejected(engine_class: Any) -> None:
    engine = engine_class()
    with pytest.raises(OrderRejected):
        engine.limit("a", SELL, 100.5, 3)


@pytest.mark.parametrize("size", [0, MAX_SIZE + 1, 2.7, True])
def test_sizes_outside_1_to_int64_or_not_integers_are_rejected_by_both(engine_class: Any, size: Any) -> None:
    engine = engine_class()
    with pytest.raises(OrderRejected):
        engine.limit("a", BUY, 100, size)
    assert engine.limit("a", BUY, 100, MAX_SIZE) == 1


def test_a_batch_with_one_bad_message_changes_nothing() -> None:
    engine = MatchingEngine()
    engine.trader_code("a")
    with pytest.raises(OrderRejected):
        engine.replay(*_columns((0, 0, BUY, 100, 5), (0, 0, SELL, 0, 1)))
    assert engine.messages == 0
    assert engine.book() == []
    assert list(engine.replay(*_columns((0, 0, BUY, 100, 5)))) == [1]
