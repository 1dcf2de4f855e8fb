"""Bybit v5 payloads: newest-first pages returned oldest first, retCode errors on HTTP 200, instruments by cursor."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from marketdata.core import bybit
from marketdata.core.candles import Candle, CandleError
from marketdata.core.intervals import INTERVALS, IntervalError
from marketdata.core.rest import InstrumentInfo, PayloadError, RestRequest, VenueError
from marketdata.core.venues import MarketType, Venue
from tests.marketdata.core.payloads import bybit_klines_payload, candles_make

M1 = INTERVALS["1m"]
H1 = INTERVALS["1h"]
T0 = 1_570_752_000_000  # 2019-10-11 00:00 UTC
NOW = 2_000_000_000_000


def test_klines_request_sends_inclusive_end_and_the_venue_interval_code() -> None:
    request = bybit.klines_request(MarketType.PERP, "BTCUSDT", "1h", T0, T0 + 1000 * 3_600_000, 1000)

    assert request == RestRequest(
        path="/v5/market/kline",
        params={
            "category": "linear",
            "symbol": "BTCUSDT",
            "interval": "60",
            "start": "1570752000000",
            "end": "1574351999999",
            "limit": "1000",
        },
        weight=1,
    )


@pytest.mark.parametrize(("code", "venue_code"), [("1d", "D"), ("1w", "W"), ("1M", "M"), ("12h", "720")])
def test_spot_request_interval_codes(code: str, venue_code: str) -> None:
    params = bybit.klines_request(MarketType.SPOT, "ETHUSDT", code, T0, T0 + 1, 1).params

    assert (params["category"], params["interval"]) == ("spot", venue_code)


@pytest.mark.parametrize(("interval", "limit", "error"), [("1m", 1001, ValueError), ("8h", 10, IntervalError)])
def test_klines_request_refuses_what_bybit_refuses(interval: str, limit: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        bybit.klines_request(MarketType.SPOT, "BTCUSDT", interval, T0, T0 + 60_000, limit)


def test_recorded_docs_example_is_returned_oldest_first(klines_fixtures: Path) -> None:
    payload = (klines_fixtures / "snippets" / "bybit_v5_kline_docs_example_inverse_BTCUSD_60.json").read_bytes()

    # The answer's own time (1672025956592) is long after the last candle closed.
    candles = bybit.klines_parse(payload, interval=H1, now_ms=1_672_025_956_592)

    assert candles == [
        Candle(1_670_601_600_000, "17086.5", "17088", "16978", "17071.5", "6356", True),
        Candle(1_670_605_200_000, "17071.5", "17071.5", "17061", "17071", "4177", True),
        Candle(1_670_608_800_000, "17071", "17073", "17027", "17055.5", "268611", True),
    ]


def test_recorded_docs_example_last_candle_open_at_its_own_hour(klines_fixtures: Path) -> None:
    payload = (klines_fixtures / "snippets" / "bybit_v5_kline_docs_example_inverse_BTCUSD_60.json").read_bytes()

    candles = bybit.klines_parse(payload, interval=H1, now_ms=1_670_608_800_000 + 1)

    assert [c.closed for c in candles] == [True, True, False]


def test_recorded_synthetic_linear_row_is_off_the_minute_grid(klines_fixtures: Path) -> None:
    # SOURCES.md: the nautilus fixture is synthetic and its time is not minute-aligned; it must not be accepted.
    payload = (klines_fixtures / "nautilus" / "bybit_http_get_klines_linear.json").read_bytes()

    with pytest.raises(CandleError, match="not on the 1m grid"):
        bybit.klines_parse(payload, interval=M1, now_ms=NOW)


def test_generated_newest_first_page_round_trips() -> None:
    candles = candles_make(M1, T0, 1000, seed=3)

    parsed = bybit.klines_parse(bybit_klines_payload(candles), interval=M1, now_ms=NOW)

    assert parsed == candles


def test_non_zero_ret_code_on_http_200_is_a_venue_error() -> None:
    body = b'{"retCode":10001,"retMsg":"params error: symbol invalid","result":{},"retExtInfo":{},"time":1}'

    with pytest.raises(VenueError) as caught:
        bybit.klines_parse(body, interval=M1, now_ms=NOW)

    assert (caught.value.venue, caught.value.status, caught.value.code) == (Venue.BYBIT, 200, "10001")
    assert caught.value.message == "params error: symbol invalid"


def _page(rows: Any) -> bytes:
    return json.dumps({"retCode": 0, "retMsg": "OK", "result": {"list": rows}}).encode()


ROW = [str(T0), "1", "2", "0.5", "1.5", "10", "15"]
NEXT = [str(T0 + 60_000), "1", "2", "0.5", "1.5", "10", "15"]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (_page([ROW, ROW]), CandleError),  # duplicate open time
        (_page([ROW, NEXT]), CandleError),  # oldest first: wrong order for Bybit
        (_page([ROW[:6]]), PayloadError),  # six fields
        (_page([[T0, *ROW[1:]]]), PayloadError),  # start time as a number
        (_page([[*ROW[:2], 2, *ROW[3:]]]), PayloadError),  # a price as a number
        (_page([[str(T0 + 1), *ROW[1:]]]), CandleError),  # misaligned
        (_page([[*ROW[:2], "0.4", *ROW[3:]]]), CandleError),  # high below low
        (_page([[*ROW[:2], "2..0", *ROW[3:]]]), PayloadError),  # non-numeric
        (_page({"0": ROW}), PayloadError),
        (b'{"result":{"list":[]}}', PayloadError),  # no retCode
        (b"<html>403 Forbidden</html>", PayloadError),
    ],
)
def test_bad_pages_are_refused(payload: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        bybit.klines_parse(payload, interval=M1, now_ms=NOW)


def test_newest_first_page_in_the_right_order_is_accepted() -> None:
    assert [c.open_time for c in bybit.klines_parse(_page([NEXT, ROW]), interval=M1, now_ms=NOW)] == [
        T0,
        T0 + 60_000,
    ]


# --- instruments ---------------------------------------------------------------------------------------------------


def test_instruments_request_pages_by_cursor() -> None:
    assert bybit.instruments_request(MarketType.SPOT, None) == RestRequest(
        "/v5/market/instruments-info", {"category": "spot", "limit": "1000"}, 1
    )
    assert bybit.instruments_request(MarketType.PERP, "abc%3D%3D").params == {
        "category": "linear",
        "limit": "1000",
        "cursor": "abc%3D%3D",
    }


def _linear(symbol: str, base: str, quote: str, contract: str, status: str = "Trading") -> dict[str, Any]:
    return {
        "symbol": symbol,
        "contractType": contract,
        "status": status,
        "baseCoin": base,
        "quoteCoin": quote,
        "launchTime": "1585526400000",  # 2020-03-30 00:00 UTC
        "deliveryTime": "0",
        "settleCoin": quote,
        "priceScale": "2",
        "priceFilter": {"minPrice": "0.10", "maxPrice": "199999.80", "tickSize": "0.10"},
        "lotSizeFilter": {"maxOrderQty": "100.000", "minOrderQty": "0.001", "qtyStep": "0.001"},
    }


def test_linear_instruments_keep_perpetuals_and_return_the_next_cursor() -> None:
    body = {
        "retCode": 0,
        "retMsg": "OK",
        "result": {
            "category": "linear",
            "list": [
                _linear("BTCUSDT", "BTC", "USDT", "LinearPerpetual"),
                _linear("BTC-29MAR24", "BTC", "USDC", "LinearFutures"),  # dated future: left out
                _linear("ETHPERP", "ETH", "USDC", "LinearPerpetual", status="Closed"),
            ],
            "nextPageCursor": "first%3D500%26last%3D600",
        },
    }

    instruments, cursor = bybit.instruments_parse(json.dumps(body).encode(), MarketType.PERP)

    listed = datetime(2020, 3, 30, tzinfo=UTC)
    assert cursor == "first%3D500%26last%3D600"
    assert instruments == [
        InstrumentInfo(
            Venue.BYBIT, MarketType.PERP, "BTC/USDT:USDT", "BTCUSDT", "BTC", "USDT", "USDT", "0.10", "0.001",
            listed, True,
        ),
        InstrumentInfo(
            Venue.BYBIT, MarketType.PERP, "ETH/USDC:USDC", "ETHPERP", "ETH", "USDC", "USDC", "0.10", "0.001",
            listed, False,
        ),
    ]  # fmt: skip


def test_spot_instruments_use_base_precision_and_end_without_cursor() -> None:
    body = {
        "retCode": 0,
        "retMsg": "OK",
        "result": {
            "category": "spot",
            "list": [
                {
                    "symbol": "BTCUSDT",
                    "baseCoin": "BTC",
                    "quoteCoin": "USDT",
                    "status": "Trading",
                    "lotSizeFilter": {"basePrecision": "0.000001", "quotePrecision": "0.00000001"},
                    "priceFilter": {"tickSize": "0.01"},
                }
            ],
            "nextPageCursor": "",
        },
    }

    instruments, cursor = bybit.instruments_parse(json.dumps(body).encode(), MarketType.SPOT)

    assert cursor is None
    assert instruments == [
        InstrumentInfo(
            Venue.BYBIT, MarketType.SPOT, "BTC/USDT", "BTCUSDT", "BTC", "USDT", None, "0.01", "0.000001", None, True
        )
    ]


def test_instruments_with_ret_code_error_raise() -> None:
    with pytest.raises(VenueError) as caught:
        bybit.instruments_parse(b'{"retCode":10006,"retMsg":"Too many visits!"}', MarketType.SPOT)

    assert (caught.value.status, caught.value.code) == (200, "10006")


# --- errors --------------------------------------------------------------------------------------------------------


def test_recorded_rate_limit_body(error_payloads: dict[str, Any]) -> None:
    error = bybit.error_parse(200, json.dumps(error_payloads["bybit_rate_limit_docs"]).encode())

    assert (error.venue, error.status, error.code, error.message) == (Venue.BYBIT, 200, "10006", "Too many visits!")


def test_recorded_message_only_error_names_its_code(error_payloads: dict[str, Any]) -> None:
    text = error_payloads["bybit_param_error_seen_in_pybit_issue_308_message_only"]

    error = bybit.error_parse(400, text.encode())

    assert (error.code, error.message) == ("10001", "params error: intervalTime is invalid (ErrCode: 10001)")


def test_ban_page_gives_a_readable_message() -> None:
    error = bybit.error_parse(403, b"<html><body>\n  <h1>403 Forbidden</h1>\n</body></html>")

    assert (error.status, error.code, error.message) == (403, "", "<html><body> <h1>403 Forbidden</h1> </body></html>")
