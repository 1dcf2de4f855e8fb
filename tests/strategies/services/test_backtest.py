"""Backtest runs: every input checked before anything is stored; a run executed and stored whole, exactly; a failure
stores nothing of the ledger; executing a finished run changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any

import pytest

from marketdata import services as marketdata_services
from marketdata.core.candles import Candle
from marketdata.core.intervals import HOUR_MS, MINUTE_MS
from marketdata.models import Instrument, LeadLagRun
from strategies import services
from strategies.core.portfolio import ACCOUNTING
from strategies.errors import (
    StrategyCashInvalid,
    StrategyCostInvalid,
    StrategyError,
    StrategyMarketUnknown,
    StrategyNoCandles,
    StrategyParameterInvalid,
    StrategyRunFailed,
    StrategyUnknown,
    StrategyWindowInvalid,
)
from strategies.models import StrategyLedgerEntry, StrategyNavPoint, StrategyRun
from tests.marketdata.factories import InstrumentFactory
from tests.strategies.backtests import END, START, leadlag_inputs, rows
from tests.strategies.conftest import T0, candles_store, quote_quantities

pytestmark = pytest.mark.django_db

NAV_QUANTUM = Decimal("1e-8")


# -- creation: bad input stores nothing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "error", "fragment"),
    [
        ({"strategy": "martingale"}, StrategyUnknown, "unknown strategy 'martingale'; known: hold, leadlag"),
        (
            {"parameters": {"leader": "binance", "follower": "bybit", "lookbak": "2"}},
            StrategyParameterInvalid,
            "lookbak",
        ),
        (
            {"parameters": {"leader": "binance", "follower": "bybit", "lookback": "0"}},
            StrategyParameterInvalid,
            "lookback",
        ),
        ({"parameters": {"leader": "binance", "follower": "okx"}}, StrategyParameterInvalid, "'okx'"),
        ({"parameters": {}}, StrategyParameterInvalid, "lead-lag analysis of BTC/USDT"),
        ({"exchanges": ["binance", "kraken"]}, StrategyMarketUnknown, "unknown exchange 'kraken'"),
        ({"exchanges": ["binance", "binance"]}, StrategyMarketUnknown, "appears twice"),
        ({"exchanges": []}, StrategyMarketUnknown, "at least one exchange"),
        ({"exchanges": ["binance", "coinbase"]}, StrategyMarketUnknown, "no instrument BTC/USDT on coinbase"),
        ({"symbol": "ETH/USDT"}, StrategyMarketUnknown, "no instrument ETH/USDT on binance"),
        ({"interval": "7m"}, StrategyMarketUnknown, "7m"),
        ({"interval": "1M"}, StrategyMarketUnknown, "monthly"),
        ({"start": END, "end": END}, StrategyWindowInvalid, "end must be after the start"),
        ({"start": END, "end": START}, StrategyWindowInvalid, "end must be after the start"),
        ({"start": datetime(2024, 1, 1)}, StrategyWindowInvalid, "naive"),  # noqa: DTZ001  (the naive input refused)
        (
            {"start": datetime(2023, 1, 1, tzinfo=UTC), "end": datetime(2023, 1, 2, tzinfo=UTC)},
            StrategyNoCandles,
            "binance BTC/USDT: no closed 1m candles in the window",
        ),
        ({"interval": "5m"}, StrategyNoCandles, "no closed 5m candles"),
        ({"cash": "-1"}, StrategyCashInvalid, "cash must be positive, got -1"),
        ({"cash": "0"}, StrategyCashInvalid, "cash must be positive, got 0"),
        ({"cash": "ten"}, StrategyCashInvalid, "not a decimal"),
        ({"cash": 1.5}, StrategyCashInvalid, "not a float"),
        ({"fee_model": "cheap"}, StrategyCostInvalid, "fee model must be one of venue, zero"),
        ({"slippage_bps": "-1"}, StrategyCostInvalid, "slippage must not be negative"),
        ({"latency_ms": -5}, StrategyCostInvalid, "latency must not be negative"),
        ({"risk_limits": {"max_leverage": "2"}}, StrategyCostInvalid, "unknown risk limit(s) max_leverage"),
        ({"risk_limits": {"max_daily_loss": "-0.1"}}, StrategyCostInvalid, "max_daily_loss must be positive"),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(
    binance: Instrument, bybit: Instrument, overrides: dict[str, Any], error: type[StrategyError], fragment: str
) -> None:
    before = rows()
    with pytest.raises(error) as raised:
        services.strategy_run_create(**leadlag_inputs(**overrides))
    assert fragment in raised.value.message
    assert rows() == before == (0, 0, 0, 0)


def test_a_venue_without_a_fee_schedule_is_refused_under_venue_fees(binance: Instrument) -> None:
    perp = InstrumentFactory(
        exchange="coinbase", market_type="perp", symbol="BTC/USD:USD", venue_symbol="BTC-PERP", base="BTC", quote="USD"
    )
    candles_store(perp, [("1", "1", "1", "1")])
    with pytest.raises(StrategyCostInvalid, match="no fee schedule for coinbase perp"):
        services.strategy_run_create(
            **leadlag_inputs(
                strategy="hold", exchanges=["coinbase"], symbol="BTC/USD:USD", parameters={}, fee_model="venue"
            )
        )
    assert StrategyRun.objects.count() == 0


def test_created_run_stores_its_inputs_with_every_default(binance: Instrument, bybit: Instrument) -> None:
    run = services.strategy_run_create(**leadlag_inputs(slippage_bps="2.5", latency_ms=100))
    assert run.status == StrategyRun.Status.QUEUED
    assert run.markets == [
        {"exchange": "binance", "symbol": "BTC/USDT", "instrument_id": binance.pk},
        {"exchange": "bybit", "symbol": "BTC/USDT", "instrument_id": bybit.pk},
    ]
    assert (run.interval, run.start_ms, run.end_ms) == ("1m", T0, T0 + 1440 * MINUTE_MS)
    assert run.parameters == {
        "leader": "binance",
        "follower": "bybit",
        "lookback": 1,
        "threshold": "0.001",
        "hold_bars": 2,
        "stop": "0.01",
        "size": "1",
    }
    assert run.cost_model == {
        "fee_model": "zero",
        "slippage_bps": "2.5",
        "latency_ms": 100,
        "funding": True,
        "fee_overrides": {},
    }
    assert run.cash == Decimal(10000)
    assert run.numeraire == "USDT"
    assert run.risk_limits["max_gross_leverage"] == "1"


def test_leadlag_roles_come_from_the_latest_lead_lag_run(binance: Instrument, bybit: Instrument) -> None:
    leadlag = LeadLagRun.objects.create(
        symbol="BTC/USDT",
        interval="1m",
        start_ms=T0,
        end_ms=T0 + HOUR_MS,
        status="done",
        outputs={"pairs": [{"venues": ["binance", "bybit"], "leader": "binance", "follower": "bybit"}]},
    )
    run = services.strategy_run_create(**leadlag_inputs(parameters={"hold_bars": "2"}))
    assert (run.parameters["leader"], run.parameters["follower"]) == ("binance", "bybit")
    assert run.result == {"roles": {"leader": "binance", "follower": "bybit", "leadlag_run_id": leadlag.pk}}


# -- execution -------------------------------------------------------------------------------------------------


def test_leadlag_run_stored_whole_and_exactly(binance: Instrument, bybit: Instrument) -> None:
    run = services.strategy_run_create(**leadlag_inputs())
    seen: list[tuple[int, int]] = []
    run = services.strategy_run_execute(run_id=run.pk, progress=lambda done, total: seen.append((done, total)))
    assert run.status == StrategyRun.Status.DONE
    assert seen[-1] == (16, 16)  # 8 steps of the strategy, then 8 of the benchmark
    assert (run.progress_done, run.progress_total) == (16, 16)
    # all of bybit's cash at bar 2's open, out at bar 4's
    assert run.final_nav == (Decimal(10000) * Decimal("101.4") / Decimal("100.5")).quantize(NAV_QUANTUM)
    assert run.final_nav == Decimal("10089.55223881")
    ledger = list(StrategyLedgerEntry.objects.filter(run=run).order_by("seq"))
    assert [(e.seq, e.kind, e.venue, e.side, e.time_ms) for e in ledger] == [
        (0, "deposit", "bybit", "", T0),
        (1, "trade", "bybit", "buy", T0 + 2 * MINUTE_MS),
        (2, "trade", "bybit", "sell", T0 + 4 * MINUTE_MS),
    ]
    assert ledger[0].amount == Decimal(10000)
    quantity = ledger[1].quantity
    assert quantity in quote_quantities(Decimal(10000), Decimal("100.5"))
    assert (ledger[1].price, ledger[1].fee) == (Decimal("100.5"), 0)
    assert (ledger[2].quantity, ledger[2].price) == (quantity, Decimal("101.4"))
    navs = list(StrategyNavPoint.objects.filter(run=run).order_by("time_ms").values_list("time_ms", "nav", "exposed"))
    assert navs == [
        (T0 + 1 * MINUTE_MS, Decimal("10000.00000000"), False),
        (T0 + 2 * MINUTE_MS, Decimal("10000.00000000"), False),
        (T0 + 3 * MINUTE_MS, Decimal("10059.70149254"), True),
        (T0 + 4 * MINUTE_MS, Decimal("10089.55223881"), True),
        *[(T0 + k * MINUTE_MS, Decimal("10089.55223881"), False) for k in range(5, 9)],
    ]
    result = run.result
    assert result["returns"] == {"basis": "step", "periods": 525600.0, "observations": 8}
    assert result["metrics"]["total_return"] == pytest.approx(float(run.final_nav) / 10000 - 1, rel=1e-12)
    assert result["metrics"]["round_trips"] == 1
    assert result["metrics"]["hit_rate"] == 1.0
    assert result["metrics"]["exposure"] == 0.25
    assert result["attribution"]["fees"] == "0"
    assert result["benchmark"]["strategy"] == "hold"
    assert result["benchmark"]["market"] == "bybit:BTC/USDT"
    assert result["benchmark"]["final_nav"] == "10120.00000000"  # 100 BTC bought at 100.0, last close 101.2
    assert (result["trades"], result["refusals"], result["bars"], result["steps"]) == (2, 0, 16, 8)
    assert set(run.timings) == {"read", "run", "metrics", "benchmark", "store"}


def test_hold_matches_its_closed_form_with_fees_and_slippage(binance: Instrument) -> None:
    run = services.strategy_run_create(
        **leadlag_inputs(strategy="hold", exchanges=["binance"], parameters={}, fee_model="venue", slippage_bps="5")
    )
    run = services.strategy_run_execute(run_id=run.pk)
    with localcontext(ACCOUNTING):
        # q = cash / (O (1 + s) (1 + f)), final NAV q * C: O the first open, C the last close, Binance spot taker fee
        quantity = Decimal(10000) / (Decimal("100.00") * (1 + Decimal("0.0005")) * (1 + Decimal("0.001")))
        closed_form = (quantity * Decimal("101.00")).quantize(NAV_QUANTUM)
    assert run.final_nav == closed_form == Decimal("10084.86765608")
    assert run.result["benchmark"]["final_nav"] == "10084.86765608"


def test_a_run_spanning_days_is_measured_on_daily_returns(db: None) -> None:
    hourly = InstrumentFactory(exchange="binance", symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC")
    prices = [f"{100 + (i % 7)}.0" for i in range(72)]
    marketdata_services.klines_store(
        instrument_id=hourly.pk,
        interval="1h",
        candles=[Candle(T0 + i * HOUR_MS, p, p, p, p, "1") for i, p in enumerate(prices)],
        covered=(T0, T0 + 72 * HOUR_MS),
    )
    run = services.strategy_run_create(
        **leadlag_inputs(
            strategy="hold", exchanges=["binance"], parameters={}, interval="1h", end=datetime(2024, 1, 4, tzinfo=UTC)
        )
    )
    run = services.strategy_run_execute(run_id=run.pk)
    # three UTC days: the NAV at each day's last step (the bar closing at midnight closes the day before)
    assert run.result["returns"] == {"basis": "daily", "periods": 365.0, "observations": 3}
    with localcontext(ACCOUNTING):
        quantity = Decimal(10000) / Decimal("100.0")
    day_ends = [prices[23], prices[47], prices[71]]
    navs = [float(quantity * Decimal(p)) for p in day_ends]
    assert run.result["metrics"]["total_return"] == pytest.approx(navs[-1] / 10000 - 1, rel=1e-12)


def test_executing_a_finished_run_changes_nothing(binance: Instrument, bybit: Instrument) -> None:
    run = services.strategy_run_execute(run_id=services.strategy_run_create(**leadlag_inputs()).pk)
    before = rows()
    again = services.strategy_run_execute(run_id=run.pk)
    assert rows() == before
    assert (again.finished_at, again.final_nav, again.result) == (run.finished_at, run.final_nav, run.result)


def test_a_failed_run_is_marked_and_stores_no_ledger(binance: Instrument, bybit: Instrument) -> None:
    run = services.strategy_run_create(**leadlag_inputs())
    # the candles disappear between creation and execution
    marketdata_services.klines_delete(instrument_id=bybit.pk, interval="1m", start_ms=T0, end_ms=T0 + HOUR_MS)
    with pytest.raises(StrategyRunFailed, match="bybit:BTC/USDT: no closed 1m candles in the window"):
        services.strategy_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == StrategyRun.Status.FAILED
    assert run.error == "bybit:BTC/USDT: no closed 1m candles in the window"
    assert run.final_nav is None
    assert rows() == (1, 0, 0, 0)
    # once the data is back, the same run executes from scratch
    candles_store(bybit, [("100.0", "100.0", "100.0", "100.0")] * 3)
    run = services.strategy_run_execute(run_id=run.pk)
    assert run.status == StrategyRun.Status.DONE
    assert run.error == ""


def test_deleting_a_run_deletes_its_nav_points_ledger_and_refusals(binance: Instrument, bybit: Instrument) -> None:
    # the NAV points' run key has no database constraint (COPY speed): Django's cascade still removes them
    run = services.strategy_run_execute(run_id=services.strategy_run_create(**leadlag_inputs()).pk)
    kept = services.strategy_run_execute(run_id=services.strategy_run_create(**leadlag_inputs()).pk)
    assert StrategyNavPoint.objects.filter(run=run).count() == 8
    run.delete()
    assert StrategyNavPoint.objects.filter(run_id=run.pk).count() == 0
    assert StrategyLedgerEntry.objects.filter(run_id=run.pk).count() == 0
    assert rows() == (1, 3, 8, 0)
    assert StrategyNavPoint.objects.filter(run=kept).count() == 8


def test_a_perpetual_backtest_is_charged_the_stored_funding(db: None) -> None:
    # Given a Binance USD-M perpetual with hourly candles over a day and three stored funding events in the window
    from marketdata.core.funding import FundingEvent

    perp = InstrumentFactory(
        exchange="binance",
        market_type="perp",
        symbol="BTC/USDT:USDT",
        venue_symbol="BTCUSDT",
        base="BTC",
        settle="USDT",
    )
    day = int(START.timestamp() * 1000)
    marketdata_services.klines_store(
        instrument_id=perp.pk,
        interval="1h",
        candles=[Candle(day + i * HOUR_MS, "100.0", "100.0", "100.0", "100.0", "1") for i in range(24)],
        covered=(day, day + 24 * HOUR_MS),
    )
    rates = ["0.0001", "-0.00005", "0.0002"]
    events = [FundingEvent(day + (8 * i + 4) * HOUR_MS, rate) for i, rate in enumerate(rates)]
    marketdata_services.funding_rates_store(instrument_id=perp.pk, events=events)
    # When hold (a full-cash long, no fees) is backtested on it
    run = services.strategy_run_create(
        **leadlag_inputs(strategy="hold", exchanges=["binance"], symbol="BTC/USDT:USDT", interval="1h", parameters={})
    )
    run = services.strategy_run_execute(run_id=run.pk)
    # Then each event is one ledger row paying -q * p * rate at its time, and NAV is the cash they leave
    flows = list(run.ledger.filter(kind="funding").order_by("seq").values_list("time_ms", "amount"))
    quantity = Decimal(100)  # 10000 of cash at 100.0
    assert flows == [(e.time_ms, -quantity * Decimal("100.0") * Decimal(e.rate)) for e in events]
    assert run.final_nav == Decimal(10000) - Decimal("100") * Decimal("0.00025") * 100
    assert run.result["attribution"]["funding"] == "-2.5"
    assert run.result["benchmark"]["final_nav"] == "9997.50000000"
