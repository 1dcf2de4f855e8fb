"""strategies.core.return_series: a date,ret CSV read into dates, ms UTC times and float returns."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.core.return_series import ReturnSeries, return_series_parse_csv


def test_parse() -> None:
    series = return_series_parse_csv('ret,date,note\n0.0125,2024-01-01,"a, quoted note"\n-2E-3,2024-01-01T01:00Z,\n')

    assert isinstance(series, ReturnSeries)
    assert series.dates == ("2024-01-01", "2024-01-01T01:00Z")
    assert series.times_ms == (1_704_067_200_000, 1_704_070_800_000)
    assert series.returns.dtype == np.float64
    assert series.returns.tolist() == [0.0125, -0.002]


def test_offsets_are_read_as_instants() -> None:
    # 02:00+02:00 is midnight UTC: the same instant as the row before, so a repeat
    with pytest.raises(ValueError, match="line 3: date 2024-01-01T02:00:00\\+02:00 repeats line 2's 2024-01-01"):
        return_series_parse_csv("date,ret\n2024-01-01,0.01\n2024-01-01T02:00:00+02:00,0.02\n")


def test_returns_below_minus_one_are_read() -> None:
    # a leveraged book can lose more than its NAV: the metrics say what is then undefined
    assert return_series_parse_csv("date,ret\n2024-01-01,-1.5\n").returns.tolist() == [-1.5]
