"""Binance archives: layout, periods, the CSV parser on the real snippets, and the checked import."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.db import connection

from marketdata import selectors, services
from marketdata.core.archives import (
    ArchiveError,
    archive_checksum_parse,
    archive_csv_layout,
    archive_parse,
    archive_period_range,
    archive_periods,
    archive_url,
)
from marketdata.core.candles import Candle
from marketdata.core.intervals import DAY_MS, HOUR_MS, interval_get
from marketdata.core.venues import MarketType
from marketdata.models import Instrument, KlineArchive, KlineCoverage
from tests.marketdata.conftest import archive_zip

JAN = archive_period_range("2024-01")


def _rows(instrument: Instrument) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM marketdata_kline WHERE instrument_id = %s", [instrument.pk])
        return int(cursor.fetchone()[0])


def test_urls_follow_the_public_layout() -> None:
    assert archive_url("http://127.0.0.1:9/", MarketType.SPOT, "btcusdt", "1m", "2019-01") == (
        "http://127.0.0.1:9/data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2019-01.zip"
    )
    assert archive_url("http://h", MarketType.PERP, "BTCUSDT", "1M", "2024-02") == (
        "http://h/data/futures/um/monthly/klines/BTCUSDT/1mo/BTCUSDT-1mo-2024-02.zip"
    )
    assert archive_url("http://h", MarketType.SPOT, "BTCUSDT", "1h", "2023-10-27").endswith(
        "/data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2023-10-27.zip"
    )
    with pytest.raises(ArchiveError, match="no daily 1w"):
        archive_url("http://h", MarketType.SPOT, "BTCUSDT", "1w", "2023-10-27")


def test_period_ranges() -> None:
    assert archive_period_range("2024-02") == (1_706_745_600_000, 1_709_251_200_000)  # 29 days: a leap year
    assert archive_period_range("2024-12")[1] == archive_period_range("2025-01")[0]
    assert archive_period_range("2023-10-27") == (1_698_364_800_000, 1_698_364_800_000 + DAY_MS)
    for bad in ("2024-13", "2024-02-30", "24-01", "2024-1"):
        with pytest.raises(ArchiveError):
            archive_period_range(bad)


def test_periods_use_complete_published_months_then_days_then_rest() -> None:
    start = archive_period_range("2024-01-15")[0]
    end = archive_period_range("2024-04-03")[0] + HOUR_MS
    now = archive_period_range("2024-04-09")[0]  # March's file is out (7 days on), April's days too (1 day on)
    plan = archive_periods("1m", start, end, now)
    assert plan.monthly == ("2024-02", "2024-03")
    assert plan.daily == (*(f"2024-01-{d}" for d in range(15, 32)), "2024-04-01", "2024-04-02")
    assert plan.rest == ((archive_period_range("2024-04-03")[0], end),)


def test_an_unpublished_month_falls_back_to_days_and_rest() -> None:
    start, end = archive_period_range("2024-03")
    plan = archive_periods("1h", start, end, now_ms=end + 2 * DAY_MS)  # too early for the monthly file
    assert plan.monthly == ()
    assert len(plan.daily) == 31
    assert plan.rest == ()
    weekly = archive_periods("1w", start, end, now_ms=end + 2 * DAY_MS)  # no daily weekly files
    assert (weekly.monthly, weekly.daily, weekly.rest) == ((), (), ((start, end),))


def test_checksum_text() -> None:
    digest = "a" * 64
    assert archive_checksum_parse(f"{digest}  BTCUSDT-1m-2024-01.zip\n") == (digest, "BTCUSDT-1m-2024-01.zip")
    with pytest.raises(ArchiveError):
        archive_checksum_parse("not a checksum")


def test_real_snippets_parse(klines_fixtures: Path) -> None:
    snippets = klines_fixtures / "snippets"
    spot = (snippets / "binance_spot_BTCUSDT-1h-2023-10-27.first3rows.csv").read_bytes()
    futures = (snippets / "binance_cm_BTCUSD_PERP-1h-2023-10-27.first3rows.csv").read_bytes()
    micro = (snippets / "binance_spot_DOGEUSDT-1s-2025-01-01.first3rows.microseconds.csv").read_bytes()

    assert archive_csv_layout(spot) == archive_csv_layout(spot).__class__(header=False, microseconds=False)
    assert archive_parse(spot, interval_get("1h"))[0] == Candle(
        1_698_364_800_000, "34151.66000000", "34171.28000000", "33972.39000000", "34015.27000000", "908.27901000"
    )
    assert archive_csv_layout(futures).header
    parsed = archive_parse(futures, interval_get("1h"))
    assert [c.open_time for c in parsed] == [1_698_364_800_000, 1_698_368_400_000, 1_698_372_000_000]
    assert parsed[2].close == "34094.2"
    assert archive_csv_layout(micro).microseconds
    assert [c.open_time for c in archive_parse(micro, interval_get("1s"))] == [
        1_735_689_600_000,
        1_735_689_601_000,
        1_735_689_602_000,
    ]


def test_parser_refuses_bad_rows() -> None:
    good = "1698364800000,1.0,2.0,0.5,1.5,10,1698368399999,1,1,1,1,0\n"
    with pytest.raises(ArchiveError, match="12"):
        archive_parse(b"1698364800000,1.0,2.0,0.5,1.5,10\n")
    with pytest.raises(ArchiveError, match="not after"):
        archive_parse((good + good).encode())
    with pytest.raises(ArchiveError, match="outside"):
        archive_parse(good.replace("2.0", "1.2").encode())
    with pytest.raises(ArchiveError, match="whole millisecond"):
        archive_parse(good.replace("1698364800000", "1698364800000001", 1).encode())
    with pytest.raises(ArchiveError, match="grid"):
        archive_parse(good.replace("1698364800000", "1698368400000", 1).encode(), interval_get("1d"))


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
