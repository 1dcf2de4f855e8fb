"""Binance spot (``/api/v3``) and USD-M futures (``/fapi/v1``): kline, funding-rate and market-list requests, their
parsing, errors.

Pure: builds :class:`RestRequest` values and parses response bodies. Times are integer milliseconds UTC; prices and
volumes are Binance's decimal strings, kept verbatim.
"""

from __future__ import annotations

from itertools import islice
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

VENUE = Venue.BINANCE

KLINES_LIMIT: dict[MarketType, int] = {MarketType.SPOT: 1000, MarketType.PERP: 1500}
KLINES_PATH: dict[MarketType, str] = {MarketType.SPOT: "/api/v3/klines", MarketType.PERP: "/fapi/v1/klines"}
EXCHANGE_INFO_PATH: dict[MarketType, str] = {
    MarketType.SPOT: "/api/v3/exchangeInfo",
    MarketType.PERP: "/fapi/v1/exchangeInfo",
}
EXCHANGE_INFO_WEIGHT: dict[MarketType, int] = {MarketType.SPOT: 20, MarketType.PERP: 1}
SPOT_KLINES_WEIGHT = 2
# USD-M futures settled in these assets are the platform's linear perpetuals (COIN-M lives on /dapi, not here).
PERP_MARGIN_ASSETS = frozenset({"USDT", "USDC"})
# A kline row: openTime, open, high, low, close, volume, closeTime, quote volume, trades, taker base, taker quote,
# ignore. Only the first six are read; fewer than that is a wrong shape.
KLINE_MIN_FIELDS = 6


def klines_weight(market_type: MarketType, limit: int) -> int:
    """The documented request weight: flat 2 on spot; by ``limit`` on USD-M (1, 2, 5, then 10 above 1000)."""
    if market_type is MarketType.SPOT:
        return SPOT_KLINES_WEIGHT
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


def klines_request(
    market_type: MarketType, venue_symbol: str, interval: str, start_ms: int, end_ms: int, limit: int
) -> RestRequest:
    """Klines opening in ``[start_ms, end_ms)`` (ms UTC), at most ``limit`` of them, oldest first.

    ``interval`` is the platform's code. Binance's ``endTime`` is inclusive, so ``end_ms - 1`` is sent.
    """
    code = venue_interval_code(VENUE, market_type, interval)
    if end_ms <= start_ms:
        raise ValueError(f"empty window [{start_ms}, {end_ms})")
    if not 1 <= limit <= KLINES_LIMIT[market_type]:
        raise ValueError(f"limit {limit} outside [1, {KLINES_LIMIT[market_type]}] for Binance {market_type}")
    return RestRequest(
        path=KLINES_PATH[market_type],
        params={
            "symbol": venue_symbol,
            "interval": code,
            "startTime": str(start_ms),
            "endTime": str(end_ms - 1),
            "limit": str(limit),
        },
        weight=klines_weight(market_type, limit),
    )


def _rows(payload: bytes) -> Any:
    rows = json_load(VENUE, payload)
    if isinstance(rows, dict) and "code" in rows:
        raise VenueError(VENUE, 200, str(rows["code"]), str(rows.get("msg", "")))
    if not isinstance(rows, list):
        raise PayloadError(f"{VENUE}: klines response is not a list: {body_excerpt(payload)!r}")
    return rows


def _candles(rows: list[Any], interval: Interval, now_ms: int) -> list[Candle]:
    candles = []
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) < KLINE_MIN_FIELDS:
            raise PayloadError(f"{VENUE}: kline row {index} is not a list of at least 6 fields: {row!r}")
        open_time = row[0]
        if not isinstance(open_time, int) or isinstance(open_time, bool):
            raise PayloadError(f"{VENUE}: kline row {index} open time is not an integer: {row!r}")
        o, h, lo, c, v = ohlcv_fields(VENUE, row[1:6], f"kline row {index}")
        candles.append(Candle(open_time, o, h, lo, c, v, closed=candle_closed(interval, open_time, now_ms)))
    return candles_check(VENUE, candles, interval)


