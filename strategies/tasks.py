"""Celery tasks of strategies: thin, take ids, idempotent (a finished backtest is not executed again; a study's
chunk is recorded once, however often it runs; a paper step finds what closed since the run's last event and does
nothing when nothing did, and the run's row lock lets one step through at a time)."""

from __future__ import annotations

from celery import shared_task

from strategies import selectors, services
from strategies.errors import StrategyPaperError, StrategyRunFailed, StrategySweepError
from strategies.services import paper, sweeps


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1800, time_limit=1860)
def strategy_run_execute_task(run_id: int) -> None:
    """Execute one backtest run. A failure is stored on the run (status failed) and not retried: the same data
    would fail the same way."""
    try:
        services.strategy_run_execute(run_id=run_id)
    except StrategyRunFailed:
        return


@shared_task(ignore_result=True, acks_late=True)
def strategy_sweep_run(sweep_id: int, queue: str | None = None) -> None:
    """Start a study and queue one task per chunk not recorded yet (on ``queue``, or the default one)."""
    for chunk in sweeps.strategy_sweep_start(sweep_id=sweep_id):
        strategy_sweep_chunk.apply_async((sweep_id, chunk), queue=queue)


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=1_800, time_limit=1_900)
def strategy_sweep_chunk(sweep_id: int, chunk: int) -> None:
    """Compute and record one chunk. A data error is recorded on the study and not retried."""
    try:
        sweeps.strategy_sweep_execute(sweep_id=sweep_id, chunks=[chunk])
    except StrategySweepError:
        return  # recorded on the study (status failed); retrying cannot fix the data


# A step queued longer than this is dropped: beat has queued a newer one, which does the same work.
STEP_EXPIRES_SECONDS = 60


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=240, time_limit=300)
def strategy_paper_step(run_id: int) -> None:
    """Step one paper run. A stored state or data the engine refuses fails the run, with the reason, and is not
    retried: retrying cannot fix it."""
    try:
        paper.strategy_paper_step(run_id=run_id)
    except StrategyPaperError as error:
        paper.strategy_paper_fail(run_id=run_id, error=str(error))


@shared_task(ignore_result=True, acks_late=False)
def strategy_paper_step_all() -> None:
    """Periodic (beat): queue a step of every running paper run."""
    for run_id in selectors.paper_runs_running():
        strategy_paper_step.apply_async((run_id,), expires=STEP_EXPIRES_SECONDS)
