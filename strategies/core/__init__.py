"""The strategy engine's pure core: markets and bars, intents, parameters, portfolio and ledger, costs, risk, engine."""
