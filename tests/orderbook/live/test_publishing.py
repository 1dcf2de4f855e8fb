"""Publishing live books: the snapshot's exact form, ``manage.py orderbook watch`` against fake venues feeding the
Redis registry, the REST endpoint reading it, and the public websocket."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.core.management import CommandError, call_command

from hftplatform.asgi import application
from orderbook import selectors
from orderbook.consumers import CLOSE_BAD_SYMBOL
from orderbook.l2.book import L2Book, ResyncReason, Side
from orderbook.live.snapshots import VenueFeed, book_snapshot, market_unslug, snapshot_render
from orderbook.selectors import DEFAULT_TAKER_FEES
from orderbook.services import orderbook_group, orderbook_snapshot_publish
from tests.marketdata.factories import InstrumentFactory
from tests.orderbook.live.fakes import (
    FakeBinance,
    FakeBybit,
    FakeCoinbase,
    Script,
    fake_serve,
    generated_script,
    plan_for,
)

AT = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> L2Book:
    result = L2Book()
    result.apply_many(Side.BID, bids)
    result.apply_many(Side.ASK, asks)
    return result


SMALL = book_snapshot(
    "BTC/USDT",
    {
        "binance": VenueFeed(
            book([("101.10", "0.50000000"), ("101.00", "2")], [("101.20", "1.25")]),
            "live",
            12,
            {ResyncReason.SEQUENCE_GAP: 1},
            0,
        ),
        "bybit": VenueFeed(None, "syncing", 3, {}, 1),
        "coinbase": VenueFeed(book([("100.90", "3")], [("101.00", "0.1"), ("101.10", "4")]), "live", 40),
    },
    taker_fees=DEFAULT_TAKER_FEES,
    depth=2,
    at=AT,
)


def test_snapshot_keeps_exact_text_aggregates_by_price_and_signals_after_fees() -> None:
    assert SMALL == {
        "symbol": "BTC/USDT",
        "time": "2026-01-02T03:04:05.678000Z",
        "time_ms": 1_767_323_045_678,
        "depth": 2,
        "venues": [
            {
                "venue": "binance",
                "state": "live",
                "bid": {"price": "101.10", "size": "0.50000000"},
                "ask": {"price": "101.20", "size": "1.25"},
                "messages": 12,
                "resyncs": {"sequence_gap": 1},
                "reconnects": 0,
            },
            {
                "venue": "bybit",
                "state": "syncing",
                "bid": None,
                "ask": None,
                "messages": 3,
                "resyncs": {},
                "reconnects": 1,
            },
            {
                "venue": "coinbase",
                "state": "live",
                "bid": {"price": "100.90", "size": "3"},
                "ask": {"price": "101.00", "size": "0.1"},
                "messages": 40,
                "resyncs": {},
                "reconnects": 0,
            },
        ],
        "bids": [
            {"price": "101.10", "size": "0.50000000", "venues": {"binance": "0.50000000"}},
            {"price": "101.00", "size": "2", "venues": {"binance": "2"}},
        ],
        "asks": [
            {"price": "101.00", "size": "0.1", "venues": {"coinbase": "0.1"}},
            {"price": "101.10", "size": "4", "venues": {"coinbase": "4"}},
        ],
        # 101.10 * (1 - 0.001) - 101.00 * (1 + 0.006) = 100.9989 - 101.606 < 0: no signal at base-tier fees
        "signals": [],
    }


def test_a_cross_that_beats_both_fees_is_a_signal() -> None:
    snapshot = book_snapshot(
        "BTC/USDT",
        {
            "binance": VenueFeed(book([("102.00", "1.5")], [("102.10", "1")]), "live"),
            "coinbase": VenueFeed(book([("100.00", "1")], [("100.50", "0.4")]), "live"),
        },
        taker_fees=DEFAULT_TAKER_FEES,
        depth=1,
        at=AT,
    )
    # 102.00 * 0.999 - 100.50 * 1.006 = 101.898 - 101.103 = 0.795
    assert snapshot["signals"] == [
        {
            "buy_venue": "coinbase",
            "buy_price": "100.50",
            "sell_venue": "binance",
            "sell_price": "102.00",
            "size": "0.4",
            "edge": "0.79500",
        }
    ]


def test_terminal_rendering() -> None:
    assert snapshot_render(SMALL, rows=2) == "\n".join(
        [
            "BTC/USDT  2026-01-02T03:04:05.678000Z",
            "  binance  live       0.50000000 @ 101.10  |  101.20 x 1.25   msgs 12 resyncs 1 reconnects 0",
            "  bybit    syncing    -   msgs 3 resyncs 0 reconnects 1",
            "  coinbase live       3 @ 100.90  |  101.00 x 0.1   msgs 40 resyncs 0 reconnects 0",
            "   price  size",
            "  101.10  4  ask  coinbase",
            "  101.00  0.1  ask  coinbase",
            "  --------------",
            "  101.10  0.50000000  bid  binance",
            "  101.00  2  bid  binance",
        ]
    )


def test_symbol_url_forms() -> None:
    assert market_unslug("BTC-USDT") == market_unslug("btc-usdt") == market_unslug("BTC/USDT") == "BTC/USDT"
    assert orderbook_group("BTC/USDT") == "orderbook.BTC-USDT"


# --- the watcher against fake venues, then the API ------------------------------------------------------------


class FakeVenues:
    """The three fake venues on their own thread's event loop (the command runs its own loop on this thread)."""

    def __init__(self, scripts: dict[str, Script]) -> None:
        self.scripts = scripts
        self.urls: dict[str, str] = {}
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> FakeVenues:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        binance = FakeBinance(self.scripts["binance"], plan_for("none", 200, 0, first_hold=True))
        bybit = FakeBybit(self.scripts["bybit"], plan_for("none", 200, 0, first_hold=False))
        coinbase = FakeCoinbase(self.scripts["coinbase"], plan_for("none", 200, 0, first_hold=False))
        self.runners = []
        for fake, app in (
            (binance, binance.app("GENUSDT")),
            (bybit, bybit.app("orderbook.50.GENUSDT")),
            (coinbase, coinbase.app("GEN-USDT")),
        ):
            runner, address = await fake_serve(app)
            self.runners.append(runner)
            if fake is binance:
                self.urls |= {"BINANCE_WS_URL": f"ws://{address}", "BINANCE_REST_URL": f"http://{address}"}
            elif fake is bybit:
                self.urls["BYBIT_WS_URL"] = f"ws://{address}"
            else:
                self.urls["COINBASE_WS_URL"] = f"ws://{address}/"

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            for runner in self.runners:
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


