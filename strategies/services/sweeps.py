"""Parameter sweeps and walk-forward studies over stored candles, on the vectorised path
(:mod:`strategies.core.vectorised`), fanned out over Celery workers a chunk at a time.

A study is created with every input checked first (nothing is stored for bad input), then run as chunks: a chunk
of grid points (sweep) or one split (walk-forward). Each chunk reads its bars from PostgreSQL, computes outside
any transaction, and records its result under a row lock on the study: a chunk already recorded is not recorded
twice (a retried or duplicated task changes nothing), ``progress_done`` counts what has been recorded, and the
chunk that completes the study writes its final results. Chunks are independent, so any number of workers share
them.

Bars: the markets' closed candles at the open times every market has (the vectorised path needs bars aligned
across venues; a candle one venue lacks drops that minute from all of them, and the count dropped is reported).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from marketdata.core.intervals import IntervalError, interval_get
from marketdata.models import Instrument
from marketdata.selectors import instrument_get
from strategies import selectors
from strategies.cex.core.leadlag import LeadLagParams
from strategies.core.costs import CostError, CostModel
from strategies.core.data import BarSeries, DataError
from strategies.core.engine import EngineConfig
from strategies.core.markets import Market, MarketKind
from strategies.core.params import ParamError, params_parse
from strategies.core.vectorised import (
    AlignedBars,
    LeadLagArrays,
    LeadLagPoint,
    PointSummary,
    SweepKernel,
    VectorisedError,
    aligned_bars,
    vector_costs,
)
from strategies.core.walkforward import (
    OBJECTIVES,
    Scheme,
    Split,
    WalkForwardError,
    best_point,
    finite_mean,
    walkforward_split,
    walkforward_splits,
    walkforward_stitch,
)
from strategies.errors import StrategySweepError
from strategies.models import StrategySweep
from strategies.services.inputs import cost_model_parse

MAX_POINTS = 100_000
DEFAULT_CHUNK_SIZE = 8
SWEPT_ORDER = tuple(f.name for f in fields(LeadLagParams) if f.name not in ("leader", "follower"))
SWEPT = frozenset(SWEPT_ORDER)
YEAR_DAYS = 365
DAY_MS = 86_400_000
HOUR_MS = 3_600_000

Progress = Callable[[int, int], None]


# -- creation -------------------------------------------------------------------------------------------------


_COST_KEYS = ("fee_model", "slippage_bps", "latency_ms")  # what the vectorised path models


def _costs_parse(values: Mapping[str, object]) -> CostModel:
    unknown = sorted(set(values) - set(_COST_KEYS))
    if unknown:
        known = ", ".join(sorted(_COST_KEYS))
        raise StrategySweepError(f"unknown cost setting(s) {', '.join(unknown)}; known: {known}")
    try:
        return cost_model_parse(values)
    except (ValueError, CostError) as error:
        raise StrategySweepError(f"cost model: {error}") from None


def _grid_points(parameters: Mapping[str, object], grid: Mapping[str, Sequence[object]]) -> list[dict[str, str]]:
    """Every combination of ``grid`` over ``parameters``: names in the strategy's order of parameters (the last
    varies fastest), values in the given order."""
    unknown = sorted(set(grid) - SWEPT)
    if unknown:
        raise StrategySweepError(f"cannot sweep {', '.join(map(repr, unknown))}; sweepable: {', '.join(SWEPT_ORDER)}")
    names = [name for name in SWEPT_ORDER if name in grid]
    for name in names:
        if not grid[name]:
            raise StrategySweepError(f"grid {name!r} has no values")
    clash = sorted(set(names) & set(parameters))
    if clash:
        raise StrategySweepError(f"{', '.join(clash)} both fixed and swept")
    count = math.prod(len(grid[name]) for name in names)
    if count > MAX_POINTS:
        raise StrategySweepError(f"{count} grid points; at most {MAX_POINTS}")
    fixed = {k: str(v) for k, v in parameters.items()}
    return [
        {**fixed, **dict(zip(names, (str(v) for v in values), strict=True))}
        for values in itertools.product(*(grid[name] for name in names))
    ]


def _point(params: LeadLagParams) -> LeadLagPoint:
    return LeadLagPoint(
        lookback=params.lookback,
        threshold=float(params.threshold),
        hold_bars=params.hold_bars,
        stop=float(params.stop),
        size=float(params.size),
    )


def strategy_sweep_create(
    *,
    strategy: str,
    exchanges: Sequence[str],
    symbol: str,
    interval: str,
    start_ms: int,
    end_ms: int,
    parameters: Mapping[str, object],
    grid: Mapping[str, Sequence[object]],
    cash: Decimal,
    cost_model: Mapping[str, object] | None = None,
    walkforward: Mapping[str, object] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    created_by: Any = None,
) -> StrategySweep:
    """Check everything, then store a queued study: a sweep of ``grid`` over ``parameters`` (every grid point
    validated as the strategy's parameters), or with ``walkforward`` (``scheme`` rolling|anchored,
    ``in_sample_ms``, ``out_sample_ms``, optional ``step_ms`` and ``objective``) a walk-forward study choosing
    from the grid in each split. Sweeps run ``chunk_size`` points per task; a walk-forward one split per task.
    Raises :class:`StrategySweepError` and stores nothing on bad input."""
    if strategy != "leadlag":
        raise StrategySweepError(f"sweeps run on the vectorised path, which has leadlag only (not {strategy!r})")
    if not cash > 0:
        raise StrategySweepError(f"cash must be positive, got {cash}")
    if start_ms >= end_ms:
        raise StrategySweepError("the window is empty: start must be before end")
    if chunk_size < 1:
        raise StrategySweepError("chunk size must be at least 1")
    try:
        length_ms = interval_get(interval).length_ms
    except IntervalError as error:
        raise StrategySweepError(str(error)) from None
    if length_ms is None:
        raise StrategySweepError(f"{interval} candles have no fixed length")
    if len(set(exchanges)) < 2:
        raise StrategySweepError("leadlag needs two venues (leader and follower)")
    instruments: list[Instrument] = []
    for exchange in exchanges:
        try:
            instruments.append(instrument_get(exchange=exchange, symbol=symbol))
        except (Instrument.DoesNotExist, ValueError):
            raise StrategySweepError(f"no instrument {symbol} on {exchange}") from None
    points = _grid_points(parameters, grid)
    markets = [Market(i.exchange, i.symbol) for i in instruments]
    try:
        parsed = [params_parse(LeadLagParams, p) for p in points]
        leader, follower = parsed[0].leader, parsed[0].follower
        if leader not in exchanges or follower not in exchanges or not leader or not follower:
            raise ParamError(f"leader and follower must be two of the venues {', '.join(exchanges)}")
        for p in parsed:
            _point(p)
    except (ParamError, VectorisedError) as error:
        raise StrategySweepError(str(error)) from None
    costs = _costs_parse(cost_model or {})
    follower_market = next(m for m in markets if m.venue == follower)
    try:
        costs.fees(follower_market)
    except CostError as error:
        raise StrategySweepError(str(error)) from None
    for instrument in instruments:
        if not selectors.closed_candles_count(
            instrument_id=instrument.pk, interval=interval, start_ms=start_ms, end_ms=end_ms
        ):
            raise StrategySweepError(f"no candles for {instrument.exchange} {symbol} {interval} in the window")
    kind = StrategySweep.Kind.SWEEP
    plan: dict[str, Any] = {}
    total = len(points)
    if walkforward is not None:
        kind = StrategySweep.Kind.WALKFORWARD
        plan = _walkforward_plan(walkforward, start_ms, end_ms, length_ms)
        total = len(plan["windows"])
    else:
        plan = {"chunk_size": chunk_size}
    return StrategySweep.objects.create(
        kind=kind,
        strategy=strategy,
        markets=[{"exchange": i.exchange, "symbol": i.symbol, "instrument_id": i.pk} for i in instruments],
        interval=interval,
        start_ms=start_ms,
        end_ms=end_ms,
        parameters={k: str(v) for k, v in parameters.items()},
        grid={name: [str(v) for v in values] for name, values in grid.items()},
        cost_model=costs.json(),
        cash=cash,
        splits=plan,
        progress_total=total,
        results={"chunks": {}},
        created_by=created_by,
    )


def _walkforward_plan(settings: Mapping[str, object], start_ms: int, end_ms: int, length_ms: int) -> dict[str, Any]:
    known = {"scheme", "in_sample_ms", "out_sample_ms", "step_ms", "objective"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise StrategySweepError(
            f"unknown walk-forward setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    objective = str(settings.get("objective", "sharpe"))
    if objective not in OBJECTIVES:
        raise StrategySweepError(f"unknown objective {objective!r}; known: {', '.join(sorted(OBJECTIVES))}")
    try:
        scheme = Scheme(str(settings.get("scheme", Scheme.ROLLING.value)))
        step = settings.get("step_ms")
        windows = walkforward_splits(
            start_ms=start_ms,
            end_ms=end_ms,
            in_sample_ms=int(str(settings["in_sample_ms"])),
            out_sample_ms=int(str(settings["out_sample_ms"])),
            step_ms=None if step is None else int(str(step)),
            scheme=scheme,
        )
    except KeyError as missing:
        raise StrategySweepError(f"walk-forward needs {missing.args[0]}") from None
    except (ValueError, WalkForwardError) as error:
        raise StrategySweepError(f"walk-forward: {error}") from None
    # Statistics on NAV sampled once a period: a day if every window starts and ends on one, else an hour, else
    # each bar, so that every window holds whole periods and the stitched series' periods are all alike.
    first = windows[0]
    edges = [start_ms, first.in_end_ms - first.in_start_ms, first.out_end_ms - first.out_start_ms]
    if len(windows) > 1:
        edges.append(windows[1].out_start_ms - first.out_start_ms)
    period_ms = next(
        (p for p in (DAY_MS, HOUR_MS) if p >= length_ms and all(edge % p == 0 for edge in edges)),
        length_ms,
    )
    return {
        "scheme": scheme.value,
        "objective": objective,
        "period_ms": period_ms,
        "windows": [w.json() for w in windows],
    }


# -- reading --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudyBars:
    bars: AlignedBars
    dropped: int  # bars of some market left out because another market has no bar at that time


def _bars_aligned(series: Sequence[BarSeries]) -> StudyBars:
    """The series restricted to the open times they all have."""
    common = series[0].open_ms
    for other in series[1:]:
        common = np.intersect1d(common, other.open_ms, assume_unique=True)
    kept: list[BarSeries] = []
    dropped = 0
    for s in series:
        keep = np.isin(s.open_ms, common, assume_unique=True)
        dropped += int(len(s) - keep.sum())
        kept.append(
            BarSeries(
                s.market,
                s.interval_ms,
                s.open_ms[keep],
                s.open[keep],
                s.high[keep],
                s.low[keep],
                s.close[keep],
                s.volume[keep],
                s.scale,
            )
        )
    if not len(common):
        raise StrategySweepError("the markets have no bar at a common time in the window")
    return StudyBars(aligned_bars(kept), dropped)


def _study_bars(sweep: StrategySweep, start_ms: int, end_ms: int) -> StudyBars:
    series = [
        selectors.bar_series_read(
            instrument_id=int(m["instrument_id"]),
            interval=sweep.interval,
            start_ms=start_ms,
            end_ms=end_ms,
            market=Market(m["exchange"], m["symbol"]),
            opens_closes_only=True,
        )
        for m in sweep.markets
    ]
    return _bars_aligned(series)


# -- running --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Study:
    """A stored study's inputs, parsed."""

    points: list[LeadLagPoint]
    leader: Market
    follower: Market
    config: EngineConfig
    period_ms: int

    def kernel_for(self, bars: AlignedBars, max_hold: int | None = None) -> SweepKernel:
        arrays = LeadLagArrays(
            bars,
            leader=self.leader,
            follower=self.follower,
            costs=vector_costs(self.config, self.follower),
            short=self.follower.kind is MarketKind.PERP,
            max_hold=max_hold or max(p.hold_bars for p in self.points),
        )
        return SweepKernel(arrays, cash=float(self.config.cash), period_ms=self.period_ms)


