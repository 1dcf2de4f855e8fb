"""Backtests: a run created (after checking everything it needs), executed over the stored candles, stored whole.

:func:`strategy_run_create` validates every input before it writes anything: the strategy and its parameters, the
venues, the symbol's instrument on each, the interval, the window and that each venue has closed candles in it, the
cash, the cost model and the risk limits. Bad input is a :class:`~strategies.errors.StrategyError` and no row.

:func:`strategy_run_execute` reads the bars (one binary COPY per venue), runs the engine, computes the metrics, runs
``hold`` on the same data as the benchmark, and stores the ledger, the refusals, the NAV points (COPY) and the result
in one transaction. A failure marks the run failed with its error and stores none of it; a finished run is left as
it is, so executing twice (a redelivered task) changes nothing.

Money is exact ``Decimal``; the metrics are statistics (floats) computed from the NAV series and never read back into
an amount.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.utils import timezone

from hftplatform.core.decimal_text import decimal_text_keep_scale, decimal_text_trim_zeros
from hftplatform.core.utc import utc_aware, utc_ms
from marketdata import selectors as marketdata_selectors
from marketdata.core.intervals import IntervalError, interval_get
from marketdata.core.venues import Venue
from marketdata.models import Instrument
from marketdata.selectors import instrument_get
from strategies import broadcasts, selectors
from strategies.cex.core.hold import Hold, HoldParams
from strategies.cex.core.hold_benchmark import BENCHMARK, hold_benchmark
from strategies.core.costs import CostError, CostModel, FeeModel
from strategies.core.data import BarSeries, DataError, MarketData
from strategies.core.engine import Engine, EngineConfig, EngineError, EngineResult
from strategies.core.markets import Market, MarketKind
from strategies.core.metrics import TradeActivity, performance_metrics, returns_from_nav, trade_statistics
from strategies.core.params import ParamError, decimal_parse, params_json, params_parse
from strategies.core.portfolio import ZERO
from strategies.core.risk import RiskLimits
from strategies.core.strategy import Strategy
from strategies.errors import (
    StrategyCashInvalid,
    StrategyCostInvalid,
    StrategyError,
    StrategyMarketUnknown,
    StrategyNoCandles,
    StrategyParameterInvalid,
    StrategyRunFailed,
    StrategyTooManyRuns,
    StrategyUnknown,
    StrategyWindowInvalid,
)
from strategies.models import StrategyRun
from strategies.registry import strategy_build, strategy_class
from strategies.services.inputs import cost_model_parse, risk_limits_parse

logger = logging.getLogger(__name__)

DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS
DAILY_FROM_MS = 2 * DAY_MS  # a run spanning at least this is measured on UTC-day returns, 365 a year
USER_CONCURRENCY = 2  # a user's backtests queued or running at once (the operator's command is not limited)
PROGRESS_SECONDS = 0.5  # the run row (and the live page) hear of progress at most this often

RunProgress = Callable[[int, int], None]

_ONE = Decimal(1)


def _strategy_class(name: str) -> type[Strategy[Any]]:
    try:
        return strategy_class(name)
    except ParamError as error:
        raise StrategyUnknown(str(error), fields={"strategy": [str(error)]}) from None


def _instrument(exchange: str, symbol: str) -> Instrument:
    try:
        venue = Venue(exchange.strip().lower())
    except ValueError:
        known = ", ".join(v.value for v in Venue)
        message = f"unknown exchange {exchange!r}; known: {known}"
        raise StrategyMarketUnknown(message, fields={"exchanges": [message]}) from None
    try:
        return instrument_get(exchange=venue.value, symbol=symbol.strip())
    except Instrument.DoesNotExist:
        message = f"no instrument {symbol.strip().upper()} on {venue.value}"
        raise StrategyMarketUnknown(message, fields={"symbol": [message]}) from None


def _params_with_roles(
    cls: type[Strategy[Any]], raw: Mapping[str, object], symbol: str, venues: list[str], interval: str
) -> tuple[Any, dict[str, Any] | None]:
    """Parse ``raw``; a strategy with ``leader``/``follower`` parameters left empty takes them from the latest stored
    lead-lag run of the market (and says which run)."""
    try:
        params = params_parse(cls.Params, raw)
    except ParamError as error:
        raise StrategyParameterInvalid(str(error), fields={"parameters": [str(error)]}) from None
    names = {f.name for f in dataclasses.fields(params)}
    if not {"leader", "follower"} <= names or (params.leader and params.follower):
        return params, None
    roles = selectors.leadlag_roles_latest(symbol=symbol, venues=venues, interval=interval)
    if roles is None:
        message = (
            f"{cls.name} needs leader and follower venues: give them (--param leader=… follower=…) or run the "
            f"lead-lag analysis of {symbol} on {', '.join(venues)} first"
        )
        raise StrategyParameterInvalid(message, fields={"parameters": [message]})
    if (params.leader and params.leader != roles.leader) or (params.follower and params.follower != roles.follower):
        message = (
            f"the latest lead-lag run ({roles.run_id}) names {roles.leader} leader and {roles.follower} follower, "
            "which contradicts the one given; give both"
        )
        raise StrategyParameterInvalid(message, fields={"parameters": [message]})
    params = dataclasses.replace(params, leader=roles.leader, follower=roles.follower)
    return params, {"leader": roles.leader, "follower": roles.follower, "leadlag_run_id": roles.run_id}


def strategy_run_create(
    *,
    strategy: str,
    exchanges: Sequence[str],
    symbol: str,
    interval: str,
    start: datetime,
    end: datetime,
    parameters: Mapping[str, object] | None = None,
    cash: Decimal | str | int = Decimal(10_000),
    fee_model: str = FeeModel.VENUE.value,
    slippage_bps: Decimal | str | int = 0,
    latency_ms: int = 0,
    risk_limits: Mapping[str, object] | None = None,
    created_by: Any | None = None,
) -> StrategyRun:
    """A queued backtest of ``strategy`` on ``symbol`` at each of ``exchanges`` (in order) over ``[start, end)``
    (aware datetimes, UTC) at ``interval``, starting with ``cash`` of the symbol's quote asset.

    ``parameters`` are the strategy's (text or JSON values); ``fee_model`` ``venue`` (each venue's base-tier
    schedule) or ``zero``; ``slippage_bps`` against every taker fill; ``latency_ms`` between a decision and the
    earliest fill; ``risk_limits`` as :func:`risk_limits_parse` reads them. Stores the parameters with every default
    filled in (and, for ``leadlag`` without leader/follower, the roles of the latest stored lead-lag run).

    Raises a :class:`~strategies.errors.StrategyError` subclass, and writes nothing, for any bad input;
    :class:`~strategies.errors.StrategyTooManyRuns` when ``created_by`` has :data:`USER_CONCURRENCY` backtests
    queued or running.
    """
    cls = _strategy_class(strategy)
    try:
        start_ms = utc_ms(utc_aware(start, what="start"))
        end_ms = utc_ms(utc_aware(end, what="end"))
    except ValueError as error:
        raise StrategyWindowInvalid(str(error)) from None
    if end_ms <= start_ms:
        message = "the end must be after the start (the end is exclusive)"
        raise StrategyWindowInvalid(message, fields={"end": [message]})
    try:
        cash_value = decimal_parse(cash, what="cash")
    except ValueError as error:
        raise StrategyCashInvalid(str(error), fields={"cash": [str(error)]}) from None
    if not cash_value > 0:
        message = f"cash must be positive, got {cash_value}"
        raise StrategyCashInvalid(message, fields={"cash": [message]})
    try:
        costs = cost_model_parse({"fee_model": fee_model, "slippage_bps": slippage_bps, "latency_ms": latency_ms})
        limits = risk_limits_parse(risk_limits)
    except (ValueError, CostError) as error:
        raise StrategyCostInvalid(str(error)) from None
    try:
        iv = interval_get(interval)
    except IntervalError as error:
        raise StrategyMarketUnknown(str(error), fields={"interval": [str(error)]}) from None
    if iv.length_ms is None:
        message = "monthly candles have no fixed length; use a fixed interval"
        raise StrategyMarketUnknown(message, fields={"interval": [message]})
    venues = [e.strip().lower() for e in exchanges if e.strip()]
    if not venues:
        raise StrategyMarketUnknown("give at least one exchange", fields={"exchanges": ["Give at least one."]})
    if len(set(venues)) != len(venues):
        message = f"an exchange appears twice in {', '.join(venues)}"
        raise StrategyMarketUnknown(message, fields={"exchanges": [message]})
    instruments = [_instrument(venue, symbol) for venue in venues]
    markets = [Market(i.exchange, i.symbol) for i in instruments]
    params, roles = _params_with_roles(cls, parameters or {}, instruments[0].symbol, venues, iv.code)
    try:
        built = strategy_build(cls.name, params_json(params), markets)
    except ParamError as error:
        raise StrategyParameterInvalid(str(error), fields={"parameters": [str(error)]}) from None
    traded = list(built.traded())
    numeraires = sorted({m.quote for m in traded})
    if len(numeraires) != 1:
        raise StrategyMarketUnknown(f"the traded markets are valued in {', '.join(numeraires)}; a run needs one asset")
    try:
        for market in traded:
            costs.fees(market)
    except CostError as error:
        raise StrategyCostInvalid(str(error), fields={"fee_model": [str(error)]}) from None
    for instrument in instruments:
        if not selectors.closed_candles_count(
            instrument_id=instrument.pk, interval=iv.code, start_ms=start_ms, end_ms=end_ms
        ):
            raise StrategyNoCandles(
                f"{instrument.exchange} {instrument.symbol}: no closed {iv.code} candles in the window",
                fields={"start": ["No candles in the window."]},
            )
    with transaction.atomic():
        if created_by is not None:
            _user_slot_take(user_id=created_by.pk)
        return StrategyRun.objects.create(
            strategy=cls.name,
            mode=StrategyRun.Mode.BACKTEST,
            markets=[{"exchange": i.exchange, "symbol": i.symbol, "instrument_id": i.pk} for i in instruments],
            interval=iv.code,
            start_ms=start_ms,
            end_ms=end_ms,
            parameters=params_json(params),
            cost_model=costs.json(),
            risk_limits=limits.json(),
            cash=cash_value,
            numeraire=numeraires[0],
            result={"roles": roles} if roles else {},
            created_by=created_by,
        )


def _user_slot_take(*, user_id: int) -> None:
    """Refuse a user's new backtest while :data:`USER_CONCURRENCY` of theirs are queued or running. Called inside the
    transaction that inserts the run, under a lock on the user's row, so two requests at once cannot both take the
    last place."""
    get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True).get()
    active = StrategyRun.objects.filter(
        created_by_id=user_id, status__in=[StrategyRun.Status.QUEUED, StrategyRun.Status.RUNNING]
    ).count()
    if active >= USER_CONCURRENCY:
        raise StrategyTooManyRuns(
            f"you have {active} backtests queued or running, the most allowed at once is {USER_CONCURRENCY}; "
            "wait for one to finish"
        )


# -- execution ---------------------------------------------------------------------------------------------------


class _Progress:
    """Hands every engine progress call to ``callback``; writes it to the run row and pushes it to the run's
    Channels group at most every :data:`PROGRESS_SECONDS`."""

    def __init__(self, run_id: int, callback: RunProgress | None) -> None:
        self.run_id = run_id
        self.callback = callback
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.callback is not None:
            self.callback(done, total)
        now = time.monotonic()
        if now - self.last < PROGRESS_SECONDS:
            return
        self.last = now
        StrategyRun.objects.filter(pk=self.run_id).update(progress_done=done, progress_total=total)
        broadcasts.strategy_run_broadcast(run_id=self.run_id, status=StrategyRun.Status.RUNNING, done=done, total=total)


def _periods_per_year(interval_ms: int) -> float:
    return YEAR_MS / interval_ms


def _returns(
    times: Sequence[int], navs: Sequence[Decimal], cash: Decimal, first_open_ms: int, interval_ms: int
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], dict[str, Any]]:
    """Simple returns of the NAV series, anchored at the starting cash: per UTC day (the last NAV of each day; a
    step at midnight closes the day before) when the run spans two days or more, 365 a year; otherwise per step, as
    many a year as the interval has. Floats: statistics only."""
    t = np.asarray(times, dtype=np.int64)
    if len(t) and int(t[-1]) - first_open_ms >= DAILY_FROM_MS:
        days = (t - 1) // DAY_MS
        ends = np.append(np.flatnonzero(np.diff(days) != 0), len(t) - 1)
        values = [navs[i] for i in ends.tolist()]
        basis, periods = "daily", 365.0
    else:
        values = list(navs)
        basis, periods = "step", _periods_per_year(interval_ms)
    returns = returns_from_nav([cash, *values])
    return returns, {"basis": basis, "periods": periods, "observations": len(returns)}


def _metrics(result: EngineResult, cash: Decimal, first_open_ms: int, interval_ms: int) -> dict[str, Any]:
    returns, basis = _returns(result.nav_times, result.nav, cash, first_open_ms, interval_ms)
    metrics: dict[str, Any] = dict(performance_metrics(returns, periods=basis["periods"]).metrics_json())
    activity = TradeActivity(
        round_trips=result.round_trips,
        traded_notional=result.traded_notional,
        nav=result.nav,
        position=[_ONE if exposed else ZERO for exposed in result.exposed],
    )
    metrics.update(trade_statistics(activity, periods=_periods_per_year(interval_ms)).metrics_json())
    return {"metrics": metrics, "returns": basis}


def _bars_read(spec: Mapping[str, Any], run: StrategyRun) -> BarSeries:
    market = Market(spec["exchange"], spec["symbol"])
    bars = selectors.bar_series_read(
        instrument_id=spec["instrument_id"],
        interval=run.interval,
        start_ms=run.start_ms,
        end_ms=run.end_ms if run.end_ms is not None else run.start_ms,
        market=market,
    )
    if not len(bars):
        raise StrategyNoCandles(f"{market}: no closed {run.interval} candles in the window")
    return bars


def _bars_read_own_connection(spec: Mapping[str, Any], run: StrategyRun) -> BarSeries:
    try:
        return _bars_read(spec, run)
    finally:
        connections.close_all()  # this thread's connection: nobody else will close it


def _bars(run: StrategyRun) -> MarketData:
    """Every venue's bars. Outside a transaction the venues are read at once, each on a connection of its own (the
    server does the work of a read, so they overlap); inside one, whose uncommitted rows other connections cannot
    see, one after the other."""
    if connection.in_atomic_block or len(run.markets) == 1:
        return MarketData([_bars_read(spec, run) for spec in run.markets])
    with ThreadPoolExecutor(max_workers=len(run.markets), thread_name_prefix="strategy-bars") as pool:
        return MarketData(list(pool.map(lambda spec: _bars_read_own_connection(spec, run), run.markets)))


def _fees_json(costs: CostModel, markets: Sequence[Market]) -> dict[str, dict[str, str]]:
    schedules = {}
    for market in markets:
        fees = costs.fees(market)
        schedules[market.key] = {"maker": str(fees.maker), "taker": str(fees.taker), "source": fees.source}
    return schedules


def _funding(run: StrategyRun, markets: Sequence[Market]) -> dict[Market, list[tuple[int, Decimal]]]:
    """The stored funding events of each perpetual in the run's window (``marketdata`` downloads them)."""
    assert run.end_ms is not None
    by_key = {f"{spec['exchange']}:{spec['symbol']}": int(spec["instrument_id"]) for spec in run.markets}
    return {
        market: marketdata_selectors.funding_rates_read(
            instrument_id=by_key[market.key], start_ms=run.start_ms, end_ms=run.end_ms
        )
        for market in markets
        if market.kind is MarketKind.PERP
    }


