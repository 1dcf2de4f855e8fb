"""Lead-lag runs: a run created (after checking the data exist), executed, its report stored; beat's daily runs for
the symbols tracked on several venues.

A run is checked before it is created, so bad input (an unknown market, a venue with no candles in the window,
windows that do not overlap, a price that never moves) is a :class:`LeadLagError` and no row is written.
Executing is idempotent: a finished run is left as it is; any other is (re)computed from the stored candles and
written in one update, so a worker killed mid-way leaves the run to be redone, never half-stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from hftplatform.errors import ServiceError
from marketdata import selectors
from marketdata.core.intervals import IntervalError, interval_get, venue_interval_code
from marketdata.core.leadlag.cost import leadlag_cost
from marketdata.core.venues import MarketType, Venue
from marketdata.models import Instrument, LeadLagRun

LeadLagProgress = Callable[[str, int, int], None]


class LeadLagError(ServiceError):
    """The analysis cannot run on this input; the message says why."""


class LeadLagOverBudget(LeadLagError):
    """A user's request costs more than ``settings.LEADLAG_COST_BUDGET``."""

    code = "leadlag_over_budget"


class LeadLagTooManyRuns(LeadLagError):
    """A user already has ``settings.LEADLAG_USER_CONCURRENCY`` runs queued or running."""

    code = "leadlag_too_many_runs"
    http_status = 429


def _leadlag_instrument(exchange: str, symbol: str) -> Instrument:
    try:
        return selectors.instrument_get(exchange=exchange, symbol=symbol)
    except (Instrument.DoesNotExist, ValueError):  # ValueError: not a venue at all
        raise LeadLagError(
            f"no market {symbol} on {exchange}", fields={"symbol": [f"No {symbol} on {exchange}."]}
        ) from None


def leadlag_run_create(
    *,
    markets: Sequence[tuple[str, str]],
    interval: str,
    start_ms: int,
    end_ms: int,
    max_lag: int = 30,
    window_ms: int | None = None,
    created_by_id: int | None = None,
) -> LeadLagRun:
    """A queued run for the markets ``[(exchange, unified symbol), …]`` over ``[start_ms, end_ms)`` (ms UTC).

    ``max_lag`` is in grid steps of ``interval``; ``window_ms`` the rolling window (default one UTC day). Raises
    :class:`LeadLagError` (nothing written) for an unknown interval or market, an interval a venue lacks, a venue
    with no closed candles in the window, windows that do not overlap, or a constant price.

    A user's request (``created_by_id`` given; the operator's command and beat's refresh pass none) is also
    bounded: :class:`LeadLagOverBudget` when its cost (grid steps x markets x ``max_lag``) exceeds
    ``settings.LEADLAG_COST_BUDGET``, :class:`LeadLagTooManyRuns` when ``settings.LEADLAG_USER_CONCURRENCY`` of
    their runs are queued or running. The count and the insert happen under a lock on the user's row, so two
    requests at once cannot both take the last place.
    """
    # Imported here, as in leadlag_run_execute: the analysis loads numpy, scipy and statsmodels (seconds), which
    # every process importing this module would otherwise pay.
    from marketdata.core.leadlag.analysis import LeadLagParams

    try:
        step_ms = interval_get(interval).length_ms
    except IntervalError as error:
        raise LeadLagError(str(error), fields={"interval": [str(error)]}) from None
    if step_ms is None:
        raise LeadLagError("monthly candles have no fixed step", fields={"interval": ["Use a fixed interval."]})
    if end_ms <= start_ms:
        raise LeadLagError("the end must be after the start (end is exclusive)", fields={"end": ["Not after start."]})
    params = LeadLagParams(step_ms=step_ms, max_lag=max_lag, **({"window_ms": window_ms} if window_ms else {}))
    if created_by_id is not None:
        cost = leadlag_cost(start_ms=start_ms, end_ms=end_ms, step_ms=step_ms, markets=len(markets), max_lag=max_lag)
        budget = settings.LEADLAG_COST_BUDGET
        if cost.total > budget:
            raise LeadLagOverBudget(
                f"this run would cost {cost.text()}, over the budget of {budget:,}; "
                "shorten the window, use a longer interval, fewer markets or a smaller max_lag",
                fields={"max_lag": [f"Cost {cost.total:,} is over the budget of {budget:,}."]},
            )
    resolved = []
    spans = []
    for exchange, symbol in markets:
        instrument = _leadlag_instrument(exchange, symbol)
        try:
            venue_interval_code(Venue(instrument.exchange), MarketType(instrument.market_type), interval)
        except IntervalError as error:
            raise LeadLagError(str(error), fields={"interval": [str(error)]}) from None
        stats = selectors.leadlag_window_stats(
            instrument_id=instrument.pk, interval=interval, start_ms=start_ms, end_ms=end_ms
        )
        if stats.candles == 0 or stats.first_ms is None or stats.last_ms is None:
            raise LeadLagError(f"{exchange} {symbol}: no {interval} candles in the window")
        if stats.constant:
            raise LeadLagError(f"{exchange} {symbol}: the price is constant in the window; nothing to lead or lag")
        spans.append((stats.first_ms, stats.last_ms))
        resolved.append({"exchange": instrument.exchange, "symbol": instrument.symbol, "instrument_id": instrument.pk})
    if max(s[0] for s in spans) >= min(s[1] for s in spans):
        raise LeadLagError("the venues' candles do not overlap in the window")
    with transaction.atomic():
        if created_by_id is not None:
            _leadlag_user_slot_take(user_id=created_by_id)
        return LeadLagRun.objects.create(
            symbol=markets[0][1].upper(),
            interval=interval,
            start_ms=start_ms,
            end_ms=end_ms,
            parameters={"markets": resolved, **asdict(params)},
            created_by_id=created_by_id,
        )