SCRIPTS = {
    "binance": generated_script(seed=21, updates=200, center_cents=10_100),  # a venue trading a dollar higher
    "bybit": generated_script(seed=22, updates=200),
    "coinbase": generated_script(seed=23, updates=200, first_id=0),
}


@pytest.fixture
def fake_venues(settings: Any, redis_namespace: Any) -> Iterator[FakeVenues]:
    with FakeVenues(SCRIPTS) as venues:
        for name, url in venues.urls.items():
            setattr(settings, name, url)
        yield venues


def expected_top(levels: list[tuple[Decimal, Decimal]]) -> dict[str, str]:
    return {"price": format(levels[0][0], "f"), "size": format(levels[0][1], "f")}


@pytest.mark.django_db
def test_watch_publishes_the_consolidated_book_and_the_api_serves_it(fake_venues: FakeVenues, api_client: Any) -> None:
    out = io.StringIO()

    call_command("orderbook", "watch", "GEN/USDT", "--seconds", "2.5", "--interval", "0.2", stdout=out)

    finals = {venue: script.final_levels() for venue, script in SCRIPTS.items()}
    response = api_client.get("/api/v1/orderbook/GEN-USDT/?depth=3")
    assert response.status_code == 200
    body = response.json()
    assert body["symbol"] == "GEN/USDT"
    assert [(v["venue"], v["state"], v["bid"], v["ask"]) for v in body["venues"]] == [
        (venue, "live", expected_top(finals[venue][0]), expected_top(finals[venue][1]))
        for venue in ("binance", "bybit", "coinbase")
    ]
    # Aggregated by exact price across venues, computed here from the scripts' final books.
    totals: dict[Decimal, Decimal] = {}
    for bids, _ in finals.values():
        for price, size in bids:
            totals[price] = totals.get(price, Decimal(0)) + size
    best = sorted(totals, reverse=True)[:3]
    assert [(Decimal(level["price"]), Decimal(level["size"])) for level in body["bids"]] == [
        (price, totals[price]) for price in best
    ]
    assert len(body["asks"]) == 3 and body["depth"] == 3
    # Binance trades a dollar above the others: its bid beats their asks even after both taker fees.
    assert {(s["buy_venue"], s["sell_venue"]) for s in body["signals"]} == {
        ("bybit", "binance"),
        ("coinbase", "binance"),
    }
    assert all(Decimal(s["edge"]) > 0 for s in body["signals"])
    # The terminal showed the same book; the %2F form of the symbol reads the same snapshot.
    best_bid = finals["binance"][0][0]
    assert f"  {format(best_bid[0], 'f')}  {format(best_bid[1], 'f')}  bid  binance\n" in out.getvalue()
    assert api_client.get("/api/v1/orderbook/GEN%2FUSDT/?depth=3").json() == body


@pytest.mark.django_db
def test_watch_once_exits_after_the_first_complete_book(fake_venues: FakeVenues) -> None:
    out = io.StringIO()

    call_command("orderbook", "watch", "GEN/USDT", "--once", "--seconds", "10", "--interval", "0.05", stdout=out)

    drawn = out.getvalue()
    assert drawn.count("GEN/USDT  ") == 1  # one book drawn
    assert drawn.count(" live ") == 3
    assert selectors.orderbook_snapshot_get(symbol="GEN/USDT") is not None


