"""Async REST clients for the venues: rate limits honoured before sending, retries for transport faults only."""
