"""Funding-rate downloads for perpetuals (Binance USD-M, Bybit linear): what coverage lacks, fetched within each
venue's limits, stored exactly with the window it answers for.

The plan for one perpetual over ``[start, end)``:

1. Clip ``end`` to :data:`PUBLISH_DELAY_MS` before now: a funding event is published at (or a little after) its
   time, so a window is never vouched for before its events can all be seen.
2. Subtract what funding coverage says was fetched already: a re-run (after a ``kill -9`` too) asks only for the
   rest, and a run over a fetched range sends no request at all.
3. Cut the rest into windows of ``limit`` hours (``marketdata.core.funding.funding_windows``: the shortest funding
   interval is an hour, so a window is one page), fetched concurrently under the venue's budget (Binance: 500
   requests per 5 minutes, the endpoint's own; Bybit: its 600 per 5 s per IP). A window that comes back full is
   paged on until a page is not (a symbol settling more often than hourly costs a request, never an event).
4. Store each window with its coverage in one transaction: an interruption loses only windows in flight.

I/O runs on an asyncio loop in a thread of its own; the caller's thread does every database write (the caller's
connection, no transaction waiting on the network), as the kline downloader does.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from marketdata import selectors, services
from marketdata.core import binance, bybit
from marketdata.core.funding import FUNDING_VENUES, FundingError, FundingEvent, funding_windows
from marketdata.core.gaps import ranges_subtract
from marketdata.core.intervals import DAY_MS, MINUTE_MS
from marketdata.core.rest import PayloadError, VenueError
from marketdata.core.venues import MarketType, Venue
from marketdata.download_runs import (
    DownloadCounts,
    DownloadProgress,
    download_job_run,
    download_stats_count,
    network_thread_results,
)
from marketdata.downloads import endpoints_from_settings
from marketdata.exchanges.clients import FundingClient, VenueClients, VenueEndpoints
from marketdata.exchanges.transport import RetryPolicy, TransportError, TransportStats
from marketdata.models import Instrument

logger = logging.getLogger(__name__)

# Coverage (and the fetch) stops this long before now: a settled event reaches the venue's history at its time or a
# few seconds after; five minutes leave room for a slow publication without hiding anything for long.
PUBLISH_DELAY_MS = 5 * MINUTE_MS
FUNDING_LIMITS: dict[Venue, int] = {Venue.BINANCE: binance.FUNDING_LIMIT, Venue.BYBIT: bybit.FUNDING_LIMIT}


class FundingTargetError(ValueError):
    """A market that has no funding history here: a spot market, or a venue without perpetuals."""


@dataclass(frozen=True, slots=True)
class FundingTarget:
    instrument_id: int
    venue: Venue
    symbol: str  # unified, for messages
    venue_symbol: str
    start_ms: int
    end_ms: int  # exclusive

    @classmethod
    def for_instrument(cls, instrument: Instrument, start_ms: int, end_ms: int) -> FundingTarget:
        venue = Venue(instrument.exchange)
        if instrument.market_type != MarketType.PERP.value or venue not in FUNDING_VENUES:
            raise FundingTargetError(f"{instrument}: not a perpetual of {', '.join(FUNDING_VENUES)}: no funding rates")
        if end_ms <= start_ms:
            raise ValueError(f"empty window [{start_ms}, {end_ms})")
        return cls(instrument.pk, venue, instrument.symbol, instrument.venue_symbol, start_ms, end_ms)

    @property
    def label(self) -> str:
        return f"{self.venue} {self.symbol} funding"


@dataclass
class FundingSummary(DownloadCounts):
    """``planned``: windows to fetch (a window is usually one request); ``done``: windows fetched and stored."""

    def line(self) -> str:
        return (
            f"{self.rows_written} funding events written, {self.rows_present} already present, "
            f"{self.requests} requests, {self.retries} retries"
            + (f", {len(self.errors)} errors" if self.errors else "")
        )


ProgressCallback = Callable[[FundingSummary], None]


@dataclass(frozen=True, slots=True)
class _Window:
    target: FundingTarget
    start_ms: int
    end_ms: int
    events: list[FundingEvent] | None = None
    error: Exception | None = None


class FundingDownloader:
    """One run over several targets: plans from coverage, fetches on a thread of its own, stores on the caller's."""

    def __init__(
        self,
        *,
        endpoints: VenueEndpoints,
        policy: RetryPolicy | None,
        concurrency: int,
        now_ms: Callable[[], int],
        progress: ProgressCallback | None,
        job_id: int | None,
    ):
        self.endpoints = endpoints
        self.policy = policy
        self.concurrency = max(1, concurrency)
        self._now_ms = now_ms
        self._progress = DownloadProgress(callback=progress, job_id=job_id)
        self.job_id = job_id
        self.summary = FundingSummary()
        self._failed: set[FundingTarget] = set()  # read by the network thread: no more windows for these
        self._errored: set[FundingTarget] = set()
        self._stats: list[TransportStats] = []

    def plan(self, targets: Sequence[FundingTarget]) -> list[tuple[FundingTarget, int, int]]:
        horizon = self._now_ms() - PUBLISH_DELAY_MS
        jobs: list[tuple[FundingTarget, int, int]] = []
        for target in targets:
            end = min(target.end_ms, horizon)
            if end <= target.start_ms:
                continue
            covered = selectors.funding_coverage_ranges(
                instrument_id=target.instrument_id, start_ms=target.start_ms, end_ms=end
            )
            for lo, hi in ranges_subtract([(target.start_ms, end)], covered):
                jobs.extend((target, a, b) for a, b in funding_windows(lo, hi, FUNDING_LIMITS[target.venue]))
        return jobs

    def run(self, targets: Sequence[FundingTarget]) -> FundingSummary:
        jobs = self.plan(targets)
        self.summary.planned = len(jobs)
        self._report(force=True)
        if jobs:
            for window in self._fetch(jobs):
                self._store(window)
        download_stats_count(self.summary, self._stats)
        self._report(force=True)
        return self.summary

    def _fetch(self, jobs: list[tuple[FundingTarget, int, int]]) -> Iterator[_Window]:
        """Fetch every window on a loop in a thread of its own; yield them in arrival order."""

        async def produce(results: queue.Queue[object]) -> None:
            async with VenueClients(self.endpoints, self.policy) as clients:
                queues: dict[int, asyncio.Queue[tuple[FundingTarget, FundingClient, int, int]]] = {}
                for target, lo, hi in jobs:
                    client = clients.funding_client(target.venue)
                    queues.setdefault(id(client.transport), asyncio.Queue()).put_nowait((target, client, lo, hi))

                async def worker(work: asyncio.Queue[tuple[FundingTarget, FundingClient, int, int]]) -> None:
                    while not work.empty():
                        target, client, lo, hi = work.get_nowait()
                        if target in self._failed:
                            continue
                        try:
                            events = await client.funding_rates(target.venue_symbol, lo, hi)
                        except (VenueError, PayloadError, FundingError, TransportError) as error:
                            self._failed.add(target)
                            results.put(_Window(target, lo, hi, error=error))
                            continue
                        results.put(_Window(target, lo, hi, events=events))

                await asyncio.gather(*(worker(w) for w in queues.values() for _ in range(self.concurrency)))
                self._stats.extend(clients.stats().values())

        return network_thread_results(produce, kind=_Window, name="funding-download")

    def _store(self, window: _Window) -> None:
        target = window.target
        if target in self._errored:
            return  # one error per market is the news; its windows still in flight are dropped
        try:
            if window.error is not None:
                raise window.error
            assert window.events is not None
            result = services.funding_rates_store(
                instrument_id=target.instrument_id, events=window.events, covered=[(window.start_ms, window.end_ms)]
            )
        except (VenueError, PayloadError, FundingError, TransportError, ValueError) as error:
            # Refused (unknown symbol...), nonsense, or down through every retry: this market stops here. What was
            # stored stays, and coverage says where a re-run resumes.
            self._failed.add(target)
            self._errored.add(target)
            self.summary.errors.append(f"{target.label}: {error}")
            logger.warning("funding download %s failed: %s", target.label, error)
            return
        self.summary.rows_written += result.written
        self.summary.rows_present += result.present
        self.summary.done += 1
        self._report()

    def _report(self, *, force: bool = False) -> None:
        self._progress(self.summary, force=force)


