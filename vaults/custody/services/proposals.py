"""Proposals and their life before signing: a withdrawal paid through the vault's Safe (the depositor's request and
the SafeTx paying it, at the next free Safe nonce), an operator's Safe operation, operator approvals and
rejections, and cancellation before submission."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from web3 import Web3

from accounts.models import User
from accounts.selectors import OPERATOR_ROLE_SEASONING, operator_is_seasoned
from vaults.custody import selectors
from vaults.custody.calls import erc20_transfer_data, erc20_transfer_decode
from vaults.custody.chain import SafeExecution, safe_execution_find, safe_nonce
from vaults.custody.cosigner import PolicyCosigner
from vaults.custody.errors import CustodyError, CustodyForbiddenError, ProposalNotFoundError, ProposalStateError
from vaults.custody.policy import POLICY_RULES, OperationKind
from vaults.custody.safe_tx import SafeTx, SafeTxError, safe_tx_hash
from vaults.custody.services.destinations import withdrawal_destination_check
from vaults.custody.services.proposal_steps import (
    hex_text,
    proposal_close,
    proposal_cosigned,
    proposal_locked,
    proposal_move,
    proposal_reload,
    safe_chain_read,
    safe_nonce_provisional,
    safe_web3,
    step_time,
)
from vaults.custody.services.signatures import proposal_cosign_if_configured
from vaults.custody.withdrawal_request import WithdrawalRequest, WithdrawalRequestError, withdrawal_request_hash
from vaults.lock_objects import safe_lock, withdrawal_lock
from vaults.models import OperatorApproval, ProposalSignature, SafeProposal, VaultSafe, Withdrawal
from vaults.services.withdrawals import vault_withdrawal_request, withdrawal_transition

DEADLINE_MAX = timedelta(days=7)
OPERATOR_KINDS = frozenset(
    {
        OperationKind.STRATEGY_TRADE,
        OperationKind.FEE_COLLECTION,
        OperationKind.CONTROL_CHANGE,
        OperationKind.EMERGENCY_UNWIND,
    }
)
S = SafeProposal.State


def custody_withdrawal_request(
    *,
    vault_id: int,
    depositor_id: int,
    destination: str,
    deadline: datetime,
    shares: Decimal | None = None,
    amount: int | None = None,
    lot_id: int | None = None,
    idempotency_key: str | None = None,
) -> SafeProposal:
    """A withdrawal paid through the vault's Safe: the destination is checked first (a request to an address that
    can never be paid burns no shares), then the withdrawal is requested (fees crystallised, payout fixed and
    reserved: :func:`vaults.services.withdrawals.vault_withdrawal_request`) and its proposal created. These are two
    transactions, the chain's Safe nonce being read in between: if the second fails (the chain unreachable), the
    withdrawal waits in ``awaiting_signatures`` and :func:`withdrawal_proposal_create` proposes it again."""
    safe = VaultSafe.objects.filter(vault_id=vault_id).first()
    if safe is None:
        raise CustodyError(f"vault {vault_id} has no Safe yet", code="vault_without_safe")
    withdrawal_destination_check(depositor_id=depositor_id, chain_id=safe.chain_id, destination=destination)
    withdrawal = vault_withdrawal_request(
        vault_id=vault_id,
        depositor_id=depositor_id,
        shares=shares,
        amount=amount,
        lot_id=lot_id,
        idempotency_key=idempotency_key,
    )
    return withdrawal_proposal_create(withdrawal_id=withdrawal.pk, destination=destination, deadline=deadline)


def withdrawal_proposal_create(
    *,
    withdrawal_id: int,
    destination: str,
    deadline: datetime,
    now: datetime | None = None,
    w3: Web3 | None = None,
) -> SafeProposal:
    """Propose paying a withdrawal: the ``WithdrawalRequest`` the depositor signs (amount = the withdrawal's fixed
    payout in base units, to ``destination``, valid until ``deadline``, request nonce the next of the depositor's
    for this vault Safe) and the SafeTx ``transfer(destination, payout)`` on the vault asset at the next free Safe
    nonce (max of the chain's nonce, read outside the transaction, and every live proposal's + 1).

    The withdrawal must be ``awaiting_signatures``; a still unsigned (``proposed``) proposal of it is replaced
    (cancelled); one that is further along refuses a new one.
    """
    now = step_time(now)
    try:
        withdrawal = Withdrawal.objects.select_related("vault__safe").get(pk=withdrawal_id)
    except Withdrawal.DoesNotExist:
        raise ProposalNotFoundError(f"no withdrawal {withdrawal_id}") from None
    try:
        safe = withdrawal.vault.safe
    except VaultSafe.DoesNotExist:
        raise CustodyError(f"vault {withdrawal.vault.slug} has no Safe yet", code="vault_without_safe") from None
    address = withdrawal_destination_check(
        depositor_id=withdrawal.depositor_id, chain_id=safe.chain_id, destination=destination
    )
    deadline = step_time(deadline)
    if not now < deadline <= now + DEADLINE_MAX:
        raise CustodyError(
            f"the deadline must be after now and at most {DEADLINE_MAX.days} days ahead",
            code="deadline_invalid",
            fields={"deadline": ["out of range"]},
        )
    payout = int(withdrawal.payout)
    if payout <= 0:
        raise CustodyError("this withdrawal pays nothing", code="payout_zero")
    client, head, onchain = safe_chain_read(safe, w3)  # RPC: before the transaction
    released = _released_nonces_check(withdrawal, safe, client, head, onchain)
    linked = address in selectors.linked_wallets(depositor_id=withdrawal.depositor_id)
    kind = OperationKind.WITHDRAWAL_TO_LINKED_WALLET if linked else OperationKind.WITHDRAWAL_TO_OTHER_ADDRESS
    with transaction.atomic():
        safe = safe_lock(safe_id=safe.pk)
        withdrawal = withdrawal_lock(withdrawal_id=withdrawal_id)
        if withdrawal.state != Withdrawal.State.AWAITING_SIGNATURES:
            raise ProposalStateError(
                f"withdrawal {withdrawal.pk} is {withdrawal.state}, not awaiting signatures", code="withdrawal_state"
            )
        if set(_closed_cosigned(withdrawal).values_list("id", flat=True)) != released:
            raise ProposalStateError(
                f"a proposal of withdrawal {withdrawal.pk} was closed meanwhile: ask again", code="raced"
            )
        for live in (
            SafeProposal.objects.select_for_update()
            .filter(withdrawal=withdrawal, state__in=SafeProposal.LIVE_STATES)
            .order_by("id")
        ):
            if live.state != S.PROPOSED:
                raise ProposalStateError(
                    f"proposal {live.pk} of this withdrawal is {live.state}: cancel it first", code="proposal_live"
                )
            proposal_close(live, state=S.CANCELLED, code="replaced", reason="replaced by a new request", now=now)
        highest = SafeProposal.objects.filter(safe=safe, depositor_id=withdrawal.depositor_id).aggregate(
            n=Max("request_nonce")
        )["n"]
        request_nonce = int(highest) + 1 if highest is not None else 1
        try:
            request = WithdrawalRequest(
                vault=safe.address,
                depositor=withdrawal.depositor_id,
                shares=0,
                amount=payout,
                destination=address,
                nonce=request_nonce,
                deadline=int(deadline.timestamp()),
                chain_id=safe.chain_id,
            )
        except WithdrawalRequestError as error:
            raise CustodyError(str(error), code=error.code) from None
        tx = SafeTx(
            to=safe.asset_contract,
            value=0,
            data=erc20_transfer_data(address, payout),
            operation=0,
            nonce=safe_nonce_provisional(safe, onchain),
        )
        return SafeProposal.objects.create(
            safe=safe,
            kind=kind.value,
            proposer_id=withdrawal.depositor_id,
            **_tx_columns(safe, tx),
            amount=Decimal(payout),
            withdrawal=withdrawal,
            depositor_id=withdrawal.depositor_id,
            request_nonce=Decimal(request.nonce),
            request_deadline=request.deadline,
            request_destination=request.destination,
            request_shares=Decimal(request.shares),
            request_amount=Decimal(request.amount),
            request_hash=hex_text(withdrawal_request_hash(request)),
        )


def _closed_cosigned(withdrawal: Withdrawal) -> Any:
    """The withdrawal's proposals closed (cancelled or failed) after the co-signer signed them."""
    return SafeProposal.objects.filter(
        withdrawal=withdrawal,
        state__in=[S.CANCELLED, S.FAILED],
        signatures__kind=ProposalSignature.Kind.OWNER,
        signatures__signer=withdrawal.vault.safe.cosigner,
    ).distinct()


