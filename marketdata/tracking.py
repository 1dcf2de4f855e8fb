"""Keeping tracked markets current: each run fetches, for every tracked market and interval, what coverage lacks up
to the candle now open, then pushes the fetched candles (new closes, and the open candle as it stands) to the
market's Channels group.

Coverage makes a run idempotent: a second run at the same moment asks only for the open candle again. Runs do not
overlap (a cache lock); a run that finds the lock taken does nothing, the next beat catches up.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable

from django.core.cache import cache
from django.db.models import Max

from marketdata import live
from marketdata.core.candles import Candle
from marketdata.core.intervals import Interval, interval_get
from marketdata.downloads import DownloadSummary, DownloadTarget, klines_download
from marketdata.exchanges.clients import VenueEndpoints
from marketdata.exchanges.transport import RetryPolicy
from marketdata.models import Instrument, KlineCoverage

logger = logging.getLogger(__name__)

# A market tracked for the first time starts this many candles back (one page at every venue but Coinbase).
TRACK_LOOKBACK_CANDLES = 300
_LOCK_KEY = "marketdata:klines-sync-tracked"
_LOCK_SECONDS = 600  # longer than any run; a crashed run's lock expires by itself


def _candles_back(interval: Interval, open_ms: int, n: int) -> int:
    if interval.length_ms is not None:
        return open_ms - n * interval.length_ms
    for _ in range(n):
        open_ms = interval.floor(open_ms - 1)
    return open_ms


def tracked_targets(*, now_ms: int) -> list[DownloadTarget]:
    """One target per tracked market and interval: from the end of its coverage to the candle open at ``now_ms``."""
    targets: list[DownloadTarget] = []
    instruments = Instrument.objects.filter(tracked=True, active=True).order_by("pk")
    ends = {
        (row["instrument_id"], row["interval"]): row["end"]
        for row in KlineCoverage.objects.filter(instrument__in=instruments)
        .values("instrument_id", "interval")
        .annotate(end=Max("end_ms"))
    }
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
    if not cache.add(_LOCK_KEY, "1", _LOCK_SECONDS):
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
            live.klines_broadcast(instrument_id=instrument_id, interval=interval, candles=candles)
        for error in summary.errors:
            logger.warning("klines sync: %s", error)
        return summary
    finally:
        cache.delete(_LOCK_KEY)
