"""The pure fee engine (FEES.md): exact decimal numbers, lots with high-water marks, the fee ledger. No Django."""

from fees.core.vault import (
    DepositFlow,
    DepositorAccount,
    FeeLedgerRow,
    InsufficientSharesError,
    Lot,
    ManagementAccrual,
    PerformanceCrystallisation,
    Position,
    UnknownDepositorError,
    Vault,
    VaultError,
    Withdrawal,
    WithdrawalFlow,
    performance_charge,
    withdrawal_quote,
)

__all__ = [
    "DepositFlow",
    "DepositorAccount",
    "FeeLedgerRow",
    "InsufficientSharesError",
    "Lot",
    "ManagementAccrual",
    "PerformanceCrystallisation",
    "Position",
    "UnknownDepositorError",
    "Vault",
    "VaultError",
    "Withdrawal",
    "WithdrawalFlow",
    "performance_charge",
    "withdrawal_quote",
]
