"""Vault API: public vault list and detail (NAV series, metrics); the signed-in depositor's holdings, deposits,
withdrawals and statements (only their own); off-chain credit requests (operators, two of them) and withdrawal
requests.

Numbers are exact decimal strings: amounts in base units of the vault's asset, shares with 18 places, prices
(NAV per share) in base units per share.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.operator_access import IsOperatorWithFreshMfa
from fees.core.numbers import price_down
from hftplatform.core.decimal_text import decimal_text_trim_zeros
from hftplatform.core.utc import utc_aware
from hftplatform.errors import ServiceError
from vaults import selectors, services
from vaults.core.statements import StatementError, statement_csv, statement_pdf
from vaults.models import Deposit, Vault, Withdrawal
from vaults.selectors import statement_compute

NAV_POINTS = 500


def _text(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text_trim_zeros(value)


def _vault_summary(vault: Vault) -> dict[str, Any]:
    return {
        "slug": vault.slug,
        "name": vault.name,
        "base_asset": vault.base_asset,
        "asset_decimals": vault.asset_decimals,
        "allocation": vault.allocation,
        "nav_per_share": decimal_text_trim_zeros(price_down(selectors.vault_price(vault))),
        "value": decimal_text_trim_zeros(vault.value),
        "shares_outstanding": decimal_text_trim_zeros(vault.shares_outstanding),
        "settled_at": vault.settled_at.isoformat(),
    }


class VaultListApi(APIView):
    """Public vaults with their current NAV per share."""

    permission_classes = (AllowAny,)

    @extend_schema(operation_id="vaults_list", tags=["vaults"], responses={200: dict}, auth=[])
    def get(self, request: Request) -> Response:
        return Response({"results": [_vault_summary(vault) for vault in selectors.vaults_public()]})


class VaultDetailApi(APIView):
    """One public vault: NAV series (the last 500 snapshots), fees charged to date, positions, and the public log of
    the operators' manual credits (operators by handle, depositors by pseudonym)."""

    permission_classes = (AllowAny,)

    @extend_schema(operation_id="vaults_detail", tags=["vaults"], responses={200: dict}, auth=[])
    def get(self, request: Request, slug: str) -> Response:
        vault = get_object_or_404(Vault, slug=slug, public=True)
        series = selectors.nav_series(vault_id=vault.pk, limit=NAV_POINTS)
        fees = selectors.fees_charged(vault_id=vault.pk)
        first = series[0].price if series else None
        last = series[-1].price if series else None
        return Response(
            {
                **_vault_summary(vault),
                "nav_series": [{"at": point.at.isoformat(), "nav_per_share": _text(point.price)} for point in series],
                "metrics": {
                    "management_fee_charged": _text(fees["management"]),
                    "performance_fee_charged": _text(fees["performance"]),
                    "nav_change": _text(price_down(last / first - 1)) if first and last else None,
                },
                "positions": [
                    {"asset": p.asset, "venue": p.venue, "quantity": _text(p.quantity)}
                    for p in vault.positions.order_by("asset", "venue")
                ],
                "manual_credits": [manual_credit_out(c) for c in selectors.manual_credits_public(vault_id=vault.pk)],
            }
        )


