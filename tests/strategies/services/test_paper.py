"""Paper runs against the database: started like a backtest (bad input stores nothing), stepped over candles written
through the market-data services and books published as the order-book watcher publishes them; a step run twice,
or killed before its commit and run again, stores what one uninterrupted step over the same candles stores."""

from __future__ import annotations

import threading
from decimal import Decimal, localcontext
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connection, transaction

from marketdata import services as marketdata
from marketdata.core.candles import Candle
from marketdata.core.funding import FundingEvent
from marketdata.models import Instrument
from orderbook.l2.book import L2Book, Side
from orderbook.live.snapshots import VenueFeed, book_snapshot
from orderbook.selectors import DEFAULT_TAKER_FEES, orderbook_cache_key
from strategies import selectors
from strategies.broadcasts import strategy_run_group
from strategies.core.data import BarSeries, MarketData
from strategies.core.engine import Engine, EngineConfig
from strategies.core.markets import Market
from strategies.core.portfolio import ACCOUNTING
from strategies.errors import StrategyPaperError
from strategies.models import StrategyLedgerEntry, StrategyRefusal, StrategyRun
from strategies.registry import strategy_build
from strategies.services import paper
from strategies.services.paper import strategy_paper_step
from tests.marketdata.factories import InstrumentFactory
from tests.strategies.paper_bars import BINANCE, BYBIT, IV, LEADLAG, T0, Row, walk
from tests.strategies.paper_runs import candles_write, paper_start, stored, tracked_markets

pytestmark = pytest.mark.django_db

D = Decimal
N = 90


@pytest.fixture
def instruments() -> dict[str, Instrument]:
    return tracked_markets()


@pytest.fixture
def bars() -> dict[Market, list[Row]]:
    return walk(5, N)


def backtest_ledger(bars: dict[Market, list[Row]], end: int) -> list[tuple[Any, ...]]:
    data = MarketData([BarSeries.from_text(m, IV, rows[:end]) for m, rows in bars.items()])
    engine = Engine(
        strategy=strategy_build("leadlag", LEADLAG, list(bars)), data=data, config=EngineConfig(cash=D("10000"))
    )
    engine.run()
    return [
        (e.seq, e.time_ms, e.kind.value, e.venue, e.symbol, e.side.value if e.side else "", e.quantity, e.price, e.fee)
        for e in engine.portfolio.ledger
    ]


# -- start ----------------------------------------------------------------------------------------------------


