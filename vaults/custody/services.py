"""Every write of the custody flow: withdrawal proposals and their depositor signatures, operator proposals and
approvals, the policy co-signer's signature, Safe owner signatures, execution on chain, cancellation, and the
registration of withdrawal destinations.

Lock order, inside one transaction: the vault Safe row (:func:`_safe_lock`: allocating nonces), then the withdrawal
row, then the proposal row. State moves are conditional updates (``UPDATE ... WHERE state = <expected>``): a
concurrent move makes the later one fail instead of overwriting it. Slow I/O (RPC) never runs inside a transaction;
the one write that must precede I/O — the signed chain transaction — is committed on its own before it is
broadcast (:class:`ProposalSubmissionStore`).

Units: amounts are ``int`` base units of the vault asset (``value`` wei); deadlines Unix seconds; times aware UTC.
Every refusal raises :class:`CustodyError` (a :class:`~hftplatform.errors.ServiceError` with a stable ``code``) and
changes nothing, except where a proposal can no longer succeed (an expired request, a policy refusal, a failed or
invalidated execution): then the proposal is closed with its reason, committed, and the error raised after.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from accounts.models import User
from chains.rpc import chain_web3
from hftplatform.errors import ServiceError
from vaults.custody import selectors
from vaults.custody.calls import erc20_transfer_data, erc20_transfer_decode
from vaults.custody.chain import (
    ExecutionOutcome,
    ProposalExecutor,
    Submission,
    safe_nonce,
    safe_owners,
    safe_threshold,
)
from vaults.custody.cosigner import CoSignature, CosignerConfigurationError, PolicyCosigner
from vaults.custody.destination_registration import (
    DestinationRegistration,
    DestinationRegistrationError,
    destination_registration_check,
)
from vaults.custody.policy import POLICY_RULES, Operation, OperationKind
from vaults.custody.safe_tx import (
    OwnerSignature,
    SafeTx,
    SafeTxError,
    address_normalise,
    safe_signature_recover,
    safe_tx_hash,
    signatures_pack,
)
from vaults.custody.selectors import proposal_request, proposal_safe_tx
from vaults.custody.withdrawal_request import (
    Refusal,
    WithdrawalRequest,
    WithdrawalRequestError,
    typed_signature_recover,
    withdrawal_authorisation_check,
    withdrawal_request_hash,
)
from vaults.models import (
    OperatorApproval,
    ProposalSignature,
    SafeProposal,
    VaultSafe,
    Withdrawal,
    WithdrawalDestination,
)
from vaults.services.withdrawals import vault_withdrawal_request, withdrawal_transition

DEADLINE_MAX = timedelta(days=7)
# Refusals that time or the chain will lift: the proposal keeps its state and says why it waits.
WAITING_POLICY_CODES = frozenset({"delay_not_elapsed"})
WAITING_EXECUTION_CODES = frozenset({"nonce_future", "wrong_chain", "rebroadcast_failed"})
OPERATOR_KINDS = frozenset(
    {
        OperationKind.STRATEGY_TRADE,
        OperationKind.FEE_COLLECTION,
        OperationKind.CONTROL_CHANGE,
        OperationKind.EMERGENCY_UNWIND,
    }
)
S = SafeProposal.State


class CustodyError(ServiceError):
    code = "custody_refused"


class ProposalNotFoundError(CustodyError):
    code = "not_found"
    http_status = 404


class ProposalStateError(CustodyError):
    """The proposal (or withdrawal) is not in a state that allows this step; ``code`` says which."""

    code = "proposal_state"
    http_status = 409


class CustodyForbiddenError(CustodyError):
    code = "forbidden"
    http_status = 403


class CustodyUnavailableError(CustodyError):
    """A key or a chain connection the step needs is not configured."""

    code = "custody_unavailable"
    http_status = 503


# -- small helpers --------------------------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    if now is None:
        return timezone.now()
    if now.tzinfo is None or now.utcoffset() is None:
        raise CustodyError(f"time must be an aware UTC datetime, got naive {now.isoformat()}")
    return now


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def signature_parse(text: Any, *, field: str = "signature") -> bytes:
    """A 65-byte ``r|s|v`` signature from 0x-hex (what ``eth_signTypedData_v4`` and ``eth_sign`` return)."""
    if not isinstance(text, str) or not text.startswith("0x") or len(text) != 132:
        raise CustodyError(f"{field} must be 0x and 130 hex digits (r|s|v)", code="signature_invalid")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise CustodyError(f"{field} is not hex", code="signature_invalid") from None


def _typed_signature_normalise(signature: bytes) -> bytes:
    """v 0/1 (some hardware wallets) as 27/28, so one signature has one stored spelling."""
    if signature[64] in (0, 1):
        return signature[:64] + bytes([signature[64] + 27])
    return signature


def _safe_lock(safe_id: int) -> VaultSafe:
    return VaultSafe.objects.select_for_update().get(pk=safe_id)


def _proposal_lock(proposal_id: int) -> SafeProposal:
    try:
        return SafeProposal.objects.select_for_update(of=("self",)).select_related("safe").get(pk=proposal_id)
    except SafeProposal.DoesNotExist:
        raise ProposalNotFoundError(f"no proposal {proposal_id}") from None


def _safe_nonce_next(safe: VaultSafe, onchain: int) -> int:
    """The next free Safe nonce: after the chain's and after every live proposal's (the Safe row is locked)."""
    highest = SafeProposal.objects.filter(safe=safe, state__in=SafeProposal.LIVE_STATES).aggregate(n=Max("nonce"))["n"]
    return max(onchain, int(highest) + 1 if highest is not None else 0)


def _web3(safe: VaultSafe, w3: Web3 | None) -> Web3:
    if w3 is not None:
        return w3
    try:
        return chain_web3(safe.chain_id)
    except LookupError as error:
        raise CustodyUnavailableError(str(error)) from None


def _proposal_close(proposal: SafeProposal, *, state: str, code: str, reason: str, now: datetime) -> None:
    """Close a live proposal (``failed`` or ``cancelled``) with its reason; its withdrawal, if it was in custody,
    goes back to ``awaiting_signatures`` with the same reason (the payout stays reserved). Runs in the caller's
    transaction, with the proposal locked."""
    moved = SafeProposal.objects.filter(pk=proposal.pk, state=proposal.state).update(
        state=state, state_code=code, state_reason=reason, closed_at=now, updated_at=now
    )
    if moved != 1:
        raise ProposalStateError(f"proposal {proposal.pk} is no longer {proposal.state}")
    if proposal.withdrawal_id is None:
        return
    values = {"state_code": code, "state_reason": reason}
    withdrawal = Withdrawal.objects.select_for_update().get(pk=proposal.withdrawal_id)
    if withdrawal.state == Withdrawal.State.IN_CUSTODY:
        withdrawal_transition(
            withdrawal_id=withdrawal.pk,
            from_state=Withdrawal.State.IN_CUSTODY,
            to_state=Withdrawal.State.AWAITING_SIGNATURES,
            values=values,
        )
    elif withdrawal.state == Withdrawal.State.AWAITING_SIGNATURES:
        Withdrawal.objects.filter(pk=withdrawal.pk, state=withdrawal.state).update(**values)


def _proposal_note(proposal_id: int, *, code: str, reason: str) -> None:
    """Say why a proposal waits, without moving it."""
    SafeProposal.objects.filter(pk=proposal_id).update(state_code=code, state_reason=reason, updated_at=timezone.now())


def _move(proposal: SafeProposal, to_state: str, **values: Any) -> None:
    moved = SafeProposal.objects.filter(pk=proposal.pk, state=proposal.state).update(state=to_state, **values)
    if moved != 1:
        raise ProposalStateError(f"proposal {proposal.pk} is no longer {proposal.state}")
    proposal.state = to_state


def _refresh(proposal_id: int) -> SafeProposal:
    return SafeProposal.objects.select_related("safe", "withdrawal").get(pk=proposal_id)


# -- withdrawal proposals -------------------------------------------------------------------------------------


def withdrawal_destination_check(*, depositor_id: int, chain_id: int, destination: str) -> str:
    """The checksummed destination if the depositor may ask to be paid there: one of their linked wallets, or an
    address they registered (the 48 h rule is the co-signer's; it says when). Raises :class:`CustodyError`."""
    try:
        address = address_normalise(destination, field="destination")
    except SafeTxError as error:
        raise CustodyError(str(error), code=error.code, fields={"destination": [str(error)]}) from None
    if address in selectors.linked_wallets(depositor_id=depositor_id):
        return address
    if not WithdrawalDestination.objects.filter(depositor_id=depositor_id, chain_id=chain_id, address=address).exists():
        raise CustodyError(
            f"{address} is not one of your linked wallets and was never registered as a withdrawal destination: "
            "link it, or register it with signatures from two linked wallets (usable 48 h later)",
            code="destination_not_registered",
            fields={"destination": ["not linked, not registered"]},
        )
    return address


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
    now = _now(now)
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
    deadline = _now(deadline)
    if not now < deadline <= now + DEADLINE_MAX:
        raise CustodyError(
            f"the deadline must be after now and at most {DEADLINE_MAX.days} days ahead",
            code="deadline_invalid",
            fields={"deadline": ["out of range"]},
        )
    payout = int(withdrawal.payout)
    if payout <= 0:
        raise CustodyError("this withdrawal pays nothing", code="payout_zero")
    onchain = safe_nonce(_web3(safe, w3), safe.address)  # RPC: before the transaction
    linked = address in selectors.linked_wallets(depositor_id=withdrawal.depositor_id)
    kind = OperationKind.WITHDRAWAL_TO_LINKED_WALLET if linked else OperationKind.WITHDRAWAL_TO_OTHER_ADDRESS
    with transaction.atomic():
        safe = _safe_lock(safe.pk)
        withdrawal = Withdrawal.objects.select_for_update().get(pk=withdrawal_id)
        if withdrawal.state != Withdrawal.State.AWAITING_SIGNATURES:
            raise ProposalStateError(
                f"withdrawal {withdrawal.pk} is {withdrawal.state}, not awaiting signatures", code="withdrawal_state"
            )
        for live in SafeProposal.objects.select_for_update().filter(
            withdrawal=withdrawal, state__in=SafeProposal.LIVE_STATES
        ):
            if live.state != S.PROPOSED:
                raise ProposalStateError(
                    f"proposal {live.pk} of this withdrawal is {live.state}: cancel it first", code="proposal_live"
                )
            _proposal_close(live, state=S.CANCELLED, code="replaced", reason="replaced by a new request", now=now)
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
            nonce=_safe_nonce_next(safe, onchain),
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
            request_hash=_hex(withdrawal_request_hash(request)),
        )