def _released_nonces_check(withdrawal: Withdrawal, safe: VaultSafe, w3: Web3, head: int, onchain: int) -> set[int]:
    """Refuse a new proposal while an earlier one of this withdrawal that the co-signer signed could still execute:
    its Safe nonce not yet used on chain (a no-op invalidates it: :func:`nonce_invalidation_propose`). If its nonce
    was used by that very SafeTx (someone executed its signatures after it was closed), the withdrawal is paid:
    recorded from the Safe's ``ExecutionSuccess``, and refused. Returns the ids of the closed proposals checked."""
    checked: set[int] = set()
    for old in _closed_cosigned(withdrawal).order_by("id"):
        if int(old.nonce) >= onchain:
            noop = SafeProposal.objects.filter(invalidates=old).values_list("id", flat=True).first()
            raise ProposalStateError(
                f"proposal {old.pk} was signed before it was closed: its Safe nonce {old.nonce} must be used on chain "
                f"first (no-op proposal {noop}), so its signatures can never pay this withdrawal a second time",
                code="nonce_not_invalidated",
            )
        from_block = safe.deployed_block if old.signed_block is None else old.signed_block
        found = safe_execution_find(
            w3, safe.address, bytes.fromhex(old.safe_tx_hash[2:]), from_block=from_block, to_block=head
        )
        if found is not None and found.succeeded:
            _closed_proposal_executed(old.pk, found)
            raise ProposalStateError(
                f"proposal {old.pk} was executed on chain after it was closed (transaction "
                f"{hex_text(found.tx_hash)}): withdrawal {withdrawal.pk} is paid",
                code="withdrawal_paid",
            )
        checked.add(old.pk)
    return checked


