"""Candle intervals: the platform's codes, each venue's own codes, and the grid of open times.

The platform names intervals as Binance does (``1s`` … ``1M``). Every venue's code maps to one of them; a venue
serves only its own intervals, and higher intervals are never made from lower ones here (resampling is a separate,
explicit step).

Times are integer milliseconds since the epoch, UTC. An interval is a fixed length with an anchor (the open time of
one candle), except ``1M``, which follows calendar months.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass

from marketdata.core.venues import MarketType, Venue

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday; weekly candles open on Mondays 00:00 UTC (Binance and Bybit).
MONDAY_ANCHOR_MS = 4 * DAY_MS
# Binance's 3d candles open on days ≡ 1 (mod 3) since the epoch (BTCUSDT's first one: 2017-08-17 = day 17,395).
THREE_DAY_ANCHOR_MS = DAY_MS


class IntervalError(ValueError):
    """An interval code the platform or the venue does not know."""


@dataclass(frozen=True, slots=True)
class Interval:
    code: str
    length_ms: int | None  # None: calendar month
    anchor_ms: int = 0

    @property
    def is_monthly(self) -> bool:
        return self.length_ms is None

    def floor(self, ms: int) -> int:
        """The open time of the candle that contains ``ms``."""
        if self.length_ms is None:
            year, month = _year_month(ms)
            return _month_start(year, month)
        return ms - (ms - self.anchor_ms) % self.length_ms

    def ceil(self, ms: int) -> int:
        """The first open time at or after ``ms``."""
        floor = self.floor(ms)
        return floor if floor == ms else self.next_open(floor)

    def is_aligned(self, ms: int) -> bool:
        return self.floor(ms) == ms

    def next_open(self, open_ms: int) -> int:
        """The open time of the candle after the one opening at ``open_ms`` (which must be aligned)."""
        if self.length_ms is None:
            year, month = _year_month(open_ms)
            return _month_start(year + month // 12, month % 12 + 1)
        return open_ms + self.length_ms

    def close_time(self, open_ms: int) -> int:
        """The end (exclusive) of the candle opening at ``open_ms``."""
        return self.next_open(open_ms)

    def open_times(self, start_ms: int, end_ms: int) -> Iterator[int]:
        """Every open time in ``[start_ms, end_ms)``, ascending (``start_ms`` rounded up to the grid)."""
        t = self.ceil(start_ms)
        while t < end_ms:
            yield t
            t = self.next_open(t)

    def count(self, start_ms: int, end_ms: int) -> int:
        """How many candles open in ``[start_ms, end_ms)``."""
        if end_ms <= start_ms:
            return 0
        if self.length_ms is None:
            return sum(1 for _ in self.open_times(start_ms, end_ms))
        first = self.ceil(start_ms)
        return 0 if first >= end_ms else (end_ms - 1 - first) // self.length_ms + 1

    def add(self, open_ms: int, n: int) -> int:
        """The open time ``n`` candles after ``open_ms`` (``n`` ≥ 0)."""
        if self.length_ms is not None:
            return open_ms + n * self.length_ms
        for _ in range(n):
            open_ms = self.next_open(open_ms)
        return open_ms


def _year_month(ms: int) -> tuple[int, int]:
    days = ms // DAY_MS
    # Civil date from days since the epoch (proleptic Gregorian), without datetime for speed and exactness.
    year = 1970 + days // 366
    while _month_start(year + 1, 1) <= ms:
        year += 1
    while _month_start(year, 1) > ms:
        year -= 1
    month = 1
    while month < 12 and _month_start(year, month + 1) <= ms:
        month += 1
    return year, month


def _month_start(year: int, month: int) -> int:
    return calendar.timegm((year, month, 1, 0, 0, 0)) * SECOND_MS


INTERVALS: dict[str, Interval] = {
    i.code: i
    for i in (
        Interval("1s", SECOND_MS),
        Interval("1m", MINUTE_MS),
        Interval("3m", 3 * MINUTE_MS),
        Interval("5m", 5 * MINUTE_MS),
        Interval("15m", 15 * MINUTE_MS),
        Interval("30m", 30 * MINUTE_MS),
        Interval("1h", HOUR_MS),
        Interval("2h", 2 * HOUR_MS),
        Interval("4h", 4 * HOUR_MS),
        Interval("6h", 6 * HOUR_MS),
        Interval("8h", 8 * HOUR_MS),
        Interval("12h", 12 * HOUR_MS),
        Interval("1d", DAY_MS),
        Interval("3d", 3 * DAY_MS, THREE_DAY_ANCHOR_MS),
        Interval("1w", WEEK_MS, MONDAY_ANCHOR_MS),
        Interval("1M", None),
    )
}

_BINANCE_SPOT = {code: code for code in INTERVALS}
_BINANCE_PERP = {code: code for code in INTERVALS if code != "1s"}
_BYBIT = {
    "1m": "1",
    "3m": "3",
    "5m": "5",
    "15m": "15",
    "30m": "30",
    "1h": "60",
    "2h": "120",
    "4h": "240",
    "6h": "360",
    "12h": "720",
    "1d": "D",
    "1w": "W",
    "1M": "M",
}
_COINBASE = {"1m": "60", "5m": "300", "15m": "900", "1h": "3600", "6h": "21600", "1d": "86400"}

# Platform code → the venue's own code, for each (venue, market type) the platform serves.
VENUE_INTERVALS: dict[tuple[Venue, MarketType], dict[str, str]] = {
    (Venue.BINANCE, MarketType.SPOT): _BINANCE_SPOT,
    (Venue.BINANCE, MarketType.PERP): _BINANCE_PERP,
    (Venue.BYBIT, MarketType.SPOT): _BYBIT,
    (Venue.BYBIT, MarketType.PERP): _BYBIT,
    (Venue.COINBASE, MarketType.SPOT): _COINBASE,
}


def interval_get(code: str) -> Interval:
    try:
        return INTERVALS[code]
    except KeyError:
        raise IntervalError(f"unknown interval {code!r}; known: {', '.join(INTERVALS)}") from None


def venue_interval_code(venue: Venue, market_type: MarketType, code: str) -> str:
    """The venue's own code for the platform interval ``code``; an interval the venue lacks is an error."""
    interval_get(code)
    codes = VENUE_INTERVALS[(venue, market_type)]
    if code not in codes:
        raise IntervalError(f"{venue} {market_type} has no {code!r} candles; it offers {', '.join(codes)}")
    return codes[code]
