"""The downloader against the fake venues: exact candles, no duplicate, no hole, limits respected, faults survived.

Given a fake venue serving a known candle truth, when the downloader fetches a range, then the stored candles equal
the truth text for text, coverage spans the range, and a second run asks for nothing.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from marketdata import selectors
from marketdata.core.intervals import DAY_MS, INTERVALS, MINUTE_MS
from marketdata.core.venues import MarketType, Venue
from marketdata.downloads import DownloadSummary, DownloadTarget, klines_download
from marketdata.exchanges.clients import VenueEndpoints
from marketdata.exchanges.transport import RetryPolicy
from marketdata.models import Instrument
from tests.marketdata.factories import InstrumentFactory
from tests.marketdata.fakes import FakeBinance, FakeBinanceArchive, FakeBybit, FakeCoinbase, Market

DAY0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
NOW = DAY0 + 40 * DAY_MS + 5 * MINUTE_MS + 30_000  # 2024-02-10 00:05:30: the 00:05 candle is open
M1 = INTERVALS["1m"]
FAST = RetryPolicy(max_attempts=6, backoff_s=0.01, backoff_max_s=0.05, timeout_s=1.0, ban_wait_s=0.2)


_now = [NOW]


def clock() -> int:
    """The one clock of the fake venues and of the downloader; a test may move it forward."""
    return _now[0]


class Venues:
    """The four fake hosts, each market on them, and endpoints pointing at them."""

    def __init__(self, markets: list[Market], **limits: object):
        self.markets = markets
        self.binance = FakeBinance(markets, clock=clock, fault_delay_s=2.0, **limits.get("binance", {}))  # type: ignore[arg-type]
        self.bybit = FakeBybit(markets, clock=clock, fault_delay_s=2.0, **limits.get("bybit", {}))  # type: ignore[arg-type]
        self.coinbase = FakeCoinbase(markets, clock=clock, fault_delay_s=2.0, **limits.get("coinbase", {}))  # type: ignore[arg-type]
        self.archive = FakeBinanceArchive(markets, clock=clock, fault_delay_s=2.0)
        self.servers = [self.binance, self.bybit, self.coinbase, self.archive]

    def __enter__(self) -> Venues:
        for server in self.servers:
            server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.stop()

    def endpoints(self, **limits: object) -> VenueEndpoints:
        return VenueEndpoints(
            binance_url=self.binance.url,
            binance_futures_url=self.binance.url,
            bybit_url=self.bybit.url,
            coinbase_url=self.coinbase.url,
            **limits,  # type: ignore[arg-type]
        )


BINANCE_SPOT = Market(Venue.BINANCE, MarketType.SPOT, "BTCUSDT", listed_ms=DAY0 - 400 * DAY_MS, tick_size="0.01")
BINANCE_PERP = Market(Venue.BINANCE, MarketType.PERP, "BTCUSDT", listed_ms=DAY0 - 400 * DAY_MS, tick_size="0.10")
BYBIT_SPOT = Market(Venue.BYBIT, MarketType.SPOT, "BTCUSDT", listed_ms=DAY0 - 400 * DAY_MS)
COINBASE = Market(
    Venue.COINBASE,
    MarketType.SPOT,
    "BTC-USD",
    listed_ms=DAY0 - 400 * DAY_MS,
    quote="USD",
    # two no-trade stretches: Coinbase writes no candle for them
    holes=[(DAY0 + 180 * MINUTE_MS, DAY0 + 187 * MINUTE_MS), (DAY0 + DAY_MS - MINUTE_MS, DAY0 + DAY_MS)],
)


@pytest.fixture(autouse=True)
def clock_reset() -> Iterator[None]:
    _now[0] = NOW
    yield
    _now[0] = NOW


@pytest.fixture
def venues() -> Iterator[Venues]:
    with Venues([BINANCE_SPOT, BINANCE_PERP, BYBIT_SPOT, COINBASE]) as v:
        yield v


def instrument_for(market: Market) -> Instrument:
    base = "BTC"
    quote = market.quote
    settle = quote if market.market_type is MarketType.PERP else None
    return InstrumentFactory(
        exchange=market.venue.value,
        market_type=market.market_type.value,
        base=base,
        quote=quote,
        settle=settle,
        symbol=f"{base}/{quote}" + (f":{settle}" if settle else ""),
        venue_symbol=market.venue_symbol,
    )


def target(instrument: Instrument, start_ms: int, end_ms: int, interval: str = "1m") -> DownloadTarget:
    return DownloadTarget.for_instrument(instrument, interval, start_ms, end_ms)


def download(venues: Venues, *targets: DownloadTarget, archives: bool = False, **options: Any) -> DownloadSummary:
    """The downloader against the fake venues on the tests' clock: REST only, unless ``archives``."""
    if archives:
        options["archive_url"] = venues.archive.url
    else:
        options["use_archives"] = False
    return klines_download(targets=list(targets), endpoints=venues.endpoints(), policy=FAST, now_ms=clock, **options)


