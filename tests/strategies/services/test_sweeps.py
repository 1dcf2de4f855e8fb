"""Sweeps and walk-forward studies over stored candles: every input checked before anything is stored; chunks
recorded once (a retried chunk changes nothing); the stored results are the vectorised kernel's on the same bars."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from marketdata import services as marketdata_services
from strategies import tasks
from strategies.core.data import BarSeries, MarketData
from strategies.core.vectorised import LeadLagArrays, SweepKernel, VectorCosts, aligned_bars, leadlag_grid
from strategies.core.walkforward import Scheme, walkforward_run, walkforward_splits
from strategies.errors import StrategySweepError
from strategies.models import StrategySweep
from strategies.services import sweeps
from tests import live_processes
from tests.strategies.bars import BINANCE, BYBIT, MINUTE, START_MS
from tests.strategies.sweep_candles import BARS, END_MS, sweep_candles_store

pytestmark = pytest.mark.django_db

DAY = 86_400_000
GRID = {"lookback": ["1", "2"], "threshold": ["0.001", "0.002"], "hold_bars": ["1", "3"], "stop": ["0.002", "0.02"]}
FIXED = {"leader": "binance", "follower": "bybit"}
COSTS = {"fee_model": "venue", "slippage_bps": "1", "latency_ms": 60_000}


@pytest.fixture
def stored() -> tuple[BarSeries, BarSeries]:
    return sweep_candles_store()


def create(**overrides: Any) -> StrategySweep:
    inputs: dict[str, Any] = {
        "strategy": "leadlag",
        "exchanges": ["binance", "bybit"],
        "symbol": "BTC/USDT",
        "interval": "1m",
        "start_ms": START_MS,
        "end_ms": END_MS,
        "parameters": FIXED,
        "grid": GRID,
        "cash": Decimal(10_000),
        "cost_model": COSTS,
        "chunk_size": 5,
    }
    inputs.update(overrides)
    return sweeps.strategy_sweep_create(**inputs)


def kernel_for(lead: BarSeries, follow: BarSeries, period_ms: int = DAY) -> Any:
    keep = np.isin(lead.open_ms, follow.open_ms)
    lead = BarSeries(
        BINANCE, MINUTE, lead.open_ms[keep], lead.open[keep], lead.high[keep], lead.low[keep], lead.close[keep],
        lead.volume[keep], 2,
    )  # fmt: skip
    bars = aligned_bars(MarketData([lead, follow]))
    costs = VectorCosts(fee=0.001, slippage=0.0001, latency_ms=60_000)

    def make(window: Any) -> SweepKernel:
        arrays = LeadLagArrays(window, leader=BINANCE, follower=BYBIT, costs=costs, short=False, max_hold=3)
        return SweepKernel(arrays, cash=10_000.0, period_ms=period_ms)

    return bars, make


GRID_POINTS = leadlag_grid(lookbacks=[1, 2], thresholds=[0.001, 0.002], hold_bars=[1, 3], stops=[0.002, 0.02])


def test_a_sweep_stores_each_points_kernel_result(stored: tuple[BarSeries, BarSeries]) -> None:
    # Given a 16-point sweep in chunks of 5
    sweep = create()
    assert (sweep.status, sweep.progress_done, sweep.progress_total) == ("queued", 0, 16)
    seen: list[tuple[int, int]] = []

    # When it runs in this process
    done = sweeps.strategy_sweep_execute(sweep_id=sweep.pk, progress=lambda d, t: seen.append((d, t)))

    # Then every chunk is recorded, in four steps of progress, and each point is the kernel's on the common bars
    assert (done.status, done.progress_done, done.error) == ("done", 16, "")
    assert seen == [(5, 16), (10, 16), (15, 16), (16, 16)]
    bars, make = kernel_for(*stored)
    expected = make(bars).sweep(GRID_POINTS)
    assert done.results["points"] == [s.json() for s in expected]
    assert done.results["bars"] == BARS - 1 and done.results["bars_dropped"] == 1
    best = max(expected, key=lambda s: s.sharpe)
    assert done.results["best"] == best.json()
    # hold on the follower over the same bars is the benchmark
    assert done.results["benchmark"] == make(bars).benchmark()
    assert done.results["benchmark"]["final_nav"] == pytest.approx(
        10_000 / (float(bars.opens[1, 0]) * 1.0001 * 1.001) * float(bars.closes[1, -1]), rel=1e-12
    )
    assert done.started_at is not None and done.finished_at is not None


def test_a_chunk_run_twice_is_recorded_once(stored: tuple[BarSeries, BarSeries]) -> None:
    sweep = create()
    assert sweeps.strategy_sweep_start(sweep_id=sweep.pk) == [0, 1, 2, 3]
    sweeps.strategy_sweep_execute(sweep_id=sweep.pk, chunks=[1])
    first = StrategySweep.objects.get(pk=sweep.pk)

    # When the same chunk runs again (a retried task)
    sweeps.strategy_sweep_execute(sweep_id=sweep.pk, chunks=[1])

    # Then nothing changed, and only the other chunks are left
    again = StrategySweep.objects.get(pk=sweep.pk)
    assert (again.progress_done, again.status, again.results) == (5, "running", first.results)
    assert list(again.results["chunks"]) == ["1"]
    assert sweeps.strategy_sweep_start(sweep_id=sweep.pk) == [0, 2, 3]

    # and once every chunk is in, a finished study takes none
    sweeps.strategy_sweep_execute(sweep_id=sweep.pk)
    finished = StrategySweep.objects.get(pk=sweep.pk)
    assert (finished.status, finished.progress_done) == ("done", 16)
    assert sweeps.strategy_sweep_start(sweep_id=sweep.pk) == []
    sweeps.strategy_sweep_execute(sweep_id=sweep.pk, chunks=[0])
    assert StrategySweep.objects.get(pk=sweep.pk).results == finished.results


def test_a_walkforward_study_stores_the_in_process_result(stored: tuple[BarSeries, BarSeries]) -> None:
    # Given 12 h in-sample, 6 h out-of-sample rolling splits over the two days
    settings = {"scheme": "rolling", "in_sample_ms": 12 * 3_600_000, "out_sample_ms": 6 * 3_600_000}
    study = create(walkforward=settings)
    assert (study.kind, study.progress_total) == ("walkforward", 6)

    # When it runs
    done = sweeps.strategy_sweep_execute(sweep_id=study.pk)

    # Then the stored result is the pure walk-forward's on the same bars, with statistics on hourly NAV (12 h and
    # 6 h windows hold whole hours, not whole days)
    assert study.splits["period_ms"] == 3_600_000
    bars, make = kernel_for(*stored, period_ms=3_600_000)
    splits = walkforward_splits(
        start_ms=START_MS, end_ms=END_MS, in_sample_ms=12 * 3_600_000, out_sample_ms=6 * 3_600_000,
        scheme=Scheme.ROLLING,
    )  # fmt: skip
    expected = walkforward_run(bars, splits, GRID_POINTS, kernel_for=make).json()
    assert done.status == "done" and done.progress_done == 6
    level = 10_000.0
    for stored_split, split in zip(done.results["splits"], expected["splits"], strict=True):
        assert {k: v for k, v in stored_split.items() if k not in ("bars_dropped", "benchmark")} == split
        out_bars = bars.window(split["out_start_ms"], split["out_end_ms"])
        assert stored_split["benchmark"] == make(out_bars).benchmark()
        level *= stored_split["benchmark"]["final_nav"] / 10_000.0
    assert done.results["benchmark"]["final_nav"] == pytest.approx(level, rel=1e-12)
    assert done.results["out_of_sample"] == expected["out_of_sample"]
    assert done.results["bars_dropped"] == 1  # the missing minute falls in the first split's window only


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"strategy": "hold"}, "leadlag only"),
        ({"cash": Decimal(-1)}, "cash must be positive"),
        ({"start_ms": END_MS}, "window is empty"),
        ({"interval": "7x"}, "unknown interval"),
        ({"exchanges": ["binance", "kraken"]}, "no instrument BTC/USDT on kraken"),
        ({"grid": {**GRID, "leader": ["bybit"]}}, "cannot sweep 'leader'"),
        ({"grid": {**GRID, "threshold": ["-0.1"]}}, "threshold must be positive"),
        ({"grid": {**GRID, "stop": []}}, "grid 'stop' has no values"),
        ({"parameters": {"leader": "binance"}}, "leader and follower"),
        ({"parameters": {**FIXED, "lookback": "2"}}, "lookback both fixed and swept"),
        ({"cost_model": {"slippage_bps": "-1"}}, "slippage must not be negative"),
        ({"cost_model": {"fees": "zero"}}, "unknown cost setting(s) fees"),
        ({"start_ms": END_MS + DAY, "end_ms": END_MS + 2 * DAY}, "no candles for binance"),
        ({"walkforward": {"in_sample_ms": 2 * DAY, "out_sample_ms": DAY}}, "no split fits"),
        ({"walkforward": {"in_sample_ms": DAY, "out_sample_ms": DAY, "objective": "luck"}}, "unknown objective"),
        ({"walkforward": {"out_sample_ms": DAY}}, "walk-forward needs in_sample_ms"),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(
    stored: tuple[BarSeries, BarSeries], overrides: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(StrategySweepError) as refused:
        create(**overrides)
    assert fragment in str(refused.value)
    assert StrategySweep.objects.count() == 0


# -- over a real Celery worker --------------------------------------------------------------------------------


@pytest.fixture
def worker_queue(redis_namespace: live_processes.RedisNamespace, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """One real worker (solo pool) alone on a queue of its own, reading the test database."""
    log_path = tmp_path / "worker.log"
    with live_processes.celery_worker(redis_namespace, log_path, timeout=30.0) as queue:
        yield queue, log_path


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_sweep_fans_out_over_a_worker(stored: tuple[BarSeries, BarSeries], worker_queue: tuple[str, Path]) -> None:
    # Given the same sweep twice
    queue, log_path = worker_queue
    over_celery, in_process = create(), create()

    # When one runs as tasks on the worker and the other in this process
    tasks.strategy_sweep_run.apply_async((over_celery.pk, queue), queue=queue)
    sweeps.strategy_sweep_execute(sweep_id=in_process.pk)

    def finished() -> StrategySweep | None:
        sweep = StrategySweep.objects.get(pk=over_celery.pk)
        return sweep if sweep.status in ("done", "failed") else None

    done = live_processes.wait_until(finished, timeout=120.0, what="the sweep", log_path=log_path)

    # Then the worker's chunks made the same results
    assert (done.status, done.progress_done, done.error) == ("done", 16, "")
    assert done.results == StrategySweep.objects.get(pk=in_process.pk).results


@pytest.mark.parametrize(
    ("in_sample", "out_sample", "period"),
    [(DAY, DAY // 2, 3_600_000), (DAY, DAY, DAY), (90 * MINUTE, 90 * MINUTE, MINUTE)],
)
def test_walkforward_statistics_sample_whole_periods_of_every_window(
    stored: tuple[BarSeries, BarSeries], in_sample: int, out_sample: int, period: int
) -> None:
    study = create(walkforward={"in_sample_ms": in_sample, "out_sample_ms": out_sample})
    assert study.splits["period_ms"] == period


def test_a_chunk_without_data_fails_the_study_and_records_nothing(stored: tuple[BarSeries, BarSeries]) -> None:
    # Given a sweep whose follower's candles are deleted after it was created
    sweep = create()
    bybit = StrategySweep.objects.get(pk=sweep.pk).markets[1]
    marketdata_services.klines_delete(
        instrument_id=bybit["instrument_id"], interval="1m", start_ms=START_MS, end_ms=END_MS
    )

    # When it runs
    with pytest.raises(StrategySweepError, match="no bar at a common time"):
        sweeps.strategy_sweep_execute(sweep_id=sweep.pk)

    # Then it is failed with the reason, nothing recorded, and running it again does nothing
    failed = StrategySweep.objects.get(pk=sweep.pk)
    assert (failed.status, failed.progress_done, failed.results) == ("failed", 0, {"chunks": {}})
    assert "no bar at a common time" in failed.error
    assert sweeps.strategy_sweep_start(sweep_id=sweep.pk) == []
    assert sweeps.strategy_sweep_execute(sweep_id=sweep.pk).status == "failed"
