"""``FastBook``, the compiled exact tick book: scenarios, parsing, window growth and its bound, and a differential
test against :class:`L2Book` (the exact Decimal book it must agree with after every update)."""

from __future__ import annotations

from array import array
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderbook.l2._fastbook import FastBook
from orderbook.l2.book import BookDataError, L2Book, Side

D = Decimal


def test_scenario_best_levels_depth() -> None:
    book = FastBook(2, 8)
    assert book.best(0) is None and book.best(1) is None and book.best_ticks(0) is None
    book.apply(0, "100.00", "1.5")
    book.apply(0, "99.5", "2")
    book.apply(0, "101", "0.00000001")
    book.apply(1, "102.01", "3")
    book.apply(1, "103", "4")
    assert book.best(0) == (D("101"), D("0.00000001"))
    assert book.best_ticks(0) == (10100, 1)
    assert book.best_bid() == book.best(0) and book.best_ask() == (D("102.01"), D("3"))
    assert book.best_ticks(1) == (10201, 300_000_000)
    assert book.levels(0) == [(D("101"), D("0.00000001")), (D("100"), D("1.5")), (D("99.5"), D("2"))]
    assert book.levels(1, 1) == [(D("102.01"), D("3"))]
    assert book.levels_ticks(0, 2) == [(10100, 1), (10000, 150_000_000)]
    assert book.levels(0, 0) == [] and book.levels(0, -1) == []
    assert (book.depth(0), book.depth(1)) == (3, 2)
    assert book.size(0, "100") == D("1.5") and book.size(0, "100.01") is None and book.size(1, "100") is None
    assert not book.is_crossed()
    # Removing the best scans to the next level; removing an absent level is a no-op.
    book.apply(0, "101.00", "0")
    assert book.best(0) == (D("100"), D("1.5")) and book.depth(0) == 2
    book.apply(0, "101.00", "0")
    book.apply(0, "5000", "0")
    assert book.depth(0) == 2
    book.apply(1, "102.01", "0.0")
    assert book.best(1) == (D("103"), D("4"))
    # Updating a level in place keeps the count.
    book.apply(1, "103", "7")
    assert book.depth(1) == 1 and book.best(1) == (D("103"), D("7"))
    book.apply(0, "103", "1")
    assert book.is_crossed()
    book.truncate(1)
    assert book.levels(0) == [(D("103"), D("1"))] and book.depth(0) == 1
    book.truncate(0)
    assert book.depth(0) == 0 and book.depth(1) == 0 and book.best(0) is None and not book.is_crossed()
    book.apply(1, "1", "1")
    book.clear()
    assert book.best(1) is None and book.depth(1) == 0 and book.levels(1) == []
    book.apply(1, "1", "1")
    assert book.best(1) == (D("1"), D("1"))


def test_exact_decimals_and_trailing_zeros() -> None:
    book = FastBook(8, 8)
    book.apply(0, "0.00000001", "92233720368.54775807")  # the largest size that fits at 8 decimals
    assert book.best(0) == (D("0.00000001"), D("92233720368.54775807"))
    book.apply(1, "0.01000000000", "1.000000000000")  # zero padding past the configured decimals is exact
    assert book.best_ticks(1) == (1_000_000, 100_000_000)
    book = FastBook(0, 0)
    book.apply(1, "7.", "3.000")
    book.apply(1, "8", "1")
    assert book.levels(1) == [(D(7), D(3)), (D(8), D(1))]


@pytest.mark.parametrize(
    ("price", "size"),
    [
        ("100.001", "1"),  # more price decimals than configured
        ("100", "1.000000001"),  # more size decimals than configured
        ("-100", "1"),
        ("100", "-1"),
        ("+100", "1"),
        ("1e2", "1"),
        ("100", "1E-3"),
        ("NaN", "1"),
        ("Infinity", "1"),
        ("", "1"),
        (".", "1"),
        ("100", ""),
        (" 100", "1"),
        ("100 ", "1"),
        ("1_000", "1"),
        ("1.2.3", "1"),
        ("12a", "1"),
        ("0", "1"),  # a price must be positive
        ("0.00", "1"),
        ("99999999999999999999", "1"),  # does not fit in 64 bits
        ("100", "99999999999.99999999"),  # size units overflow
        ("\u0661\u0662", "1"),  # non-ASCII digits
    ],
)
def test_parse_refusals_change_nothing(price: str, size: str) -> None:
    book = FastBook(2, 8)
    book.apply(0, "100", "1")
    book.apply(1, "101", "2")
    before = (book.levels(0), book.levels(1), book.depth(0), book.depth(1))
    with pytest.raises(BookDataError):
        book.apply(0, price, size)
    with pytest.raises(BookDataError):
        book.apply(1, price, size)
    assert (book.levels(0), book.levels(1), book.depth(0), book.depth(1)) == before


