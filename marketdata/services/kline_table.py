"""The kline table as both kline writers touch it: the kline store (:mod:`~marketdata.services.klines`) and the
archive import (:mod:`~marketdata.services.archives`) stream rows in with COPY (:data:`COPY_CHUNK` bytes a write),
probe whether a window already holds candles to choose between COPY straight into the table and a merge, and merge
the window they wrote into the coverage.

Each runs inside its caller's transaction, under the instrument lock the caller took first.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from django.db import connection

COPY_CHUNK = 1 << 20  # bytes per write to the COPY stream


def copy_in(sql: str, chunks: Iterator[bytes] | Sequence[bytes]) -> None:
    """Run the ``COPY … FROM STDIN`` statement ``sql``, writing ``chunks`` to it."""
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for chunk in chunks:
            copy.write(chunk)


def range_has_klines(instrument_id: int, interval: str, start_ms: int, end_ms: int) -> bool:
    """Whether any candle opens in ``[start_ms, end_ms)`` (ms): the writer's choice of path, under its lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM marketdata_kline"
            " WHERE instrument_id = %s AND interval = %s AND open_time >= %s AND open_time < %s)",
            [instrument_id, interval, start_ms, end_ms],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


# Merge one range into a market's coverage in one statement: the ranges it overlaps or touches become one, kept in
# the oldest of their rows (unchanged when that row already holds it); a range touching nothing is a new row. (The
# ORM's select, delete and insert took three round trips and most of a small store's time.)
_COVERAGE_ADD_SQL = """
    WITH touching AS (
        SELECT id, start_ms, end_ms FROM marketdata_klinecoverage
        WHERE instrument_id = %(instrument)s AND interval = %(interval)s AND start_ms <= %(end)s AND end_ms >= %(start)s
    ), merged AS (
        SELECT min(id) AS keep, LEAST(%(start)s, min(start_ms)) AS lo, GREATEST(%(end)s, max(end_ms)) AS hi
        FROM touching
    ), gone AS (
        DELETE FROM marketdata_klinecoverage WHERE id IN (SELECT id FROM touching) AND id <> (SELECT keep FROM merged)
    ), grown AS (
        UPDATE marketdata_klinecoverage AS c SET start_ms = m.lo, end_ms = m.hi FROM merged AS m
        WHERE c.id = m.keep AND (c.start_ms, c.end_ms) <> (m.lo, m.hi)
    )
    INSERT INTO marketdata_klinecoverage (instrument_id, interval, start_ms, end_ms)
    SELECT %(instrument)s, %(interval)s, lo, hi FROM merged WHERE keep IS NULL
"""


def coverage_merge(instrument_id: int, interval: str, start_ms: int, end_ms: int) -> None:
    """Merge ``[start_ms, end_ms)`` with every range it overlaps or touches (caller holds the instrument lock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _COVERAGE_ADD_SQL, {"instrument": instrument_id, "interval": interval, "start": start_ms, "end": end_ms}
        )
