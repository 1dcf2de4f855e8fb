"""Klines: archive import end to end (zip → sha256 → parse → COPY) and one year of 1m candles read back as CSV.

Baseline: Django ``bulk_create`` of the same kline rows through the unmanaged model, measured in this same run on
a subset (``BULK_CREATE_ROWS``) and extrapolated as a rate; the ratio is archive-import candles per second over
bulk_create's. Generated archives (twelve Binance columns, eight-decimal text) of one month each, ≥ 1,000,000
candles in all, are imported through ``archives_import_many`` (``IMPORT_WORKERS`` connections, as the downloader
would hand over the months it fetched) into a scratch database made for the run (``test_<name>_bench``) and
dropped after; ``IMPORT_ROUNDS`` rounds, each into a market of its own, the clock running from the zips in memory
to the last commit. pyarrow and NumPy are imported before the clock starts (process start-up, paid once).
Read-back: one year of 1m candles (525,600) for one market through ``klines_export`` (CSV), median of ``ROUNDS``.
The machine is shared: the figures move with whatever else runs, so every round is printed.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import random
import statistics
import time
import zipfile
from typing import Any

from bench.database import django_setup, scratch_database

CANDLES_TARGET = 1_000_000
BULK_CREATE_ROWS = 50_000
YEAR_1M = 525_600
ROUNDS = 5
IMPORT_ROUNDS = 3
IMPORT_WORKERS = 2
_SYMBOLS = itertools.count(1)


def _month_archive(symbol: str, year: int, month: int, rng: random.Random) -> tuple[str, bytes, str, int]:
    from marketdata.core.archives import archive_period_range

    period = f"{year:04d}-{month:02d}"
    start, end = archive_period_range(period)
    lines = []
    price = 30_000.0
    for t in range(start, end, 60_000):
        price = max(1.0, price + rng.uniform(-20, 20))
        o = f"{price:.8f}"
        h = f"{price + rng.uniform(0, 10):.8f}"
        lo = f"{max(0.5, price - rng.uniform(0, 10)):.8f}"
        v = f"{rng.uniform(0, 500):.8f}"
        lines.append(
            f"{t},{o},{h},{lo},{o},{v},{t + 59_999},{rng.uniform(0, 1e7):.8f},{rng.randint(0, 9999)},0.0,0.0,0"
        )
    name = f"{symbol}-1m-{period}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.csv", "\n".join(lines) + "\n")
    data = buffer.getvalue()
    return period, data, f"{hashlib.sha256(data).hexdigest()}  {name}.zip\n", len(lines)


def _instrument(symbol: str) -> Any:
    from marketdata.models import Instrument

    return Instrument.objects.create(
        exchange="binance",
        market_type="spot",
        symbol=f"{symbol[:-4]}/USDT",
        venue_symbol=symbol,
        base=symbol[:-4],
        quote="USDT",
        tick_size="0.01000000",
        lot_size="0.00001000",
    )


def _items(archives: list[tuple[str, bytes, str, int]], instrument_id: int) -> list[Any]:
    from marketdata.archive_loading import ArchiveItem

    return [
        ArchiveItem(
            instrument_id=instrument_id,
            interval="1m",
            period=period,
            url=f"http://127.0.0.1/data/spot/monthly/klines/X/1m/{checksum.split()[1]}",
            zip_bytes=data,
            checksum_text=checksum,
        )
        for period, data, checksum, _ in archives
    ]


def _archive_import_rate(archives: list[tuple[str, bytes, str, int]]) -> tuple[float, int]:
    from marketdata.archive_loading import archives_import_many
    from marketdata.services import ArchiveResult

    items = _items(archives, _instrument(f"B{next(_SYMBOLS)}USDT").pk)
    candles = sum(a[3] for a in archives)
    start = time.perf_counter()
    results = archives_import_many(items=items, workers=IMPORT_WORKERS)
    seconds = time.perf_counter() - start
    written = sum(r.written for r in results if isinstance(r, ArchiveResult))
    assert written == candles, results
    return candles / seconds, candles


def _bulk_create_rate(archive: tuple[str, bytes, str, int]) -> float:
    from django.db import transaction

    from marketdata.core.archives import archive_parse
    from marketdata.models import Kline

    instrument = _instrument(f"C{next(_SYMBOLS)}USDT")
    _, data, checksum, _ = archive
    start = time.perf_counter()
    # The same work as the import (checksum, unzip, parse) but rows saved through the ORM.
    assert hashlib.sha256(data).hexdigest() == checksum.split()[0]
    with zipfile.ZipFile(io.BytesIO(data)) as archive_zip:
        csv_bytes = archive_zip.read(archive_zip.namelist()[0])
    rows = csv_bytes.split(b"\n", BULK_CREATE_ROWS)[:BULK_CREATE_ROWS]
    candles = archive_parse(b"\n".join(rows))
    with transaction.atomic():
        Kline.objects.bulk_create(
            [
                Kline(
                    instrument_id=instrument.pk,
                    interval="1m",
                    open_time=c.open_time,
                    open=c.open,
                    high=c.high,
                    low=c.low,
                    close=c.close,
                    volume=c.volume,
                    closed=True,
                )
                for c in candles
            ],
            batch_size=5_000,
        )
    return len(candles) / (time.perf_counter() - start)


def _read_back_seconds() -> list[float]:
    from marketdata import selectors
    from marketdata.archive_loading import archives_import_many
    from marketdata.core.archives import archive_period_range

    instrument = _instrument(f"Y{next(_SYMBOLS)}USDT")
    rng = random.Random(7)  # noqa: S311  (generated prices, not secrets)
    year = [_month_archive(instrument.venue_symbol, 2023, month, rng) for month in range(1, 13)]
    assert not any(isinstance(r, Exception) for r in archives_import_many(items=_items(year, instrument.pk)))
    start_ms, end_ms = archive_period_range("2023-01")[0], archive_period_range("2023-12")[1]
    samples = []
    for _ in range(ROUNDS):
        out = io.BytesIO()
        start = time.perf_counter()
        selectors.klines_export(instrument_id=instrument.pk, interval="1m", start_ms=start_ms, end_ms=end_ms, out=out)
        samples.append(time.perf_counter() - start)
        lines = out.getvalue().count(b"\n") - 1
        assert lines == YEAR_1M, lines
    return samples


def main() -> None:
    django_setup()
    import numpy  # noqa: F401  (start-up of the import path, paid once per process)
    import pyarrow.csv  # noqa: F401

    rng = random.Random(1)  # noqa: S311  (generated prices, not secrets)
    with scratch_database():
        archives = []
        total = 0
        year, month = 2021, 1
        while total < CANDLES_TARGET:
            archives.append(_month_archive("BTCUSDT", year, month, rng))
            total += archives[-1][3]
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        baseline = _bulk_create_rate(archives[0])
        rounds = [_archive_import_rate(archives) for _ in range(IMPORT_ROUNDS)]
        rates = [rate for rate, _ in rounds]
        rate, candles = statistics.median(rates), rounds[0][1]
        print(
            f"Django bulk_create (subset {BULK_CREATE_ROWS:,} rows, rate extrapolated)  "
            f"{baseline:>10,.0f} candles/s   ratio 1.00 (baseline)"
        )
        print(
            f"archive import ({len(archives)} zips, {candles:,} candles, {IMPORT_WORKERS} connections)  "
            f"median {rate:>10,.0f} candles/s   ratio {rate / baseline:.1f}   "
            f"(target: ≥ 300,000/s and ratio ≥ 15)   rounds: {', '.join(f'{r:,.0f}' for r in rates)}"
        )
        samples = _read_back_seconds()
        print(
            f"read-back 1 year of 1m ({YEAR_1M:,} candles, CSV export)  median {statistics.median(samples):.3f} s   "
            f"(target ≤ 0.5 s)   rounds: {', '.join(f'{x:.3f}' for x in samples)}"
        )
