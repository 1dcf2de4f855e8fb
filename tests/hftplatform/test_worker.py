"""A real Celery worker process on the real broker, writing to the test database and the real Redis.

The worker listens on a queue of its own, so it never takes another worker's tasks on a shared Redis (nor they
its), and reads the test database through ``DATABASE_URL``, as a deployed worker would read its own.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django_celery_results.models import TaskResult

from hftplatform import status, tasks
from hftplatform.celery import app as celery_app
from tests import live_processes

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TASK_DEADLINE_SECONDS = 30.0
WORKER_START_SECONDS = 30.0


@dataclass(frozen=True)
class RunningWorker:
    queue: str
    hostname: str
    log_path: Path


def worker_ready(process: subprocess.Popen[bytes], log_path: Path, node: str) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"worker exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
    return f"{node} ready.".encode() in log_path.read_bytes()


@pytest.fixture
def worker(redis_namespace: live_processes.RedisNamespace, tmp_path: Path) -> Iterator[RunningWorker]:
    queue = live_processes.broker_queue_name()
    node = f"{queue}@{socket.gethostname()}"
    log_path = tmp_path / "worker.log"
    command = [
        sys.executable, "-m", "celery", "-A", "hftplatform", "worker",
        "--pool", "solo", "--queues", queue, "--hostname", node,
        # Alone on its queue: no need to sync with, or be seen by, other workers.
        "--without-mingle", "--without-gossip", "--without-heartbeat",
        "--loglevel", "INFO",
    ]  # fmt: skip
    process = live_processes.process_start(command, env=live_processes.child_env(redis_namespace), log_path=log_path)
    try:
        live_processes.wait_until(
            lambda: worker_ready(process, log_path, node), timeout=WORKER_START_SECONDS, what=node, log_path=log_path
        )
        yield RunningWorker(queue=queue, hostname=node, log_path=log_path)
    finally:
        exit_status = live_processes.process_stop(process)
        live_processes.broker_queue_delete(celery_app, queue)
    # SIGTERM is Celery's warm shutdown: a clean exit, not a kill.
    assert exit_status == 0, log_path.read_text(errors="replace")[-4000:]


def finished_result(task_id: str) -> TaskResult | None:
    return TaskResult.objects.filter(task_id=task_id, status__in=["SUCCESS", "FAILURE"]).first()


def test_worker_answers_a_ping_and_stores_its_result(worker: RunningWorker) -> None:
    # Given a worker on its queue and no result stored
    assert TaskResult.objects.count() == 0

    # When an operator pings that queue
    sent = tasks.platform_ping.apply_async(queue=worker.queue)
    result = live_processes.wait_until(
        lambda: finished_result(sent.id), timeout=TASK_DEADLINE_SECONDS, what="the ping", log_path=worker.log_path
    )

    # Then the result database holds the worker's heartbeat, and the heartbeat is the one the dashboard reads
    heartbeat = cache.get(status.WORKER_HEARTBEAT_KEY)
    assert heartbeat["hostname"] == worker.hostname
    assert (result.status, result.task_name, result.worker) == (
        "SUCCESS",
        "hftplatform.tasks.platform_ping",
        worker.hostname,
    )
    assert json.loads(result.result) == heartbeat
    assert TaskResult.objects.count() == 1


def test_worker_broadcasts_the_platform_status_to_dashboards(worker: RunningWorker) -> None:
    channel_layer = get_channel_layer()
    assert channel_layer is not None

    async def broadcast_received() -> dict[str, Any]:
        # Given a dashboard listening on the status group
        channel = await channel_layer.new_channel()
        await channel_layer.group_add(status.STATUS_GROUP, channel)
        try:
            # When the periodic broadcast task runs on the worker
            tasks.platform_status_broadcast.apply_async(queue=worker.queue)
            async with asyncio.timeout(TASK_DEADLINE_SECONDS):
                return await channel_layer.receive(channel)
        finally:
            await channel_layer.group_discard(status.STATUS_GROUP, channel)

    try:
        message = async_to_sync(broadcast_received)()
    except TimeoutError:
        pytest.fail(f"no broadcast within {TASK_DEADLINE_SECONDS:.0f}s; worker log:\n{worker.log_path.read_text()}")

    # Then the dashboard gets the snapshot with that worker's heartbeat, stored for the next page load too
    heartbeat = cache.get(status.WORKER_HEARTBEAT_KEY)
    assert heartbeat["hostname"] == worker.hostname
    server_time = message["status"].pop("server_time")
    assert message == {"type": "status.update", "status": {"worker": heartbeat, "beat": None}}
    assert datetime.fromisoformat(server_time) >= datetime.fromisoformat(heartbeat["at"])

    # And the broadcast keeps no result row (ignore_result: a missed run is superseded, not worth a row every
    # 5 s). The solo worker runs tasks in order, so once a later ping's row exists the broadcast is done.
    ping = tasks.platform_ping.apply_async(queue=worker.queue)
    live_processes.wait_until(
        lambda: finished_result(ping.id), timeout=TASK_DEADLINE_SECONDS, what="the ping", log_path=worker.log_path
    )
    assert list(TaskResult.objects.values_list("task_name", flat=True)) == ["hftplatform.tasks.platform_ping"]
