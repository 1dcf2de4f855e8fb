"""Walk-forward splits (exact boundaries, no overlap, no out-of-sample bar in sample) and the study itself."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from strategies.core.data import MarketData
from strategies.core.vectorised import (
    AlignedBars,
    LeadLagArrays,
    SweepKernel,
    VectorCosts,
    aligned_bars,
    leadlag_grid,
    sample_steps,
)
from strategies.core.walkforward import (
    Scheme,
    Split,
    WalkForwardError,
    best_point,
    walkforward_run,
    walkforward_splits,
)
from tests.strategies.bars import BINANCE, BYBIT, MINUTE, START_MS
from tests.strategies.core.test_vectorised import pair_make

DAY = 86_400_000
HOUR = 3_600_000


def test_rolling_splits_slide_by_the_out_of_sample_length() -> None:
    splits = walkforward_splits(start_ms=0, end_ms=10 * DAY, in_sample_ms=3 * DAY, out_sample_ms=2 * DAY)
    assert splits == [
        Split(0, 0, 3 * DAY, 3 * DAY, 5 * DAY),
        Split(1, 2 * DAY, 5 * DAY, 5 * DAY, 7 * DAY),
        Split(2, 4 * DAY, 7 * DAY, 7 * DAY, 9 * DAY),
    ]


def test_anchored_splits_grow_from_the_start() -> None:
    splits = walkforward_splits(
        start_ms=100, end_ms=100 + 9 * DAY, in_sample_ms=3 * DAY, out_sample_ms=2 * DAY, scheme=Scheme.ANCHORED
    )
    assert splits == [
        Split(0, 100, 100 + 3 * DAY, 100 + 3 * DAY, 100 + 5 * DAY),
        Split(1, 100, 100 + 5 * DAY, 100 + 5 * DAY, 100 + 7 * DAY),
        Split(2, 100, 100 + 7 * DAY, 100 + 7 * DAY, 100 + 9 * DAY),
    ]


def test_a_longer_step_leaves_gaps_between_out_of_sample_windows() -> None:
    splits = walkforward_splits(start_ms=0, end_ms=12 * DAY, in_sample_ms=2 * DAY, out_sample_ms=DAY, step_ms=3 * DAY)
    assert [(s.in_start_ms, s.out_start_ms, s.out_end_ms) for s in splits] == [
        (0, 2 * DAY, 3 * DAY),
        (3 * DAY, 5 * DAY, 6 * DAY),
        (6 * DAY, 8 * DAY, 9 * DAY),
        (9 * DAY, 11 * DAY, 12 * DAY),
    ]


@pytest.mark.parametrize("scheme", list(Scheme))
def test_no_split_overlaps_or_reaches_past_its_window(scheme: Scheme) -> None:
    for in_days, out_days, step_days, end_days in itertools.product([1, 2, 5], [1, 3], [None, 3, 4], [7, 20]):
        if step_days is not None and step_days < out_days:
            continue
        try:
            splits = walkforward_splits(
                start_ms=0,
                end_ms=end_days * DAY,
                in_sample_ms=in_days * DAY,
                out_sample_ms=out_days * DAY,
                step_ms=None if step_days is None else step_days * DAY,
                scheme=scheme,
            )
        except WalkForwardError:
            assert in_days + out_days > end_days
            continue
        for split in splits:
            assert 0 <= split.in_start_ms < split.in_end_ms == split.out_start_ms < split.out_end_ms <= end_days * DAY
            assert split.out_end_ms - split.out_start_ms == out_days * DAY
        for before, after in itertools.pairwise(splits):
            assert before.out_end_ms <= after.out_start_ms  # out-of-sample windows never overlap
        # the next split would not have fitted
        step = (step_days or out_days) * DAY
        assert splits[-1].out_end_ms + step > end_days * DAY


def test_bad_windows_are_refused() -> None:
    with pytest.raises(WalkForwardError, match="would overlap"):
        walkforward_splits(start_ms=0, end_ms=10 * DAY, in_sample_ms=DAY, out_sample_ms=2 * DAY, step_ms=DAY)
    with pytest.raises(WalkForwardError, match="no split fits"):
        walkforward_splits(start_ms=0, end_ms=4 * DAY, in_sample_ms=3 * DAY, out_sample_ms=2 * DAY)
    with pytest.raises(WalkForwardError, match="must be positive"):
        walkforward_splits(start_ms=0, end_ms=4 * DAY, in_sample_ms=0, out_sample_ms=DAY)


COSTS = VectorCosts(fee=0.0005, slippage=0.0001, latency_ms=0)
GRID = leadlag_grid(lookbacks=[1, 2], thresholds=[0.001, 0.0025], hold_bars=[1, 3], stops=[0.002, 0.02])


def kernel_for(bars: AlignedBars) -> SweepKernel:
    arrays = LeadLagArrays(bars, leader=BINANCE, follower=BYBIT, costs=COSTS, short=False, max_hold=3)
    return SweepKernel(arrays, cash=1_000.0, period_ms=HOUR)


def test_the_study_chooses_in_sample_and_stitches_out_of_sample() -> None:
    # Given 12 hours of bars and 3 h in-sample / 2 h out-of-sample rolling splits
    bars = aligned_bars(MarketData(pair_make(BINANCE, BYBIT, 720, seed=3)))
    splits = walkforward_splits(
        start_ms=START_MS, end_ms=START_MS + 12 * HOUR, in_sample_ms=3 * HOUR, out_sample_ms=2 * HOUR
    )
    seen: list[tuple[int, int]] = []

    # When the study runs
    result = walkforward_run(bars, splits, GRID, kernel_for=kernel_for, progress=lambda d, t: seen.append((d, t)))

    # Then each split's choice is the in-sample sweep's best, and its out-of-sample result that point's on the
    # out-of-sample bars alone
    assert len(result.splits) == 4 and seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    level = 1_000.0
    for outcome in result.splits:
        split = outcome.split
        in_bars = bars.window(split.in_start_ms, split.in_end_ms)
        out_bars = bars.window(split.out_start_ms, split.out_end_ms)
        assert (outcome.in_bars, outcome.out_bars) == (180, 120)
        assert int(in_bars.close_ms[-1]) <= split.out_start_ms  # every in-sample bar closed before out-of-sample
        sweep = kernel_for(in_bars).sweep(GRID)
        assert outcome.in_sample == max(sweep, key=lambda s: s.sharpe)
        assert outcome.out_sample == kernel_for(out_bars).evaluate(outcome.chosen)
        # its NAV is the window's own, sampled hourly; the stitched one scales it to start where the last ended
        own = kernel_for(out_bars).arrays.run(outcome.chosen, cash=1_000.0)
        hourly = sample_steps(own.step_ms, HOUR)
        assert outcome.nav_ms.tolist() == own.step_ms[hourly].tolist()
        assert outcome.nav.tolist() == own.nav[hourly].tolist()
        stitched = result.out_of_sample
        inside = (stitched.nav_ms > split.out_start_ms) & (stitched.nav_ms <= split.out_end_ms)
        assert stitched.nav_ms[inside].tolist() == outcome.nav_ms.tolist()
        np.testing.assert_allclose(stitched.nav[inside], outcome.nav * level / 1_000.0, rtol=1e-15)
        level = float(stitched.nav[inside][-1])
    assert len(result.out_of_sample.nav) == 4 * 2
    assert result.out_of_sample.total_return == pytest.approx(level / 1_000.0 - 1.0, rel=1e-12)
    assert result.json()["out_of_sample"]["nav"][-1] == [int(result.out_of_sample.nav_ms[-1]), level]


def test_out_of_sample_bars_do_not_change_the_in_sample_choice() -> None:
    # Given the same bars, and a copy whose bars from the first out-of-sample window on are scrambled
    lead, follow = pair_make(BINANCE, BYBIT, 720, seed=9)
    bars = aligned_bars(MarketData([lead, follow]))
    splits = walkforward_splits(
        start_ms=START_MS, end_ms=START_MS + 12 * HOUR, in_sample_ms=4 * HOUR, out_sample_ms=4 * HOUR
    )
    cut = int(np.searchsorted(bars.open_ms, splits[0].out_start_ms))
    rng = np.random.default_rng(0)
    closes = bars.closes.copy()
    closes[:, cut:] = closes[:, cut:] * np.exp(rng.normal(0, 5e-3, closes[:, cut:].shape))
    scrambled = AlignedBars(bars.markets, MINUTE, bars.open_ms, bars.opens, closes)

    # When both studies run
    plain = walkforward_run(bars, splits, GRID, kernel_for=kernel_for)
    other = walkforward_run(scrambled, splits, GRID, kernel_for=kernel_for)

    # Then the first split chose the same point with the same in-sample result; its out-of-sample differs
    assert plain.splits[0].chosen == other.splits[0].chosen
    assert plain.splits[0].in_sample == other.splits[0].in_sample
    assert plain.splits[0].out_sample != other.splits[0].out_sample


def test_best_point_skips_nan_and_knows_its_objectives() -> None:
    bars = aligned_bars(MarketData(pair_make(BINANCE, BYBIT, 120, seed=2)))
    never = leadlag_grid(lookbacks=[1], thresholds=[0.5], hold_bars=[1], stops=[0.01])  # never trades: nan Sharpe
    summaries = kernel_for(bars).sweep(never + GRID)
    assert summaries[0].trades == 0 and np.isnan(summaries[0].sharpe)
    chosen = best_point(summaries, "sharpe")
    assert chosen.sharpe == max(s.sharpe for s in summaries if s.trades)
    assert best_point(summaries, "max_drawdown") is next(
        s for s in summaries if s.max_drawdown == max(x.max_drawdown for x in summaries)
    )
    with pytest.raises(WalkForwardError, match="unknown objective"):
        best_point(summaries, "luck")
