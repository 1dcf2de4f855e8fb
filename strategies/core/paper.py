"""Paper mode's engine: the backtest's :class:`~strategies.core.engine.Engine`, run a batch of new steps at a time
from a stored state, with market orders filled against a live L2 book when a fresh one is there.

A paper run is stored as its ledger (the portfolio is :func:`~strategies.core.portfolio.portfolio_replay` of it)
and a :class:`PaperState` (the strategy's ``state``, the orders still waiting, the risk layer's halt and day, how
many steps ran). Each batch is shown the bars that closed since the last step it processed, plus the warm-up the
strategy reads (:meth:`~strategies.core.strategy.Strategy.warmup_bars`), and counts bars as if it saw every bar
since the run started (``offsets``), so a run stepped batch by batch makes the same decisions, fills and ledger as
one engine run over the same bars.

Fills. An order decided at a step whose fill bar is in the batch fills as in a backtest, at that bar's open (market
orders, tag ``@open``) or when a closed bar trades through its limit (tag ``@limit``). An order decided at the last
step has no such bar yet: it fills by walking the live book (:func:`~strategies.core.bookfill.book_walk`, tag
``@book``) when the book was seen at or after ``decided + latency`` and before the next bar closed
(``decided + interval``) — what is too much for the book is refused with reason ``no_fill`` — and otherwise it waits
for the next batch and fills at the next bar's open.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

import numpy as np

from hftplatform.core.decimal_text import decimal_text_trim_zeros as text
from strategies.core.bookfill import BookFill, BookLevel, book_walk
from strategies.core.data import MarketData
from strategies.core.engine import Engine, EngineConfig, PendingOrder
from strategies.core.intents import Order, OrderType, Side
from strategies.core.markets import Market, MarketKind
from strategies.core.portfolio import ACCOUNTING, NAV_QUANTUM, ZERO, LedgerEntry, Portfolio, PortfolioError
from strategies.core.risk import Refusal, RefusalReason
from strategies.core.strategy import Strategy, View

TAG_LENGTH = 64  # the ledger's tag column
TAG_BOOK, TAG_OPEN, TAG_LIMIT = "@book", "@open", "@limit"


class PaperStateError(ValueError):
    """A stored paper state that cannot be read back."""


def _order_json(order: Order) -> dict[str, Any]:
    def opt(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    return {
        "venue": order.market.venue,
        "symbol": order.market.symbol,
        "side": order.side.value,
        "quantity": opt(order.quantity),
        "quote_amount": opt(order.quote_amount),
        "order_type": order.order_type.value,
        "limit_price": opt(order.limit_price),
        "reduce_only": order.reduce_only,
        "tag": order.tag,
    }


def _order_parse(data: Mapping[str, Any]) -> Order:
    def opt(value: object) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    return Order(
        Market(str(data["venue"]), str(data["symbol"])),
        Side(data["side"]),
        quantity=opt(data.get("quantity")),
        quote_amount=opt(data.get("quote_amount")),
        order_type=OrderType(data.get("order_type", OrderType.MARKET.value)),
        limit_price=opt(data.get("limit_price")),
        reduce_only=bool(data.get("reduce_only", False)),
        tag=str(data.get("tag", "")),
    )


@dataclass(frozen=True, slots=True)
class WaitingOrder:
    """An order the risk layer passed that has not filled yet, as stored between batches."""

    order: Order
    decided_ms: int
    last_close: Decimal

    def json(self) -> dict[str, Any]:
        return {**_order_json(self.order), "decided_ms": self.decided_ms, "last_close": str(self.last_close)}

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> WaitingOrder:
        return cls(_order_parse(data), int(data["decided_ms"]), Decimal(str(data["last_close"])))


@dataclass
class PaperState:
    """What a paper run keeps besides its ledger: JSON in ``StrategyRun.state``."""

    strategy: dict[str, Any] = field(default_factory=dict)
    waiting: list[WaitingOrder] = field(default_factory=list)
    halted: bool = False
    halted_reason: str = ""
    day: int = -1
    day_open_nav: Decimal = ZERO
    steps: int = 0
    traded_notional: Decimal = ZERO
    book_fills: int = 0

    def json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "waiting": [w.json() for w in self.waiting],
            "risk": {
                "halted": self.halted,
                "halted_reason": self.halted_reason,
                "day": self.day,
                "day_open_nav": str(self.day_open_nav),
            },
            "steps": self.steps,
            "traded_notional": text(self.traded_notional),
            "book_fills": self.book_fills,
        }

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> PaperState:
        """The state stored by :meth:`json`; an empty mapping is a run that has not stepped yet."""
        try:
            risk = data.get("risk", {})
            return cls(
                strategy=dict(data.get("strategy", {})),
                waiting=[WaitingOrder.parse(w) for w in data.get("waiting", [])],
                halted=bool(risk.get("halted", False)),
                halted_reason=str(risk.get("halted_reason", "")),
                day=int(risk.get("day", -1)),
                day_open_nav=Decimal(str(risk.get("day_open_nav", "0"))),
                steps=int(data.get("steps", 0)),
                traded_notional=Decimal(str(data.get("traded_notional", "0"))),
                book_fills=int(data.get("book_fills", 0)),
            )
        except (KeyError, TypeError, ValueError, ArithmeticError) as error:
            raise PaperStateError(f"stored paper state unreadable: {error}") from None


@dataclass(frozen=True, slots=True)
class BookSide:
    """One venue market's live book as paper mode reads it: when it was seen (ms UTC), bids and asks best first."""

    time_ms: int
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]


