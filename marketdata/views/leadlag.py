"""The public lead-lag page of a market: ``/markets/leadlag/<slug>/?interval=1m&run=<id>``.

The slug is the unified symbol with ``/`` written as ``-`` (as on the candle chart pages: ``BTC-USDT``). The page
lists the symbol's finished runs (newest first, optionally of one interval), and for the selected run (the newest
unless ``run`` names one) shows each venue pair's verdict, its cross-correlation curve and table, and the rolling
leadership share of every pair; the charts are drawn by ``static/js/leadlag.js`` from the run's report. Signed-in
users also get a form that starts a run through ``POST /api/v1/leadlag/``.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from marketdata import selectors
from marketdata.core.candles import open_time_iso
from marketdata.core.intervals import INTERVALS
from marketdata.core.leadlag.verdict_text import leadlag_verdict_sentence, venue_label
from marketdata.models import Instrument, LeadLagRun
from marketdata.views.markets import market_slug, market_symbol

RUNS_LIMIT = 50
DAY_MS = 86_400_000


def _number(value: float | None, digits: int) -> str:
    """A statistic for the table (floats: these are estimates, not prices); ``—`` when undefined."""
    return "—" if value is None else f"{value:.{digits}f}"


def _p_value(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _run_option(run: LeadLagRun) -> dict[str, Any]:
    markets = (run.outputs or {}).get("markets") or run.parameters.get("markets") or []
    return {
        "id": run.pk,
        "interval": run.interval,
        "start": open_time_iso(run.start_ms),
        "end": open_time_iso(run.end_ms),
        "venues": [m["exchange"] for m in markets],
        "markets": [
            {"exchange": m["exchange"], "symbol": m["symbol"], "slug": market_slug(m["symbol"])} for m in markets
        ],
        "created": run.created,
    }


def _pair_rows(report: dict[str, Any], interval: str) -> list[dict[str, Any]]:
    """The table and verdict of each venue pair, in report order."""
    rows = []
    window_seconds = float(report.get("window_seconds") or DAY_MS / 1000)
    for index, pair in enumerate(report.get("pairs", [])):
        a, b = pair["venues"]
        shares = pair.get("information_share") or {}
        component = pair.get("component_share") or {}
        granger = pair.get("granger_p") or {}
        rows.append(
            {
                "index": index,
                "venues": [a, b],
                "label": f"{venue_label(a)} / {venue_label(b)}",
                "verdict": pair.get("verdict"),
                "sentence": leadlag_verdict_sentence(pair, interval=interval, window_seconds=window_seconds),
                "leader": venue_label(pair["leader"]) if pair.get("leader") else "—",
                "lag_seconds": _number(pair.get("lag_seconds"), 3),
                "xcorr_peak": _number(pair.get("xcorr_peak"), 3),
                "xcorr_band": _number(pair.get("xcorr_band"), 3),
                "xcorr_significant": bool(pair.get("xcorr_significant")),
                "hy_ratio": _number(pair.get("hy_ratio"), 2),
                "hy_lag_seconds": _number(pair.get("hy_lag_seconds"), 3),
                "granger": [
                    {"direction": f"{venue_label(x)} → {venue_label(y)}", "p": _p_value(granger.get(f"{x}->{y}"))}
                    for x, y in ((a, b), (b, a))
                ],
                "granger_warning": pair.get("granger_warning", ""),
                "shares": [
                    {
                        "venue": venue_label(name),
                        "is_lower": _number((shares.get(name) or {}).get("lower"), 3),
                        "is_upper": _number((shares.get(name) or {}).get("upper"), 3),
                        "component": _number(component.get(name), 3),
                    }
                    for name in (a, b)
                ],
                "stability": pair.get("stability") or {},
                "lag_points": len((pair.get("xcorr") or {}).get("lag_seconds", [])),
            }
        )
    return rows


def _chart_data(run: LeadLagRun, report: dict[str, Any]) -> dict[str, Any]:
    """What the page's script draws: per pair the cross-correlation curve with its bands and peak, and the first
    venue's information leadership share per rolling window."""
    return {
        "run": run.pk,
        "symbol": run.symbol,
        "interval": run.interval,
        "pairs": [
            {
                "venues": pair["venues"],
                "labels": [venue_label(name) for name in pair["venues"]],
                "xcorr": pair.get("xcorr") or {"lag_seconds": [], "rho": [], "band": [], "pairs": []},
                "peak_lag_seconds": pair.get("xcorr_peak_lag_seconds"),
                "peak_rho": pair.get("xcorr_peak"),
                "rolling": [
                    {
                        "start_ms": w["start_ms"],
                        "end_ms": w["end_ms"],
                        "share": w.get("information_leadership_share"),
                        "leader": w.get("leader"),
                    }
                    for w in pair.get("rolling", [])
                ],
            }
            for pair in report.get("pairs", [])
        ],
    }


@require_GET
def leadlag_page(request: HttpRequest, slug: str) -> HttpResponse:
    symbol = market_symbol(slug).upper()
    venues = list(Instrument.objects.filter(symbol=symbol).order_by("exchange").values_list("exchange", flat=True))
    if not venues:
        raise Http404("no such market")
    stored = set(selectors.leadlag_runs_list(symbol=symbol).values_list("interval", flat=True))
    asked = request.GET.get("interval", "")
    interval = asked if asked in INTERVALS else ""
    runs = selectors.leadlag_runs_list(symbol=symbol, interval=interval or None)
    run_id = request.GET.get("run", "")
    if run_id:
        if not run_id.isdigit():
            raise Http404("no such run")
        # any finished run of the symbol: a link to a run stays valid whatever interval the list is filtered to
        selected = selectors.leadlag_runs_list(symbol=symbol).filter(pk=int(run_id)).first()
        if selected is None:
            raise Http404("no such run")
    else:
        selected = runs.first()
    report: dict[str, Any] = dict(selected.outputs) if selected is not None else {}
    context = {
        "symbol": symbol,
        "slug": market_slug(symbol),
        "venues": venues,
        "intervals": [code for code in INTERVALS if code in stored],
        "interval": interval,
        "runs": [_run_option(r) for r in runs[:RUNS_LIMIT]],
        "run": None if selected is None else _run_option(selected),
        "report": report,
        "pairs": [] if selected is None else _pair_rows(report, selected.interval),
        "chart": None if selected is None else _chart_data(selected, report),
        "run_form": {
            "exchanges": ",".join(venues),
            "intervals": list(INTERVALS),
            "interval": interval or (selected.interval if selected is not None else "1m"),
            # a new run starts from the shown run's window, the likeliest thing to redo or extend
            "start": "" if selected is None else open_time_iso(selected.start_ms),
            "end": "" if selected is None else open_time_iso(selected.end_ms),
        },
    }
    return render(request, "marketdata/leadlag.html", context)
