"""Archives imported concurrently (archives_import_many) and the checked rows path of archive_import.

The parallel tests use ``transactional_db``: the worker threads commit on connections of their own, which cannot
see rows inside a test's transaction.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from django.db import connection, transaction

from marketdata import selectors, services
from marketdata.archive_loading import ArchiveItem, archives_import_many
from marketdata.core.archives import ArchiveError, archive_period_range
from marketdata.core.candles import Candle
from marketdata.core.intervals import HOUR_MS
from marketdata.models import Instrument, KlineArchive, KlineCoverage
from tests.marketdata.conftest import archive_zip
from tests.marketdata.factories import InstrumentFactory

MONTHS = ("2024-01", "2024-02", "2024-03", "2024-04")
HOURS = {"2024-01": 744, "2024-02": 696, "2024-03": 744, "2024-04": 720}  # 2024 is a leap year


def _csv(period: str, *, price: str = "100.00000000", high: str = "100.50000000", scale: int = 1) -> bytes:
    """A 1h archive CSV of the period (low 99); ``scale`` 1000 writes microsecond open times (spot from 2025)."""
    start, end = archive_period_range(period)
    step_ms = HOUR_MS
    return "".join(
        f"{t * scale},{price},{high},99.00000000,{price},1.50000000,{(t + step_ms - 1) * scale},150.0,3,0.5,50.0,0\n"
        for t in range(start, end, step_ms)
    ).encode()


def _item(instrument: Instrument, period: str, csv: bytes, *, interval: str = "1h", symbol: str = "BTCUSDT"):  # type: ignore[no-untyped-def]
    name = f"{symbol}-{interval}-{period}"
    data, checksum = archive_zip(name, csv)
    return ArchiveItem(
        instrument_id=instrument.pk,
        interval=interval,
        period=period,
        url=f"http://127.0.0.1:9/data/spot/monthly/klines/{symbol}/{interval}/{name}.zip",
        zip_bytes=data,
        checksum_text=checksum,
    )


def _rows(instrument_id: int, start_ms: int = 0, end_ms: int = 2**62) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM marketdata_kline WHERE instrument_id = %s AND open_time >= %s AND open_time < %s",
            [instrument_id, start_ms, end_ms],
        )
        return int(cursor.fetchone()[0])


def _other_backends() -> set[int]:
    """Backend pids of the test database other than this connection's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {int(row[0]) for row in cursor.fetchall()}


