"""Reads: bars exactly as the engine wants them (one binary COPY), and the lead-lag roles of a market."""

from __future__ import annotations

import numpy as np
import pytest

from hftplatform.core.utc import utc_from_ms, utc_iso
from marketdata import services as marketdata_services
from marketdata.core.candles import Candle
from marketdata.core.intervals import MINUTE_MS
from marketdata.models import Instrument, LeadLagRun
from strategies import selectors
from strategies.core.data import BarSeries, DataError
from strategies.core.markets import Market
from tests.strategies.conftest import BINANCE, BYBIT, T0

pytestmark = pytest.mark.django_db

MARKET = Market("binance", "BTC/USDT")


def test_bars_equal_the_cores_own_reading_of_the_stored_text(binance: Instrument) -> None:
    # given the hand-made candles (two decimals) and the still-open candle after them
    marketdata_services.klines_store(
        instrument_id=binance.pk,
        interval="1m",
        candles=[Candle(T0 + 8 * MINUTE_MS, "101.00", "101.10", "100.95", "101.05", "0.5", closed=False)],
        covered=None,
    )
    # when the window holds all of them
    bars = selectors.bar_series_read(
        instrument_id=binance.pk, interval="1m", start_ms=T0, end_ms=T0 + 60 * MINUTE_MS, market=MARKET
    )
    # then the closed ones only, scaled by the largest scale, as the core reads the same text
    expected = BarSeries.from_text(
        MARKET, MINUTE_MS, [(T0 + i * MINUTE_MS, *row, "1.5") for i, row in enumerate(BINANCE)]
    )
    assert bars.scale == expected.scale == 2
    assert len(bars) == 8
    for column in ("open_ms", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(bars, column), getattr(expected, column)), column
    assert bars.open.dtype == np.int64
    assert bars.open.tolist()[:3] == [10000, 10000, 10100]
    assert bars.interval_ms == MINUTE_MS


def test_bars_of_opens_and_closes_only(binance: Instrument) -> None:
    # given the hand-made candles, read whole and read for the vectorised path
    window = {"instrument_id": binance.pk, "interval": "1m", "start_ms": T0, "end_ms": T0 + 60 * MINUTE_MS}
    whole = selectors.bar_series_read(**window, market=MARKET)
    bars = selectors.bar_series_read(**window, market=MARKET, opens_closes_only=True)
    # then the same exact opens and closes; high and low the larger and smaller of the two, no volume
    assert (bars.scale, len(bars)) == (whole.scale, 8)
    for column in ("open_ms", "open", "close"):
        assert np.array_equal(getattr(bars, column), getattr(whole, column)), column
    assert bars.high.tolist() == [max(o, c) for o, c in zip(whole.open.tolist(), whole.close.tolist(), strict=True)]
    assert bars.low.tolist() == [min(o, c) for o, c in zip(whole.open.tolist(), whole.close.tolist(), strict=True)]
    assert bars.volume.tolist() == [0.0] * 8
    assert bars.open.dtype == bars.high.dtype == np.int64


def test_bars_of_a_half_open_window(bybit: Instrument) -> None:
    bars = selectors.bar_series_read(
        instrument_id=bybit.pk, interval="1m", start_ms=T0 + MINUTE_MS, end_ms=T0 + 3 * MINUTE_MS, market=MARKET
    )
    assert bars.open_ms.tolist() == [T0 + MINUTE_MS, T0 + 2 * MINUTE_MS]
    assert bars.scale == 1
    assert bars.close.tolist() == [1002, 1011]
    assert [str(bars.price(int(c))) for c in bars.close] == [BYBIT[1][3], BYBIT[2][3]]


def test_bars_scale_is_the_largest_of_the_window(binance: Instrument) -> None:
    # given one candle written with eight decimals later on
    marketdata_services.klines_store(
        instrument_id=binance.pk,
        interval="1m",
        candles=[Candle(T0 + 9 * MINUTE_MS, "101.00000001", "101.1", "100.9", "101.05", "0.5")],
        covered=None,
    )
    bars = selectors.bar_series_read(
        instrument_id=binance.pk, interval="1m", start_ms=T0, end_ms=T0 + 10 * MINUTE_MS, market=MARKET
    )
    assert bars.scale == 8
    assert bars.open.tolist()[0] == 100 * 10**8
    assert bars.open.tolist()[-1] == 10_100_000_001
    assert str(bars.price(int(bars.open[-1]))) == "101.00000001"


