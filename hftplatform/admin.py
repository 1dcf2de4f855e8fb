"""Operators' view of Celery task runs: state, progress, worker, timings."""

from __future__ import annotations

import json

from django.contrib import admin
from django_celery_results.admin import TaskResultAdmin
from django_celery_results.models import TaskResult

admin.site.unregister(TaskResult)


@admin.register(TaskResult)
class TaskRunAdmin(TaskResultAdmin):
    list_display = ("task_name", "status", "progress", "worker", "date_created", "date_done", "task_id")
    list_filter = ("status", "task_name", "worker", "date_done")
    ordering = ("-date_created",)
    list_per_page = 50

    @admin.display(description="progress")
    def progress(self, obj: TaskResult) -> str:
        """``done / total (percent) message`` from a PROGRESS state's meta; ``done`` once finished."""
        if obj.status == "SUCCESS":
            return "done"
        if obj.status != "PROGRESS" or not obj.result:
            return "—"
        try:
            meta = json.loads(obj.result)
            done, total = int(meta["done"]), int(meta["total"])
        except (ValueError, KeyError, TypeError):
            return "—"
        percent = f" ({100 * done // total}%)" if total > 0 else ""
        message = f" {meta.get('message')}" if meta.get("message") else ""
        return f"{done} / {total}{percent}{message}"
