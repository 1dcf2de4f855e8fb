"""Every write of strategies, one module per flow:

- :mod:`~strategies.services.paper`: paper runs started, stepped, stopped;
- :mod:`~strategies.services.backtest`: backtest runs created (every input checked first) and executed, their
  ledger, refusals, NAV points and result stored in one transaction.

This module names the public services, so a caller can write ``services.strategy_run_create``.
"""

from strategies.services.backtest import (
    RunProgress,
    cost_model_parse,
    risk_limits_parse,
    strategy_run_create,
    strategy_run_execute,
)

__all__ = [
    "RunProgress",
    "cost_model_parse",
    "risk_limits_parse",
    "strategy_run_create",
    "strategy_run_execute",
]
