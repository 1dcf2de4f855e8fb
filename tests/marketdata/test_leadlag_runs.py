"""Lead-lag runs end to end on PostgreSQL: the command (table, JSON, errors), the service, the task, the API."""

from __future__ import annotations

import io
import json
from unittest import mock

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from marketdata import selectors, services
from marketdata.core.candles import Candle
from marketdata.models import Instrument, LeadLagRun
from marketdata.tasks import leadlag_refresh_tracked, leadlag_run
from tests.marketdata.core.leadlag.synthetic import market_ticks
from tests.marketdata.factories import InstrumentFactory

DAY = 86_400_000
START = 1_699_920_000_000  # 2023-11-14 00:00 UTC (market_ticks' default start)
WINDOW = ["--start", "2023-11-14", "--end", "2023-11-16"]


def _store(instrument: Instrument, times: np.ndarray, closes: np.ndarray) -> None:
    candles = [Candle(int(t), *(f"{c:.2f}",) * 4, "1.5") for t, c in zip(times, closes, strict=True)]
    services.klines_store(instrument_id=instrument.pk, interval="1m", candles=candles, covered=None)


@pytest.fixture
def markets(db: None) -> dict[str, Instrument]:
    """Binance BTC/USDT leads Coinbase BTC/USD by 3 minutes over two days of 1m candles; Bybit has none."""
    a, b = market_ticks(7, duration_s=2 * 86_400, lag_ms=180_000, rates_per_s=(0.5, 0.5), fine_ms=1000)
    binance = InstrumentFactory(exchange="binance", symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC")
    coinbase = InstrumentFactory(exchange="coinbase", symbol="BTC/USD", venue_symbol="BTC-USD", base="BTC", quote="USD")
    bybit = InstrumentFactory(exchange="bybit", symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC")
    for instrument, ticks in ((binance, a), (coinbase, b)):
        series = ticks.candles(instrument.exchange, 60_000)
        _store(instrument, series.times_ms, series.closes)
    return {"binance": binance, "coinbase": coinbase, "bybit": bybit}


def _command(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("leadlag", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_json_names_the_leader_and_stores_the_run(markets: dict[str, Instrument]) -> None:
    out, err = _command(
        "--exchanges", "binance:BTC/USDT,coinbase:BTC/USD", "--interval", "1m", *WINDOW, "--max-lag", "5", "--json"
    )
    report = json.loads(out)
    (pair,) = report["pairs"]
    assert (pair["leader"], pair["follower"], pair["verdict"]) == ("binance", "coinbase", "leader")
    assert pair["lag_seconds"] == pytest.approx(180, abs=6)
    assert pair["xcorr_peak_lag_seconds"] == 180.0 and pair["hy_lag_seconds"] == 180.0
    assert pair["xcorr_peak"] > 0.5 and pair["hy_ratio"] > 10
    assert set(pair["granger_p"]) == {"binance->coinbase", "coinbase->binance"}
    assert set(pair["information_share"]) == {"binance", "coinbase"}
    assert set(pair["information_share"]["binance"]) == {"lower", "upper"}
    assert pair["information_share"]["binance"]["lower"] > 0.9
    assert pair["component_share"]["binance"] > 0.9
    assert pair["stability"] == {"windows": 2, "with_leader": 2, "agreeing": 2}
    assert report["markets"] == [
        {"exchange": "binance", "symbol": "BTC/USDT"},
        {"exchange": "coinbase", "symbol": "BTC/USD"},
    ]
    # the run is stored with its parameters, outputs and where the time went
    run = LeadLagRun.objects.get()
    assert (run.pk, run.status, run.symbol, run.interval) == (report["run_id"], "done", "BTC/USDT", "1m")
    assert (run.start_ms, run.end_ms) == (START, START + 2 * DAY)
    assert run.parameters["max_lag"] == 5 and run.parameters["step_ms"] == 60_000
    assert [m["exchange"] for m in run.parameters["markets"]] == ["binance", "coinbase"]
    assert run.outputs["pairs"][0]["leader"] == "binance"
    assert set(run.timings) == {
        "read",
        "align",
        "cross-correlation",
        "hayashi-yoshida",
        "granger",
        "vecm",
        "rolling",
        "store",
    }
    assert (run.progress_done, run.progress_total) == (3, 3)
    assert "read binance BTC/USDT (2,880 candles)" in err


def test_command_table(markets: dict[str, Instrument]) -> None:
    out, _ = _command("--exchanges", "binance,coinbase:BTC/USD", "--symbol", "BTC/USDT", "--interval", "1m", *WINDOW)
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["pair", "leader", "lag"]
    assert lines[1].startswith("binance/coinbase     binance")
    assert "binance leads coinbase by about 180 s; stable in 2 of 2 days" in lines[1]
    assert any(line.startswith("Granger: Granger tests on asynchronously sampled prices") for line in lines)


@pytest.mark.parametrize(
    ("exchanges", "window", "message"),
    [
        ("binance,bybit", WINDOW, "bybit BTC/USDT: no 1m candles in the window"),
        ("binance,coinbase:BTC/USD", ["--start", "2023-11-20", "--end", "2023-11-21"], "binance BTC/USDT: no 1m"),
        ("binance,kraken", WINDOW, "unknown exchange 'kraken'"),
        ("binance", WINDOW, "at least two exchanges"),
        ("binance,coinbase", WINDOW, "no market BTC/USDT on coinbase"),
    ],
)
def test_command_errors_write_nothing(
    markets: dict[str, Instrument], exchanges: str, window: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        _command("--exchanges", exchanges, "--symbol", "BTC/USDT", "--interval", "1m", *window)
    assert LeadLagRun.objects.count() == 0


def test_non_overlapping_venues_are_refused(markets: dict[str, Instrument]) -> None:
    # bybit has candles only on the third day, after the others end
    _store(markets["bybit"], START + 2 * DAY + 60_000 * np.arange(100), 30_000 + np.arange(100.0))
    with pytest.raises(CommandError, match="do not overlap"):
        _command(
            "--exchanges",
            "binance,bybit",
            "--symbol",
            "BTC/USDT",
            "--interval",
            "1m",
            "--start",
            "2023-11-14",
            "--end",
            "2023-11-17",
        )
    assert LeadLagRun.objects.count() == 0


def test_a_constant_price_is_refused(markets: dict[str, Instrument]) -> None:
    _store(markets["bybit"], START + 60_000 * np.arange(500), np.full(500, 30_000.0))
    with pytest.raises(CommandError, match="bybit BTC/USDT: the price is constant"):
        _command("--exchanges", "binance,bybit", "--symbol", "BTC/USDT", "--interval", "1m", *WINDOW)
    assert LeadLagRun.objects.count() == 0


def test_an_unknown_market_or_venue_is_refused_by_the_service(markets: dict[str, Instrument]) -> None:
    for exchange, message in (
        ("kraken", "no market BTC/USDT on kraken"),
        ("coinbase", "no market BTC/USDT on coinbase"),
    ):
        with pytest.raises(services.LeadLagError, match=message) as refused:
            services.leadlag_run_create(
                markets=[("binance", "BTC/USDT"), (exchange, "BTC/USDT")],
                interval="1m",
                start_ms=START,
                end_ms=START + DAY,
            )
        assert refused.value.fields == {"symbol": [f"No BTC/USDT on {exchange}."]}
    assert LeadLagRun.objects.count() == 0


def test_the_task_is_idempotent(markets: dict[str, Instrument]) -> None:
    run = services.leadlag_run_create(
        markets=[("binance", "BTC/USDT"), ("coinbase", "BTC/USD")], interval="1m", start_ms=START, end_ms=START + DAY
    )
    assert run.status == "queued" and run.outputs == {}
    leadlag_run(run.pk)
    run.refresh_from_db()
    finished, outputs = run.finished_at, run.outputs
    assert run.status == "done" and outputs["pairs"][0]["leader"] == "binance"
    leadlag_run(run.pk)  # a redelivered message
    run.refresh_from_db()
    assert (run.finished_at, run.outputs) == (finished, outputs)
    assert LeadLagRun.objects.count() == 1


def test_the_venues_tracking_each_symbol_are_read_in_order(markets: dict[str, Instrument]) -> None:
    for name, intervals in (("bybit", ["1m", "5m"]), ("binance", ["1m"]), ("coinbase", ["5m"])):
        Instrument.objects.filter(pk=markets[name].pk).update(tracked=True, tracked_intervals=intervals)
    assert selectors.instruments_tracked_venues(interval="1m") == {"BTC/USDT": ["binance", "bybit"]}
    assert selectors.instruments_tracked_venues(interval="5m") == {"BTC/USD": ["coinbase"], "BTC/USDT": ["bybit"]}
    assert selectors.instruments_tracked_venues(interval="1h") == {}


def test_beat_refreshes_symbols_tracked_on_two_venues(markets: dict[str, Instrument]) -> None:
    Instrument.objects.filter(pk__in=[markets["binance"].pk, markets["bybit"].pk]).update(
        tracked=True, tracked_intervals=["1m"]
    )
    _store(markets["bybit"], START + DAY + 60_000 * np.arange(600), 30_000 + np.sin(np.arange(600.0)))
    now = (START + 2 * DAY + 5_000) / 1000
    with (
        mock.patch("marketdata.services.leadlag.time.time", return_value=now),
        mock.patch.object(leadlag_run, "delay_on_commit") as queued,
    ):
        leadlag_refresh_tracked()
    run = LeadLagRun.objects.get()
    assert (run.symbol, run.start_ms, run.end_ms) == ("BTC/USDT", START + DAY, START + 2 * DAY)
    assert [m["exchange"] for m in run.parameters["markets"]] == ["binance", "bybit"]
    queued.assert_called_once_with(run.pk)


# -- API ------------------------------------------------------------------------------------------------------


def test_api_lists_stored_results_publicly(markets: dict[str, Instrument], api_client) -> None:  # type: ignore[no-untyped-def]
    run = services.leadlag_run_create(
        markets=[("binance", "BTC/USDT"), ("coinbase", "BTC/USD")], interval="1m", start_ms=START, end_ms=START + DAY
    )
    services.leadlag_run_execute(run_id=run.pk)
    response = api_client.get("/api/v1/leadlag/", {"symbol": "BTC/USDT", "interval": "1m", "start": "2023-11-14"})
    assert response.status_code == 200
    (item,) = response.json()
    assert (item["id"], item["status"], item["start"], item["start_ms"]) == (
        run.pk,
        "done",
        "2023-11-14T00:00:00Z",
        START,
    )
    assert item["result"]["pairs"][0]["leader"] == "binance"
    # a window that excludes the run, another symbol: nothing
    assert api_client.get("/api/v1/leadlag/", {"symbol": "BTC/USDT", "start": "2023-11-15"}).json() == []
    assert api_client.get("/api/v1/leadlag/", {"symbol": "ETH/USDT"}).json() == []
    bad = api_client.get("/api/v1/leadlag/", {"symbol": "BTC/USDT", "start": "yesterday"})
    assert (
        bad.status_code == 400 and bad.json()["error"]["code"] == "invalid" and "start" in bad.json()["error"]["fields"]
    )


def test_api_post_needs_a_user(markets: dict[str, Instrument], api_client) -> None:  # type: ignore[no-untyped-def]
    response = api_client.post(
        "/api/v1/leadlag/",
        {
            "exchanges": "binance,coinbase:BTC/USD",
            "symbol": "BTC/USDT",
            "interval": "1m",
            "start": "2023-11-14",
            "end": "2023-11-15",
        },
        format="json",
    )
    assert response.status_code in (401, 403)
    assert LeadLagRun.objects.count() == 0


def test_api_post_creates_a_run_and_queues_it_after_commit(  # type: ignore[no-untyped-def]
    markets: dict[str, Instrument], user_api_client, user, django_capture_on_commit_callbacks
) -> None:
    body = {
        "exchanges": "binance,coinbase:BTC/USD",
        "symbol": "BTC/USDT",
        "interval": "1m",
        "start": "2023-11-14",
        "end": "2023-11-15",
        "max_lag": 5,
    }
    with mock.patch.object(leadlag_run, "delay") as delay, django_capture_on_commit_callbacks(execute=True):
        response = user_api_client.post("/api/v1/leadlag/", body, format="json")
    assert response.status_code == 202
    run = LeadLagRun.objects.get()
    assert response.json()["id"] == run.pk and response.json()["status"] == "queued"
    assert (run.created_by_id, run.parameters["max_lag"]) == (user.pk, 5)
    delay.assert_called_once_with(run.pk)


def test_api_post_refuses_a_venue_without_data(  # type: ignore[no-untyped-def]
    markets: dict[str, Instrument], user_api_client
) -> None:
    body = {
        "exchanges": "binance,bybit",
        "symbol": "BTC/USDT",
        "interval": "1m",
        "start": "2023-11-14",
        "end": "2023-11-15",
    }
    with mock.patch.object(leadlag_run, "delay") as delay:
        response = user_api_client.post("/api/v1/leadlag/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "bybit BTC/USDT: no 1m candles in the window"
    assert LeadLagRun.objects.count() == 0
    delay.assert_not_called()
