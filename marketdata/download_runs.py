"""What the kline and funding downloaders share: the network thread whose results the caller's thread stores, the
run's progress told to a callback and to its download job, and the job finished whatever happens.

The network side is an asyncio loop on a thread of its own; every database write happens on the caller's thread
(its connection: a test's transaction, a Celery worker's), so no transaction waits on the network.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from marketdata import services
from marketdata.exchanges.transport import TransportStats

PROGRESS_EVERY_S = 1.0

T = TypeVar("T")
Produce = Callable[[queue.Queue[object]], Coroutine[Any, Any, None]]

_DONE = object()


@overload
def network_thread_results(
    produce: Produce, *, kind: type[T], name: str, maxsize: int = 0, idle_poll_s: None = None
) -> Iterator[T]: ...


@overload
def network_thread_results(
    produce: Produce, *, kind: type[T], name: str, maxsize: int = 0, idle_poll_s: float
) -> Iterator[T | None]: ...


def network_thread_results(
    produce: Produce, *, kind: type[T], name: str, maxsize: int = 0, idle_poll_s: float | None = None
) -> Iterator[T | None]:
    """Run ``produce(results)`` on an asyncio loop in a thread named ``name``; yield what it puts in ``results``
    (each a ``kind``) in arrival order, on the calling thread. ``maxsize`` bounds the queue (0: unbounded; a
    bounded one needs ``produce`` to wait without blocking its loop). With ``idle_poll_s``, also yield None
    whenever nothing has arrived yet, and every ``idle_poll_s`` while that lasts: the moments to store what waits.
    An exception in the thread is raised here once the thread has ended."""
    results: queue.Queue[object] = queue.Queue(maxsize=maxsize)
    crashed: list[BaseException] = []

    def network() -> None:
        try:
            asyncio.run(produce(results))
        except BaseException as error:  # handed to the calling thread below
            crashed.append(error)
        finally:
            results.put(_DONE)

    thread = threading.Thread(target=network, name=name, daemon=True)
    thread.start()
    while True:
        try:
            item = results.get_nowait()
        except queue.Empty:
            if idle_poll_s is None:
                item = results.get()
            else:
                yield None
                try:
                    item = results.get(timeout=idle_poll_s)
                except queue.Empty:
                    continue
        if item is _DONE:
            break
        assert isinstance(item, kind)
        yield item
    thread.join()
    if crashed:
        raise crashed[0]


@dataclass
class DownloadCounts:
    """What every download summary counts (a download job's progress fields among them), and its errors: one line
    per market that stopped."""

    planned: int = 0  # units of work planned (candles, funding windows)
    done: int = 0  # of those, done
    rows_written: int = 0
    rows_present: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429/418/403-ban answers: each one a limit we failed to respect
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


S = TypeVar("S", bound=DownloadCounts)


def download_stats_count(summary: DownloadCounts, stats: Sequence[TransportStats]) -> None:
    """Set the summary's request counts from its transports' statistics."""
    summary.requests = sum(s.requests for s in stats)
    summary.retries = sum(s.retries for s in stats)
    summary.rate_limited = sum(s.rate_limited for s in stats)


class DownloadProgress:
    """Tells a run's summary to ``callback`` and what it added since the last time to download job ``job_id``
    (either may be None), at most every :data:`PROGRESS_EVERY_S` unless forced."""

    def __init__(self, *, callback: Callable[[Any], None] | None, job_id: int | None) -> None:
        self.callback = callback
        self.job_id = job_id
        self._last = 0.0
        self._reported = (0, 0, 0, 0, 0)  # done, rows written, rows present, requests, retries

    def __call__(self, summary: DownloadCounts, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_EVERY_S:
            return
        self._last = now
        if self.callback is not None:
            self.callback(summary)
        if self.job_id is not None:
            counts = (summary.done, summary.rows_written, summary.rows_present, summary.requests, summary.retries)
            done, written, present, requests, retries = (a - b for a, b in zip(counts, self._reported, strict=True))
            services.download_job_progress(
                job_id=self.job_id,
                total=summary.planned,
                done=done,
                rows_written=written,
                rows_present=present,
                requests=requests,
                retries=retries,
            )
            self._reported = counts


def download_job_run(job_id: int | None, run: Callable[[], S], *, gaps_left: Callable[[S], int]) -> S:
    """``run()``, and the download job ``job_id`` (None: no job) finished after it: with the summary's errors, or
    with the exception that ended the run (raised again)."""
    try:
        summary = run()
    except BaseException as error:
        if job_id is not None:
            services.download_job_finish(job_id=job_id, gaps_left=0, error=f"{type(error).__name__}: {error}")
        raise
    if job_id is not None:
        services.download_job_finish(job_id=job_id, gaps_left=gaps_left(summary), error="; ".join(summary.errors))
    return summary
