"""The public klines API: pages (exact text, keyset continuity), windows, errors, cursors."""

from __future__ import annotations

import csv
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hftplatform.core.utc import utc_ms_parse
from marketdata import services
from marketdata.api.klines import cursor_decode, cursor_encode
from marketdata.core.candles import Candle
from marketdata.core.intervals import DAY_MS, MINUTE_MS
from tests.conftest import shared_fixture_dir
from tests.marketdata.factories import InstrumentFactory

pytestmark = pytest.mark.django_db

T0 = 1_570_752_000_000  # 2019-10-11 00:00:00 UTC
KLINES = "/api/v1/klines/"


def candles_1m(count: int, *, start: int = T0, skip: frozenset[int] = frozenset()) -> list[Candle]:
    """``count`` minute slots from ``start``; slots in ``skip`` have no candle. Texts vary in scale on purpose."""
    return [
        Candle(start + i * MINUTE_MS, f"{100 + i}.10", f"{101 + i}.000", f"{99 + i}.5", f"{100 + i}.2", f"0.{i:08d}")
        for i in range(count)
        if i not in skip
    ]


def follow(client: Any, url: str) -> tuple[list[dict[str, Any]], int]:
    """Every item across the pages from ``url``, and how many pages were fetched."""
    items: list[dict[str, Any]] = []
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        items.extend(body["results"])
        pages += 1
        url = body["next"]
    return items, pages


def error(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"error"}  # nothing else: no candle leaks with an error
    return body["error"]


