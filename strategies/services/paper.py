"""Paper runs: the same strategy, accounting and risk checks as a backtest, on the live candle sync and the live L2
books, a batch of new steps at a time (Celery beat steps every running paper run).

A step, under a row lock on the run: rebuild the portfolio from the stored ledger
(:func:`~strategies.core.portfolio.portfolio_replay`), read the stored :class:`~strategies.core.paper.PaperState`
and ``last_event_ms``, read the candles that closed since (plus the strategy's warm-up), run
:class:`~strategies.core.paper.PaperEngine` over only the new steps, fill the last step's market orders against a
fresh live book (else they fill at the next bar's open at a later step; the ledger tag says which), and store the
new ledger rows, NAV points, refusals, state and ``last_event_ms`` in the same transaction. A step that runs twice
finds nothing new; a worker killed before the commit leaves nothing, and the next step redoes the batch: no
duplicate and no lost fill. The ledger's ``(run, seq)`` and the NAV points' ``(run, time_ms)`` keys back this up.

Which steps a batch runs: every step up to the **horizon**, the earliest of the markets' latest closes — a step
waits until every market's candle of that time is in — except that a market more than
``STRATEGY_PAPER_MARKET_WAIT_MS`` behind the freshest one is not waited for (its late candles are then history).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from marketdata import selectors as marketdata_selectors
from marketdata.core.intervals import IntervalError, interval_get
from marketdata.core.venues import Venue
from marketdata.models import Instrument
from strategies import broadcasts, selectors
from strategies.core.costs import CostError, CostModel
from strategies.core.data import BarSeries, DataError, MarketData
from strategies.core.engine import EngineConfig, EngineError
from strategies.core.intents import Side
from strategies.core.markets import Market, MarketKind
from strategies.core.paper import BookSide, PaperBatch, PaperEngine, PaperState, PaperStateError
from strategies.core.params import ParamError, decimal_parse, params_json
from strategies.core.portfolio import EntryKind, LedgerEntry, PortfolioError, portfolio_replay
from strategies.core.risk import RiskLimits
from strategies.core.strategy import Strategy
from strategies.errors import StrategyPaperError
from strategies.models import StrategyLedgerEntry, StrategyNavPoint, StrategyRefusal, StrategyRun
from strategies.registry import strategy_build
from strategies.services.inputs import cost_model_parse, risk_limits_parse


@dataclass(frozen=True, slots=True)
class PaperStepResult:
    """What one step stored: ``steps`` new steps (NAV points), ``trades`` (``book_fills`` of them against a live
    book), ``refusals``, and the last step processed (unchanged when nothing was new)."""

    run_id: int
    steps: int
    trades: int
    book_fills: int
    refusals: int
    last_event_ms: int | None
    final_nav: Decimal | None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- the run's configuration, stored as JSON -------------------------------------------------------------------


def _cost_model(data: Mapping[str, Any]) -> CostModel:
    """The cost model stored by :meth:`CostModel.json` (or given at start)."""
    try:
        return cost_model_parse(data)
    except (ValueError, CostError) as error:
        raise StrategyPaperError(f"cost model: {error}") from None


def _risk_limits(data: Mapping[str, Any]) -> RiskLimits:
    """The limits stored by :meth:`RiskLimits.json` (or given at start); an absent key keeps the default."""
    try:
        return risk_limits_parse(data)
    except ValueError as error:
        raise StrategyPaperError(f"risk limits: {error}") from None


def _markets(run: StrategyRun) -> list[Market]:
    return [Market(m["exchange"], m["symbol"]) for m in run.markets]


def _strategy(run: StrategyRun) -> Strategy[Any]:
    try:
        return strategy_build(run.strategy, run.parameters, _markets(run))
    except ParamError as error:
        raise StrategyPaperError(str(error)) from None


# -- start and stop -------------------------------------------------------------------------------------------


def strategy_paper_start(
    *,
    strategy: str,
    exchanges: Sequence[str],
    symbol: str,
    interval: str,
    cash: Decimal | str,
    parameters: Mapping[str, object] | None = None,
    cost_model: Mapping[str, Any] | None = None,
    risk_limits: Mapping[str, Any] | None = None,
    created_by_id: int | None = None,
    now_ms: int | None = None,
) -> StrategyRun:
    """Create a running paper run of ``strategy`` on ``symbol`` at each of ``exchanges`` (venue names, in the
    strategy's order), on ``interval`` candles, with ``cash`` in the traded markets' quote asset.

    Validated as a backtest is — a known strategy and parameters, markets that exist — and more: each market must
    be tracked at ``interval`` (the live sync keeps it current). The run starts at the next candle to open after
    now, so its first decisions see no candle the run was created after. Raises :class:`StrategyPaperError` and
    stores nothing on bad input."""
    try:
        iv = interval_get(interval)
    except IntervalError as error:
        raise StrategyPaperError(str(error)) from None
    if iv.length_ms is None:
        raise StrategyPaperError("paper runs step on fixed-length intervals; a calendar month is not one")
    try:
        amount = decimal_parse(cash, what="cash")
    except ValueError as error:
        raise StrategyPaperError(str(error)) from None
    if not amount > 0:
        raise StrategyPaperError(f"cash must be positive, got {cash}")
    names = [str(e).strip().lower() for e in exchanges]
    if not names:
        raise StrategyPaperError("give at least one exchange")
    if len(set(names)) != len(names):
        raise StrategyPaperError(f"an exchange appears twice: {', '.join(names)}")
    unified = symbol.strip().upper()
    markets: list[dict[str, Any]] = []
    for name in names:
        try:
            venue = Venue(name).value
        except ValueError:
            raise StrategyPaperError(f"unknown exchange {name!r}; known: {', '.join(v.value for v in Venue)}") from None
        instrument = Instrument.objects.filter(exchange=venue, symbol=unified).first()
        if instrument is None:
            raise StrategyPaperError(f"no market {unified} on {venue}; load the venue's markets first")
        if not (instrument.tracked and instrument.active and iv.code in instrument.tracked_intervals):
            raise StrategyPaperError(
                f"{venue} {unified} is not tracked at {iv.code}: a paper run needs the live candle sync "
                "(track it in the admin first)"
            )
        markets.append({"exchange": venue, "symbol": unified, "instrument_id": instrument.pk})
    try:
        built = strategy_build(strategy, dict(parameters or {}), [Market(m["exchange"], m["symbol"]) for m in markets])
    except ParamError as error:
        raise StrategyPaperError(str(error)) from None
    costs = _cost_model(cost_model or {})
    limits = _risk_limits(risk_limits or {})
    traded = list(built.traded())
    quotes = {m.quote for m in traded}
    if len(quotes) != 1:
        raise StrategyPaperError(f"the traded markets are valued in {sorted(quotes)}; a run needs one asset")
    try:
        for market in traded:
            costs.fees(market)
        EngineConfig(cash=amount, costs=costs, limits=limits)
    except (CostError, EngineError) as error:
        raise StrategyPaperError(str(error)) from None
    now = _now_ms() if now_ms is None else now_ms
    return StrategyRun.objects.create(
        strategy=built.name,
        mode=StrategyRun.Mode.PAPER,
        status=StrategyRun.Status.RUNNING,
        markets=markets,
        interval=iv.code,
        start_ms=iv.next_open(iv.floor(now)),
        end_ms=None,
        parameters=params_json(built.params),
        cost_model=costs.json(),
        risk_limits=limits.json(),
        cash=amount,
        numeraire=quotes.pop(),
        created_by_id=created_by_id,
        started_at=timezone.now(),
    )


def strategy_paper_stop(*, run_id: int) -> StrategyRun:
    """Stop a paper run: beat steps it no more; its ledger and state stay. Stopping a stopped run changes nothing;
    raises ``StrategyRun.DoesNotExist`` for no such paper run."""
    with transaction.atomic():
        run = StrategyRun.objects.select_for_update().get(pk=run_id, mode=StrategyRun.Mode.PAPER)
        if run.status in (StrategyRun.Status.RUNNING, StrategyRun.Status.QUEUED):
            run.status = StrategyRun.Status.STOPPED
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "finished_at"])
    return run


def strategy_paper_fail(*, run_id: int, error: str) -> None:
    """Record that a run cannot step (bad stored state or data): failed, with the reason; beat leaves it."""
    StrategyRun.objects.filter(pk=run_id, mode=StrategyRun.Mode.PAPER).update(
        status=StrategyRun.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )


# -- a step ---------------------------------------------------------------------------------------------------


def _books(run: StrategyRun, now_ms: int) -> dict[Market, BookSide]:
    """The run's spot markets' live books, read before the transaction (Redis), fresh ones only."""
    max_age = settings.STRATEGY_PAPER_BOOK_MAX_AGE_MS  # older (or that far ahead of the clock): not a live book
    books = {}
    for market in _markets(run):
        if market.kind is not MarketKind.SPOT:
            continue
        book = selectors.paper_book_read(venue=market.venue, symbol=market.symbol)
        if book is not None and abs(now_ms - book.time_ms) <= max_age:
            books[market] = book
    return books


def _horizon(run: StrategyRun, interval_ms: int) -> int | None:
    """The latest step every market the run waits for has closed; None while a first batch lacks a market."""
    closes = selectors.paper_last_closes(
        instrument_ids=[int(m["instrument_id"]) for m in run.markets],
        interval=run.interval,
        interval_ms=interval_ms,
        start_ms=run.start_ms,
    )
    known = [c for c in closes if c is not None]
    if not known or (run.last_event_ms is None and len(known) < len(closes)):
        return None
    wait = settings.STRATEGY_PAPER_MARKET_WAIT_MS
    freshest = max(known)
    return min(c for c in known if c >= freshest - wait)


def _ledger(run: StrategyRun) -> list[LedgerEntry]:
    return [
        LedgerEntry(
            seq=row.seq,
            time_ms=row.time_ms,
            kind=EntryKind(row.kind),
            venue=row.venue,
            symbol=row.symbol,
            side=Side(row.side) if row.side else None,
            quantity=row.quantity,
            price=row.price,
            fee=row.fee,
            fee_asset=row.fee_asset,
            amount=row.amount,
            reference_price=row.reference_price,
            slippage=row.slippage,
            tag=row.tag,
        )
        for row in run.ledger.order_by("seq")
    ]


def _batch(run: StrategyRun, books: Mapping[Market, BookSide]) -> PaperBatch | None:
    """Run the new steps of ``run`` (locked by the caller); None when nothing closed since the last step."""
    iv = interval_get(run.interval)
    assert iv.length_ms is not None
    horizon = _horizon(run, iv.length_ms)
    if horizon is None or (run.last_event_ms is not None and horizon <= run.last_event_ms):
        return None
    strategy = _strategy(run)
    warmup = strategy.warmup_bars()
    series, offsets = [], []
    for market, spec in zip(_markets(run), run.markets, strict=True):
        bars = selectors.paper_bars_read(
            instrument_id=int(spec["instrument_id"]),
            interval=run.interval,
            interval_ms=iv.length_ms,
            start_ms=run.start_ms,
            last_event_ms=run.last_event_ms,
            horizon_ms=horizon,
            warmup=None if warmup is None else max(1, warmup),
        )
        series.append(BarSeries.from_text(market, iv.length_ms, bars.rows))
        offsets.append(bars.offset)
    data = MarketData(series)
    if len(data) == 0:
        return None
    ledger = _ledger(run)
    config = EngineConfig(cash=run.cash, costs=_cost_model(run.cost_model), limits=_risk_limits(run.risk_limits or {}))
    # Perpetual funding settled after the last step, up to the horizon: each event is charged once, at its step.
    since = run.start_ms if run.last_event_ms is None else run.last_event_ms + 1
    funding = {
        market: marketdata_selectors.funding_rates_read(
            instrument_id=int(spec["instrument_id"]), start_ms=since, end_ms=horizon + 1
        )
        for market, spec in zip(_markets(run), run.markets, strict=True)
        if market.kind is MarketKind.PERP
    }
    engine = PaperEngine(
        strategy=strategy,
        data=data,
        config=config,
        portfolio=portfolio_replay(run.numeraire, ledger) if ledger else None,
        state=PaperState.parse(run.state or {}),
        offsets=offsets,
        last_event_ms=run.last_event_ms,
        funding=funding,
    )
    return engine.run_batch(books=books, interval_ms=iv.length_ms)


def _store(run: StrategyRun, batch: PaperBatch) -> None:
    """Write what ``batch`` added, and the run's new state, in the caller's transaction."""
    StrategyLedgerEntry.objects.bulk_create(
        StrategyLedgerEntry(
            run=run,
            seq=e.seq,
            time_ms=e.time_ms,
            kind=e.kind.value,
            venue=e.venue,
            symbol=e.symbol,
            side=e.side.value if e.side else "",
            quantity=e.quantity,
            price=e.price,
            fee=e.fee,
            fee_asset=e.fee_asset,
            amount=e.amount,
            reference_price=e.reference_price,
            slippage=e.slippage,
            tag=e.tag,
        )
        for e in batch.ledger
    )
    StrategyNavPoint.objects.bulk_create(
        StrategyNavPoint(run=run, time_ms=t, nav=nav, exposed=exposed)
        for t, nav, exposed in zip(batch.nav_times, batch.nav, batch.exposed, strict=True)
    )
    StrategyRefusal.objects.bulk_create(
        StrategyRefusal(
            run=run,
            time_ms=r.time_ms,
            market=r.market,
            side=r.side,
            quantity=r.quantity,
            reason=r.reason.value,
            detail=r.detail,
        )
        for r in batch.refusals
    )
    run.state = batch.state.json()
    run.last_event_ms = batch.last_event_ms
    run.final_nav = batch.final_nav
    run.progress_done = batch.state.steps
    run.progress_total = batch.state.steps
    run.save(update_fields=["state", "last_event_ms", "final_nav", "progress_done", "progress_total"])


def strategy_paper_step(*, run_id: int, now_ms: int | None = None) -> PaperStepResult | None:
    """Run the steps of paper run ``run_id`` that closed since its last one and store them (see the module).

    Returns None when the run is not running, or another worker is stepping it right now (the row is locked: that
    step does the work); a result with ``steps == 0`` when nothing new closed. Raises
    :class:`StrategyPaperError` for a stored state or data the engine refuses (nothing stored); the task records it
    on the run. ``now_ms`` (ms UTC) is the clock that judges a book's age."""
    now = _now_ms() if now_ms is None else now_ms
    run = StrategyRun.objects.filter(pk=run_id, mode=StrategyRun.Mode.PAPER).first()
    if run is None or run.status != StrategyRun.Status.RUNNING:
        return None
    books = _books(run, now)  # slow I/O stays out of the transaction
    with transaction.atomic():
        locked = StrategyRun.objects.select_for_update(skip_locked=True).filter(pk=run_id).first()
        if locked is None or locked.status != StrategyRun.Status.RUNNING:
            return None
        try:
            batch = _batch(locked, books)
        except (PaperStateError, PortfolioError, DataError, EngineError, CostError) as error:
            raise StrategyPaperError(f"paper run {run_id} cannot step: {error}") from None
        if batch is None or batch.last_event_ms is None:
            return PaperStepResult(run_id, 0, 0, 0, 0, locked.last_event_ms, locked.final_nav)
        _store(locked, batch)
        points = list(zip(batch.nav_times, batch.nav, strict=True))
        final_nav = batch.final_nav
        transaction.on_commit(
            lambda: broadcasts.strategy_run_nav_broadcast(run_id=run_id, points=points, final_nav=final_nav)
        )
    return PaperStepResult(
        run_id=run_id,
        steps=len(batch.nav_times),
        trades=sum(1 for e in batch.ledger if e.kind is EntryKind.TRADE),
        book_fills=batch.book_fills,
        refusals=len(batch.refusals),
        last_event_ms=batch.last_event_ms,
        final_nav=batch.final_nav,
    )
