"""The machinery every fake venue shares: an aiohttp application on 127.0.0.1 in a background thread, a log of
the requests it answered, fault injection, and the rate limiters the venues document.

Usage::

    with FakeBinance(markets=[...], clock=lambda: 1_700_000_000_000) as fake:
        fake.url                   # http://127.0.0.1:<port>
        fake.faults.add("503", times=2, path_prefix="/api/v3/klines")
        ...
        fake.counts()              # Counter({200: 10, 503: 2})

Fault kinds (each consumed by one matching request before the venue sees it, so it costs no rate budget):
``"500"``, ``"502"``, ``"503"``, ``"429"``, ``"403"``, ``"418"`` or any other status code (answered with the
venue's error body for it); ``"timeout"`` (hold the request ``fault_delay_s`` seconds, then answer normally — set it
longer than the client's timeout); ``"truncated"`` (the real status and ``Content-Length`` but only half the body,
then the connection closes); ``"cut"`` (a chunked body closed half-way, as a connection dropped mid-download).

Rate limits run in real (wall-clock) time with the venue's documented windows by default; each fake takes
constructor arguments to shrink them for fast tests. The market ``clock`` (what "now" is for candles) is separate.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Self

from aiohttp import web

Clock = Callable[[], int]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class RequestRecord(NamedTuple):
    method: str
    path: str
    params: dict[str, str]
    status: int


class RequestLog:
    """A thread-safe, append-only list of :class:`RequestRecord` (the server thread writes, tests read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.snapshot())

    def __getitem__(self, index: int) -> RequestRecord:
        return self.snapshot()[index]


FAULT_KINDS = ("timeout", "truncated", "cut")


@dataclass
class _Fault:
    kind: str
    times: int
    path_prefix: str | None


