"""Reads for the lead-lag analysis: closed candles straight into numpy, window statistics, stored runs.

Times are integer ms UTC, windows half-open ``[start_ms, end_ms)``. Closes come out as float64 (PostgreSQL casts
the exact NUMERIC to the nearest double): the analysis is statistics, not money.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import QuerySet

from marketdata.leadlag.alignment import FloatArray, IntArray
from marketdata.models import LeadLagRun

_WINDOW = "instrument_id = %s AND interval = %s AND open_time >= %s AND open_time < %s AND closed"
# COPY BINARY rows of (int8, float8): int16 field count, then per field an int32 length and the value, big-endian.
_ROW = np.dtype([("fields", ">i2"), ("len_t", ">i4"), ("open_time", ">i8"), ("len_c", ">i4"), ("close", ">f8")])
_HEADER_BYTES = 19  # "PGCOPY\n\377\r\n\0", flags int32, extension length int32 (0)
_TRAILER_BYTES = 2  # int16 -1


def leadlag_series_read(
    *, instrument_id: int, interval: str, start_ms: int, end_ms: int
) -> tuple[IntArray, FloatArray]:
    """The closed candles of the window: open times (int64 ms) and closes (float64), ascending.

    One ``COPY (SELECT open_time, close::float8 …) TO STDOUT (FORMAT binary)``: fixed-width rows that numpy reads
    without a Python loop (a year of 1m candles in a fraction of a second).
    """
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        query = cursor.cursor.mogrify(
            f"COPY (SELECT open_time, close::float8 FROM marketdata_kline WHERE {_WINDOW}"  # noqa: S608
            " ORDER BY open_time) TO STDOUT (FORMAT binary)",
            [instrument_id, interval, start_ms, end_ms],
        )
        with cursor.cursor.copy(query) as copy:
            for chunk in copy:
                buffer.write(chunk)
    data = buffer.getbuffer()
    rows = np.frombuffer(data[_HEADER_BYTES : len(data) - _TRAILER_BYTES], dtype=_ROW)
    return rows["open_time"].astype(np.int64), rows["close"].astype(np.float64)


@dataclass(frozen=True)
class WindowStats:
    candles: int
    first_ms: int | None
    last_ms: int | None
    constant: bool  # every close in the window is the same price


def leadlag_window_stats(*, instrument_id: int, interval: str, start_ms: int, end_ms: int) -> WindowStats:
    """How many closed candles the window holds, the first and last open time, whether the close never moves."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), min(open_time), max(open_time), min(close) = max(close)"  # noqa: S608
            f" FROM marketdata_kline WHERE {_WINDOW}",
            [instrument_id, interval, start_ms, end_ms],
        )
        count, first, last, constant = cursor.fetchone()
    return WindowStats(int(count), first, last, bool(constant))


def leadlag_runs_list(
    *, symbol: str, interval: str | None = None, start_ms: int | None = None, end_ms: int | None = None
) -> QuerySet[LeadLagRun]:
    """Finished runs of the symbol whose window lies inside ``[start_ms, end_ms)``, newest first."""
    runs = LeadLagRun.objects.filter(symbol=symbol.upper(), status=LeadLagRun.Status.DONE)
    if interval is not None:
        runs = runs.filter(interval=interval)
    if start_ms is not None:
        runs = runs.filter(start_ms__gte=start_ms)
    if end_ms is not None:
        runs = runs.filter(end_ms__lte=end_ms)
    return runs.order_by("-created", "-id")
