"""Reads of market data: instruments, klines (ascending, exact decimal text), exports, coverage and gaps, the
market list's coverage and last closes, tracked markets, lead-lag series and runs.

Times are integer milliseconds UTC, windows half-open ``[start_ms, end_ms)``. Decimal fields come back as the text
that was stored: PostgreSQL NUMERIC without typmod prints the scale it was given.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Literal

from django.db import connection
from django.db.models import Max, QuerySet

from marketdata.core.candles import Candle
from marketdata.core.gaps import GapReport, Range, gaps_report
from marketdata.core.intervals import INTERVALS, interval_get
from marketdata.core.venues import Venue
from marketdata.models import Instrument, KlineCoverage, LeadLagRun

if TYPE_CHECKING:
    from marketdata.core.leadlag.alignment import FloatArray, IntArray

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
    the stored decimal text, produced by PostgreSQL (no Python per row): a long window outside a transaction is
    read on two connections sharing one snapshot, a short one by one ``COPY … TO STDOUT``, to the same bytes.
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
    """The export CSV of ``[start_ms, end_ms)`` written to ``out``; returns the bytes written.

    A long window outside a transaction goes through :func:`_lines_out_parallel` (two connections, one snapshot);
    a short one, a calendar-month interval, or a caller inside a transaction (whose uncommitted rows other
    connections cannot see) through one ``COPY … TO STDOUT``. Both write the same bytes.
    """
    iv = interval_get(interval)
    if (
        iv.length_ms is not None
        and iv.count(start_ms, end_ms) >= PARALLEL_EXPORT_FROM
        and not connection.in_atomic_block
    ):
        return _lines_out_parallel(instrument_id, iv.code, iv.length_ms * EXPORT_CHUNK_CANDLES, start_ms, end_ms, out)
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


# COPY TO sends one protocol message per row, and reading 525,600 of them costs the client about as much CPU as
# the server spends producing them, all of it under the GIL: a second connection cannot help. Here the server
# joins the lines of a chunk of candles into one text value (the same output functions COPY uses, and CSV needs no
# quoting for integers and plain decimals), so the client reads a few dozen values, and the work splits over two
# backends: chunks alternate between them, and the writer takes them back in order.
PARALLEL_EXPORT_FROM = 100_000  # candles; below this one COPY is as quick
EXPORT_CHUNK_CANDLES = 8_192
_EXPORT_WORKERS = 2
_CHUNKS_SQL = f"""
    SELECT array_to_string(ARRAY(
        SELECT concat_ws(',', {", ".join(EXPORT_COLUMNS)}) FROM marketdata_kline
        WHERE instrument_id = %s AND interval = %s AND open_time >= chunk AND open_time < least(chunk + %s, %s)
        ORDER BY open_time
    ), E'\\n') FROM generate_series(%s::bigint, %s::bigint - 1, %s::bigint) AS chunk ORDER BY chunk
