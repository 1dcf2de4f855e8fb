"""The steps every custody write shares: the step's time, the proposal row locked (not found is a clear error),
its conditional state moves (moved on, closed with a reason, noted while it waits), the proposal read back after
the write, the web3 client of a vault Safe's chain, and the 0x-hex spelling of the bytes stored."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from django.db.models import Max
from django.utils import timezone
from web3 import Web3
from web3.exceptions import Web3Exception

from chains.rpc import chain_web3
from hftplatform.core.utc import utc_aware
from vaults.custody.chain import safe_nonce
from vaults.custody.errors import CustodyError, CustodyUnavailableError, ProposalNotFoundError, ProposalStateError
from vaults.custody.safe_tx import safe_tx_hash
from vaults.custody.selectors import proposal_safe_tx
from vaults.lock_objects import proposal_rows_lock, withdrawal_lock
from vaults.models import ProposalSignature, SafeProposal, VaultSafe, Withdrawal
from vaults.services.withdrawals import withdrawal_transition


def step_time(now: datetime | None) -> datetime:
    """The step's time: ``now`` (aware) or the current time."""
    if now is None:
        return timezone.now()
    try:
        return utc_aware(now, what="time")
    except ValueError as error:
        raise CustodyError(str(error)) from None


def hex_text(data: bytes) -> str:
    """``data`` as stored: 0x and lowercase hex."""
    return "0x" + data.hex()


def proposal_locked(proposal_id: int, *, safe: bool = False) -> SafeProposal:
    """The proposal row, locked after its Safe's (when ``safe``) and its withdrawal's, in the fixed order of
    :mod:`vaults.lock_objects` (:func:`~vaults.lock_objects.proposal_rows_lock`); :class:`ProposalNotFoundError` if
    none."""
    try:
        return proposal_rows_lock(proposal_id=proposal_id, safe=safe)
    except SafeProposal.DoesNotExist:
        raise ProposalNotFoundError(f"no proposal {proposal_id}") from None


def proposal_close(proposal: SafeProposal, *, state: str, code: str, reason: str, now: datetime) -> None:
    """Close a live proposal (``failed`` or ``cancelled``) with its reason; its withdrawal, if it was in custody,
    goes back to ``awaiting_signatures`` with the same reason (the payout stays reserved). Runs in the caller's
    transaction, with the proposal and its withdrawal locked (:func:`proposal_locked`)."""
    moved = SafeProposal.objects.filter(pk=proposal.pk, state=proposal.state).update(
        state=state, state_code=code, state_reason=reason, closed_at=now, updated_at=now
    )
    if moved != 1:
        raise ProposalStateError(f"proposal {proposal.pk} is no longer {proposal.state}")
    if proposal.withdrawal_id is None:
        return
    values = {"state_code": code, "state_reason": reason}
    withdrawal = withdrawal_lock(withdrawal_id=proposal.withdrawal_id)  # already held: locked before the proposal
    if withdrawal.state == Withdrawal.State.IN_CUSTODY:
        withdrawal_transition(
            withdrawal_id=withdrawal.pk,
            from_state=Withdrawal.State.IN_CUSTODY,
            to_state=Withdrawal.State.AWAITING_SIGNATURES,
            values=values,
        )
    elif withdrawal.state == Withdrawal.State.AWAITING_SIGNATURES:
        Withdrawal.objects.filter(pk=withdrawal.pk, state=withdrawal.state).update(**values)


def proposal_note(proposal_id: int, *, code: str, reason: str) -> None:
    """Say why a proposal waits, without moving it."""
    SafeProposal.objects.filter(pk=proposal_id).update(state_code=code, state_reason=reason, updated_at=timezone.now())


def proposal_move(proposal: SafeProposal, to_state: str, **values: Any) -> None:
    """Move the proposal on from the state it was read in (a conditional update), writing ``values`` with it."""
    moved = SafeProposal.objects.filter(pk=proposal.pk, state=proposal.state).update(state=to_state, **values)
    if moved != 1:
        raise ProposalStateError(f"proposal {proposal.pk} is no longer {proposal.state}")
    proposal.state = to_state


