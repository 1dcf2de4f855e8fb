"""``manage.py strategies sweep`` and ``walkforward``: a progress bar, a report or one JSON object that is the
stored study's results; bad input a clear error that stores nothing."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from strategies.core.data import BarSeries
from strategies.models import StrategySweep
from tests.strategies.sweep_candles import sweep_candles_store

pytestmark = pytest.mark.django_db

STUDY = [
    "--exchanges", "binance,bybit", "--symbol", "BTC/USDT", "--interval", "1m",
    "--start", "2024-01-01", "--end", "2024-01-03",
    "--param", "leader=binance", "--param", "follower=bybit",
    "--grid", "lookback=1,2", "--grid", "threshold=0.001,0.002", "--grid", "hold_bars=1,3",
    "--slippage-bps", "1", "--latency-ms", "60000",
]  # fmt: skip


@pytest.fixture
def stored() -> tuple[BarSeries, BarSeries]:
    return sweep_candles_store()


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("strategies", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_sweep_json_is_the_stored_results(stored: tuple[BarSeries, BarSeries]) -> None:
    out, err = run("sweep", *STUDY, "--chunk-size", "3", "--json")
    report = json.loads(out)
    study = StrategySweep.objects.get()
    assert report == {"sweep_id": study.pk, "kind": "sweep", "status": "done", "results": study.results}
    assert len(report["results"]["points"]) == 8
    assert [p["point"]["lookback"] for p in report["results"]["points"]] == [1, 1, 1, 1, 2, 2, 2, 2]
    assert "100 % 8/8" in err


def test_sweep_report_ranks_the_points(stored: tuple[BarSeries, BarSeries]) -> None:
    out, _ = run("sweep", *STUDY, "--top", "3")
    lines = out.splitlines()
    assert lines[0].startswith("sweep ") and "leadlag on BTC/USDT 1m (binance, bybit)" in lines[0]
    assert lines[1] == "  1 bar(s) left out: not on every venue"
    assert lines[2].startswith("  benchmark (hold bybit:BTC/USDT): return ")
    assert lines[3] == "  8 points over 2,879 bars; best 3 by Sharpe:"
    assert len(lines) == 4 + 1 + 3


def test_walkforward_json_and_report(stored: tuple[BarSeries, BarSeries]) -> None:
    out, err = run("walkforward", *STUDY, "--in-sample", "12h", "--out-sample", "12h", "--json")
    report = json.loads(out)
    study = StrategySweep.objects.get()
    assert (report["kind"], report["status"], report["results"]) == ("walkforward", "done", study.results)
    assert [s["out_start_ms"] for s in report["results"]["splits"]] == [
        1_704_067_200_000 + k * 43_200_000 for k in (1, 2, 3)
    ]
    assert "100 % 3/3" in err

    out, _ = run("walkforward", *STUDY, "--in-sample", "1d", "--out-sample", "12h", "--scheme", "anchored")
    assert "  2 anchored splits, chosen by sharpe" in out  # out of sample from 24 h and from 36 h
    assert "out of sample (stitched):" in out
    assert out.splitlines()[-1].startswith("  benchmark (hold bybit:BTC/USDT): return ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sweep", *STUDY[:14]], "--grid: give at least one swept parameter"),
        (["sweep", *STUDY, "--grid", "stop"], "--grid 'stop': expected name=value"),
        (["sweep", *STUDY, "--cash", "lots"], "--cash: 'lots' is not a number"),
        (["sweep", *STUDY, "--grid", "colour=red"], "cannot sweep 'colour'"),
        (["walkforward", *STUDY, "--in-sample", "ten days", "--out-sample", "1d"], "--in-sample: 'ten days'"),
        (["walkforward", *STUDY, "--in-sample", "3d", "--out-sample", "1d"], "no split fits"),
    ],
)
def test_bad_input_is_an_error_and_stores_nothing(
    stored: tuple[BarSeries, BarSeries], args: list[str], message: str
) -> None:
    with pytest.raises(CommandError) as refused:
        run(*args)
    assert message in str(refused.value)
    assert StrategySweep.objects.count() == 0
