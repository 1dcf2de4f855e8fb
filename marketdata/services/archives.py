"""Binance bulk archives: one kline archive imported, checked against its ``.CHECKSUM``, its period then covered.

The file is read and checked before any lock (:func:`marketdata.core.archives.archive_copy_rows`: CPU only, a bad
file touches nothing); the rows then go into the kline table through :mod:`~marketdata.services.kline_table`.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import psycopg
from django.db import DataError, IntegrityError, ProgrammingError, connection, transaction
from django.utils import timezone

from marketdata.core.archives import (
    ArchiveError,
    archive_checksum_parse,
    archive_copy_rows,
    archive_csv_unzip,
    archive_period_range,
)
from marketdata.core.candle_rows import KLINE_COLUMNS
from marketdata.core.intervals import Interval, interval_get
from marketdata.models import KlineArchive
from marketdata.services.instruments import InstrumentNotFound
from marketdata.services.kline_table import COPY_CHUNK, copy_in, coverage_merge, range_has_klines


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    status: Literal["new", "changed", "unchanged"]
    rows: int  # candles in the archive
    written: int
    present: int
    sha256: str


def _archive_locks(instrument_id: int, interval: str, period: str) -> None:
    """The instrument row first, as every kline writer takes it, but shared: archive imports of other periods run
    side by side (each on its own connection and core), while ``klines_store``, ``klines_delete`` and
    ``coverage_add`` (FOR NO KEY UPDATE) still exclude them and are excluded. Then the period itself, so two
    imports of one period queue instead of both finding it empty."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM marketdata_instrument WHERE id = %s FOR SHARE", [instrument_id])
        if cursor.fetchone() is None:
            raise InstrumentNotFound(f"no instrument with id {instrument_id}")
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"marketdata.archive:{instrument_id}:{interval}:{period}"],
        )


