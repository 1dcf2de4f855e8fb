"""The Celery app: Redis broker, results in PostgreSQL (visible in the admin), beat schedule in settings."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.beat import PersistentScheduler, ScheduleEntry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hftplatform.settings")

app = Celery("hftplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class RecordingScheduler(PersistentScheduler):  # type: ignore[misc]  # celery ships no type hints
    """The default file-backed scheduler that also notes, in Redis, when beat last sent a task.

    The dashboard's status stream shows that time, so an operator sees a stopped beat at once.
    """

    def apply_async(self, entry: ScheduleEntry, producer: Any = None, advance: bool = True, **kwargs: Any) -> Any:
        result = super().apply_async(entry, producer=producer, advance=advance, **kwargs)
        from hftplatform import status

        status.beat_run_record(task_name=entry.task)
        return result


def task_progress_report(task: Any, *, done: int, total: int, message: str = "") -> None:
    """Publish a running task's progress; operators see it in the admin's task list (state PROGRESS)."""
    task.update_state(state="PROGRESS", meta={"done": done, "total": total, "message": message})
