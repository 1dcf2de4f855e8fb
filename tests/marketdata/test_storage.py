"""Kline storage: exact round trip, one row per key, the open candle replaced, coverage in the same transaction."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from django.db import connection

from marketdata import selectors, services
from marketdata.core.candle_rows import candle_rows_from_candles, candle_rows_join
from marketdata.core.candles import Candle, CandleError
from marketdata.core.intervals import INTERVALS, MINUTE_MS
from marketdata.core.rest import InstrumentInfo
from marketdata.core.venues import MarketType, Venue
from marketdata.models import Instrument, Kline, KlineCoverage, KlineDownloadJob

T0 = 1_700_000_040_000  # on the minute grid


def _rows(instrument: Instrument) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM marketdata_kline WHERE instrument_id = %s", [instrument.pk])
        return int(cursor.fetchone()[0])


CANDLES = [
    Candle(T0, "0.01634790", "0.01640000", "0.01630000", "0.01635000", "120.50000000"),
    Candle(T0 + MINUTE_MS, "34161.6", "34182.5", "33977.4", "34024.2", "409953"),
    Candle(T0 + 2 * MINUTE_MS, "1.0", "1.10", "0.900", "1.0000", "0"),
]


def test_decimal_text_round_trips_unchanged(instrument: Instrument) -> None:
    result = services.klines_store(instrument_id=instrument.pk, interval="1m", candles=CANDLES, covered=None)
    assert (result.written, result.present) == (3, 0)
    assert selectors.klines_read(instrument_id=instrument.pk, interval="1m", start_ms=0, end_ms=2**62) == CANDLES
    # The ORM model reads the same values with their scale.
    assert Kline.objects.get(instrument=instrument, interval="1m", open_time=T0).open.as_tuple().exponent == -8


def test_instrument_steps_keep_their_scale(db: None) -> None:
    info = InstrumentInfo(
        venue=Venue.BINANCE,
        market_type=MarketType.PERP,
        symbol="BTC/USDT:USDT",
        venue_symbol="BTCUSDT",
        base="BTC",
        quote="USDT",
        settle="USDT",
        tick_size="0.10",
        lot_size="0.001000",
        listed_at=datetime(2019, 9, 8, tzinfo=UTC),
        active=True,
    )
    assert services.instrument_upsert_many(infos=[info]) == 1
    assert services.instrument_upsert_many(infos=[info]) == 1  # an update, not a second row
    stored = Instrument.objects.get(exchange="binance", symbol="BTC/USDT:USDT")
    assert (str(stored.tick_size), str(stored.lot_size)) == ("0.10", "0.001000")
    assert Instrument.objects.count() == 1
    services.instrument_set_tracked(instrument_id=stored.pk, tracked=True, intervals=["1m", "1h", "1m"])
    stored.refresh_from_db()
    assert (stored.tracked, stored.tracked_intervals) == (True, ["1m", "1h"])


def test_a_second_store_writes_nothing_and_reports_present(instrument: Instrument) -> None:
    services.klines_store(instrument_id=instrument.pk, interval="1m", candles=CANDLES, covered=None)
    again = services.klines_store(instrument_id=instrument.pk, interval="1m", candles=CANDLES, covered=None)
    assert (again.written, again.present) == (0, 3)
    assert _rows(instrument) == 3


def test_the_primary_key_refuses_a_duplicate_row(instrument: Instrument) -> None:
    services.klines_store(instrument_id=instrument.pk, interval="1m", candles=CANDLES[:1], covered=None)
    with pytest.raises(Exception, match="duplicate key"), connection.cursor() as cursor:
        cursor.execute("INSERT INTO marketdata_kline VALUES (%s, '1m', %s, 1, 1, 1, 1, 1, true)", [instrument.pk, T0])


def test_the_open_candle_is_replaced_when_it_closes_and_never_duplicated(instrument: Instrument) -> None:
    open_candle = Candle(T0, "10.0", "10.5", "9.5", "10.2", "3.0", closed=False)
    later = Candle(T0, "10.0", "10.9", "9.5", "10.8", "4.5", closed=False)
    final = Candle(T0, "10.0", "11.0", "9.4", "10.7", "5.25", closed=True)
    stale = Candle(T0, "10.0", "10.5", "9.5", "10.2", "3.0", closed=False)
    assert (
        services.klines_store(instrument_id=instrument.pk, interval="1m", candles=[open_candle], covered=None).written
        == 1
    )
    assert services.klines_store(instrument_id=instrument.pk, interval="1m", candles=[later], covered=None).written == 1
    assert services.klines_store(instrument_id=instrument.pk, interval="1m", candles=[final], covered=None).written == 1
    # A late open update after the close changes nothing.
    result = services.klines_store(instrument_id=instrument.pk, interval="1m", candles=[stale], covered=None)
    assert (result.written, result.present) == (0, 1)
    assert selectors.klines_read(instrument_id=instrument.pk, interval="1m", start_ms=0, end_ms=2**62) == [final]
    assert _rows(instrument) == 1


@pytest.mark.parametrize(
    ("candle", "message"),
    [
        (Candle(T0 + 1, "1", "1", "1", "1", "1"), "not on the 1m grid"),
        (Candle(T0, "1E-8", "1", "0", "1", "1"), "not plain decimal text"),
        (Candle(T0, "1\t", "1", "1", "1", "1"), "not plain decimal text"),
        (Candle(T0, "1", "1", "1", "1", "\u0661"), "not plain decimal text"),  # a digit, but not one NUMERIC takes
        (Candle(T0, "2", "1", "1", "1", "1"), "outside"),
    ],
)
def test_bad_candles_write_nothing(instrument: Instrument, candle: Candle, message: str) -> None:
    with pytest.raises(CandleError, match=message):
        services.klines_store(
            instrument_id=instrument.pk, interval="1m", candles=[CANDLES[1], candle], covered=(T0, T0 + MINUTE_MS)
        )
    assert _rows(instrument) == 0
    assert not KlineCoverage.objects.exists()


def test_checked_rows_of_the_download_store_like_candles(instrument: Instrument) -> None:
    rows = candle_rows_join([candle_rows_from_candles(CANDLES[1:], INTERVALS["1m"]),
                             candle_rows_from_candles(CANDLES[:1], INTERVALS["1m"])])  # fmt: skip

    result = services.klines_store(instrument_id=instrument.pk, interval="1m", candles=rows, covered=None)

    assert (result.written, result.present) == (3, 0)
    assert selectors.klines_read(instrument_id=instrument.pk, interval="1m", start_ms=0, end_ms=2**62) == CANDLES


def test_rows_checked_for_another_interval_write_nothing(instrument: Instrument) -> None:
    rows = candle_rows_from_candles(CANDLES, INTERVALS["1m"])

    with pytest.raises(ValueError, match="1m rows cannot be stored as 3m candles"):
        services.klines_store(instrument_id=instrument.pk, interval="3m", candles=rows, covered=None)
    assert _rows(instrument) == 0


def test_a_copy_longer_than_one_chunk_keeps_every_line_whole(instrument: Instrument, monkeypatch) -> None:
    candles = [Candle(T0 + i * MINUTE_MS, "1.5", "2", "1", "1.25", str(i)) for i in range(500)]
    monkeypatch.setattr("marketdata.services.klines.COPY_CHUNK", 1000)  # about 30 lines a chunk

    services.klines_store(instrument_id=instrument.pk, interval="1m", candles=candles, covered=None)

    assert selectors.klines_read(instrument_id=instrument.pk, interval="1m", start_ms=0, end_ms=2**62) == candles


def test_rows_and_coverage_commit_together(instrument: Instrument) -> None:
    result = services.klines_store(
        instrument_id=instrument.pk, interval="1m", candles=CANDLES, covered=(T0, T0 + 5 * MINUTE_MS)
    )
    assert result.written == 3
    assert selectors.coverage_ranges(instrument_id=instrument.pk, interval="1m") == [(T0, T0 + 5 * MINUTE_MS)]
    report = selectors.klines_gaps(instrument_id=instrument.pk, interval="1m", start_ms=T0, end_ms=T0 + 6 * MINUTE_MS)
    assert report.venue_empty == ((T0 + 3 * MINUTE_MS, T0 + 5 * MINUTE_MS),)
    assert report.unfetched == ((T0 + 5 * MINUTE_MS, T0 + 6 * MINUTE_MS),)


def test_unknown_instrument_writes_nothing(db: None) -> None:
    with pytest.raises(services.InstrumentNotFound):
        services.klines_store(instrument_id=424242, interval="1m", candles=CANDLES, covered=(T0, T0 + MINUTE_MS))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM marketdata_kline")
        assert cursor.fetchone()[0] == 0


def test_overlapping_store_merges_through_staging(instrument: Instrument) -> None:
    services.klines_store(instrument_id=instrument.pk, interval="1m", candles=CANDLES[:2], covered=None)
    result = services.klines_store(instrument_id=instrument.pk, interval="1m", candles=CANDLES[1:], covered=None)
    assert (result.written, result.present) == (1, 1)
    assert _rows(instrument) == 3


def test_export_csv_is_byte_exact(instrument: Instrument) -> None:
    services.klines_store(instrument_id=instrument.pk, interval="1m", candles=CANDLES, covered=None)
    out = io.BytesIO()
    selectors.klines_export(
        instrument_id=instrument.pk, interval="1m", start_ms=T0, end_ms=T0 + 2 * MINUTE_MS, out=out, format="csv"
    )
    assert out.getvalue() == (
        b"open_time,open,high,low,close,volume\n"
        b"1700000040000,0.01634790,0.01640000,0.01630000,0.01635000,120.50000000\n"
        b"1700000100000,34161.6,34182.5,33977.4,34024.2,409953\n"
    )


def test_export_parquet_keeps_the_decimal_text(instrument: Instrument) -> None:
    services.klines_store(instrument_id=instrument.pk, interval="1m", candles=CANDLES, covered=None)
    out = io.BytesIO()
    selectors.klines_export(
        instrument_id=instrument.pk, interval="1m", start_ms=0, end_ms=2**62, out=out, format="parquet"
    )
    table = pq.read_table(io.BytesIO(out.getvalue()))
    assert table.column_names == ["open_time", "open", "high", "low", "close", "volume"]
    assert table.column("open_time").to_pylist() == [c.open_time for c in CANDLES]
    assert table.column("open").to_pylist() == ["0.01634790", "34161.6", "1.0"]
    assert table.column("volume").to_pylist() == ["120.50000000", "409953", "0"]
    assert Decimal(table.column("high").to_pylist()[2]) == Decimal("1.1")


def test_delete_removes_rows_and_their_coverage(instrument: Instrument) -> None:
    services.klines_store(instrument_id=instrument.pk, interval="1m", candles=CANDLES, covered=(T0, T0 + 3 * MINUTE_MS))
    deleted = services.klines_delete(
        instrument_id=instrument.pk, interval="1m", start_ms=T0 + MINUTE_MS, end_ms=T0 + 2 * MINUTE_MS
    )
    assert deleted == 1
    assert selectors.coverage_ranges(instrument_id=instrument.pk, interval="1m") == [
        (T0, T0 + MINUTE_MS),
        (T0 + 2 * MINUTE_MS, T0 + 3 * MINUTE_MS),
    ]


def test_download_job_reports_progress(db: None) -> None:
    job = services.download_job_start(parameters={"exchange": ["binance"], "interval": "1m"}, total=10)
    services.download_job_progress(job_id=job.pk, done=4, rows_written=4000, rows_present=10, requests=4, retries=1)
    services.download_job_progress(job_id=job.pk, done=6, rows_written=2000, requests=6)
    services.download_job_finish(job_id=job.pk, gaps_left=2)
    job.refresh_from_db()
    assert (job.status, job.progress_done, job.progress_total) == ("done", 10, 10)
    assert (job.rows_written, job.rows_present, job.requests, job.retries, job.gaps_left) == (6000, 10, 10, 1, 2)
    assert job.finished_at is not None
    services.download_job_finish(job_id=job.pk, gaps_left=2, error="HTTP 418")
    assert KlineDownloadJob.objects.get(pk=job.pk).status == "failed"
