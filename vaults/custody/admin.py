"""Admin for custody: Safe proposals with their signatures and approvals, vault Safes, registered withdrawal
destinations and the on-chain transfers into the Safes. Read-only: operators approve or reject proposals and
attribute transfers with actions that call the services (:mod:`vaults.custody.services`,
:mod:`vaults.custody.deposits`' attribution and manual credit decisions), so no rule can be bypassed here; every
action needs a session with MFA confirmed in the last 15 minutes (:mod:`accounts.operator_access`). The models are
the vaults app's, so the pages stay under /admin/vaults/."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from accounts.models import User
from accounts.operator_access import operator_action_mfa_required
from hftplatform.errors import ServiceError
from vaults.admin import ReadOnlyAdmin
from vaults.custody import services
from vaults.custody.deposits import (
    ChainTransferAttributionError,
    chain_transfer_attribution_request,
    manual_credit_decide,
)
from vaults.custody.errors import CustodyError
from vaults.models import (
    ChainTransfer,
    ManualCredit,
    OperatorApproval,
    ProposalSignature,
    SafeProposal,
    VaultSafe,
    WithdrawalDestination,
)


class ProposalSignatureInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ProposalSignature
    fields = ("kind", "signer", "signature", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OperatorApprovalInline(ProposalSignatureInline):
    model = OperatorApproval  # type: ignore[assignment]
    fields = ("operator", "approved", "at")
    readonly_fields = fields


@admin.register(SafeProposal)
class SafeProposalAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Operators see every proposal with its signatures and approvals and approve or reject it with the actions,
    which call the services: no field, signature or state is editable here, so no rule can be bypassed."""

    list_display = ("id", "safe", "kind", "state", "state_code", "nonce", "amount", "withdrawal", "created_at")
    list_filter = ("state", "kind", "safe")
    search_fields = ("safe_tx_hash", "request_hash", "submission_tx_hash", "depositor__email")
    inlines = (ProposalSignatureInline, OperatorApprovalInline)
    actions = ("approve", "reject")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in SafeProposal._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # viewing only; the actions below need only the view permission

    def _decide(self, request: HttpRequest, queryset: QuerySet[SafeProposal], approve: bool) -> None:
        for proposal in queryset.order_by("id"):
            try:
                result = services.operator_approval_add(
                    proposal_id=proposal.pk, operator_id=request.user.pk, approve=approve
                )
            except CustodyError as error:
                self.message_user(request, f"proposal {proposal.pk}: {error.code}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"proposal {proposal.pk}: {result.state}", messages.SUCCESS)

    @admin.action(description="Approve (as me)", permissions=["view"])
    @operator_action_mfa_required
    def approve(self, request: HttpRequest, queryset: QuerySet[SafeProposal]) -> None:
        self._decide(request, queryset, approve=True)

    @admin.action(description="Reject (as me)", permissions=["view"])
    @operator_action_mfa_required
    def reject(self, request: HttpRequest, queryset: QuerySet[SafeProposal]) -> None:
        self._decide(request, queryset, approve=False)


@admin.register(VaultSafe)
class VaultSafeAdmin(ReadOnlyAdmin):
    list_display = ("vault", "chain_id", "address", "threshold", "cosigner", "asset_contract")


@admin.register(WithdrawalDestination)
class WithdrawalDestinationAdmin(ReadOnlyAdmin):
    list_display = ("depositor", "chain_id", "address", "registered_at")
    search_fields = ("depositor__email", "address")


class ChainTransferAttributeForm(forms.Form):
    depositor_email = forms.EmailField(label="Depositor's email", help_text="The user whose deposit this is.")
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why the transfer is theirs (ticket, proof of the sending address). Public on the vault's page: "
        "no personal data.",
    )


