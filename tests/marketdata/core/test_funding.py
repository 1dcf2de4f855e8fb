"""Funding payloads of Binance USD-M and Bybit linear: exact text kept, pages turned oldest first, windows paged on
when full, and the sign of what a position pays."""

from __future__ import annotations

import json
from decimal import Decimal, Inexact

import pytest

from marketdata.core import binance, bybit
from marketdata.core.funding import (
    FundingError,
    FundingEvent,
    funding_events_check,
    funding_page_rest,
    funding_payment,
    funding_windows,
)
from marketdata.core.intervals import HOUR_MS
from marketdata.core.rest import PayloadError, RestRequest, VenueError

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
H8 = 8 * HOUR_MS


def binance_body(rows: list[tuple[int, str, str]], symbol: str = "BTCUSDT") -> bytes:
    return json.dumps(
        [{"symbol": symbol, "fundingTime": t, "fundingRate": r, "markPrice": m} for t, r, m in rows]
    ).encode()


def bybit_body(rows: list[tuple[str, str]], symbol: str = "BTCUSDT") -> bytes:
    return json.dumps(
        {
            "retCode": 0,
            "retMsg": "OK",
            "result": {
                "category": "linear",
                "list": [{"symbol": symbol, "fundingRate": r, "fundingRateTimestamp": t} for t, r in rows],
            },
            "retExtInfo": {},
            "time": T0 + 10 * H8,
        }
    ).encode()


# -- Binance ---------------------------------------------------------------------------------------------------


def test_binance_request_sends_inclusive_end_and_the_limit() -> None:
    request = binance.funding_request("BTCUSDT", T0, T0 + 1000 * HOUR_MS, 1000)

    assert request == RestRequest(
        path="/fapi/v1/fundingRate",
        params={"symbol": "BTCUSDT", "startTime": "1704067200000", "endTime": "1707667199999", "limit": "1000"},
        weight=1,
    )


@pytest.mark.parametrize(("start", "end", "limit"), [(T0, T0, 10), (T0, T0 + 1, 0), (T0, T0 + 1, 1001)])
def test_binance_request_refuses_an_empty_window_or_a_limit_outside_1_to_1000(start: int, end: int, limit: int) -> None:
    with pytest.raises(ValueError):
        binance.funding_request("BTCUSDT", start, end, limit)


def test_binance_rows_keep_the_venues_text_and_an_empty_mark_price_is_none() -> None:
    body = binance_body(
        [
            (T0, "0.00010000", ""),
            (T0 + H8 + 3, "-0.00003750", "42283.10000000"),
            (T0 + 2 * H8, "1E-8", "42000.5"),
        ]
    )

    events = binance.funding_parse(body, venue_symbol="BTCUSDT", start_ms=T0, end_ms=T0 + 3 * H8)

    assert events == [
        FundingEvent(T0, "0.00010000", None),
        FundingEvent(T0 + H8 + 3, "-0.00003750", "42283.10000000"),
        FundingEvent(T0 + 2 * H8, "0.00000001", "42000.5"),
    ]
    assert events[1].rate_decimal == Decimal("-0.00003750")
    assert str(events[0].rate_decimal) == "0.00010000"


def test_binance_record_as_the_venue_writes_it_late_by_milliseconds_without_a_mark_price() -> None:
    # A real answer (quoted in JKorf/Binance.Net pull request 1342): an old record, 7 ms after 00:00 UTC.
    body = b'[{"symbol":"BTCUSDT","fundingTime":1678060800007,"fundingRate":"0.00004054","markPrice":""}]'

    events = binance.funding_parse(body, venue_symbol="BTCUSDT", start_ms=1678060800000, end_ms=1678060800008)

    assert events == [FundingEvent(1678060800007, "0.00004054", None)]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"code":-1121,"msg":"Invalid symbol."}', VenueError),
        (b"<html>", PayloadError),
        (b'{"rows": []}', PayloadError),
        (b'[["BTCUSDT", 1, "0.1", "1"]]', PayloadError),
        (binance_body([(T0, "0.0001", "1")], symbol="ETHUSDT"), PayloadError),
        (json.dumps([{"symbol": "BTCUSDT", "fundingTime": str(T0), "fundingRate": "0.1"}]).encode(), PayloadError),
        (json.dumps([{"symbol": "BTCUSDT", "fundingTime": T0, "fundingRate": 0.0001}]).encode(), PayloadError),
        (binance_body([(T0, "NaN", "")]), PayloadError),
        (binance_body([(T0, "0.0001", "1 ")]), PayloadError),
        (binance_body([(T0 + H8, "0.0001", ""), (T0, "0.0001", "")]), FundingError),
        (binance_body([(T0, "0.0001", ""), (T0, "0.0002", "")]), FundingError),
        (binance_body([(T0 - 1, "0.0001", "")]), FundingError),
        (binance_body([(T0 + 3 * H8, "0.0001", "")]), FundingError),
    ],
)
def test_binance_refuses_errors_wrong_shapes_and_events_out_of_order_or_window(
    body: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error):
        binance.funding_parse(body, venue_symbol="BTCUSDT", start_ms=T0, end_ms=T0 + 3 * H8)


# -- Bybit -----------------------------------------------------------------------------------------------------


def test_bybit_request_is_linear_with_both_times_and_inclusive_end() -> None:
    request = bybit.funding_request("BTCUSDT", T0, T0 + 200 * HOUR_MS, 200)

    assert request == RestRequest(
        path="/v5/market/funding/history",
        params={
            "category": "linear",
            "symbol": "BTCUSDT",
            "startTime": "1704067200000",
            "endTime": "1704787199999",
            "limit": "200",
        },
        weight=1,
    )


