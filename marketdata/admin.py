"""Operators' view of market data: instruments (track/untrack through the service), coverage, gaps, archives,
download jobs with progress, perpetuals' funding rates and their coverage. Candles are never edited here: the Kline
table is written only by COPY in ``marketdata.services`` and is not registered."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from hftplatform.core.utc import utc_ms
from marketdata import selectors, services
from marketdata.core.candles import open_time_iso
from marketdata.core.intervals import INTERVALS, IntervalError, interval_get
from marketdata.core.venue_payloads import ms_to_iso
from marketdata.models import FundingCoverage, FundingRate, Instrument, KlineArchive, KlineCoverage, KlineDownloadJob


class _ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Records written by services only: operators look, never add, edit or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TrackActionForm(ActionForm):
    intervals = forms.CharField(
        required=False,
        label="intervals",
        help_text="For “track”: platform codes separated by commas, e.g. 1m,1h.",
    )


class GapsForm(forms.Form):
    interval = forms.ChoiceField(choices=[(code, code) for code in INTERVALS])
    start = forms.DateTimeField(required=False, help_text="UTC; empty: the first covered or stored candle.")
    end = forms.DateTimeField(required=False, help_text="UTC, exclusive; empty: the end of the last covered range.")


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "symbol",
        "exchange",
        "market_type",
        "venue_symbol",
        "tick_size",
        "lot_size",
        "tracked",
        "intervals",
    )
    list_filter = ("exchange", "market_type", "tracked")
    search_fields = ("symbol", "venue_symbol")
    ordering = ("exchange", "symbol")
    action_form = TrackActionForm
    actions = ("track", "untrack")
    list_per_page = 100
    # Loaded from the venues' market lists; tracking changes only through the actions (the service).
    readonly_fields = (
        "exchange",
        "market_type",
        "symbol",
        "venue_symbol",
        "base",
        "quote",
        "settle",
        "tick_size",
        "lot_size",
        "listed_at",
        "active",
        "tracked",
        "tracked_intervals",
        "created",
        "updated",
        "coverage",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="tracked intervals")
    def intervals(self, obj: Instrument) -> str:
        return ", ".join(obj.tracked_intervals) or "—"

    @admin.display(description="coverage and gaps")
    def coverage(self, obj: Instrument) -> str:
        summary = selectors.markets_coverage(instruments=[obj])[obj.pk]
        if not summary:
            return "nothing covered or stored"
        rows = [
            (
                c.interval,
                len(c.ranges),
                "—" if c.first_open_ms is None else open_time_iso(c.first_open_ms),
                "—" if c.last_open_ms is None else open_time_iso(c.last_open_ms),
                reverse("admin:marketdata_instrument_gaps", args=[obj.pk]) + f"?interval={c.interval}",
            )
            for c in summary
        ]
        return format_html(
            "<table><tr><th>interval</th><th>ranges</th><th>first candle</th><th>last candle</th><th></th></tr>"
            "{}</table>",
            format_html_join(
                "", '<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href="{}">gaps</a></td></tr>', rows
            ),
        )

    @admin.action(description="Track selected markets (keep current for the intervals given)", permissions=["change"])
    def track(self, request: HttpRequest, queryset: QuerySet[Instrument]) -> None:
        codes = [code.strip() for code in request.POST.get("intervals", "").split(",") if code.strip()]
        if not codes:
            self.message_user(request, "Give the intervals to track, e.g. 1m,1h.", messages.ERROR)
            return
        try:
            for code in codes:
                interval_get(code)
        except IntervalError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        for instrument_id in queryset.values_list("pk", flat=True):
            services.instrument_set_tracked(instrument_id=instrument_id, tracked=True, intervals=codes)
        self.message_user(request, f"{queryset.count()} market(s) tracked for {', '.join(codes)}.", messages.SUCCESS)

    @admin.action(description="Stop tracking selected markets", permissions=["change"])
    def untrack(self, request: HttpRequest, queryset: QuerySet[Instrument]) -> None:
        for instrument_id in queryset.values_list("pk", flat=True):
            services.instrument_set_tracked(instrument_id=instrument_id, tracked=False)
        self.message_user(request, f"{queryset.count()} market(s) no longer tracked.", messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        gaps = path(
            "<int:instrument_id>/gaps/",
            self.admin_site.admin_view(self.gaps_view),
            name="marketdata_instrument_gaps",
        )
        return [gaps, *super().get_urls()]

    def gaps_view(self, request: HttpRequest, instrument_id: int) -> HttpResponse:
        """Missing candles of one market and interval, split into not-fetched and venue-has-none."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            instrument = Instrument.objects.get(pk=instrument_id)
        except Instrument.DoesNotExist:
            raise Http404("no such instrument") from None
        form = GapsForm(request.GET or None)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "instrument": instrument,
            "form": form,
            "title": f"Gaps of {instrument}",
        }
        if form.is_valid():
            code = form.cleaned_data["interval"]
            covered = selectors.coverage_ranges(instrument_id=instrument.pk, interval=code)
            bounds = selectors.markets_coverage(instruments=[instrument])[instrument.pk]
            stored = next((c for c in bounds if c.interval == code), None)
            firsts = [r[0] for r in covered[:1]] + (
                [stored.first_open_ms] if stored and stored.first_open_ms is not None else []
            )
            iv = interval_get(code)
            lasts = [r[1] for r in covered[-1:]] + (
                [iv.next_open(stored.last_open_ms)] if stored and stored.last_open_ms is not None else []
            )
            start = utc_ms(form.cleaned_data["start"]) if form.cleaned_data["start"] else min(firsts, default=None)
            end = utc_ms(form.cleaned_data["end"]) if form.cleaned_data["end"] else max(lasts, default=None)
            if start is None or end is None or end <= start:
                context["empty"] = "No window: nothing covered or stored for this interval, or end is not after start."
            else:
                report = selectors.klines_gaps(instrument_id=instrument.pk, interval=code, start_ms=start, end_ms=end)
                context["report"] = report
                context["window"] = (open_time_iso(start), open_time_iso(end))
                context["unfetched"] = [
                    (open_time_iso(a), open_time_iso(b), iv.count(a, b)) for a, b in report.unfetched
                ]
                context["venue_empty"] = [
                    (open_time_iso(a), open_time_iso(b), iv.count(a, b)) for a, b in report.venue_empty
                ]
        return TemplateResponse(request, "marketdata/admin_gaps.html", context)


