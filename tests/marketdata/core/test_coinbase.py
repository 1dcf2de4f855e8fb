"""Coinbase Exchange payloads: inclusive windows of at most 300 candles, JSON numbers kept as their literal text."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketdata.core import coinbase
from marketdata.core.candles import Candle, CandleError
from marketdata.core.intervals import INTERVALS, IntervalError
from marketdata.core.paging import windows
from marketdata.core.rest import InstrumentInfo, PayloadError, RestRequest, VenueError
from marketdata.core.venues import MarketType, Venue
from tests.marketdata.core.payloads import candles_make, coinbase_candles_payload

M1 = INTERVALS["1m"]
H1 = INTERVALS["1h"]
T0 = 1_546_300_800_000  # 2019-01-01 00:00 UTC
NOW = 2_000_000_000_000


# --- requests ------------------------------------------------------------------------------------------------------


def test_request_names_the_first_and_last_open_time_of_the_window() -> None:
    request = coinbase.klines_request(MarketType.SPOT, "BTC-USD", "1m", T0, T0 + 300 * 60_000, 300)

    # Coinbase's end is inclusive: the window [00:00, 05:00) asks for 00:00 … 04:59.
    assert request == RestRequest(
        path="/products/BTC-USD/candles",
        params={"granularity": "60", "start": "2019-01-01T00:00:00Z", "end": "2019-01-01T04:59:00Z"},
        weight=1,
    )


def test_off_grid_window_is_rounded_inward() -> None:
    request = coinbase.klines_request(MarketType.SPOT, "ETH-USD", "1h", T0 + 1, T0 + 3 * 3_600_000 + 5, 300)

    assert request.params == {"granularity": "3600", "start": "2019-01-01T01:00:00Z", "end": "2019-01-01T03:00:00Z"}


def test_301_candles_are_refused_before_coinbase_answers_400() -> None:
    with pytest.raises(ValueError, match="holds 301 1m candles"):
        coinbase.klines_request(MarketType.SPOT, "BTC-USD", "1m", T0, T0 + 301 * 60_000, 300)


@pytest.mark.parametrize(
    ("interval", "start", "end", "limit", "error"),
    [
        ("1m", T0, T0 + 60_000, 301, ValueError),  # limit above the hard 300
        ("4h", T0, T0 + 86_400_000, 10, IntervalError),  # not one of Coinbase's six granularities
        ("1m", T0 + 1, T0 + 59_999, 10, ValueError),  # no open time in the window
    ],
)
def test_request_refusals(interval: str, start: int, end: int, limit: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        coinbase.klines_request(MarketType.SPOT, "BTC-USD", interval, start, end, limit)


@given(
    start=st.integers(min_value=T0, max_value=T0 + 10**10),
    length=st.integers(min_value=1, max_value=10**9),
    code=st.sampled_from(["1m", "5m", "15m", "1h", "6h", "1d"]),
)
def test_consecutive_windows_ask_for_each_open_time_once(start: int, length: int, code: str) -> None:
    interval = INTERVALS[code]
    asked: list[int] = []
    for lower, upper in windows(interval, start, start + length, coinbase.KLINES_LIMIT):
        params = coinbase.klines_request(MarketType.SPOT, "BTC-USD", code, lower, upper, 300).params
        first, last = (_iso_ms(params[key]) for key in ("start", "end"))
        # Both ends inclusive: the candles Coinbase may return are the open times first … last.
        asked.extend(range(first, last + 1, interval.length_ms or 1))

    assert asked == list(interval.open_times(start, start + length))


def _iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * 1000


# --- candles -------------------------------------------------------------------------------------------------------


def test_recorded_eth_usd_rows_keep_the_numbers_literal_text(klines_fixtures: Path) -> None:
    payload = (klines_fixtures / "snippets" / "coinbase_exchange_ETH-USD_60s_2018-01-06.partial.json").read_bytes()

    candles = coinbase.klines_parse(payload, interval=M1, now_ms=1_515_264_840_000)

    # Row order low, high, open, close; the float artefact 14.697630010000001 is what Coinbase wrote, kept as is.
    assert candles == [
        Candle(1_515_264_720_000, "994.5", "994.5", "994.49", "994.5", "22.028889700000004", True),
        Candle(1_515_264_780_000, "994.5", "994.5", "994.5", "994.5", "14.697630010000001", True),
    ]


def test_recorded_ccxt_response_parses_to_ccxt_parsed_form(klines_fixtures: Path) -> None:
    # Read with literal text kept for every number, so the comparison is of texts, not of floats.
    fixture = json.loads(
        (klines_fixtures / "ccxt" / "coinbaseexchange.static-response.json").read_bytes(),
        parse_float=str,
        parse_int=str,
    )
    case = fixture["methods"]["fetchOHLCV"][0]
    assert case["input"][:2] == ["BTC/USDT", "1h"]
    payload = ("[" + ",".join("[" + ",".join(row) + "]" for row in case["httpResponse"]) + "]").encode()

    candles = coinbase.klines_parse(payload, interval=H1, now_ms=NOW)

    assert [[str(c.open_time), c.open, c.high, c.low, c.close, c.volume] for c in candles] == case["parsedResponse"]
    assert case["parsedResponse"] == [["1710327600000", "73243.33", "73402.47", "73241.5", "73370.65", "1.56794406"]]


def test_generated_newest_first_page_round_trips() -> None:
    candles = candles_make(M1, T0, 300, seed=11)

    assert coinbase.klines_parse(coinbase_candles_payload(candles), interval=M1, now_ms=NOW) == candles


def test_exponent_numbers_become_plain_decimals() -> None:
    payload = b"[[1546300800,1e-05,3E-5,2.0e-5,2e-05,1.5E+3]]"

    candles = coinbase.klines_parse(payload, interval=M1, now_ms=NOW)

    assert candles == [Candle(T0, "0.000020", "0.00003", "0.00001", "0.00002", "1500", True)]


def test_a_page_with_omitted_no_trade_minutes_is_accepted_as_is() -> None:
    payload = b"[[1546300980,1,1,1,1,1],[1546300800,2,2,2,2,2]]"  # 00:03 then 00:00: three minutes without trades

    assert [c.open_time for c in coinbase.klines_parse(payload, interval=M1, now_ms=NOW)] == [T0, T0 + 180_000]


def test_the_current_minute_is_open() -> None:
    payload = b"[[1546300860,1,1,1,1,1],[1546300800,2,2,2,2,2]]"

    candles = coinbase.klines_parse(payload, interval=M1, now_ms=T0 + 119_999)

    assert [c.closed for c in candles] == [True, False]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b'[[1546300800,"1","1","1","1","1"]]', PayloadError),  # strings: Advanced Trade's layout, not Exchange's
        (b"[[1546300800,1,1,1,1]]", PayloadError),  # five fields
        (b"[[1546300800.0,1,1,1,1,1]]", PayloadError),  # fractional time
        (b"[[-60,1,1,1,1,1]]", PayloadError),
        (b"[[1546300800,NaN,1,1,1,1]]", PayloadError),
        (b"[[1546300800,1,Infinity,1,1,1]]", PayloadError),
        (b"[[1546300800,1,1,1,1,1],[1546300800,1,1,1,1,1]]", CandleError),  # duplicate
        (b"[[1546300800,1,1,1,1,1],[1546300860,1,1,1,1,1]]", CandleError),  # oldest first: wrong for Coinbase
        (b"[[1546300801,1,1,1,1,1]]", CandleError),  # misaligned
        (b"[[1546300800,2,1,1,1,1]]", CandleError),  # low above high
        (b'{"candles": []}', PayloadError),
        (b"[[1546300800,1,1,1,1,1]", PayloadError),  # truncated
    ],
)
def test_bad_pages_are_refused(payload: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        coinbase.klines_parse(payload, interval=M1, now_ms=NOW)


def test_message_body_on_the_candles_path_is_a_venue_error() -> None:
    with pytest.raises(VenueError) as caught:
        coinbase.klines_parse(b'{"message":"NotFound"}', interval=M1, now_ms=NOW)

    assert (caught.value.venue, caught.value.code, caught.value.message) == (Venue.COINBASE, "", "NotFound")


# --- products ------------------------------------------------------------------------------------------------------


def _product(product: str, status: str = "online", trading_disabled: bool = False) -> dict[str, Any]:
    base, quote = product.split("-")
    return {
        "id": product,
        "base_currency": base,
        "quote_currency": quote,
        "quote_increment": "0.01000000",
        "base_increment": "0.00000001",
        "display_name": f"{base}/{quote}",
        "min_market_funds": "1",
        "status": status,
        "status_message": "",
        "trading_disabled": trading_disabled,
    }


def test_products() -> None:
    body = [_product("BTC-USD"), _product("ETH-EUR", trading_disabled=True), _product("MKR-BTC", status="delisted")]

    instruments = coinbase.instruments_parse(json.dumps(body).encode())

    assert coinbase.products_request() == RestRequest("/products", {}, 1)
    assert instruments == [
        InstrumentInfo(
            Venue.COINBASE,
            MarketType.SPOT,
            symbol,
            product,
            base,
            quote,
            None,
            "0.01000000",
            "0.00000001",
            None,
            active,
        )
        for symbol, product, base, quote, active in (
            ("BTC/USD", "BTC-USD", "BTC", "USD", True),
            ("ETH/EUR", "ETH-EUR", "ETH", "EUR", False),
            ("MKR/BTC", "MKR-BTC", "MKR", "BTC", False),
        )
    ]


def test_product_without_increment_is_refused() -> None:
    body = [{**_product("BTC-USD"), "quote_increment": None}]

    with pytest.raises(PayloadError, match="quote_increment"):
        coinbase.instruments_parse(json.dumps(body).encode())


# --- errors --------------------------------------------------------------------------------------------------------


def test_recorded_window_too_wide_error(error_payloads: dict[str, Any]) -> None:
    body = error_payloads["coinbase_exchange_too_many_candles_seen_in_issues"]

    error = coinbase.error_parse(400, json.dumps(body).encode())

    assert (error.venue, error.status, error.code) == (Venue.COINBASE, 400, "")
    assert error.message == (
        "granularity too small for the requested time range. Count of aggregations requested exceeds 300"
    )


def test_non_json_error_body() -> None:
    error = coinbase.error_parse(429, b"Too Many Requests\n")

    assert (error.status, error.message) == (429, "non-Coinbase error body: Too Many Requests")


def test_parsed_fields_are_plain_str() -> None:
    (candle,) = coinbase.klines_parse(b"[[1546300800,1,2,1.5,1.5,7]]", interval=M1, now_ms=NOW)

    assert {type(getattr(candle, name)) for name in ("open", "high", "low", "close", "volume")} == {str}
