"""Bars as exact scaled integers, several series on one clock, and what a strategy's view shows of them."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from strategies.core.data import BarSeries, DataError, MarketData
from tests.strategies.bars import BINANCE, BYBIT, MINUTE, START_MS, rows_make, series_make

D = Decimal


def test_prices_are_kept_exact_at_the_largest_scale_of_the_series() -> None:
    series = BarSeries.from_text(
        BINANCE,
        MINUTE,
        [(START_MS, "100", "100.25", "99.5", "100.125", "3"), (START_MS + MINUTE, "1E+2", "101", "99", "0.001", "1")],
    )
    assert series.scale == 3
    assert series.open.tolist() == [100_000, 100_000]
    assert series.close.tolist() == [100_125, 1]
    assert series.price(int(series.close[0])) == D("100.125")
    assert series.close_ms.tolist() == [START_MS + MINUTE, START_MS + 2 * MINUTE]


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "abc"])
def test_a_price_that_is_not_a_finite_decimal_is_a_data_error(bad: str) -> None:
    with pytest.raises(DataError):
        BarSeries.from_text(BINANCE, MINUTE, [(START_MS, "100", "101", "99", bad, "1")])


def test_a_price_too_fine_for_int64_is_a_data_error() -> None:
    with pytest.raises(DataError, match="int64"):
        BarSeries.from_text(BINANCE, MINUTE, [(START_MS, "100000", "100000", "100000", "0.00000000000001", "1")])


def test_unsorted_or_duplicate_times_are_refused() -> None:
    rows = rows_make(["1", "2", "3"])
    with pytest.raises(DataError, match="strictly increasing"):
        BarSeries.from_text(BINANCE, MINUTE, [rows[1], rows[0], rows[2]])
    with pytest.raises(DataError, match="strictly increasing"):
        BarSeries.from_text(BINANCE, MINUTE, [rows[0], rows[0]])


def test_market_data_refuses_no_markets_and_a_market_twice() -> None:
    with pytest.raises(DataError, match="no markets"):
        MarketData([])
    with pytest.raises(DataError, match="twice"):
        MarketData([series_make(BINANCE, ["1"]), series_make(BINANCE, ["2"])])


def test_the_clock_is_the_union_of_close_times() -> None:
    one = series_make(BINANCE, ["1", "2", "3", "4"])
    two = series_make(BYBIT, ["1", "2"], start_ms=START_MS + MINUTE, interval_ms=2 * MINUTE)
    data = MarketData([one, two])
    assert (data.times - START_MS).tolist() == [MINUTE, 2 * MINUTE, 3 * MINUTE, 4 * MINUTE, 5 * MINUTE]
    assert data.visible[0].tolist() == [1, 2, 3, 4, 4]
    assert data.visible[1].tolist() == [0, 0, 1, 1, 2]
    assert data.bars == 6


def test_until_keeps_the_bars_opening_before_the_end() -> None:
    series = series_make(BINANCE, ["1", "2", "3", "4"])
    cut = series.until(START_MS + 2 * MINUTE)
    assert cut.close.tolist() == [1, 2]
    assert len(series.until(START_MS)) == 0
    assert np.array_equal(series.until(START_MS + 10 * MINUTE).close, series.close)
