"""Ranges of time and the candles missing from them: merge, subtract, and runs of absent grid open times.

Every range is half-open ``(start_ms, end_ms)`` in integer milliseconds UTC. A candle belongs to a range when its
open time does. A missing run is reported as the range from the first absent open time to the close of the last
absent candle, so it lines up with the grid of the interval (calendar months included for ``1M``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from marketdata.core.intervals import Interval

Range = tuple[int, int]


def ranges_merge(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, with overlapping or touching ranges joined and empty ones dropped."""
    merged: list[Range] = []
    for start, end in sorted(r for r in ranges if r[0] < r[1]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def ranges_subtract(ranges: Iterable[Range], minus: Iterable[Range]) -> list[Range]:
    """What of ``ranges`` is not in ``minus``, merged and sorted."""
    holes = ranges_merge(minus)
    result: list[Range] = []
    for start, end in ranges_merge(ranges):
        cursor = start
        for hole_start, hole_end in holes:
            if hole_end <= cursor:
                continue
            if hole_start >= end:
                break
            if hole_start > cursor:
                result.append((cursor, hole_start))
            cursor = max(cursor, hole_end)
            if cursor >= end:
                break
        if cursor < end:
            result.append((cursor, end))
    return result


def ranges_clip(ranges: Iterable[Range], window: Range) -> list[Range]:
    """The parts of ``ranges`` inside ``window``, merged and sorted."""
    lo, hi = window
    return ranges_merge((max(start, lo), min(end, hi)) for start, end in ranges)


def missing_runs(interval: Interval, start_ms: int, end_ms: int, present: Sequence[int]) -> list[Range]:
    """Runs of grid open times in ``[start_ms, end_ms)`` that are not in ``present``.

    ``present`` holds open times (milliseconds) sorted ascending; those outside the window are ignored and each
    must lie on the interval's grid. A run ``(a, b)`` means every candle opening in ``[a, b)`` is absent; ``b`` is
    the close of the last absent candle, so it may pass ``end_ms`` when ``end_ms`` is not on the grid.
    """
    runs: list[Range] = []
    expected = interval.ceil(start_ms)
    for t in present[bisect_left(present, expected) :]:
        if t < expected:
            continue  # before the window, or a duplicate
        if t >= end_ms:
            break
        if not interval.is_aligned(t):
            raise ValueError(f"open time {t} is not on the {interval.code} grid")
        if t > expected:
            runs.append((expected, t))
        expected = interval.next_open(t)
    if expected < end_ms:
        runs.append((expected, interval.ceil(end_ms)))
    return runs


@dataclass(frozen=True, slots=True)
class GapReport:
    """Missing candles of one market and interval in a window, split by whether the venue was asked.

    ``unfetched``: absent and outside every covered range (not downloaded yet). ``venue_empty``: absent inside a
    covered range (the venue answered and has no candle there: no trades, maintenance). Ranges in milliseconds.
    """

    interval: str
    start_ms: int
    end_ms: int
    unfetched: tuple[Range, ...]
    venue_empty: tuple[Range, ...]
    unfetched_candles: int
    venue_empty_candles: int

    @property
    def complete(self) -> bool:
        """Nothing left to fetch (venue-empty candles are not a hole the platform can fill)."""
        return not self.unfetched


def gaps_report(
    interval: Interval, start_ms: int, end_ms: int, covered: Iterable[Range], present: Sequence[int]
) -> GapReport:
    """Classify every absent candle of ``[start_ms, end_ms)``; ``present`` sorted ascending, on the grid."""
    window = (start_ms, end_ms)
    inside = ranges_clip(covered, window)
    outside = ranges_subtract([window], inside)
    venue_empty = [run for start, end in inside for run in missing_runs(interval, start, end, present)]
    unfetched = [run for start, end in outside for run in missing_runs(interval, start, end, present)]
    return GapReport(
        interval=interval.code,
        start_ms=start_ms,
        end_ms=end_ms,
        unfetched=tuple(ranges_merge(unfetched)),
        venue_empty=tuple(ranges_merge(venue_empty)),
        unfetched_candles=sum(interval.count(a, b) for a, b in unfetched),
        venue_empty_candles=sum(interval.count(a, b) for a, b in venue_empty),
    )
