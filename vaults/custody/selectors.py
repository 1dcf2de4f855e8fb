"""Reads of the custody flow: linked wallets, registered destinations, the policy context of a proposal (gathered
from the database, never from the proposer), the fee ledger balance, proposals visible to a user, what a
depositor is asked to sign, and the control changes a vault's public page announces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Max, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import User, Wallet
from accounts.selectors import operator_is_seasoned
from vaults.custody.calls import safe_control_call_decode
from vaults.custody.destination_registration import (
    DestinationRegistration,
    destination_registration_hash,
    destination_registration_typed_data,
)
from vaults.custody.policy import CONTROL_CHANGE_DELAY, OperationKind, PolicyContext
from vaults.custody.policy import DestinationRegistration as PolicyDestination
from vaults.custody.safe_tx import SafeTx, address_normalise
from vaults.custody.withdrawal_request import (
    Authorisation,
    WithdrawalRequest,
    withdrawal_request_typed_data,
)
from vaults.models import FeeLedgerEntry, ProposalSignature, SafeProposal, WithdrawalDestination


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
    """Fees charged to the vault (Σ ledger fee values, base units, rounded down) less what fee collections have
    taken or are taking (executed or live proposals)."""
    charged = FeeLedgerEntry.objects.filter(vault_id=vault_id).aggregate(total=Sum("fee_value"))["total"] or Decimal(0)
    collections = SafeProposal.objects.filter(
        safe__vault_id=vault_id,
        kind=OperationKind.FEE_COLLECTION.value,
        state__in=[*SafeProposal.LIVE_STATES, SafeProposal.State.EXECUTED],
    )
    if excluding_proposal_id is not None:
        collections = collections.exclude(pk=excluding_proposal_id)
    taken = collections.aggregate(total=Sum("amount"))["total"] or Decimal(0)
    return int(charged) - int(taken)


def _whitelist(kind: OperationKind) -> dict[str, frozenset[bytes]]:
    configured = settings.HFT_SAFE_CALL_WHITELISTS.get(kind.value, {})
    return {
        address_normalise(contract): frozenset(bytes.fromhex(selector.removeprefix("0x")) for selector in selectors)
        for contract, selectors in configured.items()
    }


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
        "trade_whitelist": _whitelist(OperationKind.STRATEGY_TRADE),
        "unwind_whitelist": _whitelist(OperationKind.EMERGENCY_UNWIND),
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
