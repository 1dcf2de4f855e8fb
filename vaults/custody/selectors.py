"""Reads of the custody flow: linked wallets, registered destinations, the policy context of a proposal (gathered
from the database, never from the proposer), the fee ledger balance, proposals visible to a user, what a
depositor is asked to sign, and the control changes a vault's public page announces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

from django.conf import settings
from django.db.models import Max, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import User, Wallet
from accounts.selectors import operator_is_seasoned
from fees.core.numbers import FEE_CONTEXT, units_down
from vaults.custody.call_policy import CallPolicy, CallPolicyError, CallUsage, TokenMark, call_policy_from_config
from vaults.custody.calls import safe_call_describe, safe_control_call_decode
from vaults.custody.destination_registration import (
    DestinationRegistration,
    destination_registration_hash,
    destination_registration_typed_data,
)
from vaults.custody.errors import CustodyError
from vaults.custody.policy import CONTROL_CHANGE_DELAY, DESTINATION_REGISTRATION_DELAY, OperationKind, PolicyContext
from vaults.custody.policy import DestinationRegistration as PolicyDestination
from vaults.custody.safe_tx import SafeTx, address_normalise, safe_tx_hash
from vaults.custody.withdrawal_request import (
    Authorisation,
    WithdrawalRequest,
    withdrawal_request_typed_data,
)
from vaults.models import (
    CosignerRecovery,
    FeeLedgerEntry,
    ProposalSignature,
    SafeCallPolicy,
    SafeCallUsage,
    SafeProposal,
    Valuation,
    Vault,
    VaultSafe,
    WithdrawalDestination,
)
from vaults.selectors import vault_price


def proposal_safe_tx(proposal: SafeProposal) -> SafeTx:
    """The stored SafeTx."""
    return SafeTx(
        to=proposal.to,
        value=int(proposal.value),
        data=bytes.fromhex(proposal.data[2:]),
        operation=proposal.operation,
        nonce=int(proposal.nonce),
        safe_tx_gas=int(proposal.safe_tx_gas),
        base_gas=int(proposal.base_gas),
        gas_price=int(proposal.gas_price),
        gas_token=proposal.gas_token,
        refund_receiver=proposal.refund_receiver,
    )


def proposal_safe_tx_hash_verified(proposal: SafeProposal) -> bytes:
    """The proposal's safeTxHash recomputed from its stored fields (chain, Safe, SafeTx), which an owner signs.

    Raises :class:`CustodyError` ``safe_tx_hash_mismatch`` when the stored ``safe_tx_hash`` is another: a
    signature over the stored hash would then authorise a transaction other than the one shown.
    """
    safe = proposal.safe
    recomputed = safe_tx_hash(safe.chain_id, safe.address, proposal_safe_tx(proposal))
    if "0x" + recomputed.hex() != proposal.safe_tx_hash.lower():
        raise CustodyError(
            f"proposal {proposal.pk}: the stored safeTxHash {proposal.safe_tx_hash} is not the hash of its stored "
            f"transaction (0x{recomputed.hex()}); nothing is signed",
            code="safe_tx_hash_mismatch",
        )
    return recomputed


def proposal_call_text(proposal: SafeProposal) -> str:
    """The proposal's Safe transaction in words (:func:`~vaults.custody.calls.safe_call_describe`)."""
    tx = proposal_safe_tx(proposal)
    return safe_call_describe(
        safe=proposal.safe.address, to=tx.to, value=tx.value, data=tx.data, operation=tx.operation
    )


def proposal_request(proposal: SafeProposal) -> WithdrawalRequest:
    """The stored ``WithdrawalRequest`` of a withdrawal proposal."""
    assert proposal.request_nonce is not None and proposal.request_deadline is not None
    assert proposal.depositor_id is not None
    return WithdrawalRequest(
        vault=proposal.safe.address,
        depositor=proposal.depositor_id,
        shares=int(proposal.request_shares or 0),
        amount=int(proposal.request_amount or 0),
        destination=proposal.request_destination,
        nonce=int(proposal.request_nonce),
        deadline=proposal.request_deadline,
        chain_id=proposal.safe.chain_id,
    )


def linked_wallets(*, depositor_id: int) -> frozenset[str]:
    """The depositor's linked wallets (EIP-55), proven by SIWE."""
    return frozenset(Wallet.objects.filter(user_id=depositor_id).values_list("address", flat=True))


