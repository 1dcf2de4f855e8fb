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
Slot = object  # what ``acquire`` hands out and ``release`` takes back


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
        self._in_flight: dict[int, tuple[int, int]] = {}  # id of a sent request's slot → (window charged, weight)
        self._late: dict[int, int] = {}  # window → weight answered in it, sent (and charged) in an earlier one

    def _roll(self, now: float) -> None:
        window = int(now // self.window_s)
        if window != self._window:
            self._window = window
            # A request sent in an earlier window and not answered yet may reach the venue in this one; one answered
            # here already may have. Either way the venue may count it here: so do we.
            # (Only from the window just ended: no request outlives a whole window, and a slot never released is
            # not charged for ever.)
            self._in_flight = {
                key: (window, weight) for key, (charged, weight) in self._in_flight.items() if charged == window - 1
            }
            self.used = sum(weight for _, weight in self._in_flight.values()) + self._late.pop(window, 0)
            self._late = {w: weight for w, weight in self._late.items() if w > window}

    async def acquire(self, weight: int) -> Slot:
        """Wait until ``weight`` fits in the current window, then spend it. Hand the result to :meth:`release`
        when the answer (or the failure) arrives."""
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
                    slot = object()
                    self._in_flight[id(slot)] = (self._window, weight)
                    return slot
                await self._wait(window_start + self.window_s + self.guard_s - now)

    def release(self, slot: Slot) -> None:
        """The answer to the request that took ``slot`` arrived (see :meth:`_roll` for why it matters)."""
        sent = self._in_flight.pop(id(slot), None)
        if sent is None:
            return
        charged, weight = sent
        window = int(self._clock() // self.window_s)
        if window > charged:  # answered in a later window than the one it was charged to: it may count there
            if window == self._window:
                self.used += weight
            else:
                self._late[window] = self._late.get(window, 0) + weight

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
        # One entry per slot taken, in the order taken: [when it counts from]. Sending stamps it; the answer (see
        # ``release``) moves it to the answer's time, and an entry leaves only from the front, so a slot whose
        # answer came late holds back the ones behind it (never the reverse).
        self._sent: deque[list[float]] = deque()

    async def acquire(self, weight: int = 1) -> Slot:
        """Wait for a free slot, then take ``weight`` of them (each request costs 1 at these venues). Hand the
        result to :meth:`release` when the answer (or the failure) arrives."""
        taken: list[list[float]] = []
        async with self._lock:
            for _ in range(weight):
                while True:
                    now = self._clock()
                    if now < self.paused_until:
                        await self._wait(self.paused_until - now)
                        continue
                    while self._sent and self._sent[0][0] <= now - self.window_s:
                        self._sent.popleft()
                    if len(self._sent) < self.limit:
                        entry = [now]
                        self._sent.append(entry)
                        taken.append(entry)
                        break
                    await self._wait(self._sent[0][0] + self.window_s - now)
        return taken

    def release(self, slot: Slot) -> None:
        """The answer to the request that took ``slot`` arrived: its slots count from now.

        The venue counted the request somewhere between our send and its answer. Counting from the send, a request
        the venue saw late (its queue, the network, a busy machine) and the one sent a window later and seen at once
        could fall into one venue window; counting from the answer, never: the next request a slot lets out is sent,
        so seen, at least a full window after the venue saw this one.
        """
        now = self._clock()
        for entry in slot if isinstance(slot, list) else ():
            entry[0] = max(entry[0], now)

    def observe(self, used: int, at: float | None = None) -> None:
        """These venues send no usage header; nothing to learn."""


RateLimiter = FixedWindowBudget | SlidingWindowLimiter
