"""The backtest task: thin, late-acknowledged, idempotent; a failed run is stored as failed and not retried."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from marketdata import services as marketdata_services
from marketdata.models import Instrument
from strategies import services
from strategies.models import StrategyLedgerEntry, StrategyNavPoint, StrategyRun
from strategies.tasks import strategy_run_execute_task
from tests.strategies.conftest import T0

pytestmark = pytest.mark.django_db


def queued() -> StrategyRun:
    return services.strategy_run_create(
        strategy="hold",
        exchanges=["binance"],
        symbol="BTC/USDT",
        interval="1m",
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=datetime(2024, 1, 2, tzinfo=UTC),
    )


def test_the_task_is_late_acknowledged_and_takes_an_id() -> None:
    assert strategy_run_execute_task.acks_late is True
    assert strategy_run_execute_task.name == "strategies.tasks.strategy_run_execute_task"


def test_running_the_task_twice_stores_the_run_once(binance: Instrument) -> None:
    run = queued()
    strategy_run_execute_task.run(run.pk)
    run.refresh_from_db()
    finished = run.finished_at
    strategy_run_execute_task.run(run.pk)  # a redelivery
    run.refresh_from_db()
    assert run.status == StrategyRun.Status.DONE
    assert run.finished_at == finished
    assert StrategyLedgerEntry.objects.filter(run=run).count() == 2  # the deposit and the one buy
    assert StrategyNavPoint.objects.filter(run=run).count() == 8


def test_a_failing_run_is_stored_failed_without_a_retry(binance: Instrument) -> None:
    run = queued()
    marketdata_services.klines_delete(instrument_id=binance.pk, interval="1m", start_ms=T0, end_ms=T0 + 3_600_000)
    strategy_run_execute_task.run(run.pk)  # returns: retrying cannot bring the candles back
    run.refresh_from_db()
    assert run.status == StrategyRun.Status.FAILED
    assert "no closed 1m candles" in run.error
    assert StrategyLedgerEntry.objects.filter(run=run).count() == 0