def _tx_columns(safe: VaultSafe, tx: SafeTx) -> dict[str, Any]:
    return {
        "to": tx.to,
        "value": Decimal(tx.value),
        "data": _hex(tx.data),
        "operation": tx.operation,
        "safe_tx_gas": Decimal(tx.safe_tx_gas),
        "base_gas": Decimal(tx.base_gas),
        "gas_price": Decimal(tx.gas_price),
        "gas_token": tx.gas_token,
        "refund_receiver": tx.refund_receiver,
        "nonce": Decimal(tx.nonce),
        "safe_tx_hash": _hex(safe_tx_hash(safe.chain_id, safe.address, tx)),
    }


def depositor_signature_add(
    *, proposal_id: int, signature: str, now: datetime | None = None, cosigner: PolicyCosigner | None = None
) -> SafeProposal:
    """Add one wallet's EIP-712 signature over the proposal's ``WithdrawalRequest``, verified on arrival: it must
    recover, over this request's hash, to a wallet linked to the depositor, not one that already signed, and not
    reuse a signature; the request must not have expired. With two valid signatures the proposal is
    ``authorised``, the withdrawal ``in_custody``, and the co-signer is asked at once (if it is not configured the
    proposal waits ``authorised`` for the periodic task).
    """
    now = _now(now)
    raw = _typed_signature_normalise(signature_parse(signature))
    expired: CustodyError | None = None
    authorised = False
    with transaction.atomic():
        proposal = _proposal_lock(proposal_id)
        if not proposal.is_withdrawal:
            raise CustodyError("only withdrawals take depositor signatures", code="not_a_withdrawal")
        if proposal.state != S.PROPOSED:
            raise ProposalStateError(
                f"proposal {proposal.pk} is {proposal.state}: it takes no more depositor signatures"
            )
        request = proposal_request(proposal)
        digest = withdrawal_request_hash(request)
        if _hex(digest) != proposal.request_hash:
            raise CustodyError("the stored request does not match its hash", code="hash_mismatch")
        if now.timestamp() >= request.deadline:
            expired = CustodyError(
                f"the request expired at {request.deadline_at.isoformat()}; request a new one", code="deadline_passed"
            )
            _proposal_close(proposal, state=S.FAILED, code=expired.code, reason=expired.message, now=now)
        else:
            authorised = _depositor_signature_store(proposal, request, digest, raw, now)
    if expired is not None:
        raise expired
    if authorised:
        _cosign_if_configured(proposal_id, now=now, cosigner=cosigner)
    return _refresh(proposal_id)


