"""Kline downloads: what is missing, fetched from archives and REST within each venue's limits, stored with COPY.

The plan for one market and interval over ``[start, end)``:

1. Clip ``end`` to the candle now open (stored as open, replaced when it closes; never counted as covered).
2. Subtract what coverage says was already fetched: a re-run (after a ``kill -9`` too) asks only for the rest.
3. Binance: complete, published months and days come from the bulk archives (sha256-checked against their
   ``.CHECKSUM`` before use); a period the archive host does not have, or a bad archive, falls back to REST.
4. The rest is cut into windows of at most the venue's page size and fetched concurrently, each request waiting
   for its venue budget (:mod:`marketdata.exchanges.limits`). Every window is stored with its coverage in one
   transaction, so an interruption loses at most the windows in flight and duplicates nothing.

I/O runs on an asyncio loop in a thread of its own; the caller's thread does every database write, so no
transaction waits on the network and the caller's connection (a test's transaction, a Celery worker's) is the one
used.

Tracked markets are kept current by :func:`klines_sync_tracked` (beat): each run fetches, for every tracked market
and interval, what coverage lacks up to the candle now open, then pushes the fetched candles (new closes, and the
open candle as it stands) to the market's Channels group. Coverage makes a run idempotent: a second run at the same
moment asks only for the open candle again. Runs do not overlap (a cache lock); a run that finds the lock taken does
nothing, the next beat catches up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, overload

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from marketdata import broadcasts, selectors, services
from marketdata.archive_loading import ArchiveItem, archives_import_many
from marketdata.core import archives
from marketdata.core.candle_rows import CandleRows, candle_rows_join
from marketdata.core.candles import Candle, CandleError
from marketdata.core.gaps import ranges_subtract
from marketdata.core.intervals import Interval, interval_get, venue_interval_code
from marketdata.core.paging import windows
from marketdata.core.rest import InstrumentInfo, PayloadError, RestRequest, VenueError
from marketdata.core.venues import MarketType, Venue
from marketdata.download_runs import (
    DownloadCounts,
    DownloadProgress,
    Produce,
    download_job_run,
    download_stats_count,
    network_thread_results,
)
from marketdata.exchanges.clients import KlineClient, VenueClients, VenueEndpoints
from marketdata.exchanges.limits import SlidingWindowLimiter
from marketdata.exchanges.transport import RestTransport, RetryPolicy, TransportError, TransportStats
from marketdata.models import Instrument, KlineArchive
from marketdata.services import ArchiveResult

logger = logging.getLogger(__name__)

# Fetched windows of one market stored together, up to this many candles: one transaction's fixed cost (locks,
# the range probe, the coverage merge, the commit: about 2 ms of this process and 2 ms of PostgreSQL) spread over
# many pages. A market's windows wait at most STORE_LINGER_S for company when nothing else is to be done, so a
# kill loses at most that much fetched work, and a live close reaches the database that much later at most.
STORE_BATCH_CANDLES = 20_000
STORE_LINGER_S = 0.25
IDLE_POLL_S = 0.05  # how often the storing side looks at lingering windows when nothing arrives
ARCHIVE_CONCURRENCY = 4  # archive downloads in flight
ARCHIVE_BATCH = 8  # fetched archives imported together
ARCHIVE_IMPORT_WORKERS = 2  # database connections importing them (one PostgreSQL backend keeps one core busy)


@dataclass(frozen=True, slots=True)
class DownloadTarget:
    instrument_id: int
    venue: Venue
    market_type: MarketType
    symbol: str  # unified, for messages
    venue_symbol: str
    interval: str
    start_ms: int
    end_ms: int  # exclusive

    @classmethod
    def for_instrument(cls, instrument: Instrument, interval: str, start_ms: int, end_ms: int) -> DownloadTarget:
        return cls(
            instrument_id=instrument.pk,
            venue=Venue(instrument.exchange),
            market_type=MarketType(instrument.market_type),
            symbol=instrument.symbol,
            venue_symbol=instrument.venue_symbol,
            interval=interval,
            start_ms=start_ms,
            end_ms=end_ms,
        )

    @property
    def label(self) -> str:
        return f"{self.venue} {self.symbol} {self.interval}"


@dataclass
class DownloadSummary(DownloadCounts):
    """``planned``: candles the missing ranges can hold; ``done``: of those, in ranges now fetched."""

    archives: int = 0
    archives_republished: int = 0  # imported archives whose checksum changed since: periods re-imported
    archive_fallbacks: int = 0  # archive periods fetched through REST instead (404, bad checksum, corrupt zip)
    gaps_left: int = 0  # candles neither fetched nor known to be absent at the venue
    venue_empty: int = 0  # candles the venue was asked for and does not have
    # With ``collect``: every candle fetched by REST (new closes and the open candle), for live broadcasts.
    fetched: list[tuple[DownloadTarget, Candle]] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.rows_written} rows written, {self.rows_present} already present, {self.requests} requests, "
            f"{self.retries} retries, {self.gaps_left} candles in gaps left"
            + (f", {self.archives} archives" if self.archives else "")
            + (f", {self.archives_republished} re-published archives re-imported" if self.archives_republished else "")
            + (f", {len(self.errors)} errors" if self.errors else "")
        )


ProgressCallback = Callable[[DownloadSummary], None]


def endpoints_from_settings() -> VenueEndpoints:
    return VenueEndpoints(
        binance_url=settings.BINANCE_REST_URL,
        binance_futures_url=settings.BINANCE_FUTURES_REST_URL,
        bybit_url=settings.BYBIT_REST_URL,
        coinbase_url=settings.COINBASE_REST_URL,
    )


@dataclass(frozen=True, slots=True)
class _Fetched:
    target: DownloadTarget
    start_ms: int
    end_ms: int
    rows: CandleRows | None = None  # a REST window's candles, checked
    archive: tuple[str, str, bytes, str] | None = None  # (period, url, zip, .CHECKSUM text)
    error: Exception | None = None
    recheck: bool = False  # an imported archive checked again for a re-publication
    unchanged: bool = False  # ... whose .CHECKSUM still names the imported zip (not downloaded again)


class KlineDownloader:
    """One download run over several targets.

    The network side runs an asyncio loop on a thread of its own (the venue clients, their limiters shared by
    every request to one budget); the calling thread plans, stores every result and reports progress, so all
    database work happens on the caller's connection and no transaction waits on the network.
    """

    def __init__(
        self,
        *,
        endpoints: VenueEndpoints,
        policy: RetryPolicy | None = None,
        archive_url: str | None,
        concurrency: int,
        now_ms: Callable[[], int] | None = None,
        progress: ProgressCallback | None = None,
        job_id: int | None = None,
        collect: bool = False,
        recheck_archives: bool = False,
    ):
        self.recheck_archives = recheck_archives
        self.endpoints = endpoints
        self.policy = policy or RetryPolicy()
        self.archive_url = archive_url.rstrip("/") if archive_url else None
        self.concurrency = max(1, concurrency)
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._progress = DownloadProgress(callback=progress, job_id=job_id)
        self.job_id = job_id
        self.collect = collect
        self.summary = DownloadSummary()
        self._failed: set[DownloadTarget] = set()
        self._errored: set[DownloadTarget] = set()
        self._stats: list[TransportStats] = []

    def run(self, targets: Sequence[DownloadTarget]) -> DownloadSummary:
        now = self._now_ms()
        archive_jobs: list[tuple[DownloadTarget, str, str | None]] = []  # (target, period, sha256 if imported)
        rest: list[tuple[DownloadTarget, int, int]] = []
        for target in targets:
            iv = interval_get(target.interval)
            venue_interval_code(target.venue, target.market_type, target.interval)
            # The open candle is fetched (and stored as open); coverage stops at its open time.
            end = min(target.end_ms, iv.next_open(iv.floor(now)))
            if end <= target.start_ms:
                continue
            covered = selectors.coverage_ranges(
                instrument_id=target.instrument_id, interval=target.interval, start_ms=target.start_ms, end_ms=end
            )
            for lo, hi in ranges_subtract([(target.start_ms, end)], covered):
                self.summary.planned += iv.count(lo, hi)
                if target.venue is Venue.BINANCE and self.archive_url:
                    plan = archives.archive_periods(target.interval, lo, hi, now)
                    archive_jobs.extend((target, period, None) for period in (*plan.monthly, *plan.daily))
                    rest.extend((target, a, b) for a, b in plan.rest)
                else:
                    rest.append((target, lo, hi))
            if target.venue is Venue.BINANCE and self.archive_url and self.recheck_archives:
                archive_jobs.extend(
                    (target, period, sha256)
                    for period, sha256 in KlineArchive.objects.filter(
                        instrument_id=target.instrument_id, interval=target.interval
                    ).values_list("period", "sha256")
                    if target.start_ms <= archives.archive_period_range(period)[0]
                    and archives.archive_period_range(period)[1] <= end
                )
        self._report(force=True)

        # Archives first: a period the archive host cannot serve (or serves badly) joins the REST plan.
        if archive_jobs:
            batch: list[_Fetched] = []
            for fetched in self._fetch(self._archives_fetch(archive_jobs)):
                batch.append(fetched)
                if len(batch) >= ARCHIVE_BATCH:
                    rest.extend(self._archives_store(batch))
                    batch = []
            rest.extend(self._archives_store(batch))
        if rest:
            pending: dict[DownloadTarget, list[_Fetched]] = {}
            since: dict[DownloadTarget, float] = {}  # when the oldest of a market's pending windows arrived
            for window in self._fetch(self._rest_fetch(rest, now), idle=True):
                if window is not None:
                    waiting = pending.setdefault(window.target, [])
                    since.setdefault(window.target, time.monotonic())
                    waiting.append(window)
                    if window.error is not None or sum(f.rows.count for f in waiting if f.rows) >= STORE_BATCH_CANDLES:
                        del since[window.target]
                        self._rest_store(pending.pop(window.target), now)
                # Windows that have waited long enough are stored whether or not more keep arriving (``since`` is
                # in arrival order: the oldest come first).
                due = time.monotonic() - STORE_LINGER_S
                while since and next(iter(since.values())) <= due:
                    target = next(iter(since))
                    del since[target]
                    self._rest_store(pending.pop(target), now)
            for target in list(pending):
                self._rest_store(pending.pop(target), now)
        self._gaps_count(targets, now)
        self._report(force=True)
        return self.summary

    # -- the network thread -------------------------------------------------------------------------------------

    @overload
    def _fetch(self, produce: Produce, idle: Literal[False] = False) -> Iterator[_Fetched]: ...

    @overload
    def _fetch(self, produce: Produce, idle: Literal[True]) -> Iterator[_Fetched | None]: ...

    def _fetch(self, produce: Produce, idle: bool = False) -> Iterator[_Fetched | None]:
        """Run ``produce`` on a loop in a thread of its own; yield what it fetches, in arrival order (and, with
        ``idle``, None whenever nothing has arrived yet, and every IDLE_POLL_S while that lasts: the moments to
        store what waits)."""
        if idle:
            return network_thread_results(
                produce, kind=_Fetched, name="klines-download", maxsize=256, idle_poll_s=IDLE_POLL_S
            )
        return network_thread_results(produce, kind=_Fetched, name="klines-download", maxsize=256)

    async def _put(self, results: queue.Queue[object], item: _Fetched) -> None:
        while True:
            try:
                results.put_nowait(item)
                return
            except queue.Full:  # the storing side is behind: wait for it, without blocking the loop
                await asyncio.sleep(0.005)

    def _rest_fetch(self, rest: list[tuple[DownloadTarget, int, int]], now: int) -> Produce:
        async def produce(results: queue.Queue[object]) -> None:
            async with VenueClients(self.endpoints, self.policy) as clients:
                queues: dict[int, asyncio.Queue[tuple[DownloadTarget, KlineClient, int, int]]] = {}
                for target, lo, hi in rest:
                    client = clients.client(target.venue, target.market_type)
                    work = queues.setdefault(id(client.transport), asyncio.Queue())
                    for w_start, w_end in windows(interval_get(target.interval), lo, hi, client.klines_limit):
                        work.put_nowait((target, client, w_start, w_end))

                async def worker(work: asyncio.Queue[tuple[DownloadTarget, KlineClient, int, int]]) -> None:
                    while not work.empty():
                        target, client, w_start, w_end = work.get_nowait()
                        if target in self._failed:
                            continue
                        try:
                            rows = await client.klines(target.venue_symbol, target.interval, w_start, w_end, now)
                            await self._put(results, _Fetched(target, w_start, w_end, rows=rows))
                        except (VenueError, PayloadError, CandleError, TransportError) as error:
                            self._failed.add(target)
                            await self._put(results, _Fetched(target, w_start, w_end, error=error))

                await asyncio.gather(*(worker(w) for w in queues.values() for _ in range(self.concurrency)))
                self._stats.extend(clients.stats().values())

        return produce

    def _archives_fetch(self, jobs: list[tuple[DownloadTarget, str, str | None]]) -> Produce:
        assert self.archive_url is not None
        base = self.archive_url

        async def produce(results: queue.Queue[object]) -> None:
            # The archive host documents no request limit; a few at a time, politely paced.
            transport = RestTransport(
                Venue.BINANCE, base, limiter=SlidingWindowLimiter(20, 1.0), error_parse=_archive_error,
                policy=self.policy,
            )  # fmt: skip
            semaphore = asyncio.Semaphore(ARCHIVE_CONCURRENCY)

            async def one(target: DownloadTarget, period: str, known: str | None) -> None:
                start, end = archives.archive_period_range(period)
                url = archives.archive_url(base, target.market_type, target.venue_symbol, target.interval, period)
                path = url[len(base) :]
                recheck = known is not None
                async with semaphore:
                    try:
                        checksum = await transport.get(RestRequest(path + ".CHECKSUM"))
                        text = checksum.decode("utf-8", "replace")
                        if recheck and archives.archive_checksum_parse(text)[0] == known:
                            await self._put(results, _Fetched(target, start, end, recheck=True, unchanged=True))
                            return
                        body = await transport.get(RestRequest(path))
                    except (VenueError, TransportError, archives.ArchiveError) as error:
                        await self._put(results, _Fetched(target, start, end, error=error, recheck=recheck))
                        return
                fetched = _Fetched(target, start, end, archive=(period, url, body, text), recheck=recheck)
                await self._put(results, fetched)

            async with transport:
                await asyncio.gather(*(one(target, period, known) for target, period, known in jobs))
            self._stats.append(transport.stats)

        return produce

    # -- the storing thread (the caller's) ---------------------------------------------------------------------

    def _rest_store(self, batch: list[_Fetched], now: int) -> None:
        """Store fetched windows of one market in one transaction (one COPY, their coverage with it)."""
        target = batch[0].target
        if target in self._errored:
            return
        iv = interval_get(target.interval)
        try:
            pages: list[CandleRows] = []
            covered: list[tuple[int, int]] = []
            for fetched in batch:
                if fetched.error is not None:
                    raise fetched.error
                rows = fetched.rows
                assert rows is not None
                # Ascending: the first and the last open time bound the page.
                if rows.count and not fetched.start_ms <= rows.first_ms <= rows.last_ms < fetched.end_ms:
                    outside = [t for t in (rows.first_ms, rows.last_ms) if not fetched.start_ms <= t < fetched.end_ms]
                    raise PayloadError(f"candles outside the window asked for: {outside}")
                pages.append(rows)
                covered_end = min(fetched.end_ms, iv.floor(now))
                if covered_end > fetched.start_ms:
                    covered.append((fetched.start_ms, covered_end))
            candles = candle_rows_join(pages)
            result = services.klines_store(
                instrument_id=target.instrument_id, interval=target.interval, candles=candles, covered=covered
            )
        except (VenueError, PayloadError, TransportError, CandleError) as error:
            # Refused (bad symbol...), nonsense, or down through every retry: this market stops here. What was
            # stored stays, and coverage says where a re-run resumes.
            self._failed.add(target)
            self._errored.add(target)  # windows in flight fail too; one error per market is the news
            self.summary.errors.append(f"{target.label}: {error}")
            logger.warning("klines download %s failed: %s", target.label, error)
            return
        self.summary.rows_written += result.written
        self.summary.rows_present += result.present
        self.summary.done += sum(iv.count(f.start_ms, f.end_ms) for f in batch)
        if self.collect:
            self.summary.fetched.extend((target, c) for c in candles.candles())
        self._report()

    def _archives_store(self, batch: list[_Fetched]) -> list[tuple[DownloadTarget, int, int]]:
        """Import a batch of fetched archives; returns the periods REST must serve instead (missing, refused).

        Outside a transaction the batch is imported concurrently, each archive on a connection of its own (the
        server's work then spreads over the cores); inside one (a caller's ``atomic``), one after the other.
        """
        imports = [f for f in batch if f.archive is not None and f.error is None]
        items = [ArchiveItem(f.target.instrument_id, f.target.interval, *f.archive) for f in imports if f.archive]
        if connection.in_atomic_block or len(items) < 2:
            outcomes: list[ArchiveResult | archives.ArchiveError] = []
            for item in items:
                try:
                    outcomes.append(services.archive_import(**dataclasses.asdict(item)))
                except archives.ArchiveError as error:
                    outcomes.append(error)
        else:
            outcomes = archives_import_many(items=items, workers=ARCHIVE_IMPORT_WORKERS)
        results = dict(zip(map(id, imports), outcomes, strict=True))
        fallbacks: list[tuple[DownloadTarget, int, int]] = []
        for fetched in batch:
            outcome = results.get(id(fetched))
            if fetched.recheck:
                self._archive_recheck_done(fetched, outcome)
                continue
            if isinstance(outcome, ArchiveResult):
                self.summary.archives += 1
                self.summary.rows_written += outcome.written
                self.summary.rows_present += outcome.present
                self.summary.done += interval_get(fetched.target.interval).count(fetched.start_ms, fetched.end_ms)
                continue
            reason = outcome if outcome is not None else fetched.error
            if not (isinstance(reason, VenueError) and reason.status == 404):
                logger.warning("archive for %s: %s; using REST", fetched.target.label, reason)
            self.summary.archive_fallbacks += 1
            fallbacks.append((fetched.target, fetched.start_ms, fetched.end_ms))
        self._report()
        return fallbacks

    def _archive_recheck_done(self, fetched: _Fetched, outcome: ArchiveResult | archives.ArchiveError | None) -> None:
        """An imported archive checked again: a changed one replaced its period; a failure changed nothing."""
        if fetched.unchanged:
            return
        if not isinstance(outcome, ArchiveResult):
            reason = outcome if outcome is not None else fetched.error
            logger.warning("archive recheck for %s: %s; the stored period stays", fetched.target.label, reason)
            return
        if outcome.status == "changed":
            self.summary.archives_republished += 1
            self.summary.rows_written += outcome.written
            logger.info("archive for %s was re-published: period re-imported", fetched.target.label)

    # -- reporting ----------------------------------------------------------------------------------------------

    def _gaps_count(self, targets: Sequence[DownloadTarget], now: int) -> None:
        download_stats_count(self.summary, self._stats)
        for target in targets:
            iv = interval_get(target.interval)
            end = min(target.end_ms, iv.floor(now))
            if end <= target.start_ms:
                continue
            report = selectors.klines_gaps(
                instrument_id=target.instrument_id, interval=target.interval, start_ms=target.start_ms, end_ms=end
            )
            self.summary.gaps_left += report.unfetched_candles
            self.summary.venue_empty += report.venue_empty_candles

    def _report(self, *, force: bool = False) -> None:
        self._progress(self.summary, force=force)


def _archive_error(status: int, body: bytes) -> VenueError:
    return VenueError(Venue.BINANCE, status, str(status), body[:200].decode("utf-8", "replace"))


def klines_download(
    *,
    targets: Sequence[DownloadTarget],
    endpoints: VenueEndpoints | None = None,
    archive_url: str | None = None,
    use_archives: bool = True,
    concurrency: int | None = None,
    policy: RetryPolicy | None = None,
    progress: ProgressCallback | None = None,
    record_job: bool = True,
    collect: bool = False,
    recheck_archives: bool = False,
    now_ms: Callable[[], int] | None = None,
) -> DownloadSummary:
    """Download every target's missing candles (times in ms, ``end`` exclusive); blocking. See the module doc.

    A market whose venue refuses the request or stays unreachable stops with an error in the summary; the others
    go on. Re-running after any interruption fetches only what coverage does not hold.
    """
    job_id = None
    if record_job:
        job = services.download_job_start(
            parameters={
                "targets": [
                    {
                        "exchange": t.venue.value,
                        "symbol": t.symbol,
                        "interval": t.interval,
                        "start_ms": t.start_ms,
                        "end_ms": t.end_ms,
                    }
                    for t in targets
                ]
            }
        )
        job_id = job.pk

    downloader = KlineDownloader(
        endpoints=endpoints or endpoints_from_settings(),
        policy=policy,
        archive_url=(archive_url or settings.BINANCE_ARCHIVE_URL) if use_archives else None,
        concurrency=concurrency or settings.KLINES_DOWNLOAD_CONCURRENCY,
        now_ms=now_ms,
        progress=progress,
        job_id=job_id,
        collect=collect,
        recheck_archives=recheck_archives,
    )
    return download_job_run(job_id, lambda: downloader.run(targets), gaps_left=lambda summary: summary.gaps_left)


def instruments_load(
    *, venue: Venue, market_type: MarketType, endpoints: VenueEndpoints | None = None, policy: RetryPolicy | None = None
) -> int:
    """Fetch the venue's market list and upsert it (unified symbol, venue symbol, steps, listing date); blocking.

    Returns the number of instruments written or updated. Raises VenueError, PayloadError or TransportError.
    """

    async def fetch() -> list[InstrumentInfo]:
        async with VenueClients(endpoints or endpoints_from_settings(), policy) as clients:
            return await clients.client(venue, market_type).instruments()

    infos = asyncio.run(fetch())
    return services.instrument_upsert_many(infos=infos)


# -- tracked markets, kept current by beat ---------------------------------------------------------------------

# A market tracked for the first time starts this many candles back (one page at every venue but Coinbase).
TRACK_LOOKBACK_CANDLES = 300
_TRACK_LOCK_KEY = "marketdata:klines-sync-tracked"
_TRACK_LOCK_SECONDS = 600  # longer than any run; a crashed run's lock expires by itself


def _candles_back(interval: Interval, open_ms: int, n: int) -> int:
    if interval.length_ms is not None:
        return open_ms - n * interval.length_ms
    for _ in range(n):
        open_ms = interval.floor(open_ms - 1)
    return open_ms


def tracked_targets(*, now_ms: int) -> list[DownloadTarget]:
    """One target per tracked market and interval: from the end of its coverage to the candle open at ``now_ms``."""
    targets: list[DownloadTarget] = []
    instruments = selectors.instruments_tracked()
    ends = selectors.coverage_ends(instrument_ids=[instrument.pk for instrument in instruments])
    for instrument in instruments:
        for code in instrument.tracked_intervals:
            interval = interval_get(code)
            current = interval.floor(now_ms)
            start = ends.get((instrument.pk, code)) or _candles_back(interval, current, TRACK_LOOKBACK_CANDLES)
            end = interval.next_open(current)
            targets.append(DownloadTarget.for_instrument(instrument, code, min(start, current), end))
    return targets


def klines_sync_tracked(
    *,
    now_ms: Callable[[], int] | None = None,
    endpoints: VenueEndpoints | None = None,
    policy: RetryPolicy | None = None,
) -> DownloadSummary | None:
    """Bring every tracked market up to its open candle and broadcast what was fetched; None if a run is going."""
    if not cache.add(_TRACK_LOCK_KEY, "1", _TRACK_LOCK_SECONDS):
        logger.info("klines sync: the previous run is still going; skipped")
        return None
    try:
        clock = now_ms or (lambda: int(time.time() * 1000))
        targets = tracked_targets(now_ms=clock())
        if not targets:
            return DownloadSummary()
        summary = klines_download(
            targets=targets,
            endpoints=endpoints,
            use_archives=False,
            policy=policy,
            record_job=False,
            collect=True,
            now_ms=clock,
        )
        fetched: dict[tuple[int, str], list[Candle]] = defaultdict(list)
        for target, candle in summary.fetched:
            fetched[(target.instrument_id, target.interval)].append(candle)
        for (instrument_id, interval), candles in fetched.items():
            broadcasts.klines_broadcast(instrument_id=instrument_id, interval=interval, candles=candles)
        for error in summary.errors:
            logger.warning("klines sync: %s", error)
        return summary
    finally:
        cache.delete(_TRACK_LOCK_KEY)
