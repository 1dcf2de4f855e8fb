"""The Binance archive import: checked against its .CHECKSUM, imported, re-imported when the file changes, and
refused without a write when bad. (The pure archive code: tests/marketdata/core/test_archives.py.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.db import connection

from marketdata import selectors, services
from marketdata.core.archives import (
    ArchiveError,
    archive_parse,
    archive_period_range,
)
from marketdata.core.intervals import HOUR_MS
from marketdata.models import Instrument, KlineArchive, KlineCoverage
from tests.marketdata.conftest import archive_zip

JAN = archive_period_range("2024-01")


def _rows(instrument: Instrument) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM marketdata_kline WHERE instrument_id = %s", [instrument.pk])
        return int(cursor.fetchone()[0])


def _month_csv(period: str, price: str = "100.00000000") -> bytes:
    start, end = archive_period_range(period)
    return "".join(
        f"{t},{price},{price},{price},{price},1.50000000,{t + HOUR_MS - 1},150.0,3,0.5,50.0,0\n"
        for t in range(start, end, HOUR_MS)
    ).encode()


def _import(instrument: Instrument, period: str, zip_bytes: bytes, checksum: str) -> services.ArchiveResult:
    return services.archive_import(
        instrument_id=instrument.pk,
        interval="1h",
        period=period,
        url=f"http://127.0.0.1:9/data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-{period}.zip",
        zip_bytes=zip_bytes,
        checksum_text=checksum,
    )


def test_import_then_same_then_changed_checksum(instrument: Instrument) -> None:
    data, checksum = archive_zip("BTCUSDT-1h-2024-01", _month_csv("2024-01"))
    first = _import(instrument, "2024-01", data, checksum)
    assert (first.status, first.rows, first.written, first.present) == ("new", 744, 744, 0)
    assert selectors.coverage_ranges(instrument_id=instrument.pk, interval="1h") == [JAN]

    again = _import(instrument, "2024-01", data, checksum)
    assert (again.status, again.written) == ("unchanged", 0)

    # Binance replaces the file: every price changes, and one hour goes missing.
    changed_csv = b"\n".join(_month_csv("2024-01", "101.50000000").split(b"\n")[1:])
    data2, checksum2 = archive_zip("BTCUSDT-1h-2024-01", changed_csv)
    replaced = _import(instrument, "2024-01", data2, checksum2)
    assert (replaced.status, replaced.rows, replaced.written) == ("changed", 743, 743)
    stored = selectors.klines_read(instrument_id=instrument.pk, interval="1h", start_ms=JAN[0], end_ms=JAN[1])
    assert len(stored) == 743
    assert {c.open for c in stored} == {"101.50000000"}
    assert KlineArchive.objects.get(instrument=instrument, period="2024-01").sha256 == checksum2.split()[0]


def test_header_and_microsecond_archives_import(instrument: Instrument, klines_fixtures: Path) -> None:
    snippets = klines_fixtures / "snippets"
    micro = (snippets / "binance_spot_DOGEUSDT-1s-2025-01-01.first3rows.microseconds.csv").read_bytes()
    data, checksum = archive_zip("DOGEUSDT-1s-2025-01-01", micro)
    result = services.archive_import(
        instrument_id=instrument.pk,
        interval="1s",
        period="2025-01-01",
        url="http://127.0.0.1:9/data/spot/daily/klines/DOGEUSDT/1s/DOGEUSDT-1s-2025-01-01.zip",
        zip_bytes=data,
        checksum_text=checksum,
    )
    assert (result.rows, result.written) == (3, 3)
    stored = selectors.klines_read(instrument_id=instrument.pk, interval="1s", start_ms=0, end_ms=2**62)
    assert stored == archive_parse(micro)

    header = (snippets / "binance_cm_BTCUSD_PERP-1h-2023-10-27.first3rows.csv").read_bytes()
    data, checksum = archive_zip("BTCUSD_PERP-1h-2023-10-27", header)
    result = services.archive_import(
        instrument_id=instrument.pk,
        interval="1h",
        period="2023-10-27",
        url="http://127.0.0.1:9/BTCUSD_PERP-1h-2023-10-27.zip",
        zip_bytes=data,
        checksum_text=checksum,
    )
    assert result.written == 3
    stored = selectors.klines_read(instrument_id=instrument.pk, interval="1h", start_ms=0, end_ms=2**62)
    assert stored == archive_parse(header)


@pytest.mark.parametrize("fault", ["checksum", "corrupt", "row", "outside", "duplicate", "ohlc"])
def test_bad_archives_write_nothing(instrument: Instrument, fault: str) -> None:
    csv = _month_csv("2024-01")
    if fault == "row":
        csv = csv.replace(b"100.00000000", b"abc", 1)
    elif fault == "outside":
        csv += _month_csv("2024-02").split(b"\n", 1)[0] + b"\n"
    elif fault == "duplicate":
        csv += csv.split(b"\n", 1)[0] + b"\n"
    elif fault == "ohlc":
        csv = csv.replace(b",100.00000000,100.00000000,100.00000000,", b",100.00000000,99.00000000,100.00000000,", 1)
    data, checksum = archive_zip("BTCUSDT-1h-2024-01", csv)
    if fault == "checksum":
        checksum = checksum.replace(checksum[0], "0" if checksum[0] != "0" else "1", 1)
    elif fault == "corrupt":
        data = data[: len(data) // 2] + bytes(len(data) - len(data) // 2)
        checksum = f"{hashlib.sha256(data).hexdigest()}  BTCUSDT-1h-2024-01.zip\n"  # it matches: the zip is bad
    messages = {
        "checksum": "does not match",
        "corrupt": "corrupt zip",
        "row": "invalid input syntax for type numeric",
        "outside": "rows outside 2024-01",
        "duplicate": "duplicate key",
        "ohlc": "kline_ohlc_order",
    }
    with pytest.raises(ArchiveError, match=messages[fault]):
        _import(instrument, "2024-01", data, checksum)
    assert _rows(instrument) == 0
    assert not KlineCoverage.objects.exists()
    assert not KlineArchive.objects.exists()
