"""``manage.py strategies backtest``: the JSON's keys and exact values on a tiny hand-made data set, hold's closed
form, byte-identical JSON twice, and bad input refused with nothing stored."""

from __future__ import annotations

import io
import json
from decimal import Decimal, localcontext
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from hftplatform.core.decimal_text import decimal_text_trim_zeros
from marketdata.models import Instrument
from strategies.core.portfolio import ACCOUNTING
from strategies.models import StrategyLedgerEntry, StrategyRun
from tests.marketdata.factories import InstrumentFactory
from tests.strategies.backtests import rows
from tests.strategies.conftest import quote_quantities

pytestmark = pytest.mark.django_db

LEADLAG = [
    "--strategy", "leadlag", "--exchanges", "binance,bybit", "--symbol", "BTC/USDT", "--interval", "1m",
    "--start", "2024-01-01", "--end", "2024-01-02",
    "--param", "leader=binance", "--param", "follower=bybit", "--param", "hold_bars=2", "--fee-model", "zero",
]  # fmt: skip


def backtest(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("strategies", "backtest", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_json_of_a_tiny_leadlag_run(binance: Instrument, bybit: Instrument) -> None:
    out, err = backtest(*LEADLAG, "--json")
    report = json.loads(out)
    assert list(report) == [
        "strategy", "parameters", "markets", "interval", "start", "end", "cash", "numeraire", "cost_model",
        "risk_limits", "metrics", "returns", "final_nav", "benchmark", "attribution", "trade_count", "round_trips",
        "refusals", "traded_notional", "fees", "bars", "steps", "halted", "unfilled", "trades", "nav",
    ]  # fmt: skip
    assert list(report["metrics"]) == [
        "sharpe", "sortino", "annual_volatility", "max_drawdown", "cagr", "calmar", "total_return", "omega",
        "tail_ratio", "var_5", "stability", "turnover", "exposure", "hit_rate", "profit_factor", "round_trips",
    ]  # fmt: skip
    quantity = report["trades"][0]["quantity"]
    assert Decimal(quantity) in quote_quantities(Decimal(10000), Decimal("100.5"))
    assert quantity == decimal_text_trim_zeros(StrategyLedgerEntry.objects.get(seq=1).quantity)
    assert report["trades"] == [
        {
            "time": "2024-01-01T00:02:00Z", "venue": "bybit", "symbol": "BTC/USDT", "side": "buy",
            "quantity": quantity, "price": "100.5", "fee": "0", "fee_asset": "USDT", "slippage": "0",
            "tag": "entry long",
        },
        {
            "time": "2024-01-01T00:04:00Z", "venue": "bybit", "symbol": "BTC/USDT", "side": "sell",
            "quantity": quantity, "price": "101.4", "fee": "0", "fee_asset": "USDT", "slippage": "0", "tag": "exit",
        },
    ]  # fmt: skip
    assert report["final_nav"] == "10089.55223881"
    assert report["nav"] == [
        ["2024-01-01T00:01:00Z", "10000.00000000"],
        ["2024-01-01T00:02:00Z", "10000.00000000"],
        ["2024-01-01T00:03:00Z", "10059.70149254"],
        ["2024-01-01T00:04:00Z", "10089.55223881"],
        ["2024-01-01T00:05:00Z", "10089.55223881"],
        ["2024-01-01T00:06:00Z", "10089.55223881"],
        ["2024-01-01T00:07:00Z", "10089.55223881"],
        ["2024-01-01T00:08:00Z", "10089.55223881"],
    ]
    assert report["parameters"] == {
        "leader": "binance", "follower": "bybit", "lookback": 1, "threshold": "0.001", "hold_bars": 2,
        "stop": "0.01", "size": "1",
    }  # fmt: skip
    assert report["returns"] == {"basis": "step", "periods": 525600.0, "observations": 8}
    assert report["metrics"]["total_return"] == pytest.approx(0.008955223881, rel=1e-12)
    assert report["metrics"]["max_drawdown"] == 0.0
    assert report["metrics"]["exposure"] == 0.25
    assert (report["metrics"]["round_trips"], report["metrics"]["hit_rate"]) == (1, 1.0)
    assert report["metrics"]["profit_factor"] is None  # no losing round trip
    with localcontext(ACCOUNTING):
        pnl = Decimal(quantity) * (Decimal("101.4") - Decimal("100.5"))
    assert Decimal(report["attribution"]["total"]) == Decimal(report["attribution"]["price"])
    assert abs(Decimal(report["attribution"]["total"]) - pnl) < Decimal("1e-25")
    assert report["attribution"]["fees"] == report["attribution"]["slippage"] == "0"
    assert report["benchmark"]["strategy"] == "hold"
    assert report["benchmark"]["market"] == "bybit:BTC/USDT"
    assert report["benchmark"]["final_nav"] == "10120.00000000"
    assert report["benchmark"]["metrics"]["total_return"] == pytest.approx(0.012, rel=1e-12)
    assert (report["trade_count"], report["refusals"]) == (2, {"count": 0, "by_reason": {}})
    assert report["fees"] == {"bybit:BTC/USDT": {"maker": "0", "taker": "0", "source": "zero"}}
    assert (report["bars"], report["steps"], report["halted"], report["unfilled"]) == (16, 8, "", 0)
    # progress and the run id go to stderr, never into the JSON
    assert "100 % 16/16 steps" in err
    assert f"run {StrategyRun.objects.get().pk}:" in err


def test_two_identical_runs_print_identical_json(binance: Instrument, bybit: Instrument) -> None:
    first, _ = backtest(*LEADLAG, "--json")
    second, _ = backtest(*LEADLAG, "--json")
    assert StrategyRun.objects.count() == 2
    assert first == second


def test_hold_matches_its_closed_form_to_the_nav_quantum(binance: Instrument) -> None:
    out, _ = backtest(
        "--strategy", "hold", "--exchanges", "binance", "--symbol", "BTC/USDT", "--interval", "1m",
        "--start", "2024-01-01", "--end", "2024-01-02", "--cash", "2500", "--slippage-bps", "3", "--json",
    )  # fmt: skip
    report = json.loads(out)
    with localcontext(ACCOUNTING):
        quantity = Decimal(2500) / (Decimal("100.00") * (1 + Decimal("0.0003")) * (1 + Decimal("0.001")))
        closed_form = (quantity * Decimal("101.00")).quantize(Decimal("1e-8"))
    assert report["final_nav"] == str(closed_form) == "2521.72100618"
    [trade] = report["trades"]
    assert trade["time"] == "2024-01-01T00:00:00Z"
    assert Decimal(trade["price"]) == Decimal("100.03")
    assert Decimal(trade["quantity"]) == quantity
    assert report["fees"]["binance:BTC/USDT"]["taker"] == "0.001"


def test_readable_report(binance: Instrument, bybit: Instrument) -> None:
    out, _ = backtest(*LEADLAG)
    assert "leadlag on binance BTC/USDT, bybit BTC/USDT, 1m, 2024-01-01T00:00:00Z → 2024-01-02T00:00:00Z" in out
    assert "final NAV 10089.55223881 USDT (from 10000: +0.90 %); hold 10120.00000000 (+1.20 %)" in out
    assert "trades: 2 (1 round trips), traded notional 20089.55223881" in out  # rounded to 1e-8 to read
    assert "attribution: total 89.55223881, price 89.55223881, fees 0.00000000, slippage 0.00000000," in out
    assert "refusals: 0 (none)" in out
    assert "total_return" in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--strategy": "martingale"}, "unknown strategy 'martingale'"),
        ({"--param": "lookbak=3"}, "unknown parameter(s) lookbak"),
        ({"--exchanges": "binance,kraken"}, "unknown exchange 'kraken'"),
        ({"--symbol": "ETH/USDT"}, "no instrument ETH/USDT on binance"),
        ({"--start": "2023-01-01", "--end": "2023-02-01"}, "no closed 1m candles in the window"),
        ({"--cash": "-10"}, "cash must be positive, got -10"),
        ({"--cash": "0"}, "cash must be positive, got 0"),
        ({"--end": "2024-01-01"}, "the end must be after the start"),
        ({"--start": "yesterday"}, "--start: not a date or ISO datetime"),
        ({"--fee-model": "cheap"}, "fee model must be one of venue, zero"),
        ({"--param": "nonsense"}, "expected name=value"),
    ],
)
def test_bad_input_is_a_command_error_and_stores_nothing(
    binance: Instrument, bybit: Instrument, change: dict[str, str], message: str
) -> None:
    args: list[Any] = list(LEADLAG)
    for option, value in change.items():
        if option in args and option != "--param":
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    before = rows()
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        backtest(*args)
    assert rows() == before == (0, 0, 0, 0)


