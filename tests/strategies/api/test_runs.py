"""The strategies API: the strategy catalogue, backtests created (and queued) or refused, runs only their owner (or
an operator) sees, and their trades, NAV points and refusals page by page."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import User
from hftplatform.core.decimal_text import decimal_text_trim_zeros
from marketdata.models import Instrument
from strategies import services
from strategies.models import StrategyLedgerEntry, StrategyRun
from tests.factories import OperatorFactory, UserFactory
from tests.strategies.backtests import leadlag_inputs
from tests.strategies.conftest import T0, quote_quantities

pytestmark = pytest.mark.django_db

RUNS = "/api/v1/strategy-runs/"
BODY: dict[str, Any] = {
    "strategy": "leadlag",
    "exchanges": ["binance", "bybit"],
    "symbol": "BTC/USDT",
    "interval": "1m",
    "start": "2024-01-01",
    "end": "2024-01-02",
    "parameters": {"leader": "binance", "follower": "bybit", "hold_bars": "2"},
    "cash": "10000",
    "fee_model": "zero",
}


def bearer(user: User, *scopes: str) -> APIClient:
    _, plaintext = account_services.api_token_create(user=user, name="bot", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    return dict(body["error"])


def finished_run(user: User | None) -> StrategyRun:
    run = services.strategy_run_create(**leadlag_inputs(created_by=user))
    return services.strategy_run_execute(run_id=run.pk)


def test_the_strategy_catalogue_is_public(api_client: APIClient) -> None:
    response = api_client.get("/api/v1/strategies/")
    assert response.status_code == 200
    by_name = {s["name"]: s for s in response.json()}
    assert list(by_name) == ["hold", "leadlag"]
    assert by_name["hold"]["parameters"] == []
    assert by_name["leadlag"]["family"] == "cex"
    assert by_name["leadlag"]["parameters"][:3] == [
        {
            "name": "leader",
            "type": "str",
            "default": "",
            "required": False,
            "help": "Leader venue; empty: the latest stored lead-lag run's",
        },
        {"name": "follower", "type": "str", "default": "", "required": False, "help": "Follower venue, the one traded"},
        {"name": "lookback", "type": "int", "default": 1, "required": False, "help": "Bars of the leader's return"},
    ]
    assert by_name["leadlag"]["parameters"][3]["default"] == "0.001"


def test_a_backtest_is_created_and_queued_after_commit(
    binance: Instrument, bybit: Instrument, user: User, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    queued: list[int] = []
    monkeypatch.setattr("strategies.api.runs.strategy_run_execute_task.delay", lambda run_id: queued.append(run_id))
    client = APIClient()
    client.force_authenticate(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(RUNS, BODY, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    run = StrategyRun.objects.get()
    assert queued == [run.pk]
    assert run.created_by == user
    assert body["id"] == run.pk
    assert (body["status"], body["strategy"], body["mode"]) == ("queued", "leadlag", "backtest")
    assert body["markets"] == [
        {"exchange": "binance", "symbol": "BTC/USDT"},
        {"exchange": "bybit", "symbol": "BTC/USDT"},
    ]
    assert (body["start"], body["end"], body["start_ms"]) == ("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", T0)
    assert body["parameters"]["hold_bars"] == 2
    assert (body["cash"], body["numeraire"], body["final_nav"], body["metrics"]) == ("10000", "USDT", None, None)
    assert body["progress"] == {"done": 0, "total": 0}


def test_a_trade_token_may_create_a_read_token_may_not(binance: Instrument, bybit: Instrument, user: User) -> None:
    refused = bearer(user, "read").post(RUNS, BODY, format="json")
    assert error(refused, 403)["code"] == "token_scope_missing"
    assert StrategyRun.objects.count() == 0
    accepted = bearer(user, "trade").post(RUNS, BODY, format="json")
    assert accepted.status_code == 202, accepted.content
    assert StrategyRun.objects.count() == 1


def test_anonymous_requests_are_refused(api_client: APIClient, binance: Instrument, bybit: Instrument) -> None:
    assert error(api_client.post(RUNS, BODY, format="json"), 401)["code"] == "not_authenticated"
    assert error(api_client.get(RUNS), 401)["code"] == "not_authenticated"
    assert StrategyRun.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"strategy": "martingale"}, "strategy_unknown", "strategy"),
        (
            {"parameters": {"leader": "binance", "follower": "bybit", "nope": "1"}},
            "strategy_parameter_invalid",
            "parameters",
        ),
        ({"exchanges": ["binance", "kraken"]}, "strategy_market_unknown", "exchanges"),
        ({"symbol": "ETH/USDT"}, "strategy_market_unknown", "symbol"),
        ({"start": "2023-01-01", "end": "2023-01-02"}, "strategy_no_candles", "start"),
        ({"cash": "-5"}, "strategy_cash_invalid", "cash"),
        ({"end": "2023-12-31"}, "strategy_window_invalid", "end"),
        ({"fee_model": "cheap"}, "invalid", "fee_model"),
        ({"start": "soon"}, "invalid", "start"),
    ],
)
def test_bad_input_is_a_400_and_stores_nothing(
    binance: Instrument, bybit: Instrument, user_api_client: APIClient, change: dict[str, Any], code: str, field: str
) -> None:
    body = error(user_api_client.post(RUNS, {**BODY, **change}, format="json"), 400)
    assert body["code"] == code
    assert field in body["fields"]
    assert StrategyRun.objects.count() == 0


def test_a_user_has_at_most_two_backtests_waiting(binance: Instrument, bybit: Instrument, user: User) -> None:
    client = APIClient()
    client.force_authenticate(user)
    assert client.post(RUNS, BODY, format="json").status_code == 202
    assert client.post(RUNS, BODY, format="json").status_code == 202
    body = error(client.post(RUNS, BODY, format="json"), 429)
    assert body["code"] == "strategy_too_many_runs"
    assert StrategyRun.objects.count() == 2


def test_runs_are_seen_by_their_owner_and_operators_only(binance: Instrument, bybit: Instrument) -> None:
    owner, stranger, operator = UserFactory(), UserFactory(), OperatorFactory()
    run = finished_run(owner)
    clients = {}
    for name, who in (("owner", owner), ("stranger", stranger), ("operator", operator)):
        clients[name] = APIClient()
        clients[name].force_authenticate(who)
    assert [r["id"] for r in clients["owner"].get(RUNS).json()["results"]] == [run.pk]
    assert clients["stranger"].get(RUNS).json()["results"] == []
    assert [r["id"] for r in clients["operator"].get(RUNS).json()["results"]] == [run.pk]
    for path in ("", "trades/", "nav/", "refusals/"):
        assert error(clients["stranger"].get(f"{RUNS}{run.pk}/{path}"), 404)["code"] == "not_found"
        assert clients["operator"].get(f"{RUNS}{run.pk}/{path}").status_code == 200
    assert error(clients["owner"].get(f"{RUNS}999999/"), 404)["code"] == "not_found"


def test_run_detail_carries_metrics_and_result(binance: Instrument, bybit: Instrument, user: User) -> None:
    run = finished_run(user)
    client = bearer(user, "read")
    body = client.get(f"{RUNS}{run.pk}/").json()
    assert (body["status"], body["final_nav"]) == ("done", "10089.55223881")
    assert body["progress"] == {"done": 16, "total": 16}
    assert body["metrics"]["round_trips"] == 1
    assert body["metrics"]["total_return"] == pytest.approx(0.008955223881, rel=1e-12)
    assert body["result"]["benchmark"]["final_nav"] == "10120.00000000"
    assert body["result"]["returns"] == {"basis": "step", "periods": 525600.0, "observations": 8}
    assert set(body["timings"]) == {"read", "run", "metrics", "benchmark", "store"}


def test_trades_nav_and_refusals_page_through(binance: Instrument, bybit: Instrument, user: User) -> None:
    run = finished_run(user)
    client = bearer(user, "read")
    trades = client.get(f"{RUNS}{run.pk}/trades/").json()
    exit_amount = decimal_text_trim_zeros(StrategyLedgerEntry.objects.get(run=run, seq=2).amount)
    assert exit_amount.startswith("10089.5522388059701492537313")
    entry = StrategyLedgerEntry.objects.get(run=run, seq=1)
    quantity, entry_amount = decimal_text_trim_zeros(entry.quantity), decimal_text_trim_zeros(entry.amount)
    assert abs(entry.amount + 10000) < Decimal("1e-29")  # all the cash, to the 34th digit
    assert Decimal(quantity) in quote_quantities(Decimal(10000), Decimal("100.5"))
    assert trades["next"] is None
    assert trades["results"] == [
        {
            "seq": 1, "time": "2024-01-01T00:02:00Z", "time_ms": T0 + 120_000, "venue": "bybit", "symbol": "BTC/USDT",
            "side": "buy", "quantity": quantity, "price": "100.5", "fee": "0", "fee_asset": "USDT",
            "amount": entry_amount, "reference_price": "100.5", "slippage": "0", "tag": "entry long",
        },
        {
            "seq": 2, "time": "2024-01-01T00:04:00Z", "time_ms": T0 + 240_000, "venue": "bybit", "symbol": "BTC/USDT",
            "side": "sell", "quantity": quantity, "price": "101.4", "fee": "0",
            "fee_asset": "USDT", "amount": exit_amount,
            "reference_price": "101.4", "slippage": "0", "tag": "exit",
        },
    ]  # fmt: skip
    # NAV three points a page: the pages join up, in time order, without a repeat
    url: str | None = f"{RUNS}{run.pk}/nav/?page_size=3"
    points: list[dict[str, Any]] = []
    pages = 0
    while url:
        page = client.get(url).json()
        points += page["results"]
        url = page["next"]
        pages += 1
    assert pages == 3
    assert [p["time_ms"] for p in points] == [T0 + k * 60_000 for k in range(1, 9)]
    assert points[2] == {
        "time": "2024-01-01T00:03:00Z",
        "time_ms": T0 + 180_000,
        "nav": "10059.70149254",
        "exposed": True,
    }
    assert client.get(f"{RUNS}{run.pk}/refusals/").json()["results"] == []