Row = tuple[int, str, str, str, str, str]


def stored(instrument: Instrument, interval: str, start_ms: int, end_ms: int) -> list[Row]:
    out = io.BytesIO()
    selectors.klines_export(
        instrument_id=instrument.pk, interval=interval, start_ms=start_ms, end_ms=end_ms, out=out, format="csv"
    )
    lines = out.getvalue().decode().splitlines()
    assert lines[0] == "open_time,open,high,low,close,volume"
    rows = []
    for line in lines[1:]:
        t, o, h, lo, c, v = line.split(",")
        rows.append((int(t), o, h, lo, c, v))
    return rows


def truth(market: Market, interval: str, start_ms: int, end_ms: int) -> list[Row]:
    return [
        (c.open_time, c.open, c.high, c.low, c.close, c.volume)
        for c in market.candles(INTERVALS[interval], start_ms, end_ms, NOW)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("market", "days"),
    [(BINANCE_SPOT, 3), (BINANCE_PERP, 3), (BYBIT_SPOT, 2), (COINBASE, 1)],
    ids=["binance-spot", "binance-perp", "bybit-spot", "coinbase"],
)
def test_rest_download_stores_exactly_the_venue_candles_and_a_rerun_asks_nothing(venues, market, days):
    instrument = instrument_for(market)
    start, end = DAY0 + 17 * MINUTE_MS, DAY0 + days * DAY_MS - 3 * MINUTE_MS  # not page-aligned on purpose
    summary = download(venues, target(instrument, start, end))

    expected = truth(market, "1m", start, end)
    assert stored(instrument, "1m", start, end) == expected
    assert summary.errors == []
    assert summary.rows_written == len(expected)
    assert summary.rows_present == 0
    assert summary.gaps_left == 0
    assert summary.rate_limited == 0
    assert summary.venue_empty == M1.count(start, end) - len(expected)
    pages = -(-M1.count(start, end) // {Venue.BINANCE: 1000, Venue.BYBIT: 1000, Venue.COINBASE: 300}[market.venue])
    if market.market_type is MarketType.PERP:
        pages = -(-M1.count(start, end) // 1500)
    assert summary.requests == pages
    assert selectors.coverage_ranges(instrument_id=instrument.pk, interval="1m") == [(start, end)]

    again = download(venues, target(instrument, start, end))
    assert (again.requests, again.rows_written, again.gaps_left) == (0, 0, 0)


@pytest.mark.django_db
def test_coinbase_holes_are_venue_empty_not_gaps(venues):
    instrument = instrument_for(COINBASE)
    download(venues, target(instrument, DAY0, DAY0 + DAY_MS))
    report = selectors.klines_gaps(instrument_id=instrument.pk, interval="1m", start_ms=DAY0, end_ms=DAY0 + DAY_MS)
    assert report.unfetched == ()
    assert report.venue_empty == (
        (DAY0 + 180 * MINUTE_MS, DAY0 + 187 * MINUTE_MS),
        (DAY0 + DAY_MS - MINUTE_MS, DAY0 + DAY_MS),
    )


@pytest.mark.django_db
def test_the_open_candle_is_stored_open_then_replaced_when_it_closes(venues):
    instrument = instrument_for(BINANCE_SPOT)
    open_at = M1.floor(NOW)
    start = open_at - 10 * MINUTE_MS
    summary = download(venues, target(instrument, start, open_at + 60 * MINUTE_MS))
    rows = selectors.klines_read(instrument_id=instrument.pk, interval="1m", start_ms=start, end_ms=open_at + MINUTE_MS)
    assert [r.open_time for r in rows] == list(M1.open_times(start, open_at + MINUTE_MS))
    assert [r.closed for r in rows] == [True] * 10 + [False]
    # Coverage stops where the open candle starts: a later run fetches it again.
    assert selectors.coverage_ranges(instrument_id=instrument.pk, interval="1m") == [(start, open_at)]
    assert summary.gaps_left == 0

    later = _now[0] = NOW + 2 * MINUTE_MS
    again = download(venues, target(instrument, start, open_at + 60 * MINUTE_MS))
    assert again.errors == []
    rows = selectors.klines_read(instrument_id=instrument.pk, interval="1m", start_ms=start, end_ms=later)
    assert [r.open_time for r in rows] == list(M1.open_times(start, M1.floor(later) + MINUTE_MS))
    assert [r.closed for r in rows] == [True] * 12 + [False]
    closed_now = rows[10]
    want = BINANCE_SPOT.candles(M1, open_at, open_at + MINUTE_MS, later)[0]
    assert (closed_now.open, closed_now.high, closed_now.low, closed_now.close, closed_now.volume) == (
        want.open,
        want.high,
        want.low,
        want.close,
        want.volume,
    )


@pytest.mark.django_db
def test_transport_faults_are_retried_and_nothing_is_lost(venues):
    instrument = instrument_for(BINANCE_SPOT)
    start, end = DAY0, DAY0 + 5000 * MINUTE_MS
    for kind in ("500", "502", "503", "timeout", "truncated", "cut"):
        venues.binance.faults.add(kind, times=1, path_prefix="/api/v3/klines")
    summary = download(venues, target(instrument, start, end), concurrency=2)
    assert summary.errors == []
    assert summary.retries == 6
    assert summary.requests == 5 + 6
    assert stored(instrument, "1m", start, end) == truth(BINANCE_SPOT, "1m", start, end)


@pytest.mark.django_db
def test_a_429_pauses_every_request_for_retry_after_and_never_provokes_a_ban(venues):
    instrument = instrument_for(BINANCE_SPOT)
    start, end = DAY0, DAY0 + 4000 * MINUTE_MS
    venues.binance.faults.add("429", times=1, path_prefix="/api/v3/klines")
    summary = download(venues, target(instrument, start, end))
    assert summary.errors == []
    assert venues.binance.counts()[418] == 0
    assert venues.binance.counts()[429] == 1
    assert stored(instrument, "1m", start, end) == truth(BINANCE_SPOT, "1m", start, end)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("market", "status"), [(BYBIT_SPOT, "403"), (COINBASE, "429")], ids=["bybit-ban", "coinbase-429"]
)
def test_a_rate_limit_answer_pauses_the_venue_then_the_download_completes(venues, market, status):
    instrument = instrument_for(market)
    server = venues.bybit if market.venue is Venue.BYBIT else venues.coinbase
    server.faults.add(status, times=1)
    start, end = DAY0, DAY0 + 1500 * MINUTE_MS
    summary = download(venues, target(instrument, start, end))
    assert summary.errors == []
    assert summary.rate_limited == 1
    assert server.counts()[int(status)] == 1
    assert stored(instrument, "1m", start, end) == truth(market, "1m", start, end)


@pytest.mark.django_db
def test_a_real_budget_is_respected_without_a_single_429():
    # A tiny spot budget (20 weight per 2 s window = 10 klines requests) on both sides: the client waits instead.
    with Venues([BINANCE_SPOT], binance={"spot_weight_limit": 20, "weight_window_s": 2.0}) as venues:
        instrument = instrument_for(BINANCE_SPOT)
        start, end = DAY0, DAY0 + 15_000 * MINUTE_MS
        summary = klines_download(
            targets=[target(instrument, start, end)],
            endpoints=venues.endpoints(binance_spot_weight_per_minute=20, binance_window_s=2.0),
            use_archives=False,
            policy=FAST,
            now_ms=clock,
        )
        assert summary.errors == []
        assert summary.requests == 15
        assert venues.binance.counts()[429] == 0
        assert venues.binance.counts()[418] == 0
        assert stored(instrument, "1m", start, end) == truth(BINANCE_SPOT, "1m", start, end)


@pytest.mark.django_db
def test_an_unknown_symbol_is_an_error_that_writes_nothing_and_other_markets_go_on(venues):
    good = instrument_for(BYBIT_SPOT)
    bad = InstrumentFactory(exchange="bybit", symbol="NOPE/USDT", venue_symbol="NOPEUSDT", base="NOPE")
    start, end = DAY0, DAY0 + 2000 * MINUTE_MS
    summary = download(venues, target(bad, start, end), target(good, start, end))
    assert len(summary.errors) == 1
    assert "bybit NOPE/USDT 1m" in summary.errors[0]
    assert stored(bad, "1m", start, end) == []
    assert selectors.coverage_ranges(instrument_id=bad.pk, interval="1m") == []
    assert stored(good, "1m", start, end) == truth(BYBIT_SPOT, "1m", start, end)


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["corrupt_zip", "checksum_mismatch"])
def test_binance_archives_serve_complete_days_and_rest_the_edges(venues, fault):
    instrument = instrument_for(BINANCE_SPOT)
    start, end = DAY0 + 22 * 60 * MINUTE_MS, DAY0 + 3 * DAY_MS + 90 * MINUTE_MS
    getattr(venues.archive, fault)("2024-01-03")  # refused (sha256), so REST serves that day instead
    summary = download(venues, target(instrument, start, end), archives=True)
    assert summary.errors == []
    assert summary.archives == 1  # 2024-01-02; 2024-01-03 corrupt
    assert summary.archive_fallbacks == 1
    assert stored(instrument, "1m", start, end) == truth(BINANCE_SPOT, "1m", start, end)
    assert summary.gaps_left == 0
    assert selectors.coverage_ranges(instrument_id=instrument.pk, interval="1m") == [(start, end)]


