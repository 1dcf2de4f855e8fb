"""Every write to a vault, one module per flow:

- :mod:`~vaults.services.creation`: a new vault and its allocation;
- :mod:`~vaults.services.deposits`: deposits credited, and reversed after a chain reorganisation;
- :mod:`~vaults.services.manual_credits`: deposits operators credit by hand, two distinct operators each;
- :mod:`~vaults.services.withdrawals`: withdrawal requests and their state moves;
- :mod:`~vaults.services.fees`: management fee settlement, year-end crystallisation, fee collection booked;
- :mod:`~vaults.services.positions`: holdings, manual or read on chain;
- :mod:`~vaults.services.valuation`: market moves, valuations (with :mod:`~vaults.services.onchain`'s balance
  reads), NAV snapshots.

Each runs in one transaction and begins the same way (:mod:`vaults.services.operations`): it locks the vault row
(then accounts, then lots, by id: :mod:`vaults.lock_objects`), fixes its time under the lock and crystallises the
year ends it passes; then it loads the locked rows into the pure fee engine (:class:`fees.core.Vault`), lets the
engine do the operation, and stores exactly what the engine produced (:mod:`vaults.fee_engine_store`).

Units (as the engine's): amounts are ``int`` base units of the vault's asset; shares ``Decimal`` with 18 places;
prices (P, marks) base units per share at 50 places; times aware UTC. Rounding as ``fees.core.numbers``.
An operation the engine refuses raises a :class:`vaults.errors.VaultServiceError` and writes nothing.

This module names the public services of all flows, so a caller can write ``services.vault_deposit_record``.
"""

from vaults.services.creation import allocation_validate, vault_create
from vaults.services.deposits import DepositResult, vault_deposit_record, vault_deposit_reverse
from vaults.services.fees import vault_fee_collection_book, vault_fees_crystallise_year_end, vault_fees_settle
from vaults.services.manual_credits import (
    ManualCreditResult,
    manual_credit_approve,
    manual_credit_reject,
    manual_credit_request,
)
from vaults.services.positions import position_onchain_set, position_set
from vaults.services.valuation import vault_nav_snapshot, vault_return_record, vault_valuation_record
from vaults.services.withdrawals import WITHDRAWAL_TRANSITIONS, vault_withdrawal_request, withdrawal_transition

__all__ = [
    "WITHDRAWAL_TRANSITIONS",
    "DepositResult",
    "ManualCreditResult",
    "allocation_validate",
    "manual_credit_approve",
    "manual_credit_reject",
    "manual_credit_request",
    "position_onchain_set",
    "position_set",
    "vault_create",
    "vault_deposit_record",
    "vault_deposit_reverse",
    "vault_fee_collection_book",
    "vault_fees_crystallise_year_end",
    "vault_fees_settle",
    "vault_nav_snapshot",
    "vault_return_record",
    "vault_valuation_record",
    "vault_withdrawal_request",
    "withdrawal_transition",
]
