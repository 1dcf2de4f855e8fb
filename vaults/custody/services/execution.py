"""Execution of a signed proposal on chain, at most once: the chain transaction is recorded (committed) before it is
broadcast (:class:`ProposalSubmissionStore`), and the outcome — executed, failed, or waiting for the chain — is
stored after."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from vaults.custody.chain import ExecutionOutcome, ProposalExecutor, Submission, safe_owners, safe_threshold
from vaults.custody.errors import CustodyError, CustodyUnavailableError, ProposalNotFoundError, ProposalStateError
from vaults.custody.policy import OperationKind
from vaults.custody.safe_tx import OwnerSignature, SafeTxError, signatures_pack
from vaults.custody.selectors import proposal_safe_tx
from vaults.custody.services.proposal_steps import (
    hex_text,
    proposal_close,
    proposal_cosigned,
    proposal_locked,
    proposal_move,
    proposal_note,
    proposal_reload,
    safe_web3,
    step_time,
)
from vaults.custody.services.proposals import nonce_invalidation_propose
from vaults.custody.services.signatures import proposal_cosign_if_configured
from vaults.errors import VaultServiceError
from vaults.models import ProposalSignature, SafeProposal, VaultSafe, Withdrawal
from vaults.services.fees import vault_fee_collection_book
from vaults.services.operations import vault_locked
from vaults.services.withdrawals import withdrawal_transition

# Refusals that time or the chain will lift: the proposal keeps its state and says why it waits.
WAITING_EXECUTION_CODES = frozenset({"nonce_future", "wrong_chain", "rebroadcast_failed"})
S = SafeProposal.State


class ProposalSubmissionStore:
    """The :class:`~vaults.custody.chain.SubmissionStore` of one proposal, backed by its row: recording commits the
    chain transaction and moves the proposal ``signed`` → ``submitted`` in one conditional update, before the
    executor broadcasts anything (so two executors cannot both send, and a crash always finds what was sent)."""

    def __init__(self, proposal_id: int) -> None:
        self.proposal_id = proposal_id

    def submission_get(self, safe_tx_hash: bytes) -> Submission | None:
        row = (
            SafeProposal.objects.filter(pk=self.proposal_id, safe_tx_hash=hex_text(safe_tx_hash))
            .values_list("submission_tx_hash", "submission_raw")
            .first()
        )
        if row is None or row[0] is None:
            return None
        return Submission(
            safe_tx_hash=safe_tx_hash, tx_hash=bytes.fromhex(row[0][2:]), raw_transaction=bytes.fromhex(row[1][2:])
        )

    def submission_record(self, submission: Submission) -> None:
        now = timezone.now()
        with transaction.atomic():
            recorded = SafeProposal.objects.filter(
                pk=self.proposal_id, state=S.SIGNED, submission_tx_hash__isnull=True
            ).update(
                state=S.SUBMITTED,
                submission_tx_hash=hex_text(submission.tx_hash),
                submission_raw=hex_text(submission.raw_transaction),
                submitted_at=now,
                updated_at=now,
            )
        if recorded != 1:
            raise ProposalStateError(
                f"proposal {self.proposal_id} was submitted or closed by someone else: nothing sent",
                code="submission_conflict",
            )


def relayer_account() -> LocalAccount:
    """The relayer that pays gas for ``execTransaction`` (``HFT_SAFE_RELAYER_KEY``); it is no Safe owner."""
    key = settings.HFT_SAFE_RELAYER_KEY
    if not key:
        raise CustodyUnavailableError("HFT_SAFE_RELAYER_KEY is not set: no account to send Safe transactions")
    try:
        account: LocalAccount = Account.from_key(key)
    except (ValueError, TypeError):
        raise CustodyUnavailableError("HFT_SAFE_RELAYER_KEY is not a valid private key") from None
    return account


def proposal_execute(
    *,
    proposal_id: int,
    sender: LocalAccount,
    w3: Web3 | None = None,
    store: ProposalSubmissionStore | None = None,
) -> SafeProposal:
    """Execute a ``signed`` proposal on chain, at most once, with ``sender`` paying gas.

    The owner signatures are packed in owner order; :class:`~vaults.custody.chain.ProposalExecutor` checks them
    and the Safe nonce, signs the chain transaction and records it through :class:`ProposalSubmissionStore`
    (committed) before broadcasting. Outcome: ``executed`` (a withdrawal becomes ``paid`` with the transaction
    hash; a fee collection is booked), ``failed`` with the reason (reverted on chain, or invalidated: the nonce was
    taken by another transaction, which only the absence of this SafeTx's ``ExecutionSuccess``/``ExecutionFailure``
    among the Safe's events since ``signed_block`` decides — a missing receipt never does; a withdrawal goes back to
    awaiting signatures), or unchanged with a note when the chain is not ready (an earlier nonce pending).
    Idempotent: a ``submitted`` proposal (a retry, or a process that crashed after recording) resumes from its
    stored transaction, never sending a second one; a closed one is returned as it is. Must run outside any
    transaction: the record has to be committed before the broadcast.
    """
    if connection.in_atomic_block:
        raise CustodyError(
            "proposal_execute must run outside a transaction: the submission is committed before broadcasting",
            code="in_transaction",
        )
    proposal = proposal_reload(proposal_id) if SafeProposal.objects.filter(pk=proposal_id).exists() else None
    if proposal is None:
        raise ProposalNotFoundError(f"no proposal {proposal_id}")
    if proposal.state in (S.EXECUTED, S.FAILED, S.CANCELLED):
        return proposal
    if proposal.state not in (S.SIGNED, S.SUBMITTED):
        raise ProposalStateError(f"proposal {proposal.pk} is {proposal.state}: only a signed proposal is executed")
    safe = proposal.safe
    tx = proposal_safe_tx(proposal)
    digest = bytes.fromhex(proposal.safe_tx_hash[2:])
    owner_signatures = [
        OwnerSignature(owner=s.signer, signature=bytes.fromhex(s.signature[2:]))
        for s in proposal.signatures.filter(kind=ProposalSignature.Kind.OWNER)
    ]
    try:
        packed = signatures_pack(digest, owner_signatures, owners=safe.owners)
    except SafeTxError as error:
        raise CustodyError(str(error), code=error.code) from None
    w3 = safe_web3(safe, w3)
    executor = ProposalExecutor(
        w3,
        chain_id=safe.chain_id,
        safe_address=safe.address,
        sender=sender,
        store=store or ProposalSubmissionStore(proposal.pk),
        logs_from_block=safe.deployed_block if proposal.signed_block is None else proposal.signed_block,
    )
    outcome = executor.execute(tx, packed)
    if outcome.status == "executed" and proposal.kind == OperationKind.CONTROL_CHANGE:
        owners, threshold = safe_owners(w3, safe.address), safe_threshold(w3, safe.address)
        VaultSafe.objects.filter(pk=safe.pk).update(owners=owners, threshold=threshold)
    return execution_outcome_record(proposal_id=proposal.pk, outcome=outcome)


def _fee_collection_book(proposal: SafeProposal, vault_id: int, now: datetime) -> None:
    """The fee collection left the Safe: book it (cash and the fee account's shares, exactly). Should the books
    refuse it (the fee account's shares now worth less than the amount), the transfer still happened: the proposal
    stays executed and says so, and the reconciliation shows the difference for an operator."""
    assert proposal.amount is not None
    try:
        with transaction.atomic():
            vault_fee_collection_book(vault_id=vault_id, proposal_id=proposal.pk, amount=int(proposal.amount))
    except VaultServiceError as error:
        proposal_note(proposal.pk, code="fee_booking_refused", reason=f"executed, but not booked: {error.message}")


def execution_outcome_record(
    *, proposal_id: int, outcome: ExecutionOutcome, now: datetime | None = None
) -> SafeProposal:
    """Store what the executor reported (see :func:`proposal_execute`); recording the same outcome twice is a no-op.

    An executed fee collection is booked in the same transaction (:func:`vaults.services.vault_fee_collection_book`:
    the vault row locked first). A proposal refused unsent after the co-signer signed it gets a nonce invalidation
    (:func:`~vaults.custody.services.proposals.nonce_invalidation_propose`), co-signed after the commit."""
    now = step_time(now)
    invalidation: SafeProposal | None = None
    found = SafeProposal.objects.filter(pk=proposal_id).values_list("kind", "safe__vault_id").first()
    if found is None:
        raise ProposalNotFoundError(f"no proposal {proposal_id}")
    kind, vault_id = found
    with transaction.atomic():
        if outcome.status == "executed" and kind == OperationKind.FEE_COLLECTION:
            vault_locked(vault_id)  # the lock order: the vault before the custody rows (vaults.lock_objects)
        proposal = proposal_locked(proposal_id)
        if proposal.state in (S.EXECUTED, S.FAILED, S.CANCELLED):
            return proposal_reload(proposal_id)
        if outcome.status == "executed":
            assert outcome.tx_hash is not None
            proposal_move(proposal, S.EXECUTED, closed_at=now, state_code="", state_reason="", updated_at=now)
            if kind == OperationKind.FEE_COLLECTION:
                _fee_collection_book(proposal, vault_id, now)
            if proposal.withdrawal_id is not None:
                withdrawal_transition(
                    withdrawal_id=proposal.withdrawal_id,
                    from_state=Withdrawal.State.IN_CUSTODY,
                    to_state=Withdrawal.State.PAID,
                    values={
                        "paid_tx_hash": hex_text(outcome.tx_hash),
                        "paid_at": now,
                        "state_code": "",
                        "state_reason": "",
                    },
                )
        elif outcome.status == "refused" and outcome.code in WAITING_EXECUTION_CODES:
            proposal_note(proposal.pk, code=outcome.code, reason=outcome.reason)
        else:
            proposal_close(proposal, state=S.FAILED, code=outcome.code, reason=outcome.reason, now=now)
            # Refused unsent, its nonce unused: its signatures could still execute one day. Use the nonce up.
            if (
                outcome.status == "refused"
                and proposal.kind != OperationKind.NONCE_INVALIDATION
                and proposal_cosigned(proposal)
            ):
                invalidation = nonce_invalidation_propose(proposal, proposer_id=proposal.proposer_id, now=now)
    if invalidation is not None:
        proposal_cosign_if_configured(invalidation.pk, now=now, cosigner=None)
    return proposal_reload(proposal_id)