"""  # noqa: S608  (constants only)
_END = object()


def _lines_out_parallel(
    instrument_id: int, interval: str, chunk_ms: int, start_ms: int, end_ms: int, out: BinaryIO
) -> int:
    """Chunk ``k`` of ``chunk_ms`` (from ``start_ms``) is read by worker ``k % 2``, each on its own connection in
    a REPEATABLE READ transaction sharing one exported snapshot, so the file is one consistent state."""
    import queue
    import threading

    from django.db import connections, transaction

    stop = threading.Event()
    exported, imported = threading.Event(), threading.Event()
    snapshot: list[str] = []
    chunks: list[queue.Queue[object]] = [queue.Queue(maxsize=4) for _ in range(_EXPORT_WORKERS)]

    def put(worker: int, item: object) -> None:
        while not stop.is_set():
            try:
                chunks[worker].put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def work(worker: int) -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                if worker == 0:
                    cursor.execute("SELECT pg_export_snapshot()")
                    snapshot.append(cursor.fetchone()[0])
                    exported.set()
                else:
                    exported.wait()
                    if not snapshot:
                        return
                    cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot[0]])
                    imported.set()
                first = start_ms + worker * chunk_ms
                step = _EXPORT_WORKERS * chunk_ms
                params = [instrument_id, interval, chunk_ms, end_ms, first, end_ms, step]
                for (text,) in cursor.cursor.stream(_CHUNKS_SQL, params):
                    put(worker, text)
                    if stop.is_set():
                        break
                if worker == 0:
                    imported.wait()  # the snapshot lives as long as this transaction
            put(worker, _END)
        except BaseException as error:  # handed to the writer
            put(worker, error)
        finally:
            exported.set()
            imported.set()
            connections.close_all()  # this thread's connection: nobody else will close it

    threads = [
        threading.Thread(target=work, args=(worker,), name=f"klines-export-{worker}", daemon=True)
        for worker in range(_EXPORT_WORKERS)
    ]
    for thread in threads:
        thread.start()
    try:
        written = out.write((",".join(EXPORT_COLUMNS) + "\n").encode())
        worker = 0
        while (item := chunks[worker].get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, str)
            if item:  # an empty chunk: no candles there
                written += out.write(item.encode())
                written += out.write(b"\n")
            worker = (worker + 1) % _EXPORT_WORKERS
        # One worker ran out of chunks, so the other has none left either; its end (or error) is next.
        for other in range(_EXPORT_WORKERS):
            if other != worker and isinstance(item := chunks[other].get(), BaseException):
                raise item
    finally:
        stop.set()
        for thread in threads:
            thread.join()
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


# -- the market list (API and page): coverage per interval with first and last candle, last closes -----------
# Times are integer milliseconds UTC, ranges half-open. Decimal text comes back as stored. Every kline lookup here
# is an index probe on the primary key ``(instrument, interval, open_time)`` — no count of rows, which for a year
# of 1m candles would scan half a million of them per market.

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


# -- tracked markets ---------------------------------------------------------------------------------------------


def instruments_tracked() -> list[Instrument]:
    """The active markets beat keeps current, by id."""
    return list(Instrument.objects.filter(tracked=True, active=True).order_by("pk"))


def instruments_tracked_venues(*, interval: str) -> dict[str, list[str]]:
    """Each symbol tracked at ``interval`` (active or not) → the venues tracking it; symbols and venues in order."""
    by_symbol: dict[str, list[str]] = {}
    for exchange, symbol in (
        Instrument.objects.filter(tracked=True, tracked_intervals__contains=[interval])
        .order_by("symbol", "exchange")
        .values_list("exchange", "symbol")
    ):
        by_symbol.setdefault(symbol, []).append(exchange)
    return by_symbol


def coverage_ends(*, instrument_ids: Sequence[int]) -> dict[tuple[int, str], int]:
    """Where each market's coverage of each interval ends (the latest covered range's end, ms), by
    ``(instrument id, interval)``; a pair with no coverage is absent."""
    rows = (
        KlineCoverage.objects.filter(instrument__in=instrument_ids)
        .values("instrument_id", "interval")
        .annotate(end=Max("end_ms"))
    )
    return {(row["instrument_id"], row["interval"]): row["end"] for row in rows}


# -- lead-lag analysis: closed candles straight into numpy, window statistics, stored runs ---------------------
# Closes come out as float64 (PostgreSQL casts the exact NUMERIC to the nearest double): the analysis is statistics,
# not money.

_CLOSED_WINDOW = f"{_WINDOW} AND closed"
_COPY_BINARY_HEADER = 19  # "PGCOPY\n\377\r\n\0", flags int32, extension length int32 (0)
_COPY_BINARY_TRAILER = 2  # int16 -1


def leadlag_series_read(
    *, instrument_id: int, interval: str, start_ms: int, end_ms: int
) -> tuple[IntArray, FloatArray]:
    """The closed candles of the window: open times (int64 ms) and closes (float64), ascending.

    One ``COPY (SELECT open_time, close::float8 …) TO STDOUT (FORMAT binary)``: fixed-width rows that numpy reads
    without a Python loop (a year of 1m candles in a fraction of a second).
    """
    import numpy as np  # imported here: only lead-lag runs need it, and every process imports this module

    # COPY BINARY rows of (int8, float8): int16 field count, then per field an int32 length and the value, big-endian.
    row = np.dtype([("fields", ">i2"), ("len_t", ">i4"), ("open_time", ">i8"), ("len_c", ">i4"), ("close", ">f8")])
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        query = cursor.cursor.mogrify(
            f"COPY (SELECT open_time, close::float8 FROM marketdata_kline WHERE {_CLOSED_WINDOW}"  # noqa: S608
            " ORDER BY open_time) TO STDOUT (FORMAT binary)",
            [instrument_id, interval, start_ms, end_ms],
        )
        with cursor.cursor.copy(query) as copy:
            for chunk in copy:
                buffer.write(chunk)
    data = buffer.getbuffer()
    rows = np.frombuffer(data[_COPY_BINARY_HEADER : len(data) - _COPY_BINARY_TRAILER], dtype=row)
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
            f" FROM marketdata_kline WHERE {_CLOSED_WINDOW}",
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
