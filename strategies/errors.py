"""The errors the strategy services raise: bad input to a run (nothing stored) and a run that failed (marked failed),
for backtests, paper runs and studies alike.

Each carries a stable ``code`` and, where it is about one input, ``fields`` (the API's common error format).
"""

from __future__ import annotations

from hftplatform.errors import ServiceError


class StrategyError(ServiceError):
    """A strategy run that cannot be created as asked; nothing was stored."""

    code = "strategy_invalid"


class StrategyUnknown(StrategyError):
    """No registered strategy of that name."""

    code = "strategy_unknown"


class StrategyParameterInvalid(StrategyError):
    """An unknown parameter, a value of the wrong type or out of range, or a leader/follower that cannot be had."""

    code = "strategy_parameter_invalid"


class StrategyMarketUnknown(StrategyError):
    """An unknown venue, a symbol with no instrument on a venue, or an unusable interval."""

    code = "strategy_market_unknown"


class StrategyNoCandles(StrategyError):
    """A venue with no closed candles in the window."""

    code = "strategy_no_candles"


class StrategyWindowInvalid(StrategyError):
    """A window whose end is not after its start."""

    code = "strategy_window_invalid"


class StrategyCashInvalid(StrategyError):
    """Starting cash that is not a positive decimal."""

    code = "strategy_cash_invalid"


class StrategyCostInvalid(StrategyError):
    """A cost model or risk limits that cannot be used: an unknown fee model, negative slippage or latency."""

    code = "strategy_cost_invalid"


class StrategyTooManyRuns(StrategyError):
    """A user already has as many backtests queued or running as one may at once."""

    code = "strategy_too_many_runs"
    http_status = 429


class StrategyPaperError(StrategyError):
    """A paper run that cannot start (bad strategy, parameters, markets, cash or costs) or step (a stored state or
    data the engine refuses); the message says why, and nothing was stored."""

    code = "strategy_paper_invalid"


class StrategySweepError(StrategyError):
    """Bad input for a sweep or walk-forward study (nothing stored), or a study that cannot run on its data
    (recorded on it)."""

    code = "strategy_sweep_invalid"


class StrategyRunFailed(StrategyError):
    """A run that failed while executing; it is marked failed with this message and stores no partial ledger."""

    code = "strategy_run_failed"
    http_status = 409
