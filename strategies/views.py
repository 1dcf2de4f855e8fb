"""Strategy pages for signed-in users: their backtest runs (an operator: every run), one run (equity and drawdown
curves, trades marked on the price chart, the metrics against ``hold``, parameters, costs, attribution, refusals by
reason, live progress while it runs), and two runs side by side. Data comes from the selectors; the charts are drawn
by ``static/js/strategies.js`` from the page's JSON, and live progress arrives on ``/ws/strategies/runs/<id>/``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from hftplatform.core.decimal_text import decimal_text_keep_scale, decimal_text_trim_zeros
from hftplatform.core.utc import utc_from_ms, utc_iso
from strategies import selectors
from strategies.models import StrategyRun

RUNS_PER_PAGE = 100
# Metrics that are fractions, shown as percentages.
_PERCENT = frozenset({"annual_volatility", "max_drawdown", "cagr", "total_return", "var_5", "exposure", "hit_rate"})
METRIC_LABELS = {
    "total_return": "Total return",
    "cagr": "CAGR",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "annual_volatility": "Annual volatility",
    "max_drawdown": "Max drawdown",
    "calmar": "Calmar",
    "omega": "Omega",
    "tail_ratio": "Tail ratio",
    "var_5": "VaR 5 %",
    "stability": "Stability",
    "turnover": "Turnover (a year)",
    "exposure": "Exposure",
    "hit_rate": "Hit rate",
    "profit_factor": "Profit factor",
    "round_trips": "Round trips",
}


def metric_text(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):  # round trips; a bool is an int too
        return str(value)
    return f"{value * 100:.2f} %" if key in _PERCENT else f"{value:.3f}"


def _iso(ms: int | None) -> str:
    return "" if ms is None else utc_iso(utc_from_ms(ms))


def run_summary(run: StrategyRun) -> dict[str, Any]:
    result = run.result or {}
    benchmark = result.get("benchmark") or {}
    return {
        "id": run.pk,
        "strategy": run.strategy,
        "status": run.status,
        "markets": ", ".join(f"{m['exchange']} {m['symbol']}" for m in run.markets),
        "interval": run.interval,
        "start": _iso(run.start_ms),
        "end": _iso(run.end_ms),
        "cash": decimal_text_trim_zeros(run.cash),
        "numeraire": run.numeraire,
        "final_nav": "" if run.final_nav is None else decimal_text_keep_scale(run.final_nav),
        "hold_nav": benchmark.get("final_nav", ""),
        "total_return": metric_text("total_return", (result.get("metrics") or {}).get("total_return")),
        "progress": (100 * run.progress_done // run.progress_total) if run.progress_total else 0,
        "error": run.error,
        "created": run.created,
        "url": reverse("strategy-run-page", args=[run.pk]),
    }


def _metric_rows(*results: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"key": key, "label": label, "values": [metric_text(key, (r.get("metrics") or {}).get(key)) for r in results]}
        for key, label in METRIC_LABELS.items()
    ]


def _visible_run(request: HttpRequest, run_id: int) -> StrategyRun:
    try:
        return selectors.strategy_run_get(run_id=run_id, user=request.user)
    except StrategyRun.DoesNotExist:
        raise Http404("no such run") from None


@require_GET
@login_required
def runs_page(request: HttpRequest) -> HttpResponse:
    runs = selectors.strategy_runs_list(user=request.user)[:RUNS_PER_PAGE]
    return render(request, "strategies/runs.html", {"runs": [run_summary(r) for r in runs]})


@require_GET
@login_required
def run_page(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _visible_run(request, run_id)
    result = run.result or {}
    benchmark = result.get("benchmark") or {}
    context = {
        "run": run_summary(run),
        "running": run.status in (StrategyRun.Status.QUEUED, StrategyRun.Status.RUNNING),
        "parameters": sorted(run.parameters.items()),
        "cost_model": run.cost_model,
        "fees": sorted((result.get("fees") or {}).items()),
        "metrics": _metric_rows(result, benchmark),
        "benchmark_market": benchmark.get("market", ""),
        "returns": result.get("returns") or {},
        "attribution": list((result.get("attribution") or {}).items()),
        "refusals": sorted((result.get("refusals_by_reason") or {}).items()),
        "counts": {k: result.get(k) for k in ("trades", "round_trips", "refusals", "bars", "steps", "unfilled")},
        "halted": result.get("halted", ""),
        "roles": result.get("roles"),
        "chart": selectors.strategy_run_chart(run=run),
        "socket": f"/ws/strategies/runs/{run.pk}/",
    }
    return render(request, "strategies/run.html", context)


@require_GET
@login_required
def compare_page(request: HttpRequest) -> HttpResponse:
    ids = [request.GET.get("a", ""), request.GET.get("b", "")]
    if not all(i.isdigit() for i in ids):
        runs = selectors.strategy_runs_list(user=request.user).filter(status=StrategyRun.Status.DONE)[:RUNS_PER_PAGE]
        return render(request, "strategies/compare.html", {"choices": [run_summary(r) for r in runs], "runs": []})
    runs = [_visible_run(request, int(i)) for i in ids]
    context = {
        "runs": [run_summary(r) for r in runs],
        "parameters": [sorted(r.parameters.items()) for r in runs],
        "metrics": _metric_rows(*(r.result or {} for r in runs)),
        "charts": [selectors.strategy_run_chart(run=r) for r in runs],
    }
    return render(request, "strategies/compare.html", context)
