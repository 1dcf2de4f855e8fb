"""The lead-lag analysis of one market across venues: every pair, every method, rolling windows, a verdict.

Inputs are :class:`PriceSeries` (candle open times in ms UTC and closes); the output of :func:`leadlag_report` is
one JSON-ready dict (floats, None for undefined values, lags in seconds). Lag sign: positive = the pair's first
venue leads its second.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from marketdata.core.leadlag.alignment import FloatArray, Grid, IntArray, LeadLagInputError, PriceSeries, grid_align
from marketdata.core.leadlag.discovery import (
    GRANGER_WARNING,
    GrangerResult,
    PriceDiscoveryShares,
    granger_test,
    price_discovery_shares,
    vecm_fit,
)
from marketdata.core.leadlag.estimators import (
    Z_95,
    CrossCorrelation,
    CrossCorrelationSums,
    HayashiYoshida,
    cross_correlation_sums,
    hayashi_yoshida,
)

DAY_MS = 86_400_000
XCORR_BAND_NOTE = (
    f"95 % band ±{Z_95:.2f}/sqrt(n) per lag (n: return pairs at that lag), the white-noise null; "
    "fat tails and volatility clustering widen the true band, so treat it as a minimum."
)
LAG_NOTE = "Positive lags: the first venue of the pair leads the second. lag_seconds of a named leader is its lead."

Progress = Callable[[str, int, int], None]
Status = Literal["leader", "no_confident_leader", "unresolvable"]


@dataclass(frozen=True)
class LeadLagParams:
    """``step_ms``: the grid (the candle interval); ``max_lag``: lags ±max_lag grid steps for cross-correlation
    and HY; ``granger_order`` / ``vecm_lags``: lags in the Granger regressions and the VECM's lagged differences;
    ``window_ms``: rolling windows (aligned to multiples of it since the epoch, UTC days by default);
    ``share_margin``: how far from ½ the IS midpoint and CS must both be to count as pointing at a venue."""

    step_ms: int
    max_lag: int = 30
    granger_order: int = 5
    vecm_lags: int = 2
    window_ms: int = DAY_MS
    share_margin: float = 0.1
    min_returns: int = 50
    min_window_returns: int = 60

    def __post_init__(self) -> None:
        if self.step_ms <= 0 or self.window_ms <= 0:
            raise LeadLagInputError("the grid step and the window must be positive")
        if not 1 <= self.max_lag <= 10_000:
            raise LeadLagInputError(f"max_lag must be between 1 and 10000 grid steps, not {self.max_lag}")
        if self.granger_order < 1 or self.vecm_lags < 1:
            raise LeadLagInputError("the Granger order and the VECM lags must be at least 1")


@dataclass(frozen=True)
class Verdict:
    status: Status
    leader: str | None
    follower: str | None
    lag_ms: float  # the leader's lead when a leader is named; otherwise the signed estimate (+: first venue ahead)
    text: str


@dataclass(frozen=True)
class WindowResult:
    start_ms: int
    end_ms: int
    returns: int  # synchronous return pairs at lag 0
    xcorr: CrossCorrelation
    shares: PriceDiscoveryShares | None
    leader_side: int  # +1 the first venue, -1 the second, 0 none


@dataclass(frozen=True)
class PairResult:
    names: tuple[str, str]
    step_ms: int
    returns: tuple[int, int, int]  # a's, b's, both at the same step
    xcorr: CrossCorrelation
    hy: HayashiYoshida
    granger_ab: GrangerResult  # does a Granger-cause b
    granger_ba: GrangerResult
    shares: PriceDiscoveryShares
    windows: list[WindowResult]
    window_ms: int
    verdict: Verdict


@dataclass
class Timings:
    """Seconds per stage, summed over pairs."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def _sign(x: float) -> int:
    return 0 if x == 0 or math.isnan(x) else (1 if x > 0 else -1)


def shares_side(shares: PriceDiscoveryShares | None, margin: float) -> int:
    """+1 when the IS midpoint and the CS both give the first venue more than ½ + margin, -1 when both give it less
    than ½ - margin, else 0."""
    if shares is None:
        return 0
    is_a, cs_a = float(shares.is_mid[0]), float(shares.component_share[0])
    if is_a > 0.5 + margin and cs_a > 0.5 + margin:
        return 1
    if is_a < 0.5 - margin and cs_a < 0.5 - margin:
        return -1
    return 0


