"""Reads behind the market list (API and page): coverage per interval with first and last candle, last closes.

Times are integer milliseconds UTC, ranges half-open. Decimal text comes back as stored. Every kline lookup here
is an index probe on the primary key ``(instrument, interval, open_time)`` — no count of rows, which for a year
of 1m candles would scan half a million of them per market.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection

from marketdata.core.candles import Candle
from marketdata.core.gaps import Range
from marketdata.core.intervals import INTERVALS
from marketdata.models import Instrument, KlineCoverage

_INTERVAL_ORDER = {code: position for position, code in enumerate(INTERVALS)}

_FIRST_LAST_SQL = """
    SELECT wanted.instrument_id, wanted.interval,
        (SELECT min(open_time) FROM marketdata_kline k
         WHERE k.instrument_id = wanted.instrument_id AND k.interval = wanted.interval),
        (SELECT max(open_time) FROM marketdata_kline k
         WHERE k.instrument_id = wanted.instrument_id AND k.interval = wanted.interval)
    FROM unnest(%s::bigint[], %s::text[]) AS wanted(instrument_id, interval)
"""
_LAST_SQL = """
    SELECT open_time, open::text, high::text, low::text, close::text, volume::text, closed
    FROM marketdata_kline WHERE instrument_id = %s AND interval = %s ORDER BY open_time DESC LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class IntervalCoverage:
    interval: str
    ranges: tuple[Range, ...]  # covered ranges (ms, half-open, merged), ascending
    first_open_ms: int | None  # the first stored candle's open time; None: nothing stored
    last_open_ms: int | None


def markets_coverage(*, instruments: Iterable[Instrument]) -> dict[int, list[IntervalCoverage]]:
    """For each instrument: every interval it has coverage for or is tracked in, in the platform's interval order
    (``1s`` … ``1M``), with its covered ranges and first/last stored candle. Three queries whatever the count."""
    markets = list(instruments)
    ranges: dict[tuple[int, str], list[Range]] = defaultdict(list)
    rows = KlineCoverage.objects.filter(instrument__in=[m.pk for m in markets]).order_by(
        "instrument_id", "interval", "start_ms"
    )
    for instrument_id, interval, start_ms, end_ms in rows.values_list(
        "instrument_id", "interval", "start_ms", "end_ms"
    ):
        ranges[(instrument_id, interval)].append((start_ms, end_ms))
    wanted = set(ranges) | {(m.pk, code) for m in markets for code in m.tracked_intervals}
    pairs = sorted(wanted, key=lambda pair: (pair[0], _INTERVAL_ORDER.get(pair[1], len(_INTERVAL_ORDER)), pair[1]))
    bounds: dict[tuple[int, str], tuple[int | None, int | None]] = {}
    if pairs:
        with connection.cursor() as cursor:
            cursor.execute(_FIRST_LAST_SQL, [[p[0] for p in pairs], [p[1] for p in pairs]])
            for instrument_id, interval, first, last in cursor.fetchall():
                bounds[(instrument_id, interval)] = (first, last)
    summary: dict[int, list[IntervalCoverage]] = {m.pk: [] for m in markets}
    for pair in pairs:
        first, last = bounds.get(pair, (None, None))
        summary[pair[0]].append(IntervalCoverage(pair[1], tuple(ranges.get(pair, ())), first, last))
    return summary


def kline_last(*, instrument_id: int, interval: str) -> Candle | None:
    """The latest stored candle of one market and interval (it may still be open), or None."""
    with connection.cursor() as cursor:
        cursor.execute(_LAST_SQL, [instrument_id, interval])
        row = cursor.fetchone()
    return Candle(*row) if row else None


def markets_last_close(
    *, coverage: dict[int, list[IntervalCoverage]], instrument_ids: Sequence[int]
) -> dict[int, tuple[str, Candle] | None]:
    """For the price tiles: each market's most recent candle (``(interval, candle)``), read from its finest
    interval with candles — the one whose last candle is the most recent close."""
    result: dict[int, tuple[str, Candle] | None] = {}
    for instrument_id in instrument_ids:
        stored = [c for c in coverage.get(instrument_id, []) if c.last_open_ms is not None]
        if not stored:
            result[instrument_id] = None
            continue
        finest = min(stored, key=lambda c: _INTERVAL_ORDER.get(c.interval, len(_INTERVAL_ORDER)))
        candle = kline_last(instrument_id=instrument_id, interval=finest.interval)
        result[instrument_id] = (finest.interval, candle) if candle else None
    return result
