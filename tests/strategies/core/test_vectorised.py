"""The vectorised path against the event-driven engine on random data: the same trades (times and sides) and the
same NAV within 1e-9 relative at every step, over several seeds, parameter sets, cost models and latencies."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from strategies.core.costs import CostModel, FeeModel
from strategies.core.data import BarSeries, MarketData
from strategies.core.engine import Engine, EngineConfig, EngineResult
from strategies.core.markets import Market
from strategies.core.risk import RiskLimits
from strategies.core.vectorised import (
    LeadLagArrays,
    LeadLagPoint,
    SweepKernel,
    VectorCosts,
    VectorisedError,
    VectorRun,
    aligned_bars,
    fill_schedule,
    leadlag_grid,
    nav_statistics,
    sample_steps,
    vectorised_run,
)
from strategies.registry import strategy_build
from tests.strategies.bars import BINANCE, BINANCE_PERP, BYBIT, BYBIT_PERP, MINUTE, START_MS

CASH = Decimal(10_000)


def pair_make(
    leader: Market, follower: Market, count: int, *, seed: int, missing: int = 0
) -> tuple[BarSeries, BarSeries]:
    """Two aligned 1m series: the follower trails the leader by a bar, with noise; both miss the same
    ``missing`` bars at random. Prices in cents, so each is the exact decimal the engine reads."""
    rng = np.random.default_rng(seed)
    path = 20_000.0 * np.exp(np.cumsum(rng.normal(0.0, 1.5e-3, count + 2)))
    lead_close = path[1:-1]
    follow_close = path[:-2] * np.exp(rng.normal(0.0, 2e-4, count))
    open_ms = START_MS + MINUTE * np.arange(count, dtype=np.int64)
    keep = np.ones(count, dtype=bool)
    if missing:
        keep[rng.choice(np.arange(5, count), size=missing, replace=False)] = False

    def make(market: Market, close: np.ndarray) -> BarSeries:
        cents = np.round(close * 100).astype(np.int64)
        opens = np.round(np.concatenate(([close[0]], close[:-1])) * np.exp(rng.normal(0, 3e-4, count)) * 100)
        opens = opens.astype(np.int64)
        return BarSeries(
            market=market,
            interval_ms=MINUTE,
            open_ms=open_ms[keep],
            open=opens[keep],
            high=np.maximum(opens, cents)[keep],
            low=np.minimum(opens, cents)[keep],
            close=cents[keep],
            volume=np.ones(int(keep.sum())),
            scale=2,
        )

    return make(leader, lead_close), make(follower, follow_close)


def engine_run(name: str, params: dict[str, str], data: MarketData, config: EngineConfig) -> EngineResult:
    markets = [s.market for s in data.series]
    return Engine(strategy=strategy_build(name, params, markets), data=data, config=config).run()


def trades_of_engine(result: EngineResult) -> list[tuple[int, str]]:
    return [(entry.time_ms, str(entry.side)) for entry in result.trades]


def trades_of_vector(run: VectorRun, data: MarketData) -> list[tuple[int, str]]:
    open_ms = data.series[0].open_ms
    n = len(open_ms)
    made: list[tuple[int, str]] = []
    t = run.trades
    for k in range(len(t)):
        if t.entry_step[k] >= n:
            continue
        long = int(t.side[k]) > 0
        made.append((int(open_ms[t.entry_bar[k]]), "buy" if long else "sell"))
        if t.exit_step[k] < n:
            made.append((int(open_ms[t.exit_bar[k]]), "sell" if long else "buy"))
    return made


def assert_same_run(result: EngineResult, run: VectorRun, data: MarketData) -> None:
    assert result.refusals == []
    assert trades_of_vector(run, data) == trades_of_engine(result)
    assert run.step_ms.tolist() == result.nav_times
    engine_nav = np.asarray([float(v) for v in result.nav])
    relative = np.abs(run.nav - engine_nav) / np.abs(engine_nav)
    assert float(relative.max()) <= 1e-9
    assert run.exposed.tolist() == result.exposed


LEADLAG_CASES = [
    # (leader, follower, params, slippage bps, latency ms, missing bars)
    (BINANCE, BYBIT, {"lookback": "1", "threshold": "0.001", "hold_bars": "3", "stop": "0.002"}, "0", 0, 0),
    (BINANCE, BYBIT, {"lookback": "2", "threshold": "0.0015", "hold_bars": "1", "stop": "0.01"}, "2.5", 60_000, 0),
    (BINANCE, BYBIT, {"lookback": "3", "threshold": "0.002", "hold_bars": "6", "stop": "0.0015", "size": "0.4"},
     "1", 90_000, 12),
    (BINANCE, BYBIT, {"lookback": "1", "threshold": "0.0008", "hold_bars": "2", "stop": "0.0005"}, "5", 120_000, 0),
    (BINANCE_PERP, BYBIT_PERP,
     {"lookback": "1", "threshold": "0.001", "hold_bars": "3", "stop": "0.002", "size": "0.9"}, "0", 0, 0),
    (BINANCE_PERP, BYBIT_PERP,
     {"lookback": "2", "threshold": "0.0012", "hold_bars": "4", "stop": "0.001", "size": "0.5"}, "3", 60_000, 9),
    (BINANCE, BYBIT_PERP,
     {"lookback": "4", "threshold": "0.002", "hold_bars": "1", "stop": "0.003", "size": "0.75"}, "1.5", 150_000, 0),
]  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("leader", "follower", "params", "slippage", "latency", "missing"), LEADLAG_CASES)
def test_leadlag_vectorised_equals_the_engine(
    seed: int,
    leader: Market,
    follower: Market,
    params: dict[str, str],
    slippage: str,
    latency: int,
    missing: int,
) -> None:
    # Given aligned random bars on two venues, the venues' fees, slippage and latency
    data = MarketData(pair_make(leader, follower, 1_500, seed=seed, missing=missing))
    config = EngineConfig(cash=CASH, costs=CostModel(slippage_bps=Decimal(slippage), latency_ms=latency))
    full = {"leader": leader.venue, "follower": follower.venue, **params}

    # When both paths run the same strategy
    result = engine_run("leadlag", full, data, config)
    run = vectorised_run(strategy_build("leadlag", full, [s.market for s in data.series]), data, config)

    # Then they trade alike and their NAVs agree at every step
    assert len(result.trades) >= 20  # enough round trips for the comparison to mean something
    assert_same_run(result, run, data)


@pytest.mark.parametrize("seed", [4, 5])
@pytest.mark.parametrize(("slippage", "latency", "fees"), [("0", 0, FeeModel.ZERO), ("2", 120_000, FeeModel.VENUE)])
def test_hold_vectorised_equals_the_engine(seed: int, slippage: str, latency: int, fees: FeeModel) -> None:
    data = MarketData(pair_make(BINANCE, BYBIT, 400, seed=seed))
    config = EngineConfig(
        cash=CASH, costs=CostModel(fee_model=fees, slippage_bps=Decimal(slippage), latency_ms=latency)
    )
    result = engine_run("hold", {}, data, config)
    run = vectorised_run(strategy_build("hold", {}, [BINANCE, BYBIT]), data, config)
    assert_same_run(result, run, data)
    # The closed form: q = cash / (O (1 + s) (1 + f)), NAV q * C
    series = data.series[0]
    rate = 0.0 if fees is FeeModel.ZERO else 0.001
    quantity = 10_000 / (series.open[0] / 100 * (1 + float(slippage) / 10_000) * (1 + rate))
    assert run.final_nav == pytest.approx(quantity * series.close[-1] / 100, rel=1e-12)


@pytest.mark.parametrize(("follower", "short"), [(BYBIT, False), (BYBIT_PERP, True)])
def test_the_sweep_kernel_gives_each_point_the_single_run(follower: Market, short: bool) -> None:
    # Given a grid and the arrays it shares
    bars = aligned_bars(MarketData(pair_make(BINANCE, follower, 3_000, seed=7)))
    grid = leadlag_grid(lookbacks=[1, 3], thresholds=[0.001, 0.002], hold_bars=[1, 4], stops=[0.001, 0.01], sizes=[0.5])
    costs = VectorCosts(fee=0.001, slippage=0.0002, latency_ms=60_000)
    shared = LeadLagArrays(bars, leader=BINANCE, follower=follower, costs=costs, short=short, max_hold=4)
    kernel = SweepKernel(shared, cash=10_000.0, period_ms=3_600_000)
    seen: list[tuple[int, int]] = []

    # When the kernel sweeps it
    summaries = kernel.sweep(grid, progress=lambda done, total: seen.append((done, total)))

    # Then each summary is what a fresh single run of that point gives, in the grid's order
    assert [s.point for s in summaries] == grid
    assert seen[-1] == (16, 16) and len(seen) == 16
    for summary in summaries:
        alone = LeadLagArrays(
            bars, leader=BINANCE, follower=follower, costs=costs, short=short, max_hold=summary.point.hold_bars
        ).run(summary.point, cash=10_000.0)
        assert summary.final_nav == alone.final_nav
        assert summary.trades == len(alone.trades)
        assert summary.exposure == float(np.mean(alone.exposed))
        hourly = alone.nav[sample_steps(bars.close_ms, 3_600_000)]
        assert summary.periods == 50
        assert (summary.total_return, summary.sharpe, summary.max_drawdown) == nav_statistics(
            hourly, cash=10_000.0, periods_per_year=8_760
        )


def test_fill_schedule_waits_for_the_bar_opening_after_the_latency() -> None:
    # Given bars at minutes 0, 1, 2, 4, 5 (minute 3 missing on both venues)
    open_ms = START_MS + MINUTE * np.asarray([0, 1, 2, 4, 5], dtype=np.int64)
    series = [
        BarSeries(m, MINUTE, open_ms, *(np.full(5, 100, dtype=np.int64),) * 4, np.ones(5), 0) for m in (BINANCE, BYBIT)
    ]
    bars = aligned_bars(MarketData(series))

    # Then with no latency a decision fills at the next bar's open, booked at its close
    fill_bar, fill_step = fill_schedule(bars, 0)
    assert fill_bar.tolist() == [1, 2, 3, 4, 5]
    assert fill_step.tolist() == [0, 1, 2, 3, 4, 5]
    # and with 90 s it fills at the first bar opening 90 s after the decision, booked at the step after that open
    fill_bar, fill_step = fill_schedule(bars, 90_000)
    assert fill_bar.tolist() == [3, 3, 4, 5, 5]
    assert fill_step.tolist() == [0, 1, 2, 3, 4, 5]


def test_unaligned_bars_and_binding_limits_are_refused() -> None:
    lead, follow = pair_make(BINANCE, BYBIT, 50, seed=1)
    shifted = BarSeries(
        BYBIT, MINUTE, follow.open_ms + 1, follow.open, follow.high, follow.low, follow.close, follow.volume, 2
    )
    with pytest.raises(VectorisedError, match="not aligned"):
        aligned_bars(MarketData([lead, shifted]))
    data = MarketData([lead, follow])
    strategy = strategy_build("leadlag", {"leader": "binance", "follower": "bybit"}, [BINANCE, BYBIT])
    limited = EngineConfig(cash=CASH, limits=RiskLimits(max_daily_loss=Decimal("0.05"), price_band=Decimal("0.1")))
    with pytest.raises(VectorisedError, match="max_daily_loss, price_band"):
        vectorised_run(strategy, data, limited)
    with pytest.raises(VectorisedError, match="threshold and stop must be positive"):
        LeadLagPoint(lookback=1, threshold=0.0, hold_bars=1, stop=0.01)
