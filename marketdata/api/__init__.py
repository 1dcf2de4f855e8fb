"""Market data over the REST API (public): klines and markets with coverage."""
