"""Every write of strategies, one module per flow:

- :mod:`~strategies.services.paper`: paper runs started, stepped, stopped;
- :mod:`~strategies.services.backtest`: backtest runs created (every input checked first) and executed, their
  ledger, refusals, NAV points and result stored in one transaction;
- :mod:`~strategies.services.sweeps`: parameter sweeps and walk-forward studies, a chunk at a time;
- :mod:`~strategies.services.inputs`: the inputs they share (cost model, risk limits), parsed.

This module names the public services, so a caller can write ``services.strategy_run_create``.
"""

from strategies.services.backtest import RunProgress, strategy_run_create, strategy_run_execute
from strategies.services.inputs import cost_model_parse, risk_limits_parse

__all__ = [
    "RunProgress",
    "cost_model_parse",
    "risk_limits_parse",
    "strategy_run_create",
    "strategy_run_execute",
]
