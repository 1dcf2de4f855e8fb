"""Custody pages: a depositor requests a withdrawal and signs it with two linked browser wallets, and follows the
proposal until it is executed. Data comes from the selectors; requests and signatures go through the REST API
(``static/js/custody.js``)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from vaults import selectors
from vaults.custody import selectors as custody_selectors
from vaults.models import SafeProposal, Vault, VaultSafe, Withdrawal


@require_GET
@login_required
def withdraw(request: HttpRequest, slug: str) -> HttpResponse:
    """Request a withdrawal: the depositor's holding, where the payout may go (linked wallets and registered
    addresses on the vault Safe's chain), and their withdrawals still waiting for signatures."""
    try:
        vault = selectors.vault_get_for_depositor(slug=slug, user_id=request.user.pk)
    except Vault.DoesNotExist:
        raise Http404("no such vault") from None  # a private vault the user holds nothing in, or none at all
    holding = next((h for h in selectors.holdings_for(depositor_id=request.user.pk) if h.vault.pk == vault.pk), None)
    safe = VaultSafe.objects.filter(vault=vault).first()
    destinations: list[tuple[str, str]] = []
    now = timezone.now()
    usable_from = custody_selectors.linked_wallets_usable_from(depositor_id=request.user.pk)
    if safe is not None:
        destinations += [
            (
                address,
                "linked wallet"
                if ready <= now
                else f"linked wallet; signs withdrawals from {ready:%Y-%m-%d %H:%M} UTC",
            )
            for address, ready in sorted(usable_from.items())
        ]
        destinations += [
            (address, f"registered {registration.registered_at:%Y-%m-%d %H:%M} UTC")
            for address, registration in sorted(
                custody_selectors.registered_destinations(depositor_id=request.user.pk, chain_id=safe.chain_id).items()
            )
        ]
    waiting = Withdrawal.objects.filter(
        vault=vault,
        depositor=request.user,
        state__in=[Withdrawal.State.AWAITING_SIGNATURES, Withdrawal.State.IN_CUSTODY],
    ).prefetch_related("proposals")
    context = {
        "vault": vault,
        "holding": holding,
        "safe": safe,
        "destinations": destinations,
        "waiting": waiting,
        "wallets_waiting": sorted((address, ready) for address, ready in usable_from.items() if ready > now),
        "create_url": reverse("api:custody-withdrawal-create"),
    }
    return render(request, "custody/withdraw.html", context)


@require_GET
@login_required
def proposal_detail(request: HttpRequest, proposal_id: int) -> HttpResponse:
    """One proposal: what the depositor signs (the request in words, its typed data and hash), the signatures
    collected, and its state followed live until it is executed, failed or cancelled."""
    proposal = custody_selectors.proposals_visible(user=request.user).filter(pk=proposal_id).first()  # type: ignore[arg-type]
    if proposal is None:
        raise Http404("no such proposal")
    context = {
        "proposal": proposal,
        "vault": proposal.safe.vault,
        "is_depositor": proposal.depositor_id == request.user.pk,
        "api_url": reverse("api:custody-proposal", args=[proposal.pk]),
        "signatures_url": reverse("api:custody-depositor-signature", args=[proposal.pk]),
        "cancel_url": reverse("api:custody-cancel", args=[proposal.pk]),
        "linked_wallets": sorted(
            custody_selectors.linked_wallets_usable_from(depositor_id=proposal.depositor_id or 0).items()
        ),
        "now": timezone.now(),
        "closed_states": [SafeProposal.State.EXECUTED, SafeProposal.State.FAILED, SafeProposal.State.CANCELLED],
    }
    return render(request, "custody/proposal.html", context)
