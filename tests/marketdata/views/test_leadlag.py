"""The public lead-lag page of a market: stored runs listed and selectable, the selected run's verdicts, chart data
and tables, the run form for signed-in users only, 404s and the empty state."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from marketdata.core.leadlag.analysis import GRANGER_WARNING, LeadLagParams, leadlag_analyse, leadlag_report
from marketdata.models import Instrument, LeadLagRun
from tests.factories import UserFactory
from tests.marketdata.core.leadlag.synthetic import market_ticks
from tests.marketdata.factories import InstrumentFactory

DAY = 86_400_000
T0 = 1_699_920_000_000  # 2023-11-14 00:00 UTC
LAGS = [float(lag) for lag in range(-5, 6)]  # a 1s grid, max_lag 5


def xcorr(peak_index: int, peak_rho: float, missing: tuple[int, ...] = ()) -> dict[str, list[Any]]:
    rho: list[float | None] = [round(0.01 * (i % 3 - 1), 2) for i in range(len(LAGS))]
    rho[peak_index] = peak_rho
    for index in missing:
        rho[index] = None
    return {
        "lag_seconds": LAGS,
        "rho": rho,
        "band": [0.05] * len(LAGS),
        "pairs": [3000 - abs(int(lag)) for lag in LAGS],
    }


def report_pair(a: str, b: str, **fields: Any) -> dict[str, Any]:
    """One pair as ``pair_json`` stores it: a leader-less default, overridden per test."""
    window = {"start_ms": T0, "end_ms": T0 + DAY, "returns": 86_000, "leader": None, "xcorr_peak": 0.1}
    return {
        "venues": [a, b],
        "leader": None,
        "follower": None,
        "verdict": "no_confident_leader",
        "verdict_text": f"no confident leader between {a} and {b}",
        "lag_seconds": 0.123,
        "xcorr_peak": 0.03,
        "xcorr_peak_lag_seconds": 0.0,
        "xcorr_band": 0.05,
        "xcorr_significant": False,
        "xcorr": xcorr(5, 0.03),
        "hy_ratio": 1.0412,
        "hy_lag_seconds": 0.0,
        "granger_p": {f"{a}->{b}": 0.2, f"{b}->{a}": 0.5},
        "granger_warning": GRANGER_WARNING,
        "information_share": {a: {"lower": 0.4, "upper": 0.6}, b: {"lower": 0.4, "upper": 0.6}},
        "component_share": {a: 0.5, b: 0.5},
        "information_leadership_share": {a: 0.5, b: 0.5},
        "stability": {"windows": 1, "with_leader": 0, "agreeing": 0},
        "rolling": [{**window, "information_leadership_share": 0.5}],
        **fields,
    }


def page_report() -> dict[str, Any]:
    """Three venues on a 1s grid over three days: Binance leads Coinbase by 2 s (2 of 3 days agree), Binance and
    Bybit have no confident leader, Bybit/Coinbase is unresolvable at 1s (Bybit's component share is larger)."""
    days = [(T0 + d * DAY, T0 + (d + 1) * DAY) for d in range(3)]
    leading = report_pair(
        "binance",
        "coinbase",
        leader="binance",
        follower="coinbase",
        verdict="leader",
        lag_seconds=2.0,
        xcorr_peak=0.8123,
        xcorr_peak_lag_seconds=2.0,
        xcorr_band=0.05,
        xcorr_significant=True,
        xcorr=xcorr(7, 0.8123),
        hy_ratio=12.3456,
        hy_lag_seconds=2.0,
        granger_p={"binance->coinbase": 1.23e-08, "coinbase->binance": 0.0417},
        information_share={"binance": {"lower": 0.912, "upper": 0.987}, "coinbase": {"lower": 0.013, "upper": 0.088}},
        component_share={"binance": 0.9504, "coinbase": 0.0496},
        stability={"windows": 3, "with_leader": 3, "agreeing": 2},
        rolling=[
            {"start_ms": s, "end_ms": e, "returns": 86_000, "leader": ld, "information_leadership_share": share}
            for (s, e), ld, share in zip(days, ["binance", "binance", "coinbase"], [0.91, 0.88, 0.31], strict=True)
        ],
    )
    quiet = report_pair("binance", "bybit", xcorr=xcorr(5, 0.03, missing=(0,)), rolling=[])
    quiet["stability"] = {"windows": 0, "with_leader": 0, "agreeing": 0}
    below_step = report_pair(
        "bybit",
        "coinbase",
        verdict="unresolvable",
        component_share={"bybit": 0.72, "coinbase": 0.28},
        information_share=None,
    )
    return {
        "interval_seconds": 1.0,
        "max_lag": 5,
        "window_seconds": 86_400.0,
        "notes": {"lags": "Positive lags: the first venue of the pair leads the second.", "xcorr_band": "95 % band."},
        "pairs": [leading, quiet, below_step],
        "symbol": "BTC/USDT",
        "interval": "1s",
        "markets": [
            {"exchange": "binance", "symbol": "BTC/USDT"},
            {"exchange": "bybit", "symbol": "BTC/USDT"},
            {"exchange": "coinbase", "symbol": "BTC/USD"},
        ],
    }


def markets_create() -> dict[str, Instrument]:
    return {
        "binance": InstrumentFactory(exchange="binance", symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC"),
        "bybit": InstrumentFactory(exchange="bybit", symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC"),
        "coinbase": InstrumentFactory(
            exchange="coinbase", symbol="BTC/USD", venue_symbol="BTC-USD", base="BTC", quote="USD"
        ),
    }


def run_store(
    report: dict[str, Any], *, symbol: str = "BTC/USDT", interval: str = "1s", status: str = LeadLagRun.Status.DONE
) -> LeadLagRun:
    """A run as ``leadlag_run_execute`` leaves it (the report given instead of computed)."""
    return LeadLagRun.objects.create(
        symbol=symbol,
        interval=interval,
        start_ms=T0,
        end_ms=T0 + 3 * DAY,
        parameters={"markets": report.get("markets", []), "step_ms": 1000, "max_lag": 5},
        status=status,
        outputs=report if status == LeadLagRun.Status.DONE else {},
    )


def stored_page_run() -> int:
    """The three BTC markets and a finished 1s run with :func:`page_report` (used by the browser test too)."""
    markets_create()
    return int(run_store(page_report()).pk)


def chart_json(content: str) -> dict[str, Any]:
    match = re.search(r'<script id="leadlag-data" type="application/json">(.*?)</script>', content, re.S)
    assert match is not None
    return dict(json.loads(match.group(1)))


@pytest.mark.django_db
def test_page_shows_the_newest_run_with_verdicts_tables_and_chart_data(client: Client) -> None:
    # Given an older 1m run, a newer 1s run, and a failed run that is not shown
    markets_create()
    older = run_store({**page_report(), "interval": "1m", "pairs": page_report()["pairs"][:1]}, interval="1m")
    newer = run_store(page_report())
    run_store({}, status=LeadLagRun.Status.FAILED)

    # When anyone opens the lead-lag page of BTC/USDT
    response = client.get("/markets/leadlag/BTC-USDT/")

    # Then the finished runs are listed newest first, and the newest is shown
    assert response.status_code == 200
    context = response.context
    assert [r["id"] for r in context["runs"]] == [newer.pk, older.pk]
    assert context["run"]["id"] == newer.pk
    assert context["run"]["venues"] == ["binance", "bybit", "coinbase"]
    assert context["intervals"] == ["1s", "1m"]
    assert context["interval"] == ""
    assert context["venues"] == ["binance", "bybit"]  # the venues listing the symbol itself
    assert [p["sentence"] for p in context["pairs"]] == [
        "Binance leads Coinbase by about 2 s; stable in 2 of 3 days",
        "No confident leader between Binance and Bybit",
        "Unresolvable at this interval (1s): Bybit appears to lead Coinbase by less than one step",
    ]
    content = response.content.decode()
    assert content.count('<li data-pair="') == 3
    assert (
        '<li data-pair="0" data-verdict="leader">Binance leads Coinbase by about 2 s; stable in 2 of 3 days</li>'
        in (content)
    )
    assert f'<option value="{newer.pk}" selected>#{newer.pk} · 1s · 2023-11-14T00:00:00Z → 2023-11-17T00:00:00Z' in (
        content
    )
    # the first pair's table, cell by cell
    first = content.split('id="leadlag-pair-0"')[1].split("</section>")[0]
    assert '<td data-field="leader">Binance</td>' in first
    assert '<td data-field="lag_seconds">2.000</td>' in first
    assert '<td data-field="xcorr_peak">0.812 (band ±0.050)</td>' in first
    assert '<td data-field="hy_ratio">12.35 (peak at 2.000 s)</td>' in first
    assert re.findall(r'<th scope="row">Granger p, (.*?)</th><td data-field="granger_p">(.*?)</td>', first) == [
        ("Binance → Coinbase", "1.23e-08"),
        ("Coinbase → Binance", "0.0417"),
    ]
    assert re.findall(r'Information share, (\w+)</th><td data-field="information_share">(.*?)</td>', first) == [
        ("Binance", "0.912 to 0.987"),
        ("Coinbase", "0.013 to 0.088"),
    ]
    assert re.findall(r'Component share, (\w+)</th><td data-field="component_share">(.*?)</td>', first) == [
        ("Binance", "0.950"),
        ("Coinbase", "0.050"),
    ]
    assert '<td data-field="stability">2 of 3 agree with the leader (3 name one)</td>' in first
    assert GRANGER_WARNING in first
    # undefined shares are dashes, not zeros
    third = content.split('id="leadlag-pair-2"')[1].split("</section>")[0]
    assert third.count('<td data-field="information_share">— to —</td>') == 2
    # the canvases and what the script draws
    assert content.count('class="leadlag-chart leadlag-xcorr"') == 3
    assert 'data-pair="0" data-state="loading" data-points="0" data-lag-points="11"' in content
    assert f'data-filename="leadlag-BTC-USDT-run{newer.pk}-binance-coinbase-xcorr.png"' in content
    chart = chart_json(content)
    assert (chart["run"], chart["interval"], len(chart["pairs"])) == (newer.pk, "1s", 3)
    assert chart["pairs"][0]["xcorr"]["lag_seconds"] == LAGS
    assert chart["pairs"][0]["xcorr"]["rho"][7] == 0.8123
    assert chart["pairs"][0]["peak_lag_seconds"] == 2.0
    assert chart["pairs"][1]["xcorr"]["rho"][0] is None
    assert [w["share"] for w in chart["pairs"][0]["rolling"]] == [0.91, 0.88, 0.31]
    assert chart["pairs"][1]["rolling"] == []
    # the markets of the run link to their candle charts
    assert '<a href="/markets/coinbase/BTC-USD/">coinbase BTC/USD</a>' in content
    # anonymous visitors get no run form
    assert 'id="leadlag-run-form"' not in content
    assert 'href="/accounts/login/?next=/markets/leadlag/BTC-USDT/">Sign in</a> to start a run.' in content


@pytest.mark.django_db
def test_runs_are_selectable_and_filtered_by_interval(client: Client) -> None:
    markets_create()
    older = run_store({**page_report(), "interval": "1m", "pairs": page_report()["pairs"][:1]}, interval="1m")
    newer = run_store(page_report())
    other_symbol = run_store(page_report(), symbol="ETH/USDT")

    chosen = client.get("/markets/leadlag/BTC-USDT/", {"run": older.pk})
    one_minute = client.get("/markets/leadlag/BTC-USDT/", {"interval": "1m"})
    nothing_at_5m = client.get("/markets/leadlag/BTC-USDT/", {"interval": "5m"})
    unknown_interval = client.get("/markets/leadlag/BTC-USDT/", {"interval": "7m"})

    assert chosen.context["run"]["id"] == older.pk
    assert [p["sentence"] for p in chosen.context["pairs"]] == [
        "Binance leads Coinbase by about 2 s; stable in 2 of 3 days"
    ]
    assert chart_json(chosen.content.decode())["interval"] == "1m"
    assert [r["id"] for r in one_minute.context["runs"]] == [older.pk]
    assert one_minute.context["run"]["id"] == older.pk
    assert nothing_at_5m.context["runs"] == [] and nothing_at_5m.context["run"] is None
    assert "No finished lead-lag run for BTC/USDT at 5m yet." in nothing_at_5m.content.decode()
    assert unknown_interval.context["interval"] == ""
    assert [r["id"] for r in unknown_interval.context["runs"]] == [newer.pk, older.pk]
    # a run of another symbol, an unknown run or a malformed id is not found
    assert client.get("/markets/leadlag/BTC-USDT/", {"run": other_symbol.pk}).status_code == 404
    assert client.get("/markets/leadlag/BTC-USDT/", {"run": 999_999}).status_code == 404
    assert client.get("/markets/leadlag/BTC-USDT/", {"run": "1; DROP"}).status_code == 404


@pytest.mark.django_db
def test_unknown_symbols_are_404(client: Client) -> None:
    markets_create()
    run_store(page_report(), symbol="DOGE/USDT")  # a stored run alone does not make a market

    assert client.get("/markets/leadlag/DOGE-USDT/").status_code == 404
    assert client.get("/markets/leadlag/BTCUSDT/").status_code == 404
    assert client.get("/markets/leadlag/BTC-USDT/").status_code == 200


@pytest.mark.django_db
def test_empty_state_without_finished_runs(client: Client) -> None:
    # Given the market and only a queued run
    markets_create()
    run_store({}, status=LeadLagRun.Status.QUEUED)

    response = client.get("/markets/leadlag/btc-usdt/")

    content = response.content.decode()
    assert response.status_code == 200
    assert (response.context["runs"], response.context["run"], response.context["pairs"]) == ([], None, [])
    assert response.context["intervals"] == []
    assert '<p class="card" id="leadlag-empty">No finished lead-lag run for BTC/USDT yet.</p>' in content
    assert "<canvas" not in content
    assert 'id="leadlag-data"' not in content
    assert 'id="leadlag-run"' not in content


@pytest.mark.django_db
def test_signed_in_users_get_the_run_form_with_the_csrf_token(client: Client) -> None:
    markets_create()
    run_store(page_report())
    client.force_login(UserFactory())

    response = client.get("/markets/leadlag/BTC-USDT/")

    content = response.content.decode()
    form = content.split('id="leadlag-run-form"')[1].split("</form>")[0]
    assert 'data-api="/api/v1/leadlag/"' in form
    assert re.search(r'<input type="hidden" name="csrfmiddlewaretoken" value="\w+">', form)
    assert '<input type="hidden" name="symbol" value="BTC/USDT">' in form
    assert 'name="exchanges" value="binance,bybit"' in form
    assert '<option value="1s" selected>1s</option>' in form
    assert 'name="start" value="2023-11-14T00:00:00Z"' in form
    assert 'name="end" value="2023-11-17T00:00:00Z"' in form
    assert "to start a run." not in content


@pytest.mark.django_db
def test_a_report_computed_by_the_analysis_renders(client: Client) -> None:
    # Given a run whose report the analysis computed: Binance leads Coinbase by 3 minutes over two days of 1m
    a, b = market_ticks(7, duration_s=2 * 86_400, lag_ms=180_000, rates_per_s=(0.5, 0.5), fine_ms=1000)
    params = LeadLagParams(step_ms=60_000, max_lag=5)
    report = leadlag_report(
        leadlag_analyse([a.candles("binance", 60_000), b.candles("coinbase", 60_000)], params), params
    )
    report["markets"] = [{"exchange": "binance", "symbol": "BTC/USDT"}, {"exchange": "coinbase", "symbol": "BTC/USD"}]
    markets_create()
    run = run_store(report, interval="1m")

    response = client.get("/markets/leadlag/BTC-USDT/")

    content = response.content.decode()
    assert response.context["run"]["id"] == run.pk
    assert [p["sentence"] for p in response.context["pairs"]] == [
        "Binance leads Coinbase by about 3 min; stable in 2 of 2 days"
    ]
    ratio = report["pairs"][0]["hy_ratio"]
    assert ratio > 10
    assert f'<td data-field="hy_ratio">{ratio:.2f} (peak at 180.000 s)</td>' in content
    chart = chart_json(content)
    assert chart["pairs"][0]["xcorr"]["lag_seconds"] == [60.0 * lag for lag in range(-5, 6)]
    assert chart["pairs"][0]["peak_lag_seconds"] == 180.0
    assert len(chart["pairs"][0]["rolling"]) == 2


@pytest.mark.django_db
def test_the_markets_list_and_candle_charts_link_to_the_page(client: Client) -> None:
    markets_create()

    listing = client.get("/markets/").content.decode()
    chart = client.get("/markets/coinbase/BTC-USD/").content.decode()

    assert listing.count('<a href="/markets/leadlag/BTC-USDT/">lead-lag</a>') == 2  # Binance and Bybit rows
    assert listing.count('<a href="/markets/leadlag/BTC-USD/">lead-lag</a>') == 1
    assert '<a href="/markets/leadlag/BTC-USD/">Lead-lag of BTC/USD across venues</a>' in chart
    assert client.get("/markets/leadlag/BTC-USD/").status_code == 200