class Faults:
    """Queued faults: the oldest one whose ``path_prefix`` matches a request is applied to it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Fault] = []

    def add(self, kind: str, times: int = 1, path_prefix: str | None = None) -> None:
        if kind not in FAULT_KINDS and not (kind.isdigit() and 400 <= int(kind) <= 599):
            raise ValueError(f"unknown fault {kind!r}: an HTTP status 4xx/5xx or one of {', '.join(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._queue.append(_Fault(kind, times, path_prefix))

    def take(self, path: str) -> str | None:
        with self._lock:
            for fault in self._queue:
                if fault.path_prefix is None or path.startswith(fault.path_prefix):
                    fault.times -= 1
                    if fault.times == 0:
                        self._queue.remove(fault)
                    return fault.kind
        return None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def pending(self) -> int:
        with self._lock:
            return sum(f.times for f in self._queue)


class FakeServer:
    """Base of the fakes: subclasses add routes in :meth:`routes` and say how the venue words an error."""

    def __init__(self, *, clock: Clock | None = None, fault_delay_s: float = 5.0) -> None:
        self.clock: Clock = clock or wall_clock_ms
        self.fault_delay_s = fault_delay_s
        self.requests = RequestLog()
        self.faults = Faults()
        self.url = ""
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # -- to override ----------------------------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def error_response(self, status: int) -> web.Response:
        """The venue's answer for an injected status fault."""
        return web.Response(status=status, text=f"{status}")

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._serve())
            except BaseException as exc:  # report a failed start to the caller's thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"{type(self).__name__}-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    async def _serve(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        self.routes(app)
        # A short shutdown: a request held by a "timeout" fault must not keep a test waiting at exit.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._thread = self._loop = self._runner = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the log ------------------------------------------------------------------------------------------------

    def counts(self) -> Counter[int]:
        """How many answered requests per HTTP status."""
        return Counter(record.status for record in self.requests.snapshot())

    # -- middleware: faults and the log --------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        params = dict(request.query)
        fault = self.faults.take(request.path)
        status = 0
        try:
            if fault is not None and fault.isdigit():
                response: web.StreamResponse = self.error_response(int(fault))
            else:
                if fault == "timeout":
                    await asyncio.sleep(self.fault_delay_s)
                try:
                    response = await handler(request)
                except web.HTTPException as exc:
                    response = exc
                if fault in ("truncated", "cut") and isinstance(response, web.Response):
                    status = response.status
                    return await self._broken(request, response, chunked=fault == "cut")
            status = response.status
            return response
        finally:
            self.requests.append(RequestRecord(request.method, request.path, params, status))

    async def _broken(self, request: web.Request, response: web.Response, *, chunked: bool) -> web.StreamResponse:
        body = response.body if isinstance(response.body, bytes) else b""
        broken = web.StreamResponse(status=response.status, headers=response.headers)
        broken.content_type = response.content_type
        if chunked:
            broken.enable_chunked_encoding()
        else:
            broken.content_length = len(body)
        await broken.prepare(request)
        await broken.write(body[: len(body) // 2])
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError  # the connection is gone: nothing more is written


# -- rate limiters ---------------------------------------------------------------------------------------------------


class Verdict(NamedTuple):
    status: int  # 0: allowed
    retry_after_s: int  # whole seconds, as the Retry-After header says
    used: int  # the weight used in the current window, after this request


class WeightWindow:
    """Binance's request weight per fixed window (a 1-minute window starts every minute on the wall clock).

    Over the limit → 429 with the seconds left in the window. Requests that keep coming before that Retry-After
    passes are violations; ``ban_after`` of them → 418, an IP ban of ``ban_s`` seconds that doubles with every
    new ban (Binance: "from 2 minutes to 3 days").
    """

    MAX_BAN_S = 3 * 24 * 3600

    def __init__(self, limit: int, window_s: float = 60.0, ban_s: float = 120.0, ban_after: int = 3) -> None:
        self.limit = limit
        self.window_s = window_s
        self.ban_s = ban_s
        self.ban_after = ban_after
        self._lock = threading.Lock()
        self._window = -1
        self.used = 0
        self.backoff_until = 0.0
        self.banned_until = 0.0
        self.violations = 0
        self.bans = 0

    def admit(self, weight: int, now: float | None = None) -> Verdict:
        now = time.time() if now is None else now
        with self._lock:
            window = math.floor(now / self.window_s)
            if window != self._window:
                self._window, self.used = window, 0
            if now < self.banned_until:
                return Verdict(418, math.ceil(self.banned_until - now), self.used)
            if now < self.backoff_until:
                self.violations += 1
                if self.violations >= self.ban_after:
                    duration = min(self.ban_s * 2**self.bans, self.MAX_BAN_S)
                    self.bans += 1
                    self.violations = 0
                    self.banned_until = now + duration
                    return Verdict(418, math.ceil(duration), self.used)
                return Verdict(429, math.ceil(self.backoff_until - now), self.used)
            if self.used + weight > self.limit:
                self.backoff_until = (window + 1) * self.window_s
                return Verdict(429, max(1, math.ceil(self.backoff_until - now)), self.used)
            self.used += weight
            return Verdict(0, 0, self.used)


class SlidingCount:
    """Bybit's per-IP limit: at most ``limit`` requests in any ``window_s`` seconds; a breach bans for ``ban_s``."""

    def __init__(self, limit: int, window_s: float, ban_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self.ban_s = ban_s
        self._lock = threading.Lock()
        self._times: deque[float] = deque()
        self.banned_until = 0.0

    def admit(self, now: float | None = None) -> Verdict:
        now = time.monotonic() if now is None else now
        with self._lock:
            if now < self.banned_until:
                return Verdict(403, math.ceil(self.banned_until - now), len(self._times))
            while self._times and self._times[0] <= now - self.window_s:
                self._times.popleft()
            if len(self._times) >= self.limit:
                self.banned_until = now + self.ban_s
                self._times.clear()
                return Verdict(403, math.ceil(self.ban_s), self.limit)
            self._times.append(now)
            return Verdict(0, 0, len(self._times))


class TokenBucket:
    """Coinbase's lazy-fill token bucket: ``rate`` tokens per second up to ``burst``; no token → 429."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._last: float | None = None

    def admit(self, now: float | None = None) -> Verdict:
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._last is not None:
                self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens < 1.0:
                return Verdict(429, 1, 0)
            self._tokens -= 1.0
            return Verdict(0, 0, 0)


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(payload, separators=(",", ":")).encode(),
        content_type="application/json",
        headers=headers,
    )
