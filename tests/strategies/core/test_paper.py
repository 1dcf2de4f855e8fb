"""Paper mode's engine: a run stepped batch by batch from its stored ledger and state makes the very ledger of one
backtest over the same bars; an order of a batch's last step fills against a fresh live book, walking it."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from decimal import Decimal, localcontext

import pytest

from strategies.core.costs import CostModel, FeeModel
from strategies.core.data import BarSeries, MarketData
from strategies.core.engine import Engine, EngineConfig
from strategies.core.markets import Market
from strategies.core.paper import TAG_OPEN, BookSide, PaperBatch, PaperEngine, PaperState, PaperStateError
from strategies.core.portfolio import ACCOUNTING, EntryKind, LedgerEntry, portfolio_replay
from strategies.core.risk import RefusalReason
from strategies.registry import strategy_build
from tests.strategies.paper_bars import BYBIT, IV, LEADLAG, T0, Row, walk

D = Decimal


def backtest(bars: dict[Market, list[Row]], strategy: str, params: dict[str, str], config: EngineConfig) -> Engine:
    data = MarketData([BarSeries.from_text(m, IV, rows) for m, rows in bars.items()])
    engine = Engine(strategy=strategy_build(strategy, params, list(bars)), data=data, config=config)
    engine.run()
    return engine


class Stepper:
    """What the paper service does, without a database: each batch sees the bars closed by its horizon, the
    strategy's warm-up before its last step, and the ledger and state the previous batch stored (through JSON)."""

    def __init__(self, bars: dict[Market, list[Row]], strategy: str, params: dict[str, str], config: EngineConfig):
        self.bars, self.strategy, self.params, self.config = bars, strategy, params, config
        self.ledger: list[LedgerEntry] = []
        self.state: dict[str, object] = {}
        self.last: int | None = None
        self.nav: list[tuple[int, Decimal]] = []
        self.refusals: list[str] = []

    def engine(self, horizon: int) -> PaperEngine:
        strategy = strategy_build(self.strategy, self.params, list(self.bars))
        warmup = strategy.warmup_bars()
        series, offsets = [], []
        for market, rows in self.bars.items():
            closed = [r for r in rows if r[0] + IV <= horizon]
            before = [] if self.last is None else [r for r in closed if r[0] + IV <= self.last]
            kept = before if warmup is None else before[len(before) - min(warmup, len(before)) :]
            series.append(BarSeries.from_text(market, IV, kept + closed[len(before) :]))
            offsets.append(len(before) - len(kept))
        return PaperEngine(
            strategy=strategy,
            data=MarketData(series),
            config=self.config,
            portfolio=portfolio_replay("USDT", self.ledger) if self.ledger else None,
            state=PaperState.parse(self.state),
            offsets=offsets,
            last_event_ms=self.last,
        )

    def step(self, horizon: int, books: dict[Market, BookSide] | None = None) -> PaperBatch:
        batch = self.engine(horizon).run_batch(books=books)
        self.ledger += batch.ledger
        self.state = batch.state.json()
        self.nav += list(zip(batch.nav_times, batch.nav, strict=True))
        self.refusals += [f"{r.time_ms} {r.reason.value} {r.detail}" for r in batch.refusals]
        if batch.last_event_ms is not None:
            self.last = batch.last_event_ms
        return batch


def untagged(ledger: Sequence[LedgerEntry]) -> list[LedgerEntry]:
    return [dataclasses.replace(e, tag=e.tag.removesuffix(f" {TAG_OPEN}").removesuffix(TAG_OPEN)) for e in ledger]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_leadlag_stepped_in_batches_makes_the_backtests_ledger_and_nav(seed: int) -> None:
    bars = walk(seed, 240)
    config = EngineConfig(cash=D("10000"), costs=CostModel(latency_ms=0))
    whole = backtest(bars, "leadlag", LEADLAG, config)
    assert len([e for e in whole.portfolio.ledger if e.kind is EntryKind.TRADE]) >= 6  # it traded

    stepper = Stepper(bars, "leadlag", LEADLAG, config)
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    horizon = T0 + IV
    while horizon < T0 + 241 * IV:
        stepper.step(horizon)
        horizon += IV * rng.choice([1, 1, 2, 3, 7, 20])
    stepper.step(T0 + 240 * IV)
    stepper.step(T0 + 240 * IV)  # nothing new: nothing added

    assert untagged(stepper.ledger) == whole.portfolio.ledger
    assert all(e.tag.endswith(TAG_OPEN) for e in stepper.ledger if e.kind is EntryKind.TRADE)
    times = whole.data.times.tolist()
    assert [t for t, _ in stepper.nav] == times
    assert stepper.state["steps"] == len(times)


