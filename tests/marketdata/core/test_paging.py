"""Request windows: exact cover of the range, grid-aligned boundaries, at most one page each — months included."""

from __future__ import annotations

import bisect
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.core.intervals import INTERVALS, Interval
from marketdata.core.paging import windows

T0 = 1_546_300_800_000  # 2019-01-01 00:00 UTC
YEAR_MS = 366 * 86_400_000


def test_exact_split_of_an_aligned_range() -> None:
    assert windows(INTERVALS["1m"], T0, T0 + 2500 * 60_000, 1000) == [
        (T0, T0 + 1000 * 60_000),
        (T0 + 1000 * 60_000, T0 + 2000 * 60_000),
        (T0 + 2000 * 60_000, T0 + 2500 * 60_000),
    ]


def test_off_grid_ends_are_kept_and_inner_boundaries_are_on_the_grid() -> None:
    # 00:00:30 … 00:05:10 holds the open times 00:01 … 00:05: five candles, pages of two.
    start, end = T0 + 30_000, T0 + 310_000

    assert windows(INTERVALS["1m"], start, end, 2) == [
        (start, T0 + 180_000),
        (T0 + 180_000, T0 + 300_000),
        (T0 + 300_000, end),
    ]


def test_months_are_calendar_months() -> None:
    # 2019-01-01 … 2020-01-01: twelve months in pages of five.
    assert windows(INTERVALS["1M"], T0, 1_577_836_800_000, 5) == [
        (T0, 1_559_347_200_000),  # 2019-06-01
        (1_559_347_200_000, 1_572_566_400_000),  # 2019-11-01
        (1_572_566_400_000, 1_577_836_800_000),
    ]


@pytest.mark.parametrize(("start", "end"), [(T0, T0), (T0 + 5, T0), (T0 + 1, T0 + 59_999)])
def test_a_range_without_an_open_time_needs_no_request(start: int, end: int) -> None:
    assert windows(INTERVALS["1m"], start, end, 1000) == []


def test_max_candles_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        windows(INTERVALS["1m"], T0, T0 + 60_000, 0)


def _check(interval: Interval, start: int, end: int, max_candles: int) -> None:
    result = windows(interval, start, end, max_candles)
    opens = list(interval.open_times(start, end))
    if not opens:
        assert result == []
        return
    # Union is the range, with no overlap and no hole: each window starts where the previous one ended.
    assert result[0][0] == start
    assert result[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(result))
    assert all(lower < upper for lower, upper in result)
    # Boundaries between windows lie on the grid.
    assert all(interval.is_aligned(lower) for lower, _ in result[1:])
    # Every open time falls into exactly one window, and no window holds more than a page.
    per_window = [opens[bisect.bisect_left(opens, lower) : bisect.bisect_left(opens, upper)] for lower, upper in result]
    assert [t for group in per_window for t in group] == opens
    assert all(1 <= len(group) <= max_candles for group in per_window)
    # Full pages everywhere but the last: the fewest requests.
    assert all(len(group) == max_candles for group in per_window[:-1])


@settings(max_examples=300)
@given(
    code=st.sampled_from(["1s", "1m", "3m", "15m", "1h", "4h", "1d", "3d", "1w"]),
    start=st.integers(min_value=0, max_value=2 * 10**12),
    span_steps=st.integers(min_value=0, max_value=3000),
    jitter=st.integers(min_value=-(10**6), max_value=10**6),
    max_candles=st.integers(min_value=1, max_value=1500),
)
def test_fixed_intervals_properties(code: str, start: int, span_steps: int, jitter: int, max_candles: int) -> None:
    interval = INTERVALS[code]
    assert interval.length_ms is not None
    end = max(start, start + span_steps * interval.length_ms + jitter)

    _check(interval, start, end, max_candles)


@settings(max_examples=100)
@given(
    start=st.integers(min_value=0, max_value=2 * 10**12),
    span=st.integers(min_value=0, max_value=12 * YEAR_MS),
    max_candles=st.integers(min_value=1, max_value=40),
)
def test_monthly_properties(start: int, span: int, max_candles: int) -> None:
    _check(INTERVALS["1M"], start, start + span, max_candles)