@pytest.fixture
def btc(db: None):  # type: ignore[no-untyped-def]
    return InstrumentFactory(symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC")


def test_anonymous_client_reads_a_page_with_exact_text_and_the_open_candle(api_client, btc) -> None:
    # Given three closed candles and the still-open one
    stored = [
        Candle(T0, "8284.26000000", "8290.00000000", "8280.00000000", "8286.10000000", "12.00140000"),
        Candle(T0 + MINUTE_MS, "8286.1", "8286.1", "8286.1", "8286.1", "0"),
        Candle(T0 + 2 * MINUTE_MS, "0.00000001", "0.00000002", "0.00000001", "0.00000002", "1482.0"),
        Candle(T0 + 3 * MINUTE_MS, "8286.2", "8287", "8286", "8286.5", "1.5", closed=False),
    ]
    services.klines_store(instrument_id=btc.pk, interval="1m", candles=stored, covered=None)

    # When an anonymous client asks for the window
    response = api_client.get(KLINES, {"exchange": "binance", "symbol": "BTC/USDT", "interval": "1m"})

    # Then every candle comes back ascending, text as stored
    assert response.status_code == 200
    assert response.json() == {
        "next": None,
        "results": [
            {
                "open_time": "2019-10-11T00:00:00Z",
                "open_time_ms": T0,
                "open": "8284.26000000",
                "high": "8290.00000000",
                "low": "8280.00000000",
                "close": "8286.10000000",
                "volume": "12.00140000",
                "closed": True,
            },
            {
                "open_time": "2019-10-11T00:01:00Z",
                "open_time_ms": T0 + MINUTE_MS,
                "open": "8286.1",
                "high": "8286.1",
                "low": "8286.1",
                "close": "8286.1",
                "volume": "0",
                "closed": True,
            },
            {
                "open_time": "2019-10-11T00:02:00Z",
                "open_time_ms": T0 + 2 * MINUTE_MS,
                "open": "0.00000001",
                "high": "0.00000002",
                "low": "0.00000001",
                "close": "0.00000002",
                "volume": "1482.0",
                "closed": True,
            },
            {
                "open_time": "2019-10-11T00:03:00Z",
                "open_time_ms": T0 + 3 * MINUTE_MS,
                "open": "8286.2",
                "high": "8287",
                "low": "8286",
                "close": "8286.5",
                "volume": "1.5",
                "closed": False,
            },
        ],
    }


@pytest.mark.parametrize("page_size", [1, 7, 100, 1439, 1440, 1441])
def test_pages_cover_the_window_without_duplicate_or_hole(api_client, btc, page_size: int) -> None:
    # Given a day of 1m candles with no-trade minutes missing (as Coinbase leaves them out)
    skip = frozenset({0, 1, 59, 60, 61, 700, 1439})
    stored = candles_1m(1440, skip=skip)
    services.klines_store(instrument_id=btc.pk, interval="1m", candles=stored, covered=(T0, T0 + DAY_MS))
    assert len(stored) == 1433

    # When a client follows `next` from the first page
    query = f"?exchange=binance&symbol=BTC/USDT&interval=1m&start=2019-10-11&end=2019-10-12&page_size={page_size}"
    items, pages = follow(api_client, KLINES + query)

    # Then it has every stored candle once, in order, in ceil(n / size) pages
    assert [item["open_time_ms"] for item in items] == [c.open_time for c in stored]
    assert [item["volume"] for item in items] == [c.volume for c in stored]
    assert pages == -(-1433 // page_size)


def test_window_is_utc_end_exclusive_and_accepts_dates_datetimes_and_offsets(api_client, btc) -> None:
    services.klines_store(instrument_id=btc.pk, interval="1m", candles=candles_1m(180), covered=None)
    base = {"exchange": "binance", "symbol": "btc/usdt", "interval": "1m"}

    def open_times(**window: str) -> list[int]:
        response = api_client.get(KLINES, {**base, **window})
        assert response.status_code == 200, response.json()
        return [item["open_time_ms"] for item in response.json()["results"]]

    # [00:10, 00:13): the candle at the end is not included
    assert open_times(start="2019-10-11T00:10:00Z", end="2019-10-11T00:13:00Z") == [
        T0 + 10 * MINUTE_MS,
        T0 + 11 * MINUTE_MS,
        T0 + 12 * MINUTE_MS,
    ]
    # No offset means UTC; an offset is converted (02:59+02:00 is 00:59Z)
    assert open_times(start="2019-10-11T00:58:00", end="2019-10-11T02:59:30+02:00") == [
        T0 + 58 * MINUTE_MS,
        T0 + 59 * MINUTE_MS,
    ]
    # A start between candles begins at the next one
    assert open_times(start="2019-10-11T02:58:30Z") == [T0 + 179 * MINUTE_MS]
    # Dates are midnight UTC
    assert len(open_times(start="2019-10-11", end="2019-10-12")) == 180
    assert open_times(start="2019-10-12") == []


def test_each_interval_is_its_own_series(api_client, btc) -> None:
    services.klines_store(instrument_id=btc.pk, interval="1m", candles=candles_1m(10), covered=None)
    five = [Candle(T0, "1", "2", "0.5", "1.5", "100.0")]
    services.klines_store(instrument_id=btc.pk, interval="5m", candles=five, covered=None)

    response = api_client.get(KLINES, {"exchange": "binance", "symbol": "BTC/USDT", "interval": "5m"})

    assert [(i["open_time_ms"], i["volume"]) for i in response.json()["results"]] == [(T0, "100.0")]


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        (
            {"exchange": "kraken", "symbol": "BTC/USDT", "interval": "1m"},
            {"exchange": ['"kraken" is not a valid choice.']},
        ),
        (
            {"exchange": "binance", "symbol": "BTC/USDT", "interval": "7m"},
            {
                "interval": [
                    "unknown interval '7m'; known: 1s, 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d, 3d, 1w, 1M"
                ]
            },
        ),
        ({"symbol": "BTC/USDT"}, {"exchange": ["This field is required."], "interval": ["This field is required."]}),
        (
            {"exchange": "binance", "symbol": "BTC/USDT", "interval": "1m", "start": "2019-13-01"},
            {"start": ["Not a date or ISO 8601 datetime: '2019-13-01' (e.g. 2019-10-11 or 2019-10-11T12:30:00Z)."]},
        ),
        (
            {"exchange": "binance", "symbol": "BTC/USDT", "interval": "1m", "end": "yesterday"},
            {"end": ["Not a date or ISO 8601 datetime: 'yesterday' (e.g. 2019-10-11 or 2019-10-11T12:30:00Z)."]},
        ),
        (
            {"exchange": "binance", "symbol": "BTC/USDT", "interval": "1m", "start": "2019-10-12", "end": "2019-10-12"},
            {"end": ["Must be after start (end is exclusive)."]},
        ),
        (
            {"exchange": "binance", "symbol": "BTC/USDT", "interval": "1m", "start": "1969-12-31"},
            {"start": ["Must not be before 1970-01-01."]},
        ),
        (
            {"exchange": "binance", "symbol": "BTC/USDT", "interval": "1m", "page_size": "0"},
            {"page_size": ["Ensure this value is greater than or equal to 1."]},
        ),
        (
            {"exchange": "binance", "symbol": "BTC/USDT", "interval": "1m", "page_size": "5001"},
            {"page_size": ["Ensure this value is less than or equal to 5000."]},
        ),
        (
            {"exchange": "binance", "symbol": "BTC/USDT", "interval": "1m", "cursor": "bm9wZQ"},
            {"cursor": ["not a cursor from this API"]},
        ),
        (
            {"exchange": "binance", "symbol": "ETH/USDT", "interval": "1m"},
            {"symbol": ["No market 'ETH/USDT' on binance."]},
        ),
        (
            {"exchange": "coinbase", "symbol": "BTC/USDT", "interval": "1m"},
            {"symbol": ["No market 'BTC/USDT' on coinbase."]},
        ),
    ],
)
def test_bad_queries_get_400_naming_the_field_and_no_candles(api_client, btc, query, fields) -> None:
    services.klines_store(instrument_id=btc.pk, interval="1m", candles=candles_1m(3), covered=None)

    body = error(api_client.get(KLINES, query))

    assert body == {"code": "invalid", "message": "The input is not valid: see fields.", "fields": fields}