def _depositor_signature_store(
    proposal: SafeProposal, request: WithdrawalRequest, digest: bytes, raw: bytes, now: datetime
) -> bool:
    assert proposal.depositor_id is not None
    try:
        signer = typed_signature_recover(digest, raw)
    except SafeTxError as error:
        raise CustodyError(f"the signature is unusable: {error}", code="signature_invalid") from None
    linked = selectors.linked_wallets(depositor_id=proposal.depositor_id)
    if signer not in linked:
        raise CustodyError(
            f"the signature recovers to {signer}, which is not a wallet linked to this account (or it was made over "
            "a different request: another nonce, chain, amount or destination)",
            code="signer_not_linked",
        )
    earlier = list(proposal.signatures.filter(kind=ProposalSignature.Kind.DEPOSITOR))
    if signer in {s.signer for s in earlier}:
        raise CustodyError(
            f"{signer} already signed: the second signature must come from another linked wallet",
            code="signer_repeated",
        )
    if ProposalSignature.objects.filter(kind=ProposalSignature.Kind.DEPOSITOR, signature=_hex(raw)).exists():
        raise CustodyError("this signature was already used for another request", code="signature_reused")
    try:
        with transaction.atomic():
            ProposalSignature.objects.create(
                proposal=proposal, kind=ProposalSignature.Kind.DEPOSITOR, signer=signer, signature=_hex(raw)
            )
    except IntegrityError:  # a concurrent copy of the same signature: the constraint decided
        raise CustodyError("this signature was already used", code="signature_reused") from None
    signatures = [bytes.fromhex(s.signature[2:]) for s in earlier] + [raw]
    if len(signatures) < 2:
        return False
    used = selectors.request_nonces_used(safe_id=proposal.safe_id, depositor_id=proposal.depositor_id)
    used.discard(request.nonce)
    result = withdrawal_authorisation_check(
        request, signatures, linked, now, used, chain_id=proposal.safe.chain_id, vault=proposal.safe.address
    )
    if isinstance(result, Refusal):
        raise CustodyError(result.message, code=result.code)
    _move(proposal, S.AUTHORISED, authorised_at=now, state_code="", state_reason="", updated_at=now)
    withdrawal_transition(
        withdrawal_id=proposal.withdrawal_id,  # type: ignore[arg-type]
        from_state=Withdrawal.State.AWAITING_SIGNATURES,
        to_state=Withdrawal.State.IN_CUSTODY,
        values={"state_code": "", "state_reason": ""},
    )
    return True


