"""Lead-lag analysis: which venue leads a market's price, by how much, how surely, and since when.

Pure modules (numpy, scipy, statsmodels; no Django): :mod:`.alignment` (grid, log returns), :mod:`.estimators`
(lagged cross-correlation, Hayashi-Yoshida), :mod:`.discovery` (Granger, VECM price-discovery shares),
:mod:`.analysis` (pairs, rolling windows, verdict, JSON report), :mod:`.markets` (which market on which venue),
:mod:`.verdict_text` (verdicts in words). The Django side is the app's: ``marketdata.selectors`` (a COPY read into
numpy, stored runs) and ``marketdata.services`` (runs, stored results).

Lag sign convention everywhere: for a pair (a, b), a positive lag means **a leads b** (b's price at t repeats a's
at t - lag). Times are integer milliseconds UTC; lags are reported in seconds.
"""