def test_hold_stepped_bar_by_bar_buys_once_at_the_first_open() -> None:
    bars = walk(7, 30)
    config = EngineConfig(cash=D("1000"))
    whole = backtest(bars, "hold", {}, config)
    stepper = Stepper(bars, "hold", {}, config)
    for k in range(1, 31):
        stepper.step(T0 + k * IV)
    assert untagged(stepper.ledger) == whole.portfolio.ledger
    trades = [e for e in stepper.ledger if e.kind is EntryKind.TRADE]
    assert [(e.time_ms, e.price, e.tag) for e in trades] == [(T0, D("100000.00"), "hold @open")]


def _entering(seed: int) -> tuple[dict[Market, list[Row]], int]:
    """Bars and the close time of the first step at which leadlag enters."""
    bars = walk(seed, 240)
    config = EngineConfig(cash=D("10000"))
    whole = backtest(bars, "leadlag", LEADLAG, config)
    first = next(e for e in whole.portfolio.ledger if e.kind is EntryKind.TRADE)
    return bars, first.time_ms  # the fill bar's open: the decision step's close


def test_an_order_of_the_last_step_walks_a_fresh_book() -> None:
    bars, decided = _entering(1)
    config = EngineConfig(cash=D("10000"))
    stepper = Stepper(bars, "leadlag", LEADLAG, config)
    stepper.step(decided - IV)
    book = BookSide(
        decided + 2_500,
        bids=((D("99000"), D("1")),),
        asks=((D("100000.00"), D("0.05")), (D("100010.50"), D("0.02")), (D("100020"), D("1"))),
    )
    batch = stepper.step(decided, books={BYBIT: book})
    assert batch.book_fills == 1
    trade = batch.ledger[-1]
    # 10000 USDT fee included at 0.1 %: 0.05 @ 100000 costs 5005, 0.02 @ 100010.50 costs 2002.21021,
    # the rest, 2992.78979, buys 2992.78979 / (100020 * 1.001) at 100020.
    with localcontext(ACCOUNTING):
        rest = D("2992.78979") / (D("100020") * D("1.001"))
        notional = D("5000") + D("2000.21") + rest * D("100020")
        assert trade.quantity == D("0.07") + rest
        assert trade.price == notional / trade.quantity
        assert trade.fee == notional * D("0.001")
        assert trade.slippage == trade.quantity * (trade.price - D("100000"))
        assert abs(trade.amount + D("10000")) < D("1e-29")
    assert trade.kind is EntryKind.TRADE and trade.time_ms == decided + 2_500
    assert trade.tag == "entry long @book"
    assert trade.reference_price == D("100000.00")
    state = PaperState.parse(stepper.state)
    assert state.waiting == [] and state.book_fills == 1


def test_a_thin_book_fills_what_it_holds_and_refuses_the_rest() -> None:
    bars, decided = _entering(1)
    stepper = Stepper(bars, "leadlag", LEADLAG, EngineConfig(cash=D("10000"), costs=CostModel(fee_model=FeeModel.ZERO)))
    stepper.step(decided - IV)
    book = BookSide(decided + 1, bids=(), asks=((D("100000"), D("0.01")), (D("100001"), D("0.02"))))
    batch = stepper.step(decided, books={BYBIT: book})
    trade = batch.ledger[-1]
    assert (trade.quantity, trade.price, trade.fee) == (
        D("0.03"),
        D("100000.6666666666666666666666666667"),  # 3000.02 / 0.03 to 34 digits
        D("0"),
    )
    assert [(r.reason, r.quantity) for r in batch.refusals] == [(RefusalReason.NO_FILL, "6999.98")]
    assert "book too thin" in batch.refusals[0].detail


@pytest.mark.parametrize("seen", [-1, IV])  # before the decision, and once the next bar has closed
def test_a_book_not_seen_between_the_decision_and_the_next_close_waits_for_the_next_open(seen: int) -> None:
    bars, decided = _entering(2)
    config = EngineConfig(cash=D("10000"))
    whole = backtest(bars, "leadlag", LEADLAG, config)
    stepper = Stepper(bars, "leadlag", LEADLAG, config)
    stepper.step(decided - IV)
    book = BookSide(decided + seen, bids=(), asks=((D("1"), D("100")),))
    batch = stepper.step(decided, books={BYBIT: book})
    assert batch.book_fills == 0
    assert len(PaperState.parse(stepper.state).waiting) == 1
    stepper.step(T0 + 240 * IV)
    assert untagged(stepper.ledger) == whole.portfolio.ledger


def test_a_stored_state_that_is_not_a_paper_state_is_refused() -> None:
    with pytest.raises(PaperStateError):
        PaperState.parse({"waiting": [{"venue": "binance"}]})