@pytest.mark.parametrize("minutes", [3, 4, 5, 6])
def test_a_run_ending_earlier_makes_the_same_trades_up_to_its_end(
    binance: Instrument, bybit: Instrument, minutes: int
) -> None:
    full = json.loads(backtest(*LEADLAG, "--json")[0])
    args = list(LEADLAG)
    end = f"2024-01-01T00:{minutes:02d}:00Z"
    args[args.index("--end") + 1] = end
    cut = json.loads(backtest(*args, "--json")[0])
    assert cut["trades"] == [t for t in full["trades"] if t["time"] < end]
    assert cut["nav"] == [point for point in full["nav"] if point[0] <= end]
    assert len(cut["nav"]) == minutes


def test_hold_on_candles_imported_with_klines_import(tmp_path: Any) -> None:
    # given an instrument and a CSV of its candles in the export format, imported by market data's own command
    InstrumentFactory(exchange="coinbase", symbol="ETH/USD", venue_symbol="ETH-USD", base="ETH", quote="USD")
    lines = ["open_time,open,high,low,close,volume"]
    start = 1_709_251_200_000  # 2024-03-01 00:00 UTC
    closes = ["3405.01", "3399.99", "3421.7", "3418.25", "3430.125"]
    opens = ["3400.15", "3405.01", "3399.99", "3421.7", "3418.25"]
    for i, (o, c) in enumerate(zip(opens, closes, strict=True)):
        high, low = max(o, c, key=Decimal), min(o, c, key=Decimal)
        lines.append(f"{start + i * 300_000},{o},{high},{low},{c},12.5")
    path = tmp_path / "eth.csv"
    path.write_text("\n".join(lines) + "\n")
    call_command("klines", "import", str(path), "--exchange", "coinbase", "--symbol", "ETH/USD", "--interval", "5m",
                 stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip
    out, _ = backtest(
        "--strategy", "hold", "--exchanges", "coinbase", "--symbol", "ETH/USD", "--interval", "5m",
        "--start", "2024-03-01", "--end", "2024-03-02", "--cash", "1000", "--json",
    )  # fmt: skip
    report = json.loads(out)
    with localcontext(ACCOUNTING):
        # Coinbase Exchange's lowest-tier taker fee, 0.6 %; closes carry three decimals, so every price is scaled
        quantity = Decimal(1000) / (Decimal("3400.15") * (1 + Decimal("0.006")))
        closed_form = (quantity * Decimal("3430.125")).quantize(Decimal("1e-8"))
    assert report["final_nav"] == str(closed_form)
    assert [point[0] for point in report["nav"]] == [
        "2024-03-01T00:05:00Z", "2024-03-01T00:10:00Z", "2024-03-01T00:15:00Z", "2024-03-01T00:20:00Z",
        "2024-03-01T00:25:00Z",
    ]  # fmt: skip
    assert report["trades"][0]["price"] == "3400.15"
    assert report["fees"] == {
        "coinbase:ETH/USD": {"maker": "0.004", "taker": "0.006", "source": "Coinbase Exchange, lowest tier"}
    }
