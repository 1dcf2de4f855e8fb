"""The platform status service and beat's recording scheduler, on the real Redis (cache, channel layer, broker)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache

from hftplatform import status
from hftplatform.celery import RecordingScheduler
from hftplatform.celery import app as celery_app
from tests import live_processes
from tests.hftplatform.conftest import FROZEN_NOW

BROADCAST_TASK = "hftplatform.tasks.platform_status_broadcast"


@pytest.fixture
def queue_name() -> Iterator[str]:
    name = live_processes.broker_queue_name()
    yield name
    live_processes.broker_queue_delete(celery_app, name)


def cache_ttl_seconds(key: str) -> int:
    client = redis.Redis.from_url(settings.CHANNEL_REDIS_URL)
    try:
        return int(client.ttl(cache.make_and_validate_key(key)))
    finally:
        client.close()


def test_beat_run_record_stores_task_and_time_for_an_hour(redis_namespace, frozen_now) -> None:
    # Given nothing recorded yet
    assert cache.get(status.BEAT_LAST_RUN_KEY) is None

    # When beat notes a run
    status.beat_run_record(task_name=BROADCAST_TASK)

    # Then the record names the task and the time, and expires within the hour
    assert cache.get(status.BEAT_LAST_RUN_KEY) == {"at": "2026-03-04T05:06:07.890123+00:00", "task": BROADCAST_TASK}
    assert 3590 <= cache_ttl_seconds(status.BEAT_LAST_RUN_KEY) <= 3600


def test_worker_heartbeat_record_returns_and_stores_the_heartbeat(redis_namespace, frozen_now) -> None:
    heartbeat = status.worker_heartbeat_record(hostname="celery@worker-7")

    assert heartbeat == {"at": "2026-03-04T05:06:07.890123+00:00", "hostname": "celery@worker-7"}
    assert cache.get(status.WORKER_HEARTBEAT_KEY) == heartbeat
    assert 3590 <= cache_ttl_seconds(status.WORKER_HEARTBEAT_KEY) <= 3600


def test_worker_heartbeat_record_without_hostname_names_this_machine(redis_namespace, frozen_now) -> None:
    heartbeat = status.worker_heartbeat_record()

    assert heartbeat == {"at": "2026-03-04T05:06:07.890123+00:00", "hostname": socket.gethostname()}


def test_status_snapshot_before_any_record_shows_no_worker_and_no_beat(redis_namespace, frozen_now) -> None:
    assert status.status_snapshot() == {
        "server_time": "2026-03-04T05:06:07.890123+00:00",
        "worker": None,
        "beat": None,
    }


def test_status_snapshot_shows_the_latest_heartbeat_and_beat_run(redis_namespace, monkeypatch) -> None:
    # Given an older and a newer heartbeat and one beat run, at distinct times
    times = iter(FROZEN_NOW + timedelta(seconds=offset) for offset in (0, 1, 2, 3))
    monkeypatch.setattr(status, "_now", lambda: next(times))
    status.worker_heartbeat_record(hostname="celery@old")
    status.worker_heartbeat_record(hostname="celery@new")
    status.beat_run_record(task_name=BROADCAST_TASK)

    # When a snapshot is taken
    snapshot = status.status_snapshot()

    # Then it carries the newest of each and its own time
    assert snapshot == {
        "server_time": "2026-03-04T05:06:10.890123+00:00",
        "worker": {"at": "2026-03-04T05:06:08.890123+00:00", "hostname": "celery@new"},
        "beat": {"at": "2026-03-04T05:06:09.890123+00:00", "task": BROADCAST_TASK},
    }


def test_status_broadcast_sends_the_snapshot_to_the_status_group(redis_namespace, frozen_now) -> None:
    channel_layer = get_channel_layer()
    assert channel_layer is not None

    async def listen_then_broadcast() -> tuple[dict[str, Any], dict[str, Any]]:
        # Given a dashboard's channel in the status group
        channel = await channel_layer.new_channel()
        await channel_layer.group_add(status.STATUS_GROUP, channel)
        try:
            # When a worker broadcasts (status_broadcast is sync: it runs in a thread, as in a task)
            snapshot = await sync_to_async(status.status_broadcast)(worker_hostname="celery@worker-7")
            message = await channel_layer.receive(channel)
        finally:
            await channel_layer.group_discard(status.STATUS_GROUP, channel)
        return snapshot, message

    snapshot, message = async_to_sync(listen_then_broadcast)()

    # Then the group gets the snapshot, heartbeat included, and the heartbeat is stored
    expected = {
        "server_time": "2026-03-04T05:06:07.890123+00:00",
        "worker": {"at": "2026-03-04T05:06:07.890123+00:00", "hostname": "celery@worker-7"},
        "beat": None,
    }
    assert snapshot == expected
    assert message == {"type": "status.update", "status": expected}
    assert cache.get(status.WORKER_HEARTBEAT_KEY) == expected["worker"]


def broadcast_scheduler(tmp_path: Path, queue_name: str) -> RecordingScheduler:
    """A beat scheduler with the configured schedule, its status entry routed to a test-only queue."""
    scheduler = RecordingScheduler(app=celery_app, schedule_filename=str(tmp_path / "celerybeat-schedule"))
    entry = scheduler.schedule["platform-status-broadcast"]
    entry.options["queue"] = queue_name
    return scheduler


def queued_task_names(queue_name: str) -> list[str]:
    """Take every message off the queue; the task names they carry, in order."""
    names = []
    with celery_app.connection_for_write() as broker:
        queue = live_processes.broker_queue(queue_name).bind(broker.default_channel)
        while (message := queue.get(no_ack=True)) is not None:
            names.append(message.headers["task"])
    return names


def test_recording_scheduler_records_the_run_when_it_sends_a_due_entry(
    redis_namespace, frozen_now, tmp_path, queue_name
) -> None:
    # Given beat's configured status entry, last run long enough ago to be due
    scheduler = broadcast_scheduler(tmp_path, queue_name)
    entry = scheduler.schedule["platform-status-broadcast"]
    entry.last_run_at = datetime.now(tz=UTC) - timedelta(seconds=settings.STATUS_BROADCAST_SECONDS * 3)
    try:
        # When beat ticks
        scheduler.tick()
    finally:
        scheduler.close()

    # Then the task is on the broker and the run is recorded for the dashboard
    assert queued_task_names(queue_name) == [BROADCAST_TASK]
    assert cache.get(status.BEAT_LAST_RUN_KEY) == {"at": "2026-03-04T05:06:07.890123+00:00", "task": BROADCAST_TASK}


def test_recording_scheduler_records_nothing_while_no_entry_is_due(
    redis_namespace, frozen_now, tmp_path, queue_name
) -> None:
    # Given the status entry just ran
    scheduler = broadcast_scheduler(tmp_path, queue_name)
    scheduler.schedule["platform-status-broadcast"].last_run_at = datetime.now(tz=UTC)
    try:
        # When beat ticks
        scheduler.tick()
    finally:
        scheduler.close()

    # Then nothing is sent and nothing recorded
    assert queued_task_names(queue_name) == []
    assert cache.get(status.BEAT_LAST_RUN_KEY) is None