def test_bybit_request_refuses_a_limit_over_200() -> None:
    with pytest.raises(ValueError, match="outside"):
        bybit.funding_request("BTCUSDT", T0, T0 + H8, 201)


def test_bybit_newest_first_list_comes_back_oldest_first_with_text_verbatim() -> None:
    body = bybit_body([(str(T0 + 2 * H8), "0.0001"), (str(T0 + H8), "-0.00012"), (str(T0), "0.00005")])

    events = bybit.funding_parse(body, venue_symbol="BTCUSDT", start_ms=T0, end_ms=T0 + 3 * H8)

    assert events == [
        FundingEvent(T0, "0.00005"),
        FundingEvent(T0 + H8, "-0.00012"),
        FundingEvent(T0 + 2 * H8, "0.0001"),
    ]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"retCode":10001,"retMsg":"params error: symbol invalid","result":{}}', VenueError),
        (b'{"result":{"list":[]}}', PayloadError),
        (b'{"retCode":0,"result":{"category":"linear"}}', PayloadError),
        (bybit_body([(str(T0), "0.0001")], symbol="ETHUSDT"), PayloadError),
        (bybit_body([(T0, "0.0001")]), PayloadError),  # a JSON integer, not Bybit's string
        (bybit_body([("1.5e12", "0.0001")]), PayloadError),
        (bybit_body([(str(T0), "")]), PayloadError),
        # oldest first is not what Bybit sends: after turning it round it is out of order
        (bybit_body([(str(T0), "0.0001"), (str(T0 + H8), "0.0001")]), FundingError),
    ],
)
def test_bybit_refuses_errors_wrong_shapes_and_pages_not_newest_first(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        bybit.funding_parse(body, venue_symbol="BTCUSDT", start_ms=T0, end_ms=T0 + 3 * H8)


def test_bybit_error_code_is_kept() -> None:
    body = b'{"retCode":10001,"retMsg":"params error: symbol invalid","result":{}}'

    with pytest.raises(VenueError) as caught:
        bybit.funding_parse(body, venue_symbol="BTCUSDT", start_ms=T0, end_ms=T0 + H8)

    assert (caught.value.status, caught.value.code, caught.value.message) == (
        200,
        "10001",
        "params error: symbol invalid",
    )


# -- windows and pages -------------------------------------------------------------------------------------------


def test_windows_hold_one_page_at_the_shortest_interval_and_cover_the_range_exactly() -> None:
    assert funding_windows(T0, T0 + 450 * HOUR_MS + 5, 200) == [
        (T0, T0 + 200 * HOUR_MS),
        (T0 + 200 * HOUR_MS, T0 + 400 * HOUR_MS),
        (T0 + 400 * HOUR_MS, T0 + 450 * HOUR_MS + 5),
    ]
    assert funding_windows(T0, T0, 200) == []
    with pytest.raises(ValueError):
        funding_windows(T0, T0 + 1, 0)


def _page(*times: int) -> list[FundingEvent]:
    return [FundingEvent(t, "0.0001") for t in times]


def test_a_short_page_ends_the_window() -> None:
    assert funding_page_rest((T0, T0 + 10 * H8), _page(T0, T0 + H8), 3, newest_first=False) is None
    assert funding_page_rest((T0, T0 + 10 * H8), _page(), 3, newest_first=True) is None


def test_a_full_ascending_page_leaves_what_follows_its_newest_event() -> None:
    page = _page(T0, T0 + H8, T0 + 2 * H8 + 7)

    assert funding_page_rest((T0, T0 + 10 * H8), page, 3, newest_first=False) == (T0 + 2 * H8 + 8, T0 + 10 * H8)
    # the newest event is the window's last millisecond: nothing is left
    assert funding_page_rest((T0, T0 + 2 * H8 + 8), page, 3, newest_first=False) is None


def test_a_full_newest_first_page_leaves_what_precedes_its_oldest_event() -> None:
    page = _page(T0 + 5 * H8, T0 + 6 * H8, T0 + 7 * H8)

    assert funding_page_rest((T0, T0 + 10 * H8), page, 3, newest_first=True) == (T0, T0 + 5 * H8)
    assert funding_page_rest((T0 + 5 * H8, T0 + 10 * H8), page, 3, newest_first=True) is None


def test_events_check_refuses_duplicates_and_times_outside() -> None:
    assert funding_events_check(_page(T0, T0 + 1), T0, T0 + 2) == _page(T0, T0 + 1)
    with pytest.raises(FundingError, match="ascending"):
        funding_events_check(_page(T0, T0), T0, T0 + 2)
    with pytest.raises(FundingError, match="outside"):
        funding_events_check(_page(T0 + 2), T0, T0 + 2)


# -- what a position pays ----------------------------------------------------------------------------------------


def test_a_positive_rate_makes_longs_pay_and_shorts_receive() -> None:
    price, rate = Decimal("42283.10000000"), Decimal("0.00010000")

    assert funding_payment(quantity=Decimal("0.5"), mark_price=price, rate=rate) == Decimal("-2.114155")
    assert funding_payment(quantity=Decimal("-0.5"), mark_price=price, rate=rate) == Decimal("2.114155")
    assert funding_payment(quantity=Decimal("0.5"), mark_price=price, rate=-rate) == Decimal("2.114155")
    assert funding_payment(quantity=Decimal("0"), mark_price=price, rate=rate) == 0


def test_payment_is_exact_or_raises() -> None:
    long_quantity = Decimal("1." + "1" * 120)

    with pytest.raises(Inexact):
        funding_payment(quantity=long_quantity, mark_price=Decimal("3." + "3" * 90), rate=Decimal("0.00010000"))
