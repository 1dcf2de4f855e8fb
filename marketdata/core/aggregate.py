"""Candles made from other data, only when asked: trades into candles, and lower intervals resampled to higher.

The platform never fakes a venue's interval from a lower one on its own; these are the explicit steps a user asks
for. Everything is exact: prices keep the source's decimal text, volumes are exact decimal sums written as plain
text. Times are integer milliseconds UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from hftplatform.core.decimal_text import decimal_text_keep_scale
from marketdata.core.candles import Candle, CandleError
from marketdata.core.decimal_text import DecimalTextError, decimal_parse, decimal_sum, decimal_text_plain
from marketdata.core.intervals import DAY_MS, Interval


class _Bucket:
    """One candle being built: the texts of open/high/low/close, the Decimal extremes and the volume terms."""

    __slots__ = ("close", "high", "high_value", "low", "low_value", "open", "open_time", "volumes")

    def __init__(self, open_time: int, price: str, value: Decimal) -> None:
        self.open_time = open_time
        self.open = self.high = self.low = self.close = price
        self.high_value = self.low_value = value
        self.volumes: list[Decimal] = []

    def add(self, price: str, value: Decimal) -> None:
        # Ties keep the first text seen, so "1.0" then "1.00" stays "1.0".
        if value > self.high_value:
            self.high, self.high_value = price, value
        if value < self.low_value:
            self.low, self.low_value = price, value
        self.close = price

    def candle(self, closed: bool) -> Candle:
        volume = decimal_text_keep_scale(decimal_sum(self.volumes))
        return Candle(self.open_time, self.open, self.high, self.low, self.close, volume, closed=closed).validate()


def trades_to_candles(
    trades: Iterable[tuple[int, str, str]], interval: Interval, *, now_ms: int | None = None
) -> list[Candle]:
    """Trades ``(timestamp ms, price text, amount text)`` in time order → one candle per interval with trades.

    open = first price, high = max, low = min, close = last price (texts kept; exponent forms made plain),
    volume = exact sum of the amounts. Intervals without a trade give no candle. With ``now_ms``, a candle is
    ``closed`` once it ended by then; without it every candle is taken as closed. Trades out of time order, a
    non-numeric or negative price or amount raise :class:`CandleError`.
    """
    candles: list[Candle] = []
    bucket: _Bucket | None = None
    previous_ts: int | None = None
    for index, (timestamp, price_text, amount_text) in enumerate(trades):
        if previous_ts is not None and timestamp < previous_ts:
            raise CandleError(f"trade {index} at {timestamp} is earlier than the one before ({previous_ts})")
        previous_ts = timestamp
        try:
            price = decimal_text_plain(price_text)
            amount = decimal_parse(amount_text)
        except DecimalTextError as exc:
            raise CandleError(f"trade {index} at {timestamp}: {exc}") from None
        value = Decimal(price)
        if value < 0 or amount < 0:
            raise CandleError(f"trade {index} at {timestamp}: negative price or amount")
        open_time = interval.floor(timestamp)
        if bucket is None or bucket.open_time != open_time:
            if bucket is not None:
                candles.append(bucket.candle(_closed(interval, bucket.open_time, now_ms)))
            bucket = _Bucket(open_time, price, value)
        else:
            bucket.add(price, value)
        bucket.volumes.append(amount)
    if bucket is not None:
        candles.append(bucket.candle(_closed(interval, bucket.open_time, now_ms)))
    return candles


def _closed(interval: Interval, open_time: int, now_ms: int | None) -> bool:
    return now_ms is None or interval.close_time(open_time) <= now_ms


def resample_check(source: Interval, target: Interval) -> None:
    """Every target candle must be made of whole source candles: raises :class:`ValueError` otherwise."""
    if source.length_ms is None:
        if target.length_ms is None:
            return
        raise ValueError(f"{source.code} candles cannot make {target.code} candles")
    if target.length_ms is None:
        ok = DAY_MS % source.length_ms == 0 and source.anchor_ms % source.length_ms == 0
    else:
        ok = (
            target.length_ms % source.length_ms == 0
            and (target.anchor_ms - source.anchor_ms) % source.length_ms == 0
            and target.length_ms >= source.length_ms
        )
    if not ok:
        raise ValueError(f"{target.code} is not a whole multiple of {source.code} on the same grid")


def resample(candles: Sequence[Candle], source: Interval, target: Interval) -> list[Candle]:
    """Candles of ``source`` (ascending, on its grid) → candles of ``target`` (a whole multiple of it).

    Each target candle takes the first open, the highest high, the lowest low, the last close and the exact sum
    of the volumes of the source candles inside it; target periods with no source candle give none (Coinbase's
    no-trade gaps stay gaps). A target candle is ``closed`` when all its source candles are closed and — for the
    last one only — its final source candle is present: a bucket cut off by the end of the data is still open,
    while a missing source candle in the middle of the data is a venue gap, not an open candle. A bucket cut off
    at the *start* of the data is not detected: pass data that starts on a target open time.
    Raises :class:`ValueError` for incompatible intervals, :class:`CandleError` for unordered or misaligned data.
    """
    resample_check(source, target)
    groups: list[list[Candle]] = []
    previous: int | None = None
    for candle in candles:
        if not source.is_aligned(candle.open_time):
            raise CandleError(f"open time {candle.open_time} is not on the {source.code} grid")
        if previous is not None and candle.open_time <= previous:
            raise CandleError(f"open times not strictly ascending: {candle.open_time} after {previous}")
        previous = candle.open_time
        if groups and target.floor(groups[-1][0].open_time) == target.floor(candle.open_time):
            groups[-1].append(candle)
        else:
            groups.append([candle])
    result = []
    for number, group in enumerate(groups):
        open_time = target.floor(group[0].open_time)
        highs = [(decimal_parse(c.high), c.high) for c in group]
        lows = [(decimal_parse(c.low), c.low) for c in group]
        # max/min by value; on equal values the first text wins (max and min return the first maximal item).
        high = max(highs, key=lambda pair: pair[0])[1]
        low = min(lows, key=lambda pair: pair[0])[1]
        volume = decimal_text_keep_scale(decimal_sum(decimal_parse(c.volume) for c in group))
        complete = source.next_open(group[-1].open_time) == target.close_time(open_time)
        closed = all(c.closed for c in group) and (complete or number < len(groups) - 1)
        result.append(Candle(open_time, group[0].open, high, low, group[-1].close, volume, closed=closed).validate())
    return result