def _study(sweep: StrategySweep) -> Study:
    parameters = {k: str(v) for k, v in sweep.parameters.items()}
    grid = {k: list(v) for k, v in sweep.grid.items()}
    parsed = [params_parse(LeadLagParams, p) for p in _grid_points(parameters, grid)]
    markets = {m["exchange"]: Market(m["exchange"], m["symbol"]) for m in sweep.markets}
    costs = _costs_parse({k: sweep.cost_model[k] for k in _COST_KEYS if k in sweep.cost_model})
    return Study(
        points=[_point(p) for p in parsed],
        leader=markets[parsed[0].leader],
        follower=markets[parsed[0].follower],
        config=EngineConfig(cash=sweep.cash, costs=costs),
        period_ms=_period_ms(sweep),
    )


def _chunks(sweep: StrategySweep) -> int:
    if sweep.kind == StrategySweep.Kind.WALKFORWARD:
        return len(sweep.splits["windows"])
    size = int(sweep.splits["chunk_size"])
    return -(-sweep.progress_total // size)


def strategy_sweep_start(*, sweep_id: int) -> list[int]:
    """Mark the study running (once) and return the chunks not recorded yet; none for a finished study."""
    with transaction.atomic():
        sweep = StrategySweep.objects.select_for_update().get(pk=sweep_id)
        if sweep.status in (StrategySweep.Status.DONE, StrategySweep.Status.FAILED):
            return []
        if sweep.status == StrategySweep.Status.QUEUED:
            sweep.status = StrategySweep.Status.RUNNING
            sweep.started_at = timezone.now()
            sweep.save(update_fields=["status", "started_at"])
        recorded = set(sweep.results.get("chunks", {}))
    return [k for k in range(_chunks(sweep)) if str(k) not in recorded]


def _chunk_compute(sweep: StrategySweep, study: Study, chunk: int) -> tuple[dict[str, Any], int]:
    """One chunk's result as JSON, and how many units of progress it is."""
    if sweep.kind == StrategySweep.Kind.WALKFORWARD:
        window = sweep.splits["windows"][chunk]
        split = Split(**window)
        read = _study_bars(sweep, split.in_start_ms, split.out_end_ms)
        outcome = walkforward_split(
            read.bars, split, study.points, kernel_for=study.kernel_for, objective=sweep.splits["objective"]
        )
        out_bars = read.bars.window(split.out_start_ms, split.out_end_ms)
        benchmark = study.kernel_for(out_bars, 1).benchmark()
        return {**outcome.json(), "benchmark": benchmark, "bars_dropped": read.dropped}, 1
    size = int(sweep.splits["chunk_size"])
    points = study.points[chunk * size : (chunk + 1) * size]
    read = _study_bars(sweep, sweep.start_ms, sweep.end_ms)
    kernel = study.kernel_for(read.bars, max(p.hold_bars for p in points))
    summaries = kernel.sweep(points)
    result: dict[str, Any] = {
        "points": [s.json() for s in summaries],
        "benchmark": kernel.benchmark(),
        "bars": len(read.bars),
        "bars_dropped": read.dropped,
    }
    return result, len(points)


def strategy_sweep_execute(
    *, sweep_id: int, chunks: Sequence[int] | None = None, progress: Progress | None = None
) -> StrategySweep:
    """Run ``chunks`` of the study (every chunk not recorded yet when None) in this process and record each;
    the chunk that completes the study writes its results. A data problem marks the study failed and raises
    :class:`StrategySweepError`."""
    startable = strategy_sweep_start(sweep_id=sweep_id)
    pending = startable if chunks is None else [k for k in chunks if k in startable]
    sweep = StrategySweep.objects.get(pk=sweep_id)
    if sweep.status in (StrategySweep.Status.DONE, StrategySweep.Status.FAILED):
        return sweep
    study = _study(sweep)
    for chunk in pending:
        if str(chunk) in StrategySweep.objects.get(pk=sweep_id).results.get("chunks", {}):
            continue
        try:
            result, units = _chunk_compute(sweep, study, chunk)
        except (StrategySweepError, DataError, VectorisedError, WalkForwardError) as error:
            strategy_sweep_fail(sweep_id=sweep_id, error=str(error))
            raise StrategySweepError(str(error)) from error
        _chunk_record(sweep_id, chunk, result, units)
        if progress is not None:
            fresh = StrategySweep.objects.get(pk=sweep_id)
            progress(fresh.progress_done, fresh.progress_total)
    return StrategySweep.objects.get(pk=sweep_id)


def strategy_sweep_fail(*, sweep_id: int, error: str) -> None:
    with transaction.atomic():
        sweep = StrategySweep.objects.select_for_update().get(pk=sweep_id)
        if sweep.status == StrategySweep.Status.DONE:
            return
        sweep.status = StrategySweep.Status.FAILED
        sweep.error = error
        sweep.finished_at = timezone.now()
        sweep.save(update_fields=["status", "error", "finished_at"])


def _chunk_record(sweep_id: int, chunk: int, result: dict[str, Any], units: int) -> None:
    with transaction.atomic():
        sweep = StrategySweep.objects.select_for_update().get(pk=sweep_id)
        recorded = sweep.results.setdefault("chunks", {})
        if sweep.status != StrategySweep.Status.RUNNING or str(chunk) in recorded:
            return  # a retry, a duplicate, or a study already finished: nothing changes
        recorded[str(chunk)] = result
        StrategySweep.objects.filter(pk=sweep_id).update(progress_done=F("progress_done") + units)
        sweep.refresh_from_db(fields=["progress_done"])
        if len(recorded) == _chunks(sweep):
            sweep.results = _final_results(sweep, recorded)
            sweep.status = StrategySweep.Status.DONE
            sweep.finished_at = timezone.now()
            sweep.save(update_fields=["results", "status", "finished_at"])
        else:
            sweep.save(update_fields=["results"])


def _final_results(sweep: StrategySweep, recorded: Mapping[str, Any]) -> dict[str, Any]:
    ordered = [recorded[str(k)] for k in range(len(recorded))]
    if sweep.kind == StrategySweep.Kind.WALKFORWARD:
        objective = sweep.splits["objective"]
        cash = float(sweep.cash)
        windows = [
            (
                np.asarray([t for t, _ in split["nav"]], dtype=np.int64),
                np.asarray([v for _, v in split["nav"]], dtype=np.float64),
            )
            for split in ordered
        ]
        stitched = walkforward_stitch(windows, cash=cash, periods_per_year=_periods_per_year(sweep))
        in_sample = [PointSummary.from_json(s["in_sample"]) for s in ordered]
        # The benchmark over the same out-of-sample windows, stitched the same way.
        benchmark = walkforward_stitch(
            [
                (
                    np.asarray([t for t, _ in split["benchmark"]["nav"]], dtype=np.int64),
                    np.asarray([v for _, v in split["benchmark"]["nav"]], dtype=np.float64),
                )
                for split in ordered
            ],
            cash=cash,
            periods_per_year=_periods_per_year(sweep),
        )
        return {
            "objective": objective,
            "splits": ordered,
            "out_of_sample": stitched.json(),
            "benchmark": {"strategy": "hold", "market": ordered[0]["benchmark"]["market"], **benchmark.json()},
            "in_sample_mean": {
                name: finite_mean([getattr(s, name) for s in in_sample])
                for name in ("total_return", "sharpe", "max_drawdown")
            },
            "bars_dropped": sum(int(s["bars_dropped"]) for s in ordered),
        }
    points = [p for chunk in ordered for p in chunk["points"]]
    summaries = [PointSummary.from_json(p) for p in points]
    best = best_point(summaries, "sharpe")
    return {
        "objective": "sharpe",
        "points": points,
        "best": best.json(),
        "benchmark": ordered[0]["benchmark"],
        "bars": ordered[0]["bars"],
        "bars_dropped": ordered[0]["bars_dropped"],
    }


def _period_ms(sweep: StrategySweep) -> int:
    """Statistics' sampling period: the walk-forward plan's; for a sweep daily NAV for intraday bars (365 periods a
    year), each bar for daily or longer ones."""
    if sweep.kind == StrategySweep.Kind.WALKFORWARD:
        return int(sweep.splits["period_ms"])
    return max(DAY_MS, interval_get(sweep.interval).length_ms or DAY_MS)


def _periods_per_year(sweep: StrategySweep) -> float:
    return YEAR_DAYS * DAY_MS / _period_ms(sweep)
