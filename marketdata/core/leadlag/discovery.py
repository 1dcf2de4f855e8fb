"""Granger causality and VECM price-discovery shares (Hasbrouck IS bounds, Gonzalo-Granger CS, Putniņš ILS).

Both work on a common grid with gaps. A regression row exists only where every value it uses exists (the
response and all its lags), so no return is made up across a missing candle; on gap-free data the results are
those of ``statsmodels.tsa.stattools.grangercausalitytests`` (its ``ssr_ftest``) and of
``statsmodels.tsa.vector_ar.vecm.VECM(..., coint_rank=1, deterministic="ci").fit()``; the tests hold both to 1e-9.

The VECM is estimated here, by the same Johansen reduced-rank regression statsmodels uses (Lütkepohl 2005,
ch. 7), because statsmodels builds its lagged-difference matrix in a Python loop per row: 1.1 s of its 1.2 s fit on
a year of minutes, and the rolling analysis fits one VECM per window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from marketdata.core.leadlag.alignment import FloatArray

# Shown next to every Granger result: returns sampled at fixed instants from prices that update at random instants
# (non-synchronous trading) show "causality" both ways even between independent series, and a lead shorter than
# the grid step shows as two-way too; Granger p-values never name a leader here.
GRANGER_WARNING = (
    "Granger tests on asynchronously sampled prices report spurious causality in both directions; "
    "they are shown for reference and never used alone to name a leader."
)


@dataclass(frozen=True)
class GrangerResult:
    """Does ``cause`` help predict ``effect`` beyond effect's own past? F test of the ``order`` cause lags."""

    f_stat: float
    p_value: float
    df_num: int
    df_denom: int
    nobs: int


def _lagged(values: FloatArray, order: int) -> FloatArray:
    """Column j-1 holds values[t - j] for row t (NaN where t - j < 0)."""
    out = np.full((len(values), order), np.nan)
    for j in range(1, order + 1):
        out[j:, j - 1] = values[:-j]
    return out


def granger_test(cause: FloatArray, effect: FloatArray, order: int) -> GrangerResult:
    """Granger test on two return series of one grid (NaN: missing) with ``order`` lags and a constant.

    Restricted: effect_t on its own ``order`` lags; unrestricted: plus cause's ``order`` lags; rows where any of
    these is missing are left out. F = ((SSR_r - SSR_u) / order) / (SSR_u / (nobs - 2·order - 1)).
    """
    if order < 1:
        raise ValueError("the Granger order must be at least 1")
    own = _lagged(effect, order)
    other = _lagged(cause, order)
    rows = ~np.isnan(effect) & ~np.isnan(own).any(axis=1) & ~np.isnan(other).any(axis=1)
    nobs = int(rows.sum())
    if nobs <= 2 * order + 1:
        raise ValueError(f"too few complete rows ({nobs}) for a Granger test of order {order}")
    y = effect[rows]
    # Least squares by the normal equations: both models share one Gram matrix (the restricted one is a block of
    # it), 40 ms for a year of minutes where statsmodels' OLS takes 2 s per fit. Returns are well conditioned
    # (near-orthogonal lags, a constant), so this loses nothing measurable: the tests hold it to statsmodels at 1e-9.
    design = np.hstack([own[rows], np.ones((nobs, 1)), other[rows]])
    gram = design.T @ design
    moment = design.T @ y
    ssr = []
    for width in (order + 1, 2 * order + 1):
        coef = np.linalg.solve(gram[:width, :width], moment[:width])
        residual = y - design[:, :width] @ coef
        ssr.append(float(residual @ residual))
    df_denom = nobs - 2 * order - 1
    f_stat = (ssr[0] - ssr[1]) / order / (ssr[1] / df_denom)
    p_value = float(stats.f.sf(f_stat, order, df_denom))
    return GrangerResult(float(f_stat), p_value, order, df_denom, nobs)


@dataclass(frozen=True)
class VecmFit:
    """Δy_t = alpha (β' y_{t-1} + c) + Σ_i Γ_i Δy_{t-i} + u_t, cointegration rank 1, constant in the relation.

    Shapes for K venues and p = ``k_ar_diff``: alpha (K, 1), beta (K, 1) normalised so beta[0] = 1, const_coint
    (1, 1), gamma (K, K·p) with columns [lag 1: venue 1 … K, lag 2: …] (statsmodels' order), sigma_u (K, K).
    """

    alpha: FloatArray
    beta: FloatArray
    const_coint: FloatArray
    gamma: FloatArray
    sigma_u: FloatArray
    nobs: int


