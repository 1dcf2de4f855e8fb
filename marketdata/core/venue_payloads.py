"""What the three venue payload modules share: decoding JSON, checking a page of candles, times and error bodies."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hftplatform.core.utc import utc_from_ms
from marketdata.core.candles import Candle, CandleError
from marketdata.core.decimal_text import are_decimal_texts, is_decimal_text
from marketdata.core.intervals import Interval
from marketdata.core.rest import PayloadError
from marketdata.core.venues import Venue

# How much of a non-JSON error body (an HTML page from a proxy or a CDN) goes into the message.
BODY_EXCERPT_CHARS = 200


def json_load(venue: Venue, payload: bytes, **hooks: Any) -> Any:
    """Decode ``payload``; anything that is not JSON is a :class:`PayloadError` naming the venue."""
    try:
        return json.loads(payload, **hooks)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"{venue}: response is not JSON ({exc}): {body_excerpt(payload)!r}") from None


def body_excerpt(payload: bytes) -> str:
    """A short, single-line, readable excerpt of a body for an error message."""
    text = payload.decode("utf-8", errors="replace")
    return " ".join(text.split())[:BODY_EXCERPT_CHARS]


def ms_to_iso(ms: int) -> str:
    """``2019-01-01T00:00:00Z``; milliseconds are written only when there are some."""
    moment = utc_from_ms(ms)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if ms % 1000:
        text += f".{ms % 1000:03d}"
    return text + "Z"


def int_field(venue: Venue, value: Any, what: str) -> int:
    """An integer written as a JSON integer or as a string of digits (Bybit writes times as strings)."""
    if isinstance(value, bool):
        raise PayloadError(f"{venue}: {what} is not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.lstrip("-").isdigit():
        return int(value)
    raise PayloadError(f"{venue}: {what} is not an integer: {value!r}")


def decimal_field(venue: Venue, value: Any, what: str) -> str:
    """A decimal written as a JSON string: the text kept verbatim after checking it is a number."""
    if not is_decimal_text(value):
        raise PayloadError(f"{venue}: {what} is not a decimal number written as a string: {value!r}")
    return value  # type: ignore[no-any-return]  # is_decimal_text checked it is a str


def ohlcv_fields(venue: Venue, values: Sequence[Any], what: str) -> tuple[str, str, str, str, str]:
    """Five decimal strings (open, high, low, close, volume) checked and kept verbatim; the hot path of a page."""
    if not are_decimal_texts(values):
        for value in values:
            if not is_decimal_text(value):
                raise PayloadError(f"{venue}: {what} has a field that is not a decimal string: {value!r}")
        raise PayloadError(f"{venue}: {what} does not have five OHLCV fields: {values!r}")
    o, h, lo, c, v = values
    return o, h, lo, c, v


def candles_check(venue: Venue, candles: Sequence[Candle], interval: Interval) -> list[Candle]:
    """Each candle valid and on the interval's grid, open times strictly ascending. Raises :class:`CandleError`."""
    previous: int | None = None
    for candle in candles:
        if not interval.is_aligned(candle.open_time):
            raise CandleError(f"{venue}: open time {candle.open_time} is not on the {interval.code} grid")
        if previous is not None and candle.open_time <= previous:
            raise CandleError(
                f"{venue}: open times not strictly ascending: {candle.open_time} after {previous} (duplicate or "
                "out of order)"
            )
        candle.validate()
        previous = candle.open_time
    return list(candles)


def candle_closed(interval: Interval, open_time: int, now_ms: int) -> bool:
    """A candle is closed once its end (exclusive) is at or before ``now_ms``."""
    return interval.close_time(open_time) <= now_ms