# -- operator proposals ---------------------------------------------------------------------------------------


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
    now = _now(now)
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
    onchain = safe_nonce(_web3(safe, w3), safe.address)
    with transaction.atomic():
        safe = _safe_lock(safe.pk)
        try:
            tx = SafeTx(to=to, value=value, data=data, operation=operation, nonce=_safe_nonce_next(safe, onchain))
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
    now = _now(now)
    _operator(operator_id)
    authorised = False
    with transaction.atomic():
        proposal = _proposal_lock(proposal_id)
        if OperationKind(proposal.kind) not in OPERATOR_KINDS:
            raise CustodyError(
                "withdrawals are authorised by the depositor's wallets, not by operators",
                code="approval_not_applicable",
            )
        if proposal.state not in (S.PROPOSED, S.AUTHORISED):
            raise ProposalStateError(f"proposal {proposal.pk} is {proposal.state}: approvals are closed")
        try:
            with transaction.atomic():
                OperatorApproval.objects.create(proposal=proposal, operator_id=operator_id, approved=approve, at=now)
        except IntegrityError:
            raise CustodyError("you already decided on this proposal", code="already_decided") from None
        if not approve:
            operator = User.objects.get(pk=operator_id)
            _proposal_close(proposal, state=S.CANCELLED, code="rejected", reason=f"rejected by {operator}", now=now)
        else:
            approvals = proposal.approvals.filter(approved=True).count()
            if (
                proposal.state == S.PROPOSED
                and approvals >= POLICY_RULES[OperationKind(proposal.kind)].operator_approvals
            ):
                _move(proposal, S.AUTHORISED, authorised_at=now, updated_at=now)
                authorised = True
    if authorised:
        _cosign_if_configured(proposal_id, now=now, cosigner=cosigner)
    return _refresh(proposal_id)


