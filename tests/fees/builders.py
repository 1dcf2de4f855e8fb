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
        assert vault.ledger_fee_shares() - vault.fee_collected_shares() == vault.fee_account_shares
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


# Issue 5's example scenario (fees.simulation.EXAMPLE_SCENARIO) run to its end. A deposits 1,000,000 base units
# (1,000,000 shares at P = 1); +20% at exactly half a year; B deposits at P = 1.2 · 0.99^0.5; the year end
# crystallises A's lot at P = 1.188 (fee 5% · 1e6 · 0.188 = 9400 = 7912.457912457912457912 shares), B's lot is
# below its mark; A withdraws 40,000 shares at 1.188 · 0.99^(59/365) (below A's new mark: no fee).
EXAMPLE_RESULT = {
    "nav_per_share": "1.18212706484806521329332055492193347932625885115177",
    "management_fee_total": "21632.68748937902413581553371335776053094919611811816935",
    "performance_fee_total": "9400.0000000000000000000594000000000000000000000594",
    "depositors": {
        "A": {
            "shares": "952087.542087542087542088",
            "value": "1125488",
            "net_value": "1125488",
            "management_fee": "16666.76256841169904143315170333175060910386577459996889",
            "performance_fee": "9400.0000000000000000000594000000000000000000000594",
            "paid_out": "47442",
        },
        "B": {
            "shares": "418765.756358005031453905",
            "value": "495034",
            "net_value": "495034",
            "management_fee": "4965.92492096732509438238201002600992184533034351820045",
            "performance_fee": "0",
            "paid_out": "0",
        },
    },
}
