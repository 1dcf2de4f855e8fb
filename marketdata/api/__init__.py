"""Market data over the REST API: klines and markets with coverage (public), lead-lag runs (GET public, POST
signed in)."""
