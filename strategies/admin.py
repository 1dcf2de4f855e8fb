"""Operators' view of strategies: configurations (edited here); runs with their progress and results, each run's
ledger and refusals as filtered lists, and parameter sweeps and walk-forward studies with their progress (all written
by the services only: operators look, never add, edit or delete). A run's NAV points, up to 525,600 of them, are read
through the API and the run page, not here."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from strategies.models import StrategyConfig, StrategyLedgerEntry, StrategyRefusal, StrategyRun, StrategySweep


class _ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Records written by services only: operators look, never add, edit or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StrategyConfig)
class StrategyConfigAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "strategy", "symbol", "interval", "exchanges", "vault", "updated")
    list_filter = ("strategy", "interval")
    search_fields = ("name", "symbol")
    readonly_fields = ("created_by", "created", "updated")

    def save_model(self, request: HttpRequest, obj: StrategyConfig, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


@admin.register(StrategyRun)
class StrategyRunAdmin(_ReadOnlyAdmin):
    list_display = ("id", "strategy", "mode", "status", "progress", "symbol", "interval", "final_nav", "created")
    list_filter = ("mode", "status", "strategy", "interval")
    search_fields = ("id", "strategy")
    list_select_related = ("created_by",)
    readonly_fields = (
        "strategy",
        "mode",
        "status",
        "progress",
        "markets",
        "interval",
        "window",
        "parameters_text",
        "cost_model_text",
        "risk_limits_text",
        "cash",
        "numeraire",
        "final_nav",
        "metrics_text",
        "result_text",
        "records",
        "error",
        "timings",
        "created_by",
        "created",
        "started_at",
        "finished_at",
    )
    fields = readonly_fields

    @admin.display(description="progress")
    def progress(self, run: StrategyRun) -> str:
        if not run.progress_total:
            return "—" if run.status != StrategyRun.Status.DONE else "100 %"
        return f"{100 * run.progress_done // run.progress_total} % ({run.progress_done:,}/{run.progress_total:,})"

    @admin.display(description="symbol")
    def symbol(self, run: StrategyRun) -> str:
        return ", ".join(f"{m['exchange']} {m['symbol']}" for m in run.markets)

    @admin.display(description="window (ms UTC)")
    def window(self, run: StrategyRun) -> str:
        return f"[{run.start_ms}, {run.end_ms})"

    def _json(self, value: Any) -> str:
        return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))

    @admin.display(description="parameters")
    def parameters_text(self, run: StrategyRun) -> str:
        return self._json(run.parameters)

    @admin.display(description="cost model")
    def cost_model_text(self, run: StrategyRun) -> str:
        return self._json(run.cost_model)

    @admin.display(description="risk limits")
    def risk_limits_text(self, run: StrategyRun) -> str:
        return self._json(run.risk_limits)

    @admin.display(description="metrics")
    def metrics_text(self, run: StrategyRun) -> str:
        return self._json((run.result or {}).get("metrics", {}))

    @admin.display(description="result")
    def result_text(self, run: StrategyRun) -> str:
        return self._json({k: v for k, v in (run.result or {}).items() if k != "metrics"})

    @admin.display(description="ledger and refusals")
    def records(self, run: StrategyRun) -> str:
        ledger = reverse("admin:strategies_strategyledgerentry_changelist") + f"?run__id__exact={run.pk}"
        refusals = reverse("admin:strategies_strategyrefusal_changelist") + f"?run__id__exact={run.pk}"
        page = reverse("strategy-run-page", args=[run.pk])
        return format_html(
            '<a href="{}">ledger</a> · <a href="{}">refusals</a> · <a href="{}">run page</a>', ledger, refusals, page
        )


@admin.register(StrategyLedgerEntry)
class StrategyLedgerEntryAdmin(_ReadOnlyAdmin):
    list_display = ("run_id", "seq", "time_ms", "kind", "venue", "symbol", "side", "quantity", "price", "fee", "tag")
    list_filter = ("kind", "venue")
    list_per_page = 200
    ordering = ("run_id", "seq")


@admin.register(StrategyRefusal)
class StrategyRefusalAdmin(_ReadOnlyAdmin):
    list_display = ("run_id", "time_ms", "market", "side", "quantity", "reason", "detail")
    list_filter = ("reason",)
    list_per_page = 200
    ordering = ("run_id", "time_ms", "id")


@admin.register(StrategySweep)
class StrategySweepAdmin(_ReadOnlyAdmin):
    list_display = ("id", "kind", "strategy", "interval", "status", "progress", "created", "finished_at")
    list_filter = ("kind", "status", "strategy")
    readonly_fields = [f.name for f in StrategySweep._meta.fields]

    @admin.display(description="progress")
    def progress(self, sweep: StrategySweep) -> str:
        return f"{sweep.progress_done}/{sweep.progress_total}"
