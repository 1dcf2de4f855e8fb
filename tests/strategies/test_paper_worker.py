"""A real Celery worker steps a paper run: the task is registered in a worker started as deployed (the paper tasks
module is imported by the Celery settings), reads the test database and stores what an in-process step stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from strategies import tasks
from strategies.models import StrategyRun
from strategies.services.paper import strategy_paper_step
from tests import live_processes
from tests.strategies.paper_bars import IV, T0, walk
from tests.strategies.paper_runs import candles_write, paper_start, stored, tracked_markets

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DEADLINE_SECONDS = 60.0


@pytest.fixture
def worker_queue(redis_namespace: live_processes.RedisNamespace, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log_path = tmp_path / "worker.log"
    with live_processes.celery_worker(redis_namespace, log_path, timeout=DEADLINE_SECONDS) as queue:
        yield queue, log_path


def test_a_worker_steps_a_paper_run_as_an_in_process_step_does(worker_queue: tuple[str, Path]) -> None:
    queue, log_path = worker_queue
    instruments = tracked_markets()
    by_worker, in_process = paper_start(), paper_start()
    candles_write(instruments, walk(5, 60), 0, 60)

    tasks.strategy_paper_step.apply_async((by_worker.pk,), queue=queue)
    live_processes.wait_until(
        lambda: StrategyRun.objects.filter(pk=by_worker.pk, last_event_ms=T0 + 60 * IV).exists(),
        timeout=DEADLINE_SECONDS,
        what="the worker's step",
        log_path=log_path,
    )
    strategy_paper_step(run_id=in_process.pk)

    assert stored(by_worker) == stored(in_process)
    assert len(stored(by_worker)[1]) == 60
