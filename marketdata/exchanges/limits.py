"""Client-side rate limiters, one per venue budget, shared by every concurrent request to that budget.

The venues count what arrives; we count what we send, before sending, so a burst of concurrent requests never
overshoots. Two shapes cover the three venues:

- :class:`FixedWindowBudget`: Binance's request weight per calendar minute (a request at 00:01:23.456 counts
  toward the 00:01:00 minute). The ``X-MBX-USED-WEIGHT-1M`` header is the venue's own count for our IP, so it
  raises ours when someone else on the IP spends weight too.
- :class:`SlidingWindowLimiter`: at most N requests in any window of W seconds (Bybit: 600 per 5 s per IP;
  Coinbase Exchange public endpoints: 10 per second). A sliding window at the sender implies at most N in any
  fixed or sliding window at the venue, up to network jitter, which the margin absorbs.

Both can be paused (``pause_until``) when the venue says to back off (429/418 ``Retry-After``, Bybit's 403 ban): no
request leaves during the pause, which is what keeps a 429 from turning into a 418.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class _Pausable:
    def __init__(self, clock: Clock, sleep: Sleep):
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self.paused_until = 0.0
        self.waited_s = 0.0  # time spent waiting for budget or a pause (reported by benchmarks)

    def pause_until(self, until: float) -> None:
        """No request is sent before ``until`` (clock seconds); a shorter pause never shortens a longer one."""
        self.paused_until = max(self.paused_until, until)

    async def _wait(self, seconds: float) -> None:
        # At least a microsecond: a wait computed as "t - now" can round to a clock tick short of t.
        seconds = max(seconds, 1e-6)
        self.waited_s += seconds
        await self._sleep(seconds)


class FixedWindowBudget(_Pausable):
    """``budget`` weight per fixed window of ``window_s`` seconds aligned to the epoch (Binance: 6000 per minute).

    ``guard_s`` is kept back after each window starts, for the clock difference between us and the venue: a
    request we send just after the minute turns must not land in the venue's previous minute.
    """

    def __init__(
        self,
        budget: int,
        window_s: float = 60.0,
        *,
        guard_s: float = 0.25,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ):
        super().__init__(clock, sleep)
        if budget <= 0 or window_s <= 0:
            raise ValueError("budget and window must be positive")
        self.budget = budget
        self.window_s = window_s
        self.guard_s = guard_s
        self._window = -1
        self.used = 0

    def _roll(self, now: float) -> None:
        window = int(now // self.window_s)
        if window != self._window:
            self._window = window
            self.used = 0

    async def acquire(self, weight: int) -> None:
        """Wait until ``weight`` fits in the current window, then spend it."""
        if weight > self.budget:
            raise ValueError(f"a request of weight {weight} can never fit a budget of {self.budget}")
        async with self._lock:
            while True:
                now = self._clock()
                if now < self.paused_until:
                    await self._wait(self.paused_until - now)
                    continue
                self._roll(now)
                window_start = self._window * self.window_s
                if now < window_start + self.guard_s and self.used == 0:
                    await self._wait(window_start + self.guard_s - now)
                    continue
                if self.used + weight <= self.budget:
                    self.used += weight
                    return
                await self._wait(window_start + self.window_s + self.guard_s - now)

    def observe(self, used: int, at: float | None = None) -> None:
        """The venue's count for the window of ``at`` (default: now); it can only raise ours."""
        at = self._clock() if at is None else at
        if int(at // self.window_s) == self._window:
            self.used = max(self.used, used)


class SlidingWindowLimiter(_Pausable):
    """At most ``limit`` sends in any ``window_s`` seconds; ``margin`` stretches the window against jitter."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        margin: float = 0.03,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ):
        super().__init__(clock, sleep)
        if limit <= 0 or window_s <= 0:
            raise ValueError("limit and window must be positive")
        self.limit = limit
        self.window_s = window_s * (1 + margin)
        self._sent: deque[float] = deque()

    async def acquire(self, weight: int = 1) -> None:
        """Wait for a free slot, then take ``weight`` of them (each request costs 1 at these venues)."""
        async with self._lock:
            for _ in range(weight):
                while True:
                    now = self._clock()
                    if now < self.paused_until:
                        await self._wait(self.paused_until - now)
                        continue
                    while self._sent and self._sent[0] <= now - self.window_s:
                        self._sent.popleft()
                    if len(self._sent) < self.limit:
                        self._sent.append(now)
                        break
                    await self._wait(self._sent[0] + self.window_s - now)

    def observe(self, used: int, at: float | None = None) -> None:
        """These venues send no usage header; nothing to learn."""


RateLimiter = FixedWindowBudget | SlidingWindowLimiter