# -- Safe layer: the co-signer and the other owners ---------------------------------------------------------------


def _cosign_if_configured(proposal_id: int, *, now: datetime, cosigner: PolicyCosigner | None) -> None:
    try:
        proposal_cosign(proposal_id=proposal_id, now=now, cosigner=cosigner)
    except CustodyUnavailableError as error:
        _proposal_note(proposal_id, code=error.code, reason=f"waiting for the co-signer: {error.message}")
    except CustodyError:
        pass  # the refusal is stored on the proposal; the step that authorised it succeeded


def proposal_cosign(
    *, proposal_id: int, now: datetime | None = None, cosigner: PolicyCosigner | None = None
) -> SafeProposal:
    """Ask the policy co-signer (``HFT_SAFE_COSIGNER_KEY`` unless ``cosigner`` is given) to sign an ``authorised``
    proposal. Its :class:`~vaults.custody.policy.PolicyContext` is gathered here from the database — payout,
    linked wallets, registered destinations, approvals, fee ledger balance, announcement time — never from the
    proposer. Signed: its owner signature is stored (and the proposal is ``signed`` if the threshold is reached).
    Refused: the proposal fails with the policy's reasons (the withdrawal goes back to awaiting signatures), except
    a control change whose 72 h have not passed, which keeps waiting. Idempotent once signed.
    """
    now = _now(now)
    if cosigner is None:
        try:
            cosigner = PolicyCosigner.from_environment()
        except CosignerConfigurationError as error:
            raise CustodyUnavailableError(str(error)) from None
    refusal: CustodyError | None = None
    with transaction.atomic():
        proposal = _proposal_lock(proposal_id)
        safe = proposal.safe
        if proposal.state != S.AUTHORISED:
            raise ProposalStateError(f"proposal {proposal.pk} is {proposal.state}: the co-signer signs authorised ones")
        if cosigner.address != safe.cosigner:
            raise CustodyUnavailableError(f"the configured co-signer {cosigner.address} is not this Safe's co-signer")
        if proposal.signatures.filter(kind=ProposalSignature.Kind.OWNER, signer=cosigner.address).exists():
            return _refresh(proposal_id)
        tx = proposal_safe_tx(proposal)
        if _hex(safe_tx_hash(safe.chain_id, safe.address, tx)) != proposal.safe_tx_hash:
            refusal = CustodyError("the stored transaction does not match its safeTxHash", code="hash_mismatch")
            _proposal_close(proposal, state=S.FAILED, code=refusal.code, reason=refusal.message, now=now)
        else:
            operation = Operation(kind=OperationKind(proposal.kind), chain_id=safe.chain_id, safe=safe.address, tx=tx)
            result = cosigner.sign(operation, selectors.policy_context(proposal=proposal, now=now))
            if isinstance(result, CoSignature):
                ProposalSignature.objects.create(
                    proposal=proposal,
                    kind=ProposalSignature.Kind.OWNER,
                    signer=result.owner,
                    signature=_hex(result.signature),
                )
                SafeProposal.objects.filter(pk=proposal.pk).update(state_code="", state_reason="", updated_at=now)
                _threshold_check(proposal, now)
            else:
                codes = [reason.code for reason in result.decision.reasons]
                refusal = CustodyError(result.message, code=codes[0] if codes else "policy")
                if codes and set(codes) <= WAITING_POLICY_CODES:
                    _proposal_note(proposal.pk, code=refusal.code, reason=result.message)
                else:
                    _proposal_close(proposal, state=S.FAILED, code=refusal.code, reason=result.message, now=now)
    if refusal is not None:
        raise refusal
    return _refresh(proposal_id)


def _threshold_check(proposal: SafeProposal, now: datetime) -> None:
    """``signed`` once the co-signer and enough other owners for the Safe's threshold have signed."""
    signers = set(proposal.signatures.filter(kind=ProposalSignature.Kind.OWNER).values_list("signer", flat=True))
    if proposal.safe.cosigner in signers and len(signers) >= proposal.safe.threshold:
        _move(proposal, S.SIGNED, signed_at=now, updated_at=now)


