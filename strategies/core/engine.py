"""The engine: one loop that shows a strategy its :class:`~strategies.core.strategy.View`, passes its intents through
the :class:`~strategies.core.risk.RiskEngine`, and has a :class:`SimulatedVenue` fill them into the
:class:`~strategies.core.portfolio.Portfolio`. Backtests run it over stored bars; paper runs over live bars, a
step at a time, from a stored portfolio; live runs swap the venue for a real one.

Fills (a simulation's rule, documented in the README): an order decided at step time ``t`` fills at the **open**
of the first bar of its market that opens at or after ``t + latency_ms`` — never at a price the strategy could
already see. Market orders pay the taker fee and the cost model's slippage; a limit order rests until a closed
bar trades through its price and fills at that price (or the bar's open, if better) with the maker fee. A run's
orders from :meth:`Strategy.on_start` are decided ``latency_ms`` before the first bar opens, so they fill at its
open.

Deterministic: the same inputs give the same ledger, NAV series and refusals, entry for entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

import numpy as np

from strategies.core.costs import CostModel
from strategies.core.data import MarketData
from strategies.core.intents import Intent, Order, OrderType, ProtocolAction, Side, TargetPosition
from strategies.core.markets import Market, MarketKind
from strategies.core.portfolio import (
    ACCOUNTING,
    NAV_QUANTUM,
    ZERO,
    Attribution,
    EntryKind,
    LedgerEntry,
    Portfolio,
    PortfolioError,
    RoundTrip,
    quantity_affordable,
)
from strategies.core.risk import Refusal, RefusalReason, RiskEngine, RiskLimits
from strategies.core.strategy import Strategy, View

Progress = Callable[[int, int], None]
PROGRESS_EVERY = 1 << 16  # steps between progress calls


class EngineError(ValueError):
    """A run that cannot start: no bars, no cash, markets valued in different assets."""


@dataclass(frozen=True)
class EngineConfig:
    cash: Decimal
    costs: CostModel = field(default_factory=CostModel)
    limits: RiskLimits = field(default_factory=RiskLimits)
    external_family_exposure: Decimal = ZERO  # the same family's exposure in other strategies of the portfolio
    portfolio_nav: Decimal | None = None  # the whole portfolio's NAV for family caps; None: this run's own

    def __post_init__(self) -> None:
        if not self.cash > 0:
            raise EngineError(f"cash must be positive, got {self.cash}")


@dataclass(slots=True)
class PendingOrder:
    order: Order
    decided_ms: int
    last_close: Decimal  # what the strategy saw when it decided (the price band's anchor)
    fill_index: int  # the first bar of the market that may fill it


@dataclass
class EngineResult:
    ledger: list[LedgerEntry]
    nav_times: list[int]  # ms UTC, one per step
    nav: list[Decimal]  # quantized to NAV_QUANTUM
    exposed: list[bool]  # a position was open at the step
    refusals: list[Refusal]
    round_trips: list[RoundTrip]
    attribution: Attribution
    final_nav: Decimal
    halted: str
    bars: int
    steps: int
    traded_notional: Decimal
    state: dict[str, Any]
    unfilled: int  # orders still waiting when the data ended

    @property
    def trades(self) -> list[LedgerEntry]:
        return [entry for entry in self.ledger if entry.kind is EntryKind.TRADE]


class SimulatedVenue:
    """Fills orders against the bars (backtest) or against a live book's prices (paper) under a cost model."""

    def __init__(self, data: MarketData, costs: CostModel) -> None:
        self.data = data
        self.costs = costs
        self.pending: list[PendingOrder] = []

    def submit(self, order: Order, decided_ms: int, last_close: Decimal) -> PendingOrder:
        series = self.data.series[self.data.index[order.market]]
        first = int(np.searchsorted(series.open_ms, decided_ms + self.costs.latency_ms, side="left"))
        pending = PendingOrder(order, decided_ms, last_close, first)
        self.pending.append(pending)
        return pending


