"""Reads of market data: instruments, klines (ascending, exact decimal text), exports, coverage and gaps.

Times are integer milliseconds UTC, windows half-open ``[start_ms, end_ms)``. Decimal fields come back as the text
that was stored: PostgreSQL NUMERIC without typmod prints the scale it was given.
"""

from __future__ import annotations

import io
from typing import BinaryIO, Literal

from django.db import connection

from marketdata.core.candles import Candle
from marketdata.core.gaps import GapReport, Range, gaps_report
from marketdata.core.intervals import interval_get
from marketdata.core.venues import Venue
from marketdata.models import Instrument, KlineCoverage

EXPORT_COLUMNS = ("open_time", "open", "high", "low", "close", "volume")
_WINDOW = "instrument_id = %s AND interval = %s AND open_time >= %s AND open_time < %s"
_READ_COLUMNS = "open_time, open::text, high::text, low::text, close::text, volume::text, closed"
_READ_SQL = f"SELECT {_READ_COLUMNS} FROM marketdata_kline WHERE {_WINDOW} ORDER BY open_time"  # noqa: S608


def instrument_get(*, exchange: str, symbol: str) -> Instrument:
    """The instrument by venue and unified symbol; raises ``Instrument.DoesNotExist``."""
    return Instrument.objects.get(exchange=Venue(exchange).value, symbol=symbol.upper())


def klines_read(
    *, instrument_id: int, interval: str, start_ms: int, end_ms: int, limit: int | None = None
) -> list[Candle]:
    """Candles opening in ``[start_ms, end_ms)``, ascending, at most ``limit``; the last may be open."""
    interval_get(interval)
    sql = _READ_SQL
    params: list[int | str] = [instrument_id, interval, start_ms, end_ms]
    if limit is not None:
        sql += " LIMIT %s"
        params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [Candle(*row) for row in cursor.fetchall()]


def klines_export(
    *,
    instrument_id: int,
    interval: str,
    start_ms: int,
    end_ms: int,
    out: BinaryIO,
    format: Literal["csv", "parquet"] = "csv",
) -> int:
    """Write the candles of ``[start_ms, end_ms)`` ascending to ``out``; returns the bytes written.

    CSV: header ``open_time,open,high,low,close,volume``, ``open_time`` in integer milliseconds UTC, the others
    the stored decimal text, produced by PostgreSQL's ``COPY … TO STDOUT`` (no Python per row).
    Parquet: ``open_time`` int64 (ms UTC) and the five decimals as **string** columns holding the exact text:
    a decimal128 column has one scale for the whole column, which would rewrite '1482.0' or '0.0014158' next to
    '0.00141342'; the text keeps every value as the venue wrote it and converts losslessly to Decimal.
    """
    interval_get(interval)
    if format == "csv":
        return _copy_out(instrument_id, interval, start_ms, end_ms, out)
    if format == "parquet":
        import pyarrow as pa
        from pyarrow import csv as pa_csv
        from pyarrow import parquet as pq

        buffer = io.BytesIO()
        _copy_out(instrument_id, interval, start_ms, end_ms, buffer)
        schema = {"open_time": pa.int64(), **{name: pa.string() for name in EXPORT_COLUMNS[1:]}}
        table = pa_csv.read_csv(
            io.BytesIO(buffer.getvalue()), convert_options=pa_csv.ConvertOptions(column_types=schema)
        )
        before = out.tell() if out.seekable() else 0
        pq.write_table(table, out)
        return (out.tell() - before) if out.seekable() else 0
    raise ValueError(f"unknown export format {format!r} (csv or parquet)")


def _copy_out(instrument_id: int, interval: str, start_ms: int, end_ms: int, out: BinaryIO) -> int:
    written = 0
    with connection.cursor() as cursor:
        # Parameters bound client-side: COPY takes no server-side parameters.
        query = cursor.cursor.mogrify(
            f"COPY (SELECT {', '.join(EXPORT_COLUMNS)} FROM marketdata_kline WHERE {_WINDOW}"  # noqa: S608
            " ORDER BY open_time) TO STDOUT WITH (FORMAT csv, HEADER true)",
            [instrument_id, interval, start_ms, end_ms],
        )
        with cursor.cursor.copy(query) as copy:
            for chunk in copy:
                written += out.write(chunk)
    return written


def coverage_ranges(
    *, instrument_id: int, interval: str, start_ms: int | None = None, end_ms: int | None = None
) -> list[Range]:
    """The covered ranges (ms, half-open, merged) overlapping the window, ascending, not clipped."""
    rows = KlineCoverage.objects.filter(instrument_id=instrument_id, interval=interval)
    if start_ms is not None:
        rows = rows.filter(end_ms__gt=start_ms)
    if end_ms is not None:
        rows = rows.filter(start_ms__lt=end_ms)
    return list(rows.order_by("start_ms").values_list("start_ms", "end_ms"))


def klines_open_times(*, instrument_id: int, interval: str, start_ms: int, end_ms: int) -> list[int]:
    """The stored open times (ms) in the window, ascending."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT open_time FROM marketdata_kline WHERE {_WINDOW} ORDER BY open_time",  # noqa: S608
            [instrument_id, interval, start_ms, end_ms],
        )
        return [row[0] for row in cursor.fetchall()]


def klines_gaps(*, instrument_id: int, interval: str, start_ms: int, end_ms: int) -> GapReport:
    """Absent candles of ``[start_ms, end_ms)``: ``unfetched`` (never asked) and ``venue_empty`` (asked, and the
    venue has none there)."""
    iv = interval_get(interval)
    present = klines_open_times(instrument_id=instrument_id, interval=iv.code, start_ms=start_ms, end_ms=end_ms)
    covered = coverage_ranges(instrument_id=instrument_id, interval=iv.code, start_ms=start_ms, end_ms=end_ms)
    return gaps_report(iv, start_ms, end_ms, covered, present)