def linked_wallets_usable_from(*, depositor_id: int) -> dict[str, datetime]:
    """Each linked wallet (EIP-55) of the depositor -> from when its signatures authorise withdrawals: the same
    delay after its link as a registered destination's, or at once when a wallet linked that long vouched for it."""
    rows = Wallet.objects.filter(user_id=depositor_id).values_list("address", "created_at", "vouched_by")
    return {
        address: linked_at if vouched_by else linked_at + DESTINATION_REGISTRATION_DELAY
        for address, linked_at, vouched_by in rows
    }


def request_nonces_used(*, safe_id: int, depositor_id: int) -> set[int]:
    """Request nonces of the depositor's proposals on this Safe that were authorised at some point."""
    nonces = SafeProposal.objects.filter(
        safe_id=safe_id, depositor_id=depositor_id, authorised_at__isnull=False
    ).values_list("request_nonce", flat=True)
    return {int(nonce) for nonce in nonces if nonce is not None}


def registered_destinations(*, depositor_id: int, chain_id: int) -> dict[str, PolicyDestination]:
    rows = WithdrawalDestination.objects.filter(depositor_id=depositor_id, chain_id=chain_id)
    return {
        row.address: PolicyDestination(
            address=row.address, registered_at=row.registered_at, signers=frozenset(row.signers)
        )
        for row in rows
    }


def fee_ledger_balance(*, vault_id: int, excluding_proposal_id: int | None = None) -> int:
    """What a fee collection may take, base units: the fees charged (Σ ledger fee values, rounded down) less what
    fee collections have taken or are taking (executed or live proposals); and never more than the fee account's
    shares are worth at the vault's last ``P`` (rounded down) less the live collections not yet booked. An executed
    collection burns the fee account's shares worth its amount (:func:`vaults.services.vault_fee_collection_book`),
    so the fee account pays it, never a depositor."""
    charged = FeeLedgerEntry.objects.filter(vault_id=vault_id).aggregate(total=Sum("fee_value"))["total"] or Decimal(0)
    collections = SafeProposal.objects.filter(
        safe__vault_id=vault_id,
        kind=OperationKind.FEE_COLLECTION.value,
        state__in=[*SafeProposal.LIVE_STATES, SafeProposal.State.EXECUTED],
    )
    if excluding_proposal_id is not None:
        collections = collections.exclude(pk=excluding_proposal_id)
    taken = collections.aggregate(total=Sum("amount"))["total"] or Decimal(0)
    live = collections.filter(state__in=SafeProposal.LIVE_STATES).aggregate(total=Sum("amount"))["total"] or Decimal(0)
    vault = Vault.objects.get(pk=vault_id)
    with localcontext(FEE_CONTEXT):
        worth = units_down(vault.fee_account_shares * vault_price(vault))
    return min(int(charged) - int(taken), worth - int(live))


CALL_KINDS = frozenset({OperationKind.STRATEGY_TRADE.value, OperationKind.EMERGENCY_UNWIND.value})


def call_policy_get(*, safe_id: int) -> CallPolicy | None:
    """The Safe's contract-call policy, or None when it has none (then no trade or unwind is signed)."""
    row = SafeCallPolicy.objects.filter(safe_id=safe_id).first()
    if row is None:
        return None
    try:
        return call_policy_from_config(
            tokens=row.tokens,
            trade_contracts=row.trade_contracts,
            unwind_contracts=row.unwind_contracts,
            period=row.period,
            max_slippage=row.max_slippage,
            value_loss_tolerance=int(row.value_loss_tolerance),
            mark_max_age=row.mark_max_age,
        )
    except CallPolicyError as error:  # written only validated; an edit behind the service's back refuses
        raise CustodyError(f"the vault's call policy is unusable: {error}", code="call_policy_invalid") from None


def call_usage_in_period(
    *, safe_id: int, now: datetime, period: timedelta, excluding_proposal_id: int | None = None
) -> CallUsage:
    """What co-signed trades and unwinds of the Safe used of its policy in the period ending ``now``: recorded after
    ``now - period`` (a usage recorded later than ``now`` counts too: a concurrent co-signing that read the clock
    before this one, then waited for the Safe lock, must see it), and not released.

    A usage is released when its proposal was cancelled or failed *and* its SafeTx can never execute: a proposal
    of the same Safe executed at the same or a higher Safe nonce. Closing a proposal alone releases nothing: a
    cancelled or reverted proposal's co-signature stays valid on chain until its nonce is used, and whoever holds
    it with another owner's signature could still execute it — an allowance given back earlier could be spent
    twice. A nonce used outside the platform is not known here: that usage counts until the period ends."""
    rows = (
        SafeCallUsage.objects.filter(safe_id=safe_id, at__gt=now - period)
        .exclude(proposal_id=excluding_proposal_id)
        .select_related("proposal")
        .order_by("id")
    )
    executed = SafeProposal.objects.filter(safe_id=safe_id, state=SafeProposal.State.EXECUTED).aggregate(n=Max("nonce"))
    highest_executed = executed["n"]
    closed = (SafeProposal.State.FAILED, SafeProposal.State.CANCELLED)
    spent: dict[str, int] = {}
    loss = 0
    for row in rows:
        if row.proposal.state in closed and highest_executed is not None and highest_executed >= row.proposal.nonce:
            continue
        for token, amount in row.spent.items():
            spent[token] = spent.get(token, 0) + int(amount)
        loss += int(row.value_loss)
    return CallUsage(spent=spent, value_loss=loss)


