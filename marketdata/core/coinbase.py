"""Coinbase Exchange public market data: candle and product requests, their parsing, errors.

Pure. Candles come newest first as ``[time_s, low, high, open, close, volume]`` with JSON *numbers*; the numbers'
literal text is kept (a float never stands in between), exponent forms such as ``1e-05`` are rewritten as plain
decimals. Coinbase omits periods without trades, so a page may hold fewer candles than the window. Times here are
integer milliseconds UTC.
"""

from __future__ import annotations

from typing import Any

from marketdata.core.candle_rows import CandleRows, candle_rows_fast, candle_rows_from_candles
from marketdata.core.candles import Candle
from marketdata.core.decimal_text import decimal_text_plain
from marketdata.core.intervals import SECOND_MS, Interval, interval_get, venue_interval_code
from marketdata.core.rest import InstrumentInfo, PayloadError, RestRequest, VenueError
from marketdata.core.venue_payloads import (
    body_excerpt,
    candle_closed,
    candles_check,
    decimal_field,
    json_load,
    ms_to_iso,
)
from marketdata.core.venues import MarketType, Venue, unified_symbol

VENUE = Venue.COINBASE

# A window holding more candles than this is refused with HTTP 400, not truncated.
KLINES_LIMIT = 300
PRODUCTS_PATH = "/products"
# time, low, high, open, close, volume.
CANDLE_FIELDS = 6


class _Number(str):
    """The literal text of a JSON number, told apart from a JSON string."""

    __slots__ = ()


def _number(text: str) -> _Number:
    return _Number(text)


def _no_constant(name: str) -> Any:
    raise PayloadError(f"{VENUE}: {name} is not a number a candle can hold")


def klines_request(
    market_type: MarketType, venue_symbol: str, interval: str, start_ms: int, end_ms: int, limit: int
) -> RestRequest:
    """Candles opening in ``[start_ms, end_ms)`` (ms UTC) of product ``venue_symbol`` (``BTC-USD``).

    Coinbase's ``start`` and ``end`` are both inclusive (a candle opening exactly at ``end`` is returned), so the
    request names the first and the last open time of the grid inside the window: consecutive half-open windows
    then neither repeat nor miss a candle. The window must hold at most ``limit`` ≤ 300 candles: a wider one is
    an HTTP 400 from Coinbase, so it is refused here with :class:`ValueError`.
    """
    granularity = venue_interval_code(VENUE, market_type, interval)
    grid = interval_get(interval)
    if not 1 <= limit <= KLINES_LIMIT:
        raise ValueError(f"limit {limit} outside [1, {KLINES_LIMIT}] for Coinbase")
    count = grid.count(start_ms, end_ms)
    if count == 0:
        raise ValueError(f"no {interval} candle opens in [{start_ms}, {end_ms})")
    if count > limit:
        raise ValueError(f"[{start_ms}, {end_ms}) holds {count} {interval} candles, more than {limit}")
    first = grid.ceil(start_ms)
    last = grid.add(first, count - 1)
    return RestRequest(
        path=f"/products/{venue_symbol}/candles",
        params={"granularity": granularity, "start": ms_to_iso(first), "end": ms_to_iso(last)},
        weight=1,
    )


def _time_ms(value: Any, index: int) -> int:
    if not isinstance(value, _Number) or not value.isdigit():
        raise PayloadError(f"{VENUE}: candle row {index} time is not whole seconds: {value!r}")
    return int(value) * SECOND_MS


def _price(value: Any, index: int, field: int) -> str:
    if not isinstance(value, _Number):
        raise PayloadError(f"{VENUE}: candle row {index} field {field} is not a JSON number: {value!r}")
    # The JSON grammar already made it a valid number; str() drops the _Number marker type.
    return decimal_text_plain(str(value))


def _rows(payload: bytes) -> list[Any]:
    rows = json_load(VENUE, payload, parse_float=_number, parse_int=_number, parse_constant=_no_constant)
    if isinstance(rows, dict) and "message" in rows:
        raise VenueError(VENUE, 200, "", str(rows["message"]))
    if not isinstance(rows, list):
        raise PayloadError(f"{VENUE}: candles response is not a list: {body_excerpt(payload)!r}")
    return rows