@admin.register(ChainTransfer)
class ChainTransferAdmin(ReadOnlyAdmin):
    """The ERC-20 transfers the deposit scan read into vault Safes and what became of them; the scan alone writes
    them. An operator asks to credit an unattributed one to a depositor with the action
    (``chain_transfer_attribution_request``); a second operator approves it under Manual credits, which checks the
    transfer is still confirmed on chain."""

    list_display = (
        "vault_safe",
        "chain_id",
        "tx_hash",
        "log_index",
        "block_number",
        "sender",
        "amount",
        "state",
        "needs_operator",
        "note",
    )
    list_filter = ("state", "needs_operator", ("vault_safe__vault", admin.RelatedOnlyFieldListFilter))
    search_fields = ("tx_hash", "sender")
    list_select_related = ("vault_safe",)
    actions = ("attribute",)

    @admin.action(description="Attribute to a depositor (as me; a second operator approves)…", permissions=["view"])
    @operator_action_mfa_required
    def attribute(self, request: HttpRequest, queryset: QuerySet[ChainTransfer]) -> TemplateResponse | None:
        """Asks for the depositor and a note on a page of its own, then requests the attribution; nothing is
        credited until a second operator approves it (Manual credits)."""
        transfers = list(queryset.select_related("vault_safe__vault").order_by("id")[:2])
        if len(transfers) != 1:
            self.message_user(request, "select exactly one transfer to attribute", messages.ERROR)
            return None
        [transfer] = transfers
        form = ChainTransferAttributeForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            depositor = User.objects.filter(email__iexact=form.cleaned_data["depositor_email"]).first()
            if depositor is None:
                form.add_error("depositor_email", "no user has this email")
            else:
                try:
                    credit = chain_transfer_attribution_request(
                        transfer_id=transfer.pk,
                        depositor_id=depositor.pk,
                        operator_id=request.user.pk,
                        note=form.cleaned_data["note"],
                    )
                except ChainTransferAttributionError as error:
                    form.add_error(None, f"{error.code}: {error.message}")
                else:
                    self.message_user(
                        request,
                        f"transfer {transfer.pk}: attribution to {depositor.email} requested as manual credit "
                        f"{credit.pk}; a second operator must approve it",
                        messages.SUCCESS,
                    )
                    return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Attribute transfer {transfer.pk} to a depositor",
            "opts": self.model._meta,
            "transfer": transfer,
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/vaults/chaintransfer/attribute.html", context)


@admin.register(ManualCredit)
class ManualCreditAdmin(ReadOnlyAdmin):
    """Deposits operators credit by hand (off-chain funding of a vault without a Safe, or the attribution of an
    on-chain transfer): requested by one operator, approved or rejected here by a second one, through the services
    (the attribution's chain check included). Public on the vault's page."""

    list_display = (
        "id", "vault", "kind", "state", "depositor", "amount", "requested_by", "requested_at", "decided_by",
        "decided_at", "reason",
    )  # fmt: skip
    list_filter = ("state", "kind", "vault")
    search_fields = ("depositor__email", "reason", "idempotency_key")
    list_select_related = ("vault", "depositor", "requested_by", "decided_by")
    actions = ("approve", "reject")

    def _decide(self, request: HttpRequest, queryset: QuerySet[ManualCredit], approve: bool) -> None:
        for credit in queryset.order_by("id"):
            try:
                decided = manual_credit_decide(
                    credit_id=credit.pk,
                    operator_id=request.user.pk,
                    approve=approve,
                    reason="" if approve else f"rejected by operator #{request.user.pk} in the admin",
                )
            except ServiceError as error:
                self.message_user(request, f"manual credit {credit.pk}: {error.code}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"manual credit {credit.pk}: {decided.state}", messages.SUCCESS)

    @admin.action(description="Approve (as the second operator)", permissions=["view"])
    @operator_action_mfa_required
    def approve(self, request: HttpRequest, queryset: QuerySet[ManualCredit]) -> None:
        self._decide(request, queryset, approve=True)

    @admin.action(description="Reject", permissions=["view"])
    @operator_action_mfa_required
    def reject(self, request: HttpRequest, queryset: QuerySet[ManualCredit]) -> None:
        self._decide(request, queryset, approve=False)
