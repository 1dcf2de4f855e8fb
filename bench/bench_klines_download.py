"""Klines REST download: the request rate the platform's downloader achieves against each venue's real limit.

Each fake venue (``tests.marketdata.fakes``, with its documented default limits and the wall clock) runs in a
process of its own, so the server does not share the client's GIL; a thread there samples the server's request
log every 20 ms. The client is ``marketdata.downloads.klines_download`` (``use_archives=False``) fetching 1m
candles of one market listed years ago into a scratch database, each window stored as the downloader stores it.
The measurement covers whole limit windows only, timed by the server:

- Binance spot: 6,000 request weight per calendar minute, klines weight 2 → 3,000 requests a minute (50/s);
  the run spans at least one full calendar minute and the rate is taken over the full minutes.
- Bybit: 600 requests in any 5 s (120/s): consecutive 5 s windows from the first request.
- Coinbase: 10 requests/s: consecutive 1 s windows from the first request.

Then the server process is stopped (the downloader's pending requests fail: that ends the run, it is no result;
the client's retries are cut short for that, and no request fails while the rate is measured). Printed: achieved
requests/s against the allowed rate, the percentage (target ≥ 90 %), the busiest window against the limit, and
the count of 429/418/403 answers (target 0).
"""

from __future__ import annotations

import math
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from bench.bench_klines import _scratch_database, _setup_django

DAY_MS = 86_400_000
MINUTE_MS = 60_000
SAMPLE_S = 0.02


@dataclass(frozen=True)
class VenueCase:
    name: str  # FakeBinance / FakeBybit / FakeCoinbase
    venue: str
    market_type: str
    venue_symbol: str
    symbol: str
    window_s: float  # the venue's limit window
    allowed_per_window: int  # requests the limit allows in one window
    windows: Callable[[float, float], list[tuple[float, float]]]  # (first request, stop) → full windows measured


def _calendar_minutes(first: float, stop: float) -> list[tuple[float, float]]:
    start = math.ceil(first / 60) * 60
    return [(t, t + 60) for t in range(int(start), int(stop) - 59, 60)]