def _closed_proposal_executed(proposal_id: int, found: SafeExecution) -> None:
    """Record what the Safe's events show: a closed proposal's SafeTx executed after all; its withdrawal is paid by
    that transaction. Committed on its own."""
    now = step_time(None)
    reason = f"executed on chain after it was closed, in transaction {hex_text(found.tx_hash)}"
    with transaction.atomic():
        proposal = proposal_locked(proposal_id)
        proposal_move(
            proposal, S.EXECUTED, submission_tx_hash=hex_text(found.tx_hash), state_code="executed_after_close",
            state_reason=reason, closed_at=now, updated_at=now,
        )  # fmt: skip
        if proposal.withdrawal_id is not None:
            # Back in custody (its proposal executed after all), and paid: the withdrawal's moves as always.
            withdrawal_transition(
                withdrawal_id=proposal.withdrawal_id,
                from_state=Withdrawal.State.AWAITING_SIGNATURES,
                to_state=Withdrawal.State.IN_CUSTODY,
            )
            withdrawal_transition(
                withdrawal_id=proposal.withdrawal_id,
                from_state=Withdrawal.State.IN_CUSTODY,
                to_state=Withdrawal.State.PAID,
                values={"paid_tx_hash": hex_text(found.tx_hash), "paid_at": now, "state_code": "", "state_reason": ""},
            )


