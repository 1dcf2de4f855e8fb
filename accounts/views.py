"""The account page: MFA status, linked wallets, API tokens. Each POST calls one service.

Linking a wallet (both steps) needs a freshly re-authenticated session (``accounts.reauthentication``): without
one, the request is sent to allauth's re-authentication page, which comes back here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors, services
from accounts.core import siwe, wallet_vouch
from accounts.forms import ApiTokenCreateForm, WalletLinkForm, WalletNonceForm
from accounts.models import User
from accounts.reauthentication import reauthentication_url, wallet_link_reauthentication_missing
from hftplatform.errors import ServiceError

REAUTHENTICATION_PROMPTS = {
    "password": "To link a wallet, confirm your password first.",
    "mfa": "To link a wallet, confirm a code from your authenticator app too.",
}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required guarantees it
    return user


def _page(request: HttpRequest, status: int = 200, **context: Any) -> HttpResponse:
    user = _user(request)
    context.setdefault("nonce_form", WalletNonceForm())
    context.setdefault("token_form", ApiTokenCreateForm())
    link_form = context.get("link_form")
    if link_form is not None and "vouch_message" not in context:
        context["vouch_message"] = _vouch_message(link_form)
    missing = wallet_link_reauthentication_missing(request, user=user)
    return render(
        request,
        "accounts/settings.html",
        {
            "mfa": selectors.user_mfa_status(user=user),
            "wallets": [
                (wallet, selectors.wallet_withdrawals_from(wallet=wallet))
                for wallet in selectors.wallet_list(user=user)
            ],
            "wallet_delay_hours": int(wallet_vouch.WALLET_WITHDRAWAL_DELAY / timedelta(hours=1)),
            "tokens": selectors.api_token_list(user=user),
            "now": timezone.now(),
            "reauthentication_missing": missing,
            "reauthentication_url": None if missing is None else reauthentication_url(missing, next_url=_wallets_url()),
            **context,
        },
        status=status,
    )


def _vouch_message(link_form: WalletLinkForm) -> str:
    """The vouch text of the link message in ``link_form`` (initial or posted), "" when it does not parse."""
    message = link_form.data.get("message") if link_form.is_bound else link_form.initial.get("message")
    try:
        return wallet_vouch.vouch_text(siwe.parse(str(message or "").replace("\r\n", "\n").rstrip("\n")))
    except siwe.SiweMessageInvalid:
        return ""


def _redirect() -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("account_settings"))


def _wallets_url() -> str:
    return reverse("account_settings") + "#wallets"


def _reauthentication_redirect(request: HttpRequest) -> HttpResponseRedirect | None:
    """Off to allauth's re-authentication when the session has not freshly re-authenticated; None when it has."""
    missing = wallet_link_reauthentication_missing(request, user=_user(request))
    if missing is None:
        return None
    messages.info(request, REAUTHENTICATION_PROMPTS[missing])
    return HttpResponseRedirect(reauthentication_url(missing, next_url=_wallets_url()))


def _form_errors(request: HttpRequest, form: Any) -> None:
    for field, errors in form.errors.items():
        label = "" if field == "__all__" else (form.fields[field].label or field.replace("_", " ").capitalize())
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else error)


@login_required
@require_GET
def account_settings(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_POST
def wallet_nonce(request: HttpRequest) -> HttpResponse:
    """Manual linking, step 1: issue the message to sign with any wallet."""
    redirect = _reauthentication_redirect(request)
    if redirect is not None:
        return redirect
    form = WalletNonceForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _page(request, status=400, nonce_form=form)
    try:
        _, message = services.wallet_nonce_create(
            user=_user(request),
            address=form.cleaned_data["address"],
            chain_id=form.cleaned_data["chain_id"],
            domain=request.get_host(),
            uri=request.build_absolute_uri("/"),
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return _page(request, status=400, nonce_form=form)
    return _page(request, nonce_form=form, link_form=WalletLinkForm(initial={"message": message}))


@login_required
@require_POST
def wallet_link(request: HttpRequest) -> HttpResponse:
    """Manual linking, step 2: the signed message (and, optionally, an older wallet's vouch) comes back."""
    redirect = _reauthentication_redirect(request)
    if redirect is not None:
        return redirect
    form = WalletLinkForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _page(request, status=400, link_form=form)
    try:
        wallet = services.wallet_link(
            user=_user(request),
            message=form.cleaned_data["message"],
            signature=form.cleaned_data["signature"].strip(),
            label=form.cleaned_data["label"],
            domain=request.get_host(),
            vouch_signature=form.cleaned_data["vouch_signature"],
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        # A failed attempt leaves the nonce unused: keep the message so the user can fix the signature.
        return _page(request, status=400, link_form=form)
    usable = selectors.wallet_withdrawals_from(wallet=wallet)
    when = "at once" if usable <= wallet.created_at else f"from {usable:%Y-%m-%d %H:%M} UTC"
    messages.success(request, f"Wallet {wallet.address} linked. It can authorise withdrawals {when}.")
    return _redirect()


@login_required
@require_POST
def wallet_unlink(request: HttpRequest, wallet_id: int) -> HttpResponse:
    try:
        services.wallet_unlink(user=_user(request), wallet_id=wallet_id)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Wallet unlinked.")
    return _redirect()


@login_required
@require_POST
def api_token_create(request: HttpRequest) -> HttpResponse:
    form = ApiTokenCreateForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _page(request, status=400, token_form=form)
    try:
        token, plaintext = services.api_token_create(
            user=_user(request),
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            lifetime=timedelta(days=form.cleaned_data["expires_in_days"]),
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
        return _page(request, status=400, token_form=form)
    # Rendered, not redirected: the plaintext must not be stored anywhere (not even the session) to survive.
    return _page(request, new_token=token, new_token_plaintext=plaintext)


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = services.api_token_revoke(user=_user(request), token_id=token_id)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Token “{token.name}” revoked.")
    return _redirect()
