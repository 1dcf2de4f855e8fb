"""Lead-lag estimators on returns: lagged cross-correlation on a grid, and Hayashi-Yoshida on asynchronous ticks.

Sign convention: lag ``L`` > 0 pairs a's return at ``k`` with b's at ``k + L``; a peak there means **a leads b**.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketdata.core.leadlag.alignment import FloatArray, IntArray

# Two-sided 95 % band of a sample correlation under "no correlation at this lag" (Bartlett: the standard error of
# a white-noise sample autocorrelation is 1/sqrt(n)). Returns are close to white noise; heavy tails and volatility
# clustering make the true band somewhat wider, so this band is a minimum, not a guarantee.
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class CrossCorrelation:
    """Pearson correlation of a's and b's returns at each lag (in grid steps), over the pairs where both exist."""

    lags: IntArray
    rho: FloatArray
    pairs: IntArray  # how many (a[k], b[k+L]) pairs exist at each lag
    band: FloatArray  # ±Z_95/sqrt(pairs): the 95 % band of "no correlation"

    @property
    def peak_index(self) -> int:
        return int(np.nanargmax(np.abs(self.rho)))

    @property
    def peak_lag(self) -> int:
        """The lag (grid steps) with the largest |correlation|."""
        return int(self.lags[self.peak_index])

    @property
    def peak_rho(self) -> float:
        return float(self.rho[self.peak_index])

    @property
    def significant(self) -> bool:
        """The peak lies outside its 95 % band."""
        return bool(abs(self.peak_rho) > self.band[self.peak_index])

    @property
    def refined_lag(self) -> float:
        """The peak lag in grid steps refined below the step by a parabola through |rho| at the peak and its two
        neighbours (the vertex; within ±0.5 step of the discrete peak). At an edge of the window: the discrete peak."""
        i = self.peak_index
        if i == 0 or i == len(self.rho) - 1:
            return float(self.lags[i])
        left, mid, right = (abs(float(self.rho[j])) for j in (i - 1, i, i + 1))
        curvature = left - 2 * mid + right
        if not np.isfinite(curvature) or curvature >= 0:
            return float(self.lags[i])
        return float(self.lags[i]) + float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


@dataclass(frozen=True)
class CrossCorrelationSums:
    """Per-window sums behind :class:`CrossCorrelation`: arrays of shape (windows, lags) of the pair count and
    Σx, Σy, Σxy, Σx², Σy² (x = a's return at k, y = b's at k + L; the pair counts in the window holding k).
    Summing over windows gives the whole sample exactly."""

    lags: IntArray
    n: FloatArray
    sx: FloatArray
    sy: FloatArray
    sxy: FloatArray
    sxx: FloatArray
    syy: FloatArray

    def correlation(self, rows: slice | IntArray | None = None) -> CrossCorrelation:
        """The cross-correlation of the windows ``rows`` together (all windows when None)."""
        pick = slice(None) if rows is None else rows
        n, sx, sy, sxy, sxx, syy = (
            np.atleast_2d(a[pick]).sum(axis=0) for a in (self.n, self.sx, self.sy, self.sxy, self.sxx, self.syy)
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = sxy - sx * sy / n
            var_x = sxx - sx * sx / n
            var_y = syy - sy * sy / n
            rho = cov / np.sqrt(var_x * var_y)
            band = Z_95 / np.sqrt(n)
        rho = np.where((n > 2) & (var_x > 0) & (var_y > 0), rho, np.nan)
        return CrossCorrelation(self.lags, rho, n.astype(np.int64), band)


def cross_correlation_sums(
    returns_a: FloatArray, returns_b: FloatArray, max_lag: int, window_starts: IntArray | None = None
) -> CrossCorrelationSums:
    """Lagged cross-correlation sums for lags -max_lag … +max_lag (grid steps), split into windows that start at the
    grid indices ``window_starts`` (ascending, first 0; None: one window). NaN marks a missing return."""
    if len(returns_a) != len(returns_b):
        raise ValueError("both return series must lie on the same grid")
    size = len(returns_a)
    starts: IntArray = (
        np.zeros(1, dtype=np.int64) if window_starts is None else np.asarray(window_starts, dtype=np.int64)
    )
    mask_a = ~np.isnan(returns_a)
    mask_b = ~np.isnan(returns_b)
    a = np.where(mask_a, returns_a, 0.0)
    b = np.where(mask_b, returns_b, 0.0)
    ma = mask_a.astype(np.float64)
    mb = mask_b.astype(np.float64)
    aa, bb = a * a, b * b
    lags = np.arange(-max_lag, max_lag + 1, dtype=np.int64)
    names = ("n", "sx", "sy", "sxy", "sxx", "syy")
    sums = np.zeros((len(names), len(starts), len(lags)))
    for column, lag_value in enumerate(lags):
        lag = int(lag_value)
        # x = a[k], y = b[k + lag] for every k where both indices lie on the grid; the pair belongs to k's window.
        lo, hi = max(0, -lag), min(size, size - lag)
        if hi <= lo:
            continue
        xa, xm, xaa = a[lo:hi], ma[lo:hi], aa[lo:hi]
        yb, ym, ybb = b[lo + lag : hi + lag], mb[lo + lag : hi + lag], bb[lo + lag : hi + lag]
        products = np.stack([xm * ym, xa * ym, xm * yb, xa * yb, xaa * ym, xm * ybb])
        # Window w holds k in [starts[w], starts[w+1]); shift the boundaries into this lag's slice. reduceat sums
        # from each start to the next, so only non-empty windows are given to it.
        edges = np.append(np.clip(starts - lo, 0, hi - lo), hi - lo)
        nonempty = np.flatnonzero(edges[1:] > edges[:-1])
        if len(nonempty):
            sums[:, nonempty, column] = np.add.reduceat(products, edges[nonempty], axis=1)
    return CrossCorrelationSums(lags, *sums)


def cross_correlation(returns_a: FloatArray, returns_b: FloatArray, max_lag: int) -> CrossCorrelation:
    """Pearson correlation of ``returns_a[k]`` with ``returns_b[k + L]`` for L = -max_lag … max_lag (grid steps),
    each over the pairs where both returns exist (NaN: missing), with the ±1.96/sqrt(pairs) band."""
    return cross_correlation_sums(returns_a, returns_b, max_lag).correlation()


@dataclass(frozen=True)
class HayashiYoshida:
    """The shifted Hayashi-Yoshida covariation U(θ) over a grid of lags θ (ms), the lag maximising |U| (the
    contrast of Hoffmann, Rosenbaum & Yoshida 2013) and the lead-lag ratio of Huth & Abergel (2014)."""

    lags_ms: IntArray
    covariance: FloatArray  # U(θ), in (log price)²
    correlation: FloatArray  # U(θ) / sqrt(Σ ra² Σ rb²)

    @property
    def peak_lag_ms(self) -> int:
        return int(self.lags_ms[int(np.argmax(np.abs(self.covariance)))])

    @property
    def peak_correlation(self) -> float:
        return float(self.correlation[int(np.argmax(np.abs(self.covariance)))])

    @property
    def lead_lag_ratio(self) -> float:
        """Σ_{θ>0} U(θ)² / Σ_{θ<0} U(θ)²: above 1, a leads b (inf when no negative lag carries anything)."""
        positive = float(np.sum(self.covariance[self.lags_ms > 0] ** 2))
        negative = float(np.sum(self.covariance[self.lags_ms < 0] ** 2))
        if negative == 0.0:
            return float("inf") if positive > 0 else float("nan")
        return positive / negative


def hayashi_yoshida(
    times_a: IntArray,
    log_prices_a: FloatArray,
    times_b: IntArray,
    log_prices_b: FloatArray,
    lags_ms: IntArray,
    grid_ms: int | None = None,
) -> HayashiYoshida:
    """Shifted HY covariation of a and b, each observed at its own times (ms, ascending; no common grid needed).

    U(θ) = Σ_i Σ_j Δa(I_i) Δb(J_j) 1{I_i ∩ (J_j - θ) ≠ ∅}, with I_i = (t_{i-1}, t_i] and J_j = (s_{j-1}, s_j]:
    every pair of returns whose intervals overlap once b's clock is moved back by θ. θ > 0 matches b's moves with
    a's earlier ones, so the maximiser of |U| is positive when a leads.

    For each a-interval the overlapping b-intervals are one contiguous run, so its sum of b-returns is a difference
    of b's log prices: O((n + m) log m) per lag. With ``grid_ms`` (every time and lag a multiple of it from
    times_a[0], as for candles) the binary searches become array lookups.
    """
    ra = np.diff(log_prices_a)
    rb = np.diff(log_prices_b)
    m = len(times_b) - 1
    if len(ra) == 0 or m < 1:
        raise ValueError("Hayashi-Yoshida needs at least two observations of each series")
    lags = np.asarray(lags_ms, dtype=np.int64)
    left, right = times_a[:-1], times_a[1:]
    grid = _GridRuns(times_a, ra, times_b, log_prices_b, lags, grid_ms) if grid_ms else None
    covariance = np.empty(len(lags))
    for position, theta in enumerate(lags):
        if grid is not None:
            covariance[position] = grid.covariance(int(theta))
            continue
        # b's interval j overlaps (t_{i-1}, t_i] after the shift iff s_j - θ > t_{i-1} and s_{j-1} - θ < t_i: j runs
        # from first = #{s <= t_{i-1} + θ} (at least 1) to last = #{s < t_i + θ} (at most m), and first <= last + 1
        # always, so the run's sum of b-returns is p_b[last] - p_b[first - 1] (0 when the run is empty).
        first = np.maximum(np.searchsorted(times_b, left + theta, side="right"), 1)
        last = np.minimum(np.searchsorted(times_b, right + theta, side="left"), m)
        covariance[position] = float(ra @ (log_prices_b[last] - log_prices_b[first - 1]))
    scale = float(np.sqrt(np.sum(ra * ra) * np.sum(rb * rb)))
    correlation = covariance / scale if scale > 0 else np.full(len(lags), np.nan)
    return HayashiYoshida(lags, covariance, correlation)


class _GridRuns:
    """HY on a grid without searching: the same runs as the binary search, by lookups over the grid cells.

    Over every cell x (padded by the largest shift on both sides): #{s <= x} from a cumulative count, hence
    p_b[first - 1] and p_b[last] for an a-interval ending or starting there. Spreading a's returns onto the cells
    (at the cell of t_i for the "last" term, of t_{i-1} for the "first" term) turns each lag into two dot products
    of contiguous slices: U(θ) = Σ_i ra_i (p_b[last_i] - p_b[first_i - 1]).
    """

    def __init__(
        self,
        times_a: IntArray,
        ra: FloatArray,
        times_b: IntArray,
        log_prices_b: FloatArray,
        lags: IntArray,
        grid_ms: int,
    ):
        origin = int(min(times_a[0], times_b[0]))
        if any(bool(np.any((x - origin) % grid_ms)) for x in (times_a, times_b, lags)):
            raise ValueError(f"times and lags must be multiples of the {grid_ms} ms grid")
        self.pad = int(np.abs(lags).max()) // grid_ms + 1 if len(lags) else 1
        cells_a = (times_a - origin) // grid_ms
        cells_b = (times_b - origin) // grid_ms
        self.size = int(max(cells_a[-1], cells_b[-1])) + 1
        counts = np.cumsum(np.bincount(cells_b, minlength=self.size))  # [x] = #{b at or before cell x}
        m = len(times_b) - 1
        padded = np.concatenate((np.zeros(self.pad, dtype=np.int64), counts, np.full(self.pad, m + 1)))
        # Relative to b's first price: the two dot products below are then of returns-sized numbers, and their
        # difference (the covariance) does not cancel digits of the price level.
        log_prices_b = log_prices_b - log_prices_b[0]
        self.before_first = log_prices_b[np.maximum(padded, 1) - 1]  # p_b[first - 1], first = #{s <= x}
        self.at_last = log_prices_b[np.minimum(padded, m)]  # p_b[last], last = #{s <= x}
        self.ra_at_end = np.zeros(self.size)
        self.ra_at_end[cells_a[1:]] = ra  # last = #{s < t_i + θ} = #{s <= cell(t_i) - 1 + shift}
        self.ra_at_start = np.zeros(self.size)
        self.ra_at_start[cells_a[:-1]] = ra  # first = #{s <= cell(t_{i-1}) + shift}
        self.grid_ms = grid_ms

    def covariance(self, shift_ms: int) -> float:
        offset = self.pad + shift_ms // self.grid_ms
        last = self.at_last[offset - 1 : offset - 1 + self.size]
        first = self.before_first[offset : offset + self.size]
        return float(self.ra_at_end @ last - self.ra_at_start @ first)
