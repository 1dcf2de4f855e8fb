"""Every write of market data: instruments, klines (COPY, not the ORM), coverage, archives, download jobs,
lead-lag runs.

Klines are keyed by (instrument, interval, open time in integer milliseconds UTC); prices and volumes are the
venue's decimal text, stored in NUMERIC columns without typmod so they read back unchanged. Each service runs in
one transaction: rows and the coverage that vouches for them commit together, so a process killed at any moment
leaves nothing half-recorded and a re-run resumes from coverage.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import psycopg
from django.db import DataError, IntegrityError, ProgrammingError, connection, transaction
from django.db.models import F
from django.utils import timezone

from hftplatform.core.utc import utc_aware
from hftplatform.errors import ServiceError
from marketdata import selectors
from marketdata.core.archives import (
    ArchiveError,
    archive_checksum_parse,
    archive_copy_rows,
    archive_csv_unzip,
    archive_period_range,
)
from marketdata.core.candle_rows import KLINE_COLUMNS, CandleRows, candle_rows_from_candles
from marketdata.core.candles import Candle
from marketdata.core.gaps import ranges_merge
from marketdata.core.intervals import Interval, IntervalError, interval_get, venue_interval_code
from marketdata.core.rest import InstrumentInfo
from marketdata.core.venues import MarketType, Venue
from marketdata.models import Instrument, KlineArchive, KlineCoverage, KlineDownloadJob, LeadLagRun

# Plain decimal text only: PostgreSQL would accept '1E-8', ' 1' or '.5' but print them back differently.
_PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?\Z")  # ASCII digits: NUMERIC takes no others
COPY_CHUNK = 1 << 20  # bytes per write to the COPY stream


class InstrumentNotFound(LookupError):
    """No instrument with that id (klines have no foreign key, so the service checks)."""


@dataclass(frozen=True, slots=True)
class StoreResult:
    written: int  # rows inserted, or open rows replaced
    present: int  # closed rows already stored, left unchanged


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    status: Literal["new", "changed", "unchanged"]
    rows: int  # candles in the archive
    written: int
    present: int
    sha256: str


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


def _copy_in(sql: str, chunks: Iterator[bytes] | Sequence[bytes]) -> None:
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for chunk in chunks:
            copy.write(chunk)


def _range_has_rows(instrument_id: int, interval: str, start_ms: int, end_ms: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM marketdata_kline"
            " WHERE instrument_id = %s AND interval = %s AND open_time >= %s AND open_time < %s)",
            [instrument_id, interval, start_ms, end_ms],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


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
            fast = not _range_has_rows(instrument_id, iv.code, rows.first_ms, rows.last_ms + 1)
            if fast:
                # Nothing stored in the range: COPY straight into the table. Another writer may have slipped in
                # since the check; its rows then collide on the key and the slow path below merges instead.
                try:
                    with transaction.atomic():
                        _copy_in(f"COPY marketdata_kline ({KLINE_COLUMNS}) FROM STDIN", _copy_text(instrument_id, rows))
                    written = rows.count
                except (IntegrityError, psycopg.IntegrityError):
                    fast = False
            if not fast:
                _staging_ready()
                _copy_in(f"COPY marketdata_kline_staging ({KLINE_COLUMNS}) FROM STDIN", _copy_text(instrument_id, rows))
                with connection.cursor() as cursor:
                    cursor.execute(_MERGE_SQL)
                    written = cursor.rowcount
        for start_ms, end_ms in ranges_merge(windows):
            _coverage_add(instrument_id, iv.code, start_ms, end_ms)
    return StoreResult(written=written, present=rows.count - written)


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


def _coverage_add(instrument_id: int, interval: str, start_ms: int, end_ms: int) -> None:
    """Merge ``[start_ms, end_ms)`` with every range it overlaps or touches (caller holds the instrument lock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _COVERAGE_ADD_SQL, {"instrument": instrument_id, "interval": interval, "start": start_ms, "end": end_ms}
        )


def coverage_add(*, instrument_id: int, interval: str, start_ms: int, end_ms: int) -> None:
    """Record that the venue was asked for ``[start_ms, end_ms)`` (ms) and answered, merged with what is known."""
    interval_get(interval)
    if start_ms >= end_ms:
        raise ValueError(f"empty coverage window [{start_ms}, {end_ms})")
    with transaction.atomic():
        _instrument_lock(instrument_id)
        _coverage_add(instrument_id, interval, start_ms, end_ms)


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


