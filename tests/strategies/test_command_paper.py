"""``manage.py strategies paper start|status|step|stop``: a run started from the command line (bad input: a clear
error and nothing stored), stepped, shown as text and JSON, stopped."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from strategies.models import StrategyRun
from tests.strategies.paper_bars import T0, walk
from tests.strategies.paper_runs import candles_write, tracked_markets

pytestmark = pytest.mark.django_db

START = ["strategies", "paper", "start", "--strategy", "leadlag", "--exchanges", "binance,bybit"]
START += ["--symbol", "BTC/USDT", "--interval", "1m", "--param", "leader=binance", "--param", "follower=bybit"]
START += ["--param", "lookback=2", "--param", "threshold=0.002", "--param", "hold_bars=3"]


def run_command(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_start_then_step_status_and_stop() -> None:
    instruments = tracked_markets()
    started = json.loads(run_command(*START, "--cash", "2500", "--json"))
    run = StrategyRun.objects.get()
    assert started["id"] == run.pk and started["status"] == "running" and started["cash"] == "2500"
    assert started["markets"] == ["binance:BTC/USDT", "bybit:BTC/USDT"]

    StrategyRun.objects.filter(pk=run.pk).update(start_ms=T0)  # as if started just before T0
    candles_write(instruments, walk(5, 90), 0, 90)
    stepped = run_command("strategies", "paper", "step", str(run.pk))
    assert stepped.startswith(f"paper run {run.pk}: 90 step(s) to 2026-01-01T01:30:00Z, ")
    assert run_command("strategies", "paper", "step", str(run.pk)) == (
        f"paper run {run.pk}: nothing new since 2026-01-01T01:30:00Z\n"
    )

    status = json.loads(run_command("strategies", "paper", "status", str(run.pk), "--json"))
    run.refresh_from_db()
    assert status["steps"] == 90 and status["last_event"] == "2026-01-01T01:30:00Z"
    assert status["trades"] == run.ledger.filter(kind="trade").count() > 0
    assert status["final_nav"] == str(run.final_nav)
    text = run_command("strategies", "paper", "status")
    assert text.startswith(f"paper run {run.pk}  leadlag  running\n  markets   binance:BTC/USDT, bybit:BTC/USDT (1m)")

    assert run_command("strategies", "paper", "stop", str(run.pk)) == f"paper run {run.pk}: stopped\n"
    assert run_command("strategies", "paper", "status") == "no paper run is running\n"
    assert run_command("strategies", "paper", "status", "--json") == "[]\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--cash", "-5"], "cash must be positive"),
        (["--param", "stop=0"], "stop must be positive"),
        (["--param", "lookback=2"], "--param lookback given twice"),
        (["--param", "nonsense"], "expected name=value"),
        (["--fee-model", "free"], "cost model"),
    ],
)
def test_bad_input_is_a_clear_error_and_stores_nothing(extra: list[str], message: str) -> None:
    tracked_markets()
    with pytest.raises(CommandError, match=message):
        run_command(*START, *extra)
    assert StrategyRun.objects.count() == 0


def test_an_unknown_run_is_a_clear_error() -> None:
    for action in ("status", "step", "stop"):
        with pytest.raises(CommandError, match="no paper run 999"):
            run_command("strategies", "paper", action, "999")