@admin.register(KlineCoverage)
class KlineCoverageAdmin(_ReadOnlyAdmin):
    list_display = ("instrument", "interval", "start", "end", "candles")
    list_filter = ("interval", "instrument__exchange")
    search_fields = ("instrument__symbol",)
    list_select_related = ("instrument",)

    @admin.display(description="start (UTC)", ordering="start_ms")
    def start(self, obj: KlineCoverage) -> str:
        return open_time_iso(obj.start_ms)

    @admin.display(description="end (UTC, exclusive)", ordering="end_ms")
    def end(self, obj: KlineCoverage) -> str:
        return open_time_iso(obj.end_ms)

    @admin.display(description="candle slots")
    def candles(self, obj: KlineCoverage) -> int:
        return interval_get(obj.interval).count(obj.start_ms, obj.end_ms)


@admin.register(KlineArchive)
class KlineArchiveAdmin(_ReadOnlyAdmin):
    list_display = ("instrument", "interval", "period", "rows", "sha256", "imported_at")
    list_filter = ("interval", "imported_at")
    search_fields = ("instrument__symbol", "period")
    list_select_related = ("instrument",)


@admin.register(KlineDownloadJob)
class KlineDownloadJobAdmin(_ReadOnlyAdmin):
    list_display = (
        "id",
        "status",
        "progress",
        "rows_written",
        "rows_present",
        "requests",
        "retries",
        "gaps_left",
        "started_at",
        "finished_at",
        "error_summary",
    )
    list_filter = ("status", "started_at")
    ordering = ("-started_at",)

    @admin.display(description="progress")
    def progress(self, obj: KlineDownloadJob) -> str:
        """``done / total (percent)``; the percentage rounds down, so 100% means finished."""
        if obj.progress_total <= 0:
            return f"{obj.progress_done} / —"
        return f"{obj.progress_done} / {obj.progress_total} ({100 * obj.progress_done // obj.progress_total}%)"

    @admin.display(description="error")
    def error_summary(self, obj: KlineDownloadJob) -> str:
        first_line = obj.error.strip().splitlines()[0] if obj.error.strip() else ""
        return first_line[:120] or "—"


@admin.register(FundingRate)
class FundingRateAdmin(_ReadOnlyAdmin):
    """Settled funding events of perpetuals, as the venues wrote them (positive: longs pay shorts)."""

    list_display = ("instrument", "funding_at", "funding_time", "rate", "mark_price")
    list_filter = ("instrument__exchange",)
    search_fields = ("instrument__symbol", "instrument__venue_symbol")
    list_select_related = ("instrument",)
    list_per_page = 200

    @admin.display(description="funding time (UTC)", ordering="funding_time")
    def funding_at(self, obj: FundingRate) -> str:
        return ms_to_iso(obj.funding_time)


@admin.register(FundingCoverage)
class FundingCoverageAdmin(_ReadOnlyAdmin):
    list_display = ("instrument", "start", "end")
    list_select_related = ("instrument",)

    @admin.display(description="start (UTC)", ordering="start_ms")
    def start(self, obj: FundingCoverage) -> str:
        return ms_to_iso(obj.start_ms)

    @admin.display(description="end (UTC, exclusive)")
    def end(self, obj: FundingCoverage) -> str:
        return ms_to_iso(obj.end_ms)
