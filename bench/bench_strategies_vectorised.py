"""The vectorised sweep kernel: a ``leadlag`` grid over one year of 1m bars on two venues (525,600 bars each),
in bar-evaluations per second (grid points x bars / seconds); target >= 50 M/s.

Generated candles: the follower trails the leader by a bar, with noise, prices in cents. Timed: the whole
``SweepKernel.sweep`` of the grid, shared arrays included (returns per lookback, signals per threshold, stop
exits per stop), three times from scratch; the fastest counts. Baseline measured in the same run: the
event-driven ``Engine`` on a few of the same points over a slice of the same bars (it is the reference the
vectorised path is held equal to).
"""

from __future__ import annotations

import time
from decimal import Decimal

import numpy as np

YEAR_MINUTES = 525_600
START_MS = 1_672_531_200_000  # 2023-01-01 00:00 UTC
MINUTE = 60_000
TARGET_RATE = 50e6
REPEATS = 3  # the fastest counts (the machine is shared)
BASELINE_BARS = 20_000


def _data(count: int) -> object:
    from strategies.core.data import BarSeries, MarketData
    from strategies.core.markets import Market

    rng = np.random.default_rng(11)
    path = 20_000.0 * np.exp(np.cumsum(rng.normal(0.0, 8e-4, count + 2)))
    open_ms = START_MS + MINUTE * np.arange(count, dtype=np.int64)

    def make(venue: str, close: np.ndarray) -> BarSeries:
        cents = np.round(close * 100).astype(np.int64)
        opens = np.concatenate(([cents[0]], cents[:-1]))
        high, low = np.maximum(opens, cents), np.minimum(opens, cents)
        return BarSeries(Market(venue, "BTC/USDT"), MINUTE, open_ms, opens, high, low, cents, np.ones(count), 2)

    leader = make("binance", path[1:-1])
    follower = make("bybit", path[:-2] * np.exp(rng.normal(0.0, 1e-4, count)))
    return MarketData([leader, follower])


def main() -> None:
    from strategies.core.costs import CostModel
    from strategies.core.engine import Engine, EngineConfig
    from strategies.core.markets import Market
    from strategies.core.vectorised import LeadLagArrays, SweepKernel, aligned_bars, leadlag_grid, vector_costs
    from strategies.registry import strategy_build

    leader, follower = Market("binance", "BTC/USDT"), Market("bybit", "BTC/USDT")
    config = EngineConfig(cash=Decimal(10_000), costs=CostModel(slippage_bps=Decimal(1), latency_ms=MINUTE))
    grid = leadlag_grid(
        lookbacks=[1, 2, 3, 5, 10, 15, 30, 60],
        thresholds=[0.001, 0.002, 0.003, 0.005],
        hold_bars=[1, 5, 15, 60],
        stops=[0.002, 0.01],
    )
    data = _data(YEAR_MINUTES)
    bars = aligned_bars(data)  # type: ignore[arg-type]

    timings: list[float] = []
    for _ in range(REPEATS):  # fresh shared arrays each time: nothing cached from the run before
        started = time.perf_counter()
        arrays = LeadLagArrays(
            bars,
            leader=leader,
            follower=follower,
            costs=vector_costs(config, follower),
            short=False,
            max_hold=max(p.hold_bars for p in grid),
        )
        summaries = SweepKernel(arrays, cash=10_000.0).sweep(grid)
        timings.append(time.perf_counter() - started)
    seconds = min(timings)
    rate = len(grid) * len(bars) / seconds
    trades = sum(s.trades for s in summaries)

    # Baseline: the engine on four of the points over the first BASELINE_BARS bars.
    small = _data(BASELINE_BARS)
    picked = grid[:: len(grid) // 4][:4]
    started = time.perf_counter()
    for point in picked:
        params = {
            "leader": "binance",
            "follower": "bybit",
            "lookback": str(point.lookback),
            "threshold": repr(point.threshold),
            "hold_bars": str(point.hold_bars),
            "stop": repr(point.stop),
        }
        strategy = strategy_build("leadlag", params, [leader, follower])
        Engine(strategy=strategy, data=small, config=config).run()  # type: ignore[arg-type]
    engine_seconds = time.perf_counter() - started
    engine_rate = len(picked) * BASELINE_BARS / engine_seconds

    print(
        f"vectorised sweep: {len(grid)} points x {len(bars):,} bars in {seconds:.2f} s (best of {REPEATS}; "
        f"{', '.join(f'{t:.2f}' for t in timings)}) = {rate / 1e6:.1f} M "
        f"bar-evaluations/s ({trades:,} trades in all); target >= {TARGET_RATE / 1e6:.0f} M/s: "
        f"{'PASS' if rate >= TARGET_RATE else 'FAIL'}"
    )
    print(
        f"event-driven engine (baseline): {len(picked)} points x {BASELINE_BARS:,} bars in {engine_seconds:.2f} s = "
        f"{engine_rate / 1e6:.3f} M bar-evaluations/s; ratio vectorised / engine: {rate / engine_rate:,.0f}x"
    )


if __name__ == "__main__":
    main()