def _candles(rows: list[Any], interval: Interval, now_ms: int) -> list[Candle]:
    candles = []
    for index in range(len(rows) - 1, -1, -1):
        row = rows[index]
        if not isinstance(row, list) or len(row) != CANDLE_FIELDS:
            raise PayloadError(f"{VENUE}: candle row {index} is not a list of {CANDLE_FIELDS} numbers: {row!r}")
        open_time = _time_ms(row[0], index)
        low, high, open_, close, volume = (_price(row[i], index, i) for i in range(1, 6))
        candles.append(
            Candle(open_time, open_, high, low, close, volume, closed=candle_closed(interval, open_time, now_ms))
        )
    return candles_check(VENUE, candles, interval)


def klines_parse(payload: bytes, *, interval: Interval, now_ms: int) -> list[Candle]:
    """Coinbase candle rows (newest first, ``[time_s, low, high, open, close, volume]``) → candles oldest first;
    ``closed`` once the candle ended by ``now_ms``.

    Raises :class:`VenueError` for a ``{"message"}`` body, :class:`PayloadError` for a wrong shape,
    :class:`CandleError` for impossible or misaligned candles and duplicate or unordered open times.
    """
    return _candles(_rows(payload), interval, now_ms)


def klines_rows(payload: bytes, *, interval: Interval, now_ms: int) -> CandleRows:
    """What :func:`klines_parse` gives, as checked COPY rows (:mod:`marketdata.core.candle_rows`): the same
    refusals, and also of decimal text that is not plain. A page with exponent forms (``1e-05``) takes the
    row-by-row path, which rewrites them."""
    rows = _rows(payload)
    if rows and set(map(type, rows)) == {list} and set(map(len, rows)) == {CANDLE_FIELDS}:
        columns = [column[::-1] for column in zip(*rows, strict=True)]
        seconds, lo, h, o, c, v = columns
        # Every field a JSON number (a JSON string is refused), times whole seconds in ASCII digits.
        numbers = all(set(map(type, column)) == {_Number} for column in columns)
        if numbers and "".join(seconds).isascii() and "".join(seconds).isdigit():
            times = [int(s) * SECOND_MS for s in seconds]
            fast = candle_rows_fast(interval, now_ms, times, o, h, lo, c, v)
            if fast is not None:
                return fast
    return candle_rows_from_candles(_candles(rows, interval, now_ms), interval)


def products_request() -> RestRequest:
    """Every product of the exchange."""
    return RestRequest(path=PRODUCTS_PATH, weight=1)


def _text(entry: dict[str, Any], key: str, product: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{VENUE}: product {product} has no {key}")
    return value


def instruments_parse(payload: bytes) -> list[InstrumentInfo]:
    """``/products`` → spot instruments: ``quote_increment`` is the tick size, ``base_increment`` the lot size;
    ``active`` means status ``online`` and not ``trading_disabled``. Coinbase gives no listing date."""
    products = json_load(VENUE, payload)
    if not isinstance(products, list):
        raise PayloadError(f"{VENUE}: products response is not a list: {body_excerpt(payload)!r}")
    instruments = []
    for entry in products:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise PayloadError(f"{VENUE}: product entry without an id: {entry!r}")
        product = entry["id"]
        base = _text(entry, "base_currency", product)
        quote = _text(entry, "quote_currency", product)
        instruments.append(
            InstrumentInfo(
                venue=VENUE,
                market_type=MarketType.SPOT,
                symbol=unified_symbol(base, quote),
                venue_symbol=product,
                base=base,
                quote=quote,
                settle=None,
                tick_size=decimal_field(VENUE, entry.get("quote_increment"), f"{product} quote_increment"),
                lot_size=decimal_field(VENUE, entry.get("base_increment"), f"{product} base_increment"),
                listed_at=None,
                active=entry.get("status") == "online" and entry.get("trading_disabled") is not True,
            )
        )
    return instruments


def error_parse(status: int, payload: bytes) -> VenueError:
    """An error answer → :class:`VenueError` with Coinbase's ``message``; Coinbase has no error codes, so ``code``
    is empty. A body without a message (an HTML page) gives an excerpt of it."""
    try:
        body = json_load(VENUE, payload)
    except PayloadError:
        body = None
    if isinstance(body, dict) and "message" in body:
        return VenueError(VENUE, status, "", str(body["message"]))
    excerpt = body_excerpt(payload)
    return VenueError(VENUE, status, "", f"non-Coinbase error body: {excerpt}" if excerpt else "empty body")