def klines_parse(payload: bytes, *, interval: Interval, now_ms: int) -> list[Candle]:
    """Binance kline rows → candles, ascending; ``closed`` when the candle ended at or before ``now_ms``.

    Raises :class:`PayloadError` for a wrong shape, :class:`CandleError` for impossible or misaligned candles and
    open times that do not strictly ascend.
    """
    return _candles(_rows(payload), interval, now_ms)


def klines_rows(payload: bytes, *, interval: Interval, now_ms: int) -> CandleRows:
    """What :func:`klines_parse` gives, as checked COPY rows (:mod:`marketdata.core.candle_rows`): the same
    refusals, and also of decimal text that is not plain (the store refuses it)."""
    rows = _rows(payload)
    if rows and set(map(type, rows)) == {list} and min(map(len, rows)) >= KLINE_MIN_FIELDS:
        times, o, h, lo, c, v = islice(zip(*rows, strict=False), KLINE_MIN_FIELDS)
        fast = candle_rows_fast(interval, now_ms, times, o, h, lo, c, v)
        if fast is not None:
            return fast
    return candle_rows_from_candles(_candles(rows, interval, now_ms), interval)


def exchange_info_request(market_type: MarketType) -> RestRequest:
    """The market list: every symbol with its filters (spot weight 20, USD-M weight 1)."""
    return RestRequest(path=EXCHANGE_INFO_PATH[market_type], weight=EXCHANGE_INFO_WEIGHT[market_type])


def _filters(venue_symbol: str, entry: dict[str, Any]) -> tuple[str, str]:
    """(tick size, lot size) from PRICE_FILTER.tickSize and LOT_SIZE.stepSize."""
    filters = entry.get("filters")
    if not isinstance(filters, list):
        raise PayloadError(f"{VENUE}: {venue_symbol} has no filters list")
    by_type = {f.get("filterType"): f for f in filters if isinstance(f, dict)}
    try:
        tick = by_type["PRICE_FILTER"]["tickSize"]
        step = by_type["LOT_SIZE"]["stepSize"]
    except KeyError:
        raise PayloadError(f"{VENUE}: {venue_symbol} lacks PRICE_FILTER.tickSize or LOT_SIZE.stepSize") from None
    return (
        decimal_field(VENUE, tick, f"{venue_symbol} tickSize"),
        decimal_field(VENUE, step, f"{venue_symbol} stepSize"),
    )


