"""Binance archives, pure: the layout, the periods, checksums, the CSV parser on the real snippets, and the zip and
bulk rows the import hands to COPY."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from marketdata.core.archives import (
    ArchiveError,
    archive_checksum_parse,
    archive_copy_rows,
    archive_csv_layout,
    archive_csv_unzip,
    archive_parse,
    archive_period_range,
    archive_periods,
    archive_url,
)
from marketdata.core.candle_rows import KLINE_COLUMNS
from marketdata.core.candles import Candle
from marketdata.core.intervals import DAY_MS, HOUR_MS, interval_get
from marketdata.core.venues import MarketType
from tests.marketdata.conftest import archive_zip


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


# --- the zip and the bulk rows (what the import hands to COPY) ---------------------------------------------------

ROW_1 = b"1698364800000,1.0,2.0,0.5,1.5,10,1698368399999,1,1,1,1,0\n"
ROW_2 = b"1698368400000,1.5,2.5,1.00,2.0,0.25,1698371999999,1,1,1,1,0\n"
COPY_ROWS = b"7,1h,1698364800000,1.0,2.0,0.5,1.5,10,t\n7,1h,1698368400000,1.5,2.5,1.00,2.0,0.25,t\n"


def _copy_rows(csv: bytes, period: str = "2023-10-27", interval: str = "1h") -> tuple[bytes, int]:
    rows, count = archive_copy_rows(7, interval_get(interval), period, "BTCUSDT-1h-2023-10-27.zip", csv)
    return bytes(rows), count


def test_unzip_returns_the_one_csv() -> None:
    data, _ = archive_zip("BTCUSDT-1h-2023-10-27", ROW_1 + ROW_2)
    assert archive_csv_unzip(data, "BTCUSDT-1h-2023-10-27.zip") == ROW_1 + ROW_2


def test_unzip_refuses_a_corrupt_zip_or_other_content() -> None:
    data, _ = archive_zip("BTCUSDT-1h-2023-10-27", ROW_1)
    with pytest.raises(ArchiveError, match=r"^X\.zip: corrupt zip: "):
        archive_csv_unzip(data[: len(data) // 2], "X.zip")
    with pytest.raises(ArchiveError, match=r"^X\.zip: corrupt zip: "):
        archive_csv_unzip(b"not a zip", "X.zip")
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("X.csv", ROW_1)
    with pytest.raises(ArchiveError, match=r"^X\.zip: corrupt zip: Bad CRC-32"):
        archive_csv_unzip(stored.getvalue().replace(b"1.5,10", b"1.5,11"), "X.zip")
    two = io.BytesIO()
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", ROW_1)
        archive.writestr("b.csv", ROW_2)
    with pytest.raises(ArchiveError, match=r"expected one CSV in the zip, found \['a.csv', 'b.csv'\]"):
        archive_csv_unzip(two.getvalue(), "X.zip")
    text = io.BytesIO()
    with zipfile.ZipFile(text, "w") as archive:
        archive.writestr("a.txt", ROW_1)
    with pytest.raises(ArchiveError, match=r"expected one CSV in the zip, found \['a.txt'\]"):
        archive_csv_unzip(text.getvalue(), "X.zip")


def test_copy_rows_put_the_market_in_front_and_keep_the_decimal_text() -> None:
    assert _copy_rows(ROW_1 + ROW_2) == (COPY_ROWS, 2)
    assert KLINE_COLUMNS == "instrument_id, interval, open_time, open, high, low, close, volume, closed"


def test_copy_rows_skip_a_header_and_convert_microseconds() -> None:
    header = b"open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    header += b"taker_buy_volume,taker_buy_quote_volume,ignore\n"
    assert _copy_rows(header + ROW_1 + ROW_2) == (COPY_ROWS, 2)
    micro = ROW_1.replace(b"1698364800000,", b"1698364800000000,") + ROW_2.replace(
        b"1698368400000,", b"1698368400000000,"
    )
    assert _copy_rows(micro) == (COPY_ROWS, 2)


def test_copy_rows_of_an_empty_file_are_none() -> None:
    assert _copy_rows(b"") == (b"", 0)
    assert _copy_rows(b"\n") == (b"", 0)


def test_copy_rows_refuse_what_copy_would_not_catch() -> None:
    with pytest.raises(ArchiveError, match=r"^BTCUSDT-1h-2023-10-27\.zip: CSV parse error: Expected 12 columns, got 6"):
        _copy_rows(ROW_1 + b"1698368400000,1.5,2.5,1.0,2.0,0.25" + b" " * 60 + b"\n")
    with pytest.raises(ArchiveError, match=r"conversion error to int64: invalid value '16983684000x0'"):
        _copy_rows(ROW_1 + ROW_2.replace(b"1698368400000,", b"16983684000x0,"))
    with pytest.raises(ArchiveError, match="microsecond open times that are not whole milliseconds"):
        _copy_rows(ROW_1.replace(b"1698364800000,", b"1698364800000001,"))
    with pytest.raises(ArchiveError, match="1 rows off the 1h grid"):
        _copy_rows(ROW_1 + ROW_2.replace(b"1698368400000,", b"1698368460000,"))
    with pytest.raises(ArchiveError, match="2 rows outside 2023-10-28"):
        _copy_rows(ROW_1 + ROW_2, period="2023-10-28")


def test_monthly_copy_rows_follow_the_calendar() -> None:
    february, march = archive_period_range("2024-02")
    row = b"%d,1.0,2.0,0.5,1.5,10,0,1,1,1,1,0\n"
    assert _copy_rows(row % february, period="2024-02", interval="1M") == (
        b"7,1M,%d,1.0,2.0,0.5,1.5,10,t\n" % february,
        1,
    )
    with pytest.raises(ArchiveError, match="1 rows off the 1M grid"):
        _copy_rows(row % (february + DAY_MS), period="2024-02", interval="1M")
    with pytest.raises(ArchiveError, match="1 rows outside 2024-02"):
        _copy_rows(row % march, period="2024-02", interval="1M")