# -- instruments ----------------------------------------------------------------------------------------------


def instrument_upsert_many(*, infos: Sequence[InstrumentInfo]) -> int:
    """Insert or update instruments from a venue's market list, keyed by (exchange, unified symbol); returns how
    many were upserted. ``tracked`` and its intervals belong to the operator and are left alone."""
    instruments = []
    for info in infos:
        if info.listed_at is not None:
            utc_aware(info.listed_at, what=f"{info.symbol}: listed_at")
        for text in (info.tick_size, info.lot_size):
            if not _PLAIN_DECIMAL.match(text):
                raise ValueError(f"{info.symbol}: {text!r} is not plain decimal text")
        instruments.append(
            Instrument(
                exchange=info.venue.value,
                market_type=info.market_type.value,
                symbol=info.symbol,
                venue_symbol=info.venue_symbol,
                base=info.base,
                quote=info.quote,
                settle=info.settle,
                tick_size=info.tick_size,
                lot_size=info.lot_size,
                listed_at=info.listed_at,
                active=info.active,
            )
        )
    with transaction.atomic():
        Instrument.objects.bulk_create(
            instruments,
            update_conflicts=True,
            unique_fields=["exchange", "symbol"],
            update_fields=[
                "market_type",
                "venue_symbol",
                "base",
                "quote",
                "settle",
                "tick_size",
                "lot_size",
                "listed_at",
                "active",
                "updated",
            ],
        )
    return len(instruments)


def instrument_set_tracked(*, instrument_id: int, tracked: bool, intervals: Sequence[str] = ()) -> None:
    """Mark a market as kept current by beat for ``intervals`` (platform codes), or stop tracking it."""
    codes = [interval_get(code).code for code in dict.fromkeys(intervals)]
    if tracked and not codes:
        raise ValueError("a tracked instrument needs at least one interval")
    with transaction.atomic():
        updated = Instrument.objects.filter(pk=instrument_id).update(
            tracked=tracked, tracked_intervals=codes if tracked else [], updated=timezone.now()
        )
    if not updated:
        raise InstrumentNotFound(f"no instrument with id {instrument_id}")


# -- Binance bulk archives ------------------------------------------------------------------------------------


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
        _coverage_add(instrument_id, iv.code, period_start, period_end)
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
        if replace or not _range_has_rows(instrument_id, iv.code, period_start, period_end):
            # Every row is inside the period and the period holds none (or was just emptied), and the locks keep
            # other writers out of it: COPY straight into the table, each decimal parsed once, no staging pass.
            _copy_in(f"COPY marketdata_kline ({KLINE_COLUMNS}) FROM STDIN WITH (FORMAT csv)", chunks)
            return total
        # Some candles are stored already (a REST window, the open candle): a closed one stays, an open one is
        # replaced. ON COMMIT DROP alone would leave the table in place when one transaction imports two archives.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.marketdata_archive_staging")
        cursor.execute("CREATE TEMP TABLE marketdata_archive_staging (LIKE marketdata_kline) ON COMMIT DROP")
        _copy_in(f"COPY marketdata_archive_staging ({KLINE_COLUMNS}) FROM STDIN WITH (FORMAT csv)", chunks)
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


# -- download jobs (the downloader reports through these) -------------------------------------------------------


def download_job_start(*, parameters: dict[str, Any], total: int = 0) -> KlineDownloadJob:
    """A running job; ``total`` is the work planned (the downloader's unit: candles or requests)."""
    with transaction.atomic():
        return KlineDownloadJob.objects.create(parameters=parameters, progress_total=total, started_at=timezone.now())


def download_job_progress(
    *,
    job_id: int,
    done: int = 0,
    total: int | None = None,
    rows_written: int = 0,
    rows_present: int = 0,
    requests: int = 0,
    retries: int = 0,
) -> None:
    """Add increments (F() updates, safe from concurrent workers); ``total`` replaces the planned work."""
    changes: dict[str, Any] = {
        "progress_done": F("progress_done") + done,
        "rows_written": F("rows_written") + rows_written,
        "rows_present": F("rows_present") + rows_present,
        "requests": F("requests") + requests,
        "retries": F("retries") + retries,
    }
    if total is not None:
        changes["progress_total"] = total
    with transaction.atomic():
        KlineDownloadJob.objects.filter(pk=job_id).update(**changes)


