"""Perpetual funding: one settled funding event, the checks a page of them passes, how a range is paged, and what a
position pays.

Pure. Times are integer milliseconds UTC; rates and mark prices are the venue's decimal text, kept verbatim.

Funding intervals are not a fixed grid: they are usually 8 h, some symbols settle every 4 h or every hour, and a
symbol's interval changes over time. So nothing here assumes one: each event is stored at the time the venue gives
it, and a range is fetched in windows sized for the shortest interval the venues use (:data:`MIN_INTERVAL_MS`), each
window paged on until the venue gives a page that is not full.

Sign convention (Binance's and Bybit's): a positive rate means longs pay shorts, a negative one shorts pay longs. At
a funding time a position of signed quantity ``q`` (positive long, negative short) marked at price ``p`` receives
``-q * p * rate`` in the quote/settle asset (:func:`funding_payment`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from marketdata.core.decimal_text import EXACT, decimal_parse
from marketdata.core.gaps import Range
from marketdata.core.intervals import HOUR_MS
from marketdata.core.venues import Venue

# The shortest funding interval either venue uses (hourly symbols exist on both): a window of ``limit`` hours holds
# at most one page. A shorter interval only costs another page (see :func:`funding_page_rest`), never an event.
MIN_INTERVAL_MS = HOUR_MS
# The venues whose perpetuals' funding history is downloaded (Coinbase Exchange has no perpetuals).
FUNDING_VENUES = (Venue.BINANCE, Venue.BYBIT)


class FundingError(ValueError):
    """A page of funding events that cannot be right (times out of order or outside the window asked for)."""


@dataclass(frozen=True, slots=True)
class FundingEvent:
    time_ms: int  # when the rate was settled, ms UTC
    rate: str  # the venue's decimal text, e.g. "0.00010000", "-0.00003750"
    mark_price: str | None = None  # the mark price the funding used (Binance; Bybit's history does not give one)

    @property
    def rate_decimal(self) -> Decimal:
        return decimal_parse(self.rate)


def funding_events_check(events: Sequence[FundingEvent], start_ms: int, end_ms: int) -> list[FundingEvent]:
    """``events`` ascending, strictly (one event per time), every one in ``[start_ms, end_ms)``; raises
    :class:`FundingError` otherwise."""
    previous: int | None = None
    for event in events:
        if not start_ms <= event.time_ms < end_ms:
            raise FundingError(f"funding time {event.time_ms} outside the window asked for [{start_ms}, {end_ms})")
        if previous is not None and event.time_ms <= previous:
            raise FundingError(f"funding times not strictly ascending: {event.time_ms} after {previous}")
        previous = event.time_ms
    return list(events)


def funding_windows(start_ms: int, end_ms: int, limit: int, min_interval_ms: int = MIN_INTERVAL_MS) -> list[Range]:
    """Consecutive half-open windows covering ``[start_ms, end_ms)`` exactly, each ``limit * min_interval_ms``
    long at most, so each one usually takes a single request (and can be fetched apart from the others)."""
    if limit < 1 or min_interval_ms < 1:
        raise ValueError("limit and min_interval_ms must be at least 1")
    span = limit * min_interval_ms
    windows = []
    lower = start_ms
    while lower < end_ms:
        upper = min(lower + span, end_ms)
        windows.append((lower, upper))
        lower = upper
    return windows


def funding_page_rest(window: Range, page: Sequence[FundingEvent], limit: int, *, newest_first: bool) -> Range | None:
    """What of ``window`` a page of at most ``limit`` events leaves to ask for; None when the window is done.

    A page shorter than ``limit`` holds every event of the window. A full one may have been cut: ascending venues
    (Binance) give the oldest ``limit`` events, so the rest starts just after the newest; newest-first venues
    (Bybit) give the newest ``limit``, so the rest ends at the oldest (exclusive). ``page`` is ascending either way
    (the parsers turn Bybit's pages round).
    """
    start, end = window
    if len(page) < limit:
        return None
    if newest_first:
        oldest = page[0].time_ms
        return (start, oldest) if oldest > start else None
    newest = page[-1].time_ms
    return (newest + 1, end) if newest + 1 < end else None


def funding_payment(*, quantity: Decimal, mark_price: Decimal, rate: Decimal) -> Decimal:
    """What a position receives at one funding time, in the settle asset: ``-quantity * mark_price * rate``.

    ``quantity`` is signed in base units (positive long, negative short). A positive rate makes a long pay (a
    negative result) and a short receive. Exact: no rounding is applied here (the ledger rounds to its asset's
    decimals where it books the amount); a product too long to hold exactly raises :class:`decimal.Inexact`.
    """
    return EXACT.minus(EXACT.multiply(EXACT.multiply(quantity, mark_price), rate))
