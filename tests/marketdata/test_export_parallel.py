"""The two-connection CSV export writes exactly the bytes of the single COPY.

``transactional_db``: the export's worker connections only see committed rows, and the parallel path is taken
only outside a transaction (inside one, the caller's connection runs the COPY).
"""

from __future__ import annotations

import io
import time

import pytest
from django.db import connection, transaction

from marketdata import selectors, services
from marketdata.core.candles import Candle
from marketdata.core.intervals import MINUTE_MS
from marketdata.models import Instrument
from tests.marketdata.factories import InstrumentFactory

START = 1_704_067_200_000  # 2024-01-01 00:00 UTC
CANDLES = selectors.PARALLEL_EXPORT_FROM + 3 * selectors.EXPORT_CHUNK_CANDLES + 17  # chunks of both workers, one part


def _candles(count: int, *, skip: range = range(0)) -> list[Candle]:
    """Minute candles with varied decimal scales (the text must come back as written), a hole at ``skip``."""
    rows = []
    for i in range(count):
        if i in skip:
            continue
        price = f"{100 + i % 997}.{i % 10_000:04d}"
        rows.append(Candle(START + i * MINUTE_MS, price, f"{101 + i % 997}.5", f"{99 + i % 997}", price, f"{i % 7}.00"))
    return rows


@pytest.fixture
def stored(transactional_db: None) -> Instrument:
    instrument = InstrumentFactory(symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC")
    # A hole longer than a chunk, so one worker has an empty chunk to skip.
    skip = range(2 * selectors.EXPORT_CHUNK_CANDLES + 5, 3 * selectors.EXPORT_CHUNK_CANDLES + 9)
    services.klines_store(
        instrument_id=instrument.pk, interval="1m", candles=_candles(CANDLES, skip=skip), covered=None
    )
    services.klines_store(
        instrument_id=instrument.pk,
        interval="1m",
        candles=[Candle(START + CANDLES * MINUTE_MS, "1.0", "1.0", "1.0", "1.0", "0", closed=False)],
        covered=None,
    )
    return instrument


def _export(instrument: Instrument, start_ms: int, end_ms: int, *, single: bool) -> tuple[int, bytes]:
    out = io.BytesIO()
    if single:
        with transaction.atomic():  # the caller holds a transaction: one COPY on its own connection
            written = selectors.klines_export(
                instrument_id=instrument.pk, interval="1m", start_ms=start_ms, end_ms=end_ms, out=out
            )
    else:
        written = selectors.klines_export(
            instrument_id=instrument.pk, interval="1m", start_ms=start_ms, end_ms=end_ms, out=out
        )
    return written, out.getvalue()


@pytest.mark.parametrize(
    ("start_offset", "end_offset"),
    [(0, CANDLES + 1), (-5_000, CANDLES + 50_000), (123, CANDLES - 77)],
    ids=["exact", "wider", "unaligned"],
)
def test_parallel_bytes_equal_single_copy(stored: Instrument, start_offset: int, end_offset: int) -> None:
    start_ms, end_ms = START + start_offset * MINUTE_MS, START + end_offset * MINUTE_MS
    single_written, single = _export(stored, start_ms, end_ms, single=True)
    parallel_written, parallel = _export(stored, start_ms, end_ms, single=False)
    assert parallel == single
    assert parallel_written == single_written == len(single)
    lines = single.split(b"\n")
    assert lines[0] == b"open_time,open,high,low,close,volume"
    assert lines[-1] == b""
    hole = 3 * selectors.EXPORT_CHUNK_CANDLES + 9 - (2 * selectors.EXPORT_CHUNK_CANDLES + 5)
    expected = min(end_offset, CANDLES + 1) - max(start_offset, 0)
    expected -= hole if start_offset < 2 * selectors.EXPORT_CHUNK_CANDLES else 0
    assert len(lines) - 2 == expected
    assert lines[1].startswith(f"{START + max(start_offset, 0) * MINUTE_MS},".encode())


def test_parallel_path_is_taken_and_closes_its_connections(stored: Instrument, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    parallel = selectors._lines_out_parallel

    def spy(instrument_id: int, interval: str, chunk_ms: int, start_ms: int, end_ms: int, out: io.BytesIO) -> int:
        calls.append((start_ms, end_ms))
        return parallel(instrument_id, interval, chunk_ms, start_ms, end_ms, out)

    monkeypatch.setattr(selectors, "_lines_out_parallel", spy)
    start_ms, end_ms = START, START + (CANDLES + 1) * MINUTE_MS
    _, expected = _export(stored, start_ms, end_ms, single=True)
    assert calls == []
    before = _backends()
    _, data = _export(stored, start_ms, end_ms, single=False)
    assert calls == [(start_ms, end_ms)]
    assert data == expected
    assert _backends(settle_to=before) == before


# Seven placeholders, as the real query: the failure comes from the server, in a worker thread.
_BROKEN_SQL = "SELECT no_such_column" + ", %s" * 7


def test_a_failing_worker_raises_and_closes_its_connections(
    stored: Instrument, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _backends()
    monkeypatch.setattr(selectors, "_CHUNKS_SQL", _BROKEN_SQL)
    with pytest.raises(Exception, match="no_such_column"):
        _export(stored, START, START + (CANDLES + 1) * MINUTE_MS, single=False)
    assert _backends(settle_to=before) == before


def test_the_small_window_stays_on_one_copy(stored: Instrument, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selectors, "_CHUNKS_SQL", _BROKEN_SQL)
    written, data = _export(stored, START, START + 10 * MINUTE_MS, single=False)
    assert data.count(b"\n") == 11
    assert written == len(data)


def _backends(settle_to: int | None = None) -> int:
    """Backends on the test database; a closed connection's backend leaves a moment after its client, so with
    ``settle_to`` this waits (up to 5 s) for the count to come down to it."""
    deadline = time.monotonic() + 5
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            count = int(cursor.fetchone()[0])
        if settle_to is None or count <= settle_to or time.monotonic() > deadline:
            return count
        time.sleep(0.05)