def _backtest(run: StrategyRun, reporter: _Progress) -> tuple[EngineResult, dict[str, Any], dict[str, float]]:
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    data = _bars(run)
    timings["read"] = time.perf_counter() - clock
    markets = [s.market for s in data.series]
    strategy = strategy_build(run.strategy, run.parameters, markets)
    costs = cost_model_parse(run.cost_model)
    limits = risk_limits_parse(run.risk_limits)
    cash = Decimal(run.cash)
    interval_ms = data.series[0].interval_ms
    first_open = int(min(int(s.open_ms[0]) for s in data.series))
    steps = len(data)
    total = 2 * steps  # the strategy's steps, then the benchmark's (one stroke: see hold_benchmark)

    funding = _funding(run, markets) if costs.funding else {}
    clock = time.perf_counter()
    config = EngineConfig(cash=cash, costs=costs, limits=limits)
    engine = Engine(strategy=strategy, data=data, config=config, funding=funding)
    result = engine.run(progress=lambda done, _: reporter(done, total))
    timings["run"] = time.perf_counter() - clock

    clock = time.perf_counter()
    summary = _metrics(result, cash, first_open, interval_ms)
    timings["metrics"] = time.perf_counter() - clock

    clock = time.perf_counter()
    benchmark_market = next(iter(strategy.traded()))
    if run.strategy == BENCHMARK and limits == RiskLimits():
        benchmark = result
    elif funding.get(benchmark_market):  # the one-stroke benchmark charges no funding: run hold in full
        hold = Engine(
            strategy=Hold(HoldParams(), [benchmark_market]),
            data=data,
            config=EngineConfig(cash=cash, costs=costs),
            funding={benchmark_market: funding[benchmark_market]},
        )
        benchmark = hold.run()
        reporter(total, total)
    else:
        benchmark = hold_benchmark(data=data, market=benchmark_market, cash=cash, costs=costs)
        reporter(total, total)
    benchmark_summary = _metrics(benchmark, cash, first_open, interval_ms)
    timings["benchmark"] = time.perf_counter() - clock

    trades = result.trades
    reasons = Counter(r.reason.value for r in result.refusals)
    report = {
        **summary,
        "final_nav": decimal_text_keep_scale(result.final_nav),
        "attribution": result.attribution.json(),
        "benchmark": {
            "strategy": BENCHMARK,
            "market": benchmark_market.key,
            "final_nav": decimal_text_keep_scale(benchmark.final_nav),
            "attribution": benchmark.attribution.json(),
            **benchmark_summary,
        },
        "trades": len(trades),
        "round_trips": len(result.round_trips),
        "refusals": len(result.refusals),
        "refusals_by_reason": dict(sorted(reasons.items())),
        "bars": result.bars,
        "steps": result.steps,
        "traded_notional": decimal_text_trim_zeros(result.traded_notional),
        "halted": result.halted,
        "unfilled": result.unfilled,
        "fees": _fees_json(costs, list(strategy.traded())),
        "first_open_ms": first_open,
        "last_close_ms": int(result.nav_times[-1]) if result.nav_times else None,
    }
    if run.result.get("roles"):
        report["roles"] = run.result["roles"]
    return result, report, timings