def funding_rates_download(
    *,
    targets: Sequence[FundingTarget],
    endpoints: VenueEndpoints | None = None,
    policy: RetryPolicy | None = None,
    concurrency: int | None = None,
    progress: ProgressCallback | None = None,
    record_job: bool = True,
    now_ms: Callable[[], int] | None = None,
) -> FundingSummary:
    """Download every target's missing funding events (times ms UTC, ``end`` exclusive); blocking. See the module
    doc. A market the venue refuses or that stays unreachable stops with an error in the summary; the others go on.
    With ``record_job`` the run is a :class:`~marketdata.models.KlineDownloadJob` (``parameters.kind = "funding"``)
    whose progress unit is windows."""
    job_id = None
    if record_job:
        job = services.download_job_start(
            parameters={
                "kind": "funding",
                "targets": [
                    {"exchange": t.venue.value, "symbol": t.symbol, "start_ms": t.start_ms, "end_ms": t.end_ms}
                    for t in targets
                ],
            }
        )
        job_id = job.pk
    downloader = FundingDownloader(
        endpoints=endpoints or endpoints_from_settings(),
        policy=policy,
        concurrency=concurrency or settings.KLINES_DOWNLOAD_CONCURRENCY,
        now_ms=now_ms or (lambda: int(time.time() * 1000)),
        progress=progress,
        job_id=job_id,
    )
    return download_job_run(job_id, lambda: downloader.run(targets), gaps_left=lambda summary: 0)


# -- tracked perpetuals, kept current by beat ------------------------------------------------------------------

# A perpetual tracked for the first time starts this far back.
TRACK_LOOKBACK_MS = 30 * DAY_MS
_TRACK_LOCK_KEY = "marketdata:funding-sync-tracked"
_TRACK_LOCK_SECONDS = 600


def funding_sync_tracked(
    *,
    now_ms: Callable[[], int] | None = None,
    endpoints: VenueEndpoints | None = None,
    policy: RetryPolicy | None = None,
) -> FundingSummary | None:
    """Bring every tracked perpetual's funding history up to now (from its coverage's end, or
    :data:`TRACK_LOOKBACK_MS` back); None when a run is still going."""
    if not cache.add(_TRACK_LOCK_KEY, "1", _TRACK_LOCK_SECONDS):
        logger.info("funding sync: the previous run is still going; skipped")
        return None
    try:
        clock = now_ms or (lambda: int(time.time() * 1000))
        now = clock()
        instruments = selectors.perpetuals_tracked()
        ends = selectors.funding_coverage_ends(instrument_ids=[instrument.pk for instrument in instruments])
        targets = [
            FundingTarget.for_instrument(
                instrument, min(ends.get(instrument.pk, now - TRACK_LOOKBACK_MS), now), now + 1
            )
            for instrument in instruments
        ]
        summary = funding_rates_download(
            targets=targets, endpoints=endpoints, policy=policy, record_job=False, now_ms=clock
        )
        for error in summary.errors:
            logger.warning("funding sync: %s", error)
        return summary
    finally:
        cache.delete(_TRACK_LOCK_KEY)