@pytest.fixture
def btc(transactional_db: None) -> Instrument:
    return InstrumentFactory(symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC")


@pytest.fixture
def eth(transactional_db: None) -> Instrument:
    return InstrumentFactory(symbol="ETH/USDT", venue_symbol="ETHUSDT", base="ETH")


def test_many_months_of_two_markets_in_input_order(btc: Instrument, eth: Instrument) -> None:
    # Given four months of one market and two of another, interleaved
    items = [_item(btc, period, _csv(period)) for period in MONTHS]
    items.insert(
        2, _item(eth, "2024-02", _csv("2024-02", price="2000.00000000", high="2000.50000000"), symbol="ETHUSDT")
    )
    items.append(_item(eth, "2024-03", _csv("2024-03", price="2000.00000000", high="2000.50000000"), symbol="ETHUSDT"))
    # When they are imported on three connections (connections other tests left open are not theirs)
    before = _other_backends()
    results = archives_import_many(items=items, workers=3)
    # Then each result stands at its item's place
    expected = [HOURS["2024-01"], HOURS["2024-02"], HOURS["2024-02"], HOURS["2024-03"], HOURS["2024-04"]]
    expected.append(HOURS["2024-03"])
    assert [(r.status, r.rows, r.written, r.present) for r in results] == [  # type: ignore[union-attr]
        ("new", n, n, 0) for n in expected
    ]
    assert [r.sha256 for r in results] == [item.checksum_text.split()[0] for item in items]  # type: ignore[union-attr]
    assert _rows(btc.pk) == 744 + 696 + 744 + 720
    assert _rows(eth.pk) == 696 + 744
    # And adjacent months merged into one covered range per market, whatever order they committed in
    assert selectors.coverage_ranges(instrument_id=btc.pk, interval="1h") == [
        (archive_period_range("2024-01")[0], archive_period_range("2024-04")[1])
    ]
    assert selectors.coverage_ranges(instrument_id=eth.pk, interval="1h") == [
        (archive_period_range("2024-02")[0], archive_period_range("2024-03")[1])
    ]
    assert KlineArchive.objects.count() == 6
    stored = selectors.klines_read(instrument_id=eth.pk, interval="1h", start_ms=0, end_ms=2**62, limit=1)
    assert stored == [Candle(archive_period_range("2024-02")[0], "2000.00000000", "2000.50000000", "99.00000000",
                             "2000.00000000", "1.50000000")]  # fmt: skip
    # And the worker connections are closed (a backend leaves pg_stat_activity a moment after its client)
    deadline = time.monotonic() + 5
    while _other_backends() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _other_backends() - before == set()


def test_a_bad_item_fails_alone_and_writes_nothing(btc: Instrument) -> None:
    good = [_item(btc, period, _csv(period)) for period in ("2024-01", "2024-03")]
    bad_row = _item(btc, "2024-02", _csv("2024-02").replace(b"99.00000000", b"abc", 1))
    bad_sum = _item(btc, "2024-04", _csv("2024-04"))
    bad_sum = replace(bad_sum, checksum_text="0" * 64 + "  BTCUSDT-1h-2024-04.zip\n")
    unknown = replace(_item(btc, "2024-05", _csv("2024-05")), instrument_id=btc.pk + 1000)

    results = archives_import_many(items=[good[0], bad_row, unknown, good[1], bad_sum], workers=2)

    assert [type(r).__name__ for r in results] == [
        "ArchiveResult", "ArchiveError", "ArchiveError", "ArchiveResult", "ArchiveError"
    ]  # fmt: skip
    assert "invalid input syntax for type numeric" in str(results[1])
    assert "InstrumentNotFound" in str(results[2])
    assert isinstance(results[2].__cause__, services.InstrumentNotFound)
    assert "does not match" in str(results[4])
    assert _rows(btc.pk) == 744 + 744
    for period in ("2024-02", "2024-04"):
        assert _rows(btc.pk, *archive_period_range(period)) == 0
    assert _rows(btc.pk + 1000) == 0
    assert sorted(KlineArchive.objects.values_list("period", flat=True)) == ["2024-01", "2024-03"]
    assert selectors.coverage_ranges(instrument_id=btc.pk, interval="1h") == [
        archive_period_range("2024-01"),
        archive_period_range("2024-03"),
    ]


def test_one_period_twice_is_imported_once(btc: Instrument) -> None:
    item = _item(btc, "2024-01", _csv("2024-01"))
    results = archives_import_many(items=[item, item], workers=2)
    assert sorted(r.status for r in results) == ["new", "unchanged"]  # type: ignore[union-attr]
    assert _rows(btc.pk) == 744
    assert KlineArchive.objects.count() == 1


def test_inside_a_transaction_it_refuses(btc: Instrument) -> None:
    with transaction.atomic(), pytest.raises(RuntimeError, match="outside a transaction"):
        archives_import_many(items=[_item(btc, "2024-01", _csv("2024-01"))])
    assert _rows(btc.pk) == 0
    with pytest.raises(ValueError, match="at least 1"):
        archives_import_many(items=[], workers=0)
    assert archives_import_many(items=[]) == []


# -- the rows path of archive_import (one connection, the test's transaction) -------------------------------


@pytest.fixture
def instrument(db: None) -> Instrument:
    return InstrumentFactory(symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC")


def _import(item: ArchiveItem) -> services.ArchiveResult:
    return services.archive_import(
        instrument_id=item.instrument_id,
        interval=item.interval,
        period=item.period,
        url=item.url,
        zip_bytes=item.zip_bytes,
        checksum_text=item.checksum_text,
    )


def test_microsecond_and_header_files_store_milliseconds(instrument: Instrument) -> None:
    micro = _csv("2025-01", scale=1000)
    assert micro.startswith(b"1735689600000000,")
    result = _import(_item(instrument, "2025-01", b"open_time,open,high,low,close,volume,x,y,z,a,b,c\n" + micro))
    assert (result.rows, result.written) == (744, 744)
    times = selectors.klines_open_times(instrument_id=instrument.pk, interval="1h", start_ms=0, end_ms=2**62)
    start, end = archive_period_range("2025-01")
    assert times == list(range(start, end, HOUR_MS))


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        (_csv("2025-01", scale=1000).replace(b"1735689600000000,", b"1735689600000001,", 1), "whole milliseconds"),
        (_csv("2024-01").replace(b"1704067200000,", b"1704067260000,", 1), "1 rows off the 1h grid"),
        (_csv("2024-01") + _csv("2024-02")[:200].split(b"\n")[0] + b"\n", "1 rows outside 2024-01"),
        (_csv("2024-01").replace(b",0\n", b"\n", 1), "Expected 12 columns, got 11"),
        (_csv("2024-01").replace(b"1704070800000,", b"1704070800000.5,", 1), "int64"),
        (_csv("2024-01").replace(b",100.50000000,", b",,", 1), "null value"),
    ],
    ids=["microseconds", "grid", "outside", "columns", "open-time", "empty-field"],
)
def test_bad_rows_write_nothing(instrument: Instrument, csv: bytes, message: str) -> None:
    period = "2025-01" if csv.startswith(b"17356") else "2024-01"
    with pytest.raises(ArchiveError, match=message):
        _import(_item(instrument, period, csv))
    assert _rows(instrument.pk) == 0
    assert not KlineCoverage.objects.exists()
    assert not KlineArchive.objects.exists()