def vecm_fit(log_prices: FloatArray, k_ar_diff: int) -> VecmFit:
    """Maximum-likelihood VECM of rank 1 on log prices (n, K) of one grid, NaN where a candle is missing.

    A row t is used when y_t, y_{t-1}, …, y_{t-p-1} all exist for every venue.
    """
    if k_ar_diff < 1:
        raise ValueError("the VECM needs at least one lagged difference")
    k = log_prices.shape[1]
    diffs = np.full_like(log_prices, np.nan)
    diffs[1:] = np.diff(log_prices, axis=0)
    p = k_ar_diff
    level_lag = np.full_like(log_prices, np.nan)
    level_lag[1:] = log_prices[:-1]
    lagged = [np.full_like(log_prices, np.nan) for _ in range(p)]
    for i in range(1, p + 1):
        lagged[i - 1][i:] = diffs[:-i]
    delta_x_all = np.hstack(lagged)  # (n, K·p) in statsmodels' column order
    rows = ~np.isnan(diffs).any(axis=1) & ~np.isnan(delta_x_all).any(axis=1) & ~np.isnan(level_lag).any(axis=1)
    nobs = int(rows.sum())
    if nobs <= k * p + k + 2:
        raise ValueError(f"too few complete rows ({nobs}) for a VECM with {p} lagged differences")
    dy = diffs[rows].T  # (K, T)
    y1 = np.vstack([level_lag[rows].T, np.ones(nobs)])  # (K+1, T): the constant sits in the relation ("ci")
    dx = delta_x_all[rows].T  # (K·p, T)
    # Partial out the short-run terms, then the reduced-rank regression of the residuals (Johansen).
    xx_inv = np.linalg.inv(dx @ dx.T)

    def residual(mat: FloatArray) -> FloatArray:
        result: FloatArray = mat - ((mat @ dx.T) @ xx_inv) @ dx
        return result

    r0, r1 = residual(dy), residual(y1)
    s00 = r0 @ r0.T / nobs
    s01 = r0 @ r1.T / nobs
    s11 = r1 @ r1.T / nobs
    # The same numerical path as statsmodels (SVD square root, general eigensolver): the level block is badly
    # conditioned next to the constant (log prices barely move against 1), and another path differs at 1e-8.
    u, singular, vt = np.linalg.svd(s11, full_matrices=False)
    s11_inv_sqrt = np.linalg.inv(u @ (np.sqrt(singular)[:, None] * vt))
    s01_s11 = s01 @ s11_inv_sqrt
    eigenvalues, eigenvectors = np.linalg.eig(s01_s11.T @ np.linalg.inv(s00) @ s01_s11)
    first = int(np.argmax(eigenvalues.real))
    beta = np.real_if_close(eigenvectors[:, [first]].T @ s11_inv_sqrt).T.real
    beta = beta / beta[0, 0]
    alpha = s01 @ beta @ np.linalg.inv(beta.T @ s11 @ beta)
    gamma = (dy - alpha @ beta.T @ y1) @ dx.T @ xx_inv
    residuals = dy - alpha @ beta.T @ y1 - gamma @ dx
    sigma_u = residuals @ residuals.T / nobs
    return VecmFit(alpha, beta[:k], beta[k:], gamma, sigma_u, nobs)


@dataclass(frozen=True)
class PriceDiscoveryShares:
    """Per venue (fit order): Hasbrouck information-share bounds over the Cholesky orderings, Gonzalo-Granger
    component share, and Putniņš's information leadership share (two venues; from the IS midpoints and CS)."""

    is_lower: FloatArray
    is_upper: FloatArray
    component_share: FloatArray
    leadership_share: FloatArray

    @property
    def is_mid(self) -> FloatArray:
        mid: FloatArray = (self.is_lower + self.is_upper) / 2
        return mid


def price_discovery_shares(fit: VecmFit) -> PriceDiscoveryShares:
    """Shares from a two-venue rank-1 VECM.

    With cointegrating vector (1, -1)' every row of the long-run impact matrix is proportional to alpha_perp'
    (orthogonal to alpha), so: CS_j = alpha_perp_j / sum(alpha_perp); IS_j = ([psi F]_j)^2 / (psi Omega psi') with
    psi = alpha_perp', Omega = sigma_u and F its lower Cholesky factor under each ordering of the venues (the
    largest and smallest per venue are the bounds; the scale of psi cancels).
    ILS_1 = |IL_1| / (|IL_1| + |IL_2|), IL_1 = (IS_1 / IS_2)(CS_2 / CS_1), IS at the bound midpoints (NaN when a
    share is exactly 0: IL is then 0/0).
    CS lies outside [0, 1] when both venues adjust in the same direction (a sign of a mis-specified model).
    """
    alpha = fit.alpha[:, 0]
    if len(alpha) != 2:
        raise ValueError("price-discovery shares here are for two venues")
    orth = np.array([alpha[1], -alpha[0]])
    total = float(orth.sum())
    component = orth / total if total != 0 else np.full(2, np.nan)
    shares = []
    for order in ([0, 1], [1, 0]):
        omega = fit.sigma_u[np.ix_(order, order)]
        psi = orth[order]
        factor = np.linalg.cholesky(omega)
        contribution = (psi @ factor) ** 2
        share = np.empty(2)
        share[order] = contribution / float(psi @ omega @ psi)
        shares.append(share)
    lower = np.minimum(shares[0], shares[1])
    upper = np.maximum(shares[0], shares[1])
    mid = (lower + upper) / 2
    if bool(np.all(mid > 0)) and bool(np.all(component != 0)):
        lead_1 = abs(mid[0] / mid[1] * component[1] / component[0])
        lead_2 = abs(mid[1] / mid[0] * component[0] / component[1])
        leadership = np.array([lead_1, lead_2]) / (lead_1 + lead_2)
    else:
        leadership = np.full(2, np.nan)  # a zero share makes IL a 0/0: undefined
    return PriceDiscoveryShares(lower, upper, component, leadership)
