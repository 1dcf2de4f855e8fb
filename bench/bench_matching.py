"""Matching: the QuantCup score feed through the reference engine, the compiled engine per message, and its batch API.

Baseline: the pure-Python reference engine called once per message, measured in this same run; the ratio is each
way's messages per second over the baseline's. Per-message runs take the fills after every limit, as a caller
that needs them per order would; the batch run takes them once, as columns. Feed parsing and column preparation
are outside the timings. Without ``../shared`` (a user's clone) a generated feed of the same size stands in.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable
from pathlib import Path

from orderbook.matching._engine import MatchingEngine
from orderbook.matching.feed import (
    KIND_LIMIT,
    Feed,
    executions_csv,
    feed_generate,
    feed_read,
    feed_replay,
    final_book_csv,
    order_ids_csv,
)
from orderbook.matching.reference import ReferenceEngine

ROUNDS = 7
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
SCORE_FEED = SHARED / "fixtures" / "orderbook" / "quantcup" / "score_feed.csv"
SCORE_FEED_MESSAGES = 35759


def _feed() -> tuple[Feed, str]:
    if SCORE_FEED.is_file():
        return feed_read(SCORE_FEED), "QuantCup score feed"
    return feed_generate(messages=SCORE_FEED_MESSAGES, seed=1), "generated feed (../shared is missing)"


def _per_message(engine_class: type[ReferenceEngine] | type[MatchingEngine], feed: Feed) -> Callable[[], float]:
    messages = list(zip(feed.kinds, feed.traders, feed.sides, feed.prices, feed.sizes_or_ids, strict=True))

    def run() -> float:
        engine = engine_class("maker")
        limit, cancel, take = engine.limit, engine.cancel, engine.take_executions
        start = time.perf_counter()
        for kind, trader, side, price, last in messages:
            if kind == KIND_LIMIT:
                limit(trader, side, price, last)
                take()
            else:
                cancel(last)
        return time.perf_counter() - start

    return run


def _batch(feed: Feed) -> Callable[[], float]:
    def run() -> float:
        engine = MatchingEngine("maker")
        codes = {name: engine.trader_code(name) for name in dict.fromkeys(feed.traders)}
        traders = array("i", [codes[name] for name in feed.traders])
        start = time.perf_counter()
        engine.replay(feed.kinds, traders, feed.sides, feed.prices, feed.sizes_or_ids)
        engine.take_execution_columns()
        return time.perf_counter() - start

    return run


def main() -> None:
    feed, label = _feed()
    limits = sum(1 for kind in feed.kinds if kind == KIND_LIMIT)
    result = feed_replay(feed, price_rule="maker")
    print(
        f"{label}: {len(feed)} messages ({limits} limits, {len(feed) - limits} cancels), "
        f"{len(result.executions)} executions, {result.resting_orders} resting; best of {ROUNDS}"
    )
    ways = (
        ("reference, per message", _per_message(ReferenceEngine, feed)),
        ("compiled, per message", _per_message(MatchingEngine, feed)),
        ("compiled, batch replay", _batch(feed)),
    )
    baseline = 0.0
    for position, (name, run) in enumerate(ways):
        best = min(run() for _ in range(ROUNDS))
        rate = len(feed) / best
        if position == 0:
            baseline = rate
        note = " (baseline)" if position == 0 else ""
        print(f"{name:<32} {best * 1000:8.2f} ms {rate:>14,.0f} msgs/s   ratio {rate / baseline:6.2f}{note}")
    writes = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        order_ids_csv(result.order_ids)
        executions_csv(result.executions)
        final_book_csv(result.book)
        writes.append(time.perf_counter() - start)
    print(f"{'writers (ids, executions, book)':<32} {min(writes) * 1000:8.2f} ms")
