"""Funding-rate downloads against the fake Binance USD-M and Bybit linear venues: exact events at their real times,
pages turned as each venue documents, limits respected, a re-run asks nothing, failures store nothing.

Given a fake venue serving a known funding history (8-hourly, then 4-hourly, then hourly; some times a few ms late),
when the downloader fetches a range, then the stored events equal the venue's text and times, coverage spans the
range, and a second run sends no request.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from marketdata import selectors, services
from marketdata.core.funding import FundingEvent
from marketdata.core.intervals import DAY_MS, HOUR_MS, MINUTE_MS
from marketdata.core.venues import MarketType, Venue
from marketdata.exchanges.clients import VenueEndpoints
from marketdata.exchanges.transport import RetryPolicy
from marketdata.funding_downloads import (
    PUBLISH_DELAY_MS,
    TRACK_LOOKBACK_MS,
    FundingSummary,
    FundingTarget,
    FundingTargetError,
    funding_rates_download,
    funding_sync_tracked,
)
from marketdata.models import FundingCoverage, FundingRate, Instrument, KlineDownloadJob
from tests.marketdata.factories import InstrumentFactory
from tests.marketdata.fakes import FakeBinance, FakeBybit, FundingHistory, Market

DAY0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
NOW = DAY0 + 40 * DAY_MS + 30 * MINUTE_MS
H8, H4, H1 = 8 * HOUR_MS, 4 * HOUR_MS, HOUR_MS
FAST = RetryPolicy(max_attempts=4, backoff_s=0.01, backoff_max_s=0.05, timeout_s=1.0, ban_wait_s=0.2)

BINANCE_PERP = Market(Venue.BINANCE, MarketType.PERP, "BTCUSDT", listed_ms=DAY0 - 400 * DAY_MS)
BYBIT_PERP = Market(Venue.BYBIT, MarketType.PERP, "BTCUSDT", listed_ms=DAY0 - 400 * DAY_MS)
# 8-hourly for 20 days, 4-hourly for 10, then hourly: DAY0 - 10 d … DAY0 + 45 d (only what is settled by NOW is served)
BINANCE_FUNDING = FundingHistory.make(
    "BTCUSDT", DAY0 - 10 * DAY_MS, [(H8, 60), (H4, 60), (H1, 600)], no_mark_before=DAY0 + 5 * DAY_MS
)
BYBIT_FUNDING = FundingHistory.make("BTCUSDT", DAY0 - 10 * DAY_MS + 1, [(H8, 60), (H4, 60), (H1, 600)])

_now = [NOW]


def clock() -> int:
    return _now[0]


@pytest.fixture(autouse=True)
def clock_reset() -> Iterator[None]:
    _now[0] = NOW
    yield
    _now[0] = NOW


class Venues:
    def __init__(self, binance: FakeBinance, bybit: FakeBybit):
        self.binance, self.bybit = binance, bybit

    def endpoints(self, **limits: object) -> VenueEndpoints:
        return VenueEndpoints(
            binance_url=self.binance.url,
            binance_futures_url=self.binance.url,
            bybit_url=self.bybit.url,
            coinbase_url="http://127.0.0.1:9",
            **limits,  # type: ignore[arg-type]
        )

    def funding_requests(self, venue: Venue) -> list[dict[str, str]]:
        fake = self.binance if venue is Venue.BINANCE else self.bybit
        path = "/fapi/v1/fundingRate" if venue is Venue.BINANCE else "/v5/market/funding/history"
        return [r.params for r in fake.requests if r.path == path]


def venues_with(binance_funding: FundingHistory, bybit_funding: FundingHistory, **binance_limits: object):  # type: ignore[no-untyped-def]
    return (
        FakeBinance([BINANCE_PERP], clock=clock, funding=[binance_funding], fault_delay_s=2.0, **binance_limits),  # type: ignore[arg-type]
        FakeBybit([BYBIT_PERP], clock=clock, funding=[bybit_funding], fault_delay_s=2.0),
    )


@pytest.fixture
def venues() -> Iterator[Venues]:
    binance, bybit = venues_with(BINANCE_FUNDING, BYBIT_FUNDING)
    with binance, bybit:
        yield Venues(binance, bybit)


def perpetual(venue: Venue) -> Instrument:
    return InstrumentFactory(
        exchange=venue.value, market_type="perp", base="BTC", quote="USDT", settle="USDT",
        symbol="BTC/USDT:USDT", venue_symbol="BTCUSDT",
    )  # fmt: skip


def download(venues: Venues, *targets: FundingTarget, **options: object) -> FundingSummary:
    endpoints = venues.endpoints(**options.pop("limits", {}))  # type: ignore[arg-type]
    return funding_rates_download(targets=list(targets), endpoints=endpoints, policy=FAST, now_ms=clock, **options)  # type: ignore[arg-type]


def truth(venue: Venue, history: FundingHistory, start_ms: int, end_ms: int) -> list[FundingEvent]:
    rows = history.between(start_ms, end_ms - 1)
    if venue is Venue.BINANCE:
        return [FundingEvent(r.time_ms, r.binance_rate(), r.binance_mark() or None) for r in rows]
    return [FundingEvent(r.time_ms, r.bybit_rate()) for r in rows]


def stored(instrument: Instrument) -> list[FundingEvent]:
    return selectors.funding_events_read(instrument_id=instrument.pk, start_ms=0, end_ms=2**62)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("venue", "history", "requests"),
    # Binance: one window of 1000 h holds the 40 days. Bybit: 200-hour windows (5 of them for 40 days); the one wholly
    # in the hourly segment comes back full (200 events), so it asks once more for what precedes its oldest event
    # (Bybit's hours fall 1 ms after the window's start): an empty page.
    [(Venue.BINANCE, BINANCE_FUNDING, 1), (Venue.BYBIT, BYBIT_FUNDING, 5 + 1)],
    ids=["binance", "bybit"],
)
def test_download_stores_the_venues_events_exactly_and_a_rerun_asks_nothing(venues, venue, history, requests):
    instrument = perpetual(venue)
    start, end = DAY0, DAY0 + 40 * DAY_MS

    summary = download(venues, FundingTarget.for_instrument(instrument, start, end))

    expected = truth(venue, history, start, end)
    assert len(expected) == 30 + 60 + 480
    assert stored(instrument) == expected
    assert (summary.errors, summary.rows_written, summary.rows_present, summary.rate_limited) == ([], 570, 0, 0)
    assert summary.requests == len(venues.funding_requests(venue)) == requests
    assert (summary.planned, summary.done) == ((1, 1) if venue is Venue.BINANCE else (5, 5))
    assert selectors.funding_coverage_ranges(instrument_id=instrument.pk) == [(start, end)]
    # Times are the venue's own, not a grid: some are a few milliseconds late.
    assert any(event.time_ms % HOUR_MS for event in expected)

    again = download(venues, FundingTarget.for_instrument(instrument, start, end))

    assert (again.requests, again.rows_written, again.planned) == (0, 0, 0)
    assert len(venues.funding_requests(venue)) == requests
    assert FundingRate.objects.count() == 570


@pytest.mark.django_db
def test_bybit_requests_carry_both_times_within_the_documented_limit(venues):
    instrument = perpetual(Venue.BYBIT)

    download(venues, FundingTarget.for_instrument(instrument, DAY0, DAY0 + 40 * DAY_MS))

    params = venues.funding_requests(Venue.BYBIT)
    assert {p["category"] for p in params} == {"linear"}
    assert all(int(p["limit"]) == 200 and int(p["startTime"]) <= int(p["endTime"]) for p in params)
    assert venues.bybit.counts() == {200: len(params)}


@pytest.mark.django_db
def test_binance_mark_prices_are_stored_and_early_records_have_none(venues):
    instrument = perpetual(Venue.BINANCE)
    download(venues, FundingTarget.for_instrument(instrument, DAY0, DAY0 + 10 * DAY_MS))

    rows = list(FundingRate.objects.filter(instrument=instrument).order_by("funding_time"))

    first_marked = next(row for row in rows if row.mark_price is not None)
    assert all(row.mark_price is None for row in rows if row.funding_time < DAY0 + 5 * DAY_MS)
    assert first_marked.funding_time >= DAY0 + 5 * DAY_MS
    truth_row = next(r for r in BINANCE_FUNDING.rows if r.time_ms == first_marked.funding_time)
    assert format(first_marked.mark_price, "f") == truth_row.binance_mark()
    assert format(first_marked.rate, "f") == truth_row.binance_rate()


@pytest.mark.django_db
@pytest.mark.parametrize("venue", [Venue.BINANCE, Venue.BYBIT])
def test_a_symbol_settling_more_often_than_hourly_is_paged_on_and_loses_nothing(venue):
    # 15-minute funding for 30 days: a 1000-hour Binance window holds 2880 events, a 200-hour Bybit window 800.
    dense = FundingHistory.make("BTCUSDT", DAY0, [(15 * MINUTE_MS, 2880)])
    binance, bybit = venues_with(dense, dense)
    with binance, bybit:
        fakes = Venues(binance, bybit)
        instrument = perpetual(venue)

        summary = download(fakes, FundingTarget.for_instrument(instrument, DAY0, DAY0 + 30 * DAY_MS), concurrency=1)

        assert stored(instrument) == truth(venue, dense, DAY0, DAY0 + 30 * DAY_MS)
        assert summary.rows_written == 2880
        params = fakes.funding_requests(venue)
        if venue is Venue.BINANCE:
            # oldest first: each full page moves startTime past its newest event
            assert [int(p["startTime"]) for p in params] == [
                DAY0,
                dense.rows[999].time_ms + 1,
                dense.rows[1999].time_ms + 1,
            ]
        else:
            # newest first: 4 windows (200+200+200+120 h) of 800, 800, 800 and 480 events, each paged back by endTime
            # until a short page, or until the page reaches the window's first millisecond
            pages = 0
            for lo, hi in ((DAY0 + k * 200 * H1, min(DAY0 + (k + 1) * 200 * H1, DAY0 + 720 * H1)) for k in range(4)):
                events = dense.between(lo, hi - 1)
                pages += -(-len(events) // 200) + (len(events) % 200 == 0 and events[0].time_ms > lo)
            assert len(params) == pages
            first = dense.between(DAY0, DAY0 + 200 * H1 - 1)
            assert [int(p["endTime"]) for p in params[:4]] == [
                DAY0 + 200 * H1 - 1,
                first[-200].time_ms - 1,
                first[-400].time_ms - 1,
                first[-600].time_ms - 1,
            ]


@pytest.mark.django_db
def test_a_longer_range_fetches_only_what_coverage_lacks(venues):
    instrument = perpetual(Venue.BINANCE)
    download(venues, FundingTarget.for_instrument(instrument, DAY0 + 5 * DAY_MS, DAY0 + 10 * DAY_MS))
    before = len(venues.funding_requests(Venue.BINANCE))

    summary = download(venues, FundingTarget.for_instrument(instrument, DAY0, DAY0 + 20 * DAY_MS))

    asked = venues.funding_requests(Venue.BINANCE)[before:]
    windows = sorted((int(p["startTime"]), int(p["endTime"]) + 1) for p in asked)
    assert windows == [(DAY0, DAY0 + 5 * DAY_MS), (DAY0 + 10 * DAY_MS, DAY0 + 20 * DAY_MS)]
    assert stored(instrument) == truth(Venue.BINANCE, BINANCE_FUNDING, DAY0, DAY0 + 20 * DAY_MS)
    assert summary.rows_present == 0
    assert selectors.funding_coverage_ranges(instrument_id=instrument.pk) == [(DAY0, DAY0 + 20 * DAY_MS)]


@pytest.mark.django_db
def test_nothing_is_covered_closer_to_now_than_the_publication_delay(venues):
    instrument = perpetual(Venue.BYBIT)

    download(venues, FundingTarget.for_instrument(instrument, NOW - 2 * DAY_MS, NOW + DAY_MS))

    assert selectors.funding_coverage_ranges(instrument_id=instrument.pk) == [
        (NOW - 2 * DAY_MS, NOW - PUBLISH_DELAY_MS)
    ]
    assert stored(instrument) == truth(Venue.BYBIT, BYBIT_FUNDING, NOW - 2 * DAY_MS, NOW - PUBLISH_DELAY_MS)


@pytest.mark.django_db
def test_transient_faults_are_retried_and_the_events_stored(venues):
    instrument = perpetual(Venue.BINANCE)
    venues.binance.faults.add("503", times=2, path_prefix="/fapi/v1/fundingRate")

    summary = download(venues, FundingTarget.for_instrument(instrument, DAY0, DAY0 + 10 * DAY_MS))

    assert (summary.errors, summary.retries) == ([], 2)
    assert stored(instrument) == truth(Venue.BINANCE, BINANCE_FUNDING, DAY0, DAY0 + 10 * DAY_MS)


@pytest.mark.django_db
def test_a_venue_down_through_every_retry_stores_nothing_and_a_rerun_finishes(venues):
    instrument = perpetual(Venue.BYBIT)
    venues.bybit.faults.add("502", times=FAST.max_attempts, path_prefix="/v5/market/funding/history")
    target = FundingTarget.for_instrument(instrument, DAY0, DAY0 + 5 * DAY_MS)

    failed = download(venues, target, concurrency=1)

    assert len(failed.errors) == 1 and "failed 4 times" in failed.errors[0]
    assert (FundingRate.objects.count(), FundingCoverage.objects.count()) == (0, 0)
    job = KlineDownloadJob.objects.get()
    assert (job.status, job.parameters["kind"]) == ("failed", "funding")

    done = download(venues, target)

    assert done.errors == []
    assert stored(instrument) == truth(Venue.BYBIT, BYBIT_FUNDING, DAY0, DAY0 + 5 * DAY_MS)


@pytest.mark.django_db
@pytest.mark.parametrize("venue", [Venue.BINANCE, Venue.BYBIT])
def test_a_symbol_the_venue_does_not_know_is_an_error_and_stores_nothing(venues, venue):
    instrument = InstrumentFactory(
        exchange=venue.value, market_type="perp", base="DOGE", quote="USDT", settle="USDT",
        symbol="DOGE/USDT:USDT", venue_symbol="DOGEUSDT",
    )  # fmt: skip

    summary = download(venues, FundingTarget.for_instrument(instrument, DAY0, DAY0 + 5 * DAY_MS))

    assert len(summary.errors) == 1
    assert ("Invalid symbol" if venue is Venue.BINANCE else "symbol invalid") in summary.errors[0]
    assert (FundingRate.objects.count(), FundingCoverage.objects.count()) == (0, 0)


@pytest.mark.django_db
def test_binance_funding_budget_is_its_own_and_never_overrun(venues):
    # 5 requests per second at the fake and at the client; 240 days is 6 windows of 1000 h.
    binance, bybit = venues_with(BINANCE_FUNDING, BYBIT_FUNDING, funding_requests=5, funding_window_s=1.0)
    with binance, bybit:
        fakes = Venues(binance, bybit)
        instrument = perpetual(Venue.BINANCE)
        limits = {"binance_funding_requests": 5, "binance_funding_window_s": 1.0}
        _now[0] = DAY0 + 240 * DAY_MS

        summary = download(fakes, FundingTarget.for_instrument(instrument, DAY0, DAY0 + 240 * DAY_MS), limits=limits)

        assert summary.errors == []
        assert (summary.requests, summary.rate_limited) == (6, 0)
        assert binance.counts() == {200: 6}


@pytest.mark.django_db
def test_a_spot_market_is_no_funding_target_and_the_store_refuses_it():
    spot = InstrumentFactory(symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC")

    with pytest.raises(FundingTargetError):
        FundingTarget.for_instrument(spot, DAY0, DAY0 + DAY_MS)
    with pytest.raises(services.NotPerpetual):
        services.funding_rates_store(
            instrument_id=spot.pk, events=[FundingEvent(DAY0, "0.0001")], covered=[(DAY0, DAY0 + H8)]
        )
    assert (FundingRate.objects.count(), FundingCoverage.objects.count()) == (0, 0)


@pytest.mark.django_db
def test_store_keeps_a_stored_event_merges_coverage_and_refuses_bad_input():
    instrument = perpetual(Venue.BINANCE)
    first = services.funding_rates_store(
        instrument_id=instrument.pk,
        events=[FundingEvent(DAY0, "0.00010000", "42000.10000000"), FundingEvent(DAY0 + H8, "-0.00002500")],
        covered=[(DAY0, DAY0 + H8 + 1)],
    )
    second = services.funding_rates_store(
        instrument_id=instrument.pk,
        events=[FundingEvent(DAY0 + H8, "0.5"), FundingEvent(DAY0 + 2 * H8, "0.00000100")],
        covered=[(DAY0 + H8 + 1, DAY0 + 3 * H8)],
    )

    assert (first.written, first.present, second.written, second.present) == (2, 0, 1, 1)
    assert selectors.funding_rates_read(instrument_id=instrument.pk, start_ms=DAY0, end_ms=DAY0 + 2 * H8 + 1) == [
        (DAY0, Decimal("0.00010000")),
        (DAY0 + H8, Decimal("-0.00002500")),
        (DAY0 + 2 * H8, Decimal("0.00000100")),
    ]
    assert [str(rate) for _, rate in selectors.funding_rates_read(
        instrument_id=instrument.pk, start_ms=DAY0, end_ms=DAY0 + 2 * H8
    )] == ["0.00010000", "-0.00002500"]  # fmt: skip
    assert selectors.funding_coverage_ranges(instrument_id=instrument.pk) == [(DAY0, DAY0 + 3 * H8)]

    for events, covered in (
        ([FundingEvent(DAY0 + 5 * H8, "abc")], []),
        ([FundingEvent(DAY0 + 5 * H8, "0.1"), FundingEvent(DAY0 + 5 * H8, "0.2")], []),
        ([FundingEvent(DAY0 + 5 * H8, "0.1", "1e")], []),
        ([], [(DAY0 + 9 * H8, DAY0 + 9 * H8)]),
    ):
        with pytest.raises(ValueError):
            services.funding_rates_store(instrument_id=instrument.pk, events=events, covered=covered)
    with pytest.raises(services.InstrumentNotFound):
        services.funding_rates_store(instrument_id=instrument.pk + 999, events=[], covered=[(DAY0, DAY0 + 1)])
    assert FundingRate.objects.count() == 3
    assert FundingCoverage.objects.count() == 1


@pytest.mark.django_db
def test_beat_sync_brings_tracked_perpetuals_current_and_a_second_run_asks_only_for_the_new_part(
    venues, redis_namespace
):
    binance = perpetual(Venue.BINANCE)
    binance.tracked, binance.tracked_intervals = True, ["1m"]
    binance.save()
    perpetual(Venue.BYBIT)  # not tracked: not fetched

    first = funding_sync_tracked(now_ms=clock, endpoints=venues.endpoints(), policy=FAST)

    assert first is not None and first.errors == []
    assert selectors.funding_coverage_ranges(instrument_id=binance.pk) == [
        (NOW - TRACK_LOOKBACK_MS, NOW - PUBLISH_DELAY_MS)
    ]
    assert venues.funding_requests(Venue.BYBIT) == []
    _now[0] = NOW + 3 * HOUR_MS

    second = funding_sync_tracked(now_ms=clock, endpoints=venues.endpoints(), policy=FAST)

    assert second is not None and second.requests == 1
    assert venues.funding_requests(Venue.BINANCE)[-1]["startTime"] == str(NOW - PUBLISH_DELAY_MS)
    assert stored(binance) == truth(
        Venue.BINANCE, BINANCE_FUNDING, NOW - TRACK_LOOKBACK_MS, NOW + 3 * HOUR_MS - PUBLISH_DELAY_MS
    )
    assert second.rows_written == 3
