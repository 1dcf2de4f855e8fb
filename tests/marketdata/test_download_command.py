"""``manage.py klines download``: the interface operators and scripts use, and kill -9 then resume on a real process."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command

from marketdata import selectors
from marketdata.core.intervals import DAY_MS, INTERVALS, MINUTE_MS
from marketdata.core.venues import MarketType, Venue
from marketdata.models import Instrument, KlineDownloadJob
from tests import live_processes
from tests.marketdata.fakes import FakeBinance, FakeBybit, Market

DAY0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
M1 = INTERVALS["1m"]
BINANCE_SPOT = Market(Venue.BINANCE, MarketType.SPOT, "BTCUSDT", listed_ms=DAY0 - 30 * DAY_MS)
BYBIT_PERP = Market(Venue.BYBIT, MarketType.PERP, "BTCUSDT", listed_ms=DAY0 - 30 * DAY_MS)


@pytest.fixture
def fakes(settings) -> Iterator[tuple[FakeBinance, FakeBybit]]:  # type: ignore[no-untyped-def]
    with FakeBinance([BINANCE_SPOT]) as binance, FakeBybit([BYBIT_PERP]) as bybit:
        settings.BINANCE_REST_URL = binance.url
        settings.BINANCE_FUTURES_REST_URL = binance.url
        settings.BYBIT_REST_URL = bybit.url
        settings.BINANCE_ARCHIVE_URL = "http://127.0.0.1:9/"  # nothing listens: archives must not be needed here
        yield binance, bybit


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("klines", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_download_loads_the_market_list_then_the_candles_and_prints_a_summary(fakes):
    out, err = run(
        "download", "--exchange", "binance", "--exchange", "bybit", "--symbol", "BTC/USDT", "--symbol",
        "BTC/USDT:USDT", "--interval", "1m", "--start", "2024-01-01", "--end", "2024-01-01T12:00", "--no-archives",
    )  # fmt: skip
    # Binance lists only the spot market and Bybit only the perpetual: the other two combinations are skipped.
    assert out.strip() == "1440 rows written, 0 already present, 2 requests, 0 retries, 0 candles in gaps left"
    assert "binance: no market BTC/USDT:USDT; skipped" in err
    assert "bybit: no market BTC/USDT; skipped" in err
    spot = Instrument.objects.get(exchange="binance", symbol="BTC/USDT")
    perp = Instrument.objects.get(exchange="bybit", symbol="BTC/USDT:USDT")
    assert (perp.market_type, perp.venue_symbol, perp.settle) == ("perp", "BTCUSDT", "USDT")
    end = DAY0 + 720 * MINUTE_MS
    for instrument, market in ((spot, BINANCE_SPOT), (perp, BYBIT_PERP)):
        rows = selectors.klines_read(instrument_id=instrument.pk, interval="1m", start_ms=DAY0, end_ms=end)
        assert rows == market.candles(M1, DAY0, end, end + DAY_MS)
    job = KlineDownloadJob.objects.get()
    assert (job.status, job.rows_written, job.progress_done, job.progress_total) == ("done", 1440, 1440, 1440)
    assert "loading binance's spot market list" in err


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbol", "BTCUSDT"], "not a unified symbol"),
        (["--symbol", "DOGE/USDT"], "DOGE/USDT: no such market at binance"),
        (["--interval", "7m"], "unknown interval '7m'"),
        (["--start", "2024-02-01"], "must be after --start"),
        (["--start", "yesterday"], "not a date or ISO datetime"),
    ],
)
def test_download_refuses_bad_input_and_writes_nothing(fakes, args, message):
    base = {"--exchange": "binance", "--symbol": "BTC/USDT", "--interval": "1m", "--start": "2024-01-01",
            "--end": "2024-01-02"}  # fmt: skip
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    with pytest.raises(CommandError, match=message):
        run("download", *(x for pair in base.items() for x in pair))
    assert not selectors.klines_read(instrument_id=0, interval="1m", start_ms=0, end_ms=2**62)
    assert KlineDownloadJob.objects.count() == 0


@pytest.mark.django_db
def test_an_interval_the_venue_lacks_is_an_error_when_no_venue_asked_has_it(fakes):
    with pytest.raises(CommandError, match="1s: no market with this interval at bybit"):
        run("download", "--exchange", "bybit", "--symbol", "BTC/USDT:USDT", "--interval", "1s",
            "--start", "2024-01-01", "--end", "2024-01-02")  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_kill_9_mid_download_then_rerun_finishes_without_duplicates_or_refetching(tmp_path, redis_namespace):
    """A real ``manage.py klines download`` process is SIGKILLed while it stores; the re-run completes the range
    with every candle exactly once and never asks again for a window that was stored."""
    start, end = DAY0, DAY0 + 3 * DAY_MS
    s1 = INTERVALS["1s"]
    with FakeBinance([BINANCE_SPOT]) as binance:
        env = live_processes.child_env(
            redis_namespace, BINANCE_REST_URL=binance.url, BINANCE_ARCHIVE_URL="http://127.0.0.1:9/"
        )
        command = [sys.executable, "manage.py", "klines", "download", "--exchange", "binance", "--symbol",
                   "BTC/USDT", "--interval", "1s", "--start", "2024-01-01", "--end", "2024-01-04", "--no-archives",
                   "--concurrency", "1"]  # fmt: skip
        first = live_processes.process_start(command, env=env, log_path=tmp_path / "first.log")
        try:
            instrument = live_processes.wait_until(
                lambda: Instrument.objects.filter(exchange="binance", symbol="BTC/USDT").first(),
                timeout=60,
                what="the instrument list loaded",
                log_path=tmp_path / "first.log",
            )
            live_processes.wait_until(
                lambda: len(selectors.klines_open_times(
                    instrument_id=instrument.pk, interval="1s", start_ms=start, end_ms=end)) >= 30_000 or None,
                timeout=120,
                what="30,000 candles stored",
                log_path=tmp_path / "first.log",
            )  # fmt: skip
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            live_processes.process_stop(first)
        assert first.returncode == -signal.SIGKILL
        covered_at_kill = selectors.coverage_ranges(instrument_id=instrument.pk, interval="1s")
        stored_at_kill = len(selectors.klines_open_times(instrument_id=instrument.pk, interval="1s",
                                                         start_ms=start, end_ms=end))  # fmt: skip
        assert 30_000 <= stored_at_kill < 259_200
        first_requests = [r for r in binance.requests.snapshot() if r.path == "/api/v3/klines"]

        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert second.returncode == 0, second.stderr
        second_requests = [r for r in binance.requests.snapshot() if r.path == "/api/v3/klines"][len(first_requests) :]

    # every candle exactly once, text for text
    rows = selectors.klines_read(instrument_id=instrument.pk, interval="1s", start_ms=start, end_ms=end)
    assert len(rows) == 259_200
    assert rows == BINANCE_SPOT.candles(s1, start, end, end + DAY_MS)
    # nothing stored before the kill was asked for again
    for request in second_requests:
        asked = (int(request.params["startTime"]), int(request.params["endTime"]) + 1)
        assert not any(lo <= asked[0] and asked[1] <= hi for lo, hi in covered_at_kill), asked
    assert len(second_requests) == -(-(259_200 - sum(s1.count(lo, hi) for lo, hi in covered_at_kill)) // 1000)
    assert second.stdout.strip().endswith("0 candles in gaps left")


@pytest.mark.django_db
def test_markets_loads_each_venue_list_with_unified_symbols(fakes):
    out, _ = run("markets", "--exchange", "binance", "--exchange", "bybit")
    assert out.splitlines() == [
        "binance spot: 1 markets loaded",
        "binance perp: 0 markets loaded",
        "bybit spot: 0 markets loaded",
        "bybit perp: 1 markets loaded",
    ]
    assert sorted(Instrument.objects.values_list("exchange", "symbol", "venue_symbol", "market_type")) == [
        ("binance", "BTC/USDT", "BTCUSDT", "spot"),
        ("bybit", "BTC/USDT:USDT", "BTCUSDT", "perp"),
    ]
    # loading again updates in place: no duplicate
    run("markets", "--exchange", "binance", "--exchange", "bybit")
    assert Instrument.objects.count() == 2