def test_start_stores_a_running_paper_run_from_the_next_candle(instruments: dict[str, Instrument]) -> None:
    run = paper_start()
    assert (run.mode, run.status, run.start_ms, run.end_ms, run.last_event_ms) == ("paper", "running", T0, None, None)
    assert run.markets == [
        {"exchange": "binance", "symbol": "BTC/USDT", "instrument_id": instruments["binance"].pk},
        {"exchange": "bybit", "symbol": "BTC/USDT", "instrument_id": instruments["bybit"].pk},
    ]
    assert (run.cash, run.numeraire) == (D("10000"), "USDT")
    assert run.parameters["lookback"] == 2 and run.parameters["threshold"] == "0.002"
    assert run.cost_model["fee_model"] == "venue"
    assert selectors.paper_runs_running() == [run.pk]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"strategy": "nope"}, "unknown strategy 'nope'"),
        ({"parameters": {**LEADLAG, "nope": "1"}}, "unknown parameter"),
        ({"parameters": {**LEADLAG, "follower": "coinbase"}}, "follower 'coinbase' is not among"),
        ({"cash": "-1"}, "cash must be positive"),
        ({"cash": "ten"}, "not a decimal number"),
        ({"exchanges": ["binance", "kraken"]}, "unknown exchange 'kraken'"),
        ({"exchanges": []}, "at least one exchange"),
        ({"exchanges": ["binance", "coinbase"]}, "no market BTC/USDT on coinbase"),
        ({"interval": "5m"}, "not tracked at 5m"),
        ({"interval": "1M"}, "fixed-length"),
        ({"interval": "7q"}, "7q"),
        ({"cost_model": {"fee_model": "cheap"}}, "cost model"),
        ({"risk_limits": {"price_band": "wide"}}, "price_band"),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(
    instruments: dict[str, Instrument], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(StrategyPaperError, match=message):
        paper_start(**overrides)
    assert StrategyRun.objects.count() == 0


def test_a_market_not_tracked_is_refused(instruments: dict[str, Instrument]) -> None:
    Instrument.objects.filter(pk=instruments["bybit"].pk).update(tracked=False, tracked_intervals=[])
    with pytest.raises(StrategyPaperError, match="bybit BTC/USDT is not tracked at 1m"):
        paper_start()
    assert StrategyRun.objects.count() == 0


# -- steps ----------------------------------------------------------------------------------------------------


def test_a_step_before_every_market_has_closed_a_candle_stores_nothing(
    instruments: dict[str, Instrument], bars: dict[Market, list[Row]]
) -> None:
    run = paper_start()
    assert strategy_paper_step(run_id=run.pk) == paper.PaperStepResult(run.pk, 0, 0, 0, 0, None, None)
    marketdata.klines_store(
        instrument_id=instruments["binance"].pk,
        interval="1m",
        candles=[Candle(*bars[BINANCE][0])],
        covered=(T0, T0 + IV),
    )
    assert strategy_paper_step(run_id=run.pk) == paper.PaperStepResult(run.pk, 0, 0, 0, 0, None, None)
    run.refresh_from_db()
    assert (run.last_event_ms, run.state) == (None, {})
    assert stored(run) == ([], [], [])


def test_an_open_candle_is_not_stepped_over(instruments: dict[str, Instrument], bars: dict[Market, list[Row]]) -> None:
    run = paper_start()
    candles_write(instruments, bars, 0, 3)
    for market in bars:
        marketdata.klines_store(
            instrument_id=instruments[market.venue].pk,
            interval="1m",
            candles=[Candle(*bars[market][3], closed=False)],
            covered=None,
        )
    result = strategy_paper_step(run_id=run.pk)
    assert result is not None and (result.steps, result.last_event_ms) == (3, T0 + 3 * IV)


class Crash(RuntimeError):
    pass


def test_steps_run_twice_or_killed_before_commit_store_what_one_uninterrupted_step_stores(
    instruments: dict[str, Instrument], bars: dict[Market, list[Row]], monkeypatch: pytest.MonkeyPatch
) -> None:
    stepped, whole = paper_start(), paper_start()
    real_store = paper._store
    crashes = {"left": 0}

    def store(run: StrategyRun, batch: Any) -> None:
        real_store(run, batch)  # the rows are written ...
        if crashes["left"]:
            crashes["left"] -= 1
            raise Crash("worker killed before the commit")  # ... and rolled back

    monkeypatch.setattr(paper, "_store", store)
    cuts = [1, 2, 3, 5, 8, 13, 21, 22, 23, 34, 55, 56, 89, N]
    done = 0
    for k, cut in enumerate(cuts):
        candles_write(instruments, bars, done, cut)
        done = cut
        if k % 3 == 1:
            before = stored(stepped)
            crashes["left"] = 1
            with pytest.raises(Crash):
                strategy_paper_step(run_id=stepped.pk)
            assert stored(stepped) == before  # nothing of the killed step is left
        result = strategy_paper_step(run_id=stepped.pk)
        assert result is not None and result.last_event_ms == T0 + cut * IV
        again = strategy_paper_step(run_id=stepped.pk)  # the same step twice: nothing new
        assert again is not None and again.steps == 0 and again.last_event_ms == T0 + cut * IV

    result = strategy_paper_step(run_id=whole.pk)
    assert result is not None and result.steps == N

    ledger, nav, refusals = stored(stepped)
    assert (ledger, nav, refusals) == stored(whole)
    assert len([row for row in ledger if row[2] == "trade"]) >= 4
    assert [row[:9] for row in ledger] == [
        (*row[:9],) for row in backtest_ledger(bars, N)
    ]  # and what a backtest over the same candles books
    assert all(row[-1].endswith("@open") for row in ledger if row[2] == "trade")
    assert [t for t, _, _ in nav] == [T0 + k * IV for k in range(1, N + 1)]
    stepped.refresh_from_db()
    whole.refresh_from_db()
    assert stepped.state == whole.state and stepped.state["steps"] == N
    assert stepped.final_nav == whole.final_nav == nav[-1][1]


def _entry_step(bars: dict[Market, list[Row]]) -> int:
    """The bar index k at whose close (T0 + k * IV) leadlag first decides to enter."""
    first = next(row for row in backtest_ledger(bars, N) if row[2] == "trade")
    return (first[1] - T0) // IV


def book_publish(time_ms: int, asks: list[tuple[str, str]], bids: list[tuple[str, str]]) -> None:
    """Publish a consolidated snapshot with bybit's book as the order-book watcher does (binance: not in sync)."""
    book = L2Book()
    book.apply_many(Side.BID, bids)
    book.apply_many(Side.ASK, asks)
    from hftplatform.core.utc import utc_from_ms

    snapshot = book_snapshot(
        "BTC/USDT",
        {"bybit": VenueFeed(book, "live"), "binance": VenueFeed(None, "syncing")},
        taker_fees=DEFAULT_TAKER_FEES,
        depth=50,
        at=utc_from_ms(time_ms),
    )
    cache.set(orderbook_cache_key("BTC/USDT"), snapshot, timeout=30)


def test_the_last_steps_entry_walks_the_fresh_live_book(
    instruments: dict[str, Instrument], bars: dict[Market, list[Row]], redis_namespace: Any
) -> None:
    k = _entry_step(bars)
    run = paper_start()
    candles_write(instruments, bars, 0, k)
    seen = T0 + k * IV + 4_000
    book_publish(seen, asks=[("99000.00", "0.05"), ("99010.50", "0.05"), ("99020", "5")], bids=[("98990", "1")])

    result = strategy_paper_step(run_id=run.pk, now_ms=seen + 1_000)

    assert result is not None and (result.book_fills, result.trades) == (1, 1)
    entry = StrategyLedgerEntry.objects.get(run=run, kind="trade")
    # 10000 USDT at Bybit's 0.1 % taker fee: 0.05 @ 99000 costs 4954.95, 0.05 @ 99010.50 costs 4955.475525, the
    # remaining 89.574475 buys 89.574475 / (99020 * 1.001) at 99020.
    with localcontext(ACCOUNTING):
        rest = D("89.574475") / (D("99020") * D("1.001"))
        quantity = D("0.1") + rest
        notional = D("4950") + D("4950.525") + rest * D("99020")
        assert (entry.time_ms, entry.side, entry.quantity, entry.tag) == (seen, "buy", quantity, "entry long @book")
        assert entry.price == notional / quantity
        assert entry.fee == notional * D("0.001")
        assert entry.reference_price == D("99000.00")
    run.refresh_from_db()
    assert run.state["waiting"] == [] and run.state["book_fills"] == 1
    assert StrategyRefusal.objects.filter(run=run).count() == 0


def test_a_thin_book_fills_what_it_holds_and_stores_the_rest_as_refused(
    instruments: dict[str, Instrument], bars: dict[Market, list[Row]], redis_namespace: Any
) -> None:
    k = _entry_step(bars)
    run = paper_start(cost_model={"fee_model": "zero"})
    candles_write(instruments, bars, 0, k)
    seen = T0 + k * IV + 1
    book_publish(seen, asks=[("99000", "0.01")], bids=[])
    strategy_paper_step(run_id=run.pk, now_ms=seen)
    entry = StrategyLedgerEntry.objects.get(run=run, kind="trade")
    assert (entry.quantity, entry.price, entry.fee, entry.amount) == (D("0.01"), D("99000"), D("0"), D("-990.00"))
    refusal = StrategyRefusal.objects.get(run=run)
    assert (refusal.reason, refusal.quantity, refusal.side) == ("no_fill", "9010.00", "buy")
    assert refusal.detail == "book too thin: 9010 USDT unfilled after 1 level(s)"


@pytest.mark.parametrize("age_ms", [10_001, -10_001])
def test_a_stale_book_is_not_used_and_the_entry_fills_at_the_next_open(
    instruments: dict[str, Instrument], bars: dict[Market, list[Row]], redis_namespace: Any, age_ms: int
) -> None:
    k = _entry_step(bars)
    run = paper_start()
    candles_write(instruments, bars, 0, k)
    seen = T0 + k * IV + 2_000
    book_publish(seen, asks=[("1", "100")], bids=[])
    result = strategy_paper_step(run_id=run.pk, now_ms=seen + age_ms)
    assert result is not None and (result.trades, result.book_fills) == (0, 0)
    run.refresh_from_db()
    assert len(run.state["waiting"]) == 1
    candles_write(instruments, bars, k, k + 1)
    strategy_paper_step(run_id=run.pk, now_ms=seen + age_ms)
    entry = StrategyLedgerEntry.objects.get(run=run, kind="trade")
    assert (entry.time_ms, entry.price, entry.tag) == (T0 + k * IV, D(bars[BYBIT][k][1]), "entry long @open")


def test_a_stopped_run_is_not_stepped(instruments: dict[str, Instrument], bars: dict[Market, list[Row]]) -> None:
    run = paper_start()
    paper.strategy_paper_stop(run_id=run.pk)
    candles_write(instruments, bars, 0, 10)
    assert strategy_paper_step(run_id=run.pk) is None
    run.refresh_from_db()
    assert (run.status, run.last_event_ms) == ("stopped", None)
    assert stored(run) == ([], [], [])
    assert selectors.paper_runs_running() == []
    paper.strategy_paper_stop(run_id=run.pk)  # again: still stopped
    run.refresh_from_db()
    assert run.status == "stopped"


def test_the_new_nav_points_are_pushed_to_the_runs_group_after_commit(
    instruments: dict[str, Instrument],
    bars: dict[Market, list[Row]],
    redis_namespace: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    run = paper_start()
    candles_write(instruments, bars, 0, 2)
    layer = get_channel_layer()
    assert layer is not None
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(strategy_run_group(run.pk), channel)
    with django_capture_on_commit_callbacks(execute=True):
        strategy_paper_step(run_id=run.pk)
    message = async_to_sync(layer.receive)(channel)
    assert message == {
        "type": "run.nav",
        "run_id": run.pk,
        "points": [
            {"time": "2026-01-01T00:01:00Z", "time_ms": T0 + IV, "nav": "10000.00000000"},
            {"time": "2026-01-01T00:02:00Z", "time_ms": T0 + 2 * IV, "nav": "10000.00000000"},
        ],
        "final_nav": "10000.00000000",
    }


def test_perpetual_funding_is_charged_once_at_its_step_as_in_a_backtest() -> None:
    perp = Market("binance", "BTC/USDT:USDT")
    instrument = InstrumentFactory(
        exchange="binance",
        market_type="perp",
        base="BTC",
        symbol=perp.symbol,
        venue_symbol="BTCUSDT",
        settle="USDT",
        tracked=True,
        tracked_intervals=["1m"],
    )
    rows = walk(5, 50)[BINANCE]
    events = [FundingEvent(T0 + 10 * IV, "0.0001"), FundingEvent(T0 + 25 * IV + 30_000, "-0.00025")]
    events.append(FundingEvent(T0 + 40 * IV, "0.0003"))
    marketdata.funding_rates_store(instrument_id=instrument.pk, events=events, covered=[(T0, T0 + 50 * IV)])
    run = paper_start(strategy="hold", exchanges=["binance"], symbol=perp.symbol, parameters={})
    for cut in (10, 26, 33, 50):
        marketdata.klines_store(
            instrument_id=instrument.pk,
            interval="1m",
            candles=[Candle(*row) for row in rows[:cut]],
            covered=(T0, T0 + cut * IV),
        )
        strategy_paper_step(run_id=run.pk)

    data = MarketData([BarSeries.from_text(perp, IV, rows)])
    funding = {perp: [(e.time_ms, D(e.rate)) for e in events]}
    engine = Engine(
        strategy=strategy_build("hold", {}, [perp]), data=data, config=EngineConfig(cash=D("10000")), funding=funding
    )
    result = engine.run()
    ledger, nav, _ = stored(run)
    assert [row[2] for row in ledger] == ["deposit", "trade", "funding", "funding", "funding"]
    assert [(row[1], row[9]) for row in ledger] == [(e.time_ms, e.amount) for e in result.ledger]
    assert [(t, n) for t, n, _ in nav] == list(zip(result.nav_times, result.nav, strict=True))


@pytest.mark.django_db(transaction=True)
def test_a_step_while_another_worker_steps_the_run_returns_at_once_and_stores_nothing() -> None:
    instruments = tracked_markets()
    run = paper_start()
    candles_write(instruments, walk(5, 10), 0, 10)
    locked, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                StrategyRun.objects.select_for_update().get(pk=run.pk)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    worker = threading.Thread(target=other_worker)
    worker.start()
    try:
        assert locked.wait(30)
        assert strategy_paper_step(run_id=run.pk) is None  # the lock holder does the work
        assert stored(run) == ([], [], [])
    finally:
        release.set()
        worker.join(30)
    result = strategy_paper_step(run_id=run.pk)
    assert result is not None and result.steps == 10
