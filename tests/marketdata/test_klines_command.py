"""``manage.py klines export|gaps|import``: exact output, round trips, clear errors that write nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from marketdata import selectors, services
from marketdata.core.candles import Candle
from marketdata.core.intervals import MINUTE_MS
from marketdata.models import Instrument, KlineArchive, KlineCoverage
from tests.marketdata.conftest import archive_zip

T0 = 1_570_752_000_000  # 2019-10-11 00:00 UTC
MARKET = ["--exchange", "binance", "--symbol", "BTC/USDT", "--interval", "1m"]


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("klines", *args, stdout=out)
    return out.getvalue()


def _rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM marketdata_kline")
        return int(cursor.fetchone()[0])


@pytest.fixture
def stored(instrument: Instrument) -> Instrument:
    candles = [
        Candle(T0, "0.00141342", "0.00141557", "0.00141266", "0.00141418", "1482.0"),
        Candle(T0 + MINUTE_MS, "0.00141597", "0.00141658", "0.00141597", "0.00141658", "522.0"),
        Candle(T0 + 3 * MINUTE_MS, "0.00141266", "0.00141266", "0.00141192", "0.00141192", "1311.0"),
    ]
    services.klines_store(instrument_id=instrument.pk, interval="1m", candles=candles, covered=(T0, T0 + 4 * MINUTE_MS))
    return instrument


def test_export_csv_to_stdout_is_exact(stored: Instrument) -> None:
    out = _run("export", *MARKET, "--start", "2019-10-11", "--end", "2019-10-11T00:03:00Z")
    assert out == (
        "open_time,open,high,low,close,volume\n"
        "1570752000000,0.00141342,0.00141557,0.00141266,0.00141418,1482.0\n"
        "1570752060000,0.00141597,0.00141658,0.00141597,0.00141658,522.0\n"
    )


def test_export_parquet_to_a_file(stored: Instrument, tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    _run(
        "export",
        *MARKET,
        "--start",
        "2019-10-11",
        "--end",
        "2019-10-12",
        "--format",
        "parquet",
        "--output",
        str(target),
    )
    table = pq.read_table(target)
    assert table.num_rows == 3
    assert table.column("volume").to_pylist() == ["1482.0", "522.0", "1311.0"]


def test_gaps_are_listed_readably(stored: Instrument) -> None:
    out = _run("gaps", *MARKET, "--start", "2019-10-11", "--end", "2019-10-11T00:06:00")
    assert out.splitlines() == [
        "binance BTC/USDT 1m [2019-10-11 00:00:00, 2019-10-11 00:06:00) UTC: "
        "2 candles unfetched in 1 ranges, 1 venue-empty in 1 ranges",
        "venue-empty  2019-10-11 00:02:00 → 2019-10-11 00:03:00  (1 candles)",
        "unfetched    2019-10-11 00:04:00 → 2019-10-11 00:06:00  (2 candles)",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exchange", "binance", "--symbol", "DOGE/USDT", "--interval", "1m"], "no instrument"),
        (["--exchange", "binance", "--symbol", "BTC/USDT", "--interval", "7m"], "unknown interval"),
    ],
)
def test_export_errors(stored: Instrument, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        _run("export", *args, "--start", "2019-10-11", "--end", "2019-10-12")


def test_bad_dates(stored: Instrument) -> None:
    with pytest.raises(CommandError, match="not a date"):
        _run("gaps", *MARKET, "--start", "11/10/2019", "--end", "2019-10-12")
    with pytest.raises(CommandError, match="must be after"):
        _run("gaps", *MARKET, "--start", "2019-10-12", "--end", "2019-10-12")


def test_import_export_round_trip_of_the_real_file(
    instrument: Instrument, klines_fixtures: Path, tmp_path: Path
) -> None:
    source = klines_fixtures / "freqtrade" / "XRP_ETH-1m.derived.csv"
    out = _run("import", str(source), *MARKET)
    assert out.strip() == "XRP_ETH-1m.derived.csv: 2469 candles, 2469 written, 0 already present"
    assert _run("import", str(source), *MARKET).strip().endswith("0 written, 2469 already present")
    target = tmp_path / "back.csv"
    _run("export", *MARKET, "--start", "2019-10-11", "--end", "2019-10-14", "--output", str(target))
    original = source.read_text().splitlines()
    exported = target.read_text().splitlines()
    assert exported[0] == "open_time,open,high,low,close,volume"
    assert exported[1:] == original[1:]  # every value byte for byte, 2,469 rows
    assert len(exported) == 2470


def test_import_of_a_bad_csv_writes_nothing(instrument: Instrument, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "open_time,open,high,low,close,volume\n"
        "1570752000000,1.0,1.5,0.5,1.2,10\n"
        "1570752060000,1.0,0.9,0.5,1.2,10\n"  # high below open
    )
    with pytest.raises(CommandError, match="nothing was written"):
        _run("import", str(bad), *MARKET, "--covered")
    assert _rows() == 0
    assert not KlineCoverage.objects.exists()


def test_import_archive_csv_and_zip(instrument: Instrument, tmp_path: Path) -> None:
    rows = "".join(
        f"{T0 + i * MINUTE_MS},1.0,1.5,0.5,1.2,10.00,{T0 + (i + 1) * MINUTE_MS - 1},1,1,1,1,0\n" for i in range(3)
    )
    plain = tmp_path / "BTCUSDT-1m-2019-10-11.csv"
    plain.write_text(rows)
    assert _run("import", str(plain), *MARKET, "--covered").strip().endswith("3 written, 0 already present")
    assert selectors.coverage_ranges(instrument_id=instrument.pk, interval="1m") == [(T0, T0 + 3 * MINUTE_MS)]

    day = "".join(
        f"{T0 + i * MINUTE_MS},1.0,1.5,0.5,1.2,10.00,{T0 + (i + 1) * MINUTE_MS - 1},1,1,1,1,0\n" for i in range(1440)
    )
    data, checksum = archive_zip("BTCUSDT-1m-2019-10-11", day.encode())
    archive = tmp_path / "BTCUSDT-1m-2019-10-11.zip"
    archive.write_bytes(data)
    with pytest.raises(CommandError, match="CHECKSUM is missing"):
        _run("import", str(archive), *MARKET)
    (tmp_path / "BTCUSDT-1m-2019-10-11.zip.CHECKSUM").write_text(checksum)
    out = _run("import", str(archive), *MARKET)
    assert out.strip() == "BTCUSDT-1m-2019-10-11.zip: new, 1440 candles, 1437 written, 3 present"
    assert KlineArchive.objects.get().rows == 1440
    assert _rows() == 1440


def test_export_resampled_on_request_matches_the_real_5m_file(instrument: Instrument, klines_fixtures: Path) -> None:
    """Given the real XRP/ETH 1m candles, when 5m candles are asked for with --resample-from 1m, then they equal
    the real 5m file candle for candle (706 of them), and nothing is stored as 5m."""
    import pyarrow.feather as feather

    _run("import", str(klines_fixtures / "freqtrade" / "XRP_ETH-1m.derived.csv"), *MARKET)
    five = ["--exchange", "binance", "--symbol", "BTC/USDT", "--interval", "5m"]
    out = _run("export", *five, "--resample-from", "1m", "--start", "2019-10-11", "--end", "2019-10-14")
    lines = out.splitlines()
    assert lines[0] == "open_time,open,high,low,close,volume"
    table = feather.read_table(klines_fixtures / "freqtrade" / "XRP_ETH-5m.feather").to_pydict()
    assert len(lines) - 1 == len(table["date"]) == 706
    for line, date, o, h, lo, c, v in zip(
        lines[1:], table["date"], table["open"], table["high"], table["low"], table["close"], table["volume"],
        strict=True,
    ):  # fmt: skip
        t, *values = line.split(",")
        assert int(t) == int(date.timestamp() * 1000)
        assert [float(x) for x in values] == [o, h, lo, c, v]
    assert selectors.klines_open_times(instrument_id=instrument.pk, interval="5m", start_ms=0, end_ms=2**62) == []


def test_resampling_refuses_intervals_that_do_not_divide(stored: Instrument) -> None:
    with pytest.raises(CommandError, match="3m"):
        _run("export", "--exchange", "binance", "--symbol", "BTC/USDT", "--interval", "5m", "--resample-from", "3m",
             "--start", "2019-10-11", "--end", "2019-10-12")  # fmt: skip


def test_import_of_an_unknown_market_creates_it_from_the_file(db: None, tmp_path: Path) -> None:
    # Given no market list loaded (an offline machine) and an export-format CSV
    source = tmp_path / "coinbase.csv"
    source.write_text(
        "open_time,open,high,low,close,volume\n"
        f"{T0},8500.1,8510.25,8499.9,8505,1.5\n"
        f"{T0 + MINUTE_MS},8505,8506,8500,8501.75,0.00012\n"
    )
    # When it is imported
    out = _run("import", str(source), "--exchange", "coinbase", "--symbol", "btc/usd", "--interval", "1m")
    # Then the market exists, named as the venue names it, with the file's finest steps, and holds both candles
    instrument = Instrument.objects.get()
    assert (instrument.exchange, instrument.symbol, instrument.venue_symbol) == ("coinbase", "BTC/USD", "BTC-USD")
    assert (instrument.market_type, instrument.base, instrument.quote, instrument.settle) == (
        "spot",
        "BTC",
        "USD",
        None,
    )
    assert (str(instrument.tick_size), str(instrument.lot_size)) == ("0.01", "0.00001")
    assert "2 candles, 2 written" in out
    stored = selectors.klines_read(instrument_id=instrument.pk, interval="1m", start_ms=T0, end_ms=T0 + 2 * MINUTE_MS)
    assert [c.close for c in stored] == ["8505", "8501.75"]


def test_import_of_an_unknown_market_with_a_bad_file_creates_nothing(db: None, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("open_time,open,high,low,close,volume\n1570752000000,1.0,0.9,0.5,1.2,10\n")  # high below open
    with pytest.raises(CommandError, match="nothing was written"):
        _run("import", str(bad), *MARKET)
    assert not Instrument.objects.exists()
    assert _rows() == 0


def test_import_of_a_market_the_venue_does_not_have_creates_nothing(db: None, tmp_path: Path) -> None:
    source = tmp_path / "perp.csv"
    source.write_text(f"open_time,open,high,low,close,volume\n{T0},1.0,1.5,0.5,1.2,10\n")
    with pytest.raises(CommandError, match="coinbase has no perp markets"):
        _run("import", str(source), "--exchange", "coinbase", "--symbol", "BTC/USD:USD", "--interval", "1m")
    assert not Instrument.objects.exists()
    assert _rows() == 0
