from typing import Any

from celery import shared_task

from hftplatform import status


@shared_task(bind=True, ignore_result=True, acks_late=False)
def platform_status_broadcast(self) -> None:  # type: ignore[no-untyped-def]
    """Periodic (beat): push the platform status to dashboards. A missed run is simply superseded."""
    status.status_broadcast(worker_hostname=self.request.hostname)


@shared_task(bind=True)
def platform_ping(self) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """An operator's probe of one queue, answered by whichever worker serves it.

    ``celery -A hftplatform call hftplatform.tasks.platform_ping --queue <queue>``: the worker records its
    heartbeat and returns it as the task's result, kept in the result database (admin, task results), so one
    ping proves broker, worker, Redis and database together.
    """
    return status.worker_heartbeat_record(hostname=self.request.hostname)
