"""Binance archives, pure: the zip and the bulk rows the import hands to COPY."""

from __future__ import annotations

import io
import zipfile

import pytest

from marketdata.core.archives import (
    ArchiveError,
    archive_copy_rows,
    archive_csv_unzip,
    archive_period_range,
)
from marketdata.core.candle_rows import KLINE_COLUMNS
from marketdata.core.intervals import DAY_MS, interval_get
from tests.marketdata.conftest import archive_zip

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
