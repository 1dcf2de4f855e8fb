"""Signatures on proposals: the depositor's EIP-712 signatures over a withdrawal request (two distinct linked wallets
authorise it), the policy co-signer's signature, and the other Safe owners' signatures over the safeTxHash; with
the co-signer's and enough owners' for the Safe's threshold a proposal is ``signed``.

Signatures are 0x-hex ``r|s|v`` (65 bytes); a typed-data signature is stored with v 27/28."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from web3 import Web3

from vaults.custody import selectors
from vaults.custody.cosigner import CoSignature, CosignerConfigurationError, PolicyCosigner
from vaults.custody.errors import CustodyError, CustodyUnavailableError, ProposalNotFoundError, ProposalStateError
from vaults.custody.policy import Operation, OperationKind
from vaults.custody.safe_tx import SafeTxError, safe_signature_recover, safe_tx_hash
from vaults.custody.selectors import proposal_request, proposal_safe_tx
from vaults.custody.services.call_policies import call_usage_record
from vaults.custody.services.proposal_steps import (
    hex_text,
    proposal_close,
    proposal_locked,
    proposal_move,
    proposal_note,
    proposal_reload,
    provisional_hash_yield,
    safe_chain_read,
    safe_nonce_allocate,
    step_time,
)
from vaults.custody.withdrawal_request import (
    Refusal,
    WithdrawalRequest,
    signer_not_yet_usable,
    typed_signature_recover,
    withdrawal_authorisation_check,
    withdrawal_request_hash,
)
from vaults.models import ProposalSignature, SafeProposal, Withdrawal
from vaults.services.withdrawals import withdrawal_transition

# Refusals that time or the chain will lift: the proposal keeps its state and says why it waits.
WAITING_POLICY_CODES = frozenset({"delay_not_elapsed"})
S = SafeProposal.State


def signature_parse(text: Any, *, field: str = "signature") -> bytes:
    """A 65-byte ``r|s|v`` signature from 0x-hex (what ``eth_signTypedData_v4`` and ``eth_sign`` return)."""
    if not isinstance(text, str) or not text.startswith("0x") or len(text) != 132:
        raise CustodyError(f"{field} must be 0x and 130 hex digits (r|s|v)", code="signature_invalid")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise CustodyError(f"{field} is not hex", code="signature_invalid") from None


def typed_signature_normalise(signature: bytes) -> bytes:
    """v 0/1 (some hardware wallets) as 27/28, so one signature has one stored spelling."""
    if signature[64] in (0, 1):
        return signature[:64] + bytes([signature[64] + 27])
    return signature


def depositor_signature_add(
    *, proposal_id: int, signature: str, now: datetime | None = None, cosigner: PolicyCosigner | None = None
) -> SafeProposal:
    """Add one wallet's EIP-712 signature over the proposal's ``WithdrawalRequest``, verified on arrival: it must
    recover, over this request's hash, to a wallet linked to the depositor 48 h or more ago (or vouched for by one
    that was: ``selectors.linked_wallets_usable_from``), not one that already signed, and not reuse a signature; the
    request must not have expired. With two valid signatures the proposal is
    ``authorised``, the withdrawal ``in_custody``, and the co-signer is asked at once (if it is not configured the
    proposal waits ``authorised`` for the periodic task).
    """
    now = step_time(now)
    raw = typed_signature_normalise(signature_parse(signature))
    expired: CustodyError | None = None
    authorised = False
    with transaction.atomic():
        proposal = proposal_locked(proposal_id)
        if not proposal.is_withdrawal:
            raise CustodyError("only withdrawals take depositor signatures", code="not_a_withdrawal")
        if proposal.state != S.PROPOSED:
            raise ProposalStateError(
                f"proposal {proposal.pk} is {proposal.state}: it takes no more depositor signatures"
            )
        request = proposal_request(proposal)
        digest = withdrawal_request_hash(request)
        if hex_text(digest) != proposal.request_hash:
            raise CustodyError("the stored request does not match its hash", code="hash_mismatch")
        if now.timestamp() >= request.deadline:
            expired = CustodyError(
                f"the request expired at {request.deadline_at.isoformat()}; request a new one", code="deadline_passed"
            )
            proposal_close(proposal, state=S.FAILED, code=expired.code, reason=expired.message, now=now)
        else:
            authorised = _depositor_signature_store(proposal, request, digest, raw, now)
    if expired is not None:
        raise expired
    if authorised:
        proposal_cosign_if_configured(proposal_id, now=now, cosigner=cosigner)
    return proposal_reload(proposal_id)


def _depositor_signature_store(
    proposal: SafeProposal, request: WithdrawalRequest, digest: bytes, raw: bytes, now: datetime
) -> bool:
    assert proposal.depositor_id is not None
    try:
        signer = typed_signature_recover(digest, raw)
    except SafeTxError as error:
        raise CustodyError(f"the signature is unusable: {error}", code="signature_invalid") from None
    usable_from = selectors.linked_wallets_usable_from(depositor_id=proposal.depositor_id)
    linked = frozenset(usable_from)
    if signer not in linked:
        raise CustodyError(
            f"the signature recovers to {signer}, which is not a wallet linked to this account (or it was made over "
            "a different request: another nonce, chain, amount or destination)",
            code="signer_not_linked",
        )
    if now < usable_from[signer]:
        refusal = signer_not_yet_usable(signer, usable_from[signer])
        raise CustodyError(refusal.message, code=refusal.code)
    earlier = list(proposal.signatures.filter(kind=ProposalSignature.Kind.DEPOSITOR))
    if signer in {s.signer for s in earlier}:
        raise CustodyError(
            f"{signer} already signed: the second signature must come from another linked wallet",
            code="signer_repeated",
        )
    if ProposalSignature.objects.filter(kind=ProposalSignature.Kind.DEPOSITOR, signature=hex_text(raw)).exists():
        raise CustodyError("this signature was already used for another request", code="signature_reused")
    try:
        with transaction.atomic():
            ProposalSignature.objects.create(
                proposal=proposal, kind=ProposalSignature.Kind.DEPOSITOR, signer=signer, signature=hex_text(raw)
            )
    except IntegrityError:  # a concurrent copy of the same signature: the constraint decided
        raise CustodyError("this signature was already used", code="signature_reused") from None
    signatures = [bytes.fromhex(s.signature[2:]) for s in earlier] + [raw]
    if len(signatures) < 2:
        return False
    used = selectors.request_nonces_used(safe_id=proposal.safe_id, depositor_id=proposal.depositor_id)
    used.discard(request.nonce)
    result = withdrawal_authorisation_check(
        request,
        signatures,
        linked,
        now,
        used,
        chain_id=proposal.safe.chain_id,
        vault=proposal.safe.address,
        usable_from=usable_from,
    )
    if isinstance(result, Refusal):
        raise CustodyError(result.message, code=result.code)
    proposal_move(proposal, S.AUTHORISED, authorised_at=now, state_code="", state_reason="", updated_at=now)
    withdrawal_transition(
        withdrawal_id=proposal.withdrawal_id,  # type: ignore[arg-type]
        from_state=Withdrawal.State.AWAITING_SIGNATURES,
        to_state=Withdrawal.State.IN_CUSTODY,
        values={"state_code": "", "state_reason": ""},
    )
    return True


def proposal_cosign_if_configured(proposal_id: int, *, now: datetime, cosigner: PolicyCosigner | None) -> None:
    """Ask the co-signer for a proposal just authorised: an unconfigured co-signer is noted on the proposal (the
    periodic task asks again), a refusal is already stored on it; neither undoes the step that authorised it."""
    try:
        proposal_cosign(proposal_id=proposal_id, now=now, cosigner=cosigner)
    except CustodyUnavailableError as error:
        proposal_note(proposal_id, code=error.code, reason=f"waiting for the co-signer: {error.message}")
    except CustodyError:
        pass  # the refusal is stored on the proposal; the step that authorised it succeeded


def proposal_cosign(
    *, proposal_id: int, now: datetime | None = None, cosigner: PolicyCosigner | None = None, w3: Web3 | None = None
) -> SafeProposal:
    """Ask the policy co-signer (``HFT_SAFE_COSIGNER_KEY`` unless ``cosigner`` is given) to sign an ``authorised``
    proposal. Its :class:`~vaults.custody.policy.PolicyContext` is gathered here from the database — payout,
    linked wallets, registered destinations, approvals, fee ledger balance, announcement time — never from the
    proposer. Signed: the proposal gets its Safe nonce now (:func:`safe_nonce_allocate`, the Safe row locked; a
    nonce invalidation keeps the nonce it invalidates), its owner signature is stored with the chain's head
    (``signed_block``), and the proposal is ``signed`` if the threshold is reached. Nonces are given at this step,
    not at proposal, so a proposal cancelled, expired or refused before it leaves no gap in the Safe's nonces.
    Refused: the proposal fails with the policy's reasons (the withdrawal goes back to awaiting signatures), except
    a control change whose 72 h have not passed, which keeps waiting. Idempotent once signed.

    A strategy trade or unwind is checked against the Safe's contract-call policy and what co-signed calls used of
    it in the period; when signed, its own usage is recorded in the same transaction
    (:func:`~vaults.custody.services.call_policies.call_usage_record`). Usage is recorded at signing, not at
    proposal: only a co-signature can move funds, and proposals nobody approves must not use up the allowances.
    The Safe row is locked first (the lock order of :mod:`vaults.lock_objects`), so two co-signings of one Safe
    cannot both fit the same remaining allowance.
    """
    now = step_time(now)
    if cosigner is None:
        try:
            cosigner = PolicyCosigner.from_environment()
        except CosignerConfigurationError as error:
            raise CustodyUnavailableError(str(error)) from None
    found = SafeProposal.objects.select_related("safe").filter(pk=proposal_id).first()
    if found is None:
        raise ProposalNotFoundError(f"no proposal {proposal_id}")
    _, head, onchain = safe_chain_read(found.safe, w3)  # RPC: before the transaction
    refusal: CustodyError | None = None
    with transaction.atomic():
        proposal = proposal_locked(proposal_id, safe=True)
        safe = proposal.safe
        if proposal.state != S.AUTHORISED:
            raise ProposalStateError(f"proposal {proposal.pk} is {proposal.state}: the co-signer signs authorised ones")
        if cosigner.address != safe.cosigner:
            raise CustodyUnavailableError(f"the configured co-signer {cosigner.address} is not this Safe's co-signer")
        if proposal.signatures.filter(kind=ProposalSignature.Kind.OWNER, signer=cosigner.address).exists():
            return proposal_reload(proposal_id)
        tx = proposal_safe_tx(proposal)
        if hex_text(safe_tx_hash(safe.chain_id, safe.address, tx)) != proposal.safe_tx_hash:
            refusal = CustodyError("the stored transaction does not match its safeTxHash", code="hash_mismatch")
            proposal_close(proposal, state=S.FAILED, code=refusal.code, reason=refusal.message, now=now)
        else:
            if proposal.kind != OperationKind.NONCE_INVALIDATION:
                tx = replace(tx, nonce=safe_nonce_allocate(safe, onchain, exclude_id=proposal.pk))
            operation = Operation(kind=OperationKind(proposal.kind), chain_id=safe.chain_id, safe=safe.address, tx=tx)
            result = cosigner.sign(operation, selectors.policy_context(proposal=proposal, now=now))
            if isinstance(result, CoSignature):
                digest = hex_text(safe_tx_hash(safe.chain_id, safe.address, tx))
                provisional_hash_yield(safe, digest, exclude_id=proposal.pk, now=now)
                SafeProposal.objects.filter(pk=proposal.pk).update(
                    nonce=Decimal(tx.nonce), safe_tx_hash=digest, signed_block=head,
                    state_code="", state_reason="", updated_at=now,
                )  # fmt: skip
                proposal.nonce, proposal.safe_tx_hash = Decimal(tx.nonce), digest
                if result.decision.usage is not None:
                    call_usage_record(proposal=proposal, usage=result.decision.usage, at=now)
                ProposalSignature.objects.create(
                    proposal=proposal,
                    kind=ProposalSignature.Kind.OWNER,
                    signer=result.owner,
                    signature=hex_text(result.signature),
                )
                _threshold_check(proposal, now)
            else:
                codes = [reason.code for reason in result.decision.reasons]
                refusal = CustodyError(result.message, code=codes[0] if codes else "policy")
                if codes and set(codes) <= WAITING_POLICY_CODES:
                    proposal_note(proposal.pk, code=refusal.code, reason=result.message)
                else:
                    proposal_close(proposal, state=S.FAILED, code=refusal.code, reason=result.message, now=now)
    if refusal is not None:
        raise refusal
    return proposal_reload(proposal_id)


def _threshold_check(proposal: SafeProposal, now: datetime) -> None:
    """``signed`` once the co-signer has signed and Safe owners to the Safe's threshold have (the co-signer counts
    among them while it is an owner; one a recovery installed on the guard is not, until swapped in)."""
    signers = set(proposal.signatures.filter(kind=ProposalSignature.Kind.OWNER).values_list("signer", flat=True))
    owners_signed = signers & set(proposal.safe.owners)
    if proposal.safe.cosigner in signers and len(owners_signed) >= proposal.safe.threshold:
        proposal_move(proposal, S.SIGNED, signed_at=now, updated_at=now)


def owner_signature_add(*, proposal_id: int, signature: str, now: datetime | None = None) -> SafeProposal:
    """Add a Safe owner's signature over the proposal's safeTxHash (an operator key; ECDSA over the hash, v 27/28,
    or ``eth_sign``, v 31/32). The recovered signer must be an owner of the Safe, not yet signed, and not the
    co-signer (which signs only through its policy). With the co-signer's and enough owners' for the threshold:
    ``signed``."""
    now = step_time(now)
    raw = signature_parse(signature)
    with transaction.atomic():
        proposal = proposal_locked(proposal_id)
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
        if not proposal.signatures.filter(kind=ProposalSignature.Kind.OWNER, signer=safe.cosigner).exists():
            raise CustodyError(
                "the policy co-signer signs first: it fixes the Safe nonce, and so the safeTxHash owners sign",
                code="cosigner_first",
            )
        try:
            with transaction.atomic():
                ProposalSignature.objects.create(
                    proposal=proposal, kind=ProposalSignature.Kind.OWNER, signer=signer, signature=hex_text(raw)
                )
        except IntegrityError:
            raise CustodyError(f"{signer} already signed this proposal", code="signer_repeated") from None
        _threshold_check(proposal, now)
    return proposal_reload(proposal_id)
