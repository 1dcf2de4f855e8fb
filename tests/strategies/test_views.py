"""Strategy pages: the runs list (own runs only), a run's page (metrics against hold, the charts' data, live
progress while it runs), two runs compared, and the admin's read-only view of runs, ledgers and refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from marketdata.models import Instrument
from strategies import services
from strategies.models import StrategyLedgerEntry, StrategyRun
from tests.factories import OperatorFactory, UserFactory
from tests.strategies.conftest import T0

pytestmark = pytest.mark.django_db


def run_for(user: Any, *, execute: bool = True, **overrides: Any) -> StrategyRun:
    inputs: dict[str, Any] = {
        "strategy": "leadlag",
        "exchanges": ["binance", "bybit"],
        "symbol": "BTC/USDT",
        "interval": "1m",
        "start": datetime(2024, 1, 1, tzinfo=UTC),
        "end": datetime(2024, 1, 2, tzinfo=UTC),
        "parameters": {"leader": "binance", "follower": "bybit", "hold_bars": "2"},
        "fee_model": "zero",
        "created_by": user,
    }
    inputs.update(overrides)
    run = services.strategy_run_create(**inputs)
    return services.strategy_run_execute(run_id=run.pk) if execute else run


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def chart_data(response: Any, element: str) -> Any:
    html = response.content.decode()
    opening = f'<script id="{element}" type="application/json">'
    start = html.index(opening) + len(opening)
    return json.loads(html[start : html.index("</script>", start)])


def test_runs_list_shows_only_the_users_runs(binance: Instrument, bybit: Instrument) -> None:
    owner, stranger = UserFactory(), UserFactory()
    run = run_for(owner)
    mine = signed_in(owner).get("/strategies/")
    theirs = signed_in(stranger).get("/strategies/")
    assert mine.status_code == 200
    assert [r["id"] for r in mine.context["runs"]] == [run.pk]
    assert mine.context["runs"][0]["final_nav"] == "10089.55223881"
    assert mine.context["runs"][0]["hold_nav"] == "10120.00000000"
    assert f'href="/strategies/runs/{run.pk}/"'.encode() in mine.content
    assert theirs.context["runs"] == []
    assert b'href="/strategies/"' in theirs.content  # the site navigation links here


def test_pages_need_a_sign_in(client: Client) -> None:
    for path in ("/strategies/", "/strategies/runs/1/", "/strategies/compare/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_run_page_metrics_parameters_and_chart_data(binance: Instrument, bybit: Instrument) -> None:
    owner = UserFactory()
    run = run_for(owner)
    response = signed_in(owner).get(f"/strategies/runs/{run.pk}/")
    assert response.status_code == 200
    rows = {row["key"]: row["values"] for row in response.context["metrics"]}
    assert rows["total_return"] == ["0.90 %", "1.20 %"]  # the strategy, then hold
    assert rows["round_trips"] == ["1", "0"]
    assert ("hold_bars", 2) in response.context["parameters"]
    chart = chart_data(response, "strategy-chart-data")
    assert [p[0] for p in chart["nav"]] == [T0 + k * 60_000 for k in range(1, 9)]
    assert chart["nav"][2][1] == pytest.approx(10059.70149254)
    assert chart["nav"][2][2] == 0.0  # a new peak: no drawdown
    assert chart["price"]["market"] == "bybit:BTC/USDT"
    assert [p[1] for p in chart["price"]["points"]] == [100.1, 100.2, 101.1, 101.4, 101.6, 101.5, 101.3, 101.2]
    assert chart["trades"] == [
        [T0 + 120_000, "bybit:BTC/USDT", "buy", 100.5],
        [T0 + 240_000, "bybit:BTC/USDT", "sell", 101.4],
    ]
    assert b'id="strategy-equity"' in response.content and b'id="strategy-price"' in response.content


def test_a_losing_stretch_shows_in_the_drawdown(binance: Instrument, bybit: Instrument) -> None:
    owner = UserFactory()
    run = run_for(owner, strategy="hold", exchanges=["bybit"], parameters={})
    chart = chart_data(signed_in(owner).get(f"/strategies/runs/{run.pk}/"), "strategy-chart-data")
    # hold bought 100 at 100.0; the close peaks at 101.6 (NAV 10160), then 101.5: drawdown 10150 / 10160 - 1
    assert chart["nav"][5][1] == pytest.approx(10150.0)
    assert chart["nav"][5][2] == pytest.approx(10150 / 10160 - 1)


def test_a_queued_run_page_listens_for_progress(binance: Instrument, bybit: Instrument) -> None:
    owner = UserFactory()
    run = run_for(owner, execute=False)
    response = signed_in(owner).get(f"/strategies/runs/{run.pk}/")
    assert response.context["running"] is True
    assert f'data-socket="/ws/strategies/runs/{run.pk}/"'.encode() in response.content
    assert b'id="strategy-progress-bar"' in response.content
    assert b"strategy-chart-data" not in response.content


def test_strangers_get_a_404_operators_see_every_run(binance: Instrument, bybit: Instrument) -> None:
    run = run_for(UserFactory())
    assert signed_in(UserFactory()).get(f"/strategies/runs/{run.pk}/").status_code == 404
    assert signed_in(OperatorFactory()).get(f"/strategies/runs/{run.pk}/").status_code == 200


def test_two_runs_side_by_side(binance: Instrument, bybit: Instrument) -> None:
    owner = UserFactory()
    leadlag, hold = run_for(owner), run_for(owner, strategy="hold", exchanges=["bybit"], parameters={})
    client = signed_in(owner)
    response = client.get("/strategies/compare/", {"a": leadlag.pk, "b": hold.pk})
    assert response.status_code == 200
    assert [r["id"] for r in response.context["runs"]] == [leadlag.pk, hold.pk]
    rows = {row["key"]: row["values"] for row in response.context["metrics"]}
    assert rows["total_return"] == ["0.90 %", "1.20 %"]
    charts = chart_data(response, "strategy-compare-data")
    assert [c["run"] for c in charts] == [leadlag.pk, hold.pk]
    choose = client.get("/strategies/compare/")
    assert [c["id"] for c in choose.context["choices"]] == [hold.pk, leadlag.pk]
    assert signed_in(UserFactory()).get("/strategies/compare/", {"a": leadlag.pk, "b": hold.pk}).status_code == 404


def test_admin_shows_runs_read_only_with_their_ledger(binance: Instrument, bybit: Instrument) -> None:
    run = run_for(UserFactory())
    other = run_for(UserFactory(), strategy="hold", exchanges=["bybit"], parameters={})
    admin = signed_in(OperatorFactory())
    page = admin.get(f"/admin/strategies/strategyrun/{run.pk}/change/")
    assert page.status_code == 200
    assert b"10089.55223881" in page.content
    assert f"?run__id__exact={run.pk}".encode() in page.content
    assert admin.get("/admin/strategies/strategyrun/add/").status_code == 403
    ledger = admin.get("/admin/strategies/strategyledgerentry/", {"run__id__exact": run.pk})
    assert ledger.status_code == 200
    assert ledger.context["cl"].result_count == 3 == StrategyLedgerEntry.objects.filter(run=run).count()
    assert StrategyLedgerEntry.objects.filter(run=other).count() == 2
    runs = admin.get("/admin/strategies/strategyrun/", {"status": "done"})
    assert runs.context["cl"].result_count == 2
    assert admin.get("/admin/strategies/strategyrefusal/").status_code == 200
    assert admin.get("/admin/strategies/strategyconfig/add/").status_code == 200