@pytest.mark.django_db
def test_a_republished_archive_is_detected_on_recheck_and_its_period_reimported():
    # A market of its own: re-publishing revises the market's candles, which no other test must see.
    market = Market(Venue.BINANCE, MarketType.SPOT, "BTCUSDT", listed_ms=DAY0 - 400 * DAY_MS)
    with Venues([market]) as venues:
        republished_run(venues, market)


def republished_run(venues: Venues, market: Market) -> None:
    instrument = instrument_for(market)
    start, end = DAY0 + DAY_MS, DAY0 + 3 * DAY_MS  # two complete days: both from archives
    first = download(venues, target(instrument, start, end), archives=True)
    assert (first.archives, first.requests) == (2, 4)  # a .CHECKSUM and a zip per day, no REST
    before = stored(instrument, "1m", start, end)

    venues.archive.republish("2024-01-03")  # Binance fixes that day's file: new volumes, new checksum
    after_truth = truth(market, "1m", start, end)
    assert after_truth != before
    plain = download(venues, target(instrument, start, end), archives=True)
    assert (plain.requests, plain.archives_republished) == (0, 0)  # covered: nothing asked without --recheck

    recheck = download(venues, target(instrument, start, end), archives=True, recheck_archives=True)
    assert recheck.errors == []
    assert recheck.archives_republished == 1
    assert recheck.requests == 2 + 1  # two .CHECKSUM files, one changed zip
    assert stored(instrument, "1m", start, end) == after_truth

    again = download(venues, target(instrument, start, end), archives=True, recheck_archives=True)
    assert (again.archives_republished, again.requests) == (0, 2)


@pytest.mark.django_db(transaction=True)
def test_archives_are_imported_concurrently_outside_a_transaction(venues):
    # No test transaction here: the downloader hands the fetched archives to several database connections at once.
    instrument = instrument_for(BINANCE_SPOT)
    start, end = DAY0 + 30 * MINUTE_MS, DAY0 + 6 * DAY_MS + 30 * MINUTE_MS
    venues.archive.checksum_mismatch("2024-01-04")
    summary = download(venues, target(instrument, start, end), archives=True)
    assert summary.errors == []
    assert (summary.archives, summary.archive_fallbacks) == (4, 1)  # 01-02, 01-03, 01-05, 01-06; 01-04 via REST
    assert stored(instrument, "1m", start, end) == truth(BINANCE_SPOT, "1m", start, end)
    assert selectors.coverage_ranges(instrument_id=instrument.pk, interval="1m") == [(start, end)]
    assert summary.gaps_left == 0
