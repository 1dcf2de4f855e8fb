"""Binance's public kline archives: file layout, which periods an archive can serve, checksums, and the CSV (read
row by row into candles, or checked in bulk and rewritten as the kline table's COPY input).

Layout (binance-public-data README): ``{base}/data/spot/{monthly|daily}/klines/{SYMBOL}/{code}/{SYMBOL}-{code}-
{YYYY-MM|YYYY-MM-DD}.zip`` for spot and ``{base}/data/futures/um/...`` for USD-M futures, each zip with a
``.CHECKSUM`` companion (``sha256sum`` output: ``<hex>  <file name>``). The monthly ``1M`` files are named ``1mo``
(case-insensitive file systems). Daily files exist for ``1s`` … ``1d``; ``3d``, ``1w`` and ``1mo`` are monthly only.
Daily files appear the day after, monthly ones early in the next month (the first Monday, per the README).

The CSV has twelve columns (open time, open, high, low, close, volume, close time, quote volume, trades, taker buy
base, taker buy quote, ignore). Futures files start with a header line, spot files do not, and spot files from
2025-01-01 on write times in microseconds (16 digits) instead of milliseconds (13).
"""

from __future__ import annotations

import calendar
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hftplatform.core.utc import utc_from_ms, utc_ms
from marketdata.core.candle_rows import KLINE_COLUMNS
from marketdata.core.candles import Candle, CandleError
from marketdata.core.gaps import Range, ranges_merge
from marketdata.core.intervals import DAY_MS, Interval, interval_get
from marketdata.core.venues import MarketType

DAILY_ARCHIVE_INTERVALS = frozenset({"1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d"})
# Conservative publication delays after a period ends. An archive asked for too early is a 404 that the downloader
# answers with REST, so erring late only costs REST requests, never data.
DAILY_PUBLISH_DELAY_MS = DAY_MS
MONTHLY_PUBLISH_DELAY_MS = 7 * DAY_MS  # the first Monday of the next month is at most 7 days in
# Open times at or above this are microseconds: 10**15 µs is 2001-09-09, 10**15 ms is the year 31,690.
MICROSECONDS_FROM = 10**15

# The twelve columns of a Binance kline archive row; the kline table keeps the first six.
_ARCHIVE_FIELDS = (
    "open_time", "open", "high", "low", "close", "volume",
    "close_time", "quote_volume", "trades", "taker_base", "taker_quote", "ignore",
)  # fmt: skip
_SHORTEST_ROW = 64  # bytes: a body shorter than this may be blank; a real row never is
_MONTHLY = re.compile(r"(\d{4})-(\d{2})\Z")
_DAILY = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


class ArchiveError(ValueError):
    """An archive that cannot be used: checksum mismatch, corrupt zip, a CSV not in Binance's layout."""


def archive_interval_code(interval: str) -> str:
    """The interval as the archive paths write it (``1M`` → ``1mo``)."""
    interval_get(interval)
    return "1mo" if interval == "1M" else interval