def nonce_invalidation_propose(proposal: SafeProposal, *, proposer_id: int, now: datetime) -> SafeProposal:
    """A no-op Safe transaction (a call to the Safe itself, no data, no value) at the nonce of ``proposal``, which
    the co-signer signed and which was just closed unexecuted: executing the no-op uses that nonce up, so the closed
    proposal's signatures can never execute, and the proposals after it are no longer waiting on a gap. It needs no
    approval (it moves nothing): ``authorised`` at once, then co-signed through the normal flow and signed by an
    operator up to the Safe's threshold. Runs in the caller's transaction, with ``proposal`` locked."""
    safe = proposal.safe
    tx = SafeTx(to=safe.address, value=0, data=b"", operation=0, nonce=int(proposal.nonce))
    return SafeProposal.objects.create(
        safe=safe,
        kind=OperationKind.NONCE_INVALIDATION.value,
        state=S.AUTHORISED,
        proposer_id=proposer_id,
        **_tx_columns(safe, tx),
        invalidates=proposal,
        authorised_at=now,
        state_reason=f"uses up Safe nonce {tx.nonce} of closed proposal {proposal.pk}",
    )


def _tx_columns(safe: VaultSafe, tx: SafeTx) -> dict[str, Any]:
    return {
        "to": tx.to,
        "value": Decimal(tx.value),
        "data": hex_text(tx.data),
        "operation": tx.operation,
        "safe_tx_gas": Decimal(tx.safe_tx_gas),
        "base_gas": Decimal(tx.base_gas),
        "gas_price": Decimal(tx.gas_price),
        "gas_token": tx.gas_token,
        "refund_receiver": tx.refund_receiver,
        "nonce": Decimal(tx.nonce),
        "safe_tx_hash": hex_text(safe_tx_hash(safe.chain_id, safe.address, tx)),
    }


def _operator(user_id: int) -> User:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.is_staff:
        raise CustodyForbiddenError("only operators may do this", code="operators_only")
    return user


def operation_proposal_create(
    *,
    vault_id: int,
    kind: str,
    to: str,
    data: bytes,
    proposer_id: int,
    value: int = 0,
    operation: int = 0,
    now: datetime | None = None,
    w3: Web3 | None = None,
) -> SafeProposal:
    """An operator proposes a strategy trade, fee collection, control change or emergency unwind of the vault's
    Safe. A control change is announced on the vault's public page from now (``announced_at``): the co-signer
    signs it 72 h later at the earliest. The policy is the co-signer's to apply, at co-signing; nothing about the
    call is trusted from the proposer."""
    now = step_time(now)
    _operator(proposer_id)
    try:
        operation_kind = OperationKind(kind)
    except ValueError:
        raise CustodyError(f"unknown operation kind {kind!r}", code="kind_invalid") from None
    if operation_kind not in OPERATOR_KINDS:
        raise CustodyError("withdrawals are proposed by their depositor", code="kind_invalid")
    safe = VaultSafe.objects.filter(vault_id=vault_id).first()
    if safe is None:
        raise CustodyError(f"vault {vault_id} has no Safe", code="vault_without_safe")
    onchain = safe_nonce(safe_web3(safe, w3), safe.address)
    with transaction.atomic():
        safe = safe_lock(safe_id=safe.pk)
        try:
            tx = SafeTx(to=to, value=value, data=data, operation=operation, nonce=safe_nonce_provisional(safe, onchain))
        except SafeTxError as error:
            raise CustodyError(str(error), code=error.code) from None
        transfer = erc20_transfer_decode(tx.data) if tx.to == safe.asset_contract else None
        return SafeProposal.objects.create(
            safe=safe,
            kind=operation_kind.value,
            proposer_id=proposer_id,
            **_tx_columns(safe, tx),
            amount=None if transfer is None else Decimal(transfer.amount),
            announced_at=now if operation_kind is OperationKind.CONTROL_CHANGE else None,
        )