def token_marks(*, safe: VaultSafe, now: datetime) -> dict[str, TokenMark]:
    """The marked prices the call policy values tokens at: the vault asset (1, at ``now``) and every on-chain
    position of the vault's latest valuation (its kline close, at the valuation's time). A token held only as a
    manual position has no address and so no mark."""
    vault = safe.vault
    marks = {safe.asset_contract: TokenMark(price=Decimal(1), decimals=vault.asset_decimals, at=now)}
    latest = Valuation.objects.filter(vault_id=vault.pk).order_by("-at", "-id").first()
    if latest is None:
        return marks
    for source in latest.sources:
        token, decimals, price = source.get("token"), source.get("decimals"), source.get("price")
        if not token or decimals is None or price is None or token == safe.asset_contract:
            continue
        marks[address_normalise(token)] = TokenMark(price=Decimal(str(price)), decimals=int(decimals), at=latest.at)
    return marks


def approvals_counted(*, proposal: SafeProposal, at: datetime) -> frozenset[int]:
    """The operators whose approval of ``proposal`` counts at ``at``: approved, not its proposer, and holding the
    operator role for at least 72 h then (:func:`accounts.selectors.operator_is_seasoned`)."""
    approvers = proposal.approvals.filter(approved=True).exclude(operator_id=proposal.proposer_id)
    return frozenset(
        operator_id
        for operator_id in approvers.values_list("operator_id", flat=True)
        if operator_is_seasoned(user_id=operator_id, at=at)
    )


def policy_context(*, proposal: SafeProposal, now: datetime) -> PolicyContext:
    """Everything the policy of ``proposal`` needs, read from the database and settings."""
    safe = proposal.safe
    fee_recipient = settings.HFT_SAFE_FEE_RECIPIENT or None
    common: dict[str, Any] = {
        "now": now,
        "asset": safe.asset_contract,
        "fee_recipient": fee_recipient,
        "announced_at": proposal.announced_at,
    }
    if proposal.is_withdrawal:
        assert proposal.depositor_id is not None and proposal.withdrawal is not None
        request: WithdrawalRequest = proposal_request(proposal)
        signatures = list(proposal.signatures.filter(kind=ProposalSignature.Kind.DEPOSITOR).order_by("id"))
        authorisation = Authorisation(
            request=request,
            request_hash=bytes.fromhex((proposal.request_hash or "0x")[2:]),
            signers=tuple(s.signer for s in signatures),
            signatures=tuple(bytes.fromhex(s.signature[2:]) for s in signatures),
        )
        return PolicyContext(
            **common,
            authorisation=authorisation,
            linked_wallets=linked_wallets(depositor_id=proposal.depositor_id),
            registered_destinations=registered_destinations(depositor_id=proposal.depositor_id, chain_id=safe.chain_id),
            payout=int(proposal.withdrawal.payout),
        )
    approvals = frozenset(str(operator_id) for operator_id in approvals_counted(proposal=proposal, at=now))
    if proposal.kind in CALL_KINDS:
        policy = call_policy_get(safe_id=safe.pk)
        if policy is not None:
            common["call_policy"] = policy
            common["call_usage"] = call_usage_in_period(
                safe_id=safe.pk, now=now, period=policy.period, excluding_proposal_id=proposal.pk
            )
            common["marks"] = token_marks(safe=safe, now=now)
    return PolicyContext(
        **common,
        operator_approvals=approvals,
        fee_ledger_balance=fee_ledger_balance(vault_id=safe.vault_id, excluding_proposal_id=proposal.pk),
    )


