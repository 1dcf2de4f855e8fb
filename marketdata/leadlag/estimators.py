"""Lead-lag estimators on returns: lagged cross-correlation on a grid, and Hayashi-Yoshida on asynchronous ticks.

Sign convention: lag ``L`` > 0 pairs a's return at ``k`` with b's at ``k + L``; a peak there means **a leads b**.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketdata.leadlag.alignment import FloatArray, IntArray

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
    lags = np.arange(-max_lag, max_lag + 1, dtype=np.int64)
    shape = (len(starts), len(lags))
    sums = {name: np.zeros(shape) for name in ("n", "sx", "sy", "sxy", "sxx", "syy")}
    for column, lag_value in enumerate(lags):
        lag = int(lag_value)
        # x = a[k], y = b[k + lag] for every k where both indices lie on the grid; the pair belongs to k's window.
        lo, hi = max(0, -lag), min(size, size - lag)
        if hi <= lo:
            continue
        xa, xm = a[lo:hi], ma[lo:hi]
        yb, ym = b[lo + lag : hi + lag], mb[lo + lag : hi + lag]
        products = {
            "n": xm * ym,
            "sx": xa * ym,
            "sy": xm * yb,
            "sxy": xa * yb,
            "sxx": xa * xa * ym,
            "syy": xm * yb * yb,
        }
        # Window w holds k in [starts[w], starts[w+1]); shift the boundaries into this lag's slice.
        bounds = np.clip(starts - lo, 0, hi - lo)
        for name, values in products.items():
            cumulative = np.concatenate(([0.0], np.cumsum(values)))
            edges = np.append(bounds, hi - lo)
            sums[name][:, column] = cumulative[edges[1:]] - cumulative[edges[:-1]]
    return CrossCorrelationSums(lags, **sums)


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
    counter = _GridCounter(times_a, times_b, lags, grid_ms) if grid_ms else None
    covariance = np.empty(len(lags))
    for position, theta in enumerate(lags):
        # b's interval j overlaps (t_{i-1}, t_i] after the shift iff s_j - θ > t_{i-1} and s_{j-1} - θ < t_i.
        if counter is not None:
            first = counter.count_le(left, int(theta))
            last = counter.count_lt(right, int(theta))
        else:
            first = np.searchsorted(times_b, left + theta, side="right")
            last = np.searchsorted(times_b, right + theta, side="left")
        first = np.maximum(first, 1)
        last = np.minimum(last, m)
        run = np.where(last >= first, log_prices_b[last] - log_prices_b[np.minimum(first, last + 1) - 1], 0.0)
        covariance[position] = float(ra @ run)
    scale = float(np.sqrt(np.sum(ra * ra) * np.sum(rb * rb)))
    correlation = covariance / scale if scale > 0 else np.full(len(lags), np.nan)
    return HayashiYoshida(lags, covariance, correlation)


class _GridCounter:
    """How many of b's times are ≤ or < a query, by lookup in a cumulative count over the grid."""

    def __init__(self, times_a: IntArray, times_b: IntArray, lags: IntArray, grid_ms: int):
        self.origin = int(min(times_a[0], times_b[0]))
        if any(bool(np.any((x - self.origin) % grid_ms)) for x in (times_a, times_b, lags)):
            raise ValueError(f"times and lags must be multiples of the {grid_ms} ms grid")
        self.grid_ms = grid_ms
        cells = (times_b - self.origin) // grid_ms
        self.size = int(cells[-1]) + 1
        self.cumulative = np.cumsum(np.bincount(cells, minlength=self.size))  # [x] = #{b at or before cell x}
        self.total = len(times_b)

    def count_le(self, times: IntArray, shift: int) -> IntArray:
        cells = (times + shift - self.origin) // self.grid_ms
        clipped = np.clip(cells, 0, self.size - 1)
        counts = self.cumulative[clipped]
        return np.where(cells < 0, 0, np.where(cells >= self.size, self.total, counts))

    def count_lt(self, times: IntArray, shift: int) -> IntArray:
        return self.count_le(times - self.grid_ms, shift)