@dataclass
class PaperBatch:
    """What one batch added: ledger rows, a NAV point per new step, refusals, and the state to store."""

    ledger: list[LedgerEntry]
    nav_times: list[int]
    nav: list[Decimal]
    exposed: list[bool]
    refusals: list[Refusal]
    state: PaperState
    last_event_ms: int | None  # the last step processed (None: nothing to do)
    final_nav: Decimal | None
    book_fills: int = 0


class PaperView(View):
    """The view with bar counts since the run's start: ``offsets[j]`` bars of series ``j`` closed before the batch's
    first bar, so :meth:`bars` (which a strategy may store, as ``leadlag`` does) means the same in every batch."""

    __slots__ = ("_offsets",)

    def __init__(self, data: MarketData, portfolio: Portfolio, offsets: Sequence[int]) -> None:
        super().__init__(data, portfolio)
        self._offsets = tuple(offsets)

    def bars(self, market: Market) -> int:
        j = self._data.index[market]
        return self._visible(j) + self._offsets[j]

    def bars_before(self, market: Market, time_ms: int) -> int:
        """As :meth:`View.bars_before`, counted since the run's start (exact for any time from the batch's first
        bar's open on: the warm-up reaches further back than a strategy reads)."""
        return super().bars_before(market, time_ms) + self._offsets[self._data.index[market]]


