"""The consolidated book: per-venue tops, aggregated depth, and cross-venue signals after taker fees."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from orderbook.l2.book import L2Book, Side
from orderbook.l2.consolidated import AggregatedLevel, ConsolidatedBook, CrossVenueSignal, VenueQuote

FEES = {"binance": D("0.001"), "bybit": D("0.00055"), "coinbase": D("0.006")}


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> L2Book:
    result = L2Book()
    result.apply_many(Side.BID, bids)
    result.apply_many(Side.ASK, asks)
    return result


def test_quotes_and_best_prices_across_venues() -> None:
    consolidated = ConsolidatedBook(
        {
            "binance": book([("100.10", "2"), ("100.00", "5")], [("100.20", "1")]),
            "bybit": book([("100.10", "3")], [("100.30", "4")]),
            "coinbase": None,  # resyncing: contributes nothing
        },
        FEES,
    )
    assert consolidated.quotes() == [
        VenueQuote("binance", (D("100.10"), D("2")), (D("100.20"), D("1"))),
        VenueQuote("bybit", (D("100.10"), D("3")), (D("100.30"), D("4"))),
    ]
    assert consolidated.best(Side.BID) == (D("100.10"), ("binance", "bybit"))
    assert consolidated.best(Side.ASK) == (D("100.20"), ("binance",))


def test_depth_is_aggregated_by_exact_price() -> None:
    consolidated = ConsolidatedBook(
        {
            "binance": book([("100.10", "2"), ("100.00", "5")], []),
            "bybit": book([("100.1", "0.5"), ("99.9", "1")], []),
        },
        FEES,
    )
    assert consolidated.levels(Side.BID, 2) == [
        AggregatedLevel(D("100.10"), D("2.5"), (("binance", D("2")), ("bybit", D("0.5")))),
        AggregatedLevel(D("100.00"), D("5"), (("binance", D("5")),)),
    ]
    assert consolidated.levels(Side.ASK, 5) == []


def test_a_crossed_pair_is_a_signal_only_when_it_beats_both_taker_fees() -> None:
    # bybit bids 100.50 (size 2), binance asks 100.20 (size 3).
    # edge = 100.50 * (1 - 0.00055) - 100.20 * (1 + 0.001) = 100.444725 - 100.3002 = 0.144525
    consolidated = ConsolidatedBook(
        {"binance": book([], [("100.20", "3")]), "bybit": book([("100.50", "2")], [])}, FEES
    )
    [signal] = consolidated.signals()
    assert signal == CrossVenueSignal("binance", D("100.20"), "bybit", D("100.50"), D("2"), D("0.144525"))
    assert signal.profit == D("0.289050")

    # The same prices with coinbase's 60 bp fee on the buy side do not pay:
    # 100.50 * 0.99945 - 100.20 * 1.006 = 100.444725 - 100.8012 < 0
    assert (
        ConsolidatedBook(
            {"coinbase": book([], [("100.20", "3")]), "bybit": book([("100.50", "2")], [])}, FEES
        ).signals()
        == []
    )


def test_no_signal_between_a_venue_and_itself_or_on_an_uncrossed_market() -> None:
    consolidated = ConsolidatedBook(
        {"binance": book([("99", "1")], [("100", "1")]), "bybit": book([("99.5", "1")], [("100.5", "1")])}, FEES
    )
    assert consolidated.signals() == []


def test_signals_are_ordered_by_edge() -> None:
    fees = {"a": D("0"), "b": D("0"), "c": D("0")}
    consolidated = ConsolidatedBook(
        {"a": book([], [("10", "1")]), "b": book([("11", "1")], [("12", "1")]), "c": book([("13", "1")], [])}, fees
    )
    assert [(s.buy_venue, s.sell_venue, s.edge) for s in consolidated.signals()] == [
        ("a", "c", D("3")),
        ("a", "b", D("1")),
        ("b", "c", D("1")),
    ]


@pytest.mark.parametrize("fees", [{}, {"binance": 0.001}, {"binance": D("1")}, {"binance": D("-0.1")}])
def test_missing_or_invalid_fees_are_refused(fees: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="fee"):
        ConsolidatedBook({"binance": L2Book()}, fees)  # type: ignore[arg-type]
