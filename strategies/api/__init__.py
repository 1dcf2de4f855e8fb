"""The strategies REST API: registered strategies, backtest runs with their trades, NAV series and refusals."""