@pytest.mark.django_db
def test_watch_refuses_an_unknown_exchange_and_publishes_nothing(redis_namespace: Any) -> None:
    with pytest.raises(CommandError, match="'kraken' is not a valid Venue"):
        call_command("orderbook", "watch", "BTC/USDT", "--exchanges", "binance,kraken", "--once")
    with pytest.raises(CommandError, match="spot markets"):
        call_command("orderbook", "watch", "BTC/USDT:USDT", "--once")
    assert selectors.orderbook_snapshot_get(symbol="BTC/USDT") is None


@pytest.mark.django_db
def test_venue_symbols_come_from_instruments_with_the_convention_as_fallback() -> None:
    InstrumentFactory(exchange="coinbase", base="XBT", quote="USD", symbol="XBT/USD", venue_symbol="BTC-USD")
    assert selectors.venue_symbol_get(venue="coinbase", symbol="XBT/USD") == "BTC-USD"
    assert selectors.venue_symbol_get(venue="coinbase", symbol="ETH/USD") == "ETH-USD"
    assert selectors.venue_symbol_get(venue="bybit", symbol="ETH/USDT") == "ETHUSDT"


# --- the API's errors -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_404_in_the_error_format_when_nothing_is_live(api_client: Any, redis_namespace: Any) -> None:
    response = api_client.get("/api/v1/orderbook/BTC-USDT/")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "not_found",
            "message": "Nothing is live for BTC/USDT: no order-book watcher publishes it.",
            "fields": {},
        }
    }


@pytest.mark.django_db
def test_api_rejects_a_bad_depth_and_a_bad_symbol(api_client: Any, redis_namespace: Any) -> None:
    async_to_sync(orderbook_snapshot_publish)(snapshot=SMALL)

    too_deep = api_client.get("/api/v1/orderbook/BTC-USDT/?depth=51")
    not_a_symbol = api_client.get("/api/v1/orderbook/BTCUSDT/")
    shallow = api_client.get("/api/v1/orderbook/BTC-USDT/?depth=1")

    assert too_deep.status_code == 400
    assert too_deep.json()["error"]["fields"] == {"depth": ["Ensure this value is less than or equal to 50."]}
    assert not_a_symbol.status_code == 400
    assert list(not_a_symbol.json()["error"]["fields"]) == ["symbol"]
    assert shallow.status_code == 200
    assert shallow.json() == {**SMALL, "depth": 1, "bids": SMALL["bids"][:1], "asks": SMALL["asks"][:1]}


def test_published_snapshot_expires(redis_namespace: Any, settings: Any) -> None:
    async_to_sync(orderbook_snapshot_publish)(snapshot=SMALL)

    client = redis.Redis.from_url(settings.CHANNEL_REDIS_URL)
    try:
        ttl = client.ttl(cache.make_key(selectors.orderbook_cache_key("BTC/USDT")))
    finally:
        client.close()
    assert ttl in range(25, 31)  # a stopped watcher leaves the market not live within 30 s


# --- the websocket ------------------------------------------------------------------------------------------------


def orderbook_socket(market: str) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    return WebsocketCommunicator(application, f"/ws/orderbook/{market}/", headers=headers)


@pytest.mark.django_db(transaction=True)
def test_socket_sends_the_last_snapshot_then_each_publication_of_its_market_only(redis_namespace: Any) -> None:
    other = {**SMALL, "symbol": "ETH/USDT"}
    newer = {**SMALL, "time_ms": SMALL["time_ms"] + 500}

    async def scenario() -> tuple[Any, list[dict[str, Any]], bool]:
        await orderbook_snapshot_publish(snapshot=SMALL)
        communicator = orderbook_socket("BTC-USDT")
        connected = await communicator.connect()
        try:
            first = await communicator.receive_json_from(timeout=5)
            await orderbook_snapshot_publish(snapshot=other)
            await orderbook_snapshot_publish(snapshot=newer)
            second = await communicator.receive_json_from(timeout=5)
            silent = await communicator.receive_nothing(timeout=0.3)
        finally:
            await communicator.disconnect()
        return connected, [first, second], silent

    connected, received, silent = async_to_sync(scenario)()

    assert connected == (True, None)
    assert received == [{"type": "orderbook", "snapshot": SMALL}, {"type": "orderbook", "snapshot": newer}]
    assert silent is True


@pytest.mark.django_db(transaction=True)
def test_socket_closes_4400_for_a_symbol_that_is_not_a_market(redis_namespace: Any) -> None:
    async def scenario() -> Any:
        communicator = orderbook_socket("NOTAMARKET")
        await communicator.connect()
        output = await communicator.receive_output(timeout=5)
        await communicator.wait()
        return output

    assert async_to_sync(scenario)() == {"type": "websocket.close", "code": CLOSE_BAD_SYMBOL}


# --- the page -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_depth_page_names_its_socket_and_api_and_refuses_a_non_market(client: Any) -> None:
    page = client.get("/orderbook/btc-usdt/")
    missing = client.get("/orderbook/NOTAMARKET/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-ws-path="/ws/orderbook/BTC-USDT/"' in html
    assert 'data-api="/api/v1/orderbook/BTC-USDT/?depth=50"' in html
    assert "js/depth.js" in html and "cdn" not in html.lower()
    assert missing.status_code == 404
