"""A return series read from CSV text: a header with the columns ``date`` and ``ret`` (others are ignored), one row a
period, dates ISO (``2024-01-31`` or ``2024-01-31T13:00:00Z``; without an offset, UTC) in strictly increasing order,
returns as decimal text (``0.0125`` is +1.25 %). Every fault is a ``ValueError`` naming the line."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np

from hftplatform.core.utc import utc_ms_parse
from strategies.core.metrics import FloatArray

DATE_COLUMN = "date"
RETURN_COLUMN = "ret"


@dataclass(frozen=True, slots=True)
class ReturnSeries:
    """``returns`` (float64, one per row) with each row's date as written (``dates``) and in ms UTC (``times_ms``)."""

    dates: tuple[str, ...]
    times_ms: tuple[int, ...]
    returns: FloatArray


def _return_parse(text: str, line: int) -> float:
    try:
        exact = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"line {line}: ret {text!r} is not a decimal number") from None
    value = float(exact)
    if not math.isfinite(value):
        raise ValueError(f"line {line}: ret {text!r} is not a finite number")
    return value


def return_series_parse_csv(text: str) -> ReturnSeries:
    """The return series of CSV ``text`` (see the module); ``ValueError`` for a missing header or column, a date or
    return that does not parse, dates out of order or repeated, or no rows."""
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None:
        raise ValueError(f"the file is empty: a header line with the columns {DATE_COLUMN},{RETURN_COLUMN} comes first")
    names = [name.strip() for name in header]
    for column in (DATE_COLUMN, RETURN_COLUMN):
        if column not in names:
            raise ValueError(f"line 1: no column {column!r} in the header {','.join(names)!r}")
    date_at, return_at = names.index(DATE_COLUMN), names.index(RETURN_COLUMN)
    dates: list[str] = []
    times: list[int] = []
    returns: list[float] = []
    last_line = 1
    for row in rows:
        line = rows.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) <= max(date_at, return_at):
            raise ValueError(f"line {line}: {len(row)} fields, the header has {len(names)}")
        date = row[date_at].strip()
        try:
            time_ms = utc_ms_parse(date)
        except ValueError as error:
            raise ValueError(f"line {line}: date: {error}") from None
        if times and time_ms <= times[-1]:
            order = "repeats" if time_ms == times[-1] else "comes before"
            raise ValueError(
                f"line {line}: date {date} {order} line {last_line}'s {dates[-1]} (dates must increase, once each)"
            )
        returns.append(_return_parse(row[return_at], line))
        dates.append(date)
        times.append(time_ms)
        last_line = line
    if not returns:
        raise ValueError("no returns: the file has a header and no rows")
    return ReturnSeries(dates=tuple(dates), times_ms=tuple(times), returns=np.array(returns, dtype=np.float64))