def test_an_empty_window_reads_no_bars(binance: Instrument) -> None:
    bars = selectors.bar_series_read(
        instrument_id=binance.pk, interval="1m", start_ms=T0 - MINUTE_MS, end_ms=T0, market=MARKET
    )
    assert len(bars) == 0
    assert (
        selectors.closed_candles_count(instrument_id=binance.pk, interval="1m", start_ms=T0 - MINUTE_MS, end_ms=T0) == 0
    )
    assert selectors.closed_candles_count(instrument_id=binance.pk, interval="1m", start_ms=T0, end_ms=T0 + 1) == 1


def _leadlag_run(pairs: list[dict[str, object]], *, interval: str = "1m", status: str = "done") -> LeadLagRun:
    return LeadLagRun.objects.create(
        symbol="BTC/USDT",
        interval=interval,
        start_ms=T0,
        end_ms=T0 + 60 * MINUTE_MS,
        status=status,
        outputs={"pairs": pairs},
    )


def test_leadlag_roles_from_the_latest_finished_run_that_names_a_leader() -> None:
    # given an older run naming bybit, a newer one naming binance, a newest one without a leader, and a failed one
    _leadlag_run([{"venues": ["binance", "bybit"], "leader": "bybit", "follower": "binance"}])
    named = _leadlag_run([{"venues": ["binance", "bybit"], "leader": "binance", "follower": "bybit"}])
    _leadlag_run([{"venues": ["binance", "bybit"], "leader": None, "follower": None}])
    _leadlag_run([{"venues": ["binance", "bybit"], "leader": "bybit", "follower": "binance"}], status="failed")
    roles = selectors.leadlag_roles_latest(symbol="btc/usdt", venues=["binance", "bybit"], interval="1m")
    assert roles == selectors.LeadLagRoles(leader="binance", follower="bybit", run_id=named.pk)


def test_leadlag_roles_only_among_the_runs_venues() -> None:
    _leadlag_run([{"venues": ["binance", "coinbase"], "leader": "coinbase", "follower": "binance"}])
    assert selectors.leadlag_roles_latest(symbol="BTC/USDT", venues=["binance", "bybit"]) is None
    assert selectors.leadlag_roles_latest(symbol="BTC/USDT", venues=["binance", "coinbase"]) == selectors.LeadLagRoles(
        "coinbase", "binance", LeadLagRun.objects.get().pk
    )


def test_a_price_finer_than_the_scale_is_refused_not_rounded(
    binance: Instrument, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a scale read that misses the window's finest price (as if a candle arrived between the two statements)
    monkeypatch.setattr(
        selectors, "_SCALE_SQL", selectors._SCALE_SQL.replace("coalesce(max(greatest(", "-1 + coalesce(max(greatest(")
    )
    for opens_closes_only in (False, True):
        with pytest.raises(DataError, match="binance:BTC/USDT: a price is not an exact integer at scale 1"):
            selectors.bar_series_read(
                instrument_id=binance.pk,
                interval="1m",
                start_ms=T0,
                end_ms=T0 + 60 * MINUTE_MS,
                market=MARKET,
                opens_closes_only=opens_closes_only,
            )


def test_prices_beyond_64_bits_at_the_scale_are_refused(binance: Instrument) -> None:
    marketdata_services.klines_store(
        instrument_id=binance.pk,
        interval="1m",
        candles=[Candle(T0 + 9 * MINUTE_MS, "101", "99999999999.000000001", "100.9", "101.05", "0.5")],
        covered=None,
    )
    with pytest.raises(DataError, match="do not fit in 64-bit integers"):
        selectors.bar_series_read(
            instrument_id=binance.pk, interval="1m", start_ms=T0, end_ms=T0 + 60 * MINUTE_MS, market=MARKET
        )


def test_iso_times_write_what_utc_iso_writes() -> None:
    rng = np.random.default_rng(7)
    times = [0, 59_999, 60_000, 86_399_000, 86_400_000, T0, T0 + 1, -1_000, -86_400_001]
    times += rng.integers(0, 4_102_444_800_000, 2000).tolist()  # to 2100
    times += (rng.integers(0, 4_102_444_800, 2000) * 1000).tolist()  # whole seconds
    assert selectors.iso_times(times) == [utc_iso(utc_from_ms(t)) for t in times]