def test_bad_arguments() -> None:
    book = FastBook(2, 2)
    with pytest.raises(ValueError, match="side"):
        book.apply(2, "1", "1")
    with pytest.raises(ValueError, match="side"):
        book.best_ticks(-1)
    with pytest.raises(BookDataError):
        book.apply_ticks(0, 0, 1)
    with pytest.raises(BookDataError):
        book.apply_ticks(0, 1, -1)
    with pytest.raises(TypeError):
        book.apply(0, 1, "1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="decimals"):
        FastBook(19, 2)
    with pytest.raises(ValueError, match="max_ticks"):
        FastBook(2, 2, max_ticks=0)
    with pytest.raises(ValueError, match="depth"):
        book.truncate(-1)


def test_window_grows_both_ways_and_keeps_levels() -> None:
    book = FastBook(2, 0)
    book.apply_ticks(0, 1_000_000, 5)
    lo, cap = book.window(0)
    assert lo <= 1_000_000 < lo + cap and cap < 100_000
    expected = {1_000_000: 5}
    for tick, size in ((1_000_000 + 3 * cap, 7), (10, 2), (5_000_000, 9), (1, 4), (999_999, 1)):
        book.apply_ticks(0, tick, size)
        expected[tick] = size
        lo, cap = book.window(0)
        assert lo <= min(expected) and max(expected) < lo + cap
        assert book.levels_ticks(0) == sorted(expected.items(), reverse=True)
    book.apply_ticks(1, 10_000_000, 1)
    book.apply_ticks(1, 20_000_000, 2)  # upwards
    book.apply_ticks(1, 3, 3)  # downwards
    assert book.levels_ticks(1) == [(3, 3), (10_000_000, 1), (20_000_000, 2)]
    # Removing down to the last level and then the best scans through the grown window.
    book.apply_ticks(1, 3, 0)
    assert book.best_ticks(1) == (10_000_000, 1)
    book.apply_ticks(1, 10_000_000, 0)
    assert book.best_ticks(1) == (20_000_000, 2)


def test_empty_side_recentres_without_growing() -> None:
    book = FastBook(2, 0)
    book.apply_ticks(1, 100, 1)
    cap = book.window(1)[1]
    book.apply_ticks(1, 100, 0)
    book.apply_ticks(1, 10**12, 1)
    lo, cap_after = book.window(1)
    assert cap_after == cap and lo <= 10**12 < lo + cap
    assert book.best_ticks(1) == (10**12, 1)


def test_memory_bound_refusal() -> None:
    book = FastBook(2, 0, max_ticks=10_000)
    book.apply_ticks(0, 50_000, 1)
    book.apply_ticks(0, 59_999, 2)  # a span of exactly 10,000 ticks is allowed
    with pytest.raises(BookDataError, match="max_ticks"):
        book.apply_ticks(0, 60_000, 3)
    with pytest.raises(BookDataError, match="max_ticks"):
        book.apply(0, "499.99", "3")
    assert book.levels_ticks(0) == [(59_999, 2), (50_000, 1)]
    assert book.window(0)[1] <= 10_000
    # A removal never grows the window; once the far level is gone, the price fits.
    book.apply_ticks(0, 10**9, 0)
    book.apply_ticks(0, 50_000, 0)
    book.apply_ticks(0, 60_000, 3)
    assert book.levels_ticks(0) == [(60_000, 3), (59_999, 2)]
    # The sides have separate windows.
    book.apply_ticks(1, 10**9, 1)
    assert book.best_ticks(1) == (10**9, 1)
    # A refused batch changes nothing.
    with pytest.raises(BookDataError, match="max_ticks"):
        book.apply_many_ticks(array("b", [0, 0]), array("q", [60_001, 80_000]), array("q", [1, 1]))
    assert book.levels_ticks(0) == [(60_000, 3), (59_999, 2)]


def test_batch_matches_one_by_one() -> None:
    sides = array("b", [0, 1, 0, 1, 0, 0, 1])
    prices = array("q", [100, 105, 101, 104, 101, 99, 105])
    sizes = array("q", [1, 2, 3, 4, 0, 5, 0])
    batch, single = FastBook(2, 0), FastBook(2, 0)
    batch.apply_many_ticks(sides, prices, sizes)
    for side, price, size in zip(sides, prices, sizes, strict=True):
        single.apply_ticks(side, price, size)
    for side in (0, 1):
        assert batch.levels_ticks(side) == single.levels_ticks(side)
    assert batch.levels_ticks(0) == [(100, 1), (99, 5)] and batch.levels_ticks(1) == [(104, 4)]
    with pytest.raises(ValueError, match="same length"):
        batch.apply_many_ticks(array("b", [0]), array("q", []), array("q", [1]))
    with pytest.raises(BookDataError, match="update 1"):
        batch.apply_many_ticks(array("b", [0, 0]), array("q", [100, 0]), array("q", [9, 1]))
    with pytest.raises(ValueError, match="update 0"):
        batch.apply_many_ticks(array("b", [2]), array("q", [100]), array("q", [1]))
    assert batch.levels_ticks(0) == [(100, 1), (99, 5)]


PRICE_DECIMALS, SIZE_DECIMALS = 2, 3


def _decimal_text(units: int, decimals: int, shown: int) -> str:
    """``units`` of 10**-decimals written with ``shown`` (<= decimals) decimals when that is exact, else all."""
    text = f"{units // 10**decimals}.{units % 10**decimals:0{decimals}d}" if decimals else str(units)
    if decimals and shown < decimals and text.endswith("0" * (decimals - shown)):
        text = text[: len(text) - (decimals - shown)]
        if text.endswith("."):
            text = text[:-1]
    return text


updates = st.lists(
    st.tuples(
        st.sampled_from([0, 1]),
        st.integers(1, 400),  # price ticks, so both sides overlap and cross
        st.integers(0, PRICE_DECIMALS),
        st.one_of(st.just(0), st.integers(0, 3_000)),  # size units; 0 removes
        st.integers(0, SIZE_DECIMALS),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(updates, st.integers(0, 6))
def test_differential_against_l2book(steps: list[tuple[int, int, int, int, int]], k: int) -> None:
    exact, fast = L2Book(), FastBook(PRICE_DECIMALS, SIZE_DECIMALS)
    for side, ticks, price_shown, units, size_shown in steps:
        price = _decimal_text(ticks, PRICE_DECIMALS, price_shown)
        size = _decimal_text(units, SIZE_DECIMALS, size_shown)
        exact.apply(Side(side), price, size)
        fast.apply(side, price, size)
        for s in (Side.BID, Side.ASK):
            assert fast.best(s) == exact.best(s)
            assert fast.levels(s, k) == exact.levels(s, k)
            assert fast.depth(s) == exact.depth(s)
        assert fast.is_crossed() == exact.is_crossed()
    for s in (Side.BID, Side.ASK):
        assert fast.levels(s) == exact.levels(s)
    exact.truncate(k)
    fast.truncate(k)
    for s in (Side.BID, Side.ASK):
        assert fast.levels(s) == exact.levels(s)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 1]), st.integers(1, 10**7), st.integers(0, 5)), max_size=80))
def test_differential_wide_prices_and_batch(steps: list[tuple[int, int, int]]) -> None:
    """Prices spread over 10**7 ticks force growth and re-centring; the batch API agrees with one-by-one."""
    exact, fast, batch = L2Book(), FastBook(2, 0), FastBook(2, 0)
    for side, ticks, units in steps:
        exact.apply(Side(side), Decimal(ticks).scaleb(-2), Decimal(units))
        fast.apply_ticks(side, ticks, units)
        for s in (Side.BID, Side.ASK):
            assert fast.best(s) == exact.best(s)
            assert fast.depth(s) == exact.depth(s)
    batch.apply_many_ticks(
        array("b", [step[0] for step in steps]),
        array("q", [step[1] for step in steps]),
        array("q", [s[2] for s in steps]),
    )
    for s in (Side.BID, Side.ASK):
        assert fast.levels(s) == exact.levels(s) == batch.levels(s)