def download_job_finish(*, job_id: int, gaps_left: int, error: str = "", finished_at: datetime | None = None) -> None:
    """Close the job: ``done``, or ``failed`` with the error text when one is given."""
    status = KlineDownloadJob.Status.FAILED if error else KlineDownloadJob.Status.DONE
    with transaction.atomic():
        KlineDownloadJob.objects.filter(pk=job_id).update(
            status=status, gaps_left=gaps_left, error=error, finished_at=finished_at or timezone.now()
        )


# -- lead-lag runs ---------------------------------------------------------------------------------------------
# Writes of the lead-lag analysis: create a run (after checking the data exist), execute it, store the report.
#
# A run is checked before it is created, so bad input (an unknown market, a venue with no candles in the window,
# windows that do not overlap, a price that never moves) is a :class:`LeadLagError` and no row is written.
# Executing is idempotent: a finished run is left as it is; any other is (re)computed from the stored candles and
# written in one update, so a worker killed mid-way leaves the run to be redone, never half-stored.

LeadLagProgress = Callable[[str, int, int], None]


class LeadLagError(ServiceError):
    """The analysis cannot run on this input; the message says why."""


def _leadlag_instrument(exchange: str, symbol: str) -> Instrument:
    try:
        return selectors.instrument_get(exchange=exchange, symbol=symbol)
    except (Instrument.DoesNotExist, ValueError):  # ValueError: not a venue at all
        raise LeadLagError(
            f"no market {symbol} on {exchange}", fields={"symbol": [f"No {symbol} on {exchange}."]}
        ) from None


def leadlag_run_create(
    *,
    markets: Sequence[tuple[str, str]],
    interval: str,
    start_ms: int,
    end_ms: int,
    max_lag: int = 30,
    window_ms: int | None = None,
    created_by_id: int | None = None,
) -> LeadLagRun:
    """A queued run for the markets ``[(exchange, unified symbol), …]`` over ``[start_ms, end_ms)`` (ms UTC).

    ``max_lag`` is in grid steps of ``interval``; ``window_ms`` the rolling window (default one UTC day). Raises
    :class:`LeadLagError` (nothing written) for an unknown interval or market, an interval a venue lacks, a venue
    with no closed candles in the window, windows that do not overlap, or a constant price.
    """
    # Imported here, as in leadlag_run_execute: the analysis loads numpy, scipy and statsmodels (seconds), which
    # every process importing this module would otherwise pay.
    from marketdata.core.leadlag.analysis import LeadLagParams

    try:
        step_ms = interval_get(interval).length_ms
    except IntervalError as error:
        raise LeadLagError(str(error), fields={"interval": [str(error)]}) from None
    if step_ms is None:
        raise LeadLagError("monthly candles have no fixed step", fields={"interval": ["Use a fixed interval."]})
    if end_ms <= start_ms:
        raise LeadLagError("the end must be after the start (end is exclusive)", fields={"end": ["Not after start."]})
    params = LeadLagParams(step_ms=step_ms, max_lag=max_lag, **({"window_ms": window_ms} if window_ms else {}))
    resolved = []
    spans = []
    for exchange, symbol in markets:
        instrument = _leadlag_instrument(exchange, symbol)
        try:
            venue_interval_code(Venue(instrument.exchange), MarketType(instrument.market_type), interval)
        except IntervalError as error:
            raise LeadLagError(str(error), fields={"interval": [str(error)]}) from None
        stats = selectors.leadlag_window_stats(
            instrument_id=instrument.pk, interval=interval, start_ms=start_ms, end_ms=end_ms
        )
        if stats.candles == 0 or stats.first_ms is None or stats.last_ms is None:
            raise LeadLagError(f"{exchange} {symbol}: no {interval} candles in the window")
        if stats.constant:
            raise LeadLagError(f"{exchange} {symbol}: the price is constant in the window; nothing to lead or lag")
        spans.append((stats.first_ms, stats.last_ms))
        resolved.append({"exchange": instrument.exchange, "symbol": instrument.symbol, "instrument_id": instrument.pk})
    if max(s[0] for s in spans) >= min(s[1] for s in spans):
        raise LeadLagError("the venues' candles do not overlap in the window")
    return LeadLagRun.objects.create(
        symbol=markets[0][1].upper(),
        interval=interval,
        start_ms=start_ms,
        end_ms=end_ms,
        parameters={"markets": resolved, **asdict(params)},
        created_by_id=created_by_id,
    )


