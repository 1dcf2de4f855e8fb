"""The pure lead-lag core: alignment, estimators, statsmodels agreement, shares, verdicts on synthetic markets."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.tsa.stattools import grangercausalitytests
from statsmodels.tsa.vector_ar.vecm import VECM

from marketdata.core.leadlag.alignment import LeadLagInputError, PriceSeries, grid_align
from marketdata.core.leadlag.analysis import LeadLagParams, leadlag_analyse, leadlag_report
from marketdata.core.leadlag.discovery import VecmFit, granger_test, price_discovery_shares, vecm_fit
from marketdata.core.leadlag.estimators import Z_95, cross_correlation, hayashi_yoshida
from tests.marketdata.core.leadlag.synthetic import market_ticks

T0 = 1_699_920_000_000  # 2023-11-14 00:00 UTC


def series(name: str, times: list[int], closes: list[float]) -> PriceSeries:
    return PriceSeries(name, np.array(times, dtype=np.int64), np.array(closes, dtype=np.float64))


# -- alignment ----------------------------------------------------------------------------------------------------


def test_grid_align_makes_a_return_only_where_both_consecutive_candles_exist() -> None:
    # given a venue missing the candle at step 2 and another missing step 4
    a = series("a", [T0 + k * 1000 for k in (0, 1, 3, 4, 5)], [100, 101, 103, 104, 105])
    b = series("b", [T0 + k * 1000 for k in (0, 1, 2, 3, 5)], [200, 202, 204, 206, 210])
    # when aligned on a 1 s grid
    grid = grid_align([a, b], 1000)
    returns = grid.returns()
    # then the grid spans both, and returns exist only between present neighbours (no return across a gap)
    assert grid.start_ms == T0 and grid.log_prices.shape == (6, 2)
    assert np.isnan(returns[:, 0]).tolist() == [True, False, True, True, False, False]
    assert np.isnan(returns[:, 1]).tolist() == [True, False, False, False, True, True]
    assert returns[1, 0] == pytest.approx(math.log(101 / 100), abs=1e-15)
    assert returns[4, 0] == pytest.approx(math.log(104 / 103), abs=1e-15)


def test_grid_align_restricts_to_the_common_window() -> None:
    a = series("a", [T0 + k * 60_000 for k in range(10)], [1.0 + k for k in range(10)])
    b = series("b", [T0 + k * 60_000 for k in range(5, 20)], [2.0 + k for k in range(15)])
    grid = grid_align([a, b], 60_000)
    assert grid.start_ms == T0 + 5 * 60_000
    assert grid.log_prices.shape == (5, 2)
    assert not np.isnan(grid.log_prices).any()


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (series("a", [], []), series("b", [T0, T0 + 1000], [1, 2]), "a: no candles"),
        (series("a", [T0, T0 + 1000], [1, 2]), series("b", [T0 + 5000, T0 + 6000], [1, 2]), "do not overlap"),
        (series("a", [T0, T0 + 1000, T0 + 2000], [5, 5, 5]), series("b", [T0, T0 + 2000], [1, 2]), "a: the price is"),
        (series("a", [T0, T0 + 1500], [1, 2]), series("b", [T0, T0 + 1000, T0 + 2000], [1, 2, 3]), "not on a common"),
        (series("a", [T0, T0 + 1000], [1, -2]), series("b", [T0, T0 + 1000], [1, 2]), "positive finite"),
        (series("a", [T0 + 1000, T0], [1, 2]), series("b", [T0, T0 + 1000], [1, 2]), "strictly ascending"),
    ],
)
def test_grid_align_refuses_unusable_input(a: PriceSeries, b: PriceSeries, message: str) -> None:
    with pytest.raises(LeadLagInputError, match=message):
        grid_align([a, b], 1000)


def test_real_gappy_candles_give_one_return_per_consecutive_minute(klines_fixtures) -> None:  # type: ignore[no-untyped-def]
    # given the real 1m file with no-trade minutes (SOURCES.md: 13,142 of its 13,680 steps are 60 s)
    rows = json.loads((klines_fixtures / "freqtrade" / "UNITTEST_BTC-1m.json").read_text())
    times = np.array([r[0] for r in rows], dtype=np.int64)
    closes = np.array([r[4] for r in rows], dtype=np.float64)
    a = PriceSeries("real", times, closes)
    # and a copy seen two minutes late
    b = PriceSeries("late", times + 120_000, closes)
    grid = grid_align([a, b], 60_000)
    returns = grid.returns()
    # then the real series alone has exactly one return per consecutive pair of minutes
    assert len(rows) == 13_681
    assert int((~np.isnan(grid_align([a, PriceSeries("copy", times, closes)], 60_000).returns()[:, 0])).sum()) == 13_142
    # and the late copy is found two minutes behind by both estimators, at correlation 1
    xcorr = cross_correlation(returns[:, 0], returns[:, 1], 5)
    assert xcorr.peak_lag == 2 and xcorr.peak_rho == pytest.approx(1.0, abs=1e-12)
    hy = hayashi_yoshida(*grid.observed(0), *grid.observed(1), np.arange(-5, 6) * 60_000, grid_ms=60_000)
    assert hy.peak_lag_ms == 120_000


# -- cross-correlation --------------------------------------------------------------------------------------------


def test_cross_correlation_matches_pearson_over_the_existing_pairs() -> None:
    rng = np.random.default_rng(5)
    ra, rb = rng.normal(size=500), rng.normal(size=500)
    rb[3:] += 0.8 * ra[:-3]
    ra[[10, 50, 51]] = np.nan
    xcorr = cross_correlation(ra, rb, 4)
    assert xcorr.lags.tolist() == [-4, -3, -2, -1, 0, 1, 2, 3, 4]
    for i, lag in enumerate(xcorr.lags):
        x, y = (ra[: len(ra) - lag], rb[lag:]) if lag >= 0 else (ra[-lag:], rb[: len(rb) + lag])
        ok = ~np.isnan(x) & ~np.isnan(y)
        assert xcorr.pairs[i] == ok.sum()
        assert xcorr.rho[i] == pytest.approx(np.corrcoef(x[ok], y[ok])[0, 1], abs=1e-12)
        assert xcorr.band[i] == pytest.approx(Z_95 / math.sqrt(ok.sum()), abs=1e-15)
    assert xcorr.peak_lag == 3 and xcorr.significant


def test_refined_lag_is_the_parabola_vertex() -> None:
    # |rho| = 0.2, 0.6, 0.4 at lags 1, 2, 3: vertex at 2 + 0.5 * (0.2 - 0.4) / (0.2 - 1.2 + 0.4) = 2 + 1/6
    from marketdata.core.leadlag.estimators import CrossCorrelation

    lags = np.arange(0, 5, dtype=np.int64)
    xcorr = CrossCorrelation(lags, np.array([0.0, 0.2, -0.6, 0.4, 0.0]), np.full(5, 100), np.full(5, 0.196))
    assert xcorr.peak_lag == 2 and xcorr.peak_rho == -0.6
    assert xcorr.refined_lag == pytest.approx(2 + 1 / 6, abs=1e-12)


# -- Hayashi-Yoshida -----------------------------------------------------------------------------------------------


def test_hayashi_yoshida_on_a_complete_common_grid_is_the_synchronous_covariance() -> None:
    rng = np.random.default_rng(2)
    times = T0 + 1000 * np.arange(200, dtype=np.int64)
    pa, pb = np.cumsum(rng.normal(size=200)), np.cumsum(rng.normal(size=200))
    hy = hayashi_yoshida(times, pa, times, pb, np.array([-1000, 0, 1000]))
    ra, rb = np.diff(pa), np.diff(pb)
    assert hy.covariance[1] == pytest.approx(float(ra @ rb), abs=1e-12)
    # lag +1 s pairs a's return k with b's return k+1
    assert hy.covariance[2] == pytest.approx(float(ra[:-1] @ rb[1:]), abs=1e-12)


def test_hayashi_yoshida_sums_every_overlapping_pair() -> None:
    # a observed at 0, 3, 5; b at 1, 2, 4, 6 (seconds): I1=(0,3] meets J1=(1,2], J2=(2,4]; I2=(3,5] meets J2, J3
    ta, pa = np.array([0, 3000, 5000]), np.array([0.0, 1.0, 3.0])
    tb, pb = np.array([1000, 2000, 4000, 6000]), np.array([0.0, 10.0, 30.0, 70.0])
    hy = hayashi_yoshida(ta, pa, tb, pb, np.array([0]))
    # (1)(10 + 20) + (2)(20 + 40)
    assert hy.covariance[0] == 150.0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), lag=st.integers(-4, 4))
def test_hayashi_yoshida_grid_lookup_equals_binary_search(seed: int, lag: int) -> None:
    rng = np.random.default_rng(seed)
    ta = np.unique(rng.integers(0, 400, 120)) * 500
    tb = np.unique(rng.integers(0, 400, 90)) * 500
    pa, pb = rng.normal(size=len(ta)), rng.normal(size=len(tb))
    lags = np.array([lag * 500, (lag + 3) * 500])
    fast = hayashi_yoshida(ta, pa, tb, pb, lags, grid_ms=500)
    slow = hayashi_yoshida(ta, pa, tb, pb, lags)
    assert np.allclose(fast.covariance, slow.covariance, rtol=0, atol=1e-12)


# -- statsmodels agreement ----------------------------------------------------------------------------------------


def _cointegrated(seed: int, n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    path = np.cumsum(rng.normal(0, 1e-3, n + 2))
    a = path[2:] + rng.normal(0, 2e-4, n)
    b = path[:-2] + rng.normal(0, 2e-4, n)  # b two steps late
    return np.log(30_000) + np.column_stack([a, b])


@pytest.mark.parametrize("order", [1, 3, 5])
def test_granger_agrees_with_statsmodels(order: int) -> None:
    levels = _cointegrated(11)
    returns = np.diff(levels, axis=0)
    on_grid = np.vstack([[np.nan, np.nan], returns])  # the grid's first row has no return
    for cause, effect in ((0, 1), (1, 0)):
        ours = granger_test(on_grid[:, cause], on_grid[:, effect], order)
        theirs = grangercausalitytests(returns[:, [effect, cause]], maxlag=[order])[order][0]["ssr_ftest"]
        assert ours.f_stat == pytest.approx(theirs[0], rel=1e-9)
        assert ours.p_value == pytest.approx(theirs[1], rel=1e-9, abs=1e-300)
        assert (ours.df_denom, ours.df_num) == (int(theirs[2]), int(theirs[3]))
        assert ours.nobs == len(returns) - order


def test_granger_leaves_out_rows_that_would_cross_a_gap() -> None:
    levels = _cointegrated(12, 300)
    returns = np.vstack([[np.nan, np.nan], np.diff(levels, axis=0)])
    returns[100, 0] = np.nan  # one missing return of the cause removes the rows that use it as lag 1 or 2
    result = granger_test(returns[:, 0], returns[:, 1], 2)
    assert result.nobs == 299 - 2 - 2


@pytest.mark.parametrize("lags", [1, 2, 4])
def test_vecm_agrees_with_statsmodels(lags: int) -> None:
    levels = _cointegrated(13)
    ours = vecm_fit(levels, lags)
    theirs = VECM(levels, k_ar_diff=lags, coint_rank=1, deterministic="ci").fit()
    for mine, statsmodels_value in (
        (ours.alpha, theirs.alpha),
        (ours.beta, theirs.beta),
        (ours.const_coint, theirs.det_coef_coint),
        (ours.gamma, theirs.gamma),
        (ours.sigma_u, theirs.sigma_u),
    ):
        assert mine.shape == statsmodels_value.shape
        scale = max(1.0, float(np.abs(statsmodels_value).max()))
        assert float(np.abs(mine - statsmodels_value).max()) <= 1e-9 * scale
    assert ours.nobs == len(levels) - lags - 1


# -- price-discovery shares ----------------------------------------------------------------------------------------


def _fit(alpha: tuple[float, float], omega: list[list[float]]) -> VecmFit:
    return VecmFit(
        np.array([[alpha[0]], [alpha[1]]]),
        np.array([[1.0], [-1.0]]),
        np.zeros((1, 1)),
        np.zeros((2, 2)),
        np.array(omega),
        1000,
    )


def test_shares_when_only_the_follower_adjusts() -> None:
    # psi ∝ (1, 0): only a's innovation is permanent. Ordered first, b still takes the part of a's innovation it
    # is correlated with: rho^2 = 0.3^2 / (1 * 2) = 0.045
    shares = price_discovery_shares(_fit((0.0, 0.5), [[1.0, 0.3], [0.3, 2.0]]))
    assert shares.component_share.tolist() == [1.0, 0.0]
    assert shares.is_upper == pytest.approx([1.0, 0.045], abs=1e-15)
    assert shares.is_lower == pytest.approx([0.955, 0.0], abs=1e-15)
    assert np.isnan(shares.leadership_share).all()  # IL = (IS_a / IS_b)(CS_b / CS_a) is 0/0 here


def test_shares_of_partial_adjustment_with_independent_innovations() -> None:
    # alpha = (-0.1, 0.3): alpha_perp ∝ (0.3, 0.1), CS = (0.75, 0.25); Omega = I: IS = (0.9, 0.1) in both orderings
    # IL_a = (0.9 / 0.1)(0.25 / 0.75) = 3, IL_b = 1/3: ILS_a = 3 / (3 + 1/3) = 0.9
    shares = price_discovery_shares(_fit((-0.1, 0.3), [[1.0, 0.0], [0.0, 1.0]]))
    assert shares.component_share == pytest.approx([0.75, 0.25], abs=1e-15)
    assert shares.is_lower == pytest.approx([0.9, 0.1], abs=1e-15)
    assert shares.is_upper == pytest.approx([0.9, 0.1], abs=1e-15)
    assert shares.leadership_share == pytest.approx([0.9, 0.1], abs=1e-15)


def test_shares_of_symmetric_adjustment_with_correlated_innovations() -> None:
    # psi ∝ (1, 1), Omega = [[1, rho], [rho, 1]]: IS_1 = (1 + rho) / 2 first in the ordering, (1 - rho) / 2 last
    shares = price_discovery_shares(_fit((-0.2, 0.2), [[1.0, 0.5], [0.5, 1.0]]))
    assert shares.component_share == pytest.approx([0.5, 0.5], abs=1e-15)
    assert shares.is_upper == pytest.approx([0.75, 0.75], abs=1e-15)
    assert shares.is_lower == pytest.approx([0.25, 0.25], abs=1e-15)
    assert shares.leadership_share == pytest.approx([0.5, 0.5], abs=1e-15)


# -- synthetic markets: every method recovers the leader and the lag -------------------------------------------


def _analyse(names: tuple[str, str], a_ticks, b_ticks, step_ms: int, **params):  # type: ignore[no-untyped-def]
    p = LeadLagParams(step_ms=step_ms, max_lag=params.pop("max_lag", 10), **params)
    candles = {"a": a_ticks.candles("a", step_ms), "b": b_ticks.candles("b", step_ms)}
    results = leadlag_analyse([candles[names[0]], candles[names[1]]], p)
    return results[0], leadlag_report(results, p)


@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
def test_a_three_second_leader_is_found_by_every_method(order: tuple[str, str]) -> None:
    # given b follows a by 3 s, asynchronous Poisson ticks (2/s each) → 1 s candles (≈13 % missing)
    a, b = market_ticks(1, duration_s=7200, lag_ms=3000)
    result, report = _analyse(order, a, b, 1000)
    side = 1 if order[0] == "a" else -1  # positive lags: the first venue leads
    # then the cross-correlation peaks at +3 s from a's side, outside its band
    assert result.xcorr.peak_lag == 3 * side and result.xcorr.significant
    assert result.xcorr.refined_lag == pytest.approx(3 * side, abs=0.1)
    # HY peaks at 3 s and its lead-lag ratio points at a
    assert result.hy.peak_lag_ms == 3000 * side
    assert (result.hy.lead_lag_ratio > 10) if side > 0 else (result.hy.lead_lag_ratio < 0.1)
    # the price-discovery shares give a nearly everything
    ia = 0 if side > 0 else 1
    assert result.shares.is_lower[ia] > 0.95 and result.shares.component_share[ia] > 0.9
    assert result.shares.leadership_share[ia] > 0.95
    # Granger: a → b overwhelming, b → a not
    p_ab = result.granger_ab.p_value if side > 0 else result.granger_ba.p_value
    p_ba = result.granger_ba.p_value if side > 0 else result.granger_ab.p_value
    assert p_ab < 1e-100 and p_ba > 0.01
    # and the verdict names a, about 3 s ahead
    pair = report["pairs"][0]
    assert (pair["leader"], pair["follower"], pair["verdict"]) == ("a", "b", "leader")
    assert pair["lag_seconds"] == pytest.approx(3.0, abs=0.1)
    assert pair["verdict_text"].startswith("a leads b by about 3 s; stable in 1 of 1 days")
    json.dumps(report, allow_nan=False)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_no_lead_control_has_no_confident_leader(seed: int) -> None:
    a, b = market_ticks(seed, duration_s=7200, lag_ms=0)
    result, report = _analyse(("a", "b"), a, b, 1000)
    assert result.xcorr.peak_lag == 0
    assert report["pairs"][0]["leader"] is None
    assert report["pairs"][0]["verdict"] == "no_confident_leader"
    assert report["pairs"][0]["verdict_text"] == "no confident leader between a and b"
    # both-way Granger "causality" from asynchronous sampling: why Granger never names a leader alone
    assert result.granger_ab.p_value < 1e-3 and result.granger_ba.p_value < 1e-3


def test_half_a_second_is_resolved_on_a_fine_grid() -> None:
    # given a 0.5 s lead and 10 ticks/s per venue
    a, b = market_ticks(1, duration_s=7200, lag_ms=500, rates_per_s=(10.0, 10.0))
    # then HY on the raw tick times, over a 100 ms lag grid, peaks at 500 ms
    lags = np.arange(-20, 21, dtype=np.int64) * 100
    hy = hayashi_yoshida(a.times_ms, np.log(a.prices), b.times_ms, np.log(b.prices), lags)
    assert hy.peak_lag_ms == 500
    # and the analysis of 100 ms candles names a, 0.5 s ahead
    _, report = _analyse(("a", "b"), a, b, 100)
    pair = report["pairs"][0]
    assert (pair["leader"], pair["verdict"]) == ("a", "leader")
    assert pair["lag_seconds"] == pytest.approx(0.5, abs=0.05)


def test_half_a_second_is_unresolvable_at_one_minute() -> None:
    # given the same kind of market over a week, 1 m candles
    a, b = market_ticks(1, duration_s=7 * 86_400, lag_ms=500, fine_ms=500)
    result, report = _analyse(("a", "b"), a, b, 60_000)
    pair = report["pairs"][0]
    # then no leader is named, and the verdict says why
    assert result.xcorr.peak_lag == 0
    assert (pair["leader"], pair["verdict"]) == (None, "unresolvable")
    assert pair["verdict_text"] == "unresolvable at this interval: a appears to lead b by less than one 60 s step"
    assert pair["stability"]["windows"] == 7  # 7 UTC days


def test_rolling_windows_follow_the_leader() -> None:
    a, b = market_ticks(3, duration_s=7200, lag_ms=3000)
    result, report = _analyse(("a", "b"), a, b, 1000, window_ms=900_000)
    assert len(result.windows) == 8
    assert [w.leader_side for w in result.windows] == [1] * 8
    rolling = report["pairs"][0]["rolling"]
    assert [w["leader"] for w in rolling] == ["a"] * 8
    # the first window starts with the data, the others on multiples of 15 minutes
    assert rolling[0]["start_ms"] == result.windows[0].start_ms == max(a.times_ms[0], b.times_ms[0])
    assert [w["start_ms"] % 900_000 for w in rolling[1:]] == [0] * 7
    assert [w["end_ms"] - w["start_ms"] for w in rolling[1:-1]] == [900_000] * 6
    assert report["pairs"][0]["verdict_text"] == "a leads b by about 3 s; stable in 8 of 8 windows"


def test_three_venues_give_three_pairs_in_input_order() -> None:
    a, b = market_ticks(4, duration_s=3600, lag_ms=2000)
    # c: the same market and lag as b, its own tick times and noise (same seed: a and the path are identical)
    c = market_ticks(4, duration_s=3600, lag_ms=2000, rates_per_s=(2.0, 3.0))[1].candles("c", 1000)
    p = LeadLagParams(step_ms=1000, max_lag=5)
    report = leadlag_report(leadlag_analyse([a.candles("a", 1000), b.candles("b", 1000), c], p), p)
    assert [pair["venues"] for pair in report["pairs"]] == [["a", "b"], ["a", "c"], ["b", "c"]]
    assert [pair["leader"] for pair in report["pairs"][:2]] == ["a", "a"]


def test_too_little_common_data_is_refused() -> None:
    a = series("a", [T0 + k * 1000 for k in range(20)], [100 + k % 3 for k in range(20)])
    b = series("b", [T0 + k * 1000 for k in range(20)], [100 + k % 4 for k in range(20)])
    with pytest.raises(LeadLagInputError, match="only 19 returns at common times"):
        leadlag_analyse([a, b], LeadLagParams(step_ms=1000, max_lag=3))
