"""Every write of the custody flow, one module per flow:

- :mod:`~vaults.custody.services.proposals`: withdrawal proposals (the depositor's request and the SafeTx paying
  it), operators' Safe operations, operator approvals and rejections, cancellation;
- :mod:`~vaults.custody.services.signatures`: the depositor's wallet signatures, the policy co-signer's, the other
  Safe owners';
- :mod:`~vaults.custody.services.execution`: execution on chain and its outcome;
- :mod:`~vaults.custody.services.destinations`: where a withdrawal may be paid, and the registration of
  destinations that are not linked wallets;
- :mod:`~vaults.custody.services.recoveries`: co-signer recoveries announced on a Safe's guard, mirrored for the
  vault's public page;
- :mod:`~vaults.custody.services.call_policies`: a vault Safe's contract-call policy (what trades and unwinds may
  call, allowances, value-loss tolerance) and what co-signed calls use of it;
- :mod:`~vaults.custody.services.reconciliation`: the books against the Safe's balance on chain (a read).

The steps they share (the proposal row locked, its conditional state moves, the step's time, the chain client)
are :mod:`vaults.custody.services.proposal_steps`'s.

Lock order, inside one transaction (:mod:`vaults.lock_objects`): the vault Safe row when the step needs it
(allocating a nonce at co-signing, co-signing a trade or unwind against the Safe's call policy), then the withdrawal
row, then the proposal row — every step takes them through
:func:`~vaults.custody.services.proposal_steps.proposal_locked`, a new proposal in the same order. State moves are
conditional updates (``UPDATE ... WHERE state = <expected>``): a concurrent move makes the later one fail instead of
overwriting it. Slow I/O (RPC) never runs inside a transaction; the one write that must precede I/O — the signed
chain transaction — is committed on its own before it is broadcast
(:class:`~vaults.custody.services.execution.ProposalSubmissionStore`).

Units: amounts are ``int`` base units of the vault asset (``value`` wei); deadlines Unix seconds; times aware UTC.
Every refusal raises a :class:`vaults.custody.errors.CustodyError` (a :class:`~hftplatform.errors.ServiceError` with
a stable ``code``) and changes nothing, except where a proposal can no longer succeed (an expired request, a policy
refusal, a failed or invalidated execution): then the proposal is closed with its reason, committed, and the error
raised after.

This module names the public services of all flows, so a caller can write ``services.proposal_execute``.
"""

from vaults.custody.services.call_policies import call_usage_record, safe_call_policy_set
from vaults.custody.services.destinations import withdrawal_destination_check, withdrawal_destination_register
from vaults.custody.services.execution import (
    ProposalSubmissionStore,
    execution_outcome_record,
    proposal_execute,
    relayer_account,
)
from vaults.custody.services.proposals import (
    custody_withdrawal_request,
    nonce_invalidation_propose,
    operation_proposal_create,
    operator_approval_add,
    proposal_cancel,
    withdrawal_proposal_create,
)
from vaults.custody.services.reconciliation import SafeReconciliation, safe_books_reconcile, safes_books_reconcile
from vaults.custody.services.recoveries import RecoverySync, vault_safe_recoveries_sync
from vaults.custody.services.signatures import (
    depositor_signature_add,
    owner_signature_add,
    proposal_cosign,
    signature_parse,
)

__all__ = [
    "ProposalSubmissionStore",
    "RecoverySync",
    "SafeReconciliation",
    "call_usage_record",
    "custody_withdrawal_request",
    "depositor_signature_add",
    "execution_outcome_record",
    "nonce_invalidation_propose",
    "operation_proposal_create",
    "operator_approval_add",
    "owner_signature_add",
    "proposal_cancel",
    "proposal_cosign",
    "proposal_execute",
    "relayer_account",
    "safe_books_reconcile",
    "safe_call_policy_set",
    "safes_books_reconcile",
    "signature_parse",
    "vault_safe_recoveries_sync",
    "withdrawal_destination_check",
    "withdrawal_destination_register",
    "withdrawal_proposal_create",
]