def test_monthly_candles_are_checked_against_the_calendar(instrument: Instrument) -> None:
    feb, mar = archive_period_range("2024-02")[0], archive_period_range("2024-03")[0]
    row = "{t},1.0,2.0,0.5,1.5,10,{e},1,1,1,1,0\n"
    result = _import(_item(instrument, "2024-02", row.format(t=feb, e=mar - 1).encode(), interval="1M"))
    assert (result.rows, result.written) == (1, 1)
    with pytest.raises(ArchiveError, match="1 rows off the 1M grid"):
        _import(_item(instrument, "2024-03", row.format(t=mar + HOUR_MS, e=mar + 2 * HOUR_MS).encode(), interval="1M"))
    assert _rows(instrument.pk) == 1


def test_stored_candles_in_the_period_are_merged(instrument: Instrument) -> None:
    # Given a closed candle and the open one stored by REST inside January
    start = archive_period_range("2024-01")[0]
    services.klines_store(
        instrument_id=instrument.pk,
        interval="1h",
        candles=[
            Candle(start, "1.0", "2.0", "0.5", "1.5", "10"),
            Candle(start + HOUR_MS, "1.0", "2.0", "0.5", "1.5", "10", closed=False),
        ],
        covered=None,
    )
    # When January's archive comes in
    result = _import(_item(instrument, "2024-01", _csv("2024-01")))
    # Then the closed candle stays, the open one is replaced, the rest is written
    assert (result.rows, result.written, result.present) == (744, 743, 1)
    stored = selectors.klines_read(
        instrument_id=instrument.pk, interval="1h", start_ms=start, end_ms=start + 2 * HOUR_MS
    )
    assert stored == [
        Candle(start, "1.0", "2.0", "0.5", "1.5", "10"),
        Candle(start + HOUR_MS, "100.00000000", "100.50000000", "99.00000000", "100.00000000", "1.50000000"),
    ]
    assert _rows(instrument.pk) == 744


def test_an_empty_archive_covers_its_period(instrument: Instrument) -> None:
    result = _import(_item(instrument, "2024-01", b""))
    assert (result.rows, result.written) == (0, 0)
    assert selectors.coverage_ranges(instrument_id=instrument.pk, interval="1h") == [archive_period_range("2024-01")]
