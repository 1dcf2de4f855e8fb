"""Splitting a time range into request windows that each fit one page of a venue's kline endpoint."""

from __future__ import annotations

from marketdata.core.intervals import Interval


def windows(interval: Interval, start_ms: int, end_ms: int, max_candles: int) -> list[tuple[int, int]]:
    """Consecutive half-open windows ``[a, b)`` (ms UTC) that cover ``[start_ms, end_ms)`` exactly.

    Every boundary between two windows is an open time of the interval's grid, and each window holds at most
    ``max_candles`` open times, so every candle of the range belongs to exactly one window (no overlap, no hole).
    The first window starts at ``start_ms`` and the last ends at ``end_ms`` even when they are off the grid.
    A range in which no candle opens gives no window at all (there is nothing to ask for). Calendar months
    (``1M``) are counted as months.
    """
    if max_candles < 1:
        raise ValueError(f"max_candles must be at least 1, not {max_candles}")
    first = interval.ceil(start_ms)
    if start_ms >= end_ms or first >= end_ms:
        return []
    result = []
    lower = start_ms
    # The next window opens max_candles grid steps after the first open time of the current one.
    boundary = interval.add(first, max_candles)
    while boundary < end_ms:
        result.append((lower, boundary))
        lower = boundary
        boundary = interval.add(boundary, max_candles)
    result.append((lower, end_ms))
    return result
