"""Strategies: one year of 1m candles for one market on three venues (≈1.6 M rows), from PostgreSQL to a stored
backtest run.

Generated candles (Bybit and Coinbase one minute behind Binance, ~0.5 % missing at random, OHLC around the close,
prices with two decimals) are COPYed into a scratch database made for the run (``test_<name>``) and dropped after.
Timed: ``strategy_run_create`` (every input check) + ``strategy_run_execute`` for ``leadlag`` (Binance leads, Bybit
traded, venue fees): the binary-COPY reads into numpy, the engine, the metrics, the ``hold`` benchmark, and the
ledger, refusals and 525,600 NAV points stored (COPY), with the seconds per stage. Baseline measured in the same
run: reading one venue-year as ``Candle`` objects (``klines_read``) and scaling their text with the core's
``BarSeries.from_text``, against the COPY-binary read.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.database import django_setup, klines_analyze, klines_copy, scratch_database, spot_instrument_create

YEAR_MINUTES = 525_600
START_MS = 1_672_531_200_000  # 2023-01-01 00:00 UTC
TARGET_SECONDS = 10.0
VENUES = ("binance", "bybit", "coinbase")


def _instruments() -> dict[str, Any]:
    return {venue: spot_instrument_create(venue) for venue in VENUES}


def _copy_year(instruments: dict[str, Any]) -> int:
    rng = np.random.default_rng(14)
    path = np.log(20_000.0) + np.cumsum(rng.normal(0, 8e-4, YEAR_MINUTES + 1))
    times = START_MS + 60_000 * np.arange(YEAR_MINUTES, dtype=np.int64)
    rows = 0
    for name, instrument in instruments.items():
        log_close = (path[1:] if name == "binance" else path[:-1]) + rng.normal(0, 5e-5, YEAR_MINUTES)
        close = np.exp(log_close)
        open_ = np.concatenate(([close[0]], close[:-1]))
        spread = np.abs(rng.normal(0, 3e-4, YEAR_MINUTES)) * close
        high = np.maximum(open_, close) + spread
        low = np.minimum(open_, close) - spread
        keep = rng.random(YEAR_MINUTES) > 0.005
        columns = [np.char.mod("%.2f", np.round(c[keep], 2)).tolist() for c in (open_, high, low, close)]
        lines = "".join(
            f"{instrument.pk}\t1m\t{t}\t{o}\t{h}\t{lo}\t{c}\t1.5\tt\n"
            for t, o, h, lo, c in zip(times[keep].tolist(), *columns, strict=True)
        )
        klines_copy(lines)
        rows += int(keep.sum())
    klines_analyze()
    return rows


def main() -> None:
    django_setup()
    from hftplatform.core.utc import utc_from_ms
    from marketdata.core.intervals import MINUTE_MS
    from marketdata.selectors import klines_read
    from strategies import selectors, services
    from strategies.core.data import BarSeries
    from strategies.core.markets import Market

    with scratch_database():
        instruments = _instruments()
        rows = _copy_year(instruments)
        end_ms = START_MS + YEAR_MINUTES * MINUTE_MS

        started = time.perf_counter()
        run = services.strategy_run_create(
            strategy="leadlag",
            exchanges=list(VENUES),
            symbol="BTC/USDT",
            interval="1m",
            start=utc_from_ms(START_MS),
            end=utc_from_ms(end_ms),
            parameters={"leader": "binance", "follower": "bybit", "threshold": "0.002", "hold_bars": "3"},
            cash="10000",
        )
        checked = time.perf_counter() - started
        run = services.strategy_run_execute(run_id=run.pk)
        total = time.perf_counter() - started
        assert run.status == "done", run.error

        print(
            f"strategies, 1 year of 1m on 3 venues ({rows:,} candles), PostgreSQL → stored leadlag run: {total:.2f} s "
            f"(target ≤ {TARGET_SECONDS:.0f} s)"
        )
        print(f"  create (input checks)    {checked:6.2f} s")
        for stage, seconds in run.timings.items():
            print(f"  {stage:<24} {seconds:6.2f} s")
        result = run.result
        print(
            f"  {result['trades']:,} trades, {result['refusals']:,} refusals, {result['steps']:,} NAV points; "
            f"final NAV {run.final_nav} (hold {result['benchmark']['final_nav']})"
        )

        binance = instruments["binance"].pk
        market = Market("binance", "BTC/USDT")
        start = time.perf_counter()
        candles = klines_read(instrument_id=binance, interval="1m", start_ms=START_MS, end_ms=end_ms)
        slow = BarSeries.from_text(
            market, MINUTE_MS, [(c.open_time, c.open, c.high, c.low, c.close, c.volume) for c in candles]
        )
        baseline_read = time.perf_counter() - start
        start = time.perf_counter()
        fast = selectors.bar_series_read(
            instrument_id=binance, interval="1m", start_ms=START_MS, end_ms=end_ms, market=market
        )
        fast_read = time.perf_counter() - start
        assert np.array_equal(fast.close, slow.close) and fast.scale == slow.scale
        print(
            f"read one venue-year into the engine's columns: Candle objects + from_text {baseline_read:.3f} s, "
            f"ratio 1.00 (baseline); COPY binary → numpy {fast_read:.3f} s, ratio {baseline_read / fast_read:.1f}"
        )