def _archive_coverage_lock(instrument_id: int, interval: str) -> None:
    """Coverage ranges are merged by reading their neighbours: concurrent imports of adjacent periods take turns
    here (held until commit, so the next one reads the merged range), after their rows are in."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"marketdata.coverage:{instrument_id}:{interval}"],
        )


def archive_import(
    *, instrument_id: int, interval: str, period: str, url: str, zip_bytes: bytes, checksum_text: str
) -> ArchiveResult:
    """Import one Binance kline archive (``period`` ``YYYY-MM`` or ``YYYY-MM-DD``) after checking its sha256
    against the ``.CHECKSUM`` text; the period becomes covered.

    The same checksum as last time: nothing to do (``unchanged``). A different one: the venue replaced the file,
    so the period's stored candles are deleted and the archive's loaded instead (``changed``). A checksum
    mismatch, a corrupt zip or a bad row raises :class:`ArchiveError` and writes nothing.

    No Python object per row: Arrow's CSV reader (C++, off the GIL) checks the open times — twelve columns,
    integers, microsecond files converted to whole milliseconds, inside the period, on the interval's grid — and
    rewrites the rows in the kline table's column order with the decimal text untouched; PostgreSQL's COPY then
    parses each decimal once, straight into the kline table when the period holds no candles (through a staging
    table and ON CONFLICT when it does). The table judges the rest as rows go in: NOT NULL (an empty field), the
    OHLC order with no negative low or volume (``kline_ohlc_order``), and an open time repeated in the file (the
    key). Imports of different periods of one market may run concurrently on separate connections
    (:mod:`marketdata.archive_loading`).
    """
    iv = interval_get(interval)
    period_start, period_end = archive_period_range(period)
    expected, name = archive_checksum_parse(checksum_text)
    url_name = posixpath.basename(urlsplit(url).path)
    if url_name != name:
        raise ArchiveError(f"the .CHECKSUM names {name!r}, not the archive {url_name!r}")
    actual = hashlib.sha256(zip_bytes).hexdigest()
    if actual != expected:
        raise ArchiveError(f"{name}: sha256 {actual} does not match its .CHECKSUM {expected}")
    csv_bytes = archive_csv_unzip(zip_bytes, name)
    # Before any lock: this part is CPU only, and a bad file is refused without touching the database.
    rows, total = archive_copy_rows(instrument_id, iv, period, name, csv_bytes)
    del csv_bytes

    with transaction.atomic():
        _archive_locks(instrument_id, iv.code, period)
        prior = (
            KlineArchive.objects.select_for_update()
            .filter(instrument_id=instrument_id, interval=iv.code, period=period)
            .first()
        )
        if prior is not None and prior.sha256 == actual:
            return ArchiveResult(status="unchanged", rows=prior.rows, written=0, present=prior.rows, sha256=actual)
        try:
            written = _archive_load(instrument_id, iv, period, rows, total, prior is not None)
        except (DataError, IntegrityError, psycopg.DataError, psycopg.IntegrityError) as error:
            raise ArchiveError(f"{name}: {error}") from None
        except ProgrammingError as error:
            if isinstance(error.__cause__, psycopg.errors.CardinalityViolation):
                raise ArchiveError(f"{name}: an open time appears twice") from None
            raise
        _archive_coverage_lock(instrument_id, iv.code)
        coverage_merge(instrument_id, iv.code, period_start, period_end)
        KlineArchive.objects.update_or_create(
            instrument_id=instrument_id,
            interval=iv.code,
            period=period,
            defaults={"url": url, "sha256": actual, "rows": total, "imported_at": timezone.now()},
        )
    return ArchiveResult(
        status="changed" if prior is not None else "new",
        rows=total,
        written=written,
        present=total - written,
        sha256=actual,
    )


def _archive_load(instrument_id: int, iv: Interval, period: str, rows: Any, total: int, replace: bool) -> int:
    """Put the checked rows (:func:`~marketdata.core.archives.archive_copy_rows`) into the kline table; returns the
    rows written."""
    period_start, period_end = archive_period_range(period)
    view = memoryview(rows)
    # psycopg's copy.write takes any buffer: slices of the Arrow buffer, no copies.
    chunks = cast("list[bytes]", [view[i : i + COPY_CHUNK] for i in range(0, len(view), COPY_CHUNK)])
    with connection.cursor() as cursor:
        if replace:
            cursor.execute(
                "DELETE FROM marketdata_kline"
                " WHERE instrument_id = %s AND interval = %s AND open_time >= %s AND open_time < %s",
                [instrument_id, iv.code, period_start, period_end],
            )
        if not total:
            return 0
        if replace or not range_has_klines(instrument_id, iv.code, period_start, period_end):
            # Every row is inside the period and the period holds none (or was just emptied), and the locks keep
            # other writers out of it: COPY straight into the table, each decimal parsed once, no staging pass.
            copy_in(f"COPY marketdata_kline ({KLINE_COLUMNS}) FROM STDIN WITH (FORMAT csv)", chunks)
            return total
        # Some candles are stored already (a REST window, the open candle): a closed one stays, an open one is
        # replaced. ON COMMIT DROP alone would leave the table in place when one transaction imports two archives.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.marketdata_archive_staging")
        cursor.execute("CREATE TEMP TABLE marketdata_archive_staging (LIKE marketdata_kline) ON COMMIT DROP")
        copy_in(f"COPY marketdata_archive_staging ({KLINE_COLUMNS}) FROM STDIN WITH (FORMAT csv)", chunks)
        cursor.execute(
            f"""
            INSERT INTO marketdata_kline ({KLINE_COLUMNS}) SELECT {KLINE_COLUMNS} FROM marketdata_archive_staging
            ON CONFLICT (instrument_id, interval, open_time) DO UPDATE SET
                open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
                volume = EXCLUDED.volume, closed = true
            WHERE NOT marketdata_kline.closed
            """  # noqa: S608  (constants only)
        )
        written: int = cursor.rowcount
    return written