def _text(entry: dict[str, Any], key: str, venue_symbol: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{VENUE}: {venue_symbol} has no {key}")
    return value


def instruments_parse(payload: bytes, market_type: MarketType) -> list[InstrumentInfo]:
    """``exchangeInfo`` → instruments. Spot: every symbol. USD-M: only perpetuals margined in USDT or USDC, with
    ``onboardDate`` (ms) as the listing date. ``active`` means status ``TRADING``."""
    body = json_load(VENUE, payload)
    symbols = body.get("symbols") if isinstance(body, dict) else None
    if not isinstance(symbols, list):
        raise PayloadError(f"{VENUE}: exchangeInfo has no symbols list: {body_excerpt(payload)!r}")
    instruments = []
    for entry in symbols:
        if not isinstance(entry, dict) or not isinstance(entry.get("symbol"), str):
            raise PayloadError(f"{VENUE}: exchangeInfo symbol entry without a symbol: {entry!r}")
        venue_symbol = entry["symbol"]
        settle: str | None = None
        listed_at = None
        if market_type is MarketType.PERP:
            if entry.get("contractType") != "PERPETUAL" or entry.get("marginAsset") not in PERP_MARGIN_ASSETS:
                continue
            settle = entry["marginAsset"]
            if entry.get("onboardDate") is not None:
                listed_at = utc_from_ms(int_field(VENUE, entry["onboardDate"], f"{venue_symbol} onboardDate"))
        base = _text(entry, "baseAsset", venue_symbol)
        quote = _text(entry, "quoteAsset", venue_symbol)
        tick, lot = _filters(venue_symbol, entry)
        instruments.append(
            InstrumentInfo(
                venue=VENUE,
                market_type=market_type,
                symbol=unified_symbol(base, quote, settle),
                venue_symbol=venue_symbol,
                base=base,
                quote=quote,
                settle=settle,
                tick_size=tick,
                lot_size=lot,
                listed_at=listed_at,
                active=entry.get("status") == "TRADING",
            )
        )
    return instruments


def error_parse(status: int, payload: bytes) -> VenueError:
    """An error answer → :class:`VenueError` with Binance's code (``"-1121"``) and message. A body that is not
    Binance's ``{"code", "msg"}`` (an HTML page from a proxy) gives an empty code and an excerpt of the body."""
    try:
        body = json_load(VENUE, payload)
    except PayloadError:
        body = None
    if isinstance(body, dict) and "code" in body:
        return VenueError(VENUE, status, str(body["code"]), str(body.get("msg", "")))
    excerpt = body_excerpt(payload)
    return VenueError(VENUE, status, "", f"non-Binance error body: {excerpt}" if excerpt else "empty body")


# -- funding rates (USD-M) ---------------------------------------------------------------------------------------

FUNDING_PATH = "/fapi/v1/fundingRate"
FUNDING_LIMIT = 1000  # per request, the documented maximum (default 100)
# Not request weight: the endpoint has a budget of its own, 500 requests per 5 minutes per IP, shared with
# /fapi/v1/fundingInfo.
FUNDING_REQUESTS = 500
FUNDING_WINDOW_S = 300.0


def funding_request(venue_symbol: str, start_ms: int, end_ms: int, limit: int) -> RestRequest:
    """Settled funding events of a USD-M perpetual in ``[start_ms, end_ms)`` (ms UTC), the oldest ``limit`` of them,
    ascending. ``startTime`` and ``endTime`` are both inclusive, so ``end_ms - 1`` is sent."""
    if end_ms <= start_ms:
        raise ValueError(f"empty window [{start_ms}, {end_ms})")
    if not 1 <= limit <= FUNDING_LIMIT:
        raise ValueError(f"limit {limit} outside [1, {FUNDING_LIMIT}] for Binance funding rates")
    return RestRequest(
        path=FUNDING_PATH,
        params={
            "symbol": venue_symbol,
            "startTime": str(start_ms),
            "endTime": str(end_ms - 1),
            "limit": str(limit),
        },
        weight=1,
    )


def funding_parse(payload: bytes, *, venue_symbol: str, start_ms: int, end_ms: int) -> list[FundingEvent]:
    """``[{"symbol", "fundingTime", "fundingRate", "markPrice"}, ...]`` → events, ascending, in the window.

    ``fundingTime`` is a JSON integer (ms); ``fundingRate`` and ``markPrice`` decimal strings, kept verbatim
    (exponent forms rewritten plain). Early records carry ``"markPrice": ""``: no mark price (None). Raises
    :class:`VenueError` for an error body, :class:`PayloadError` for a wrong shape or another symbol's rows,
    :class:`FundingError` for times out of order or outside the window.
    """
    body = json_load(VENUE, payload)
    if isinstance(body, dict) and "code" in body:
        raise VenueError(VENUE, 200, str(body["code"]), str(body.get("msg", "")))
    if not isinstance(body, list):
        raise PayloadError(f"{VENUE}: fundingRate response is not a list: {body_excerpt(payload)!r}")
    events = []
    for index, row in enumerate(body):
        what = f"funding row {index}"
        if not isinstance(row, dict):
            raise PayloadError(f"{VENUE}: {what} is not an object: {row!r}")
        if row.get("symbol") != venue_symbol:
            raise PayloadError(f"{VENUE}: {what} is for {row.get('symbol')!r}, not {venue_symbol!r}")
        time_ms = row.get("fundingTime")
        if not isinstance(time_ms, int) or isinstance(time_ms, bool):
            raise PayloadError(f"{VENUE}: {what} fundingTime is not an integer: {row!r}")
        rate = decimal_text_plain(decimal_field(VENUE, row.get("fundingRate"), f"{what} fundingRate"))
        mark = row.get("markPrice")
        mark_price = None if mark in (None, "") else decimal_text_plain(decimal_field(VENUE, mark, f"{what} markPrice"))
        events.append(FundingEvent(time_ms, rate, mark_price))
    return funding_events_check(events, start_ms, end_ms)