class PaperEngine(Engine):
    """The engine over one batch of a paper run: ``portfolio`` rebuilt from the stored ledger (None on the first
    batch: the run's cash is deposited), ``state`` the stored :class:`PaperState`, ``offsets`` per market (in
    ``data``'s order) the bars before the batch's first, ``last_event_ms`` the last step already processed, and
    ``funding`` each perpetual's funding events after it (only those: an event is charged at the step it falls in)."""

    def __init__(
        self,
        *,
        strategy: Strategy[Any],
        data: MarketData,
        config: EngineConfig,
        portfolio: Portfolio | None,
        state: PaperState,
        offsets: Sequence[int] | None = None,
        last_event_ms: int | None = None,
        funding: Mapping[Market, Sequence[tuple[int, Decimal]]] | None = None,
    ) -> None:
        super().__init__(strategy=strategy, data=data, config=config, portfolio=portfolio, funding=funding)
        if offsets is not None and len(offsets) != len(data.series):
            raise ValueError("one offset per market of the data")
        self.view = PaperView(data, self.portfolio, offsets or [0] * len(data.series))
        self.state = state
        self.last_event_ms = last_event_ms
        self.ledger_before = len(self.portfolio.ledger) if portfolio is not None else 0
        self.book_fills = 0
        strategy.state = dict(state.strategy)
        risk = self.risk
        risk.halted, risk.halted_reason = state.halted, state.halted_reason
        risk._day, risk._day_open_nav = state.day, state.day_open_nav
        self.traded_notional = state.traded_notional
        for waiting in state.waiting:
            self.venue.submit(waiting.order, waiting.decided_ms, waiting.last_close)
            market = waiting.order.market
            self.view._pending[market] = self.view._pending.get(market, 0) + 1

    def _book(self, order: Order, time_ms: int, price: Decimal, reference: Decimal, rate: Decimal) -> None:
        mark = TAG_OPEN if order.order_type is OrderType.MARKET else TAG_LIMIT
        super()._book(dataclasses.replace(order, tag=_tagged(order.tag, mark)), time_ms, price, reference, rate)

    # -- the batch ------------------------------------------------------------------------------------------

    def run_batch(
        self,
        *,
        books: Mapping[Market, BookSide] | None = None,
        interval_ms: int | None = None,
    ) -> PaperBatch:
        """Run the steps after ``last_event_ms``, then fill the orders of the last step that no bar can fill yet
        against ``books`` (fresh ones only: the caller drops stale books). ``interval_ms`` bounds a book fill to
        before the next bar closes (default: the finest interval of the data)."""
        times = self.data.times
        start = 0 if self.last_event_ms is None else int(np.searchsorted(times, self.last_event_ms, side="right"))
        if start >= len(times):
            return PaperBatch([], [], [], [], [], self.state, None, None)
        refusals_before = len(self.risk.refusals)
        result = self.run(start_step=start)
        if books:
            step = interval_ms or min(s.interval_ms for s in self.data.series)
            with localcontext(ACCOUNTING):
                self._fill_from_books(books, step)
        state = PaperState(
            strategy=dict(self.strategy.state),
            waiting=[WaitingOrder(p.order, p.decided_ms, p.last_close) for p in self.venue.pending],
            halted=self.risk.halted,
            halted_reason=self.risk.halted_reason,
            day=self.risk._day,
            day_open_nav=self.risk._day_open_nav,
            steps=self.state.steps + result.steps,
            traded_notional=self.traded_notional,
            book_fills=self.state.book_fills + self.book_fills,
        )
        return PaperBatch(
            ledger=list(self.portfolio.ledger[self.ledger_before :]),
            nav_times=result.nav_times,
            nav=result.nav,
            exposed=result.exposed,
            refusals=list(self.risk.refusals[refusals_before:]),
            state=state,
            last_event_ms=result.nav_times[-1],
            final_nav=self.nav_now(),
            book_fills=self.book_fills,
        )

    # -- fills against a live book --------------------------------------------------------------------------

    def _fill_from_books(self, books: Mapping[Market, BookSide], interval_ms: int) -> None:
        waiting: list[PendingOrder] = []
        for pending in self.venue.pending:
            order = pending.order
            series = self.data.series[self.data.index[order.market]]
            book = books.get(order.market)
            if (
                order.order_type is OrderType.MARKET
                and pending.fill_index >= len(series)  # no bar of the batch can fill it
                and book is not None
                and pending.decided_ms + self.costs.latency_ms <= book.time_ms < pending.decided_ms + interval_ms
            ):
                self._fill_book(pending, book)
                self.view._pending[order.market] -= 1
            else:
                waiting.append(pending)
        self.venue.pending = waiting

    def _fill_book(self, pending: PendingOrder, book: BookSide) -> None:
        """Walk ``book`` for ``pending`` and book what it fills; what it cannot is a ``no_fill`` refusal."""
        order, time_ms = pending.order, book.time_ms
        market = order.market
        levels = book.asks if order.side is Side.BUY else book.bids
        if not levels:
            self.risk.refuse(time_ms, order, RefusalReason.NO_FILL, f"the book has no {_side_name(order.side)}")
            return
        refusal = self.risk.check_fill(
            time_ms=time_ms, order=order, reference=levels[0][0], last_close=pending.last_close
        )
        if refusal is not None:
            return
        held = self.portfolio.position(market)
        quantity = order.quantity
        if order.reduce_only:
            if held == 0 or (held > 0) == (order.side is Side.BUY):
                self.risk.refuse(time_ms, order, RefusalReason.INSUFFICIENT_POSITION, "nothing to reduce")
                return
            assert quantity is not None
            quantity = min(quantity, abs(held))
        spot = market.kind is MarketKind.SPOT
        if spot and order.side is Side.BUY and order.quote_amount is not None:
            cash = self.portfolio.cash_at(market.venue)
            if order.quote_amount > cash:
                self.risk.refuse(
                    time_ms, order, RefusalReason.INSUFFICIENT_CASH, f"needs {order.quote_amount}, has {cash}"
                )
                return
        if spot and order.side is Side.SELL and quantity is not None and quantity > held:
            self.risk.refuse(time_ms, order, RefusalReason.INSUFFICIENT_POSITION, f"sells {quantity}, holds {held}")
            return
        band = self.config.limits.price_band
        limit = None
        if band is not None:
            limit = pending.last_close * (1 + band) if order.side is Side.BUY else pending.last_close * (1 - band)
        fill = book_walk(
            side=order.side,
            levels=levels,
            taker_rate=self.costs.fees(market).taker,
            quantity=quantity,
            quote_amount=order.quote_amount,
            price_limit=limit,
        )
        if fill.filled:
            if spot and order.side is Side.BUY and order.quote_amount is None:
                cash = self.portfolio.cash_at(market.venue)
                if fill.notional + fill.fee > cash:
                    self.risk.refuse(
                        time_ms,
                        order,
                        RefusalReason.INSUFFICIENT_CASH,
                        f"needs {fill.notional + fill.fee}, has {cash}",
                    )
                    return
            if not self._book_fill(order, time_ms, fill):
                return
        if not fill.complete:
            unit = market.quote if order.quote_amount is not None else market.base
            self.risk.refusals.append(
                Refusal(
                    time_ms,
                    market.key,
                    order.side.value,
                    str(fill.unfilled),
                    RefusalReason.NO_FILL,
                    f"book too thin: {text(fill.unfilled)} {unit} unfilled after {fill.levels} level(s)"
                    + ("" if limit is None else f" up to the price band's {text(limit)}"),
                )
            )

    def _book_fill(self, order: Order, time_ms: int, fill: BookFill) -> bool:
        try:
            self.portfolio.trade(
                time_ms=time_ms,
                market=order.market,
                side=order.side,
                quantity=fill.quantity,
                price=fill.price,
                fee=fill.fee,
                reference_price=fill.reference,
                tag=_tagged(order.tag, TAG_BOOK),
            )
        except PortfolioError as error:
            self.risk.refuse(time_ms, order, RefusalReason.INSUFFICIENT_POSITION, str(error))
            return False
        self.traded_notional += fill.notional
        self.book_fills += 1
        return True

    def nav_now(self) -> Decimal:
        """NAV at the last closes, after any book fill (quantized as NAV points are)."""
        with localcontext(ACCOUNTING):
            return self._nav().quantize(NAV_QUANTUM)


def _tagged(tag: str, mark: str) -> str:
    suffix = f" {mark}" if tag else mark
    return tag[: TAG_LENGTH - len(suffix)] + suffix


def _side_name(side: Side) -> str:
    return "asks" if side is Side.BUY else "bids"
