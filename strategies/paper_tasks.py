"""Celery tasks of paper runs: thin, take ids, idempotent (a step finds what closed since the run's last event and
does nothing when nothing did), safe to run twice or at once (the run's row lock lets one through)."""

from __future__ import annotations

from celery import shared_task

from strategies import paper_selectors
from strategies.errors import StrategyPaperError
from strategies.services import paper

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
    for run_id in paper_selectors.paper_runs_running():
        strategy_paper_step.apply_async((run_id,), expires=STEP_EXPIRES_SECONDS)
