from celery import shared_task

from hftplatform import status


@shared_task(bind=True, ignore_result=True, acks_late=False)
def platform_status_broadcast(self) -> None:  # type: ignore[no-untyped-def]
    """Periodic (beat): push the platform status to dashboards. A missed run is simply superseded."""
    status.status_broadcast(worker_hostname=self.request.hostname)
