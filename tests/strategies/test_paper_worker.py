"""A real Celery worker steps a paper run: the task is registered in a worker started as deployed (the paper tasks
module is imported by the Celery settings), reads the test database and stores what an in-process step stores."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hftplatform.celery import app as celery_app
from strategies import paper_tasks
from strategies.models import StrategyRun
from strategies.services.paper import strategy_paper_step
from tests import live_processes
from tests.strategies.paper_bars import IV, T0, walk
from tests.strategies.paper_runs import candles_write, paper_start, stored, tracked_markets

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DEADLINE_SECONDS = 60.0


def _ready(process: subprocess.Popen[bytes], log_path: Path, node: str) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"worker exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
    return f"{node} ready.".encode() in log_path.read_bytes()


@pytest.fixture
def worker_queue(redis_namespace: live_processes.RedisNamespace, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    queue = live_processes.broker_queue_name()
    node = f"{queue}@{socket.gethostname()}"
    log_path = tmp_path / "worker.log"
    command = [
        sys.executable, "-m", "celery", "-A", "hftplatform", "worker",
        "--pool", "solo", "--queues", queue, "--hostname", node,
        "--without-mingle", "--without-gossip", "--without-heartbeat", "--loglevel", "INFO",
    ]  # fmt: skip
    process = live_processes.process_start(command, env=live_processes.child_env(redis_namespace), log_path=log_path)
    try:
        live_processes.wait_until(
            lambda: _ready(process, log_path, node), timeout=DEADLINE_SECONDS, what=node, log_path=log_path
        )
        yield queue, log_path
    finally:
        exit_status = live_processes.process_stop(process)
        live_processes.broker_queue_delete(celery_app, queue)
    assert exit_status == 0, log_path.read_text(errors="replace")[-4000:]


def test_a_worker_steps_a_paper_run_as_an_in_process_step_does(worker_queue: tuple[str, Path]) -> None:
    queue, log_path = worker_queue
    instruments = tracked_markets()
    by_worker, in_process = paper_start(), paper_start()
    candles_write(instruments, walk(5, 60), 0, 60)

    paper_tasks.strategy_paper_step.apply_async((by_worker.pk,), queue=queue)
    live_processes.wait_until(
        lambda: StrategyRun.objects.filter(pk=by_worker.pk, last_event_ms=T0 + 60 * IV).exists(),
        timeout=DEADLINE_SECONDS,
        what="the worker's step",
        log_path=log_path,
    )
    strategy_paper_step(run_id=in_process.pk)

    assert stored(by_worker) == stored(in_process)
    assert len(stored(by_worker)[1]) == 60
