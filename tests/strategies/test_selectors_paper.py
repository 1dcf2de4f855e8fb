"""Paper mode's reads: a batch's candles (the new ones, the warm-up before them and the bars counted before that),
the markets' latest closes, and one venue's book out of the published consolidated snapshot."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache

from hftplatform.core.utc import utc_from_ms
from marketdata import services as marketdata
from marketdata.core.candles import Candle
from orderbook.l2.book import L2Book, Side
from orderbook.live.snapshots import VenueFeed, book_snapshot
from orderbook.selectors import DEFAULT_TAKER_FEES, orderbook_cache_key
from strategies import selectors
from strategies.core.paper import BookSide
from tests.strategies.paper_bars import BINANCE, IV, T0, walk
from tests.strategies.paper_runs import candles_write, tracked_markets

pytestmark = pytest.mark.django_db

D = Decimal


def test_a_batch_reads_the_new_candles_the_warmup_and_counts_the_bars_before() -> None:
    instruments = tracked_markets()
    bars = walk(3, 20)
    candles_write(instruments, bars, 0, 20)
    marketdata.klines_store(  # the still-open candle is never read
        instrument_id=instruments["binance"].pk,
        interval="1m",
        candles=[Candle(T0 + 20 * IV, "1", "1", "1", "1", "1", closed=False)],
        covered=None,
    )
    rows = bars[BINANCE]
    read = selectors.paper_bars_read
    kwargs: dict[str, Any] = {"instrument_id": instruments["binance"].pk, "interval": "1m", "interval_ms": IV}

    first = read(**kwargs, start_ms=T0 + 2 * IV, last_event_ms=None, horizon_ms=T0 + 6 * IV, warmup=3)
    assert (first.rows, first.offset) == (rows[2:6], 0)

    later = read(**kwargs, start_ms=T0 + 2 * IV, last_event_ms=T0 + 12 * IV, horizon_ms=T0 + 15 * IV, warmup=3)
    assert (later.rows, later.offset) == (rows[9:15], 7)  # bars 2..8 counted, 9..11 warm-up, 12..14 new

    everything = read(**kwargs, start_ms=T0 + 2 * IV, last_event_ms=T0 + 12 * IV, horizon_ms=T0 + 99 * IV, warmup=None)
    assert (everything.rows, everything.offset) == (rows[2:20], 0)

    closes = selectors.paper_last_closes(
        instrument_ids=[instruments["binance"].pk, instruments["bybit"].pk + 1000],
        interval="1m",
        interval_ms=IV,
        start_ms=T0,
    )
    assert closes == [T0 + 20 * IV, None]


def _publish(feeds: dict[str, VenueFeed], time_ms: int) -> None:
    snapshot = book_snapshot("BTC/USDT", feeds, taker_fees=DEFAULT_TAKER_FEES, depth=3, at=utc_from_ms(time_ms))
    cache.set(orderbook_cache_key("BTC/USDT"), snapshot, timeout=30)


def _book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> L2Book:
    book = L2Book()
    book.apply_many(Side.BID, bids)
    book.apply_many(Side.ASK, asks)
    return book


def test_a_venues_book_is_its_levels_in_the_published_snapshot(redis_namespace: Any) -> None:
    assert selectors.paper_book_read(venue="bybit", symbol="BTC/USDT") is None  # nothing published
    bybit = _book([("100.0", "1"), ("99.5", "2")], [("100.5", "0.5"), ("101", "3"), ("102", "9")])
    binance = _book([("100.2", "4")], [("100.4", "1"), ("100.5", "2")])
    _publish({"bybit": VenueFeed(bybit, "live"), "binance": VenueFeed(binance, "live")}, T0)

    assert selectors.paper_book_read(venue="bybit", symbol="BTC/USDT") == BookSide(
        T0,
        bids=((D("100.0"), D("1")), (D("99.5"), D("2"))),
        asks=((D("100.5"), D("0.5")), (D("101"), D("3"))),  # the snapshot's depth of 3 aggregated levels
    )
    assert selectors.paper_book_read(venue="binance", symbol="BTC/USDT") == BookSide(
        T0, bids=((D("100.2"), D("4")),), asks=((D("100.4"), D("1")), (D("100.5"), D("2")))
    )
    assert selectors.paper_book_read(venue="coinbase", symbol="BTC/USDT") is None

    _publish({"bybit": VenueFeed(None, "syncing"), "binance": VenueFeed(binance, "live")}, T0 + 1)
    assert selectors.paper_book_read(venue="bybit", symbol="BTC/USDT") is None


@pytest.mark.parametrize(
    "snapshot",
    [
        {"time_ms": T0, "venues": [{"venue": "bybit", "state": "live"}], "bids": [], "asks": "nonsense"},
        {"time_ms": "soon", "venues": [{"venue": "bybit", "state": "live"}], "bids": [], "asks": []},
        {
            "time_ms": T0,
            "venues": [{"venue": "bybit", "state": "live"}],
            "bids": [],
            "asks": [{"price": "101", "venues": {"bybit": "1"}}, {"price": "100", "venues": {"bybit": "1"}}],
        },
        {
            "time_ms": T0,
            "venues": [{"venue": "bybit", "state": "live"}],
            "bids": [{"price": "NaN", "venues": {"bybit": "1"}}],
            "asks": [],
        },
    ],
)
def test_a_snapshot_that_is_no_usable_book_gives_no_book(redis_namespace: Any, snapshot: dict[str, Any]) -> None:
    cache.set(orderbook_cache_key("BTC/USDT"), snapshot, timeout=30)
    assert selectors.paper_book_read(venue="bybit", symbol="BTC/USDT") is None