def _leadlag_progress_save(run_id: int, done: int, total: int) -> None:
    LeadLagRun.objects.filter(pk=run_id).update(progress_done=done, progress_total=total)


def leadlag_run_execute(*, run_id: int, progress: LeadLagProgress | None = None) -> LeadLagRun:
    """Compute the run's report from the stored candles and store it (status ``done``), or store the reason it
    cannot be computed (status ``failed``, no outputs) and raise :class:`LeadLagError`. A done run is returned
    untouched. Timings (seconds): read, align, each method, rolling, store."""
    from marketdata.core.leadlag.alignment import LeadLagInputError, PriceSeries
    from marketdata.core.leadlag.analysis import LeadLagParams, Timings, leadlag_analyse, leadlag_report

    run = LeadLagRun.objects.get(pk=run_id)
    if run.status == LeadLagRun.Status.DONE:
        return run
    LeadLagRun.objects.filter(pk=run_id).update(
        status=LeadLagRun.Status.RUNNING, started_at=timezone.now(), error="", outputs={}
    )
    stored = dict(run.parameters)
    markets: list[dict[str, Any]] = stored.pop("markets")
    params = LeadLagParams(**stored)
    timings = Timings()
    series = []
    total = len(markets) + len(markets) * (len(markets) - 1) // 2
    for done, market in enumerate(markets):
        with timings.stage("read"):
            times, closes = selectors.leadlag_series_read(
                instrument_id=market["instrument_id"], interval=run.interval, start_ms=run.start_ms, end_ms=run.end_ms
            )
        series.append(PriceSeries(market["exchange"], times, closes))
        _leadlag_progress_save(run_id, done + 1, total)
        if progress is not None:
            progress(f"read {market['exchange']} {market['symbol']} ({len(times):,} candles)", done + 1, total)

    def pair_progress(stage: str, done: int, count: int) -> None:
        if stage == "pairs":
            _leadlag_progress_save(run_id, len(markets) + done, total)
        if progress is not None:
            progress(stage, done, count)

    try:
        results = leadlag_analyse(series, params, timings, pair_progress)
    except LeadLagInputError as error:
        LeadLagRun.objects.filter(pk=run_id).update(
            status=LeadLagRun.Status.FAILED, error=str(error), finished_at=timezone.now(), timings=timings.seconds
        )
        raise LeadLagError(str(error)) from None
    report = leadlag_report(results, params)
    report["symbol"] = run.symbol
    report["interval"] = run.interval
    report["markets"] = [{"exchange": m["exchange"], "symbol": m["symbol"]} for m in markets]
    started = time.perf_counter()
    with transaction.atomic():
        LeadLagRun.objects.filter(pk=run_id).update(
            status=LeadLagRun.Status.DONE,
            outputs=report,
            progress_done=total,
            progress_total=total,
            finished_at=timezone.now(),
        )
    timings.seconds["store"] = time.perf_counter() - started
    LeadLagRun.objects.filter(pk=run_id).update(timings={k: round(v, 4) for k, v in timings.seconds.items()})
    return LeadLagRun.objects.get(pk=run_id)


def leadlag_refresh_tracked(*, interval: str = "1m", days: int = 1, now_ms: int | None = None) -> list[int]:
    """Queue-ready runs for every symbol tracked on two or more venues at ``interval``, over the last ``days`` whole
    UTC days; returns the new run ids. A symbol whose data cannot be analysed is skipped (beat retries tomorrow)."""
    day_ms = 86_400_000
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    end_ms = now_ms // day_ms * day_ms
    start_ms = end_ms - days * day_ms
    created = []
    for symbol, exchanges in selectors.instruments_tracked_venues(interval=interval).items():
        if len(exchanges) < 2:
            continue
        try:
            run = leadlag_run_create(
                markets=[(e, symbol) for e in exchanges], interval=interval, start_ms=start_ms, end_ms=end_ms
            )
        except LeadLagError:
            continue
        created.append(run.pk)
    return created
