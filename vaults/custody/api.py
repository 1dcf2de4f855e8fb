"""Custody API (mounted under ``/api/v1/custody/``): a depositor requests a withdrawal to a destination and gets the
EIP-712 typed data to sign (``eth_signTypedData_v4``) with its hash, posts one signature per linked wallet, registers
other destinations, follows and cancels their proposals; operators (``is_staff``) approve or reject, add Safe owner
signatures and list every proposal. Operator actions need an operator's session with MFA confirmed in the last 15
minutes (:class:`accounts.operator_access.IsOperatorWithFreshMfa`): API tokens cannot perform them.

Errors use the API's common format ``{"error": {"code", "message", "fields"}}`` with the services' stable codes
(``signer_not_linked``, ``signer_repeated``, ``deadline_passed``, ``destination_not_registered``, ``proposal_state``
...). Amounts are decimal strings of base units; signatures and hashes 0x-hex.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.operator_access import IsOperatorWithFreshMfa, operator_access_check
from hftplatform.core.decimal_text import decimal_text_trim_zeros
from vaults import selectors as vault_selectors
from vaults.api import WithdrawalQuantitySerializer, manual_credit_out, vault_for_depositor
from vaults.custody import selectors, services
from vaults.custody.deposits import manual_credit_decide
from vaults.custody.destination_registration import DestinationRegistrationError
from vaults.custody.errors import CustodyError
from vaults.models import SafeProposal, Withdrawal

DEFAULT_DEADLINE = timedelta(hours=1)
_SIGNATURE = r"^0x[0-9a-fA-F]{130}$"


def _text(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text_trim_zeros(value)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def proposal_out(proposal: SafeProposal, *, operator: bool) -> dict[str, Any]:
    safe = proposal.safe
    body: dict[str, Any] = {
        "id": proposal.pk,
        "vault": safe.vault.slug,
        "kind": proposal.kind,
        "kind_label": proposal.get_kind_display(),
        "state": proposal.state,
        "state_label": proposal.get_state_display(),
        "state_code": proposal.state_code,
        "state_reason": proposal.state_reason,
        "safe": {"address": safe.address, "chain_id": safe.chain_id, "threshold": safe.threshold},
        "safe_tx": {
            "to": proposal.to,
            "value": _text(proposal.value),
            "data": proposal.data,
            "operation": proposal.operation,
            "safe_tx_gas": _text(proposal.safe_tx_gas),
            "base_gas": _text(proposal.base_gas),
            "gas_price": _text(proposal.gas_price),
            "gas_token": proposal.gas_token,
            "refund_receiver": proposal.refund_receiver,
            "nonce": _text(proposal.nonce),
        },
        "safe_tx_hash": proposal.safe_tx_hash,
        "amount": _text(proposal.amount),
        "withdrawal": proposal.withdrawal_id,
        "request": None,
        "signatures": [
            {"kind": s.kind, "signer": s.signer, "at": s.created_at.isoformat()} for s in proposal.signatures.all()
        ],
        "announced_at": _time(proposal.announced_at),
        "submission_tx_hash": proposal.submission_tx_hash,
        "created_at": proposal.created_at.isoformat(),
        "authorised_at": _time(proposal.authorised_at),
        "signed_at": _time(proposal.signed_at),
        "submitted_at": _time(proposal.submitted_at),
        "closed_at": _time(proposal.closed_at),
    }
    if proposal.is_withdrawal:
        request = selectors.proposal_request(proposal)
        body["request"] = {
            "typed_data": selectors.proposal_typed_data(proposal),
            "hash": proposal.request_hash,
            "destination": request.destination,
            "amount": str(request.amount),
            "nonce": str(request.nonce),
            "deadline": request.deadline_at.isoformat(),
            # Who can sign it, and from when: a wallet linked less than 48 h ago (not vouched for) cannot yet.
            "wallets": [
                {"address": address, "withdrawals_from": usable_from.isoformat()}
                for address, usable_from in sorted(
                    selectors.linked_wallets_usable_from(depositor_id=proposal.depositor_id or 0).items()
                )
            ],
        }
    if operator:
        body["approvals"] = [
            {"operator": a.operator_id, "approved": a.approved, "at": a.at.isoformat()}
            for a in proposal.approvals.all()
        ]
    return body


def _visible(request: Request, proposal_id: int) -> SafeProposal:
    return get_object_or_404(selectors.proposals_visible(user=request.user), pk=proposal_id)  # type: ignore[arg-type]


def _deadline(value: datetime | None) -> datetime:
    return value if value is not None else timezone.now() + DEFAULT_DEADLINE


class CustodyWithdrawalCreateApi(APIView):
    """Request a withdrawal (shares or a net amount) of a vault to ``destination`` and get what to sign: the
    ``WithdrawalRequest`` typed data and its hash. Sign it from two different linked wallets and post each signature
    to ``proposals/<id>/signatures/``."""

    required_scope = "custody"  # what an API token needs to POST here (accounts.authentication)

    permission_classes = (IsAuthenticated,)

    class InputSerializer(WithdrawalQuantitySerializer):
        vault = serializers.SlugField()
        destination = serializers.CharField(max_length=42, help_text="A linked wallet or a registered address.")
        deadline = serializers.DateTimeField(required=False, help_text="Until when the request may be signed (1 h).")

    @extend_schema(operation_id="custody_withdrawal_create", tags=["custody"], request=InputSerializer, responses=dict)
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        vault = vault_for_depositor(request, values["vault"])
        proposal = services.custody_withdrawal_request(
            vault_id=vault.pk,
            depositor_id=request.user.pk,
            destination=values["destination"],
            deadline=_deadline(values.get("deadline")),
            shares=values.get("shares"),
            amount=int(values["amount"]) if "amount" in values else None,
            lot_id=values.get("lot"),
            idempotency_key=values.get("idempotency_key"),
        )
        return Response(proposal_out(proposal, operator=False), status=201)


class CustodyWithdrawalProposeApi(APIView):
    """A fresh request for one of my withdrawals that is awaiting signatures (after a failure, an expiry, or to
    change the destination); a still unsigned one is replaced."""

    required_scope = "custody"  # what an API token needs to POST here (accounts.authentication)

    permission_classes = (IsAuthenticated,)

    class InputSerializer(serializers.Serializer):
        destination = serializers.CharField(max_length=42)
        deadline = serializers.DateTimeField(required=False)

    @extend_schema(operation_id="custody_withdrawal_propose", tags=["custody"], request=InputSerializer, responses=dict)
    def post(self, request: Request, withdrawal_id: int) -> Response:
        withdrawal = get_object_or_404(Withdrawal, pk=withdrawal_id, depositor=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        proposal = services.withdrawal_proposal_create(
            withdrawal_id=withdrawal.pk,
            destination=data.validated_data["destination"],
            deadline=_deadline(data.validated_data.get("deadline")),
        )
        return Response(proposal_out(proposal, operator=False), status=201)


class ProposalListApi(APIView):
    """My proposals (operators: all), newest first; ``?state=`` filters."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(operation_id="custody_proposals_list", tags=["custody"], responses=dict)
    def get(self, request: Request) -> Response:
        query = selectors.proposals_visible(user=request.user)  # type: ignore[arg-type]
        state = request.query_params.get("state")
        if state:
            query = query.filter(state=state)
        operator = bool(request.user.is_staff)
        return Response({"results": [proposal_out(p, operator=operator) for p in query[:200]]})


class ProposalDetailApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(operation_id="custody_proposal_detail", tags=["custody"], responses=dict)
    def get(self, request: Request, proposal_id: int) -> Response:
        return Response(proposal_out(_visible(request, proposal_id), operator=bool(request.user.is_staff)))


class SignatureInput(serializers.Serializer):
    signature = serializers.RegexField(_SIGNATURE, help_text="0x r|s|v (65 bytes), as eth_signTypedData_v4 returns.")


class DepositorSignatureApi(APIView):
    """Post one linked wallet's signature over the request's typed data; the second one from another linked wallet
    authorises the proposal (and the co-signer is asked at once)."""

    required_scope = "custody"  # what an API token needs to POST here (accounts.authentication)

    permission_classes = (IsAuthenticated,)

    @extend_schema(operation_id="custody_depositor_signature", tags=["custody"], request=SignatureInput, responses=dict)
    def post(self, request: Request, proposal_id: int) -> Response:
        proposal = get_object_or_404(SafeProposal, pk=proposal_id, depositor=request.user)
        data = SignatureInput(data=request.data)
        data.is_valid(raise_exception=True)
        proposal = services.depositor_signature_add(proposal_id=proposal.pk, signature=data.validated_data["signature"])
        return Response(proposal_out(proposal, operator=False))


class ProposalCancelApi(APIView):
    required_scope = "custody"  # what an API token needs to POST here (accounts.authentication)
    permission_classes = (IsAuthenticated,)

    @extend_schema(operation_id="custody_proposal_cancel", tags=["custody"], request=None, responses=dict)
    def post(self, request: Request, proposal_id: int) -> Response:
        visible = _visible(request, proposal_id)
        if visible.depositor_id != request.user.pk:
            operator_access_check(request)  # cancelling someone else's proposal is an operator action
        proposal = services.proposal_cancel(proposal_id=visible.pk, user_id=request.user.pk)
        return Response(proposal_out(proposal, operator=bool(request.user.is_staff)))