def _copy(sql: str, text: str) -> None:
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.write(text)


def _copy_rows(sql: str, rows: Sequence[Sequence[object]]) -> None:
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _store(run_id: int, result: EngineResult, report: dict[str, Any], timings: dict[str, float]) -> StrategyRun:
    """Ledger, refusals, NAV points and the result in one transaction, under the run's row lock: a run another
    worker finished meanwhile is left as it is."""
    clock = time.perf_counter()
    with transaction.atomic():
        run = StrategyRun.objects.select_for_update().get(pk=run_id)
        if run.status == StrategyRun.Status.DONE:
            return run
        _copy_rows(
            "COPY strategies_strategyledgerentry (run_id, seq, time_ms, kind, venue, symbol, side, quantity, price,"
            " fee, fee_asset, amount, reference_price, slippage, tag) FROM STDIN",
            [
                (
                    run_id,
                    e.seq,
                    e.time_ms,
                    e.kind.value,
                    e.venue,
                    e.symbol,
                    e.side.value if e.side else "",
                    e.quantity,
                    e.price,
                    e.fee,
                    e.fee_asset,
                    e.amount,
                    e.reference_price,
                    e.slippage,
                    e.tag[:64],
                )
                for e in result.ledger
            ],
        )
        _copy_rows(
            "COPY strategies_strategyrefusal (run_id, time_ms, market, side, quantity, reason, detail) FROM STDIN",
            [(run_id, r.time_ms, r.market, r.side, r.quantity[:80], r.reason.value, r.detail) for r in result.refusals],
        )
        prefix = f"{run_id}\t"
        flags = ("f", "t")
        _copy(
            "COPY strategies_strategynavpoint (run_id, time_ms, nav, exposed) FROM STDIN",
            "".join(
                f"{prefix}{t}\t{nav:f}\t{flags[exposed]}\n"
                for t, nav, exposed in zip(result.nav_times, result.nav, result.exposed, strict=True)
            ),
        )
        timings["store"] = time.perf_counter() - clock
        total = run.progress_total or 2 * result.steps
        StrategyRun.objects.filter(pk=run_id).update(
            status=StrategyRun.Status.DONE,
            final_nav=result.final_nav,
            result=report,
            error="",
            progress_done=total,
            progress_total=total,
            timings={k: round(v, 3) for k, v in timings.items()},
            finished_at=timezone.now(),
        )
        transaction.on_commit(
            lambda: broadcasts.strategy_run_broadcast(
                run_id=run_id, status=StrategyRun.Status.DONE, done=total, total=total
            )
        )
    run.refresh_from_db()
    return run


