"""Lead-lag: one year of 1m candles for one market on three venues (≈1.6 M rows), from PostgreSQL to the stored run.

Generated candles (Coinbase one minute behind Binance, Bybit in step with Binance, ~0.5 % of candles missing at
random) are COPYed into a scratch database made for the run (``test_<name>``) and dropped after. Timed: the whole
``leadlag_run_create`` + ``leadlag_run_execute`` (window checks, COPY-binary reads into numpy, alignment, every
method on the three pairs, daily rolling windows, the stored report), with the seconds per stage.
Baselines measured in the same run: reading one venue's year as ``Candle`` objects (``klines_read``) against the
COPY-binary read, and statsmodels' VECM fit against the core's on one pair-year.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.database import django_setup, klines_analyze, klines_copy, scratch_database, spot_instrument_create

YEAR_MINUTES = 525_600
START_MS = 1_672_531_200_000  # 2023-01-01 00:00 UTC
TARGET_SECONDS = 10.0


def _instruments() -> dict[str, Any]:
    return {
        "binance": spot_instrument_create("binance"),
        "coinbase": spot_instrument_create("coinbase", quote="USD", venue_symbol="BTC-USD"),
        "bybit": spot_instrument_create("bybit"),
    }


def _copy_year(instruments: dict[str, Any]) -> int:
    rng = np.random.default_rng(3)
    path = np.log(20_000.0) + np.cumsum(rng.normal(0, 8e-4, YEAR_MINUTES + 1))
    closes = {
        "binance": np.exp(path[1:] + rng.normal(0, 5e-5, YEAR_MINUTES)),
        "coinbase": np.exp(path[:-1] + rng.normal(0, 5e-5, YEAR_MINUTES)),  # one minute late
        "bybit": np.exp(path[1:] + rng.normal(0, 5e-5, YEAR_MINUTES)),
    }
    times = START_MS + 60_000 * np.arange(YEAR_MINUTES, dtype=np.int64)
    rows = 0
    for name, instrument in instruments.items():
        keep = rng.random(YEAR_MINUTES) > 0.005
        text = np.char.mod("%.2f", closes[name][keep])
        lines = "".join(
            f"{instrument.pk}\t1m\t{t}\t{c}\t{c}\t{c}\t{c}\t1.0\tt\n"
            for t, c in zip(times[keep].tolist(), text.tolist(), strict=True)
        )
        klines_copy(lines)
        rows += int(keep.sum())
    klines_analyze()
    return rows


def main() -> None:
    django_setup()
    from marketdata import selectors, services

    with scratch_database():
        instruments = _instruments()
        rows = _copy_year(instruments)
        end_ms = START_MS + YEAR_MINUTES * 60_000
        binance = instruments["binance"].pk

        started = time.perf_counter()
        run = services.leadlag_run_create(
            markets=[("binance", "BTC/USDT"), ("coinbase", "BTC/USD"), ("bybit", "BTC/USDT")],
            interval="1m",
            start_ms=START_MS,
            end_ms=end_ms,
            max_lag=30,
        )
        checked = time.perf_counter() - started
        run = services.leadlag_run_execute(run_id=run.pk)
        total = time.perf_counter() - started
        assert run.status == "done", run.error

        print(
            f"lead-lag, 1 year of 1m on 3 venues ({rows:,} candles), PostgreSQL → stored run: {total:.2f} s "
            f"(target ≤ {TARGET_SECONDS:.0f} s)"
        )
        print(f"  create (window checks)   {checked:6.2f} s")
        for stage, seconds in run.timings.items():
            print(f"  {stage:<24} {seconds:6.2f} s")
        for pair in run.outputs["pairs"]:
            print(f"  {'/'.join(pair['venues']):<18} {pair['verdict_text']}")

        start = time.perf_counter()
        candles = selectors.klines_read(instrument_id=binance, interval="1m", start_ms=START_MS, end_ms=end_ms)
        baseline_read = time.perf_counter() - start
        start = time.perf_counter()
        times, _ = selectors.leadlag_series_read(instrument_id=binance, interval="1m", start_ms=START_MS, end_ms=end_ms)
        fast_read = time.perf_counter() - start
        assert len(times) == len(candles)
        print(
            f"read one venue-year: klines_read (Candle objects) {baseline_read:.3f} s, ratio 1.00 (baseline); "
            f"COPY binary → numpy {fast_read:.3f} s, ratio {baseline_read / fast_read:.1f}"
        )

        from statsmodels.tsa.vector_ar.vecm import VECM

        from marketdata.core.leadlag.alignment import PriceSeries, grid_align
        from marketdata.core.leadlag.discovery import vecm_fit

        series = [
            PriceSeries(
                name,
                *selectors.leadlag_series_read(
                    instrument_id=instruments[name].pk, interval="1m", start_ms=START_MS, end_ms=end_ms
                ),
            )
            for name in ("binance", "bybit")
        ]
        grid = grid_align(series, 60_000)
        complete = grid.log_prices[~np.isnan(grid.log_prices).any(axis=1)]
        start = time.perf_counter()
        VECM(complete, k_ar_diff=2, coint_rank=1, deterministic="ci").fit()
        baseline_vecm = time.perf_counter() - start
        start = time.perf_counter()
        vecm_fit(complete, 2)
        core_vecm = time.perf_counter() - start
        print(
            f"VECM on one pair-year: statsmodels {baseline_vecm:.3f} s, ratio 1.00 (baseline); "
            f"core {core_vecm:.3f} s, ratio {baseline_vecm / core_vecm:.1f}"
        )
