"""A real custody worker, started as the Procfile starts it (``--queues $CELERY_CUSTODY_QUEUE``), runs a custody
task at once while the default queue holds a backlog of analysis jobs, and takes none of them.

The queues get names of this test's own (through ``CELERY_QUEUE`` / ``CELERY_CUSTODY_QUEUE``, as a deployment
would set them), so nothing here touches another worker's queues on a shared Redis; the messages are routed by the
app's own router and sent to the queue of that name.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from hftplatform.celery import app as celery_app
from marketdata.tasks import leadlag_run
from tests import live_processes
from tests.hftplatform.test_worker import WORKER_START_SECONDS, worker_ready
from vaults.custody import tasks as custody_tasks

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BACKLOG = 200
CUSTODY_DEADLINE_SECONDS = 15.0


def _queue_length(name: str) -> int:
    with celery_app.connection_for_write() as broker:
        return int(broker.default_channel.client.llen(name))


def test_an_analysis_backlog_does_not_delay_a_custody_task(
    redis_namespace: live_processes.RedisNamespace, tmp_path: Path
) -> None:
    default_queue, custody_queue = live_processes.broker_queue_name(), live_processes.broker_queue_name()
    queue_for = {settings.CELERY_TASK_DEFAULT_QUEUE: default_queue, settings.CELERY_CUSTODY_QUEUE: custody_queue}

    def send(task, *args):  # type: ignore[no-untyped-def]
        routed = celery_app.amqp.router.route({}, task.name)["queue"].name
        return task.apply_async(args=args, queue=queue_for[routed])

    node = f"{custody_queue}@{socket.gethostname()}"
    log_path = tmp_path / "custody-worker.log"
    env = live_processes.child_env(redis_namespace, CELERY_QUEUE=default_queue, CELERY_CUSTODY_QUEUE=custody_queue)
    command = [
        sys.executable, "-m", "celery", "-A", "hftplatform", "worker", "--queues", custody_queue,
        "--hostname", node, "--pool", "solo", "--without-mingle", "--without-gossip", "--without-heartbeat",
        "--loglevel", "INFO",
    ]  # fmt: skip
    try:
        # Given a backlog of lead-lag runs on the default queue (their worker busy or stopped)
        for _ in range(BACKLOG):
            send(leadlag_run, 0)
        assert _queue_length(default_queue) == BACKLOG

        # And the custody worker running
        process = live_processes.process_start(command, env=env, log_path=log_path)
        try:
            live_processes.wait_until(
                lambda: worker_ready(process, log_path, node), timeout=WORKER_START_SECONDS, what=node
            )

            # When beat's custody task is sent
            started = time.monotonic()
            sent = send(custody_tasks.custody_proposals_advance)

            # Then the custody worker has run it within seconds, the whole backlog still waiting untouched
            done = f"Task vaults.custody.tasks.custody_proposals_advance[{sent.id}] succeeded"
            live_processes.wait_until(
                lambda: done in log_path.read_text(errors="replace"),
                timeout=CUSTODY_DEADLINE_SECONDS,
                what="the custody task",
                log_path=log_path,
            )
            assert time.monotonic() - started < CUSTODY_DEADLINE_SECONDS
            assert _queue_length(default_queue) == BACKLOG
            assert "Task marketdata.tasks.leadlag_run[" not in log_path.read_text(errors="replace")
        finally:
            assert live_processes.process_stop(process) == 0, log_path.read_text(errors="replace")[-4000:]
    finally:
        for queue in (default_queue, custody_queue):
            live_processes.broker_queue_delete(celery_app, queue)