def owner_signature_add(*, proposal_id: int, signature: str, now: datetime | None = None) -> SafeProposal:
    """Add a Safe owner's signature over the proposal's safeTxHash (an operator key; ECDSA over the hash, v 27/28,
    or ``eth_sign``, v 31/32). The recovered signer must be an owner of the Safe, not yet signed, and not the
    co-signer (which signs only through its policy). With the co-signer's and enough owners' for the threshold:
    ``signed``."""
    now = _now(now)
    raw = signature_parse(signature)
    with transaction.atomic():
        proposal = _proposal_lock(proposal_id)
        safe = proposal.safe
        if proposal.state != S.AUTHORISED:
            raise ProposalStateError(
                f"proposal {proposal.pk} is {proposal.state}: owners sign once it is authorised and before it is signed"
            )
        try:
            signer = safe_signature_recover(bytes.fromhex(proposal.safe_tx_hash[2:]), raw)
        except SafeTxError as error:
            raise CustodyError(f"the signature is unusable: {error}", code="signature_invalid") from None
        if signer not in safe.owners:
            raise CustodyError(
                f"the signature recovers to {signer}, not an owner of this Safe (or it is over another safeTxHash)",
                code="signer_not_owner",
            )
        if signer == safe.cosigner:
            raise CustodyError("the co-signer signs only by applying its policy", code="cosigner_by_policy")
        try:
            with transaction.atomic():
                ProposalSignature.objects.create(
                    proposal=proposal, kind=ProposalSignature.Kind.OWNER, signer=signer, signature=_hex(raw)
                )
        except IntegrityError:
            raise CustodyError(f"{signer} already signed this proposal", code="signer_repeated") from None
        _threshold_check(proposal, now)
    return _refresh(proposal_id)


# -- execution ------------------------------------------------------------------------------------------------


