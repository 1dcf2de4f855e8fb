"""The pure fee engine: exact decimal numbers, lots with high-water marks, the fee ledger. No Django.

The 1-and-5 fee model. Depositors pay 1 % a year on assets under management and 5 % of the gains above their own
high-water mark. These rules fix every choice, so the numbers are the same in the engine, the statements, the fee
calculator and the public performance pages; the tests in ``tests/fees/`` hold the engine to them.

Units
    A year is 365 days = 31,536,000 s; fee time is exact seconds, in years ``Decimal(seconds) / 31536000``. All
    fee math is ``Decimal`` with at least 40 significant digits (:data:`fees.core.numbers.FEE_CONTEXT`). Shares
    have 18 decimal places; asset amounts the asset's own decimals (USDC 6, WETH 18). Shares minted to a
    depositor, assets paid out and fees charged are each rounded **down** to their unit (in the depositor's
    favour for fees, the vault's for shares).

Management fee (1 %/year, continuous)
    Over ``dt`` years with no flows the fee keeps the vault's value multiplied by ``K(dt) = 0.99 ** dt``: one year
    takes exactly 1.00 %, and many small accruals equal one (path independent; linear or ``exp(-0.01·dt)``
    conventions are wrong here). It is charged by minting ``S · (0.99 ** -dt - 1)`` shares to the platform's fee
    account, ``S`` being all shares outstanding (the fee account's included, so every share has one price).
    ``P = value / shares outstanding`` is the one public NAV per share: net of the management fee, gross of
    performance fees (those are per depositor). The fee is settled, on the value just before the event, before
    every deposit, withdrawal, crystallisation and NAV publication.

Lots and the performance fee (5 % above a per-lot high-water mark)
    Every deposit opens a lot of ``amount / P`` shares with ``hwm = P``; lots are never merged or averaged. A lot's
    accrued performance fee is ``F = 0.05 · shares · max(0, P - hwm)``; a depositor's net value is
    ``Σ (shares · P - F)`` over their lots (statements and private performance show it; the public page shows
    ``P``). No hurdle, no clawback: a fee charged is never returned after a later loss.

Crystallisation
    On a withdrawal, for the withdrawn shares only, and at each calendar year end (UTC) for every lot. The fee
    ``F`` moves ``F / P`` shares from the lot to the fee account; if a fee was charged, the lot's remaining shares
    get ``hwm = P`` (a mark never goes down). Withdrawing ``n`` shares from a lot pays
    ``n · P - 0.05 · n · max(0, P - hwm)``; the rest of the lot keeps its mark. Withdrawals take the oldest lots
    first unless the request names one.

Fee collection
    Fees leave the vault when the platform collects them (a Safe transfer to its fee address): ``amount`` base units
    leave the vault's value and the fee account's shares worth it at ``P``, ``amount / P`` rounded up to the share
    unit (so ``P`` never falls for the depositors), are burned. The fee account's shares are then the ledger's fee
    shares less the shares collections burned.

Order at one instant
    1. settle the management fee up to now on the value before the event (→ ``P``); 2. crystallise what must
    crystallise at ``P``; 3. apply the deposit or withdrawal at ``P``.

Worked examples (reproduced exactly by ``tests/fees/test_worked_examples.py``)
    - 1,000,000 deposited, flat market, one year: NAV 990,000.00, management fee 10,000.00.
    - Half a year on 1,000,000: fee ``5012.562893380045265520178998793994821873436…``; two half-years give exactly
      990,000 (a linear method would give 990,025).
    - 100,000 shares at P = 1, +20 % gross over one year, crystallised at the year end: ``P = 1.188``, performance
      fee 940.00 = 791.2457912457912457… shares; the depositor keeps 99,208.754208754208754208… shares worth
      117,860.00, with a new mark of 1.188.

Properties (``tests/fees/test_properties.py``)
    Fees are never negative; a mark never decreases; no performance fee while ``P ≤ hwm``; one depositor's flows
    never change another's value; splitting an accrual interval, or a withdrawal at the same ``P``, changes no
    total.
"""

from fees.core.vault import (
    DepositFlow,
    DepositorAccount,
    DepositReversalError,
    DepositReversalFlow,
    FeeCollectionError,
    FeeCollectionFlow,
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
    "DepositReversalError",
    "DepositReversalFlow",
    "DepositorAccount",
    "FeeCollectionError",
    "FeeCollectionFlow",
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
