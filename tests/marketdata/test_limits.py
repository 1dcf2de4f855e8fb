"""The rate limiters, on a virtual clock: sleeping advances time, so the schedules are exact."""

from __future__ import annotations

import asyncio

import pytest

from marketdata.exchanges.limits import FixedWindowBudget, SlidingWindowLimiter


class VirtualClock:
    def __init__(self, start: float = 1_000_000.0):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_fixed_window_spends_the_budget_then_waits_for_the_next_window_and_its_guard():
    clock = VirtualClock(start=60.0 * 1000 + 1.0)  # one second into a minute
    budget = FixedWindowBudget(10, 60.0, guard_s=0.25, clock=clock, sleep=clock.sleep)
    stamps: list[float] = []

    async def go() -> None:
        for _ in range(7):
            budget.release(await budget.acquire(2))  # answered at once
            stamps.append(clock.now)

    run(go())
    # 5 requests of weight 2 fill the minute; the 6th waits for the next minute plus the guard.
    assert stamps[:5] == [60_001.0] * 5
    assert stamps[5] == pytest.approx(60_060.25)
    assert stamps[6] == pytest.approx(60_060.25)
    assert budget.used == 4


def test_fixed_window_trusts_the_venue_count_when_it_is_higher():
    clock = VirtualClock(start=120.0 + 10)
    budget = FixedWindowBudget(100, 60.0, clock=clock, sleep=clock.sleep)

    async def go() -> None:
        budget.release(await budget.acquire(1))
        budget.observe(99)  # another process on our IP spent weight too
        budget.release(await budget.acquire(1))
        assert clock.now == 130.0
        budget.release(await budget.acquire(1))  # 101 > 100: next window

    run(go())
    assert clock.now == pytest.approx(180.25)
    budget.observe(5000, at=150.0)  # a stale header from the previous window changes nothing
    assert budget.used == 1


def test_fixed_window_refuses_a_request_heavier_than_the_whole_budget():
    budget = FixedWindowBudget(10, 60.0)
    with pytest.raises(ValueError, match="can never fit"):
        run(budget.acquire(11))


def test_pause_holds_every_request_until_the_venue_said():
    clock = VirtualClock(start=30.0)
    limiter = SlidingWindowLimiter(100, 1.0, clock=clock, sleep=clock.sleep)
    limiter.pause_until(42.0)
    limiter.pause_until(35.0)  # a shorter pause never shortens the longer one

    async def go() -> None:
        await limiter.acquire()

    run(go())
    assert clock.now == 42.0
    assert limiter.waited_s == pytest.approx(12.0)


def test_sliding_window_never_lets_more_than_the_limit_into_any_window():
    clock = VirtualClock(start=0.0)
    limiter = SlidingWindowLimiter(10, 1.0, margin=0.0, clock=clock, sleep=clock.sleep)
    stamps: list[float] = []

    async def worker() -> None:
        for _ in range(25):
            await limiter.acquire()
            stamps.append(clock.now)
            await clock.sleep(0.013)  # some work between requests

    async def go() -> None:
        await asyncio.gather(*(worker() for _ in range(4)))

    run(go())
    assert len(stamps) == 100
    stamps.sort()
    for i in range(len(stamps) - 10):
        assert stamps[i + 10] - stamps[i] >= 1.0 - 1e-9, (i, stamps[i], stamps[i + 10])
    # and it is not idle: 100 requests at 10 per second take about 9 s, not much more
    assert stamps[-1] - stamps[0] < 10.5


def test_sliding_window_counts_a_slot_from_the_answer_so_a_late_seen_request_cannot_share_a_venue_window():
    # Given 2 requests per 5 s; the first is answered 0.4 s after it was sent (the venue saw it at some moment in
    # between), the second at once.
    clock = VirtualClock(start=0.0)
    limiter = SlidingWindowLimiter(2, 5.0, margin=0.0, clock=clock, sleep=clock.sleep)

    async def go() -> float:
        first = await limiter.acquire()
        await clock.sleep(0.4)
        limiter.release(first)
        limiter.release(await limiter.acquire())
        await limiter.acquire()  # the third waits for the first slot: a full window after the first answer
        return clock.now

    assert run(go()) == pytest.approx(5.4)


def test_fixed_window_charges_a_request_still_in_flight_when_the_window_turns_to_the_new_window_too():
    # Given 10 weight a minute, a request of weight 4 sent at 59.9 s and answered at 60.3 s (the venue may have
    # counted it in either minute)
    clock = VirtualClock(start=60.0 * 1000 + 59.9)
    budget = FixedWindowBudget(10, 60.0, guard_s=0.25, clock=clock, sleep=clock.sleep)

    async def go() -> list[float]:
        late = await budget.acquire(4)
        await clock.sleep(0.4)
        sent = []
        for _ in range(4):  # 4 + 3 x 2 = 10 in the new minute, then the fourth request of 2 waits a minute
            sent.append(clock.now)
            budget.release(await budget.acquire(2))
            if len(sent) == 1:
                budget.release(late)
        sent.append(clock.now)
        return sent

    sent = run(go())
    assert sent[:4] == [pytest.approx(60_060.3)] * 4
    assert sent[4] == pytest.approx(60_120.25)


def test_fixed_window_charges_a_request_answered_after_the_window_turned_before_anyone_asked():
    clock = VirtualClock(start=60.0 * 1000 + 59.9)
    budget = FixedWindowBudget(10, 60.0, guard_s=0.25, clock=clock, sleep=clock.sleep)

    async def go() -> int:
        late = await budget.acquire(4)
        await clock.sleep(0.2)  # answered at 60.1 s, before the next request rolls the window
        budget.release(late)
        await clock.sleep(0.2)
        await budget.acquire(6)
        return budget.used

    assert run(go()) == 10