def proposals_visible(*, user: User) -> QuerySet[SafeProposal]:
    """Operators see every proposal; a depositor their own withdrawals' proposals."""
    query = SafeProposal.objects.select_related("safe__vault", "withdrawal").order_by("-created_at", "-id")
    if user.is_staff:
        return query
    return query.filter(depositor=user)


def proposal_typed_data(proposal: SafeProposal) -> dict[str, Any] | None:
    """What the depositor signs with ``eth_signTypedData_v4`` (integers as decimal strings), or None."""
    if not proposal.is_withdrawal:
        return None
    return typed_data_json(withdrawal_request_typed_data(proposal_request(proposal)))


def typed_data_json(typed_data: dict[str, Any]) -> dict[str, Any]:
    """Typed data with every integer as a decimal string (uint256 does not fit a JavaScript number)."""

    def convert(value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return str(value)
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        if isinstance(value, list):
            return [convert(item) for item in value]
        return value

    result: dict[str, Any] = convert(typed_data)
    return result


def destination_registration_draft(*, depositor_id: int, chain_id: int, address: str) -> DestinationRegistration:
    """The registration the depositor's two wallets are asked to sign, with the next unused nonce."""
    highest = WithdrawalDestination.objects.filter(depositor_id=depositor_id).aggregate(n=Max("nonce"))["n"]
    nonce = int(highest) + 1 if highest is not None else 1
    return DestinationRegistration(depositor=depositor_id, destination=address, nonce=nonce, chain_id=chain_id)


def destination_registration_view(registration: DestinationRegistration) -> dict[str, Any]:
    return {
        "typed_data": typed_data_json(destination_registration_typed_data(registration)),
        "hash": "0x" + destination_registration_hash(registration).hex(),
        "nonce": str(registration.nonce),
    }


CONTROL_CHANGES_RECENT = timedelta(days=30)  # closed control changes stay on the public page this long


@dataclass(frozen=True)
class ControlChangeView:
    """A control-change proposal as the vault's public page shows it. ``function`` and ``arguments`` decode the
    Safe call (``function`` None: not a recognised control call, which the policy refuses; ``selector`` then says
    what it is); ``executable_from`` is the announcement + 72 h, the earliest the co-signer signs."""

    proposal_id: int
    function: str | None
    arguments: tuple[tuple[str, str], ...]
    selector: str
    to: str
    nonce: int
    announced_at: datetime | None
    executable_from: datetime | None
    state: str
    state_label: str
    closed_at: datetime | None


def vault_control_changes(
    *, vault_id: int, now: datetime | None = None, recent: timedelta = CONTROL_CHANGES_RECENT
) -> list[ControlChangeView]:
    """The owner, threshold, module, guard and fallback-handler changes proposed for the vault's Safe that are still
    live, or closed (executed, failed, cancelled) within ``recent`` of ``now``: newest first. Public: shown to
    anyone on the vault's page from their announcement."""
    now = timezone.now() if now is None else now
    proposals = SafeProposal.objects.filter(
        Q(state__in=SafeProposal.LIVE_STATES) | Q(closed_at__gte=now - recent),
        safe__vault_id=vault_id,
        kind=OperationKind.CONTROL_CHANGE.value,
    ).order_by("-created_at", "-id")
    views: list[ControlChangeView] = []
    for proposal in proposals:
        data = bytes.fromhex(proposal.data[2:])
        call = safe_control_call_decode(data)
        announced = proposal.announced_at
        views.append(
            ControlChangeView(
                proposal_id=proposal.pk,
                function=None if call is None else call.function,
                arguments=() if call is None else call.arguments,
                selector="0x" + data[:4].hex(),
                to=proposal.to,
                nonce=int(proposal.nonce),
                announced_at=announced,
                executable_from=None if announced is None else announced + CONTROL_CHANGE_DELAY,
                state=proposal.state,
                state_label=proposal.get_state_display(),
                closed_at=proposal.closed_at,
            )
        )
    return views


def vault_cosigner_recoveries(
    *, vault_id: int, now: datetime | None = None, recent: timedelta = CONTROL_CHANGES_RECENT
) -> list[CosignerRecovery]:
    """Co-signer recoveries of the vault's Safe that are pending, or closed within ``recent`` of ``now``: newest
    first. Public: anyone sees an announcement on the vault's page from the moment it is mirrored."""
    now = timezone.now() if now is None else now
    return list(
        CosignerRecovery.objects.filter(
            Q(state=CosignerRecovery.State.PENDING) | Q(closed_at__gte=now - recent), vault_safe__vault_id=vault_id
        ).order_by("-announced_at", "-id")
    )