def component_side(shares: PriceDiscoveryShares | None, margin: float) -> int:
    """+1 / -1 when the component share gives the first venue more / less than ½ ± margin, else 0."""
    if shares is None:
        return 0
    cs_a = float(shares.component_share[0])
    return 1 if cs_a > 0.5 + margin else (-1 if cs_a < 0.5 - margin else 0)


def _contradicts(shares: PriceDiscoveryShares | None, side: int, margin: float) -> bool:
    """The information-share midpoint favours the other venue by more than the margin."""
    if shares is None:
        return True
    return bool(side * (float(shares.is_mid[0]) - 0.5) < -margin)


def _seconds_text(ms: float) -> str:
    seconds = abs(ms) / 1000
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.2g} s"


def leadlag_verdict(
    *,
    names: tuple[str, str],
    xcorr: CrossCorrelation,
    hy: HayashiYoshida,
    shares: PriceDiscoveryShares | None,
    step_ms: int,
    share_margin: float = 0.1,
) -> Verdict:
    """Name a leader only when the evidence agrees: the cross-correlation peak lies outside its band at a non-zero
    lag, the HY lag has the same sign, and the IS midpoint and CS both favour the same venue. When the peak is at
    lag 0 (the lead, if any, is below the grid step) but the component share points at a venue and the
    information share does not point at the other: "unresolvable at this interval" (the HY ratio is not asked: at
    lag 0 on a coarse grid it is noise). Otherwise: no confident
    leader. Granger results are never consulted."""
    a, b = names
    lag_ms = xcorr.refined_lag * step_ms
    x_side = _sign(float(xcorr.peak_lag)) if xcorr.significant else 0
    h_side = _sign(float(hy.peak_lag_ms))
    s_side = shares_side(shares, share_margin)
    if x_side != 0 and h_side == x_side and s_side == x_side:
        leader, follower = (a, b) if x_side > 0 else (b, a)
        return Verdict(
            "leader", leader, follower, abs(lag_ms), f"{leader} leads {follower} by about {_seconds_text(lag_ms)}"
        )
    c_side = component_side(shares, share_margin)
    if xcorr.significant and xcorr.peak_lag == 0 and c_side != 0 and not _contradicts(shares, c_side, share_margin):
        ahead, behind = (a, b) if c_side > 0 else (b, a)
        return Verdict(
            "unresolvable",
            None,
            None,
            lag_ms,
            f"unresolvable at this interval: {ahead} appears to lead {behind} by less than one "
            f"{_seconds_text(step_ms)} step",
        )
    return Verdict("no_confident_leader", None, None, lag_ms, f"no confident leader between {a} and {b}")