def strategy_run_execute(*, run_id: int, progress: RunProgress | None = None) -> StrategyRun:
    """Execute a backtest run and store its ledger, refusals, NAV points and result (status ``done``).

    ``progress(done, total)`` hears the engine's steps (the strategy's, then the benchmark's). A finished run is
    returned untouched. On any failure the run is marked ``failed`` with the error, nothing of the ledger is
    stored, and :class:`~strategies.errors.StrategyRunFailed` is raised.
    """
    run = StrategyRun.objects.get(pk=run_id)
    if run.status == StrategyRun.Status.DONE:
        return run
    if run.mode != StrategyRun.Mode.BACKTEST:
        raise StrategyError(f"run {run_id} is a {run.mode} run, not a backtest")
    claimed = (
        StrategyRun.objects.filter(pk=run_id)
        .exclude(status=StrategyRun.Status.DONE)
        .update(status=StrategyRun.Status.RUNNING, started_at=timezone.now(), error="", progress_done=0)
    )
    if not claimed:
        return StrategyRun.objects.get(pk=run_id)
    run.refresh_from_db()
    reporter = _Progress(run_id, progress)
    try:
        result, report, timings = _backtest(run, reporter)
        return _store(run_id, result, report, timings)
    except (StrategyError, ParamError, DataError, EngineError, CostError, ValueError) as error:
        message = getattr(error, "message", None) or str(error)
        _fail(run_id, message)
        raise StrategyRunFailed(message) from error
    except Exception as error:
        _fail(run_id, f"{type(error).__name__}: {error}")
        raise


def _fail(run_id: int, message: str) -> None:
    failed = (
        StrategyRun.objects.filter(pk=run_id)
        .exclude(status=StrategyRun.Status.DONE)
        .update(status=StrategyRun.Status.FAILED, error=message, finished_at=timezone.now())
    )
    if failed:
        broadcasts.strategy_run_broadcast(run_id=run_id, status=StrategyRun.Status.FAILED, done=0, total=0)