def archive_period_range(period: str) -> Range:
    """``'2024-02'`` → February 2024, ``'2024-02-29'`` → that day, as ``(start_ms, end_ms)``."""
    if match := _MONTHLY.match(period):
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12:
            raise ArchiveError(f"not an archive period: {period!r}")
        start = calendar.timegm((year, month, 1, 0, 0, 0))
        end = calendar.timegm((year + month // 12, month % 12 + 1, 1, 0, 0, 0))
        return start * 1000, end * 1000
    if match := _DAILY.match(period):
        try:
            day = datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=UTC)
        except ValueError:
            raise ArchiveError(f"not an archive period: {period!r}") from None
        start_ms = utc_ms(day)
        return start_ms, start_ms + DAY_MS
    raise ArchiveError(f"not an archive period: {period!r} (expected YYYY-MM or YYYY-MM-DD)")


def archive_url(base_url: str, market_type: MarketType, venue_symbol: str, interval: str, period: str) -> str:
    """The zip's URL; ``base_url`` is the archive host (a setting), ``period`` monthly or daily."""
    archive_period_range(period)
    cadence = "monthly" if _MONTHLY.match(period) else "daily"
    if cadence == "daily" and interval not in DAILY_ARCHIVE_INTERVALS:
        raise ArchiveError(f"Binance publishes no daily {interval} archives")
    market = "spot" if market_type is MarketType.SPOT else "futures/um"
    symbol, code = venue_symbol.upper(), archive_interval_code(interval)
    return f"{base_url.rstrip('/')}/data/{market}/{cadence}/klines/{symbol}/{code}/{symbol}-{code}-{period}.zip"


def archive_checksum_parse(text: str) -> tuple[str, str]:
    """``'<sha256>  <file name>'`` (a ``.CHECKSUM`` file) → (lowercase hex digest, file name)."""
    digest, _, name = text.strip().partition(" ")
    digest = digest.lower()
    name = name.strip().lstrip("*")  # sha256sum marks binary mode with '*'
    if not _SHA256.match(digest) or not name:
        raise ArchiveError(f"not a .CHECKSUM file (expected '<sha256>  <file name>'): {text[:120]!r}")
    return digest, name


@dataclass(frozen=True, slots=True)
class ArchivePlan:
    """How to fetch a window: these archive periods (complete months first, then days, each ascending) and
    REST for the leftover ranges (milliseconds, half-open)."""

    monthly: tuple[str, ...]
    daily: tuple[str, ...]
    rest: tuple[Range, ...]


def archive_periods(interval: str, start_ms: int, end_ms: int, now_ms: int) -> ArchivePlan:
    """Split ``[start_ms, end_ms)`` into published archive periods and REST ranges.

    A month (or day) is served by an archive only if it lies wholly inside the window and its file is already
    published at ``now_ms``; a month that is not yet published falls back to its published days.
    """
    code = interval_get(interval).code
    daily_ok = code in DAILY_ARCHIVE_INTERVALS
    monthly: list[str] = []
    daily: list[str] = []
    rest: list[Range] = []
    month = _month_start(start_ms)
    while month[0] < end_ms:
        m_start, m_end, m_name = month
        if m_start >= start_ms and m_end <= end_ms and m_end + MONTHLY_PUBLISH_DELAY_MS <= now_ms:
            monthly.append(m_name)
        else:
            for d_start in range(m_start, m_end, DAY_MS):
                d_end = d_start + DAY_MS
                lo, hi = max(d_start, start_ms), min(d_end, end_ms)
                if lo >= hi:
                    continue
                if daily_ok and lo == d_start and hi == d_end and d_end + DAILY_PUBLISH_DELAY_MS <= now_ms:
                    daily.append(f"{m_name}-{(d_start - m_start) // DAY_MS + 1:02d}")
                else:
                    rest.append((lo, hi))
        month = _month_start(m_end)
    return ArchivePlan(tuple(monthly), tuple(daily), tuple(ranges_merge(rest)))


def _month_start(ms: int) -> tuple[int, int, str]:
    day = utc_from_ms(ms)
    name = f"{day.year:04d}-{day.month:02d}"
    start, end = archive_period_range(name)
    return start, end, name


@dataclass(frozen=True, slots=True)
class ArchiveLayout:
    """What the first line tells of an archive CSV: a header line to skip, and the unit of the times."""

    header: bool
    microseconds: bool


def archive_csv_layout(csv_bytes: bytes) -> ArchiveLayout:
    """Read the first one or two lines only (cheap; the bulk path hands the rest to PostgreSQL's COPY)."""
    lines = csv_bytes[:4096].split(b"\n", 2)
    header = bool(lines[0]) and not lines[0][:1].isdigit()
    first = lines[1] if header and len(lines) > 1 else lines[0]
    open_time = first.split(b",", 1)[0].strip()
    if first.strip() and not open_time.isdigit():
        raise ArchiveError(f"archive CSV: the first row does not start with an open time: {first[:120]!r}")
    return ArchiveLayout(header=header, microseconds=bool(open_time) and int(open_time) >= MICROSECONDS_FROM)


def archive_parse(csv_bytes: bytes, interval: Interval | None = None) -> list[Candle]:
    """Every row of an archive CSV as a closed :class:`Candle` (open time in ms), ascending.

    Checks each row truly: twelve columns, integer open time (microseconds converted exactly, else an error),
    strictly ascending, on the ``interval`` grid when one is given, and :meth:`Candle.validate` (decimal numbers,
    low ≤ open, close ≤ high, no negative volume). This is the object API for REST-sized files and tests; the bulk
    import (``marketdata.services.archives.archive_import``) checks the open times with :func:`archive_copy_rows`,
    streams its output to COPY and leaves the rest of these checks to the table.
    Raises :class:`ArchiveError`.
    """
    try:
        text = csv_bytes.decode("ascii")
    except UnicodeDecodeError:
        raise ArchiveError("archive CSV is not ASCII text") from None
    rows = text.splitlines()
    if rows and rows[0] and not rows[0][0].isdigit():
        rows = rows[1:]
    candles: list[Candle] = []
    previous = -1
    for number, row in enumerate(rows, start=1):
        if not row:
            continue
        fields = row.split(",")
        if len(fields) != 12:
            raise ArchiveError(f"archive CSV row {number}: {len(fields)} columns, expected 12: {row[:120]!r}")
        open_time = _open_time_ms(fields[0], number)
        if open_time <= previous:
            raise ArchiveError(f"archive CSV row {number}: open time {open_time} is not after {previous}")
        if interval is not None and not interval.is_aligned(open_time):
            raise ArchiveError(f"archive CSV row {number}: open time {open_time} is not on the {interval.code} grid")
        previous = open_time
        try:
            candle = Candle(open_time, fields[1], fields[2], fields[3], fields[4], fields[5]).validate()
        except CandleError as error:
            raise ArchiveError(f"archive CSV row {number}: {error}") from None
        candles.append(candle)
    return candles


def _open_time_ms(text: str, number: int) -> int:
    if not text.isdigit():
        raise ArchiveError(f"archive CSV row {number}: open time {text!r} is not an integer")
    value = int(text)
    if value >= MICROSECONDS_FROM:
        if value % 1000:
            raise ArchiveError(f"archive CSV row {number}: open time {value} µs is not a whole millisecond")
        return value // 1000
    return value


def archive_csv_unzip(zip_bytes: bytes, expected_name: str) -> bytes:
    """The one CSV file in an archive zip, its CRC-32 checked; :class:`ArchiveError` for a corrupt zip or any other
    content. ``expected_name`` (the zip's file name) is for the messages."""
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            names = [name for name in archive.namelist() if not name.endswith("/")]
            if len(names) != 1 or not names[0].endswith(".csv"):
                raise ArchiveError(f"{expected_name}: expected one CSV in the zip, found {names}")
            return archive.read(names[0])  # checks the member's CRC-32 too
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as error:
        raise ArchiveError(f"{expected_name}: corrupt zip: {error}") from None


def archive_copy_rows(instrument_id: int, iv: Interval, period: str, name: str, csv_bytes: bytes) -> tuple[Any, int]:
    """The archive's candles as COPY input in CSV and how many there are: a buffer (Arrow's, bytes-like) of rows in
    :data:`~marketdata.core.candle_rows.KLINE_COLUMNS` order, each with ``instrument_id`` and the interval in front,
    all closed, the decimal text as the file has it. ``name`` (the archive's) is for the messages.

    Raises :class:`ArchiveError` for what COPY into the kline table would not catch: a row without twelve
    columns, an open time that is not an integer, microseconds that are not whole milliseconds, open times
    outside ``period`` or off the interval's grid.
    """
    # Arrow arrays are built from buffers and checked through NumPy views: converting any Python object into Arrow
    # makes pyarrow import pandas, seconds of start-up that an import should not pay.
    import numpy as np
    import pyarrow as pa
    from pyarrow import csv as pa_csv

    layout = archive_csv_layout(csv_bytes)
    body = memoryview(csv_bytes)
    if layout.header:
        newline = csv_bytes.find(b"\n")
        body = body[newline + 1 :] if newline >= 0 else body[len(body) :]
    if len(body) < _SHORTEST_ROW and not bytes(body).strip():
        return b"", 0
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(body),
            read_options=pa_csv.ReadOptions(column_names=list(_ARCHIVE_FIELDS)),
            convert_options=pa_csv.ConvertOptions(
                column_types={"open_time": pa.int64(), **{field: pa.string() for field in _ARCHIVE_FIELDS[1:]}},
                include_columns=list(_ARCHIVE_FIELDS[:6]),
                null_values=[],  # an empty field stays empty text: COPY reads it as NULL, which NOT NULL refuses
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as error:
        raise ArchiveError(f"{name}: {error}") from None

    n = table.num_rows
    # No nulls (null_values=[]): each chunk is one int64 data buffer.
    times = np.concatenate(
        [
            np.frombuffer(chunk.buffers()[1], dtype=np.int64, count=len(chunk), offset=chunk.offset * 8)
            for chunk in table.column("open_time").chunks
        ]
        or [np.empty(0, dtype=np.int64)]
    )
    if layout.microseconds:
        if ((times < MICROSECONDS_FROM) | (times % 1000 != 0)).any():
            raise ArchiveError(f"{name}: microsecond open times that are not whole milliseconds")
        times = times // 1000
    period_start, period_end = archive_period_range(period)
    outside = int(((times < period_start) | (times >= period_end)).sum())
    if iv.length_ms is None:  # calendar months: a handful of rows
        misaligned = sum(1 for ms in times.tolist() if not iv.is_aligned(ms))
    else:
        misaligned = int(((times - iv.anchor_ms) % iv.length_ms != 0).sum())
    problems = [
        f"{count} {what}"
        for count, what in ((outside, f"rows outside {period}"), (misaligned, f"rows off the {iv.code} grid"))
        if count
    ]
    if problems:
        raise ArchiveError(f"{name}: " + "; ".join(problems))

    def constant_text(text: str) -> Any:
        data = text.encode()
        offsets = np.arange(0, len(data) * (n + 1), len(data), dtype=np.int32)
        return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data * n)])

    def int64s(values: Any) -> Any:
        return pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(np.ascontiguousarray(values))])

    rows = pa.Table.from_arrays(
        [
            int64s(np.full(n, instrument_id, dtype=np.int64)),
            constant_text(iv.code),
            int64s(times),
            *(table.column(field) for field in _ARCHIVE_FIELDS[1:6]),
            constant_text("t"),
        ],
        names=KLINE_COLUMNS.split(", "),
    )
    sink = pa.BufferOutputStream()
    try:
        # Unquoted: the decimal text goes out as it came in (a value holding a comma or a quote makes this fail).
        pa_csv.write_csv(rows, sink, pa_csv.WriteOptions(include_header=False, quoting_style="none"))
    except pa.ArrowInvalid as error:
        raise ArchiveError(f"{name}: {error}") from None
    return sink.getvalue(), n
