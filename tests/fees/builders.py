"""Shared test vocabulary for the fee engine: a fixed start, instants by seconds, state snapshots."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

from fees.core import Vault
from fees.core.numbers import FEE_CONTEXT

T0 = datetime(2025, 1, 1, tzinfo=UTC)
YEAR = 31_536_000
HALF_YEAR = YEAR // 2


def at(seconds: int | float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def vault_with(*deposits: tuple[str, int]) -> Vault:
    """A vault started at T0 with the given (depositor, base units) deposits at T0."""
    vault = Vault(started_at=T0)
    for depositor, amount in deposits:
        vault.deposit(at=T0, depositor=depositor, amount=amount)
    return vault


def snapshot(vault: Vault) -> dict[str, Any]:
    """Everything a refused operation must leave as it was."""
    return copy.deepcopy(vault.__dict__)


def exact_value(vault: Vault, depositor: str) -> Decimal:
    """shares · P, not rounded."""
    with localcontext(FEE_CONTEXT):
        return vault.accounts[depositor].shares * vault.price()


def check_invariants(vault: Vault) -> None:
    """Ledger reconciliation and share conservation, exactly."""
    with localcontext(FEE_CONTEXT):
        assert vault.ledger_fee_shares() == vault.fee_account_shares
        lot_shares = sum((lot.shares for lot in vault.lots.values()), Decimal(0))
        assert lot_shares + vault.fee_account_shares == vault.shares_outstanding
        for account in vault.accounts.values():
            assert account.shares == sum((vault.lots[i].shares for i in account.lot_ids), Decimal(0))
        positions = [vault.position(name) for name in vault.accounts]
        assert sum((p.management_fee for p in positions), Decimal(0)) == vault.management_fee_total()
        assert sum((p.performance_fee for p in positions), Decimal(0)) == vault.performance_fee_total()
        for row in vault.ledger:
            assert row.fee_value >= 0
            assert row.fee_shares >= 0
            if row.kind == "performance":
                assert row.price > row.hwm_before
                assert row.hwm_after >= row.hwm_before
