"""Celery tasks of strategies: thin, take ids, idempotent (a finished run is not executed again)."""

from __future__ import annotations

from celery import shared_task

from strategies import services
from strategies.errors import StrategyRunFailed


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1800, time_limit=1860)
def strategy_run_execute_task(run_id: int) -> None:
    """Execute one backtest run. A failure is stored on the run (status failed) and not retried: the same data
    would fail the same way."""
    try:
        services.strategy_run_execute(run_id=run_id)
    except StrategyRunFailed:
        return