class ProposalSubmissionStore:
    """The :class:`~vaults.custody.chain.SubmissionStore` of one proposal, backed by its row: recording commits the
    chain transaction and moves the proposal ``signed`` → ``submitted`` in one conditional update, before the
    executor broadcasts anything (so two executors cannot both send, and a crash always finds what was sent)."""

    def __init__(self, proposal_id: int) -> None:
        self.proposal_id = proposal_id

    def submission_get(self, safe_tx_hash: bytes) -> Submission | None:
        row = (
            SafeProposal.objects.filter(pk=self.proposal_id, safe_tx_hash=_hex(safe_tx_hash))
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
                submission_tx_hash=_hex(submission.tx_hash),
                submission_raw=_hex(submission.raw_transaction),
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
    hash), ``failed`` with the reason (reverted on chain, or invalidated: the nonce was taken by another
    transaction; a withdrawal goes back to awaiting signatures), or unchanged with a note when the chain is not
    ready (an earlier nonce pending). Idempotent: a ``submitted`` proposal (a retry, or a process that crashed
    after recording) resumes from its stored transaction, never sending a second one; a closed one is returned as
    it is. Must run outside any transaction: the record has to be committed before the broadcast.
    """
    if connection.in_atomic_block:
        raise CustodyError(
            "proposal_execute must run outside a transaction: the submission is committed before broadcasting",
            code="in_transaction",
        )
    proposal = _refresh(proposal_id) if SafeProposal.objects.filter(pk=proposal_id).exists() else None
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
        packed = signatures_pack(digest, owner_signatures)
    except SafeTxError as error:
        raise CustodyError(str(error), code=error.code) from None
    w3 = _web3(safe, w3)
    executor = ProposalExecutor(
        w3,
        chain_id=safe.chain_id,
        safe_address=safe.address,
        sender=sender,
        store=store or ProposalSubmissionStore(proposal.pk),
    )
    outcome = executor.execute(tx, packed)
    if outcome.status == "executed" and proposal.kind == OperationKind.CONTROL_CHANGE:
        owners, threshold = safe_owners(w3, safe.address), safe_threshold(w3, safe.address)
        VaultSafe.objects.filter(pk=safe.pk).update(owners=owners, threshold=threshold)
    return execution_outcome_record(proposal_id=proposal.pk, outcome=outcome)


def execution_outcome_record(
    *, proposal_id: int, outcome: ExecutionOutcome, now: datetime | None = None
) -> SafeProposal:
    """Store what the executor reported (see :func:`proposal_execute`); recording the same outcome twice is a no-op."""
    now = _now(now)
    with transaction.atomic():
        proposal = _proposal_lock(proposal_id)
        if proposal.state in (S.EXECUTED, S.FAILED, S.CANCELLED):
            return _refresh(proposal_id)
        if outcome.status == "executed":
            assert outcome.tx_hash is not None
            _move(proposal, S.EXECUTED, closed_at=now, state_code="", state_reason="", updated_at=now)
            if proposal.withdrawal_id is not None:
                withdrawal_transition(
                    withdrawal_id=proposal.withdrawal_id,
                    from_state=Withdrawal.State.IN_CUSTODY,
                    to_state=Withdrawal.State.PAID,
                    values={
                        "paid_tx_hash": _hex(outcome.tx_hash),
                        "paid_at": now,
                        "state_code": "",
                        "state_reason": "",
                    },
                )
        elif outcome.status == "refused" and outcome.code in WAITING_EXECUTION_CODES:
            _proposal_note(proposal.pk, code=outcome.code, reason=outcome.reason)
        else:
            _proposal_close(proposal, state=S.FAILED, code=outcome.code, reason=outcome.reason, now=now)
    return _refresh(proposal_id)


def proposal_cancel(*, proposal_id: int, user_id: int, now: datetime | None = None) -> SafeProposal:
    """Cancel a proposal before it is submitted: the depositor their own withdrawal's, an operator any. The
    withdrawal goes back to awaiting signatures (its payout stays reserved).

    A cancelled ``signed`` proposal's owner signatures stay valid on chain until its Safe nonce is used; the
    platform never submits it, and the next proposal reuses that nonce when it is the highest free one.
    """
    now = _now(now)
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise CustodyForbiddenError("unknown user")
    with transaction.atomic():
        proposal = _proposal_lock(proposal_id)
        if not user.is_staff and not (proposal.is_withdrawal and proposal.depositor_id == user.pk):
            raise ProposalNotFoundError(f"no proposal {proposal_id}")  # not theirs: as if it did not exist
        if proposal.state not in (S.PROPOSED, S.AUTHORISED, S.SIGNED):
            raise ProposalStateError(
                f"proposal {proposal.pk} is {proposal.state}: only a proposal not yet submitted can be cancelled"
            )
        who = "an operator" if user.is_staff and proposal.depositor_id != user.pk else "the depositor"
        _proposal_close(proposal, state=S.CANCELLED, code="cancelled", reason=f"cancelled by {who}", now=now)
    return _refresh(proposal_id)


# -- destinations -------------------------------------------------------------------------------------------------


def withdrawal_destination_register(
    *,
    depositor_id: int,
    chain_id: int,
    address: str,
    nonce: int,
    signatures: Sequence[str],
    now: datetime | None = None,
) -> WithdrawalDestination:
    """Register a withdrawal address that is not a linked wallet, from an EIP-712 ``DestinationRegistration``
    signed by two distinct linked wallets (nonce single use per depositor). The policy pays it from
    ``registered_at`` + 48 h on."""
    now = _now(now)
    try:
        registration = DestinationRegistration(
            depositor=depositor_id, destination=address, nonce=nonce, chain_id=chain_id
        )
    except DestinationRegistrationError as error:
        raise CustodyError(str(error), code=error.code) from None
    raws = [_typed_signature_normalise(signature_parse(s, field="signatures")) for s in signatures]
    result = destination_registration_check(registration, raws, selectors.linked_wallets(depositor_id=depositor_id))
    if isinstance(result, Refusal):
        raise CustodyError(result.message, code=result.code)
    by_signer = dict(zip([typed_signature_recover(result.registration_hash, r) for r in raws], raws, strict=True))
    try:
        with transaction.atomic():
            return WithdrawalDestination.objects.create(
                depositor_id=depositor_id,
                chain_id=chain_id,
                address=registration.destination,
                nonce=Decimal(nonce),
                registration_hash=_hex(result.registration_hash),
                signers=list(result.signers),
                signatures=[_hex(by_signer[signer]) for signer in result.signers],
                registered_at=now,
            )
    except IntegrityError:
        raise CustodyError(
            f"{registration.destination} is already registered, or nonce {nonce} was used", code="already_registered"
        ) from None
