"""Bybit v5 market data (spot and linear): kline, funding-history and instrument requests, their parsing, errors.

Pure. Bybit answers most errors with HTTP 200 and a non-zero ``retCode``; those become :class:`VenueError` with
status 200. Kline lists come newest first, every field a string; they are returned oldest first. Times are integer
milliseconds UTC; decimals are Bybit's text, kept verbatim.
"""

from __future__ import annotations

import re
from typing import Any

from hftplatform.core.utc import utc_from_ms
from marketdata.core.candle_rows import CandleRows, candle_rows_fast, candle_rows_from_candles
from marketdata.core.candles import Candle
from marketdata.core.decimal_text import decimal_text_plain
from marketdata.core.funding import FundingEvent, funding_events_check
from marketdata.core.intervals import Interval, venue_interval_code
from marketdata.core.rest import InstrumentInfo, PayloadError, RestRequest, VenueError
from marketdata.core.venue_payloads import (
    body_excerpt,
    candle_closed,
    candles_check,
    decimal_field,
    int_field,
    json_load,
    ohlcv_fields,
)
from marketdata.core.venues import MarketType, Venue, unified_symbol

VENUE = Venue.BYBIT

KLINES_LIMIT = 1000
KLINES_PATH = "/v5/market/kline"
INSTRUMENTS_PATH = "/v5/market/instruments-info"
INSTRUMENTS_LIMIT = 1000  # per page, the documented maximum (default 500)
CATEGORY: dict[MarketType, str] = {MarketType.SPOT: "spot", MarketType.PERP: "linear"}
# startTime, open, high, low, close, volume, turnover.
KLINE_FIELDS = 7
# A message-only error text carries its code as "(ErrCode: 10001)".
_ERR_CODE_IN_TEXT = re.compile(r"ErrCode:\s*(-?\d+)")


def klines_request(
    market_type: MarketType, venue_symbol: str, interval: str, start_ms: int, end_ms: int, limit: int
) -> RestRequest:
    """Klines opening in ``[start_ms, end_ms)`` (ms UTC), at most ``limit`` (≤ 1000). Bybit's ``start`` and
    ``end`` are both inclusive, so ``end_ms - 1`` is sent."""
    code = venue_interval_code(VENUE, market_type, interval)
    if end_ms <= start_ms:
        raise ValueError(f"empty window [{start_ms}, {end_ms})")
    if not 1 <= limit <= KLINES_LIMIT:
        raise ValueError(f"limit {limit} outside [1, {KLINES_LIMIT}] for Bybit")
    return RestRequest(
        path=KLINES_PATH,
        params={
            "category": CATEGORY[market_type],
            "symbol": venue_symbol,
            "interval": code,
            "start": str(start_ms),
            "end": str(end_ms - 1),
            "limit": str(limit),
        },
        weight=1,
    )


def _result(payload: bytes) -> dict[str, Any]:
    """The ``result`` object of a successful answer; a non-zero ``retCode`` raises :class:`VenueError`."""
    body = json_load(VENUE, payload)
    if not isinstance(body, dict) or "retCode" not in body:
        raise PayloadError(f"{VENUE}: response without retCode: {body_excerpt(payload)!r}")
    if body["retCode"] != 0:
        raise VenueError(VENUE, 200, str(body["retCode"]), str(body.get("retMsg", "")))
    result = body.get("result")
    if not isinstance(result, dict):
        raise PayloadError(f"{VENUE}: response without a result object: {body_excerpt(payload)!r}")
    return result


def _rows(payload: bytes) -> list[Any]:
    rows = _result(payload).get("list")
    if not isinstance(rows, list):
        raise PayloadError(f"{VENUE}: kline result has no list: {body_excerpt(payload)!r}")
    return rows


def _candles(rows: list[Any], interval: Interval, now_ms: int) -> list[Candle]:
    candles = []
    for index in range(len(rows) - 1, -1, -1):
        row = rows[index]
        if not isinstance(row, list) or len(row) != KLINE_FIELDS:
            raise PayloadError(f"{VENUE}: kline row {index} is not a list of {KLINE_FIELDS} fields: {row!r}")
        if not isinstance(row[0], str):
            raise PayloadError(f"{VENUE}: kline row {index} start time is not a string: {row!r}")
        open_time = int_field(VENUE, row[0], f"kline row {index} start time")
        o, h, lo, c, v = ohlcv_fields(VENUE, row[1:6], f"kline row {index}")
        candles.append(Candle(open_time, o, h, lo, c, v, closed=candle_closed(interval, open_time, now_ms)))
    return candles_check(VENUE, candles, interval)