class MyHoldingsApi(APIView):
    """The signed-in depositor's holdings: per vault, shares, value, net value and lots."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(operation_id="vaults_my_holdings", tags=["vaults"], responses={200: dict})
    def get(self, request: Request) -> Response:
        holdings = selectors.holdings_for(depositor_id=request.user.pk)
        return Response(
            {
                "results": [
                    {
                        "vault": h.vault.slug,
                        "shares": _text(h.account.shares),
                        "nav_per_share": _text(price_down(h.price)),
                        "value": str(h.value),
                        "net_value": str(h.net_value),
                        "deposited": _text(h.account.deposited),
                        "paid_out": _text(h.account.paid_out),
                        "management_fee": _text(h.account.management_fee),
                        "performance_fee": _text(h.account.performance_fee),
                        "lots": [
                            {
                                "id": lot.pk,
                                "number": lot.number,
                                "shares": _text(lot.shares),
                                "hwm": _text(lot.hwm),
                                "opened_at": lot.opened_at.isoformat(),
                            }
                            for lot in h.lots
                        ],
                    }
                    for h in holdings
                ]
            }
        )


def _deposit_out(deposit: Deposit) -> dict[str, Any]:
    return {
        "id": deposit.pk,
        "vault": deposit.vault.slug,
        "amount": _text(deposit.amount),
        "shares": _text(deposit.shares),
        "price": _text(deposit.price),
        "at": deposit.at.isoformat(),
        "source": deposit.source,
        "lot": deposit.lot_id,
    }


def _withdrawal_out(withdrawal: Withdrawal) -> dict[str, Any]:
    return {
        "id": withdrawal.pk,
        "vault": withdrawal.vault.slug,
        "state": withdrawal.state,
        "state_label": withdrawal.get_state_display(),
        "shares": _text(withdrawal.shares),
        "payout": _text(withdrawal.payout),
        "performance_fee": _text(withdrawal.performance_fee),
        "price": _text(withdrawal.price),
        "at": withdrawal.at.isoformat(),
        "state_code": withdrawal.state_code,
        "state_reason": withdrawal.state_reason,
        "paid_tx_hash": withdrawal.paid_tx_hash,
        "paid_at": None if withdrawal.paid_at is None else withdrawal.paid_at.isoformat(),
    }


class MyDepositsApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(operation_id="vaults_my_deposits", tags=["vaults"], responses={200: dict})
    def get(self, request: Request) -> Response:
        deposits = Deposit.objects.filter(depositor=request.user).select_related("vault").order_by("-at", "-id")
        return Response({"results": [_deposit_out(d) for d in deposits[:500]]})


class MyWithdrawalsApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(operation_id="vaults_my_withdrawals", tags=["vaults"], responses={200: dict})
    def get(self, request: Request) -> Response:
        withdrawals = Withdrawal.objects.filter(depositor=request.user).select_related("vault").order_by("-at", "-id")
        return Response({"results": [_withdrawal_out(w) for w in withdrawals[:500]]})


def _parse_time(value: str | None, name: str) -> datetime:
    try:
        return utc_aware(datetime.fromisoformat((value or "").replace("Z", "+00:00")))
    except ValueError:
        raise ServiceError(
            f"{name} must be an ISO 8601 time with a zone", code="invalid", fields={name: ["time"]}
        ) from None


class MyStatementApi(APIView):
    """The signed-in depositor's statement for one vault and period ``(start, end]``: JSON, or ``?download=csv``
    / ``?download=pdf`` as a file (``format`` is DRF's own content negotiation parameter)."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(operation_id="vaults_my_statement", tags=["vaults"], responses={200: dict})
    def get(self, request: Request, slug: str) -> Response | HttpResponse:
        vault = vault_for_depositor(request, slug)
        start = _parse_time(request.query_params.get("start"), "start")
        end = _parse_time(request.query_params.get("end"), "end")
        try:
            statement = statement_compute(vault_id=vault.pk, depositor_id=request.user.pk, start=start, end=end)
        except StatementError as error:
            raise ServiceError(str(error), code="invalid") from None
        kind = request.query_params.get("download", "")
        name = f"statement-{vault.slug}-{start:%Y%m%d}-{end:%Y%m%d}"
        if kind == "csv":
            response = HttpResponse(statement_csv(statement), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
            return response
        if kind == "pdf":
            response = HttpResponse(statement_pdf(statement), content_type="application/pdf")
            response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
            return response
        return Response(dict(statement.rows()))


def manual_credit_out(credit: selectors.ManualCreditPublic) -> dict[str, Any]:
    return {
        "id": credit.id,
        "kind": credit.kind,
        "kind_label": credit.kind_label,
        "state": credit.state,
        "state_label": credit.state_label,
        "amount": _text(credit.amount),
        "depositor": credit.depositor,
        "reason": credit.reason,
        "requested_by": credit.requested_by,
        "requested_at": credit.requested_at.isoformat(),
        "decided_by": credit.decided_by,
        "decided_at": None if credit.decided_at is None else credit.decided_at.isoformat(),
        "decision_reason": credit.decision_reason,
        "tx_hash": credit.tx_hash,
    }


class DepositCreateApi(APIView):
    """An operator requests an off-chain credit to a depositor of a vault **without** a Safe (idempotent on
    ``idempotency_key``): it stays ``pending`` — nothing is credited — until a second operator approves it
    (``POST /api/v1/custody/manual-credits/<id>/decision/``). Needs an operator's session with MFA confirmed in the
    last 15 minutes (no API token); a vault with a Safe refuses (``vault_has_safe``): it credits only transfers
    proven on chain. The request is public on the vault's page."""

    required_scope = "custody"  # what an API token needs to POST here (accounts.authentication); none may
    permission_classes = (IsOperatorWithFreshMfa,)

    class InputSerializer(serializers.Serializer):
        depositor_id = serializers.IntegerField()
        amount = serializers.RegexField(r"^[1-9][0-9]{0,77}$", help_text="Base units, a positive integer.")
        idempotency_key = serializers.CharField(max_length=100)
        reason = serializers.CharField(max_length=2000, help_text="Why; public on the vault's page.")

    @extend_schema(operation_id="vaults_deposit_create", tags=["vaults"], request=InputSerializer, responses=dict)
    def post(self, request: Request, slug: str) -> Response:
        vault = get_object_or_404(Vault, slug=slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.manual_credit_request(
            vault_id=vault.pk,
            depositor_id=data.validated_data["depositor_id"],
            amount=int(data.validated_data["amount"]),
            reason=data.validated_data["reason"],
            idempotency_key=data.validated_data["idempotency_key"],
            requested_by_id=request.user.pk,
        )
        body = manual_credit_out(selectors.manual_credit_public(result.credit))
        return Response(body, status=202 if result.created else 200)


def vault_for_depositor(request: Request, slug: str) -> Vault:
    """The vault a signed-in depositor's endpoint works on; a private vault they hold nothing in is a 404."""
    try:
        return selectors.vault_get_for_depositor(slug=slug, user_id=request.user.pk)
    except Vault.DoesNotExist:
        raise Http404("No Vault matches the given query.") from None


_SHARES_TEXT = re.compile(r"[0-9]{1,60}(\.[0-9]{1,18})?", re.ASCII)


class WithdrawalQuantitySerializer(serializers.Serializer):
    """What a withdrawal takes: ``shares`` (decimal text, parsed to ``Decimal``) or a net ``amount`` (base units)."""

    shares = serializers.CharField(
        required=False, max_length=80, help_text='Shares: positive decimal text, up to 18 decimal places ("12.5").'
    )
    amount = serializers.RegexField(r"^[1-9][0-9]{0,77}$", required=False, help_text="Net base units.")
    lot = serializers.IntegerField(required=False, help_text="Take from this lot only.")
    idempotency_key = serializers.CharField(max_length=100, required=False)

    def validate_shares(self, value: str) -> Decimal:
        # Written-out digits only: Decimal() itself takes 1E+200000, NaN, Infinity and 1_0, which overflow or
        # poison the share arithmetic further down.
        if not _SHARES_TEXT.fullmatch(value) or Decimal(value) <= 0:
            raise serializers.ValidationError(
                'shares must be a positive decimal number written out, at most 18 decimal places (e.g. "12.5")'
            )
        return Decimal(value)


class WithdrawalCreateApi(APIView):
    """The signed-in depositor requests a withdrawal in shares or in a net amount; it then awaits the depositor's
    signed request (``/api/v1/custody/``)."""

    required_scope = "custody"  # what an API token needs to POST here (accounts.authentication)

    permission_classes = (IsAuthenticated,)

    InputSerializer = WithdrawalQuantitySerializer

    @extend_schema(operation_id="vaults_withdrawal_create", tags=["vaults"], request=InputSerializer, responses=dict)
    def post(self, request: Request, slug: str) -> Response:
        vault = vault_for_depositor(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        withdrawal = services.vault_withdrawal_request(
            vault_id=vault.pk,
            depositor_id=request.user.pk,
            shares=values.get("shares"),
            amount=int(values["amount"]) if "amount" in values else None,
            lot_id=values.get("lot"),
            idempotency_key=values.get("idempotency_key"),
        )
        return Response(_withdrawal_out(withdrawal), status=201)