def _sliding(window_s: float) -> Callable[[float, float], list[tuple[float, float]]]:
    def windows(first: float, stop: float) -> list[tuple[float, float]]:
        count = int((stop - first) // window_s)
        return [(first + i * window_s, first + (i + 1) * window_s) for i in range(count)]

    return windows


CASES = [
    # Spot klines cost weight 2 of the 6,000 a minute.
    VenueCase("FakeBinance", "binance", "spot", "BTCUSDT", "BTC/USDT", 60.0, 6000 // 2, _calendar_minutes),
    VenueCase("FakeBybit", "bybit", "spot", "BTCUSDT", "BTC/USDT", 5.0, 600, _sliding(5.0)),
    VenueCase("FakeCoinbase", "coinbase", "spot", "BTC-USD", "BTC/USD", 1.0, 10, _sliding(1.0)),
]
MEASURE_S = {"FakeBinance": None, "FakeBybit": 30.0, "FakeCoinbase": 20.0}  # None: one full calendar minute


def _serve(fake_name: str, market: tuple[str, str, str, str], listed_ms: int, pipe: Connection) -> None:
    """The server process: start the fake with its default limits, sample its request log until told to stop."""
    from marketdata.core.venues import MarketType, Venue
    from tests.marketdata import fakes

    venue, market_type, venue_symbol, symbol = market
    base, quote = symbol.split("/")
    truth = fakes.Market(Venue(venue), MarketType(market_type), venue_symbol, listed_ms=listed_ms, base=base,
                         quote=quote)  # fmt: skip
    with getattr(fakes, fake_name)([truth]) as fake:
        pipe.send(fake.url)
        samples: list[tuple[float, int]] = []
        while not pipe.poll(SAMPLE_S):
            samples.append((time.time(), len(fake.requests)))
        pipe.recv()
        samples.append((time.time(), len(fake.requests)))
        pipe.send((samples, dict(fake.counts())))


def _count_at(samples: list[tuple[float, int]], moment: float) -> int:
    """Requests logged by ``moment`` (the last sample at or before it; samples are SAMPLE_S apart)."""
    count = 0
    for at, logged in samples:
        if at > moment:
            break
        count = logged
    return count


def _measure(case: VenueCase) -> dict[str, Any]:
    from django.db import connections

    from marketdata.downloads import DownloadTarget, klines_download
    from marketdata.exchanges.clients import VenueEndpoints
    from marketdata.exchanges.transport import RetryPolicy
    from marketdata.models import Instrument

    # Default timeouts, but few and short retries: when the server process stops, the run should end within
    # seconds. No request fails while the rate is measured, so retries play no part in it.
    ending_policy = RetryPolicy(max_attempts=2, backoff_s=0.2, backoff_max_s=0.5)

    now_ms = int(time.time() * 1000)
    listed_ms = (now_ms // DAY_MS - 20 * 365) * DAY_MS  # twenty years of minutes: the run never runs out
    base, quote = case.symbol.split("/")
    instrument = Instrument.objects.create(
        exchange=case.venue, market_type=case.market_type, symbol=case.symbol, venue_symbol=case.venue_symbol,
        base=base, quote=quote, tick_size="0.01", lot_size="0.00001",
    )  # fmt: skip
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    market = (case.venue, case.market_type, case.venue_symbol, case.symbol)
    server = context.Process(target=_serve, args=(case.name, market, listed_ms, theirs), daemon=True)
    server.start()
    url = ours.recv()
    endpoints = VenueEndpoints(binance_url=url, binance_futures_url=url, bybit_url=url, coinbase_url=url)
    target = DownloadTarget.for_instrument(instrument, "1m", listed_ms, now_ms)
    outcome: dict[str, Any] = {}

    def download() -> None:
        try:
            outcome["summary"] = klines_download(
                targets=[target], endpoints=endpoints, use_archives=False, record_job=False, policy=ending_policy
            )
        except Exception as error:  # the server going away ends the run
            outcome["error"] = error
        finally:
            connections.close_all()  # this thread's connection, or the scratch database cannot be dropped

    client = threading.Thread(target=download, name=f"bench-{case.venue}", daemon=True)
    started = time.time()
    client.start()
    measure_s = MEASURE_S[case.name]
    # Binance: one whole calendar minute after the first request (which comes within a second of the start).
    stop_at = started + 1 + measure_s if measure_s is not None else math.ceil((started + 1) / 60) * 60 + 60
    stop_at += 0.2
    time.sleep(max(0.0, stop_at - time.time()))
    ours.send("stop")
    samples, statuses = ours.recv()
    server.join(10)
    client.join(120)
    first = next(at for at, logged in samples if logged > 0) - SAMPLE_S
    windows = case.windows(first, samples[-1][0])
    counts = [_count_at(samples, hi) - _count_at(samples, lo) for lo, hi in windows]
    seconds = sum(hi - lo for lo, hi in windows)
    return {
        "rate": sum(counts) / seconds if seconds else 0.0,
        "allowed": case.allowed_per_window / case.window_s,
        "windows": len(windows),
        "busiest": max(counts, default=0),
        "refused": {code: statuses.get(code, 0) for code in (429, 418, 403)},
        "requests": samples[-1][1],
        "rows": _rows(instrument.pk),
    }


def _rows(instrument_id: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM marketdata_kline WHERE instrument_id = %s", [instrument_id])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    _setup_django()
    with _scratch_database():
        for case in CASES:
            result = _measure(case)
            refused = ", ".join(f"{code}: {n}" for code, n in result["refused"].items())
            print(
                f"{case.venue:8} {result['rate']:7.2f} req/s of {result['allowed']:.2f} allowed  "
                f"{100 * result['rate'] / result['allowed']:5.1f} %  (target ≥ 90 %)   over {result['windows']} full "
                f"{case.window_s:g} s windows, busiest {result['busiest']} of {case.allowed_per_window}   "
                f"refused {refused} (target 0)   [{result['requests']} requests, {result['rows']:,} candles stored]"
            )