def _window_starts(grid: Grid, window_ms: int) -> IntArray:
    """Grid indices where each rolling window begins: the first at 0, then at every multiple of window_ms."""
    first = (grid.start_ms // window_ms + 1) * window_ms
    boundaries = np.arange(first, grid.start_ms + grid.step_ms * grid.log_prices.shape[0], window_ms, dtype=np.int64)
    indices = (boundaries - grid.start_ms + grid.step_ms - 1) // grid.step_ms
    return np.concatenate(([0], indices)).astype(np.int64)


def _shares_or_none(log_prices: FloatArray, lags: int) -> PriceDiscoveryShares | None:
    try:
        shares = price_discovery_shares(vecm_fit(log_prices, lags))
    except (ValueError, np.linalg.LinAlgError):
        return None  # too few complete rows in the window, or a degenerate (singular) window
    finite = all(np.all(np.isfinite(x)) for x in (shares.is_lower, shares.is_upper, shares.component_share))
    return shares if finite else None


def pair_analyse(
    grid: Grid, params: LeadLagParams, timings: Timings | None = None, progress: Progress | None = None
) -> PairResult:
    """Every method on a two-venue grid (see :func:`grid_align`)."""
    timings = timings or Timings()
    names = (grid.names[0], grid.names[1])
    returns = grid.returns()
    ra, rb = returns[:, 0], returns[:, 1]
    both = int(np.sum(~np.isnan(ra) & ~np.isnan(rb)))
    if both < params.min_returns:
        raise LeadLagInputError(
            f"{names[0]} and {names[1]}: only {both} returns at common times (at least {params.min_returns} needed)"
        )
    starts = _window_starts(grid, params.window_ms)
    with timings.stage("cross-correlation"):
        sums: CrossCorrelationSums = cross_correlation_sums(ra, rb, params.max_lag, starts)
        xcorr = sums.correlation()
    if np.all(np.isnan(xcorr.rho)):
        raise LeadLagInputError(f"{names[0]} and {names[1]}: no lag has enough return pairs")
    with timings.stage("hayashi-yoshida"):
        times_a, prices_a = grid.observed(0)
        times_b, prices_b = grid.observed(1)
        hy = hayashi_yoshida(times_a, prices_a, times_b, prices_b, xcorr.lags * grid.step_ms, grid_ms=grid.step_ms)
    with timings.stage("granger"):
        try:
            granger_ab = granger_test(ra, rb, params.granger_order)
            granger_ba = granger_test(rb, ra, params.granger_order)
        except (ValueError, np.linalg.LinAlgError) as error:
            raise LeadLagInputError(f"{names[0]} and {names[1]}: {error}") from None
    with timings.stage("vecm"):
        try:
            shares = price_discovery_shares(vecm_fit(grid.log_prices, params.vecm_lags))
        except (ValueError, np.linalg.LinAlgError) as error:
            raise LeadLagInputError(f"{names[0]} and {names[1]}: the VECM cannot be fitted ({error})") from None
    verdict = leadlag_verdict(
        names=names, xcorr=xcorr, hy=hy, shares=shares, step_ms=grid.step_ms, share_margin=params.share_margin
    )
    windows: list[WindowResult] = []
    bounds = np.append(starts, grid.log_prices.shape[0])
    with timings.stage("rolling"):
        for w in range(len(starts)):
            lo, hi = int(bounds[w]), int(bounds[w + 1])
            count = int(np.sum(~np.isnan(ra[lo:hi]) & ~np.isnan(rb[lo:hi])))
            if count < params.min_window_returns:
                continue
            window_xcorr = sums.correlation(np.array([w]))
            if np.all(np.isnan(window_xcorr.rho)):
                continue
            window_shares = _shares_or_none(grid.log_prices[max(0, lo - 1) : hi], params.vecm_lags)
            x_side = _sign(float(window_xcorr.peak_lag)) if window_xcorr.significant else 0
            side = x_side if x_side != 0 and shares_side(window_shares, params.share_margin) == x_side else 0
            start_ms = grid.start_ms + lo * grid.step_ms
            windows.append(
                WindowResult(start_ms, grid.start_ms + hi * grid.step_ms, count, window_xcorr, window_shares, side)
            )
            if progress is not None and w % 16 == 0:
                progress(f"{names[0]}/{names[1]} rolling", w + 1, len(starts))
    counts = (int(np.sum(~np.isnan(ra))), int(np.sum(~np.isnan(rb))), both)
    return PairResult(
        names, grid.step_ms, counts, xcorr, hy, granger_ab, granger_ba, shares, windows, params.window_ms, verdict
    )


def leadlag_analyse(
    series: Sequence[PriceSeries],
    params: LeadLagParams,
    timings: Timings | None = None,
    progress: Progress | None = None,
) -> list[PairResult]:
    """Every pair of venues, in input order (a-b, a-c, b-c). Raises :class:`LeadLagInputError` on unusable input,
    before any pair is analysed when a venue is empty or constant."""
    timings = timings or Timings()
    if len({s.name for s in series}) != len(series):
        raise LeadLagInputError("each venue may appear once")
    for one in series:
        one.check()
    pairs = list(itertools.combinations(series, 2))
    grids = []
    with timings.stage("align"):
        for a, b in pairs:
            grids.append(grid_align([a, b], params.step_ms))
    results = []
    for done, grid in enumerate(grids):
        if progress is not None:
            progress("pairs", done, len(grids))
        results.append(pair_analyse(grid, params, timings, progress))
    if progress is not None:
        progress("pairs", len(grids), len(grids))
    return results


# -- JSON ------------------------------------------------------------------------------------------------------


def _number(x: float | np.floating[Any]) -> float | None:
    value = float(x)
    return value if math.isfinite(value) else None


def _seconds(ms: float, ndigits: int = 3) -> float | None:
    value = _number(ms)
    return None if value is None else round(value / 1000, ndigits)


def _shares_json(names: tuple[str, str], shares: PriceDiscoveryShares | None) -> dict[str, Any]:
    if shares is None:
        return {"information_share": None, "component_share": None, "information_leadership_share": None}
    return {
        "information_share": {
            name: {"lower": _number(shares.is_lower[i]), "upper": _number(shares.is_upper[i])}
            for i, name in enumerate(names)
        },
        "component_share": {name: _number(shares.component_share[i]) for i, name in enumerate(names)},
        "information_leadership_share": {name: _number(shares.leadership_share[i]) for i, name in enumerate(names)},
    }


def pair_json(result: PairResult) -> dict[str, Any]:
    a, b = result.names
    step = result.step_ms
    xc, hy, verdict = result.xcorr, result.hy, result.verdict
    stable = [w for w in result.windows if w.leader_side != 0]
    leader_side = 0 if verdict.leader is None else (1 if verdict.leader == a else -1)
    agreeing = sum(1 for w in result.windows if leader_side != 0 and w.leader_side == leader_side)
    text = verdict.text
    if verdict.leader is not None and result.windows:
        unit = "days" if result.window_ms == DAY_MS else "windows"
        text += f"; stable in {agreeing} of {len(result.windows)} {unit}"
    return {
        "venues": [a, b],
        "leader": verdict.leader,
        "follower": verdict.follower,
        "verdict": verdict.status,
        "verdict_text": text,
        "lag_seconds": _seconds(verdict.lag_ms),
        "xcorr_peak": _number(xc.peak_rho),
        "xcorr_peak_lag_seconds": _seconds(xc.peak_lag * step),
        "xcorr_refined_lag_seconds": _seconds(xc.refined_lag * step),
        "xcorr_band": _number(xc.band[xc.peak_index]),
        "xcorr_significant": xc.significant,
        "xcorr": {
            "lag_seconds": [_seconds(float(lag * step)) for lag in xc.lags],
            "rho": [_number(r) for r in xc.rho],
            "band": [_number(x) for x in xc.band],
            "pairs": [int(n) for n in xc.pairs],
        },
        "hy_ratio": _number(hy.lead_lag_ratio),
        "hy_lag_seconds": _seconds(hy.peak_lag_ms),
        "hy_peak_correlation": _number(hy.peak_correlation),
        "granger_p": {f"{a}->{b}": _number(result.granger_ab.p_value), f"{b}->{a}": _number(result.granger_ba.p_value)},
        "granger_warning": GRANGER_WARNING,
        **_shares_json(result.names, result.shares),
        "returns": {a: result.returns[0], b: result.returns[1], "common": result.returns[2]},
        "stability": {"windows": len(result.windows), "with_leader": len(stable), "agreeing": agreeing},
        "rolling": [
            {
                "start_ms": w.start_ms,
                "end_ms": w.end_ms,
                "returns": w.returns,
                "leader": None if w.leader_side == 0 else (a if w.leader_side > 0 else b),
                "xcorr_peak": _number(w.xcorr.peak_rho),
                "lag_seconds": _seconds(w.xcorr.refined_lag * step),
                "significant": w.xcorr.significant,
                "information_share_mid": None if w.shares is None else _number(w.shares.is_mid[0]),
                "component_share": None if w.shares is None else _number(w.shares.component_share[0]),
                "information_leadership_share": None if w.shares is None else _number(w.shares.leadership_share[0]),
            }
            for w in result.windows
        ],
    }


def leadlag_report(results: Sequence[PairResult], params: LeadLagParams) -> dict[str, Any]:
    """The JSON object of a run: parameters, method notes, and the ``pairs`` list (rolling shares are the first
    venue's)."""
    return {
        "interval_seconds": params.step_ms / 1000,
        "max_lag": params.max_lag,
        "granger_order": params.granger_order,
        "vecm_lags": params.vecm_lags,
        "window_seconds": params.window_ms / 1000,
        "notes": {"lags": LAG_NOTE, "xcorr_band": XCORR_BAND_NOTE, "granger": GRANGER_WARNING},
        "pairs": [pair_json(r) for r in results],
    }
