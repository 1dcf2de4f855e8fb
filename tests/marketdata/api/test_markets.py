"""The public markets API: coverage per interval with first and last candle, filters, id-ordered pages; the schema
documents the klines and markets endpoints."""

from __future__ import annotations

import pytest

from marketdata import services
from marketdata.core.intervals import DAY_MS, MINUTE_MS
from tests.marketdata.api.test_klines import T0, candles_1m, error, follow
from tests.marketdata.factories import InstrumentFactory

pytestmark = pytest.mark.django_db

MARKETS = "/api/v1/markets/"


def test_markets_list_coverage_first_and_last_candle_exactly(api_client) -> None:
    # Given a tracked market with covered 1m candles and an untracked Coinbase market with nothing stored
    btc = InstrumentFactory(symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC", tick_size="0.00000001")
    services.klines_store(instrument_id=btc.pk, interval="1m", candles=candles_1m(5), covered=(T0, T0 + 10 * MINUTE_MS))
    services.coverage_add(instrument_id=btc.pk, interval="1m", start_ms=T0 + DAY_MS, end_ms=T0 + DAY_MS + MINUTE_MS)
    services.instrument_set_tracked(instrument_id=btc.pk, tracked=True, intervals=["1h", "1m"])
    eth = InstrumentFactory(
        exchange="coinbase", symbol="ETH/USD", venue_symbol="ETH-USD", base="ETH", quote="USD", lot_size="0.00000001"
    )

    body = api_client.get(MARKETS).json()

    assert body["next"] is None and body["previous"] is None
    assert body["results"] == [
        {
            "id": btc.pk,
            "exchange": "binance",
            "market_type": "spot",
            "symbol": "BTC/USDT",
            "venue_symbol": "BTCUSDT",
            "tick_size": "0.00000001",
            "lot_size": "0.00001000",
            "listed_at": None,
            "tracked": True,
            "tracked_intervals": ["1h", "1m"],
            "coverage": [
                {
                    "interval": "1m",
                    "ranges": [
                        {
                            "start": "2019-10-11T00:00:00Z",
                            "end": "2019-10-11T00:10:00Z",
                            "start_ms": T0,
                            "end_ms": T0 + 10 * MINUTE_MS,
                        },
                        {
                            "start": "2019-10-12T00:00:00Z",
                            "end": "2019-10-12T00:01:00Z",
                            "start_ms": T0 + DAY_MS,
                            "end_ms": T0 + DAY_MS + MINUTE_MS,
                        },
                    ],
                    "first_open_time": "2019-10-11T00:00:00Z",
                    "first_open_time_ms": T0,
                    "last_open_time": "2019-10-11T00:04:00Z",
                    "last_open_time_ms": T0 + 4 * MINUTE_MS,
                },
                {
                    "interval": "1h",
                    "ranges": [],
                    "first_open_time": None,
                    "first_open_time_ms": None,
                    "last_open_time": None,
                    "last_open_time_ms": None,
                },
            ],
        },
        {
            "id": eth.pk,
            "exchange": "coinbase",
            "market_type": "spot",
            "symbol": "ETH/USD",
            "venue_symbol": "ETH-USD",
            "tick_size": "0.01000000",
            "lot_size": "0.00000001",
            "listed_at": None,
            "tracked": False,
            "tracked_intervals": [],
            "coverage": [],
        },
    ]


def test_markets_filter_by_exchange_and_tracked(api_client) -> None:
    a = InstrumentFactory()
    b = InstrumentFactory(exchange="bybit")
    c = InstrumentFactory(exchange="bybit")
    services.instrument_set_tracked(instrument_id=c.pk, tracked=True, intervals=["1m"])

    def ids(**query: str) -> list[int]:
        response = api_client.get(MARKETS, query)
        assert response.status_code == 200, response.json()
        return [m["id"] for m in response.json()["results"]]

    assert ids() == [a.pk, b.pk, c.pk]
    assert ids(exchange="bybit") == [b.pk, c.pk]
    assert ids(tracked="true") == [c.pk]
    assert ids(exchange="bybit", tracked="false") == [b.pk]
    assert ids(exchange="coinbase") == []
    assert error(api_client.get(MARKETS, {"exchange": "ftx"}))["fields"] == {
        "exchange": ['"ftx" is not a valid choice.']
    }
    assert error(api_client.get(MARKETS, {"tracked": "maybe"}))["fields"] == {"tracked": ["Must be a valid boolean."]}


def test_markets_pages_follow_ids_without_repeat(api_client) -> None:
    made = [InstrumentFactory().pk for _ in range(7)]

    items, pages = follow(api_client, MARKETS + "?page_size=3")

    assert [m["id"] for m in items] == made
    assert pages == 3


def test_schema_documents_both_endpoints_with_the_error_body(api_client) -> None:
    document = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    klines = document["paths"]["/api/v1/klines/"]["get"]
    markets = document["paths"]["/api/v1/markets/"]["get"]
    assert klines["operationId"] == "klines_list"
    assert klines["responses"]["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert {p["name"] for p in klines["parameters"]} == {
        "exchange",
        "symbol",
        "interval",
        "start",
        "end",
        "page_size",
        "cursor",
    }
    assert markets["operationId"] == "markets_list"
    assert klines["security"][-1] == {}  # callable without credentials