class OperatorApprovalApi(APIView):
    """An operator approves or rejects an operator-approved proposal."""

    required_scope = "custody"  # what an API token needs to POST here (accounts.authentication); none may
    permission_classes = (IsOperatorWithFreshMfa,)

    class InputSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(choices=["approve", "reject"])

    @extend_schema(operation_id="custody_operator_approval", tags=["custody"], request=InputSerializer, responses=dict)
    def post(self, request: Request, proposal_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        proposal = services.operator_approval_add(
            proposal_id=_visible(request, proposal_id).pk,
            operator_id=request.user.pk,
            approve=data.validated_data["decision"] == "approve",
        )
        return Response(proposal_out(proposal, operator=True))


class OwnerSignatureApi(APIView):
    """An operator adds a Safe owner's signature over the proposal's ``safe_tx_hash``, which is recomputed from the
    stored fields first (``safe_tx_hash_mismatch`` when the stored one differs: nothing is added). The answer
    shows what was signed: ``call``, the decoded transaction, and ``safe_tx_hash_recomputed``."""

    required_scope = "custody"  # what an API token needs to POST here (accounts.authentication)

    permission_classes = (IsOperatorWithFreshMfa,)

    @extend_schema(operation_id="custody_owner_signature", tags=["custody"], request=SignatureInput, responses=dict)
    def post(self, request: Request, proposal_id: int) -> Response:
        data = SignatureInput(data=request.data)
        data.is_valid(raise_exception=True)
        visible = _visible(request, proposal_id)
        recomputed = selectors.proposal_safe_tx_hash_verified(visible)
        proposal = services.owner_signature_add(proposal_id=visible.pk, signature=data.validated_data["signature"])
        body = proposal_out(proposal, operator=True)
        body["call"] = selectors.proposal_call_text(proposal)
        body["safe_tx_hash_recomputed"] = "0x" + recomputed.hex()
        return Response(body)


def _destination_out(destination: Any) -> dict[str, Any]:
    return {
        "id": destination.pk,
        "address": destination.address,
        "chain_id": destination.chain_id,
        "signers": destination.signers,
        "registered_at": destination.registered_at.isoformat(),
        "usable_from": (destination.registered_at + timedelta(hours=48)).isoformat(),
    }


class DestinationListCreateApi(APIView):
    """My registered withdrawal destinations; register one with signatures from two linked wallets over the typed
    data from ``destinations/typed-data/``. It can be paid 48 h after registration."""

    required_scope = "custody"  # what an API token needs to POST here (accounts.authentication)

    permission_classes = (IsAuthenticated,)

    class InputSerializer(serializers.Serializer):
        address = serializers.CharField(max_length=42)
        chain_id = serializers.IntegerField(min_value=1)
        nonce = serializers.IntegerField(min_value=0)
        signatures = serializers.ListField(child=serializers.RegexField(_SIGNATURE), min_length=1, max_length=5)

    @extend_schema(operation_id="custody_destinations_list", tags=["custody"], responses=dict)
    def get(self, request: Request) -> Response:
        rows = request.user.withdrawal_destinations.all()  # type: ignore[union-attr]
        return Response({"results": [_destination_out(row) for row in rows]})

    @extend_schema(
        operation_id="custody_destination_register", tags=["custody"], request=InputSerializer, responses=dict
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        destination = services.withdrawal_destination_register(
            depositor_id=request.user.pk,
            chain_id=values["chain_id"],
            address=values["address"],
            nonce=values["nonce"],
            signatures=values["signatures"],
        )
        return Response(_destination_out(destination), status=201)


class DestinationTypedDataApi(APIView):
    """The ``DestinationRegistration`` typed data (with a fresh nonce) my two wallets are to sign for ``address``."""

    required_scope = "custody"  # what an API token needs to POST here (accounts.authentication)

    permission_classes = (IsAuthenticated,)

    class InputSerializer(serializers.Serializer):
        address = serializers.CharField(max_length=42)
        chain_id = serializers.IntegerField(min_value=1)

    @extend_schema(
        operation_id="custody_destination_typed_data", tags=["custody"], request=InputSerializer, responses=dict
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            registration = selectors.destination_registration_draft(
                depositor_id=request.user.pk,
                chain_id=data.validated_data["chain_id"],
                address=data.validated_data["address"],
            )
        except DestinationRegistrationError as error:
            raise CustodyError(str(error), code=error.code, fields={"address": [str(error)]}) from None
        return Response(selectors.destination_registration_view(registration))


class ManualCreditDecisionApi(APIView):
    """A second operator approves or rejects a pending manual credit (an off-chain credit of a vault without a Safe,
    or the attribution of an on-chain transfer, whose chain check is run again). The operator who requested it
    cannot approve it; a rejection needs a ``reason``. Both decisions are public on the vault's page."""

    required_scope = "custody"  # what an API token needs to POST here (accounts.authentication); none may
    permission_classes = (IsOperatorWithFreshMfa,)

    class InputSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(choices=["approve", "reject"])
        reason = serializers.CharField(max_length=2000, required=False, default="")

    @extend_schema(
        operation_id="custody_manual_credit_decision", tags=["custody"], request=InputSerializer, responses=dict
    )
    def post(self, request: Request, credit_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credit = manual_credit_decide(
            credit_id=credit_id,
            operator_id=request.user.pk,
            approve=data.validated_data["decision"] == "approve",
            reason=data.validated_data["reason"],
        )
        return Response(manual_credit_out(vault_selectors.manual_credit_public(credit)))
