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

Two workloads per venue: **history** (one market, full pages: 1,000 candles a request, 300 at Coinbase — the
client's parsing and storing of each page is part of the pace) and **many markets** (the catch-up of many tracked
markets: one short window of 10 candles per market, so the pace is the rate limiter's own).

Then the server process is stopped (the downloader's pending requests fail: that ends the run, it is no result;
the client's retries are cut short for that, and no request fails while the rate is measured). Printed: achieved
requests/s against the allowed rate, the percentage (target ≥ 90 %), the busiest window against the limit, and
the count of 429/418/403 answers (target 0); and the client process's CPU time per request (parsing, storing, HTTP:
every thread of the downloader, until the server stops) against the time between two requests at the allowed rate —
the margin that decides the rate when the machine is shared.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from bench.database import django_setup, scratch_database

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


# Enough short windows to outlast each measurement at the venue's allowed rate (Binance: a partial minute, then a
# full one of 3,000 requests).
MANY_MARKETS = {"binance": 7500, "bybit": 4000, "coinbase": 400}
MANY_CANDLES = 10


def _many_symbols(case: VenueCase) -> list[tuple[str, str]]:
    """(venue symbol, unified symbol) of the many-markets workload: COIN0/USDT, COIN1/USDT, ..."""
    base, quote = case.symbol.split("/")
    join = "-" if case.venue == "coinbase" else ""
    return [(f"C{n}{base}{join}{quote}", f"C{n}{base}/{quote}") for n in range(MANY_MARKETS[case.venue])]


def _serve(fake_name: str, markets: list[tuple[str, str, str, str]], listed_ms: int, pipe: Connection) -> None:
    """The server process: start the fake with its default limits, sample its request log until told to stop."""
    from marketdata.core.venues import MarketType, Venue
    from tests.marketdata import fakes

    truths = []
    for venue, market_type, venue_symbol, symbol in markets:
        base, quote = symbol.split("/")
        truths.append(fakes.Market(Venue(venue), MarketType(market_type), venue_symbol, listed_ms=listed_ms,
                                   base=base, quote=quote))  # fmt: skip
    with getattr(fakes, fake_name)(truths) as fake:
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


def _measure(case: VenueCase, many: bool = False) -> dict[str, Any]:
    from django.db import connections

    from marketdata.downloads import DownloadTarget, klines_download
    from marketdata.exchanges.clients import VenueEndpoints
    from marketdata.exchanges.transport import RetryPolicy
    from marketdata.models import Instrument

    # Default timeouts, but few and short retries: when the server process stops, the run should end within
    # seconds. No request fails while the rate is measured, so retries play no part in it.
    # Many markets: no retry at all, or thousands of queued windows would each retry against the stopped server.
    ending_policy = RetryPolicy(max_attempts=1 if many else 2, backoff_s=0.2, backoff_max_s=0.5)

    now_ms = int(time.time() * 1000)
    listed_ms = (now_ms // DAY_MS - 20 * 365) * DAY_MS  # twenty years of minutes: the run never runs out
    symbols = _many_symbols(case) if many else [(case.venue_symbol, case.symbol)]
    instruments = Instrument.objects.bulk_create(
        Instrument(
            exchange=case.venue, market_type=case.market_type, symbol=symbol, venue_symbol=venue_symbol,
            base=symbol.split("/")[0], quote=symbol.split("/")[1], tick_size="0.01", lot_size="0.00001",
        )
        for venue_symbol, symbol in symbols
    )  # fmt: skip
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    markets = [(case.venue, case.market_type, venue_symbol, symbol) for venue_symbol, symbol in symbols]
    server = context.Process(target=_serve, args=(case.name, markets, listed_ms, theirs), daemon=True)
    server.start()
    url = ours.recv()
    endpoints = VenueEndpoints(binance_url=url, binance_futures_url=url, bybit_url=url, coinbase_url=url)
    if many:  # one short window per market, all in the past
        recent = (now_ms // MINUTE_MS - 10 * MANY_CANDLES) * MINUTE_MS
        targets = [
            DownloadTarget.for_instrument(i, "1m", recent, recent + MANY_CANDLES * MINUTE_MS) for i in instruments
        ]
    else:
        targets = [DownloadTarget.for_instrument(instruments[0], "1m", listed_ms, now_ms)]
    outcome: dict[str, Any] = {}

    def download() -> None:
        try:
            outcome["summary"] = klines_download(
                targets=targets, endpoints=endpoints, use_archives=False, record_job=False, policy=ending_policy
            )
        except Exception as error:  # the server going away ends the run
            outcome["error"] = error
        finally:
            connections.close_all()  # this thread's connection, or the scratch database cannot be dropped

    client = threading.Thread(target=download, name=f"bench-{case.venue}", daemon=True)
    cpu_before = time.process_time()  # this process: the downloader's threads (the server is another process)
    started = time.time()
    client.start()
    measure_s = MEASURE_S[case.name]
    # Binance: one whole calendar minute after the first request (which comes within a second of the start).
    stop_at = started + 1 + measure_s if measure_s is not None else math.ceil((started + 1) / 60) * 60 + 60
    stop_at += 0.2
    time.sleep(max(0.0, stop_at - time.time()))
    client_cpu_s = time.process_time() - cpu_before  # up to the stop: the summary's gap count afterwards is not pace
    ours.send("stop")
    samples, statuses = ours.recv()
    server.join(10)
    client.join(300)
    if client.is_alive():
        raise RuntimeError("the download did not end after its server stopped")
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
        "client_cpu_ms": 1000 * client_cpu_s / max(1, samples[-1][1]),
        "rows": sum(_rows(i.pk) for i in instruments[:1]) if not many else _rows_all(),
    }


def _rows(instrument_id: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM marketdata_kline WHERE instrument_id = %s", [instrument_id])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _rows_all() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM marketdata_kline")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    django_setup()
    # Stopping the server ends each run by failing the requests still queued: expected, and not worth a line each.
    logging.getLogger("marketdata.downloads").setLevel(logging.ERROR)
    with scratch_database():
        for many in (False, True):
            print("many markets, 10-candle windows (the limiter's own pace):" if many else "history, full pages:")
            for case in CASES:
                _print(case, _measure(case, many=many))
                _clear()


def _clear() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE marketdata_kline, marketdata_klinecoverage, marketdata_instrument CASCADE")


def _print(case: VenueCase, result: dict[str, Any]) -> None:
    refused = ", ".join(f"{code}: {n}" for code, n in result["refused"].items())
    print(
        f"  {case.venue:8} {result['rate']:7.2f} req/s of {result['allowed']:.2f} allowed  "
        f"{100 * result['rate'] / result['allowed']:5.1f} %  (target ≥ 90 %)   over {result['windows']} full "
        f"{case.window_s:g} s windows, busiest {result['busiest']} of {case.allowed_per_window}   "
        f"refused {refused} (target 0)   [{result['requests']} requests, {result['rows']:,} candles stored]"
    )
    # What the rate costs the client, whatever else runs on the machine: its CPU per request against the time
    # between two requests at the allowed rate (a client above that could not keep up on one core).
    print(
        f"           client CPU {result['client_cpu_ms']:.2f} ms a request, of {1000 / result['allowed']:.2f} ms "
        "between requests at the allowed rate"
    )
