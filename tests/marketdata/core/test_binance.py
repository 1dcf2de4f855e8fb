"""Binance spot and USD-M payloads: requests as documented, exact parsing, refusal of bad data, error bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from marketdata.core import binance
from marketdata.core.candles import Candle, CandleError
from marketdata.core.intervals import INTERVALS, IntervalError
from marketdata.core.rest import InstrumentInfo, PayloadError, RestRequest, VenueError
from marketdata.core.venues import MarketType, Venue
from tests.marketdata.core.payloads import binance_klines_payload, candles_make

M1 = INTERVALS["1m"]
T0 = 1_570_752_000_000  # 2019-10-11 00:00 UTC
NOW = 2_000_000_000_000


# --- requests ------------------------------------------------------------------------------------------------------


def test_spot_klines_request_sends_inclusive_end_and_weight_2() -> None:
    request = binance.klines_request(MarketType.SPOT, "BTCUSDT", "1m", T0, T0 + 1000 * 60_000, 1000)

    assert request == RestRequest(
        path="/api/v3/klines",
        params={
            "symbol": "BTCUSDT",
            "interval": "1m",
            "startTime": "1570752000000",
            "endTime": "1570811999999",
            "limit": "1000",
        },
        weight=2,
    )


@pytest.mark.parametrize(
    ("limit", "weight"), [(1, 1), (99, 1), (100, 2), (499, 2), (500, 5), (1000, 5), (1001, 10), (1500, 10)]
)
def test_usdm_klines_weight_follows_the_limit(limit: int, weight: int) -> None:
    request = binance.klines_request(MarketType.PERP, "BTCUSDT", "1h", T0, T0 + 3_600_000, limit)

    assert request.path == "/fapi/v1/klines"
    assert request.weight == weight
    assert request.params["limit"] == str(limit)


def test_monthly_interval_code_is_sent_as_binance_writes_it() -> None:
    assert binance.klines_request(MarketType.SPOT, "ETHBTC", "1M", T0, T0 + 1, 5).params["interval"] == "1M"


@pytest.mark.parametrize(
    ("market_type", "interval", "limit", "error"),
    [
        (MarketType.SPOT, "1m", 1001, ValueError),  # spot serves at most 1000
        (MarketType.PERP, "1m", 1501, ValueError),
        (MarketType.SPOT, "1m", 0, ValueError),
        (MarketType.PERP, "1s", 10, IntervalError),  # USD-M has no 1s candles
        (MarketType.SPOT, "2m", 10, IntervalError),
    ],
)
def test_klines_request_refuses_what_binance_refuses(
    market_type: MarketType, interval: str, limit: int, error: type[Exception]
) -> None:
    with pytest.raises(error):
        binance.klines_request(market_type, "BTCUSDT", interval, T0, T0 + 60_000, limit)


def test_klines_request_refuses_an_empty_window() -> None:
    with pytest.raises(ValueError, match="empty window"):
        binance.klines_request(MarketType.SPOT, "BTCUSDT", "1m", T0, T0, 10)


def test_exchange_info_requests() -> None:
    assert binance.exchange_info_request(MarketType.SPOT) == RestRequest("/api/v3/exchangeInfo", {}, 20)
    assert binance.exchange_info_request(MarketType.PERP) == RestRequest("/fapi/v1/exchangeInfo", {}, 1)


# --- klines --------------------------------------------------------------------------------------------------------


def test_recorded_docs_example_parses_exactly(klines_fixtures: Path) -> None:
    payload = (klines_fixtures / "nautilus" / "binance_spot_klines_response.json").read_bytes()

    # 1499040000000 is Monday 2017-07-03 00:00 UTC and the row closes 7 days later: a weekly candle.
    candles = binance.klines_parse(payload, interval=INTERVALS["1w"], now_ms=1_499_644_800_000)

    assert candles == [
        Candle(1_499_040_000_000, "0.01634790", "0.80000000", "0.01575800", "0.01577100", "148976.11427815", True)
    ]


def test_recorded_docs_example_is_open_until_its_close_time(klines_fixtures: Path) -> None:
    payload = (klines_fixtures / "nautilus" / "binance_spot_klines_response.json").read_bytes()

    candles = binance.klines_parse(payload, interval=INTERVALS["1w"], now_ms=1_499_644_799_999)

    assert [c.closed for c in candles] == [False]


def test_generated_page_round_trips_and_only_the_last_candle_is_open() -> None:
    candles = candles_make(M1, T0, 1000)
    payload = binance_klines_payload(candles, M1)
    now = T0 + 999 * 60_000 + 30_000  # half-way through the 1000th minute

    parsed = binance.klines_parse(payload, interval=M1, now_ms=now)

    assert len(parsed) == 1000
    assert parsed[:-1] == candles[:-1]
    assert parsed[-1] == Candle(**{**_fields(candles[-1]), "closed": False})


def test_empty_page_is_no_candle() -> None:
    assert binance.klines_parse(b"[]", interval=M1, now_ms=NOW) == []


def _fields(candle: Candle) -> dict[str, Any]:
    return {name: getattr(candle, name) for name in Candle.__slots__}


def _rows(*candles: Candle) -> list[list[Any]]:
    return json.loads(binance_klines_payload(candles, M1))  # type: ignore[no-any-return]


GOOD = Candle(T0, "1.0", "2.0", "0.5", "1.5", "10")


@pytest.mark.parametrize(
    ("rows", "error"),
    [
        ({"symbols": []}, PayloadError),  # not a list
        ([[T0, "1", "2", "0.5", "1.5"]], PayloadError),  # five fields
        ([f"{T0},1,2,0.5,1.5,10"], PayloadError),  # a row that is not a list
        ([[str(T0), "1", "2", "0.5", "1.5", "10"]], PayloadError),  # open time as a string
        ([[float(T0), "1", "2", "0.5", "1.5", "10"]], PayloadError),  # open time as a float
        ([[T0, 1.0, "2", "0.5", "1.5", "10"]], PayloadError),  # a price as a JSON number (would pass a float)
        ([[T0, "1", "abc", "0.5", "1.5", "10"]], PayloadError),  # non-numeric
        ([[T0, "1", "NaN", "0.5", "1.5", "10"]], PayloadError),
        ([[T0 + 1, "1", "2", "0.5", "1.5", "10"]], CandleError),  # misaligned open time
        ([[T0, "1", "0.4", "0.5", "1.5", "10"]], CandleError),  # high below low
        ([[T0, "1", "2", "0.5", "1.5", "-1"]], CandleError),  # negative volume
    ],
)
def test_bad_klines_are_refused(rows: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        binance.klines_parse(json.dumps(rows).encode(), interval=M1, now_ms=NOW)


def test_duplicate_open_time_is_refused() -> None:
    rows = _rows(GOOD, GOOD)

    with pytest.raises(CandleError, match="strictly ascending"):
        binance.klines_parse(json.dumps(rows).encode(), interval=M1, now_ms=NOW)


def test_descending_page_is_refused() -> None:
    later = Candle(T0 + 60_000, "1", "1", "1", "1", "0")
    rows = _rows(later, GOOD)

    with pytest.raises(CandleError, match="strictly ascending"):
        binance.klines_parse(json.dumps(rows).encode(), interval=M1, now_ms=NOW)


def test_a_body_that_is_not_json_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="not JSON"):
        binance.klines_parse(b'[[1570752000000, "1"', interval=M1, now_ms=NOW)


# --- instruments ---------------------------------------------------------------------------------------------------


def _filters(tick: str, step: str) -> list[dict[str, str]]:
    return [
        {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00000000", "tickSize": tick},
        {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000.00000000", "stepSize": step},
        {"filterType": "MIN_NOTIONAL", "minNotional": "5.00000000"},
    ]


SPOT_INFO = {
    "timezone": "UTC",
    "serverTime": 1_700_000_000_000,
    "symbols": [
        {
            "symbol": "BTCUSDT",
            "status": "TRADING",
            "baseAsset": "BTC",
            "quoteAsset": "USDT",
            "filters": _filters("0.01000000", "0.00001000"),
        },
        {
            "symbol": "LUNABTC",
            "status": "BREAK",
            "baseAsset": "LUNA",
            "quoteAsset": "BTC",
            "filters": _filters("0.00000001", "0.01000000"),
        },
    ],
}


def test_spot_instruments_keep_the_filters_verbatim() -> None:
    instruments = binance.instruments_parse(json.dumps(SPOT_INFO).encode(), MarketType.SPOT)

    assert instruments == [
        InstrumentInfo(
            Venue.BINANCE, MarketType.SPOT, "BTC/USDT", "BTCUSDT", "BTC", "USDT", None, "0.01000000", "0.00001000",
            None, True,
        ),
        InstrumentInfo(
            Venue.BINANCE, MarketType.SPOT, "LUNA/BTC", "LUNABTC", "LUNA", "BTC", None, "0.00000001", "0.01000000",
            None, False,
        ),
    ]  # fmt: skip


def _perp(symbol: str, base: str, quote: str, margin: str, contract: str, status: str = "TRADING") -> dict[str, Any]:
    return {
        "symbol": symbol,
        "pair": base + quote,
        "contractType": contract,
        "deliveryDate": 4_133_404_800_000,
        "onboardDate": 1_569_398_400_000,  # 2019-09-25 08:00 UTC
        "status": status,
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": margin,
        "filters": _filters("0.10", "0.001"),
    }


def test_usdm_instruments_are_linear_perpetuals_only() -> None:
    info = {
        "symbols": [
            _perp("BTCUSDT", "BTC", "USDT", "USDT", "PERPETUAL"),
            _perp("BTCUSDT_240329", "BTC", "USDT", "USDT", "CURRENT_QUARTER"),  # dated future: left out
            _perp("ETHUSDC", "ETH", "USDC", "USDC", "PERPETUAL", status="SETTLING"),
            _perp("BTCBUSD", "BTC", "BUSD", "BUSD", "PERPETUAL"),  # margin asset the platform does not serve
        ]
    }

    instruments = binance.instruments_parse(json.dumps(info).encode(), MarketType.PERP)

    listed = datetime(2019, 9, 25, 8, 0, tzinfo=UTC)
    assert instruments == [
        InstrumentInfo(
            Venue.BINANCE, MarketType.PERP, "BTC/USDT:USDT", "BTCUSDT", "BTC", "USDT", "USDT", "0.10", "0.001",
            listed, True,
        ),
        InstrumentInfo(
            Venue.BINANCE, MarketType.PERP, "ETH/USDC:USDC", "ETHUSDC", "ETH", "USDC", "USDC", "0.10", "0.001",
            listed, False,
        ),
    ]  # fmt: skip


def test_instrument_without_price_filter_is_refused() -> None:
    info = {"symbols": [{**SPOT_INFO["symbols"][0], "filters": []}]}  # type: ignore[index]

    with pytest.raises(PayloadError, match="PRICE_FILTER"):
        binance.instruments_parse(json.dumps(info).encode(), MarketType.SPOT)


def test_exchange_info_without_symbols_is_refused() -> None:
    with pytest.raises(PayloadError, match="no symbols"):
        binance.instruments_parse(b'{"timezone": "UTC"}', MarketType.SPOT)


# --- errors --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "code", "message_start"),
    [
        ("binance_generic_error_docs", 400, "-1121", "Invalid symbol."),
        ("binance_418_ban_seen_in_issue_freqtrade_7187", 418, "-1003", "Way too much request weight used; IP banned"),
        ("binance_429_seen_in_issue_ccxt_6477", 429, "-1003", "Too much request weight used; current limit is 1200"),
    ],
)
def test_recorded_error_bodies(
    error_payloads: dict[str, Any], name: str, status: int, code: str, message_start: str
) -> None:
    error = binance.error_parse(status, json.dumps(error_payloads[name]).encode())

    assert (error.venue, error.status, error.code) == (Venue.BINANCE, status, code)
    assert error.message.startswith(message_start)
    assert error.message == error_payloads[name]["msg"]


def test_generated_error_body() -> None:
    error = binance.error_parse(400, b'{"code":-1121,"msg":"Invalid symbol."}')

    assert isinstance(error, VenueError)
    assert (error.status, error.code, error.message) == (400, "-1121", "Invalid symbol.")
    assert str(error) == "binance HTTP 400 [-1121]: Invalid symbol."


def test_html_error_body_gives_a_readable_message() -> None:
    body = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body></html>"

    error = binance.error_parse(502, body)

    assert (error.status, error.code) == (502, "")
    assert error.message == (
        "non-Binance error body: <html> <head><title>502 Bad Gateway</title></head> <body>nginx</body></html>"
    )


def test_empty_error_body() -> None:
    assert binance.error_parse(503, b"").message == "empty body"
