"""Vault pages: the public vault list and vault page (NAV chart, allocation, fees charged to date, the operators'
manual credits; its Safe panel is a template tag of the custody app's), and the signed-in depositor's holdings with
statement downloads. Data comes from the selectors; charts go through the REST API (``static/js/vault.js``)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from fees.core.numbers import price_down
from hftplatform.core.decimal_text import decimal_text_trim_zeros
from vaults import selectors
from vaults.models import Vault


@require_GET
def vault_list(request: HttpRequest) -> HttpResponse:
    vaults = [
        (vault, decimal_text_trim_zeros(price_down(selectors.vault_price(vault))))
        for vault in selectors.vaults_public()
    ]
    return render(request, "vaults/list.html", {"vaults": vaults})


@require_GET
def vault_detail(request: HttpRequest, slug: str) -> HttpResponse:
    vault = get_object_or_404(Vault, slug=slug, public=True)
    fees = selectors.fees_charged(vault_id=vault.pk)
    context = {
        "vault": vault,
        "nav": decimal_text_trim_zeros(price_down(selectors.vault_price(vault))),
        "allocation": sorted(vault.allocation.items()),
        "management_fee": decimal_text_trim_zeros(fees["management"]),
        "performance_fee": decimal_text_trim_zeros(fees["performance"]),
        "api_url": reverse("api:vaults-detail", args=[vault.slug]),
        "manual_credits": selectors.manual_credits_public(vault_id=vault.pk),
    }
    return render(request, "vaults/detail.html", context)


@require_GET
@login_required
def my_holdings(request: HttpRequest) -> HttpResponse:
    holdings = selectors.holdings_for(depositor_id=request.user.pk)
    return render(request, "vaults/holdings.html", {"holdings": holdings})