def proposal_reload(proposal_id: int) -> SafeProposal:
    """The proposal as written, with its Safe and withdrawal."""
    return SafeProposal.objects.select_related("safe", "withdrawal").get(pk=proposal_id)


def safe_web3(safe: VaultSafe, w3: Web3 | None) -> Web3:
    """``w3`` if given, else the configured client of the Safe's chain (:func:`chains.rpc.chain_web3`)."""
    if w3 is not None:
        return w3
    try:
        return chain_web3(safe.chain_id)
    except LookupError as error:
        raise CustodyUnavailableError(str(error)) from None


def safe_chain_read(safe: VaultSafe, w3: Web3 | None) -> tuple[Web3, int, int]:
    """``(client, head, nonce)``: the chain's head block and the Safe's nonce at that block, read outside any
    transaction; an unreachable chain is a :class:`CustodyUnavailableError` (the step waits, nothing changes)."""
    client = safe_web3(safe, w3)
    try:
        head = int(client.eth.block_number)
        return client, head, safe_nonce(client, safe.address, block=head)
    except (Web3Exception, OSError, ValueError) as error:  # OSError: unreachable (requests)
        raise CustodyUnavailableError(f"chain {safe.chain_id} could not be read: {error}") from None


def proposal_cosigned(proposal: SafeProposal) -> bool:
    """Whether the policy co-signer signed the proposal: from then on its Safe nonce is fixed and its signatures may
    become executable, whatever happens to the row."""
    return proposal.signatures.filter(kind=ProposalSignature.Kind.OWNER, signer=proposal.safe.cosigner).exists()


def safe_nonce_allocate(safe: VaultSafe, onchain: int, *, exclude_id: int) -> int:
    """The Safe nonce the co-signer signs a proposal at, with the Safe row locked: above the chain's (``onchain``)
    and above every nonce another co-signed proposal holds — live, or closed while its nonce is not yet used on
    chain (its signatures could still execute until a no-op uses that nonce up), or executed (when ``onchain``,
    read before the lock, is already behind). A proposal closed before the co-signer signed holds none, so it
    leaves no gap."""
    held = (
        SafeProposal.objects.filter(
            safe=safe,
            nonce__gte=onchain,
            signatures__kind=ProposalSignature.Kind.OWNER,
            signatures__signer=safe.cosigner,
        )
        .exclude(pk=exclude_id)
        .aggregate(n=Max("nonce"))["n"]
    )
    return max(onchain, int(held) + 1 if held is not None else 0)


def safe_nonce_provisional(safe: VaultSafe, onchain: int) -> int:
    """The provisional Safe nonce of a new proposal (the co-signer gives the real one): after the chain's and after
    every live proposal's, so live proposals never share one. The Safe row is locked by the caller."""
    highest = SafeProposal.objects.filter(safe=safe, state__in=SafeProposal.LIVE_STATES).aggregate(n=Max("nonce"))["n"]
    return max(onchain, int(highest) + 1 if highest is not None else 0)


def provisional_hash_yield(safe: VaultSafe, digest: str, *, exclude_id: int, now: datetime) -> None:
    """Before a proposal co-signed at a nonce takes safeTxHash ``digest``: a live proposal no owner has signed yet
    whose provisional hash is that one (the same Safe transaction, proposed earlier at that provisional nonce) moves
    to the next free provisional nonce, so the two never clash. Nobody signed its hash, so nothing signed changes.
    The Safe row is locked by the caller."""
    clashing = SafeProposal.objects.filter(safe=safe, safe_tx_hash=digest, state__in=SafeProposal.LIVE_STATES).exclude(
        pk=exclude_id
    )
    for other in clashing:
        if other.signatures.filter(kind=ProposalSignature.Kind.OWNER).exists():
            raise ProposalStateError(f"proposal {other.pk} already holds the co-signed hash {digest}")
        nonce = safe_nonce_provisional(safe, 0)
        moved = replace(proposal_safe_tx(other), nonce=nonce)
        SafeProposal.objects.filter(pk=other.pk).update(
            nonce=nonce, safe_tx_hash=hex_text(safe_tx_hash(safe.chain_id, safe.address, moved)), updated_at=now
        )
