"""Ranges and missing candles: the pure core with exact vectors and properties, and gaps read from the database."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketdata import selectors, services
from marketdata.core.archives import archive_period_range
from marketdata.core.candles import Candle
from marketdata.core.gaps import gaps_report, missing_runs, ranges_clip, ranges_merge, ranges_subtract
from marketdata.core.intervals import MINUTE_MS, interval_get
from marketdata.models import Instrument, KlineCoverage
from tests.marketdata.factories import InstrumentFactory

M1 = interval_get("1m")
MONTH = interval_get("1M")


def test_merge_joins_overlapping_and_touching_ranges_and_drops_empty_ones() -> None:
    assert ranges_merge([(10, 20), (0, 5), (5, 7), (15, 30), (40, 40), (31, 35)]) == [(0, 7), (10, 30), (31, 35)]


def test_subtract_cuts_holes() -> None:
    assert ranges_subtract([(0, 100)], [(10, 20), (15, 30), (90, 120)]) == [(0, 10), (30, 90)]
    assert ranges_subtract([(0, 10), (20, 30)], [(0, 30)]) == []
    assert ranges_clip([(-5, 5), (8, 50)], (0, 10)) == [(0, 5), (8, 10)]


def test_missing_runs_on_the_minute_grid() -> None:
    present = [0, MINUTE_MS, 4 * MINUTE_MS, 5 * MINUTE_MS]
    # Given a window of 8 minutes with minutes 2, 3, 6 and 7 absent
    runs = missing_runs(M1, 0, 8 * MINUTE_MS, present)
    # Then two runs, each ending at the close of its last absent candle
    assert runs == [(2 * MINUTE_MS, 4 * MINUTE_MS), (6 * MINUTE_MS, 8 * MINUTE_MS)]


def test_missing_runs_follow_calendar_months() -> None:
    jan, feb, mar, apr = (archive_period_range(f"2024-{m:02d}")[0] for m in (1, 2, 3, 4))
    assert missing_runs(MONTH, jan, apr, [jan, mar]) == [(feb, mar)]
    assert MONTH.count(feb, mar) == 1


def test_missing_runs_refuse_off_grid_times() -> None:
    with pytest.raises(ValueError, match="not on the 1m grid"):
        missing_runs(M1, 0, 10 * MINUTE_MS, [30_000])


@given(st.sets(st.integers(0, 199)), st.integers(0, 200), st.integers(0, 200))
def test_missing_runs_cover_exactly_the_absent_minutes(present_minutes: set[int], a: int, b: int) -> None:
    start, end = min(a, b) * MINUTE_MS, max(a, b) * MINUTE_MS
    present = sorted(m * MINUTE_MS for m in present_minutes)
    runs = missing_runs(M1, start, end, present)
    covered = {t for lo, hi in runs for t in range(lo, hi, MINUTE_MS)}
    assert covered == set(range(start, end, MINUTE_MS)) - set(present)
    assert runs == ranges_merge(runs)  # disjoint, sorted, not touching


def test_report_splits_unfetched_from_venue_empty() -> None:
    # Given minutes 0..9 of which 0-4 were fetched (covered) and 2 is absent there; 7 stored from elsewhere
    present = [0, MINUTE_MS, 3 * MINUTE_MS, 4 * MINUTE_MS, 7 * MINUTE_MS]
    report = gaps_report(M1, 0, 10 * MINUTE_MS, [(0, 5 * MINUTE_MS)], present)
    assert report.venue_empty == ((2 * MINUTE_MS, 3 * MINUTE_MS),)
    assert report.unfetched == ((5 * MINUTE_MS, 7 * MINUTE_MS), (8 * MINUTE_MS, 10 * MINUTE_MS))
    assert (report.venue_empty_candles, report.unfetched_candles) == (1, 4)
    assert not report.complete


def test_coverage_merges_on_insert(instrument: Instrument) -> None:
    for start, end in ((0, 60), (120, 180), (60, 120), (300, 360), (170, 200)):
        services.coverage_add(instrument_id=instrument.pk, interval="1m", start_ms=start * 1000, end_ms=end * 1000)
    assert selectors.coverage_ranges(instrument_id=instrument.pk, interval="1m") == [(0, 200_000), (300_000, 360_000)]
    assert KlineCoverage.objects.filter(instrument=instrument).count() == 2
    assert selectors.coverage_ranges(instrument_id=instrument.pk, interval="5m") == []


def test_coverage_merge_keeps_the_oldest_row_and_touches_no_other_market(instrument: Instrument) -> None:
    other = InstrumentFactory(symbol="ETH/USDT", venue_symbol="ETHUSDT", base="ETH")
    services.coverage_add(instrument_id=other.pk, interval="1m", start_ms=0, end_ms=500_000)
    services.coverage_add(instrument_id=instrument.pk, interval="5m", start_ms=0, end_ms=600_000)
    for start, end in ((0, 60), (120, 180)):
        services.coverage_add(instrument_id=instrument.pk, interval="1m", start_ms=start * 1000, end_ms=end * 1000)
    first = KlineCoverage.objects.get(instrument=instrument, interval="1m", start_ms=0)

    services.coverage_add(instrument_id=instrument.pk, interval="1m", start_ms=10_000, end_ms=20_000)  # inside
    assert KlineCoverage.objects.get(pk=first.pk).end_ms == 60_000
    services.coverage_add(instrument_id=instrument.pk, interval="1m", start_ms=60_000, end_ms=120_000)  # bridges

    assert list(KlineCoverage.objects.filter(instrument=instrument, interval="1m").values_list("pk", "start_ms",
                                                                                                "end_ms")) == [
        (first.pk, 0, 180_000)
    ]  # fmt: skip
    assert selectors.coverage_ranges(instrument_id=other.pk, interval="1m") == [(0, 500_000)]
    assert selectors.coverage_ranges(instrument_id=instrument.pk, interval="5m") == [(0, 600_000)]


def _plain(text: str) -> str:
    # freqtrade wrote Python floats: ten volumes are in exponent form ('9.417e-05'); the candle needs plain text.
    return text if "e" not in text else format(Decimal(text), "f")


def test_the_real_gappy_file_reports_every_missing_minute(instrument: Instrument, klines_fixtures: Path) -> None:
    rows = json.loads((klines_fixtures / "freqtrade" / "UNITTEST_BTC-1m.json").read_text(), parse_float=str)
    candles = [Candle(int(r[0]), *(_plain(str(x)) for x in r[1:6])) for r in rows]
    first, last = candles[0].open_time, candles[-1].open_time
    # Counted independently of the code under test: every minute from the first to the last, minus those present.
    absent = sorted(set(range(first, last + MINUTE_MS, MINUTE_MS)) - {c.open_time for c in candles})
    assert (len(candles), len(absent)) == (13_681, 717)

    result = services.klines_store(
        instrument_id=instrument.pk, interval="1m", candles=candles, covered=(first, last + MINUTE_MS)
    )
    assert (result.written, result.present) == (13_681, 0)
    # One hour either side of the file was never fetched.
    report = selectors.klines_gaps(
        instrument_id=instrument.pk, interval="1m", start_ms=first - 60 * MINUTE_MS, end_ms=last + 61 * MINUTE_MS
    )
    reported = [t for lo, hi in report.venue_empty for t in range(lo, hi, MINUTE_MS)]
    assert reported == absent
    assert report.venue_empty_candles == 717
    assert report.unfetched == ((first - 60 * MINUTE_MS, first), (last + MINUTE_MS, last + 61 * MINUTE_MS))
    assert report.unfetched_candles == 120