def _leadlag_user_slot_take(*, user_id: int) -> None:
    """Refuse a user's new run while their queued and running ones fill ``settings.LEADLAG_USER_CONCURRENCY``.

    Called inside the transaction that inserts the run: the user's row stays locked until it commits, so a
    concurrent request waits here and then counts the run this one inserted.
    """
    get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True).get()
    limit = settings.LEADLAG_USER_CONCURRENCY
    active = LeadLagRun.objects.filter(
        created_by_id=user_id, status__in=[LeadLagRun.Status.QUEUED, LeadLagRun.Status.RUNNING]
    ).count()
    if active >= limit:
        raise LeadLagTooManyRuns(
            f"you have {active} lead-lag runs queued or running, the most allowed at once is {limit}; "
            "wait for one to finish"
        )


def _leadlag_progress_save(run_id: int, done: int, total: int) -> None:
    LeadLagRun.objects.filter(pk=run_id).update(progress_done=done, progress_total=total)


def leadlag_run_execute(*, run_id: int, progress: LeadLagProgress | None = None) -> LeadLagRun:
    """Compute the run's report from the stored candles and store it (status ``done``), or store the reason it
    cannot be computed (status ``failed``, no outputs) and raise :class:`LeadLagError`. A done run is returned
    untouched. Timings (seconds): read, align, each method, rolling, store."""
    from marketdata.core.leadlag.alignment import LeadLagInputError, PriceSeries
    from marketdata.core.leadlag.analysis import LeadLagParams, Timings, leadlag_analyse, leadlag_report

    run = LeadLagRun.objects.get(pk=run_id)
    if run.status == LeadLagRun.Status.DONE:
        return run
    LeadLagRun.objects.filter(pk=run_id).update(
        status=LeadLagRun.Status.RUNNING, started_at=timezone.now(), error="", outputs={}
    )
    stored = dict(run.parameters)
    markets: list[dict[str, Any]] = stored.pop("markets")
    params = LeadLagParams(**stored)
    timings = Timings()
    series = []
    total = len(markets) + len(markets) * (len(markets) - 1) // 2
    for done, market in enumerate(markets):
        with timings.stage("read"):
            times, closes = selectors.leadlag_series_read(
                instrument_id=market["instrument_id"], interval=run.interval, start_ms=run.start_ms, end_ms=run.end_ms
            )
        series.append(PriceSeries(market["exchange"], times, closes))
        _leadlag_progress_save(run_id, done + 1, total)
        if progress is not None:
            progress(f"read {market['exchange']} {market['symbol']} ({len(times):,} candles)", done + 1, total)

    def pair_progress(stage: str, done: int, count: int) -> None:
        if stage == "pairs":
            _leadlag_progress_save(run_id, len(markets) + done, total)
        if progress is not None:
            progress(stage, done, count)

    try:
        results = leadlag_analyse(series, params, timings, pair_progress)
    except LeadLagInputError as error:
        LeadLagRun.objects.filter(pk=run_id).update(
            status=LeadLagRun.Status.FAILED, error=str(error), finished_at=timezone.now(), timings=timings.seconds
        )
        raise LeadLagError(str(error)) from None
    report = leadlag_report(results, params)
    report["symbol"] = run.symbol
    report["interval"] = run.interval
    report["markets"] = [{"exchange": m["exchange"], "symbol": m["symbol"]} for m in markets]
    started = time.perf_counter()
    with transaction.atomic():
        LeadLagRun.objects.filter(pk=run_id).update(
            status=LeadLagRun.Status.DONE,
            outputs=report,
            progress_done=total,
            progress_total=total,
            finished_at=timezone.now(),
        )
    timings.seconds["store"] = time.perf_counter() - started
    LeadLagRun.objects.filter(pk=run_id).update(timings={k: round(v, 4) for k, v in timings.seconds.items()})
    return LeadLagRun.objects.get(pk=run_id)


def leadlag_refresh_tracked(*, interval: str = "1m", days: int = 1, now_ms: int | None = None) -> list[int]:
    """Queue-ready runs for every symbol tracked on two or more venues at ``interval``, over the last ``days`` whole
    UTC days; returns the new run ids. A symbol whose data cannot be analysed is skipped (beat retries tomorrow)."""
    day_ms = 86_400_000
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    end_ms = now_ms // day_ms * day_ms
    start_ms = end_ms - days * day_ms
    created = []
    for symbol, exchanges in selectors.instruments_tracked_venues(interval=interval).items():
        if len(exchanges) < 2:
            continue
        try:
            run = leadlag_run_create(
                markets=[(e, symbol) for e in exchanges], interval=interval, start_ms=start_ms, end_ms=end_ms
            )
        except LeadLagError:
            continue
        created.append(run.pk)
    return created
