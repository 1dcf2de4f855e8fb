"""The strategy engine's pure core (no Django): markets and bars, intents, parameters, portfolio and ledger, costs,
risk, engine, metrics."""