def test_an_interval_the_venue_does_not_offer_is_a_400(api_client) -> None:
    InstrumentFactory(exchange="coinbase", symbol="BTC/USD", venue_symbol="BTC-USD", base="BTC", quote="USD")
    InstrumentFactory(exchange="binance", market_type="perp", symbol="BTC/USDT:USDT", venue_symbol="BTCUSDT")

    coinbase = error(api_client.get(KLINES, {"exchange": "coinbase", "symbol": "BTC/USD", "interval": "3m"}))
    perp = error(api_client.get(KLINES, {"exchange": "binance", "symbol": "BTC/USDT:USDT", "interval": "1s"}))

    assert coinbase["fields"] == {"interval": ["coinbase spot has no '3m' candles; it offers 1m, 5m, 15m, 1h, 6h, 1d"]}
    assert list(perp["fields"]) == ["interval"]
    assert perp["fields"]["interval"][0].startswith("binance perp has no '1s' candles")


def test_cursor_round_trip_and_a_cursor_never_moves_before_start(api_client, btc) -> None:
    assert cursor_decode(cursor_encode(T0)) == T0
    assert utc_ms_parse("2019-10-11") == T0
    assert utc_ms_parse("2019-10-11T00:00:00.123Z") == T0 + 123
    services.klines_store(instrument_id=btc.pk, interval="1m", candles=candles_1m(10), covered=None)

    # A cursor pointing before `start` does not widen the window
    response = api_client.get(
        KLINES,
        {
            "exchange": "binance",
            "symbol": "BTC/USDT",
            "interval": "1m",
            "start": "2019-10-11T00:08:00Z",
            "cursor": cursor_encode(T0),
        },
    )
    assert [i["open_time_ms"] for i in response.json()["results"]] == [T0 + 8 * MINUTE_MS, T0 + 9 * MINUTE_MS]


def test_next_link_keeps_the_query_and_points_at_the_next_open_time(api_client, btc) -> None:
    services.klines_store(instrument_id=btc.pk, interval="1m", candles=candles_1m(5), covered=None)

    body = api_client.get(
        KLINES, {"exchange": "binance", "symbol": "BTC/USDT", "interval": "1m", "end": "2019-10-12", "page_size": 2}
    ).json()

    link = urlsplit(body["next"])
    params = {key: values[0] for key, values in parse_qs(link.query).items()}
    assert link.path == KLINES
    assert cursor_decode(params.pop("cursor")) == T0 + 2 * MINUTE_MS
    assert params == {
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "interval": "1m",
        "end": "2019-10-12",
        "page_size": "2",
    }


def test_a_deep_page_is_a_keyset_range_read_not_an_offset(api_client, btc) -> None:
    services.klines_store(instrument_id=btc.pk, interval="1m", candles=candles_1m(30), covered=None)
    query = {"exchange": "binance", "symbol": "BTC/USDT", "interval": "1m", "page_size": 5}
    second_url = api_client.get(KLINES, query).json()["next"]

    with CaptureQueriesContext(connection) as queries:
        second = api_client.get(second_url)

    kline_reads = [q["sql"] for q in queries.captured_queries if "FROM marketdata_kline" in q["sql"]]
    assert [i["open_time_ms"] for i in second.json()["results"]] == [T0 + n * MINUTE_MS for n in range(5, 10)]
    assert len(kline_reads) == 1
    # The page starts at the cursor's open time through the key's index; nothing is skipped row by row
    assert f"open_time >= {T0 + 5 * MINUTE_MS}" in kline_reads[0]
    assert "OFFSET" not in kline_reads[0].upper()
    assert kline_reads[0].endswith("LIMIT 6")


def test_real_recorded_candles_read_back_verbatim_across_pages(api_client, btc) -> None:
    # Given the real XRP/ETH 1m file (gappy: no-trade minutes are absent)
    path = shared_fixture_dir("klines", "freqtrade") / "XRP_ETH-1m.derived.csv"
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    stored = [Candle(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]
    services.klines_store(instrument_id=btc.pk, interval="1m", candles=stored, covered=None)

    # When a client pages through it
    items, pages = follow(api_client, KLINES + "?exchange=binance&symbol=BTC/USDT&interval=1m&page_size=500")

    # Then each row comes back as the file wrote it
    assert len(items) == 2469
    assert pages == 5
    assert [[str(i["open_time_ms"]), i["open"], i["high"], i["low"], i["close"], i["volume"]] for i in items] == rows


# -- markets --------------------------------------------------------------------------------------------------