def klines_parse(payload: bytes, *, interval: Interval, now_ms: int) -> list[Candle]:
    """Bybit kline list (newest first) → candles oldest first; ``closed`` once the candle ended by ``now_ms``.

    Raises :class:`VenueError` for ``retCode`` ≠ 0, :class:`PayloadError` for a wrong shape, :class:`CandleError`
    for impossible or misaligned candles and duplicate or unordered open times.
    """
    return _candles(_rows(payload), interval, now_ms)


def klines_rows(payload: bytes, *, interval: Interval, now_ms: int) -> CandleRows:
    """What :func:`klines_parse` gives, as checked COPY rows (:mod:`marketdata.core.candle_rows`): the same
    refusals, and also of decimal text that is not plain (the store refuses it)."""
    rows = _rows(payload)
    if rows and set(map(type, rows)) == {list} and set(map(len, rows)) == {KLINE_FIELDS}:
        starts, o, h, lo, c, v, _ = (column[::-1] for column in zip(*rows, strict=True))
        # Start times are strings of ASCII digits (int() alone would also take " 1", "+1", "1_0").
        if set(map(type, starts)) == {str} and "".join(starts).isascii() and "".join(starts).isdigit():
            try:
                times = list(map(int, starts))
            except ValueError:  # an empty string
                times = None
            fast = candle_rows_fast(interval, now_ms, times, o, h, lo, c, v) if times is not None else None
            if fast is not None:
                return fast
    return candle_rows_from_candles(_candles(rows, interval, now_ms), interval)


def instruments_request(market_type: MarketType, cursor: str | None) -> RestRequest:
    """One page of the instrument list; ``cursor`` is the previous page's ``nextPageCursor`` (None: first page)."""
    params = {"category": CATEGORY[market_type], "limit": str(INSTRUMENTS_LIMIT)}
    if cursor:
        params["cursor"] = cursor
    return RestRequest(path=INSTRUMENTS_PATH, params=params, weight=1)


def _text(entry: dict[str, Any], key: str, venue_symbol: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{VENUE}: {venue_symbol} has no {key}")
    return value


def _nested(entry: dict[str, Any], outer: str, inner: str, venue_symbol: str) -> str:
    block = entry.get(outer)
    value = block.get(inner) if isinstance(block, dict) else None
    return decimal_field(VENUE, value, f"{venue_symbol} {outer}.{inner}")


def instruments_parse(payload: bytes, market_type: MarketType) -> tuple[list[InstrumentInfo], str | None]:
    """One page of ``instruments-info`` → (instruments, next cursor or None at the end).

    Spot: lot size is ``lotSizeFilter.basePrecision``. Linear: only ``LinearPerpetual`` contracts, lot size
    ``lotSizeFilter.qtyStep``, settle ``settleCoin``, ``launchTime`` (ms) as the listing date. Tick size is
    ``priceFilter.tickSize``; ``active`` means status ``Trading``.
    """
    result = _result(payload)
    entries = result.get("list")
    if not isinstance(entries, list):
        raise PayloadError(f"{VENUE}: instruments result has no list: {body_excerpt(payload)!r}")
    instruments = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("symbol"), str):
            raise PayloadError(f"{VENUE}: instrument entry without a symbol: {entry!r}")
        venue_symbol = entry["symbol"]
        settle: str | None = None
        listed_at = None
        if market_type is MarketType.PERP:
            if entry.get("contractType") != "LinearPerpetual":
                continue
            settle = _text(entry, "settleCoin", venue_symbol)
            lot = _nested(entry, "lotSizeFilter", "qtyStep", venue_symbol)
            launch = entry.get("launchTime")
            if launch not in (None, "", "0"):
                listed_at = utc_from_ms(int_field(VENUE, launch, f"{venue_symbol} launchTime"))
        else:
            lot = _nested(entry, "lotSizeFilter", "basePrecision", venue_symbol)
        base = _text(entry, "baseCoin", venue_symbol)
        quote = _text(entry, "quoteCoin", venue_symbol)
        instruments.append(
            InstrumentInfo(
                venue=VENUE,
                market_type=market_type,
                symbol=unified_symbol(base, quote, settle),
                venue_symbol=venue_symbol,
                base=base,
                quote=quote,
                settle=settle,
                tick_size=_nested(entry, "priceFilter", "tickSize", venue_symbol),
                lot_size=lot,
                listed_at=listed_at,
                active=entry.get("status") == "Trading",
            )
        )
    cursor = result.get("nextPageCursor")
    return instruments, (cursor if isinstance(cursor, str) and cursor else None)