class Engine:
    def __init__(
        self,
        *,
        strategy: Strategy[Any],
        data: MarketData,
        config: EngineConfig,
        funding: Mapping[Market, Sequence[tuple[int, Decimal]]] | None = None,
        portfolio: Portfolio | None = None,
    ) -> None:
        if len(data) == 0:
            raise EngineError("no bars in the window")
        traded = list(strategy.traded())
        unknown = [m for m in traded if m not in data.index]
        if unknown:
            raise EngineError(f"no bars for traded market(s) {', '.join(map(str, unknown))}")
        numeraires = {m.quote for m in traded}
        if len(numeraires) != 1:
            raise EngineError(f"traded markets are valued in {sorted(numeraires)}; a run needs one asset")
        self.strategy = strategy
        self.data = data
        self.config = config
        self.costs = config.costs
        self.risk = RiskEngine(config.limits, strategy.family)
        self.venue = SimulatedVenue(data, config.costs)
        first_open = int(min(s.open_ms[0] for s in data.series if len(s)))
        if portfolio is None:
            portfolio = Portfolio(numeraire=numeraires.pop())
            venues = sorted({m.venue for m in traded})
            with localcontext(ACCOUNTING):
                share = config.cash / len(venues)
                last = config.cash - share * (len(venues) - 1)  # the shares sum to the cash exactly
            for venue in venues:
                portfolio.deposit(time_ms=first_open, venue=venue, amount=last if venue == venues[-1] else share)
        self.portfolio = portfolio
        self.view = View(data, portfolio)
        self.first_open = first_open
        self.funding = {m: list(events) for m, events in (funding or {}).items() if config.costs.funding}
        self._funding_next = {m: 0 for m in self.funding}
        self.traded_notional = ZERO
        self._perps = {m for m in data.index if m.kind is MarketKind.PERP}

    # -- prices ---------------------------------------------------------------------------------------------

    def _last_close(self, market: Market) -> Decimal | None:
        j = self.data.index[market]
        n = self.view._visible(j)
        if n == 0:
            return None
        series = self.data.series[j]
        return series.price(series.close.item(n - 1))

    def _marks(self) -> dict[Market, Decimal]:
        marks = {}
        for market in self.data.index:
            close = self._last_close(market)
            if close is not None:
                marks[market] = close
        return marks

    def _nav(self) -> Decimal:
        with localcontext(ACCOUNTING):
            return self._nav_exposed()[0]

    def _nav_exposed(self) -> tuple[Decimal, bool]:
        """NAV at the current step and whether a position is open; the caller holds the ACCOUNTING context (the
        loop's hot path: one pass, no nested contexts)."""
        nav = sum(self.portfolio.cash.values(), ZERO)
        exposed = False
        for market, held in self.portfolio.positions.items():
            quantity = held.quantity
            if quantity:
                exposed = True
                close = self._last_close(market)
                if close is None:  # filled at the first bar's open, before it closed
                    series = self.data.series[self.data.index[market]]
                    close = series.price(series.open.item(0))
                if market in self._perps:
                    nav += quantity * (close - held.entry_price)
                else:
                    nav += quantity * close
        return nav, exposed

    # -- intents --------------------------------------------------------------------------------------------

    def _submit(self, intents: Sequence[Intent], time_ms: int) -> None:
        for intent in intents:
            if isinstance(intent, ProtocolAction):
                self.risk.refusals.append(
                    Refusal(
                        time_ms,
                        intent.family,
                        intent.action,
                        "",
                        RefusalReason.UNSUPPORTED,
                        "no protocol adapter in this venue",
                    )
                )
                continue
            order = self._order(intent)
            if order is None:
                continue
            last_close = self._last_close(order.market)
            marks = self._marks()
            if last_close is None and self.view.k < 0:  # on_start: the first bar's open is the reference
                series = self.data.series[self.data.index[order.market]]
                last_close = series.price(int(series.open[0]))
                marks[order.market] = last_close
            refusal = self.risk.check(
                time_ms=time_ms,
                order=order,
                portfolio=self.portfolio,
                marks=marks,
                last_close_ms=self.view.last_close_ms(order.market) if self.view.k >= 0 else time_ms,
                external_family_exposure=self.config.external_family_exposure,
                portfolio_nav=self.config.portfolio_nav,
                pending=[waiting.order for waiting in self.venue.pending],
            )
            if refusal is None and last_close is not None:
                self.venue.submit(order, time_ms, last_close)
                self.view._pending[order.market] = self.view._pending.get(order.market, 0) + 1

    def _order(self, intent: Order | TargetPosition) -> Order | None:
        if isinstance(intent, Order):
            return intent
        with localcontext(ACCOUNTING):
            # Orders on their way count: the same target on the next step (behind a latency, or a bar that is
            # missing) must not be traded twice.
            expected = self.portfolio.position(intent.market)
            for waiting in self.venue.pending:
                order = waiting.order
                if order.market == intent.market:
                    size = (
                        order.quantity
                        if order.quantity is not None
                        else (order.quote_amount or ZERO) / (waiting.last_close)
                    )
                    expected += size * order.side.sign
            delta = intent.quantity - expected
        if not delta:
            return None
        side = Side.BUY if delta > 0 else Side.SELL
        return Order(intent.market, side, quantity=abs(delta), tag=intent.tag)

    # -- fills ----------------------------------------------------------------------------------------------

    def _fills(self, step_ms: int) -> None:
        waiting: list[PendingOrder] = []
        for pending in self.venue.pending:
            done = self._fill(pending, step_ms)
            if not done:
                waiting.append(pending)
            else:
                market = pending.order.market
                self.view._pending[market] -= 1
        self.venue.pending = waiting

    def _fill(self, pending: PendingOrder, step_ms: int) -> bool:
        """Fill ``pending`` if its bar has come; returns whether it is settled (filled or refused)."""
        order = pending.order
        j = self.data.index[order.market]
        series = self.data.series[j]
        i = pending.fill_index
        if order.order_type is OrderType.MARKET:
            # A bar opening at this very step is not part of it (a run cut here does not have it).
            if i >= len(series) or int(series.open_ms[i]) >= step_ms:
                return False
            reference = series.price(int(series.open[i]))
            refusal = self.risk.check_fill(
                time_ms=int(series.open_ms[i]), order=order, reference=reference, last_close=pending.last_close
            )
            if refusal is not None:
                return True
            price = self.costs.taker_price(reference, order.side)
            rate = self.costs.fees(order.market).taker
            self._book(order, int(series.open_ms[i]), price, reference, rate)
            return True
        # A limit order: the latest closed bar, if it is one the order may fill in, and it traded through.
        b = self.view._visible(j) - 1
        if b < i:
            return False
        limit = order.limit_price
        assert limit is not None
        opened = series.price(int(series.open[b]))
        # Through, not to: a bar that only touches the limit may have filled the orders queued before ours.
        if order.side is Side.BUY and series.price(int(series.low[b])) < limit:
            price = min(opened, limit)
        elif order.side is Side.SELL and series.price(int(series.high[b])) > limit:
            price = max(opened, limit)
        else:
            return False
        self._book(order, int(series.open_ms[b]), price, price, self.costs.fees(order.market).maker)
        return True

    def _book(self, order: Order, time_ms: int, price: Decimal, reference: Decimal, rate: Decimal) -> None:
        portfolio = self.portfolio
        market = order.market
        with localcontext(ACCOUNTING):
            if order.quote_amount is not None:
                quantity = quantity_affordable(order.quote_amount, price, rate)
            else:
                assert order.quantity is not None
                quantity = order.quantity
            held = portfolio.position(market)
            if order.reduce_only:
                if held == 0 or (held > 0) == (order.side is Side.BUY):
                    self.risk.refuse(time_ms, order, RefusalReason.INSUFFICIENT_POSITION, "nothing to reduce")
                    return
                quantity = min(quantity, abs(held))
            if order.quote_amount is not None and rate:
                # The fee is what the amount leaves after the notional: the buy spends exactly its amount.
                fee = order.quote_amount - quantity * price
            else:
                fee = quantity * price * rate
            if market.kind is MarketKind.SPOT:
                # A quote-amount buy spends exactly its amount (up to the 34th digit's rounding).
                cost = order.quote_amount if order.quote_amount is not None else quantity * price + fee
                if order.side is Side.BUY and cost > portfolio.cash_at(market.venue):
                    self.risk.refuse(
                        time_ms,
                        order,
                        RefusalReason.INSUFFICIENT_CASH,
                        f"needs {quantity * price + fee}, has {portfolio.cash_at(market.venue)}",
                    )
                    return
                if order.side is Side.SELL and quantity > held:
                    self.risk.refuse(
                        time_ms, order, RefusalReason.INSUFFICIENT_POSITION, f"sells {quantity}, holds {held}"
                    )
                    return
            try:
                portfolio.trade(
                    time_ms=time_ms,
                    market=market,
                    side=order.side,
                    quantity=quantity,
                    price=price,
                    fee=fee,
                    reference_price=reference,
                    tag=order.tag,
                )
            except PortfolioError as error:
                self.risk.refuse(time_ms, order, RefusalReason.INSUFFICIENT_POSITION, str(error))
                return
            self.traded_notional += quantity * price

    # -- funding --------------------------------------------------------------------------------------------

    def _funding(self, step_ms: int) -> None:
        for market, events in self.funding.items():
            at = self._funding_next[market]
            while at < len(events) and events[at][0] <= step_ms:
                when, rate = events[at]
                at += 1
                held = self.portfolio.position(market)
                mark = self._last_close(market)
                if held and mark is not None and when >= self.first_open:
                    with localcontext(ACCOUNTING):
                        amount = -held * mark * rate
                    self.portfolio.cash_flow(
                        time_ms=when, kind=EntryKind.FUNDING, market=market, amount=amount, tag=f"rate {rate}"
                    )
            self._funding_next[market] = at

    # -- the loop -------------------------------------------------------------------------------------------

    def _flatten(self, time_ms: int) -> None:
        # The strategy's waiting orders die with the halt: filled after it, they would reopen what is flattened.
        for pending in self.venue.pending:
            self.risk.refuse(time_ms, pending.order, RefusalReason.HALTED, self.risk.halted_reason)
            self.view._pending[pending.order.market] -= 1
        self.venue.pending = []
        for market, held in list(self.portfolio.positions.items()):
            if held.quantity:
                side = Side.SELL if held.quantity > 0 else Side.BUY
                order = Order(market, side, quantity=abs(held.quantity), reduce_only=True, tag="kill-switch")
                self._submit([order], time_ms)

    def run(self, *, start_step: int = 0, progress: Progress | None = None) -> EngineResult:
        """Run from step ``start_step`` to the end of the data. The strategy's own arithmetic runs in the
        accounting context too, so ``cash * size`` is as exact as the cash."""
        with localcontext(ACCOUNTING):
            return self._run(start_step, progress)

    def _run(self, start_step: int, progress: Progress | None) -> EngineResult:
        data, view, strategy, risk = self.data, self.view, self.strategy, self.risk
        times = data.times.tolist()
        steps = len(times)
        nav_times: list[int] = []
        navs: list[Decimal] = []
        exposed: list[bool] = []
        if start_step == 0:
            view.k, view.time_ms = -1, self.first_open - self.costs.latency_ms
            intents = strategy.on_start(view)
            if intents:
                self._submit(intents, view.time_ms)
        funding = bool(self.funding)
        quantum = NAV_QUANTUM
        venue, on_bar, nav_exposed = self.venue, strategy.on_bar, self._nav_exposed
        watch_loss = risk.limits.max_daily_loss is not None  # on_nav only matters with a daily loss limit
        times_append, navs_append, exposed_append = nav_times.append, navs.append, exposed.append
        for k in range(start_step, steps):
            t = times[k]
            view.k = k
            view.time_ms = t
            if venue.pending:
                self._fills(t)
            if funding:
                self._funding(t)
            if not risk.halted:
                intents = on_bar(view)
                if intents:
                    self._submit(intents, t)
            nav, exposed_now = nav_exposed()
            if watch_loss and risk.on_nav(t, nav):
                self._flatten(t)
            times_append(t)
            navs_append(nav.quantize(quantum))
            exposed_append(exposed_now)
            if progress is not None and k % PROGRESS_EVERY == 0:
                progress(k, steps)
        if progress is not None:
            progress(steps, steps)
        final = navs[-1] if navs else self._nav().quantize(quantum)
        return EngineResult(
            ledger=list(self.portfolio.ledger),
            nav_times=nav_times,
            nav=navs,
            exposed=exposed,
            refusals=list(risk.refusals),
            round_trips=list(self.portfolio.round_trips),
            attribution=self.portfolio.attribution(self._nav()),
            final_nav=final,
            halted=risk.halted_reason,
            bars=data.bars,
            steps=steps - start_step,
            traded_notional=self.traded_notional,
            state=dict(strategy.state),
            unfilled=len(self.venue.pending),
        )
