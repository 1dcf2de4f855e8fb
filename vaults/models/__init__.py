"""Vault state, one module per concern:

- :mod:`~vaults.models.vault`: the vault and its fee state, depositor accounts, lots, the event log, NAV snapshots;
- :mod:`~vaults.models.flows`: deposits (and the operators' manual credits) and withdrawals;
- :mod:`~vaults.models.positions`: positions and valuations;
- :mod:`~vaults.models.fee_ledger`: the fee ledger, as the fee engine (:mod:`fees.core`) produced it;
- :mod:`~vaults.models.custody`: the vault's Safe, on-chain transfers, proposals, signatures, destinations, the
  contract-call policy of trades and unwinds and what co-signed calls used of it.

Every number of the fee engine is stored exactly in an unconstrained ``NUMERIC``
(:class:`hftplatform.fields.ExactNumericField`): asset amounts as whole base units, shares at 18 places, prices and
fee values at the engine's own scale. Nothing here is written except by the vaults services (:mod:`vaults.services`
and :mod:`vaults.custody.services`), under the row locks of :mod:`vaults.lock_objects`.
"""

from vaults.models.custody import (
    ChainTransfer,
    CosignerRecovery,
    DepositScanCursor,
    OperatorApproval,
    ProposalSignature,
    SafeCallPolicy,
    SafeCallUsage,
    SafeProposal,
    VaultSafe,
    WithdrawalDestination,
)
from vaults.models.fee_ledger import FeeCollection, FeeLedgerEntry
from vaults.models.flows import Deposit, ManualCredit, Withdrawal, WithdrawalPart
from vaults.models.positions import Position, Valuation
from vaults.models.vault import Lot, NavSnapshot, Vault, VaultAccount, VaultEvent

__all__ = [
    "ChainTransfer",
    "CosignerRecovery",
    "Deposit",
    "DepositScanCursor",
    "FeeCollection",
    "FeeLedgerEntry",
    "Lot",
    "ManualCredit",
    "NavSnapshot",
    "OperatorApproval",
    "Position",
    "ProposalSignature",
    "SafeCallPolicy",
    "SafeCallUsage",
    "SafeProposal",
    "Valuation",
    "Vault",
    "VaultAccount",
    "VaultEvent",
    "VaultSafe",
    "Withdrawal",
    "WithdrawalDestination",
    "WithdrawalPart",
]