def error_parse(status: int, payload: bytes) -> VenueError:
    """An error answer → :class:`VenueError`: ``{"retCode", "retMsg"}`` bodies give Bybit's code; a text body
    such as ``params error: … (ErrCode: 10001)`` gives the code it names; anything else (the 403 ban page) an
    empty code and an excerpt of the body."""
    try:
        body = json_load(VENUE, payload)
    except PayloadError:
        body = None
    if isinstance(body, dict) and "retCode" in body:
        return VenueError(VENUE, status, str(body["retCode"]), str(body.get("retMsg", "")))
    excerpt = body_excerpt(payload)
    if isinstance(body, str):
        excerpt = body
    found = _ERR_CODE_IN_TEXT.search(excerpt)
    return VenueError(VENUE, status, found.group(1) if found else "", excerpt or "empty body")


# -- funding rates (linear) --------------------------------------------------------------------------------------

FUNDING_PATH = "/v5/market/funding/history"
FUNDING_LIMIT = 200  # per request, the documented maximum (and default)


def funding_request(venue_symbol: str, start_ms: int, end_ms: int, limit: int) -> RestRequest:
    """Settled funding events of a linear perpetual in ``[start_ms, end_ms)`` (ms UTC): the newest ``limit`` of
    them, newest first. Both ``startTime`` and ``endTime`` are sent (``startTime`` alone is refused); both are
    inclusive, so ``end_ms - 1`` is sent."""
    if end_ms <= start_ms:
        raise ValueError(f"empty window [{start_ms}, {end_ms})")
    if not 1 <= limit <= FUNDING_LIMIT:
        raise ValueError(f"limit {limit} outside [1, {FUNDING_LIMIT}] for Bybit funding history")
    return RestRequest(
        path=FUNDING_PATH,
        params={
            "category": CATEGORY[MarketType.PERP],
            "symbol": venue_symbol,
            "startTime": str(start_ms),
            "endTime": str(end_ms - 1),
            "limit": str(limit),
        },
        weight=1,
    )


def funding_parse(payload: bytes, *, venue_symbol: str, start_ms: int, end_ms: int) -> list[FundingEvent]:
    """``result.list`` of ``{"symbol", "fundingRate", "fundingRateTimestamp"}`` (newest first, every field a
    string) → events oldest first, in the window. Bybit's history has no mark price (None).

    Raises :class:`VenueError` for ``retCode`` ≠ 0, :class:`PayloadError` for a wrong shape or another symbol's
    rows, :class:`FundingError` for times out of order (a page not newest first) or outside the window.
    """
    rows = _result(payload).get("list")
    if not isinstance(rows, list):
        raise PayloadError(f"{VENUE}: funding history result has no list: {body_excerpt(payload)!r}")
    events = []
    for index in range(len(rows) - 1, -1, -1):
        row = rows[index]
        what = f"funding row {index}"
        if not isinstance(row, dict):
            raise PayloadError(f"{VENUE}: {what} is not an object: {row!r}")
        if row.get("symbol") != venue_symbol:
            raise PayloadError(f"{VENUE}: {what} is for {row.get('symbol')!r}, not {venue_symbol!r}")
        stamp = row.get("fundingRateTimestamp")
        if not isinstance(stamp, str):
            raise PayloadError(f"{VENUE}: {what} fundingRateTimestamp is not a string: {row!r}")
        time_ms = int_field(VENUE, stamp, f"{what} fundingRateTimestamp")
        rate = decimal_text_plain(decimal_field(VENUE, row.get("fundingRate"), f"{what} fundingRate"))
        events.append(FundingEvent(time_ms, rate))
    return funding_events_check(events, start_ms, end_ms)
