"""Backtests as the tests create them: ``leadlag`` on the hand-made candles of :mod:`tests.strategies.conftest`
(Binance leads, Bybit follows, no fees), and the rows a run stores, counted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from strategies.models import StrategyLedgerEntry, StrategyNavPoint, StrategyRefusal, StrategyRun

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 1, 2, tzinfo=UTC)


def leadlag_inputs(**overrides: Any) -> dict[str, Any]:
    """``strategy_run_create``'s keyword arguments for the day of the hand-made candles, with ``overrides``."""
    inputs: dict[str, Any] = {
        "strategy": "leadlag",
        "exchanges": ["binance", "bybit"],
        "symbol": "BTC/USDT",
        "interval": "1m",
        "start": START,
        "end": END,
        "parameters": {"leader": "binance", "follower": "bybit", "hold_bars": "2"},
        "cash": "10000",
        "fee_model": "zero",
    }
    inputs.update(overrides)
    return inputs


def rows() -> tuple[int, int, int, int]:
    """How many runs, ledger entries, NAV points and refusals are stored."""
    return (
        StrategyRun.objects.count(),
        StrategyLedgerEntry.objects.count(),
        StrategyNavPoint.objects.count(),
        StrategyRefusal.objects.count(),
    )
