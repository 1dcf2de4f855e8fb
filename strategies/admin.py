"""Operators' view of strategies: parameter sweeps and walk-forward studies with their progress (written by
``strategies.services.sweeps`` only: operators look, never add, edit or delete)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from strategies.models import StrategySweep


@admin.register(StrategySweep)
class StrategySweepAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "kind", "strategy", "interval", "status", "progress", "created", "finished_at")
    list_filter = ("kind", "status", "strategy")
    readonly_fields = [f.name for f in StrategySweep._meta.fields]

    @admin.display(description="progress")
    def progress(self, sweep: StrategySweep) -> str:
        return f"{sweep.progress_done}/{sweep.progress_total}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
