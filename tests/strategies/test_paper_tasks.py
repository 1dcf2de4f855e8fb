"""The paper tasks: a step task that steps and is idempotent, fails a run it cannot step (and does not retry), and
the beat task that queues a step of every running paper run."""

from __future__ import annotations

from typing import Any

import pytest

from hftplatform.celery import app as celery_app
from strategies import tasks
from strategies.models import StrategyRun
from strategies.services import paper
from tests.strategies.paper_bars import T0, walk
from tests.strategies.paper_runs import candles_write, paper_start, stored, tracked_markets

pytestmark = pytest.mark.django_db


def test_the_step_task_steps_and_is_idempotent() -> None:
    instruments = tracked_markets()
    run = paper_start()
    candles_write(instruments, walk(5, 30), 0, 30)
    tasks.strategy_paper_step.apply(args=(run.pk,)).get()
    first = stored(run)
    tasks.strategy_paper_step.apply(args=(run.pk,)).get()
    assert stored(run) == first and len(first[1]) == 30
    run.refresh_from_db()
    assert (run.status, run.last_event_ms) == ("running", T0 + 30 * 60_000)


def test_the_step_task_fails_a_run_whose_state_cannot_be_read_and_stores_nothing() -> None:
    instruments = tracked_markets()
    run = paper_start()
    candles_write(instruments, walk(5, 3), 0, 3)
    StrategyRun.objects.filter(pk=run.pk).update(state={"waiting": [{"venue": "bybit"}]}, last_event_ms=T0 + 60_000)
    tasks.strategy_paper_step.apply(args=(run.pk,)).get()
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error.startswith(f"paper run {run.pk} cannot step: stored paper state unreadable")
    assert stored(run) == ([], [], [])
    assert run.last_event_ms == T0 + 60_000


def test_beat_queues_a_step_of_every_running_paper_run_only(monkeypatch: pytest.MonkeyPatch) -> None:
    tracked_markets()
    running, stopped = paper_start(), paper_start()
    paper.strategy_paper_stop(run_id=stopped.pk)
    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        tasks.strategy_paper_step, "apply_async", lambda args, **options: queued.append((args, options))
    )
    tasks.strategy_paper_step_all.apply().get()
    assert queued == [((running.pk,), {"expires": tasks.STEP_EXPIRES_SECONDS})]


def test_beat_has_the_paper_step_entry(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["strategies-paper-step-all"]
    assert entry["task"] == "strategies.tasks.strategy_paper_step_all"
    assert entry["task"] in celery_app.tasks  # registered: a worker has it to run
