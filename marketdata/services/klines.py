"""Klines and their coverage: candles stored (COPY, not the ORM) together with the window the venue answered for,
coverage recorded alone, a window's candles deleted with its coverage.

Each writer locks the instrument row first (``FOR NO KEY UPDATE``): one lock order for every kline writer, and the
existence check that klines, having no foreign key, need. Rows go in through :mod:`~marketdata.services.kline_table`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import psycopg
from django.db import IntegrityError, connection, transaction

from marketdata.core.candle_rows import KLINE_COLUMNS, CandleRows, candle_rows_from_candles
from marketdata.core.candles import Candle
from marketdata.core.gaps import ranges_merge
from marketdata.core.intervals import interval_get
from marketdata.models import KlineCoverage
from marketdata.services.instruments import InstrumentNotFound
from marketdata.services.kline_table import COPY_CHUNK, copy_in, coverage_merge, range_has_klines


@dataclass(frozen=True, slots=True)
class StoreResult:
    written: int  # rows inserted, or open rows replaced
    present: int  # closed rows already stored, left unchanged


def _instrument_lock(instrument_id: int) -> None:
    """Lock the instrument row first, always: one lock order for every kline writer, and an existence check."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM marketdata_instrument WHERE id = %s FOR NO KEY UPDATE", [instrument_id])
        if cursor.fetchone() is None:
            raise InstrumentNotFound(f"no instrument with id {instrument_id}")


def _copy_text(instrument_id: int, rows: CandleRows) -> Iterator[bytes]:
    """COPY text of ``rows``: each line with the instrument and the interval in front, in chunks."""
    prefix = f"{instrument_id}\t{rows.interval}\t"
    text = rows.text
    start = 0
    while start < len(text):
        # Whole lines per chunk: the prefix goes after each newline, and in front of the chunk's first line.
        end = text.find("\n", start + COPY_CHUNK) + 1 or len(text)
        body = text[start : end - 1]
        yield (prefix + body.replace("\n", "\n" + prefix) + "\n").encode()
        start = end


def _staging_ready() -> None:
    with connection.cursor() as cursor:
        # Session-lifetime table (a persistent connection reuses it); emptied at every commit and before use.
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS marketdata_kline_staging (LIKE marketdata_kline) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE marketdata_kline_staging")


# A closed stored candle wins (present, untouched); an open stored candle is replaced by the incoming one.
_MERGE_SQL = f"""
    INSERT INTO marketdata_kline ({KLINE_COLUMNS}) SELECT {KLINE_COLUMNS} FROM marketdata_kline_staging
    ON CONFLICT (instrument_id, interval, open_time) DO UPDATE SET
        open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
        volume = EXCLUDED.volume, closed = EXCLUDED.closed
    WHERE NOT marketdata_kline.closed
"""  # noqa: S608  (constants only)


def klines_store(
    *,
    instrument_id: int,
    interval: str,
    candles: Sequence[Candle] | CandleRows,
    covered: tuple[int, int] | Sequence[tuple[int, int]] | None,
) -> StoreResult:
    """Store candles (open times in ms on the interval's grid, exact decimal text) and, in the same transaction,
    add ``covered`` — the half-open window in ms the venue was asked for and answered, or several — to the
    coverage.

    A new candle is written; a stored closed candle is left as it is ("present"); a stored open candle is replaced
    by the incoming one, so the still-open candle is never duplicated. Bad candles raise
    :class:`~marketdata.core.candles.CandleError` before anything is written. ``candles`` may come already checked
    as :class:`~marketdata.core.candle_rows.CandleRows` (what the download's parsers make).
    """
    iv = interval_get(interval)
    if isinstance(candles, CandleRows):
        if candles.interval != iv.code:
            raise ValueError(f"{candles.interval} rows cannot be stored as {iv.code} candles")
        rows = candles
    else:
        rows = candle_rows_from_candles(candles, iv)
    windows: list[tuple[int, int]]
    if covered is None:
        windows = []
    elif len(covered) == 2 and all(isinstance(x, int) for x in covered):
        windows = [cast(tuple[int, int], covered)]
    else:
        windows = list(cast(Sequence[tuple[int, int]], covered))
    for window in windows:
        if window[0] >= window[1]:
            raise ValueError(f"empty coverage window {window}")
    with transaction.atomic():
        _instrument_lock(instrument_id)
        written = 0
        if rows.count:
            fast = not range_has_klines(instrument_id, iv.code, rows.first_ms, rows.last_ms + 1)
            if fast:
                # Nothing stored in the range: COPY straight into the table. Another writer may have slipped in
                # since the check; its rows then collide on the key and the slow path below merges instead.
                try:
                    with transaction.atomic():
                        copy_in(f"COPY marketdata_kline ({KLINE_COLUMNS}) FROM STDIN", _copy_text(instrument_id, rows))
                    written = rows.count
                except (IntegrityError, psycopg.IntegrityError):
                    fast = False
            if not fast:
                _staging_ready()
                copy_in(f"COPY marketdata_kline_staging ({KLINE_COLUMNS}) FROM STDIN", _copy_text(instrument_id, rows))
                with connection.cursor() as cursor:
                    cursor.execute(_MERGE_SQL)
                    written = cursor.rowcount
        for start_ms, end_ms in ranges_merge(windows):
            coverage_merge(instrument_id, iv.code, start_ms, end_ms)
    return StoreResult(written=written, present=rows.count - written)


def coverage_add(*, instrument_id: int, interval: str, start_ms: int, end_ms: int) -> None:
    """Record that the venue was asked for ``[start_ms, end_ms)`` (ms) and answered, merged with what is known."""
    interval_get(interval)
    if start_ms >= end_ms:
        raise ValueError(f"empty coverage window [{start_ms}, {end_ms})")
    with transaction.atomic():
        _instrument_lock(instrument_id)
        coverage_merge(instrument_id, interval, start_ms, end_ms)


def klines_delete(*, instrument_id: int, interval: str, start_ms: int, end_ms: int) -> int:
    """Delete the candles opening in ``[start_ms, end_ms)`` and that window's coverage; returns rows deleted."""
    interval_get(interval)
    with transaction.atomic():
        _instrument_lock(instrument_id)
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM marketdata_kline"
                " WHERE instrument_id = %s AND interval = %s AND open_time >= %s AND open_time < %s",
                [instrument_id, interval, start_ms, end_ms],
            )
            deleted: int = cursor.rowcount
        _coverage_remove(instrument_id, interval, start_ms, end_ms)
    return deleted


def _coverage_remove(instrument_id: int, interval: str, start_ms: int, end_ms: int) -> None:
    overlapping = list(
        KlineCoverage.objects.filter(
            instrument_id=instrument_id, interval=interval, start_ms__lt=end_ms, end_ms__gt=start_ms
        )
    )
    for row in overlapping:
        keep = [(row.start_ms, min(row.end_ms, start_ms)), (max(row.start_ms, end_ms), row.end_ms)]
        row.delete()
        for lo, hi in keep:
            if lo < hi:
                KlineCoverage.objects.create(instrument_id=instrument_id, interval=interval, start_ms=lo, end_ms=hi)
