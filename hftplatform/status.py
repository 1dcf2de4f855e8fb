"""The platform status stream: worker heartbeat, beat's last run and server time, pushed to dashboards.

Beat's scheduler records each run in Redis (:func:`beat_run_record`); a periodic task on a worker builds a
snapshot (:func:`status_snapshot`) and broadcasts it to the ``platform.status`` channel group, which every
signed-in dashboard joins.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache

STATUS_GROUP = "platform.status"
BEAT_LAST_RUN_KEY = "platform:beat:last-run"
WORKER_HEARTBEAT_KEY = "platform:worker:heartbeat"
# Long enough to survive a missed beat or two, short enough that a dead beat/worker shows as unknown.
RECORD_TTL_SECONDS = 3600


class PlatformStatus(TypedDict):
    server_time: str
    worker: dict[str, Any] | None
    beat: dict[str, Any] | None


def _now() -> datetime:
    return datetime.now(tz=UTC)


def beat_run_record(*, task_name: str) -> None:
    """Note that beat just sent ``task_name`` (called from beat's scheduler)."""
    cache.set(BEAT_LAST_RUN_KEY, {"at": _now().isoformat(), "task": task_name}, RECORD_TTL_SECONDS)


def worker_heartbeat_record(*, hostname: str | None = None) -> dict[str, Any]:
    """Note that a worker is alive now; returns the heartbeat stored."""
    heartbeat = {"at": _now().isoformat(), "hostname": hostname or socket.gethostname()}
    cache.set(WORKER_HEARTBEAT_KEY, heartbeat, RECORD_TTL_SECONDS)
    return heartbeat


def status_snapshot() -> PlatformStatus:
    return {
        "server_time": _now().isoformat(),
        "worker": cache.get(WORKER_HEARTBEAT_KEY),
        "beat": cache.get(BEAT_LAST_RUN_KEY),
    }


def status_broadcast(*, worker_hostname: str | None = None) -> PlatformStatus:
    """Record this worker's heartbeat and push a fresh snapshot to every connected dashboard."""
    worker_heartbeat_record(hostname=worker_hostname)
    snapshot = status_snapshot()
    channel_layer = get_channel_layer()
    assert channel_layer is not None, "CHANNEL_LAYERS is not configured"
    async_to_sync(channel_layer.group_send)(STATUS_GROUP, {"type": "status.update", "status": snapshot})
    return snapshot