def operator_approval_add(
    *,
    proposal_id: int,
    operator_id: int,
    approve: bool,
    now: datetime | None = None,
    cosigner: PolicyCosigner | None = None,
) -> SafeProposal:
    """An operator approves or rejects an operator-approved proposal (once each). A rejection cancels it; once the
    kind's number of distinct approvals is in, it is ``authorised`` and the co-signer is asked."""
    now = step_time(now)
    _operator(operator_id)
    authorised = False
    with transaction.atomic():
        proposal = proposal_locked(proposal_id)
        if OperationKind(proposal.kind) not in OPERATOR_KINDS:
            raise CustodyError(
                "withdrawals are authorised by the depositor's wallets, not by operators",
                code="approval_not_applicable",
            )
        if proposal.state not in (S.PROPOSED, S.AUTHORISED):
            raise ProposalStateError(f"proposal {proposal.pk} is {proposal.state}: approvals are closed")
        if approve:
            _approver_check(proposal, operator_id, now)
        try:
            with transaction.atomic():
                OperatorApproval.objects.create(proposal=proposal, operator_id=operator_id, approved=approve, at=now)
        except IntegrityError:
            raise CustodyError("you already decided on this proposal", code="already_decided") from None
        if not approve:
            operator = User.objects.get(pk=operator_id)
            proposal_close(proposal, state=S.CANCELLED, code="rejected", reason=f"rejected by {operator}", now=now)
        else:
            approvals = len(selectors.approvals_counted(proposal=proposal, at=now))
            if (
                proposal.state == S.PROPOSED
                and approvals >= POLICY_RULES[OperationKind(proposal.kind)].operator_approvals
            ):
                proposal_move(proposal, S.AUTHORISED, authorised_at=now, updated_at=now)
                authorised = True
    if authorised:
        proposal_cosign_if_configured(proposal_id, now=now, cosigner=cosigner)
    return proposal_reload(proposal_id)


def _approver_check(proposal: SafeProposal, operator_id: int, now: datetime) -> None:
    """Proposer ≠ approver, and only an operator who has held the role for 72 h approves (so a fresh operator
    made by another cannot be the second approval)."""
    if proposal.proposer_id == operator_id:
        raise CustodyForbiddenError("the proposer cannot approve their own proposal", code="proposer_cannot_approve")
    if not operator_is_seasoned(user_id=operator_id, at=now):
        raise CustodyForbiddenError(
            f"an approval counts only from an operator who has held the role for "
            f"{OPERATOR_ROLE_SEASONING.total_seconds() / 3600:.0f} h "
            "(see the operator role log)",
            code="operator_role_too_new",
        )


def proposal_cancel(*, proposal_id: int, user_id: int, now: datetime | None = None) -> SafeProposal:
    """Cancel a proposal before it is submitted: the depositor their own withdrawal's, an operator any. The
    withdrawal goes back to awaiting signatures (its payout stays reserved).

    A proposal the co-signer already signed holds its Safe nonce, and its signatures stay valid on chain until that
    nonce is used: cancelling it proposes a no-op at that nonce (:func:`nonce_invalidation_propose`), co-signed at
    once, which fills the gap for the proposals after it; its withdrawal gets no new proposal until the nonce is
    used on chain. A nonce invalidation itself is not cancelled.
    """
    now = step_time(now)
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise CustodyForbiddenError("unknown user")
    invalidation: SafeProposal | None = None
    with transaction.atomic():
        proposal = proposal_locked(proposal_id)
        if not user.is_staff and not (proposal.is_withdrawal and proposal.depositor_id == user.pk):
            raise ProposalNotFoundError(f"no proposal {proposal_id}")  # not theirs: as if it did not exist
        if proposal.state not in (S.PROPOSED, S.AUTHORISED, S.SIGNED):
            raise ProposalStateError(
                f"proposal {proposal.pk} is {proposal.state}: only a proposal not yet submitted can be cancelled"
            )
        if proposal.kind == OperationKind.NONCE_INVALIDATION:
            raise ProposalStateError(
                "a nonce invalidation is what makes a cancelled proposal's signatures unusable: it is not cancelled",
                code="invalidation_not_cancellable",
            )
        who = "an operator" if user.is_staff and proposal.depositor_id != user.pk else "the depositor"
        proposal_close(proposal, state=S.CANCELLED, code="cancelled", reason=f"cancelled by {who}", now=now)
        if proposal_cosigned(proposal):
            invalidation = nonce_invalidation_propose(proposal, proposer_id=user.pk, now=now)
    if invalidation is not None:
        proposal_cosign_if_configured(invalidation.pk, now=now, cosigner=None)
    return proposal_reload(proposal_id)
